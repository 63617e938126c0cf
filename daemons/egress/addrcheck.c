/* Which addresses egress refuses to dial unless a rule names them: two tables of internal
 * ranges (IPv4, IPv6) and the IPv6 forms that carry an IPv4 address, judged by that address. */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addrcheck.h"
#include "common/macro.h"

/* The IPv4 reasons, in the order of the combined strings below. */
enum v4_reason {
    V4_LOOPBACK,
    V4_PRIVATE,
    V4_LINK_LOCAL,
    V4_CGNAT,
    V4_UNSPECIFIED,
    V4_MULTICAST,
    V4_BROADCAST,
    V4_RESERVED,
    V4_REASONS,
    V4_PUBLIC = V4_REASONS,
};

/* The IPv6 forms that carry an IPv4 address. */
enum v4_form { F_PLAIN, F_MAPPED, F_COMPATIBLE, F_TRANSLATED, F_NAT64, F_6TO4, F_TEREDO, F_FORMS };

#define REASONS(prefix)                                                                            \
    {                                                                                              \
        prefix "loopback", prefix "private", prefix "link-local", prefix "cgnat",                  \
            prefix "unspecified", prefix "multicast", prefix "broadcast", prefix "reserved"        \
    }

static const char *const reason_text[F_FORMS][V4_REASONS] = {
    [F_PLAIN] = REASONS(""),
    [F_MAPPED] = REASONS("ipv4-mapped "),
    [F_COMPATIBLE] = REASONS("ipv4-compatible "),
    [F_TRANSLATED] = REASONS("ipv4-translated "),
    [F_NAT64] = REASONS("nat64 "),
    [F_6TO4] = REASONS("6to4 "),
    [F_TEREDO] = REASONS("teredo "),
};

/* Checked in order: the first match wins (broadcast before 240/4). */
static const struct {
    uint32_t net;
    unsigned prefix;
    enum v4_reason reason;
} v4_ranges[] = {
    {0x00000000, 8, V4_UNSPECIFIED}, /* 0.0.0.0/8 "this network" */
    {0x0a000000, 8, V4_PRIVATE},     /* 10/8 */
    {0x64400000, 10, V4_CGNAT},      /* 100.64/10 */
    {0x7f000000, 8, V4_LOOPBACK},    /* 127/8 */
    {0xa9fe0000, 16, V4_LINK_LOCAL}, /* 169.254/16, cloud metadata */
    {0xac100000, 12, V4_PRIVATE},    /* 172.16/12 */
    {0xc0000000, 24, V4_RESERVED},   /* 192.0.0/24 IETF protocol assignments */
    {0xc0000200, 24, V4_RESERVED},   /* 192.0.2/24 TEST-NET-1 */
    {0xc0586300, 24, V4_RESERVED},   /* 192.88.99/24 6to4 relay anycast */
    {0xc0a80000, 16, V4_PRIVATE},    /* 192.168/16 */
    {0xc6120000, 15, V4_RESERVED},   /* 198.18/15 benchmarking */
    {0xc6336400, 24, V4_RESERVED},   /* 198.51.100/24 TEST-NET-2 */
    {0xcb007100, 24, V4_RESERVED},   /* 203.0.113/24 TEST-NET-3 */
    {0xe0000000, 4, V4_MULTICAST},   /* 224/4 */
    {0xffffffff, 32, V4_BROADCAST},  /* 255.255.255.255 */
    {0xf0000000, 4, V4_RESERVED},    /* 240/4 */
};

/* IPv6 ranges that are internal by themselves (no IPv4 address inside). */
static const struct {
    uint8_t net[16];
    unsigned prefix;
    const char *reason;
} v6_ranges[] = {
    {{0}, 128, "unspecified"},                              /* :: */
    {{[15] = 1}, 128, "loopback"},                          /* ::1 */
    {{0xfe, 0x80}, 10, "link-local"},                       /* fe80::/10 */
    {{0xfe, 0xc0}, 10, "site-local"},                       /* fec0::/10 */
    {{0xfc}, 7, "ula"},                                     /* fc00::/7 */
    {{0xff}, 8, "multicast"},                               /* ff00::/8 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "reserved"},             /* 2001:db8::/32 documentation */
    {{0x3f, 0xff}, 20, "reserved"},                         /* 3fff::/20 documentation */
    {{0x01, 0x00}, 64, "reserved"},                         /* 100::/64 discard-only */
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "reserved"}, /* 2001:2::/48 benchmarking */
    {{0x20, 0x01, 0x00, 0x10}, 28, "reserved"},             /* 2001:10::/28 ORCHID */
    {{0}, 8, "reserved"}, /* the rest of ::/8 (the forms above are judged before) */
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static enum v4_reason v4_judge(uint32_t a)
{
    for (size_t i = 0; i < ELEMENTSOF(v4_ranges); i++) {
        uint32_t mask = v4_ranges[i].prefix ? ~0u << (32 - v4_ranges[i].prefix) : 0;
        if ((a & mask) == v4_ranges[i].net)
            return v4_ranges[i].reason;
    }
    return V4_PUBLIC;
}

