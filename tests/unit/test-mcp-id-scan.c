/* The id recovered from a message too large to parse (mcp-id-scan.c): only the top-level "id"
 * of a request counts, whatever comes before or after it, and in pieces of any size. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../mcp/mcp.h"

static json_t *recover(const char *s)
{
    return mcp_id_recover(s, strlen(s));
}

static void assert_int_id(const char *msg, json_int_t want)
{
    json_t *id = recover(msg);

    cr_assert(json_is_integer(id), "no integer id from %s", msg);
    cr_assert_eq(json_integer_value(id), want, "%s", msg);
    json_decref(id);
}

static void assert_str_id(const char *msg, const char *want)
{
    json_t *id = recover(msg);

    cr_assert(json_is_string(id), "no string id from %s", msg);
    cr_assert_str_eq(json_string_value(id), want, "%s", msg);
    json_decref(id);
}

static void assert_no_id(const char *msg)
{
    json_t *id = recover(msg);

    cr_assert_null(id, "an id was taken from %s", msg);
}

Test(id_scan, top_level_id_of_a_request)
{
    assert_int_id("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", 7);
    assert_int_id(" \r\n{ \"method\" : \"ping\" , \"id\" : -42 }", -42);
    assert_str_id("{\"id\":\"abc\",\"method\":\"ping\"}", "abc");
    /* escapes in the id and in the key */
    assert_str_id("{\"method\":\"m\",\"id\":\"a\\\"b\\\\c\\u00e9\"}", "a\"b\\c\xc3\xa9");
    assert_int_id("{\"method\":\"m\",\"\\u0069d\":5}", 5);
    assert_int_id("{\"\\u006d\\u0065\\u0074\\u0068\\u006f\\u0064\":\"m\",\"id\":6}", 6);
    /* a truncated object still gives an id that was complete */
    assert_int_id("{\"method\":\"m\",\"id\":8,\"params\":{\"x\":[1,2", 8);
}

Test(id_scan, nested_ids_are_not_taken)
{
    assert_str_id("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"id\":99,"
                  "\"arguments\":{\"id\":\"inner\"},\"list\":[{\"id\":1}]},\"id\":\"outer\"}",
                  "outer");
    assert_no_id("{\"method\":\"tools/call\",\"params\":{\"id\":5}}");
    assert_no_id("{\"method\":\"m\",\"params\":[{\"id\":5}]}");
    /* strings that look like structure, inside and outside nested values */
    assert_int_id("{\"params\":{\"x\":\"}}]\\\"{{\\\\\",\"y\":\"\\\"id\\\":1\"},\"method\":\"m\","
                  "\"note\":\"{\\\"id\\\":2}\",\"id\":3}",
                  3);
    /* a key that merely contains "id" */
    assert_no_id("{\"method\":\"m\",\"idx\":4,\"xid\":5}");
}

Test(id_scan, what_is_not_a_usable_id)
{
    assert_no_id("{\"method\":\"m\",\"id\":1.5}");
    assert_no_id("{\"method\":\"m\",\"id\":null}");
    assert_no_id("{\"method\":\"m\",\"id\":true}");
    assert_no_id("{\"method\":\"m\",\"id\":{\"a\":1}}");
    assert_no_id("{\"method\":\"m\",\"id\":[1]}");
    assert_no_id("{\"method\":\"m\",\"id\":1e400}");
    assert_no_id("{\"method\":\"m\",\"id\":99999999999999999999999}");
    /* two ids: which one the client waits for is unknown */
    assert_no_id("{\"method\":\"m\",\"id\":1,\"id\":2}");
    /* a response (no method) is not answered */
    assert_no_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
    assert_no_id("[{\"method\":\"m\",\"id\":1}]");
    assert_no_id("x{\"method\":\"m\",\"id\":1}");
    assert_no_id("{\"method\":\"m\" \"id\":1}");
    assert_no_id("{\"method\":\"m\",\"id\":\"unterminated");
    assert_no_id("");
}

