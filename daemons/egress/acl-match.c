/* The ACL's pure checks: what a host is (normalised name or address literal), which rule lets a
 * host and port through, and whether a rule names an address. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "acl.h"

static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* LDH labels of 1..63 bytes, no hyphen at either end of a label, and a last label that is not
 * all digits (so "127.1" or "1.2.3.4.5" is never taken for a name). s is lower case. */
static bool dns_name_valid(const char *s, size_t len)
{
    size_t label = 0;
    bool digits = true;

    if (len == 0 || len > ACL_HOST_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > ACL_NAME_MAX || s[i - 1] == '-')
                return false;
            if (i == len && digits)
                return false;
            label = 0;
            digits = true;
            continue;
        }
        if (!is_ldh(c) || (label == 0 && c == '-'))
            return false;
        if (c < '0' || c > '9')
            digits = false;
        label++;
    }
    return true;
}

/* An address literal in canonical text (inet_ntop's), or -EINVAL. */
static int literal_canonical(const char *s, bool bracketed, char out[static ACL_HOST_MAX + 1])
{
    struct in6_addr a6;
    struct in_addr a4;

    if (!bracketed && inet_pton(AF_INET, s, &a4) == 1)
        return inet_ntop(AF_INET, &a4, out, ACL_HOST_MAX + 1) ? 0 : -EINVAL;
    if (inet_pton(AF_INET6, s, &a6) == 1)
        return inet_ntop(AF_INET6, &a6, out, ACL_HOST_MAX + 1) ? 0 : -EINVAL;
    return -EINVAL;
}

int acl_host_normalize(const char *host, char out[static ACL_HOST_MAX + 1])
{
    char buf[ACL_HOST_MAX + 2];
    size_t len;
    bool bracketed = false;

    if (!host)
        return -EINVAL;
    len = strnlen(host, sizeof(buf));
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    if (host[0] == '[') {
        if (len < 3 || host[len - 1] != ']')
            return -EINVAL;
        host++;
        len -= 2;
        bracketed = true;
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] - 'A' + 'a') : host[i];
    buf[len] = '\0';
    if (memchr(buf, ':', len))
        return literal_canonical(buf, bracketed, out);
    if (bracketed)
        return -EINVAL; /* brackets hold an IPv6 literal and nothing else */
    if (literal_canonical(buf, false, out) == 0)
        return 0;
    if (len > 1 && buf[len - 1] == '.')
        buf[--len] = '\0';
    struct in_addr legacy;
    if (inet_aton(buf, &legacy) != 0)
        return -EINVAL; /* "0x7f000001", "127.1": an address in a form resolvers accept */
    if (!dns_name_valid(buf, len))
        return -EINVAL;
    memcpy(out, buf, len + 1);
    return 0;
}

static bool host_matches(const struct acl_rule *rule, const char *host)
{
    size_t hl, sl;

    if (!rule->wildcard)
        return strcmp(rule->host, host) == 0;
    hl = strlen(host);
    sl = strlen(rule->host);
    /* strictly below the suffix: at least one label and a dot in front of it */
    return hl > sl + 1 && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, rule->host) == 0;
}

static bool port_listed(const struct acl_rule *rule, uint16_t port)
{
    for (size_t i = 0; i < rule->n_ports; i++)
        if (rule->ports[i] == port)
            return true;
    return false;
}

const struct acl_rule *acl_match(const struct acl_principal *p, const char *host, uint16_t port,
                                 time_t now)
{
    if (!p || !host || port == 0)
        return NULL;
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct acl_rule *rule = &p->rules[i];
        if (rule->expires_at != 0 && (int64_t)now >= rule->expires_at)
            continue;
        if (port_listed(rule, port) && host_matches(rule, host))
            return rule;
    }
    return NULL;
}

/* addr as family and bytes; an IPv4-mapped IPv6 address counts as its IPv4 address. */
static bool addr_bytes(const struct sockaddr *addr, int *ret_family, const uint8_t **ret_bytes)
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

    if (addr->sa_family == AF_INET) {
        *ret_family = AF_INET;
        *ret_bytes = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
        return true;
    }
    if (addr->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        bool is_mapped = memcmp(b, mapped, 12) == 0;
        *ret_family = is_mapped ? AF_INET : AF_INET6;
        *ret_bytes = is_mapped ? b + 12 : b;
        return true;
    }
    return false;
}

static bool net_contains(const struct acl_net *net, int family, const uint8_t *b)
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;

    if (net->family != family)
        return false;
    if (memcmp(b, net->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (b[full] & mask) == (net->addr[full] & mask);
}

bool acl_rule_names_addr(const struct acl_rule *rule, const struct sockaddr *addr)
{
    int family;
    const uint8_t *b;

    if (!rule || !addr || !addr_bytes(addr, &family, &b))
        return false;
    for (size_t i = 0; i < rule->n_nets; i++)
        if (net_contains(&rule->nets[i], family, b))
            return true;
    return false;
}
