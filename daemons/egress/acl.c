/* The egress ACL loader: the operator's acl.json and the approved grants into one immutable,
 * reference-counted configuration. Every refusal names the rule it is about. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl-parse.h"
#include "acl.h"
#include "common/macro.h"

#define TIMEOUT_MAX_S 86400
#define CONNECTIONS_MAX 1000000

int acl_fail(struct acl_ctx *ctx, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx->err && ctx->errlen)
        snprintf(ctx->err, ctx->errlen, "%s%s%s", ctx->where, ctx->where[0] ? ": " : "", msg);
    return -EINVAL;
}

static void rule_free(struct acl_rule *r)
{
    free(r->host);
    free(r->grant_id);
    free(r->comment);
}

static void principal_free(struct acl_principal *p)
{
    for (size_t i = 0; i < p->n_rules; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
    free(p->name);
}

static void config_free(struct acl_config *c)
{
    for (size_t i = 0; i < c->n_principals; i++)
        principal_free(&c->principals[i]);
    free(c->principals);
    free(c);
}

struct acl_config *acl_config_ref(struct acl_config *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void acl_config_unref(struct acl_config *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        config_free(c);
}

const struct acl_principal *acl_principal_find(const struct acl_config *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_principals; i++)
        if (strcmp(c->principals[i].name, name) == 0)
            return &c->principals[i];
    return NULL;
}

static bool principal_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ACL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

/* Keys an object may have: anything else is refused with its name. */
int acl_check_keys(struct acl_ctx *ctx, const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return acl_fail(ctx, "unknown key \"%s\"", key);
    }
    return 0;
}

int acl_int_field(struct acl_ctx *ctx, const json_t *obj, const char *key, int64_t min, int64_t max,
                  int64_t *val)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return acl_fail(ctx, "\"%s\" must be an integer from %lld to %lld", key, (long long)min,
                        (long long)max);
    *val = json_integer_value(v);
    return 0;
}

int acl_parse_ports(struct acl_ctx *ctx, const json_t *ports, struct acl_rule *r)
{
    size_t i;
    json_t *v;

    if (!ports) {
        r->ports[0] = 443;
        r->n_ports = 1;
        return 0;
    }
    if (!json_is_array(ports) || json_array_size(ports) == 0)
        return acl_fail(ctx, "\"ports\" must be a non-empty array");
    if (json_array_size(ports) > ACL_PORTS_MAX)
        return acl_fail(ctx, "more than %d ports", ACL_PORTS_MAX);
    json_array_foreach(ports, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
            return acl_fail(ctx, "port %zu is not in 1..65535", i);
        r->ports[r->n_ports++] = (uint16_t)json_integer_value(v);
    }
    return 0;
}

/* "10.1.0.0/16", "fd00::/8" or a single address; host bits must be zero, and /0 is "any". */
static int parse_net(const char *s, struct acl_net *net)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max;

    if (alen == 0 || alen >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, buf, net->addr) == 1)
        net->family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, buf, net->addr) == 1)
        net->family = AF_INET6, max = 128;
    else
        return -EINVAL;
    net->prefix = max;
    if (slash) {
        char *end;
        unsigned long p;
        if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
            return -EINVAL;
        p = strtoul(slash + 1, &end, 10);
        if (*end || p == 0 || p > max)
            return -EINVAL;
        net->prefix = (unsigned)p;
    }
    for (unsigned bit = net->prefix; bit < max; bit++)
        if (net->addr[bit / 8] & (0x80 >> (bit % 8)))
            return -EINVAL;
    return 0;
}

static int parse_addresses(struct acl_ctx *ctx, const json_t *addrs, struct acl_rule *r)
{
    size_t i;
    json_t *v;

    if (!addrs)
        return 0;
    if (r->literal)
        return acl_fail(ctx, "\"addresses\" is for a name, not an address literal");
    if (!json_is_array(addrs) || json_array_size(addrs) == 0)
        return acl_fail(ctx, "\"addresses\" must be a non-empty array");
    if (json_array_size(addrs) > ACL_NETS_MAX)
        return acl_fail(ctx, "more than %d addresses", ACL_NETS_MAX);
    json_array_foreach(addrs, i, v)
    {
        if (!json_is_string(v) || parse_net(json_string_value(v), &r->nets[r->n_nets]) < 0)
            return acl_fail(ctx, "address %zu is not an address or a network (a.b.c.d/n, x::/n)",
                            i);
        r->n_nets++;
    }
    return 0;
}