Test(id_scan, long_ids_are_bounded)
{
    size_t n = MCP_ID_SCAN_MAX + 10;
    char *msg = malloc(n + 64);
    json_t *id;

    cr_assert_not_null(msg);
    strcpy(msg, "{\"method\":\"m\",\"id\":\"");
    memset(msg + strlen(msg), 'x', n);
    strcpy(msg + 20 + n, "\"}");
    cr_assert_null(recover(msg), "an id longer than the scan keeps was returned");
    /* one that fits is returned whole */
    strcpy(msg, "{\"method\":\"m\",\"id\":\"");
    memset(msg + 20, 'y', MCP_ID_SCAN_MAX - 2);
    strcpy(msg + 20 + MCP_ID_SCAN_MAX - 2, "\"}");
    id = recover(msg);
    cr_assert(json_is_string(id));
    cr_assert_eq(json_string_length(id), MCP_ID_SCAN_MAX - 2);
    json_decref(id);
    free(msg);
}

/* A params member of about `bytes` full of quotes, escapes, braces and "id" keys, then the id. */
static char *request_of(size_t bytes, size_t *ret_len)
{
    static const char piece[] = "{\"id\":1,\"s\":\"\\\"}]{[\\\\\",\"a\":[{\"id\":\"x\"}]},";
    size_t reps = bytes / (sizeof(piece) - 1), len = 0;
    char *m = malloc(reps * (sizeof(piece) - 1) + 256);

    cr_assert_not_null(m);
    len +=
        (size_t)sprintf(m, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"list\":[");
    for (size_t i = 0; i < reps; i++) {
        memcpy(m + len, piece, sizeof(piece) - 1);
        len += sizeof(piece) - 1;
    }
    len += (size_t)sprintf(m + len, "{}]},\"id\":\"req-77\"}");
    *ret_len = len;
    return m;
}

static char *huge_request(size_t *ret_len)
{
    return request_of(3 * 1024 * 1024, ret_len);
}

Test(id_scan, id_after_a_huge_params_member)
{
    size_t len;
    char *m = huge_request(&len);
    json_t *id = mcp_id_recover(m, len), *parsed;

    cr_assert_gt(len, (size_t)MCP_MESSAGE_MAX);
    cr_assert(json_is_string(id));
    cr_assert_str_eq(json_string_value(id), "req-77");
    json_decref(id);
    /* the same bytes are valid JSON: the scan agrees with a full parse */
    parsed = json_loadb(m, len, 0, NULL);
    cr_assert_not_null(parsed);
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "id")), "req-77");
    json_decref(parsed);
    free(m);
}

Test(id_scan, pieces_of_any_size_give_the_same_answer)
{
    static const size_t sizes[] = {1, 2, 3, 7, 4096, 65537};

    for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
        size_t step = sizes[k], len;
        char *m = step < 8 ? request_of(64 * 1024, &len) : huge_request(&len);
        struct mcp_id_scan s;
        json_t *id;

        mcp_id_scan_init(&s);
        for (size_t i = 0; i < len; i += step)
            mcp_id_scan_feed(&s, m + i, i + step < len ? step : len - i);
        id = mcp_id_scan_result(&s);
        cr_assert_str_eq(json_string_value(id), "req-77", "step %zu", step);
        json_decref(id);
        free(m);
    }
}

Test(id_scan, parse_answers_an_oversized_request_with_its_id)
{
    size_t len;
    char *m = huge_request(&len);
    json_t *msg = NULL, *err = NULL;

    cr_assert_lt(mcp_parse(m, len, &msg, &err), 0);
    cr_assert_null(msg);
    cr_assert_str_eq(json_string_value(json_object_get(err, "id")), "req-77");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(err, "error"), "code")),
                 MCP_ERR_INVALID_REQUEST);
    json_decref(err);
    free(m);
}
