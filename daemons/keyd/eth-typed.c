/* EIP-712 typed data (eth_signTypedData_v4): type hashes from encodeType, hashStruct over
 * nested structs and arrays, and the final keccak256("\x19\x01" ‖ domainSeparator ‖
 * hashStruct(message)). Strict where wallets differ: a message field its type does not declare,
 * a missing field, a value out of its type's range, a cyclic or unknown type are refused, so what
 * is signed is exactly what the document shows. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth.h"
#include "keccak.h"

#define TYPED_TYPES_MAX 64         /* struct types in one document */
#define TYPED_FIELDS_MAX 128       /* fields of one struct */
#define TYPED_DEPTH_MAX 32         /* structs and arrays nested in a value */
#define TYPED_ENCODE_TYPE_MAX 8192 /* characters of one encodeType string */
#define TYPED_NAME_MAX 128

#define DOMAIN_TYPE "EIP712Domain"

struct typed {
    const json_t *types; /* name -> [{name, type}], with EIP712Domain present */
    json_t *owned;       /* types with a derived EIP712Domain, when the document had none */
    struct {
        const char *name;
        uint8_t hash[32];
    } cache[TYPED_TYPES_MAX + 1];
    size_t cached;
    char *err;
    size_t errlen;
};

static int fail(struct typed *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct typed *t, const char *fmt, ...)
{
    va_list ap;

    if (t->err && t->errlen) {
        va_start(ap, fmt);
        vsnprintf(t->err, t->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Type and field names: identifiers, so that encodeType cannot be spliced. */
static bool is_identifier(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TYPED_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '$'))
            return false;
    }
    return true;
}

static const json_t *struct_fields(const struct typed *t, const char *name)
{
    return json_object_get(t->types, name);
}

/* The length of the base type of an array type ("Person[][3]" -> "Person"). */
static size_t base_len(const char *type)
{
    const char *b = strchr(type, '[');

    return b ? (size_t)(b - type) : strlen(type);
}

/* Width of "uintN"/"intN"/"bytesN" after prefix: N, or 0 when malformed. */
static unsigned width_of(const char *type, const char *prefix, unsigned max)
{
    size_t pl = strlen(prefix);
    unsigned n = 0;
    const char *p;

    if (strncmp(type, prefix, pl) != 0 || !type[pl] || type[pl] == '0')
        return 0;
    for (p = type + pl; *p; p++) {
        if (*p < '0' || *p > '9' || n > max)
            return 0;
        n = n * 10 + (unsigned)(*p - '0');
    }
    return n <= max ? n : 0;
}

static bool is_atomic(const char *type)
{
    unsigned u = width_of(type, "uint", 256), i = width_of(type, "int", 256);

    return strcmp(type, "address") == 0 || strcmp(type, "bool") == 0 ||
           strcmp(type, "string") == 0 || strcmp(type, "bytes") == 0 ||
           width_of(type, "bytes", 32) > 0 || (u && u % 8 == 0) || (i && i % 8 == 0);
}

