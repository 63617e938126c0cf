/* keyd's signing policy: the file (ours and osModa's {"rules": [...]}), its defaults, the checks
 * that need no counters, and the policy in force as JSON. Counters and the nonce guard are in
 * kpolicy-store.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "kpolicy-internal.h"

#define ADDR_TEXT_MAX 64 /* longer than any address of ours (ETH 42, Solana ≤ 44) */
#define SOL_ADDR_MIN 32
#define SOL_ADDR_MAX 44

/* osModa's defaults (reference §8) and our threshold. */
static const struct {
    const char *name;
    unsigned decimals;
    const char *max_per_day, *approval_above;
    int64_t max_sends_per_day;
} chain_defaults[KP_CHAINS] = {
    {"ethereum", AMOUNT_ETH_DECIMALS, "1.0", "0.1", 10},
    {"solana", AMOUNT_SOL_DECIMALS, "10.0", "1.0", 20},
};
#define DEFAULT_MESSAGES_PER_DAY 100
#define DEFAULT_MIN_KEY_VERSION 1

OSM_PRINTF(4, 5) static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

OSM_PRINTF(4, 5)
static enum kp_verdict verdict(enum kp_verdict v, char *reason, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (reason && len) {
        va_start(ap, fmt);
        vsnprintf(reason, len, fmt, ap);
        va_end(ap);
    }
    return v;
}

const struct kp_chain_policy *kpolicy_chain(const struct kpolicy *p, const char *chain)
{
    for (size_t i = 0; chain && i < KP_CHAINS; i++)
        if (strcmp(p->chains[i].name, chain) == 0)
            return &p->chains[i];
    return NULL;
}

int kpolicy_day(time_t now, char out[static KP_DAY_LEN + 1])
{
    struct tm tm;

    /* four-digit years only, so that the text is always KP_DAY_LEN long */
    if (now < 0 || !gmtime_r(&now, &tm) || tm.tm_year > 9999 - 1900)
        return -EINVAL;
    return strftime(out, KP_DAY_LEN + 1, "%Y-%m-%d", &tm) == KP_DAY_LEN ? 0 : -EINVAL;
}

/* ---- addresses ---------------------------------------------------------------------------- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_base58(char c)
{
    return c && strchr("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", c);
}

/* The form destinations are compared in: an Ethereum address in lower case (its EIP-55 and
 * lower-case texts are one destination), a Solana address as is. -EINVAL when s is not an
 * address of the chain. */
static int address_key(const struct kp_chain_policy *c, const char *s,
                       char out[static ADDR_TEXT_MAX + 1])
{
    size_t len = s ? strnlen(s, ADDR_TEXT_MAX + 1) : 0;

    if (c->decimals == AMOUNT_ETH_DECIMALS) {
        if (len != 42 || s[0] != '0' || s[1] != 'x')
            return -EINVAL;
        for (size_t i = 0; i < len; i++) {
            if (i >= 2 && !is_hex(s[i]))
                return -EINVAL;
            out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
        }
    } else {
        if (len < SOL_ADDR_MIN || len > SOL_ADDR_MAX)
            return -EINVAL;
        for (size_t i = 0; i < len; i++)
            if (!is_base58(s[i]))
                return -EINVAL;
        memcpy(out, s, len);
    }
    out[len] = '\0';
    return 0;
}