/* The host of a rule: exact name, address literal, or "*." and a name of two labels or more. */
int acl_parse_host(struct acl_ctx *ctx, const json_t *hv, struct acl_rule *r)
{
    char norm[ACL_HOST_MAX + 1];
    const char *host = json_string_value(hv);

    if (!host || !*host)
        return acl_fail(ctx, "\"host\" must be a non-empty string");
    if (strncmp(host, "*.", 2) == 0) {
        r->wildcard = true;
        struct acl_net lit;
        if (acl_host_normalize(host + 2, norm) < 0 || parse_net(norm, &lit) == 0)
            return acl_fail(ctx, "\"%.80s\" is not \"*.\" and a DNS name", host);
        if (!strchr(norm, '.'))
            return acl_fail(ctx, "\"%.80s\" would match a whole top-level domain", host);
    } else if (acl_host_normalize(host, norm) < 0) {
        return acl_fail(ctx, "\"%.80s\" is not a DNS name or an address", host);
    } else if (parse_net(norm, &r->nets[0]) == 0) {
        r->literal = true;
        r->n_nets = 1;
    }
    r->host = strdup(norm);
    return r->host ? 0 : -ENOMEM;
}

int acl_opt_string(struct acl_ctx *ctx, const json_t *obj, const char *key, char **ret)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    if (!json_is_string(v))
        return acl_fail(ctx, "\"%s\" must be a string", key);
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : -ENOMEM;
}

static int parse_rule(struct acl_ctx *ctx, const json_t *jr, struct acl_rule *r)
{
    static const char *const keys[] = {"host", "ports", "addresses", "comment", NULL};
    int e;

    if (!json_is_object(jr))
        return acl_fail(ctx, "a rule must be an object");
    if ((e = acl_check_keys(ctx, jr, keys)) < 0 ||
        (e = acl_parse_host(ctx, json_object_get(jr, "host"), r)) < 0 ||
        (e = acl_parse_ports(ctx, json_object_get(jr, "ports"), r)) < 0 ||
        (e = parse_addresses(ctx, json_object_get(jr, "addresses"), r)) < 0)
        return e;
    return acl_opt_string(ctx, jr, "comment", &r->comment);
}

