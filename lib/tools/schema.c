/* JSON Schema validation for tool arguments: the keywords the registry's schemas use, each a
 * row of a table, and errors a model can act on ("/timeout: must be ≤ 120000"). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/macro.h"
#include "tools/registry.h"
#include "tools/schema.h"

#define ELLIPSIS "\xe2\x80\xa6" /* … */

/* Where the walk is: the JSON pointer of the current instance value. */
struct walk {
    char ptr[OSM_TOOL_ERROR_FIELD_MAX];
    size_t len;
    bool full;      /* a segment did not fit: "/…" was written, deeper segments are dropped */
    size_t full_at; /* length before the segment that did not fit */
};

/* The first error found. mismatch marks a failed "const": in anyOf / oneOf such a branch is
 * simply not the one the caller meant (a tagged union's other variants). */
struct verr {
    char field[OSM_TOOL_ERROR_FIELD_MAX];
    char reason[OSM_TOOL_ERROR_REASON_MAX];
    char expected[OSM_TOOL_ERROR_REASON_MAX];
    bool mismatch;
};

static int check(const json_t *schema, const json_t *inst, struct walk *w, struct verr *e);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t i = n;

    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

        return n - (i - 1) >= need ? n : i - 1;
    }
    return n;
}

/* Copies src into dst[len], cut at a UTF-8 boundary, always NUL-terminated when len > 0. */
static void copy_cut(char *dst, size_t len, const char *src)
{
    size_t n;

    if (!dst || len == 0)
        return;
    n = strlen(src);
    if (n >= len)
        n = utf8_cut(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Appends to a NUL-terminated buffer of size cap, cutting at a UTF-8 boundary. */
OSM_PRINTF(3, 4) static void appendf(char *buf, size_t cap, const char *fmt, ...)
{
    char tmp[OSM_TOOL_ERROR_REASON_MAX];
    size_t len = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (len + 1 < cap)
        copy_cut(buf + len, cap - len, tmp);
}

static size_t walk_push(struct walk *w, const char *segment)
{
    size_t old = w->len, room = sizeof(w->ptr) - w->len;
    size_t need = 1 + strlen(segment);

    for (const char *s = segment; *s; s++)
        need += *s == '~' || *s == '/';
    if (w->full)
        return old;
    if (need + sizeof("/" ELLIPSIS) > room) {
        memcpy(w->ptr + w->len, "/" ELLIPSIS, sizeof("/" ELLIPSIS));
        w->len += sizeof("/" ELLIPSIS) - 1;
        w->full = true;
        w->full_at = old;
        return old;
    }
    w->ptr[w->len++] = '/';
    for (const char *s = segment; *s; s++) {
        if (*s == '~' || *s == '/') {
            w->ptr[w->len++] = '~';
            w->ptr[w->len++] = *s == '~' ? '0' : '1';
        } else
            w->ptr[w->len++] = *s;
    }
    w->ptr[w->len] = '\0';
    return old;
}

static size_t walk_push_index(struct walk *w, size_t i)
{
    char seg[24];

    snprintf(seg, sizeof(seg), "%zu", i);
    return walk_push(w, seg);
}

static void walk_pop(struct walk *w, size_t old)
{
    if (w->full && old > w->full_at)
        return;
    w->full = false;
    w->len = old;
    w->ptr[old] = '\0';
}

OSM_PRINTF(3, 4) static int fail(const struct walk *w, struct verr *e, const char *fmt, ...)
{
    va_list ap;

    copy_cut(e->field, sizeof(e->field), w->ptr);
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
    e->reason[utf8_cut(e->reason, strlen(e->reason))] = '\0';
    e->expected[0] = '\0';
    e->mismatch = false;
    return -EINVAL;
}

/* A value as a model would write it in a sentence: strings bare, the rest as compact JSON. */
static void append_value(char *buf, size_t cap, const json_t *v)
{
    char *text;

    if (json_is_string(v)) {
        appendf(buf, cap, "%s", json_string_value(v));
        return;
    }
    text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    appendf(buf, cap, "%s", text ? text : "?");
    free(text);
}

static bool is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    return d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(long long)d;
}

static bool is_object(const json_t *v)
{
    return json_is_object(v);
}
static bool is_array(const json_t *v)
{
    return json_is_array(v);
}
static bool is_string(const json_t *v)
{
    return json_is_string(v);
}
static bool is_boolean(const json_t *v)
{
    return json_is_boolean(v);
}
static bool is_null(const json_t *v)
{
    return json_is_null(v);
}
static bool is_number(const json_t *v)
{
    return json_is_number(v);
}

static const struct {
    const char *name, *phrase;
    bool (*is)(const json_t *v);
} types[] = {
    {"object", "an object", is_object}, {"array", "an array", is_array},
    {"string", "a string", is_string},  {"boolean", "a boolean", is_boolean},
    {"null", "null", is_null},          {"integer", "an integer", is_integral},
    {"number", "a number", is_number},
};

/* The first type row v belongs to (an integral number reads as an integer). */
static bool is_type_keyword(const json_t *v)
{
    return json_is_string(v) || json_is_array(v);
}

static bool is_bool_or_object(const json_t *v)
{
    return json_is_boolean(v) || json_is_object(v);
}

static const char *type_phrase_of(const json_t *v)
{
    for (size_t i = 0; i < ELEMENTSOF(types); i++)
        if (types[i].is(v))
            return types[i].phrase;
    return "unknown";
}

static bool has_type(const json_t *v, const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].is(v);
    return false;
}

