/* Result shaping (lib/tools/result.c): pages, grep, and capped text cut at UTF-8 boundaries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/limits.h"
#include "tools/result.h"

static json_t *numbers(int n)
{
    json_t *a = json_array();

    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(i));
    return a;
}

static void assert_page(const json_t *page, const char *items, json_int_t total, json_int_t offset,
                        json_int_t next)
{
    char *got = json_dumps(json_object_get(page, "items"), JSON_COMPACT);

    cr_assert_str_eq(got, items);
    free(got);
    cr_assert_eq(json_integer_value(json_object_get(page, "total")), total);
    cr_assert_eq(json_integer_value(json_object_get(page, "offset")), offset);
    if (next < 0)
        cr_assert(json_is_null(json_object_get(page, "next_offset")));
    else
        cr_assert_eq(json_integer_value(json_object_get(page, "next_offset")), next);
}

Test(result, paging)
{
    json_auto_t *list = numbers(10);
    json_auto_t *p1 = osm_result_page(list, 0, 3, NULL);
    json_auto_t *p2 = osm_result_page(list, 3, 3, "");
    json_auto_t *last = osm_result_page(list, 9, 3, NULL);
    json_auto_t *past = osm_result_page(list, 20, 3, NULL);
    json_auto_t *dflt = osm_result_page(list, -5, -1, NULL);
    json_auto_t *count = osm_result_page(list, 0, 0, NULL);

    assert_page(p1, "[0,1,2]", 10, 0, 3);
    assert_page(p2, "[3,4,5]", 10, 3, 6);
    assert_page(last, "[9]", 10, 9, -1);
    assert_page(past, "[]", 10, 20, -1);
    assert_page(dflt, "[0,1,2,3,4,5,6,7,8,9]", 10, 0, -1);
    assert_page(count, "[]", 10, 0, -1);
}

Test(result, limit_capped)
{
    json_auto_t *list = numbers(OSM_TOOL_LIST_MAX + 500);
    json_auto_t *page = osm_result_page(list, 0, 1000000, NULL);
    json_auto_t *dflt = osm_result_page(list, 0, -1, NULL);

    cr_assert_eq(json_array_size(json_object_get(page, "items")), OSM_TOOL_LIST_MAX);
    cr_assert_eq(json_integer_value(json_object_get(page, "next_offset")), OSM_TOOL_LIST_MAX);
    cr_assert_eq(json_array_size(json_object_get(dflt, "items")), OSM_TOOL_LIST_DEFAULT);
}

Test(result, grep_case_insensitive_over_compact_json)
{
    json_auto_t *list = json_loads("[{\"name\":\"SSHD\",\"pid\":1},{\"name\":\"nginx\"},"
                                   "{\"unit\":\"sshd.service\"},\"plain sshd\",42]",
                                   0, NULL);
    json_auto_t *ssh = osm_result_page(list, 0, 10, "sshd");
    json_auto_t *ssh2 = osm_result_page(list, 1, 1, "SshD");
    json_auto_t *key = osm_result_page(list, 0, 10, "\"unit\":\"ssh");
    json_auto_t *num = osm_result_page(list, 0, 10, "42");
    json_auto_t *none = osm_result_page(list, 0, 10, "postgres");

    assert_page(ssh, "[{\"name\":\"SSHD\",\"pid\":1},{\"unit\":\"sshd.service\"},\"plain sshd\"]",
                3, 0, -1);
    assert_page(ssh2, "[{\"unit\":\"sshd.service\"}]", 3, 1, 2);
    assert_page(key, "[{\"unit\":\"sshd.service\"}]", 1, 0, -1);
    assert_page(num, "[42]", 1, 0, -1);
    assert_page(none, "[]", 0, 0, -1);
}

Test(result, page_needs_an_array)
{
    json_auto_t *obj = json_object();

    cr_assert_null(osm_result_page(obj, 0, 10, NULL));
    cr_assert_null(osm_result_page(NULL, 0, 10, NULL));
}

Test(result, text_fits)
{
    json_auto_t *v = json_pack("{s:i, s:s}", "a", 1, "b", "x");
    bool cut = true;
    char *t = osm_result_text(v, OSM_TOOL_RESULT_MAX, &cut);

    cr_assert_str_eq(t, "{\"a\":1,\"b\":\"x\"}");
    cr_assert(!cut);
    free(t);
    t = osm_result_text(NULL, 0, NULL);
    cr_assert_str_eq(t, "null");
    free(t);
}

/* Parses "…[truncated: N of M bytes shown]" at the end of text; returns N, or -1. */
static long shown_bytes(const char *text, size_t *ret_total)
{
    const char *m = strstr(text, "\xe2\x80\xa6[truncated: ");
    long n;

    if (!m || sscanf(m, "\xe2\x80\xa6[truncated: %ld of %zu bytes shown]", &n, ret_total) != 2)
        return -1;
    cr_assert_eq((long)(m - text), n, "marker count matches the bytes kept");
    cr_assert_eq(m[strlen(m) - 1], ']');
    return n;
}

Test(result, text_truncated_with_marker)
{
    char big[1001];
    json_auto_t *v = NULL;
    bool cut = false;
    char *t;
    size_t total;
    long n;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    v = json_string(big);
    t = osm_result_text(v, 200, &cut);
    cr_assert(cut);
    cr_assert_leq(strlen(t), 200);
    n = shown_bytes(t, &total);
    cr_assert_eq(total, 1002);
    cr_assert_gt(n, 100);
    cr_assert_eq(strncmp(t, "\"xxxx", 5), 0);
    free(t);
    t = osm_result_text(v, 1, &cut); /* tiny caps count as OSM_TOOL_RESULT_MIN */
    cr_assert_leq(strlen(t), OSM_TOOL_RESULT_MIN);
    cr_assert_geq(shown_bytes(t, &total), 0);
    free(t);
}

/* For every cap, the kept prefix ends on a character boundary of the original text. */
Test(result, text_cut_at_utf8_boundaries)
{
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};

    for (size_t c = 0; c < 3; c++) {
        char s[2048] = "";
        json_auto_t *v = NULL;
        char *full;

        for (int i = 0; i < 300 && strlen(s) + 4 < sizeof(s); i++)
            strcat(s, chars[c]);
        v = json_string(s);
        full = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        for (size_t cap = OSM_TOOL_RESULT_MIN; cap < 400; cap++) {
            bool cut;
            char *t = osm_result_text(v, cap, &cut);
            size_t total;
            long n = shown_bytes(t, &total);

            cr_assert(cut);
            cr_assert_leq(strlen(t), cap);
            cr_assert_eq(total, strlen(full));
            cr_assert_geq(n, 0);
            cr_assert_eq(memcmp(t, full, (size_t)n), 0);
            cr_assert_neq((unsigned char)full[n] & 0xC0, 0x80, "cap %zu splits a character", cap);
            free(t);
        }
        free(full);
    }
}