static bool allowlisted(const struct kp_chain_policy *c, const char *key)
{
    for (size_t i = 0; i < c->n_allowed; i++)
        if (strcmp(c->allowed[i], key) == 0)
            return true;
    return false;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* ---- parsing ------------------------------------------------------------------------------ */

struct parse {
    struct kpolicy *p;
    char *err;
    size_t errlen;
};

static int parse_amount(struct parse *x, const struct kp_chain_policy *c, json_t *v,
                        const char *path, amount_t *ret)
{
    int r;

    if (json_is_null(v)) {
        *ret = KP_NO_LIMIT;
        return 0;
    }
    if (!json_is_string(v))
        return fail(x->err, x->errlen, -EINVAL,
                    "%s: an amount is decimal text in %s's main unit (\"0.5\") or null", path,
                    c->name);
    r = amount_parse(json_string_value(v), c->decimals, ret);
    if (r == -ERANGE)
        return fail(x->err, x->errlen, -EINVAL, "%s: amount too large", path);
    if (r < 0)
        return fail(x->err, x->errlen, -EINVAL,
                    "%s: \"%s\" is not a decimal amount with at most %u decimals", path,
                    json_string_value(v), c->decimals);
    return 0;
}

static int parse_count(struct parse *x, json_t *v, const char *path, int64_t min, int64_t *ret)
{
    if (json_is_null(v) && min == 0) {
        *ret = KP_NO_COUNT;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return fail(x->err, x->errlen, -EINVAL, "%s: must be an integer >= %lld%s", path,
                    (long long)min, min == 0 ? " or null" : "");
    *ret = json_integer_value(v);
    return 0;
}

/* A list of destinations into *ret (canonical keys, malloc'd). */
static int parse_addresses(struct parse *x, const struct kp_chain_policy *c, json_t *v,
                           const char *path, char ***ret, size_t *ret_n)
{
    char key[ADDR_TEXT_MAX + 1], **list;
    size_t n = json_array_size(v);

    if (!json_is_array(v) || n > KP_ALLOWLIST_MAX)
        return fail(x->err, x->errlen, -EINVAL, "%s: must be an array of at most %d addresses",
                    path, KP_ALLOWLIST_MAX);
    if (!(list = calloc(n + 1, sizeof(*list))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (address_key(c, json_string_value(json_array_get(v, i)), key) < 0) {
            free_list(list, i);
            return fail(x->err, x->errlen, -EINVAL, "%s[%zu]: not a %s address", path, i, c->name);
        }
        if (!(list[i] = strdup(key))) {
            free_list(list, i);
            return -ENOMEM;
        }
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

/* The keys of our format, as a table: the same description parses, checks and prints. */
enum field_kind { F_AMOUNT, F_COUNT, F_VERSION, F_BOOL, F_ADDRESSES, F_CHAINS, F_COMMENT };

struct field {
    const char *key;
    enum field_kind kind;
    size_t offset;
};

static const struct field chain_fields[] = {
    {"max_per_tx", F_AMOUNT, offsetof(struct kp_chain_policy, max_per_tx)},
    {"max_per_day", F_AMOUNT, offsetof(struct kp_chain_policy, max_per_day)},
    {"max_sends_per_day", F_COUNT, offsetof(struct kp_chain_policy, max_sends_per_day)},
    {"approval_above", F_AMOUNT, offsetof(struct kp_chain_policy, approval_above)},
    {"allowed_destinations", F_ADDRESSES, 0},
    {"min_key_version", F_VERSION, offsetof(struct kp_chain_policy, min_key_version)},
};

static const struct field top_fields[] = {
    {"chains", F_CHAINS, 0},
    {"messages_per_day", F_COUNT, offsetof(struct kpolicy, messages_per_day)},
    {"sign_raw", F_BOOL, offsetof(struct kpolicy, sign_raw)},
    {"allow_import", F_BOOL, offsetof(struct kpolicy, allow_import)},
    {"allow_export", F_BOOL, offsetof(struct kpolicy, allow_export)},
    {"comment", F_COMMENT, 0},
};

static int parse_chains(struct parse *x, json_t *v);

/* One value of a table: base is the struct kpolicy or kp_chain_policy the offsets refer to. */
static int parse_field(struct parse *x, const struct field *f, void *base,
                       struct kp_chain_policy *c, json_t *v, const char *path)
{
    void *dst = (char *)base + f->offset;

    switch (f->kind) {
    case F_AMOUNT:
        return parse_amount(x, c, v, path, dst);
    case F_COUNT:
        return parse_count(x, v, path, 0, dst);
    case F_VERSION:
        return parse_count(x, v, path, 1, dst);
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(x->err, x->errlen, -EINVAL, "%s: must be true or false", path);
        *(bool *)dst = json_is_true(v);
        return 0;
    case F_ADDRESSES:
        free_list(c->allowed, c->n_allowed);
        c->allowed = NULL;
        c->n_allowed = 0;
        c->has_allowlist = !json_is_null(v);
        return c->has_allowlist ? parse_addresses(x, c, v, path, &c->allowed, &c->n_allowed) : 0;
    case F_CHAINS:
        return parse_chains(x, v);
    case F_COMMENT:
        return json_is_string(v) ? 0
                                 : fail(x->err, x->errlen, -EINVAL, "%s: must be a string", path);
    }
    return -EINVAL;
}

static int parse_object(struct parse *x, const struct field *fields, size_t n, void *base,
                        struct kp_chain_policy *c, json_t *obj, const char *prefix)
{
    char path[128];
    const char *key;
    json_t *v;
    int r;

    if (!json_is_object(obj))
        return fail(x->err, x->errlen, -EINVAL, "%s: must be an object",
                    *prefix ? prefix : "policy");
    json_object_foreach(obj, key, v)
    {
        const struct field *f = NULL;

        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        for (size_t i = 0; i < n && !f; i++)
            if (strcmp(fields[i].key, key) == 0)
                f = &fields[i];
        if (!f)
            return fail(x->err, x->errlen, -EINVAL, "%s: unknown field", path);
        if ((r = parse_field(x, f, base, c, v, path)) < 0)
            return r;
    }
    return 0;
}

static int parse_chains(struct parse *x, json_t *v)
{
    char prefix[96];
    const char *name;
    json_t *chain;
    int r;

    if (!json_is_object(v))
        return fail(x->err, x->errlen, -EINVAL, "chains: must be an object");
    json_object_foreach(v, name, chain)
    {
        struct kp_chain_policy *c = (struct kp_chain_policy *)kpolicy_chain(x->p, name);

        snprintf(prefix, sizeof(prefix), "chains.%.64s", name);
        if (!c)
            return fail(x->err, x->errlen, -EINVAL, "%s: unknown chain", prefix);
        if ((r = parse_object(x, chain_fields, ELEMENTSOF(chain_fields), c, c, chain, prefix)) < 0)
            return r;
    }
    return 0;
}

/* ---- osModa's {"rules": [...]} ------------------------------------------------------------- */

/* Keeps only the destinations of c also in list (all matching rules must pass). */
static void intersect(struct kp_chain_policy *c, char **list, size_t n)
{
    size_t kept = 0;

    for (size_t i = 0; i < c->n_allowed; i++) {
        bool found = false;

        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(c->allowed[i], list[j]) == 0;
        if (found)
            c->allowed[kept++] = c->allowed[i];
        else
            free(c->allowed[i]);
    }
    c->n_allowed = kept;
}

static int rule_destinations(struct parse *x, struct kp_chain_policy *c, json_t *v,
                             const char *path)
{
    char **list;
    size_t n;
    int r;

    if ((r = parse_addresses(x, c, v, path, &list, &n)) < 0)
        return r;
    if (!c->has_allowlist) {
        c->has_allowlist = true;
        c->allowed = list;
        c->n_allowed = n;
        return 0;
    }
    intersect(c, list, n);
    free_list(list, n);
    return 0;
}

static const char *const rule_keys[] = {"action",     "chain",       "period",
                                        "max_amount", "max_per_day", "allowed_destinations"};

static int rule_check_keys(struct parse *x, json_t *rule, size_t i, bool send)
{
    const char *key;
    json_t *v;

    json_object_foreach(rule, key, v)
    {
        bool known = false;

        for (size_t k = 0; k < ELEMENTSOF(rule_keys) && !known; k++)
            known = strcmp(rule_keys[k], key) == 0;
        if (!known)
            return fail(x->err, x->errlen, -EINVAL, "rules[%zu].%s: unknown field", i, key);
        if (!send && (strcmp(key, "max_amount") == 0 || strcmp(key, "allowed_destinations") == 0))
            return fail(x->err, x->errlen, -EINVAL, "rules[%zu].%s: only for send rules", i, key);
        if (strcmp(key, "period") == 0 && !json_is_string(v))
            return fail(x->err, x->errlen, -EINVAL, "rules[%zu].period: must be a string", i);
    }
    return 0;
}

/* A send rule on one chain: the first one replaces the chain's defaults, the next tighten. */
static int rule_send(struct parse *x, json_t *rule, size_t i, struct kp_chain_policy *c, bool *seen)
{
    json_t *amount = json_object_get(rule, "max_amount"),
           *count = json_object_get(rule, "max_per_day"),
           *dest = json_object_get(rule, "allowed_destinations");
    char path[64];
    amount_t a;
    int64_t n;
    int r;

    if (!*seen) {
        c->max_per_day = KP_NO_LIMIT;
        c->max_sends_per_day = KP_NO_COUNT;
        *seen = true;
    }
    snprintf(path, sizeof(path), "rules[%zu].max_amount", i);
    if (amount && (r = parse_amount(x, c, amount, path, &a)) < 0)
        return r;
    if (amount && a < c->max_per_day)
        c->max_per_day = a;
    snprintf(path, sizeof(path), "rules[%zu].max_per_day", i);
    if (count && (r = parse_count(x, count, path, 0, &n)) < 0)
        return r;
    if (count && n < c->max_sends_per_day)
        c->max_sends_per_day = n;
    snprintf(path, sizeof(path), "rules[%zu].allowed_destinations", i);
    return dest ? rule_destinations(x, c, dest, path) : 0;
}

static int rule_sign(struct parse *x, json_t *rule, size_t i, bool *seen)
{
    json_t *count = json_object_get(rule, "max_per_day");
    char path[64];
    int64_t n;
    int r;

    if (!*seen) {
        x->p->messages_per_day = KP_NO_COUNT;
        *seen = true;
    }
    snprintf(path, sizeof(path), "rules[%zu].max_per_day", i);
    if (count && (r = parse_count(x, count, path, 0, &n)) < 0)
        return r;
    if (count && n < x->p->messages_per_day)
        x->p->messages_per_day = n;
    return 0;
}

static int parse_rule(struct parse *x, json_t *rule, size_t i, bool seen_send[KP_CHAINS],
                      bool *seen_sign)
{
    json_t *action = json_object_get(rule, "action"), *chain = json_object_get(rule, "chain");
    const char *a = json_string_value(action);
    const struct kp_chain_policy *only = NULL;
    bool send;
    int r;

    if (!json_is_object(rule))
        return fail(x->err, x->errlen, -EINVAL, "rules[%zu]: must be an object", i);
    if (!a || (strcmp(a, "send") != 0 && strcmp(a, "sign") != 0))
        return fail(x->err, x->errlen, -EINVAL, "rules[%zu].action: must be \"send\" or \"sign\"",
                    i);
    send = strcmp(a, "send") == 0;
    if (chain && !(only = kpolicy_chain(x->p, json_string_value(chain))))
        return fail(x->err, x->errlen, -EINVAL,
                    "rules[%zu].chain: must be \"ethereum\" or \"solana\"", i);
    if ((r = rule_check_keys(x, rule, i, send)) < 0)
        return r;
    if (!send)
        return rule_sign(x, rule, i, seen_sign);
    for (size_t c = 0; c < KP_CHAINS; c++)
        if ((!only || only == &x->p->chains[c]) &&
            (r = rule_send(x, rule, i, &x->p->chains[c], &seen_send[c])) < 0)
            return r;
    return 0;
}

/* osModa's format: every matching rule must pass, so limits combine by minimum and allowlists
 * by intersection; max_amount is the day's total (the stricter reading: osModa counted amounts
 * per day). What the rules cannot say (threshold, key version, sign_raw, import/export) and a
 * chain or action no rule names keep the defaults. */
static int parse_rules(struct parse *x, json_t *doc)
{
    json_t *rules = json_object_get(doc, "rules");
    bool seen_send[KP_CHAINS] = {false}, seen_sign = false;
    int r;

    if (json_object_size(doc) != 1)
        return fail(x->err, x->errlen, -EINVAL,
                    "policy: osModa's format has \"rules\" and nothing else");
    if (!json_is_array(rules))
        return fail(x->err, x->errlen, -EINVAL, "rules: must be an array");
    for (size_t i = 0; i < json_array_size(rules); i++)
        if ((r = parse_rule(x, json_array_get(rules, i), i, seen_send, &seen_sign)) < 0)
            return r;
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */

static int set_defaults(struct kpolicy *p)
{
    for (size_t i = 0; i < KP_CHAINS; i++) {
        struct kp_chain_policy *c = &p->chains[i];

        c->name = chain_defaults[i].name;
        c->decimals = chain_defaults[i].decimals;
        c->max_per_tx = KP_NO_LIMIT;
        c->max_sends_per_day = chain_defaults[i].max_sends_per_day;
        c->min_key_version = DEFAULT_MIN_KEY_VERSION;
        if (amount_parse(chain_defaults[i].max_per_day, c->decimals, &c->max_per_day) < 0 ||
            amount_parse(chain_defaults[i].approval_above, c->decimals, &c->approval_above) < 0)
            return -EINVAL;
    }
    p->messages_per_day = DEFAULT_MESSAGES_PER_DAY;
    return 0;
}

/* Opens path checking who may have written it: -ENOENT when absent. */
static int open_checked(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? -ENOENT
                               : fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, -EINVAL, "%s: not a regular file", path);
    }
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        close(fd);
        return fail(err, errlen, -EPERM,
                    "%s: must be owned by uid %u and not writable by group or others", path,
                    (unsigned)geteuid());
    }
    return fd;
}

static int parse_file(struct kpolicy *p, const char *path, char *err, size_t errlen)
{
    _cleanup_close_ int fd = open_checked(path, err, errlen);
    _cleanup_free_ char *data = NULL;
    struct parse x = {p, err, errlen};
    json_error_t jerr;
    json_t *doc;
    size_t len;
    int r;

    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    if ((r = osm_read_fd(fd, KP_FILE_MAX, &data, &len)) < 0)
        return fail(err, errlen, r == -EFBIG ? -EINVAL : r, "%s: %s", path,
                    r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
    if (!(doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)))
        return fail(err, errlen, -EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    if (json_is_object(doc) && json_object_get(doc, "rules"))
        r = parse_rules(&x, doc);
    else
        r = parse_object(&x, top_fields, ELEMENTSOF(top_fields), p, NULL, doc, "");
    json_decref(doc);
    return r;
}

int kpolicy_load(const char *path, struct kpolicy **ret, char *err, size_t errlen)
{
    struct kpolicy *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    if ((r = set_defaults(p)) < 0 || (r = parse_file(p, path, err, errlen)) < 0) {
        kpolicy_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void kpolicy_free(struct kpolicy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < KP_CHAINS; i++)
        free_list(p->chains[i].allowed, p->chains[i].n_allowed);
    free(p);
}

bool kpolicy_import_allowed(const struct kpolicy *p)
{
    return p->allow_import;
}

bool kpolicy_export_allowed(const struct kpolicy *p)
{
    return p->allow_export;
}

/* ---- the policy as JSON ------------------------------------------------------------------- */

static json_t *amount_json(amount_t a, unsigned decimals)
{
    char text[AMOUNT_TEXT_MAX + 1];

    if (a == KP_NO_LIMIT)
        return json_null();
    amount_format(a, decimals, text);
    return json_string(text);
}

static json_t *count_json(int64_t n)
{
    return n == KP_NO_COUNT ? json_null() : json_integer(n);
}

static json_t *chain_json(const struct kp_chain_policy *c)
{
    json_t *list = c->has_allowlist ? json_array() : json_null();

    for (size_t i = 0; list && c->has_allowlist && i < c->n_allowed; i++)
        if (json_array_append_new(list, json_string(c->allowed[i])) < 0)
            break;
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "max_per_tx",
                     amount_json(c->max_per_tx, c->decimals), "max_per_day",
                     amount_json(c->max_per_day, c->decimals), "max_sends_per_day",
                     count_json(c->max_sends_per_day), "approval_above",
                     amount_json(c->approval_above, c->decimals), "allowed_destinations", list,
                     "min_key_version", (json_int_t)c->min_key_version);
}

json_t *kpolicy_json(const struct kpolicy *p)
{
    json_t *chains = json_object();

    for (size_t i = 0; chains && i < KP_CHAINS; i++)
        if (json_object_set_new(chains, p->chains[i].name, chain_json(&p->chains[i])) < 0) {
            json_decref(chains);
            return NULL;
        }
    if (!chains)
        return NULL;
    return json_pack("{s:o, s:o, s:b, s:b, s:b}", "chains", chains, "messages_per_day",
                     count_json(p->messages_per_day), "sign_raw", p->sign_raw, "allow_import",
                     p->allow_import, "allow_export", p->allow_export);
}

/* ---- the checks --------------------------------------------------------------------------- */

static enum kp_verdict check_send(const struct kp_chain_policy *c, const struct kp_request *r,
                                  char *reason, size_t len)
{
    char key[ADDR_TEXT_MAX + 1], a[AMOUNT_TEXT_MAX + 1], lim[AMOUNT_TEXT_MAX + 1];

    amount_format(r->amount, c->decimals, a);
    if (address_key(c, r->to, key) < 0)
        return verdict(KP_DENY, reason, len, "the destination is not a %s address", c->name);
    if (r->amount > c->max_per_tx) {
        amount_format(c->max_per_tx, c->decimals, lim);
        return verdict(KP_DENY, reason, len, "%s %s is above max_per_tx %s", c->name, a, lim);
    }
    if (r->amount > c->max_per_day) {
        amount_format(c->max_per_day, c->decimals, lim);
        return verdict(KP_DENY, reason, len, "%s %s is above max_per_day %s", c->name, a, lim);
    }
    if (c->has_allowlist && !allowlisted(c, key))
        return verdict(KP_DENY, reason, len, "%s is not in %s's allowed_destinations", r->to,
                       c->name);
    if (r->amount > c->approval_above) {
        amount_format(c->approval_above, c->decimals, lim);
        return verdict(KP_APPROVE, reason, len,
                       "%s %s is above approval_above %s: a person must approve", c->name, a, lim);
    }
    return verdict(KP_ALLOW, reason, len, "within the policy");
}

enum kp_verdict kpolicy_check(const struct kpolicy *p, const struct kp_request *r, char *reason,
                              size_t len)
{
    const struct kp_chain_policy *c;

    if (r->action == KP_IMPORT || r->action == KP_EXPORT) {
        const char *what = r->action == KP_IMPORT ? "import" : "export";

        if (!(r->action == KP_IMPORT ? p->allow_import : p->allow_export))
            return verdict(KP_DENY, reason, len, "%s is disabled by the policy (allow_%s)", what,
                           what);
        return verdict(KP_APPROVE, reason, len, "every key %s needs a person's approval", what);
    }
    if (r->action == KP_SIGN_RAW && !p->sign_raw)
        return verdict(KP_DENY, reason, len,
                       "signing arbitrary payloads is disabled by the policy (sign_raw)");
    if (!(c = kpolicy_chain(p, r->chain)))
        return verdict(KP_DENY, reason, len, "unknown chain");
    if (r->key_version < c->min_key_version)
        return verdict(KP_DENY, reason, len, "key version %d is below %s's min_key_version %lld",
                       r->key_version, c->name, (long long)c->min_key_version);
    switch (r->action) {
    case KP_SEND:
        return check_send(c, r, reason, len);
    case KP_SIGN_MESSAGE:
        return verdict(KP_ALLOW, reason, len, "within the policy");
    case KP_SIGN_RAW:
        return verdict(KP_APPROVE, reason, len,
                       "an arbitrary payload always needs a person's approval");
    default:
        return verdict(KP_DENY, reason, len, "unknown action");
    }
}