static uint32_t v4_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *v4_reason(enum v4_form form, uint32_t a)
{
    enum v4_reason r = v4_judge(a);
    return r == V4_PUBLIC ? NULL : reason_text[form][r];
}

/* RFC 6052: where an IPv4 address sits behind a NAT64 prefix of length 48, 56, 64 or 96 (byte 8
 * is the reserved "u" octet and is skipped), and where the zero suffix after it starts. */
static const struct {
    uint8_t pos[4];
    unsigned suffix;
} nat64_layouts[] = {
    {{6, 7, 9, 10}, 11},
    {{7, 9, 10, 11}, 12},
    {{9, 10, 11, 12}, 13},
    {{12, 13, 14, 15}, 16},
};

static bool zero_from(const uint8_t *a, unsigned from)
{
    for (unsigned i = from; i < 16; i++)
        if (a[i])
            return false;
    return true;
}

/* The local-use NAT64 prefix 64:ff9b:1::/48 may be deployed at /48, /56, /64 or /96: every
 * layout the address fits (u octet and suffix zero) is judged, and any internal one makes the
 * address internal. */
static const char *nat64_local_reason(const uint8_t *a)
{
    for (size_t i = 0; i < ELEMENTSOF(nat64_layouts); i++) {
        const uint8_t *p = nat64_layouts[i].pos;
        bool fits =
            nat64_layouts[i].suffix == 16 || (a[8] == 0 && zero_from(a, nat64_layouts[i].suffix));
        uint8_t b[4] = {a[p[0]], a[p[1]], a[p[2]], a[p[3]]};
        const char *r = fits ? v4_reason(F_NAT64, v4_at(b)) : NULL;
        if (r)
            return r;
    }
    return NULL;
}

/* The forms carrying an IPv4 address; found: set when a is one of them. */
static const char *v6_embedded_reason(const uint8_t *a, bool *found)
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const uint8_t translated[12] = {[8] = 0xff, [9] = 0xff};
    static const uint8_t compatible[12] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
    static const uint8_t teredo[4] = {0x20, 0x01, 0x00, 0x00};

    *found = true;
    if (memcmp(a, mapped, 12) == 0)
        return v4_reason(F_MAPPED, v4_at(a + 12));
    if (memcmp(a, translated, 12) == 0)
        return v4_reason(F_TRANSLATED, v4_at(a + 12));
    if (memcmp(a, compatible, 12) == 0 && v4_at(a + 12) > 1) /* not :: or ::1 */
        return v4_reason(F_COMPATIBLE, v4_at(a + 12));
    if (memcmp(a, nat64, 12) == 0)
        return v4_reason(F_NAT64, v4_at(a + 12));
    if (memcmp(a, nat64_local, 6) == 0)
        return nat64_local_reason(a);
    if (a[0] == 0x20 && a[1] == 0x02)
        return v4_reason(F_6TO4, v4_at(a + 2));
    if (memcmp(a, teredo, 4) == 0)
        return v4_reason(F_TEREDO, ~v4_at(a + 12)); /* the client address is stored inverted */
    *found = false;
    return NULL;
}

static const char *v6_reason(const uint8_t *a)
{
    bool embedded;
    const char *r = v6_embedded_reason(a, &embedded);

    if (embedded)
        return r;
    for (size_t i = 0; i < ELEMENTSOF(v6_ranges); i++)
        if (prefix_match(a, v6_ranges[i].net, v6_ranges[i].prefix))
            return v6_ranges[i].reason;
    return NULL;
}

const char *addrcheck_internal(const struct sockaddr *addr)
{
    if (!addr)
        return "unspecified";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return v4_reason(F_PLAIN, ntohl(in->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        return v6_reason(in6->sin6_addr.s6_addr);
    }
    return "unspecified"; /* not an address egress can dial: refuse */
}