/* Array suffixes: "[]" or "[n]" with n > 0, any number of them. */
static bool array_suffix_ok(const char *s)
{
    while (*s) {
        if (*s++ != '[')
            return false;
        if (*s != ']' && (*s < '1' || *s > '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s++ != ']')
            return false;
    }
    return true;
}

/* A field type: atomic or a declared struct, with well-formed array suffixes. */
static int check_field_type(struct typed *t, const char *owner, const char *type)
{
    size_t bl = base_len(type);
    char base[TYPED_NAME_MAX + 1];

    if (bl == 0 || bl > TYPED_NAME_MAX || !array_suffix_ok(type + bl))
        return fail(t, "type %s: malformed field type '%s'", owner, type);
    memcpy(base, type, bl);
    base[bl] = '\0';
    if (!is_atomic(base) && !struct_fields(t, base))
        return fail(t, "type %s: unknown type '%s'", owner, base);
    return 0;
}

static int check_struct(struct typed *t, const char *name, const json_t *fields)
{
    size_t i, j;
    const json_t *f, *g;

    if (!is_identifier(name) || is_atomic(name))
        return fail(t, "'%s' is not a valid struct name", name);
    if (!json_is_array(fields) || json_array_size(fields) > TYPED_FIELDS_MAX)
        return fail(t, "type %s: fields must be an array of at most %d", name, TYPED_FIELDS_MAX);
    json_array_foreach(fields, i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        const char *ftype = json_string_value(json_object_get(f, "type"));
        int r;

        if (!fname || !ftype || json_object_size(f) != 2 || !is_identifier(fname))
            return fail(t, "type %s: field %zu must be {name, type}", name, i);
        r = check_field_type(t, name, ftype);
        if (r < 0)
            return r;
        for (j = 0; j < i; j++) {
            g = json_array_get(fields, j);
            if (strcmp(json_string_value(json_object_get(g, "name")), fname) == 0)
                return fail(t, "type %s: field '%s' twice", name, fname);
        }
    }
    return 0;
}

/* Depth-first walk for cycles: state 1 on the path, 2 done. */
static int check_cycles(struct typed *t, const char *name, char *state, const char **names,
                        size_t n)
{
    size_t k = 0, i;
    const json_t *f;

    while (k < n && strcmp(names[k], name) != 0)
        k++;
    if (k == n || state[k] == 2)
        return 0;
    if (state[k] == 1)
        return fail(t, "type %s refers to itself", name);
    state[k] = 1;
    json_array_foreach(struct_fields(t, name), i, f)
    {
        const char *ftype = json_string_value(json_object_get(f, "type"));
        char base[TYPED_NAME_MAX + 1];
        size_t bl = base_len(ftype);
        int r;

        memcpy(base, ftype, bl);
        base[bl] = '\0';
        r = check_cycles(t, base, state, names, n);
        if (r < 0)
            return r;
    }
    state[k] = 2;
    return 0;
}

static int check_types(struct typed *t)
{
    const char *names[TYPED_TYPES_MAX + 1], *name;
    char state[TYPED_TYPES_MAX + 1] = {0};
    const json_t *fields;
    size_t n = 0;
    int r;

    if (json_object_size(t->types) > TYPED_TYPES_MAX + 1)
        return fail(t, "more than %d types", TYPED_TYPES_MAX);
    json_object_foreach((json_t *)t->types, name, fields)
    {
        r = check_struct(t, name, fields);
        if (r < 0)
            return r;
        names[n++] = name;
    }
    for (size_t i = 0; i < n; i++) {
        r = check_cycles(t, names[i], state, names, n);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The domain's fields in EIP-712's order when the document did not declare EIP712Domain. */
static int derive_domain_type(struct typed *t, const json_t *types, const json_t *domain)
{
    static const char *const known[][2] = {{"name", "string"},
                                           {"version", "string"},
                                           {"chainId", "uint256"},
                                           {"verifyingContract", "address"},
                                           {"salt", "bytes32"}};
    json_t *fields = json_array();
    size_t used = 0;

    t->owned = json_copy((json_t *)types);
    if (!t->owned || !fields) {
        json_decref(fields);
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (json_object_get(domain, known[i][0])) {
            json_array_append_new(
                fields, json_pack("{s:s, s:s}", "name", known[i][0], "type", known[i][1]));
            used++;
        }
    json_object_set_new(t->owned, DOMAIN_TYPE, fields);
    t->types = t->owned;
    if (used != json_object_size(domain))
        return fail(t, "domain has a field EIP-712 does not define (declare EIP712Domain)");
    return 0;
}

/* The key of struct type type[0..len) in types (its storage lives as long as the document),
 * or NULL for an atomic or unknown type. */
static const char *struct_key(const struct typed *t, const char *type, size_t len)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)t->types, key, v)
    {
        if (strlen(key) == len && strncmp(key, type, len) == 0)
            return key;
    }
    return NULL;
}

/* Struct types name depends on, each once (name itself may be among them). */
static void collect_deps(const struct typed *t, const char *name, const char **deps, size_t *n)
{
    size_t i, k;
    const json_t *f;

    json_array_foreach(struct_fields(t, name), i, f)
    {
        const char *ftype = json_string_value(json_object_get(f, "type"));
        const char *base = struct_key(t, ftype, base_len(ftype));

        if (!base)
            continue;
        for (k = 0; k < *n && deps[k] != base; k++)
            ;
        if (k < *n)
            continue;
        deps[(*n)++] = base;
        collect_deps(t, base, deps, n);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends "Name(type1 name1,type2 name2)" to buf. */
static int append_struct(struct typed *t, const char *name, char *buf, size_t *len)
{
    size_t i;
    const json_t *f;
    int n;

    n = snprintf(buf + *len, TYPED_ENCODE_TYPE_MAX - *len, "%s(", name);
    if (n < 0 || (size_t)n >= TYPED_ENCODE_TYPE_MAX - *len)
        return fail(t, "type %s: encodeType too long", name);
    *len += (size_t)n;
    json_array_foreach(struct_fields(t, name), i, f)
    {
        n = snprintf(buf + *len, TYPED_ENCODE_TYPE_MAX - *len, "%s%s %s", i ? "," : "",
                     json_string_value(json_object_get(f, "type")),
                     json_string_value(json_object_get(f, "name")));
        if (n < 0 || (size_t)n >= TYPED_ENCODE_TYPE_MAX - *len)
            return fail(t, "type %s: encodeType too long", name);
        *len += (size_t)n;
    }
    if (*len + 1 >= TYPED_ENCODE_TYPE_MAX)
        return fail(t, "type %s: encodeType too long", name);
    buf[(*len)++] = ')';
    buf[*len] = '\0';
    return 0;
}

/* keccak256(encodeType(name)), cached per document. */
static int type_hash(struct typed *t, const char *name, uint8_t out[32])
{
    const char *deps[TYPED_TYPES_MAX + 1];
    size_t ndeps = 0, len = 0, k;
    char *buf;
    int r;

    for (k = 0; k < t->cached; k++)
        if (strcmp(t->cache[k].name, name) == 0) {
            memcpy(out, t->cache[k].hash, 32);
            return 0;
        }
    collect_deps(t, name, deps, &ndeps);
    /* name itself comes first, not among the sorted dependencies */
    for (k = 0; k < ndeps; k++)
        if (strcmp(deps[k], name) == 0)
            deps[k] = deps[--ndeps];
    qsort(deps, ndeps, sizeof(deps[0]), cmp_names);
    buf = malloc(TYPED_ENCODE_TYPE_MAX);
    if (!buf)
        return -ENOMEM;
    r = append_struct(t, name, buf, &len);
    for (k = 0; r == 0 && k < ndeps; k++)
        r = append_struct(t, deps[k], buf, &len);
    if (r == 0)
        r = keccak256(buf, len, out);
    free(buf);
    if (r == 0 && t->cached < TYPED_TYPES_MAX + 1) {
        t->cache[t->cached].name = name;
        memcpy(t->cache[t->cached++].hash, out, 32);
    }
    return r;
}

static int hash_struct(struct typed *t, const char *name, const json_t *v, unsigned depth,
                       uint8_t out[32]);

/* Hex text ("0x" + even digits) into a malloc'd buffer. */
static int hex_bytes(struct typed *t, const json_t *v, const char *type, uint8_t **ret,
                     size_t *ret_len)
{
    const char *s = json_string_value(v);
    size_t n;
    uint8_t *p;

    if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || (n = strlen(s + 2)) % 2)
        return fail(t, "%s: expected 0x-prefixed hex", type);
    p = malloc(n / 2 + 1);
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = s[2 + i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;

        if (d < 0) {
            free(p);
            return fail(t, "%s: expected 0x-prefixed hex", type);
        }
        p[i / 2] = (uint8_t)(i % 2 ? p[i / 2] | d : d << 4);
    }
    *ret = p;
    *ret_len = n / 2;
    return 0;
}

/* mag = mag * base + d over 256 bits: false on overflow. */
static bool mul_add(uint8_t mag[32], unsigned base, unsigned d)
{
    unsigned carry = d;

    for (size_t i = 32; i > 0; i--) {
        carry += mag[i - 1] * base;
        mag[i - 1] = (uint8_t)carry;
        carry >>= 8;
    }
    return carry == 0;
}

/* The magnitude and sign of a JSON integer or a decimal / 0x-hex string. */
static int int_magnitude(struct typed *t, const json_t *v, const char *type, uint8_t mag[32],
                         bool *neg)
{
    const char *s = json_string_value(v);
    unsigned base = 10;

    memset(mag, 0, 32);
    *neg = false;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        uint64_t u = x < 0 ? (uint64_t)(-(x + 1)) + 1 : (uint64_t)x;

        *neg = x < 0;
        for (size_t i = 0; i < 8; i++)
            mag[31 - i] = (uint8_t)(u >> (8 * i));
        return 0;
    }
    if (!s)
        return fail(t, "%s: expected an integer or a string", type);
    if (*s == '-') {
        *neg = true;
        s++;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !*neg) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return fail(t, "%s: empty number", type);
    for (; *s; s++) {
        int d = (*s >= '0' && *s <= '9')                 ? *s - '0'
                : (base == 16 && *s >= 'a' && *s <= 'f') ? *s - 'a' + 10
                : (base == 16 && *s >= 'A' && *s <= 'F') ? *s - 'A' + 10
                                                         : -1;

        if (d < 0)
            return fail(t, "%s: not a number", type);
        if (!mul_add(mag, base, (unsigned)d))
            return fail(t, "%s: out of range", type);
    }
    return 0;
}

/* uintN / intN, range-checked, as a 256-bit two's complement word. */
static int encode_int(struct typed *t, const json_t *v, const char *type, bool is_signed,
                      unsigned bits, uint8_t out[32])
{
    size_t top = 32 - bits / 8; /* bytes above the type's width */
    uint8_t mag[32];
    bool neg, zero = true, high, rest_zero = true;
    int r;

    r = int_magnitude(t, v, type, mag, &neg);
    if (r < 0)
        return r;
    for (size_t i = 0; i < 32; i++)
        zero &= mag[i] == 0;
    neg &= !zero;
    for (size_t i = 0; i < top; i++)
        if (mag[i])
            return fail(t, "%s: out of range", type);
    if (neg && !is_signed)
        return fail(t, "%s: negative", type);
    if (is_signed) {
        high = mag[top] & 0x80;
        for (size_t i = top + 1; i < 32; i++)
            rest_zero &= mag[i] == 0;
        /* -2^(N-1) <= v < 2^(N-1) */
        if (high && (!neg || (mag[top] & 0x7f) || !rest_zero))
            return fail(t, "%s: out of range", type);
    }
    if (neg) {
        unsigned carry = 1;

        for (size_t i = 32; i > 0; i--) {
            carry += (uint8_t)~mag[i - 1];
            mag[i - 1] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    memcpy(out, mag, 32);
    return 0;
}

/* string, bytes, bytesN, address, bool */
static int encode_atomic_other(struct typed *t, const json_t *v, const char *type, uint8_t out[32])
{
    unsigned n = width_of(type, "bytes", 32);
    uint8_t *p = NULL;
    size_t len = 0;
    int r;

    memset(out, 0, 32);
    if (strcmp(type, "string") == 0) {
        if (!json_is_string(v))
            return fail(t, "string: expected a string");
        return keccak256(json_string_value(v), json_string_length(v), out);
    }
    if (strcmp(type, "bool") == 0) {
        if (!json_is_boolean(v))
            return fail(t, "bool: expected true or false");
        out[31] = json_is_true(v);
        return 0;
    }
    if (strcmp(type, "address") == 0) {
        r = eth_address_parse(json_string_value(v), out + 12);
        return r < 0 ? fail(t, "address: '%s' is not a valid address",
                            json_is_string(v) ? json_string_value(v) : "(not a string)")
                     : 0;
    }
    r = hex_bytes(t, v, type, &p, &len);
    if (r < 0)
        return r;
    if (strcmp(type, "bytes") == 0)
        r = keccak256(p, len, out);
    else if (len != n)
        r = fail(t, "%s: expected %u bytes, got %zu", type, n, len);
    else
        memcpy(out, p, n);
    free(p);
    return r;
}

static int encode_value(struct typed *t, const char *type, const json_t *v, unsigned depth,
                        uint8_t out[32]);

/* T[] or T[n]: keccak256 of the concatenated encodings of the elements. */
static int encode_array(struct typed *t, const char *type, const json_t *v, unsigned depth,
                        uint8_t out[32])
{
    const char *open = strrchr(type, '[');
    size_t elen = (size_t)(open - type), n = json_array_size(v), i;
    char *etype;
    uint8_t *words;
    const json_t *e;
    int r = 0;

    if (!json_is_array(v))
        return fail(t, "%s: expected an array", type);
    if (open[1] != ']' && strtoul(open + 1, NULL, 10) != n)
        return fail(t, "%s: expected %lu elements, got %zu", type, strtoul(open + 1, NULL, 10), n);
    etype = strndup(type, elen);
    words = malloc(32 * n + 1);
    if (!etype || !words) {
        free(etype);
        free(words);
        return -ENOMEM;
    }
    json_array_foreach(v, i, e)
    {
        r = encode_value(t, etype, e, depth + 1, words + 32 * i);
        if (r < 0)
            break;
    }
    if (r == 0)
        r = keccak256(words, 32 * n, out);
    free(etype);
    free(words);
    return r;
}

static int encode_value(struct typed *t, const char *type, const json_t *v, unsigned depth,
                        uint8_t out[32])
{
    const char *key;
    unsigned bits;

    if (depth > TYPED_DEPTH_MAX)
        return fail(t, "values nested deeper than %d", TYPED_DEPTH_MAX);
    if (type[strlen(type) - 1] == ']')
        return encode_array(t, type, v, depth, out);
    key = struct_key(t, type, strlen(type));
    if (key)
        return hash_struct(t, key, v, depth + 1, out);
    if ((bits = width_of(type, "uint", 256)))
        return encode_int(t, v, type, false, bits, out);
    if ((bits = width_of(type, "int", 256)))
        return encode_int(t, v, type, true, bits, out);
    return encode_atomic_other(t, v, type, out);
}

/* Refuses members of v its type does not declare. */
static int check_no_extra(struct typed *t, const char *name, const json_t *fields, const json_t *v)
{
    const char *key;
    const json_t *m, *f;
    size_t i;

    json_object_foreach((json_t *)v, key, m)
    {
        bool found = false;

        json_array_foreach(fields, i, f)
        {
            found |= strcmp(json_string_value(json_object_get(f, "name")), key) == 0;
        }
        if (!found)
            return fail(t, "%s has no field '%s'", name, key);
    }
    return 0;
}

/* hashStruct(s) = keccak256(typeHash ‖ encodeData(s)). */
static int hash_struct(struct typed *t, const char *name, const json_t *v, unsigned depth,
                       uint8_t out[32])
{
    const json_t *fields = struct_fields(t, name), *f;
    size_t n = json_array_size(fields), i;
    uint8_t *words;
    int r;

    if (!json_is_object(v))
        return fail(t, "%s: expected an object", name);
    r = check_no_extra(t, name, fields, v);
    if (r < 0)
        return r;
    words = malloc(32 * (n + 1));
    if (!words)
        return -ENOMEM;
    r = type_hash(t, name, words);
    json_array_foreach(fields, i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        const json_t *fv = json_object_get(v, fname);

        if (r < 0)
            break;
        if (!fv)
            r = fail(t, "%s: missing field '%s'", name, fname);
        else
            r = encode_value(t, json_string_value(json_object_get(f, "type")), fv, depth,
                             words + 32 * (i + 1));
    }
    if (r == 0)
        r = keccak256(words, 32 * (n + 1), out);
    free(words);
    return r;
}

static int typed_digest(struct typed *t, const json_t *doc, uint8_t out[32])
{
    static const uint8_t prefix[2] = {0x19, 0x01};
    const json_t *types = json_object_get(doc, "types"), *domain = json_object_get(doc, "domain");
    const json_t *message = json_object_get(doc, "message");
    const char *primary = json_string_value(json_object_get(doc, "primaryType")), *pkey;
    uint8_t dsep[32], mhash[32];
    int r;

    if (!json_is_object(doc) || !json_is_object(types) || !primary || !json_is_object(domain))
        return fail(t, "expected {types, primaryType, domain, message}");
    t->types = types;
    if (!json_object_get(types, DOMAIN_TYPE)) {
        r = derive_domain_type(t, types, domain);
        if (r < 0)
            return r;
    }
    r = check_types(t);
    if (r < 0)
        return r;
    r = hash_struct(t, struct_key(t, DOMAIN_TYPE, strlen(DOMAIN_TYPE)), domain, 0, dsep);
    if (r < 0)
        return r;
    /* primaryType EIP712Domain signs the domain alone, as eth_signTypedData_v4 does */
    if (strcmp(primary, DOMAIN_TYPE) == 0) {
        const void *parts[] = {prefix, dsep};
        const size_t lens[] = {2, 32};
        return keccak256_parts(parts, lens, 2, out);
    }
    pkey = struct_key(t, primary, strlen(primary));
    if (!pkey)
        return fail(t, "primaryType '%s' is not a declared struct", primary);
    if (!message)
        return fail(t, "expected {types, primaryType, domain, message}");
    r = hash_struct(t, pkey, message, 0, mhash);
    if (r < 0)
        return r;
    const void *parts[] = {prefix, dsep, mhash};
    const size_t lens[] = {2, 32, 32};
    return keccak256_parts(parts, lens, 3, out);
}

int eth_typed_data_digest(const json_t *doc, uint8_t out[static 32], char *err, size_t errlen)
{
    struct typed t = {.err = err, .errlen = errlen};
    int r;

    if (err && errlen)
        err[0] = '\0';
    r = typed_digest(&t, doc, out);
    json_decref(t.owned);
    return r;
}