static const char *type_phrase(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].phrase;
    return name;
}

static int kw_type(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                   struct verr *e)
{
    char want[OSM_TOOL_ERROR_REASON_MAX] = "";
    size_t i;
    const json_t *t;

    if (json_is_string(kv)) {
        if (has_type(inst, json_string_value(kv)))
            return 0;
        return fail(w, e, "must be %s, not %s", type_phrase(json_string_value(kv)),
                    type_phrase_of(inst));
    }
    json_array_foreach(kv, i, t)
    {
        if (json_is_string(t) && has_type(inst, json_string_value(t)))
            return 0;
        appendf(want, sizeof(want), "%s%s", i ? " or " : "",
                type_phrase(json_is_string(t) ? json_string_value(t) : "?"));
    }
    return fail(w, e, "must be %s, not %s", want, type_phrase_of(inst));
}

/* Equality as JSON Schema has it: 1 and 1.0 are the same number. */
static bool values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static int kw_const(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                    struct verr *e)
{
    if (values_equal(kv, inst))
        return 0;
    fail(w, e, "must be ");
    append_value(e->reason, sizeof(e->reason), kv);
    append_value(e->expected, sizeof(e->expected), kv);
    e->mismatch = true;
    return -EINVAL;
}

static int kw_enum(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                   struct verr *e)
{
    size_t i;
    const json_t *v;

    json_array_foreach(kv, i, v) if (values_equal(v, inst)) return 0;
    fail(w, e, "must be one of ");
    json_array_foreach(kv, i, v)
    {
        appendf(e->reason, sizeof(e->reason), "%s", i ? ", " : "");
        append_value(e->reason, sizeof(e->reason), v);
    }
    return -EINVAL;
}

/* Compares a number instance with a bound: <0, 0, >0. Integers compare exactly. */
static int number_cmp(const json_t *inst, const json_t *bound)
{
    if (json_is_integer(inst) && json_is_integer(bound)) {
        json_int_t a = json_integer_value(inst), b = json_integer_value(bound);

        return (a > b) - (a < b);
    }
    return (json_number_value(inst) > json_number_value(bound)) -
           (json_number_value(inst) < json_number_value(bound));
}

static int bound_fail(const json_t *bound, struct walk *w, struct verr *e, const char *op)
{
    if (json_is_integer(bound))
        return fail(w, e, "must be %s %" JSON_INTEGER_FORMAT, op, json_integer_value(bound));
    return fail(w, e, "must be %s %g", op, json_number_value(bound));
}

static int kw_minimum(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                      struct verr *e)
{
    if (!json_is_number(inst) || number_cmp(inst, kv) >= 0)
        return 0;
    return bound_fail(kv, w, e, "≥");
}

static int kw_maximum(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                      struct verr *e)
{
    if (!json_is_number(inst) || number_cmp(inst, kv) <= 0)
        return 0;
    return bound_fail(kv, w, e, "≤");
}

/* Characters (code points) of a string value; jansson keeps strings valid UTF-8. */
static size_t char_count(const json_t *s)
{
    const char *p = json_string_value(s);
    size_t n = 0, len = json_string_length(s);

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)p[i] & 0xC0) != 0x80;
    return n;
}

