/* daemons/egress/addrcheck.c: every internal range in IPv4 and IPv6, the IPv6 forms that carry
 * an IPv4 address judged by that address, and public addresses (plain and embedded) passing. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "addrcheck.h"

static const char *judge(const char *text)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        cr_assert_fail("bad test address %s", text);
    return addrcheck_internal((struct sockaddr *)&ss);
}

static void expect(const char *text, const char *reason)
{
    const char *got = judge(text);

    if (!reason)
        cr_expect_null(got, "%s should be public, got \"%s\"", text, got ? got : "");
    else
        cr_expect(got && strcmp(got, reason) == 0, "%s: expected \"%s\", got \"%s\"", text, reason,
                  got ? got : "(public)");
}

static const struct {
    const char *addr, *reason;
} v4[] = {
    {"127.0.0.1", "loopback"},
    {"127.255.255.254", "loopback"},
    {"10.0.0.0", "private"},
    {"10.1.2.3", "private"},
    {"10.255.255.255", "private"},
    {"172.16.0.1", "private"},
    {"172.31.255.255", "private"},
    {"192.168.0.1", "private"},
    {"192.168.255.255", "private"},
    {"169.254.169.254", "link-local"},
    {"169.254.0.1", "link-local"},
    {"100.64.0.1", "cgnat"},
    {"100.127.255.255", "cgnat"},
    {"0.0.0.0", "unspecified"},
    {"0.1.2.3", "unspecified"},
    {"224.0.0.1", "multicast"},
    {"239.255.255.255", "multicast"},
    {"255.255.255.255", "broadcast"},
    {"240.0.0.1", "reserved"},
    {"255.255.255.254", "reserved"},
    {"192.0.0.8", "reserved"},
    {"198.18.0.1", "reserved"},
    {"198.19.255.255", "reserved"},
    {"192.0.2.1", "reserved"},
    {"198.51.100.7", "reserved"},
    {"203.0.113.9", "reserved"},
    /* the neighbours of each range are public */
    {"11.0.0.1", NULL},
    {"9.255.255.255", NULL},
    {"172.15.255.255", NULL},
    {"172.32.0.0", NULL},
    {"192.167.255.255", NULL},
    {"192.169.0.0", NULL},
    {"169.253.255.255", NULL},
    {"169.255.0.0", NULL},
    {"100.63.255.255", NULL},
    {"100.128.0.0", NULL},
    {"126.255.255.255", NULL},
    {"128.0.0.0", NULL},
    {"1.0.0.0", NULL},
    {"223.255.255.255", NULL},
    {"198.17.255.255", NULL},
    {"198.20.0.0", NULL},
    {"8.8.8.8", NULL},
    {"1.1.1.1", NULL},
    {"93.184.216.34", NULL},
};

Test(addrcheck, ipv4_ranges_and_their_edges)
{
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
        expect(v4[i].addr, v4[i].reason);
}

static const struct {
    const char *addr, *reason;
} v6[] = {
    {"::", "unspecified"},
    {"::1", "loopback"},
    {"fe80::1", "link-local"},
    {"febf:ffff::1", "link-local"},
    {"fec0::1", "site-local"},
    {"feff::1", "site-local"},
    {"fc00::1", "ula"},
    {"fd12:3456::1", "ula"},
    {"ff02::1", "multicast"},
    {"ff0e::1", "multicast"},
    {"2001:db8::1", "reserved"},
    {"2001:db8:ffff::1", "reserved"},
    {"100::1", "reserved"},
    {"::2:0:0:1", "reserved"},
    {"2606:4700:4700::1111", NULL},
    {"2a00:1450:4001::200e", NULL},
    {"fbff::1", NULL},
    {"fe7f::1", NULL},
    {"2001:db9::1", NULL},
};

Test(addrcheck, ipv6_ranges)
{
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
        expect(v6[i].addr, v6[i].reason);
}

/* The forms that carry an IPv4 address, each with 127.0.0.1 (7f00:1), 10.1.2.3 (a01:203),
 * 169.254.169.254 (a9fe:a9fe), 100.64.0.1 (6440:1) and a public 8.8.8.8 (808:808). */
static const struct {
    const char *fmt, *prefix;
} forms[] = {
    {"::ffff:", "ipv4-mapped "}, {"::", "ipv4-compatible "}, {"::ffff:0:", "ipv4-translated "},
    {"64:ff9b::", "nat64 "},     {"64:ff9b:1::", "nat64 "},
};

static const struct {
    const char *v4, *reason;
} embedded[] = {
    {"127.0.0.1", "loopback"}, {"10.1.2.3", "private"},    {"169.254.169.254", "link-local"},
    {"100.64.0.1", "cgnat"},   {"192.168.1.1", "private"}, {"8.8.8.8", NULL},
    {"93.184.216.34", NULL},
};

Test(addrcheck, embedded_ipv4_forms)
{
    char text[64], reason[64];

    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
        for (size_t i = 0; i < sizeof(embedded) / sizeof(embedded[0]); i++) {
            snprintf(text, sizeof(text), "%s%s", forms[f].fmt, embedded[i].v4);
            snprintf(reason, sizeof(reason), "%s%s", forms[f].prefix, embedded[i].reason);
            expect(text, embedded[i].reason ? reason : NULL);
        }
}

Test(addrcheck, sixtofour_and_teredo)
{
    /* 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD */
    expect("2002:7f00:1::1", "6to4 loopback");
    expect("2002:a01:203::", "6to4 private");
    expect("2002:a9fe:a9fe::1", "6to4 link-local");
    expect("2002:6440:1::1", "6to4 cgnat");
    expect("2002:808:808::1", NULL);
    /* Teredo: 2001:0:SERVER:flags:port:~CLIENT; the client address is stored inverted */
    expect("2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo loopback");   /* ~127.0.0.1 */
    expect("2001:0:4136:e378:8000:63bf:f5fe:fdfc", "teredo private");    /* ~10.1.2.3 */
    expect("2001:0:4136:e378:8000:63bf:5601:5601", "teredo link-local"); /* ~169.254.169.254 */
    expect("2001:0:4136:e378:8000:63bf:9bbf:fffe", "teredo cgnat");      /* ~100.64.0.1 */
    expect("2001:0:4136:e378:8000:63bf:f7f7:f7f7", NULL);                /* ~8.8.8.8 */
}

Test(addrcheck, nat64_local_use_judged_at_every_prefix_length)
{
    /* 64:ff9b:1::/48 deployed as a /48: 127.0.0.1 in bytes 6,7,9,10 */
    expect("64:ff9b:1:7f00:0:100::", "nat64 loopback");
    /* as a /56: bytes 7,9,10,11 */
    expect("64:ff9b:1:a:1:203::", "nat64 private");
    /* as a /64: bytes 9..12 */
    expect("64:ff9b:1::7f:0:100:0", "nat64 loopback");
}

Test(addrcheck, not_an_address_is_refused)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNIX};

    cr_assert_not_null(addrcheck_internal((struct sockaddr *)&ss));
    cr_assert_not_null(addrcheck_internal(NULL));
}
