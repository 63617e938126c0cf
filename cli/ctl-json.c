/* agentctl: JSON printed byte for byte as osModa's agentctl prints it, i.e. as serde_json's
 * to_string_pretty prints a serde_json::Value (keys sorted, ryu floats, serde escaping). */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* serde_json refuses input nested this deep (its recursion limit of 128). */
#define SERDE_MAX_NESTING 127

/* The stream being written, and whether an allocation failed on the way. */
struct out {
    FILE *f;
    bool failed;
};

static void put_indent(FILE *f, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", f);
}

static void put_zeros(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputc('0', f);
}

/* serde_json escaping: \" \\ \b \t \n \f \r, other controls as \u00xx; nothing else. */
static void put_string(FILE *f, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *short_esc = ch == '"'    ? "\\\""
                                : ch == '\\' ? "\\\\"
                                : ch == '\b' ? "\\b"
                                : ch == '\t' ? "\\t"
                                : ch == '\n' ? "\\n"
                                : ch == '\f' ? "\\f"
                                : ch == '\r' ? "\\r"
                                             : NULL;
        if (short_esc)
            fputs(short_esc, f);
        else if (ch < 0x20)
            fprintf(f, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* Shortest digits that read back as d: ret_digits without a dot or trailing zeros, and the
 * decimal exponent of its first digit. */
static void shortest_digits(double d, char ret_digits[static 20], int *ret_exp10)
{
    char buf[40];
    size_t n = 0;

    for (int prec = 0; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    for (const char *p = buf; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            ret_digits[n++] = *p;
    while (n > 1 && ret_digits[n - 1] == '0')
        n--;
    ret_digits[n] = '\0';
    *ret_exp10 = atoi(strchr(buf, 'e') + 1);
}

/* A finite double the way ryu's format64 (serde_json) writes it. */
static void put_real(FILE *f, double d)
{
    char digits[20];
    int exp10, len, kk;

    if (d == 0) {
        fputs(signbit(d) ? "-0.0" : "0.0", f);
        return;
    }
    if (d < 0)
        fputc('-', f);
    shortest_digits(d < 0 ? -d : d, digits, &exp10);
    len = (int)strlen(digits);
    kk = exp10 + 1; /* 10^(kk-1) <= |d| < 10^kk */
    if (kk >= len && kk <= 16) {
        fputs(digits, f);
        put_zeros(f, kk - len);
        fputs(".0", f);
    } else if (kk > 0 && kk <= 16) {
        fprintf(f, "%.*s.%s", kk, digits, digits + kk);
    } else if (kk > -5 && kk <= 0) {
        fputs("0.", f);
        put_zeros(f, -kk);
        fputs(digits, f);
    } else if (len == 1) {
        fprintf(f, "%se%d", digits, kk - 1);
    } else {
        fprintf(f, "%c.%se%d", digits[0], digits + 1, kk - 1);
    }
}

static void put_value(struct out *o, const json_t *v, int depth);

struct key {
    const char *s;
    size_t len;
    const json_t *value;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Returns the members of an object sorted bytewise by key (new array, NULL on ENOMEM). */
static struct key *sorted_members(const json_t *obj)
{
    size_t n = 0;
    struct key *keys = calloc(json_object_size(obj) + 1, sizeof(*keys));
    void *it;

    if (!keys)
        return NULL;
    for (it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it))
        keys[n++] = (struct key){json_object_iter_key(it), json_object_iter_key_len(it),
                                 json_object_iter_value(it)};
    qsort(keys, n, sizeof(*keys), key_cmp);
    return keys;
}

static void put_object(struct out *o, const json_t *obj, int depth)
{
    FILE *f = o->f;
    size_t n = json_object_size(obj);
    _cleanup_free_ struct key *keys = NULL;

    if (n == 0) {
        fputs("{}", f);
        return;
    }
    keys = sorted_members(obj);
    if (!keys) {
        o->failed = true;
        return;
    }
    fputs("{\n", f);
    for (size_t i = 0; i < n; i++) {
        put_indent(f, depth + 1);
        put_string(f, keys[i].s, keys[i].len);
        fputs(": ", f);
        put_value(o, keys[i].value, depth + 1);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    put_indent(f, depth);
    fputc('}', f);
}

static void put_array(struct out *o, const json_t *arr, int depth)
{
    FILE *f = o->f;
    size_t n = json_array_size(arr);

    if (n == 0) {
        fputs("[]", f);
        return;
    }
    fputs("[\n", f);
    for (size_t i = 0; i < n; i++) {
        put_indent(f, depth + 1);
        put_value(o, json_array_get(arr, i), depth + 1);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    put_indent(f, depth);
    fputc(']', f);
}

static void put_value(struct out *o, const json_t *v, int depth)
{
    FILE *f = o->f;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        put_object(o, v, depth);
        break;
    case JSON_ARRAY:
        put_array(o, v, depth);
        break;
    case JSON_STRING:
        put_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(f, json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs("null", f);
        break;
    }
}

char *ctl_json_pretty(const json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    struct out o = {open_memstream(&buf, &len), false};

    if (!o.f)
        return NULL;
    put_value(&o, v, 0);
    if (fclose(o.f) != 0 || o.failed) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Containers nested around the deepest value ([[1]] is 2). */
static int nesting(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    int max = 0;

    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    json_object_foreach((json_t *)v, key, child)
    {
        int d = nesting(child);
        max = d > max ? d : max;
    }
    json_array_foreach(v, i, child)
    {
        int d = nesting(child);
        max = d > max ? d : max;
    }
    return max + 1;
}

char *ctl_json_text_pretty(const char *text, size_t len)
{
    json_auto_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (!v || nesting(v) > SERDE_MAX_NESTING)
        return NULL;
    return ctl_json_pretty(v);
}

int ctl_print_json(const json_t *v)
{
    _cleanup_free_ char *s = ctl_json_pretty(v);

    if (!s)
        return ctl_fail("out of memory");
    puts(s);
    return CTL_OK;
}