static int kw_min_length(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                         struct verr *e)
{
    json_int_t min = json_integer_value(kv);

    if (!json_is_string(inst) || (json_int_t)char_count(inst) >= min)
        return 0;
    if (min == 1)
        return fail(w, e, "must not be empty");
    return fail(w, e, "must be at least %" JSON_INTEGER_FORMAT " characters", min);
}

static int kw_max_length(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                         struct verr *e)
{
    json_int_t max = json_integer_value(kv);

    if (!json_is_string(inst) || (json_int_t)char_count(inst) <= max)
        return 0;
    return fail(w, e, "must be at most %" JSON_INTEGER_FORMAT " characters", max);
}

static int kw_min_items(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                        struct verr *e)
{
    json_int_t min = json_integer_value(kv);

    if (!json_is_array(inst) || (json_int_t)json_array_size(inst) >= min)
        return 0;
    return fail(w, e, "must have at least %" JSON_INTEGER_FORMAT " item%s", min,
                min == 1 ? "" : "s");
}

static int kw_max_items(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                        struct verr *e)
{
    json_int_t max = json_integer_value(kv);

    if (!json_is_array(inst) || (json_int_t)json_array_size(inst) <= max)
        return 0;
    return fail(w, e, "must have at most %" JSON_INTEGER_FORMAT " item%s", max,
                max == 1 ? "" : "s");
}

static int kw_items(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                    struct verr *e)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(inst))
        return 0;
    json_array_foreach(inst, i, v)
    {
        size_t old = walk_push_index(w, i);
        int r = check(kv, v, w, e);

        walk_pop(w, old);
        if (r < 0)
            return r;
    }
    return 0;
}

static int kw_required(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                       struct verr *e)
{
    size_t i;
    const json_t *k;

    if (!json_is_object(inst))
        return 0;
    json_array_foreach(kv, i, k)
    {
        size_t old;

        if (!json_is_string(k) || json_object_get(inst, json_string_value(k)))
            continue;
        old = walk_push(w, json_string_value(k));
        fail(w, e, "required");
        walk_pop(w, old);
        return -EINVAL;
    }
    return 0;
}

static int kw_properties(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                         struct verr *e)
{
    const char *key;
    const json_t *sub;

    if (!json_is_object(inst))
        return 0;
    json_object_foreach((json_t *)kv, key, sub)
    {
        const json_t *v = json_object_get(inst, key);
        size_t old;
        int r;

        if (!v)
            continue;
        old = walk_push(w, key);
        r = check(sub, v, w, e);
        walk_pop(w, old);
        if (r < 0)
            return r;
    }
    return 0;
}

/* "unknown argument" naming the known ones, so the caller can fix a misspelt name. */
static int unknown_property(const json_t *props, struct walk *w, struct verr *e)
{
    const char *key;
    const json_t *sub;
    bool first = true;

    if (json_object_size(props) == 0)
        return fail(w, e, "unknown argument (none are accepted here)");
    fail(w, e, "unknown argument (known: ");
    json_object_foreach((json_t *)props, key, sub)
    {
        appendf(e->reason, sizeof(e->reason), "%s%s", first ? "" : ", ", key);
        first = false;
    }
    appendf(e->reason, sizeof(e->reason), ")");
    return -EINVAL;
}

static int kw_additional(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                         struct verr *e)
{
    const json_t *props = json_object_get(schema, "properties");
    const char *key;
    const json_t *v;

    if (!json_is_object(inst) || json_is_true(kv))
        return 0;
    json_object_foreach((json_t *)inst, key, v)
    {
        size_t old;
        int r;

        if (json_object_get(props, key))
            continue;
        old = walk_push(w, key);
        r = json_is_object(kv) ? check(kv, v, w, e) : unknown_property(props, w, e);
        walk_pop(w, old);
        if (r < 0)
            return r;
    }
    return 0;
}

/* anyOf / oneOf. A branch that failed only on its discriminator ("const") is not the one meant;
 * the first branch that failed otherwise explains the error best. When every branch failed on
 * the same discriminator, the error lists what it may be. */