int acl_add_rule(struct acl_principal *p)
{
    struct acl_rule *n;

    if (p->n_rules >= ACL_RULES_MAX)
        return -E2BIG;
    n = realloc(p->rules, (p->n_rules + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    p->rules = n;
    memset(&p->rules[p->n_rules++], 0, sizeof(*n));
    return 0;
}

static int parse_rules(struct acl_ctx *ctx, const json_t *rules, struct acl_principal *p)
{
    size_t i;
    json_t *jr;
    int e;

    if (!rules)
        return 0;
    if (!json_is_array(rules))
        return acl_fail(ctx, "\"rules\" must be an array");
    if (json_array_size(rules) > ACL_RULES_MAX)
        return acl_fail(ctx, "more than %d rules", ACL_RULES_MAX);
    json_array_foreach(rules, i, jr)
    {
        json_t *host = json_is_object(jr) ? json_object_get(jr, "host") : NULL;
        snprintf(ctx->where, sizeof(ctx->where), "principal \"%s\" rule %zu%s%.80s%s", p->name, i,
                 json_is_string(host) ? " (\"" : "",
                 json_is_string(host) ? json_string_value(host) : "",
                 json_is_string(host) ? "\")" : "");
        if ((e = acl_add_rule(p)) < 0 || (e = parse_rule(ctx, jr, &p->rules[p->n_rules - 1])) < 0)
            return e;
    }
    return 0;
}

static int parse_principal(struct acl_ctx *ctx, const char *name, const json_t *jp,
                           struct acl_principal *p)
{
    static const char *const keys[] = {"mode", "max_connections", "rules", "comment", NULL};
    int64_t maxc = ACL_DEFAULT_PRINCIPAL_MAX_CONNECTIONS;
    json_t *mode;
    int e;

    snprintf(ctx->where, sizeof(ctx->where), "principal \"%.63s\"", name);
    if (!principal_name_valid(name))
        return acl_fail(ctx, "a principal name is [a-z0-9][a-z0-9_.-]{0,62}");
    if (!(p->name = strdup(name)))
        return -ENOMEM;
    if (!json_is_object(jp))
        return acl_fail(ctx, "a principal must be an object");
    if ((e = acl_check_keys(ctx, jp, keys)) < 0 ||
        (e = acl_int_field(ctx, jp, "max_connections", 1, CONNECTIONS_MAX, &maxc)) < 0)
        return e;
    p->max_connections = (int)maxc;
    mode = json_object_get(jp, "mode");
    if (mode && !(json_is_string(mode) && (strcmp(json_string_value(mode), "enforce") == 0 ||
                                           strcmp(json_string_value(mode), "report") == 0)))
        return acl_fail(ctx, "\"mode\" is \"enforce\" or \"report\"");
    p->mode = mode && strcmp(json_string_value(mode), "report") == 0 ? ACL_REPORT : ACL_ENFORCE;
    return parse_rules(ctx, json_object_get(jp, "rules"), p);
}

static int parse_principals(struct acl_ctx *ctx, const json_t *jps, struct acl_config *c)
{
    const char *name;
    json_t *jp;
    int e;

    if (!jps)
        return 0;
    if (!json_is_object(jps))
        return acl_fail(ctx, "\"principals\" must be an object");
    if (json_object_size(jps) > ACL_PRINCIPALS_MAX)
        return acl_fail(ctx, "more than %d principals", ACL_PRINCIPALS_MAX);
    c->principals =
        calloc(json_object_size(jps) ? json_object_size(jps) : 1, sizeof(*c->principals));
    if (!c->principals)
        return -ENOMEM;
    json_object_foreach((json_t *)jps, name, jp)
    {
        struct acl_principal *p = &c->principals[c->n_principals++];
        if ((e = parse_principal(ctx, name, jp, p)) < 0)
            return e;
    }
    return 0;
}

static int parse_top(struct acl_ctx *ctx, const json_t *acl, struct acl_config *c)
{
    static const char *const keys[] = {"max_connections",
                                       "idle_timeout_s",
                                       "header_timeout_s",
                                       "connect_timeout_s",
                                       "principals",
                                       "comment",
                                       NULL};
    int64_t maxc = ACL_DEFAULT_MAX_CONNECTIONS, idle = ACL_DEFAULT_IDLE_TIMEOUT_S,
            head = ACL_DEFAULT_HEADER_TIMEOUT_S, conn = ACL_DEFAULT_CONNECT_TIMEOUT_S;
    int e;

    if (!json_is_object(acl))
        return acl_fail(ctx, "the ACL must be a JSON object");
    if ((e = acl_check_keys(ctx, acl, keys)) < 0 ||
        (e = acl_int_field(ctx, acl, "max_connections", 1, CONNECTIONS_MAX, &maxc)) < 0 ||
        (e = acl_int_field(ctx, acl, "idle_timeout_s", 1, TIMEOUT_MAX_S, &idle)) < 0 ||
        (e = acl_int_field(ctx, acl, "header_timeout_s", 1, TIMEOUT_MAX_S, &head)) < 0 ||
        (e = acl_int_field(ctx, acl, "connect_timeout_s", 1, TIMEOUT_MAX_S, &conn)) < 0)
        return e;
    c->max_connections = (int)maxc;
    c->idle_timeout_s = (int)idle;
    c->header_timeout_s = (int)head;
    c->connect_timeout_s = (int)conn;
    return parse_principals(ctx, json_object_get(acl, "principals"), c);
}

int acl_config_from_json(const json_t *acl, const json_t *grants, struct acl_config **ret,
                         char *err, size_t errlen)
{
    struct acl_ctx ctx = {.err = err, .errlen = errlen};
    struct acl_config *c = calloc(1, sizeof(*c));
    int e;

    if (err && errlen)
        err[0] = '\0';
    if (!c)
        return -ENOMEM;
    c->refs = 1;
    if ((e = parse_top(&ctx, acl, c)) < 0 || (e = acl_parse_grants(&ctx, grants, c)) < 0) {
        config_free(c);
        return e;
    }
    *ret = c;
    return 0;
}