static int check_union(const json_t *branches, const json_t *inst, struct walk *w, struct verr *e,
                       bool exactly_one)
{
    struct verr be, real = {.reason = ""}, tags = {.reason = ""};
    size_t i, matched = 0;
    const json_t *b;
    bool have_real = false, same_field = true;

    if (json_array_size(branches) == 0)
        return 0;
    json_array_foreach(branches, i, b)
    {
        if (check(b, inst, w, &be) == 0) {
            matched++;
        } else if (!be.mismatch && !have_real) {
            real = be;
            have_real = true;
        } else if (be.mismatch) {
            if (tags.field[0] == '\0' && tags.expected[0] == '\0')
                memcpy(tags.field, be.field, sizeof(tags.field));
            same_field = same_field && strcmp(tags.field, be.field) == 0;
            appendf(tags.expected, sizeof(tags.expected), "%s%s", tags.expected[0] ? ", " : "",
                    be.expected);
        }
    }
    if (matched == 1 || (matched > 1 && !exactly_one))
        return 0;
    if (matched > 1)
        return fail(w, e, "matches more than one of the allowed forms");
    if (have_real || !same_field || tags.expected[0] == '\0') {
        *e = have_real ? real : be;
        return -EINVAL;
    }
    copy_cut(e->field, sizeof(e->field), tags.field);
    copy_cut(e->reason, sizeof(e->reason), "must be one of ");
    appendf(e->reason, sizeof(e->reason), "%s", tags.expected);
    memcpy(e->expected, tags.expected, sizeof(e->expected));
    e->mismatch = true;
    return -EINVAL;
}

static int kw_any_of(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                     struct verr *e)
{
    return check_union(kv, inst, w, e, false);
}

static int kw_one_of(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                     struct verr *e)
{
    return check_union(kv, inst, w, e, true);
}

/* The keywords, in the order they are checked: the instance's type first, then its value, then
 * the known properties (a tagged union's discriminator, "type", is one: its mismatch must show
 * before anything else), then unknown arguments (a misspelt name explains the "required" that
 * would follow), then array items and unions. */
static const struct {
    const char *name;
    bool (*schema_ok)(const json_t *kv); /* shape of the keyword's value we understand */
    int (*check)(const json_t *kv, const json_t *schema, const json_t *inst, struct walk *w,
                 struct verr *e);
} keywords[] = {
    {"type", is_type_keyword, kw_type},
    {"const", NULL, kw_const},
    {"enum", is_array, kw_enum},
    {"minimum", is_number, kw_minimum},
    {"maximum", is_number, kw_maximum},
    {"minLength", is_integral, kw_min_length},
    {"maxLength", is_integral, kw_max_length},
    {"minItems", is_integral, kw_min_items},
    {"maxItems", is_integral, kw_max_items},
    {"properties", is_object, kw_properties},
    {"additionalProperties", is_bool_or_object, kw_additional},
    {"required", is_array, kw_required},
    {"items", NULL, kw_items},
    {"anyOf", is_array, kw_any_of},
    {"oneOf", is_array, kw_one_of},
};

static int check(const json_t *schema, const json_t *inst, struct walk *w, struct verr *e)
{
    if (json_is_false(schema))
        return fail(w, e, "not allowed");
    if (!json_is_object(schema))
        return 0;
    for (size_t i = 0; i < ELEMENTSOF(keywords); i++) {
        const json_t *kv = json_object_get(schema, keywords[i].name);
        int r;

        if (!kv || (keywords[i].schema_ok && !keywords[i].schema_ok(kv)))
            continue;
        r = keywords[i].check(kv, schema, inst, w, e);
        if (r < 0)
            return r;
    }
    return 0;
}

int osm_schema_validate(const json_t *schema, const json_t *instance, char *ret_field,
                        size_t field_len, char *ret_reason, size_t reason_len)
{
    struct walk w = {.ptr = ""};
    struct verr e;
    int r;

    copy_cut(ret_field, field_len, "");
    copy_cut(ret_reason, reason_len, "");
    if (!instance) {
        fail(&w, &e, "missing");
        r = -EINVAL;
    } else
        r = check(schema, instance, &w, &e);
    if (r < 0) {
        copy_cut(ret_field, field_len, e.field);
        copy_cut(ret_reason, reason_len, e.reason);
    }
    return r;
}

int osm_tool_validate(const struct osm_tool *t, const json_t *args, char *ret_field,
                      size_t field_len, char *ret_reason, size_t reason_len)
{
    const json_t *schema = osm_tool_schema(t);

    if (!schema) {
        copy_cut(ret_field, field_len, "");
        copy_cut(ret_reason, reason_len, "unknown tool, or its schema does not parse");
        return -EINVAL;
    }
    if (!json_is_object(args)) {
        copy_cut(ret_field, field_len, "");
        copy_cut(ret_reason, reason_len, "arguments must be a JSON object");
        return -EINVAL;
    }
    return osm_schema_validate(schema, args, ret_field, field_len, ret_reason, reason_len);
}
