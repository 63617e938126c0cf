/* The MCP protocol core: JSON-RPC framing, lifecycle, dispatch, logging filter, and
 * server-to-client requests answered through the session. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../mcp/mcp.h"

static const struct mcp_server srv_plain = {.run_dir = "/nonexistent", .result_max = 65536};
static const struct mcp_server srv_fixtures = {
    .run_dir = "/nonexistent", .fixtures = true, .result_max = 65536};

/* A sink that records every message and can answer server-to-client requests at once. */
struct recorder {
    json_t *sent;
    struct mcp_session *session;
    json_t *answer; /* result to answer requests with, or NULL */
};

static int record(void *ud, const json_t *msg)
{
    struct recorder *r = ud;

    json_array_append(r->sent, (json_t *)msg);
    if (r->answer && json_object_get(msg, "id") && json_object_get(msg, "method")) {
        json_t *resp = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id",
                                 json_object_get(msg, "id"), "result", r->answer);
        json_decref(mcp_session_handle(r->session, resp, NULL));
        json_decref(resp);
    }
    return 0;
}

static json_t *parse_ok(const char *text)
{
    json_t *msg = NULL, *err = NULL;

    cr_assert_eq(mcp_parse(text, strlen(text), &msg, &err), 0, "parse failed: %s", text);
    cr_assert_null(err);
    return msg;
}

static json_t *call(struct mcp_session *s, const struct mcp_sink *sink, const char *text)
{
    json_t *msg = parse_ok(text);
    json_t *resp = mcp_session_handle(s, msg, sink);

    json_decref(msg);
    return resp;
}

static int error_code(const json_t *resp)
{
    return (int)json_integer_value(json_object_get(json_object_get(resp, "error"), "code"));
}

static struct mcp_session *initialized(const struct mcp_server *srv, const char *caps)
{
    struct mcp_session *s = mcp_session_new(srv);
    char buf[512];
    json_t *r;

    snprintf(buf, sizeof(buf),
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-11-25\",\"capabilities\":%s,\"clientInfo\":{\"name\":"
             "\"t\",\"version\":\"1\"}}}",
             caps);
    r = call(s, NULL, buf);
    cr_assert_not_null(json_object_get(r, "result"));
    json_decref(r);
    return s;
}

Test(parse, classifies_messages)
{
    json_t *m;

    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    cr_assert_eq(mcp_message_kind(m), MCP_MSG_REQUEST);
    json_decref(m);
    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\",\"params\":{}}");
    cr_assert_eq(mcp_message_kind(m), MCP_MSG_REQUEST);
    json_decref(m);
    m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    cr_assert_eq(mcp_message_kind(m), MCP_MSG_NOTIFICATION);
    json_decref(m);
    m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
    cr_assert_eq(mcp_message_kind(m), MCP_MSG_RESPONSE);
    json_decref(m);
}

static void expect_parse_error(const char *text, int code, const char *want_id)
{
    json_t *msg = NULL, *err = NULL;

    cr_assert_lt(mcp_parse(text, strlen(text), &msg, &err), 0, "accepted: %s", text);
    cr_assert_null(msg);
    cr_assert_not_null(err);
    cr_assert_eq(error_code(err), code, "%s: code %d", text, error_code(err));
    if (want_id)
        cr_assert_str_eq(json_string_value(json_object_get(err, "id")), want_id);
    else
        cr_assert(json_is_null(json_object_get(err, "id")), "%s: id not null", text);
    json_decref(err);
}

Test(parse, refuses_bad_framing)
{
    expect_parse_error("garbage", MCP_ERR_PARSE, NULL);
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":1,", MCP_ERR_PARSE, NULL);
    expect_parse_error("", MCP_ERR_PARSE, NULL);
    expect_parse_error("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                       MCP_ERR_INVALID_REQUEST, NULL);
    expect_parse_error("{\"jsonrpc\":\"1.0\",\"id\":\"v\",\"method\":\"ping\"}",
                       MCP_ERR_INVALID_REQUEST, "v");
    expect_parse_error("{\"id\":\"x\",\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, "x");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
                       MCP_ERR_INVALID_REQUEST, NULL);
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
                       MCP_ERR_INVALID_REQUEST, NULL);
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
                       MCP_ERR_INVALID_REQUEST, NULL);
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":\"ping\",\"params\":[1]}",
                       MCP_ERR_INVALID_REQUEST, "k");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":3}", MCP_ERR_INVALID_REQUEST,
                       "k");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"result\":{},\"error\":{}}",
                       MCP_ERR_INVALID_REQUEST, "r");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,"
                       "\"method\":\"ping\"}",
                       MCP_ERR_PARSE, NULL);
    expect_parse_error("\"just a string\"", MCP_ERR_INVALID_REQUEST, NULL);
}

Test(parse, refuses_oversized_message)
{
    size_t n = MCP_MESSAGE_MAX + 2;
    char *big = malloc(n);
    json_t *msg, *err;

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    cr_assert_lt(mcp_parse(big, n, &msg, &err), 0);
    cr_assert_eq(error_code(err), MCP_ERR_INVALID_REQUEST);
    json_decref(err);
    free(big);
}

Test(lifecycle, requests_before_initialize_are_refused_but_ping_works)
{
    struct mcp_session *s = mcp_session_new(&srv_plain);
    json_t *r;

    r = call(s, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    cr_assert_eq(error_code(r), MCP_ERR_INVALID_REQUEST);
    json_decref(r);
    r = call(s, NULL, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    cr_assert(json_is_object(json_object_get(r, "result")));
    cr_assert_eq(json_object_size(json_object_get(r, "result")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    mcp_session_unref(s);
}

Test(lifecycle, initialize_negotiates_version_once)
{
    struct mcp_session *s = mcp_session_new(&srv_plain);
    json_t *r;

    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{}}}");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
        "2025-06-18");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(r, "result"), "serverInfo"), "name")),
                     "osmoda-mcp-bridge");
    cr_assert_not_null(
        json_object_get(json_object_get(json_object_get(r, "result"), "capabilities"), "tools"));
    cr_assert_null(
        json_object_get(json_object_get(json_object_get(r, "result"), "capabilities"), "prompts"));
    json_decref(r);
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-11-25\"}}");
    cr_assert_eq(error_code(r), MCP_ERR_INVALID_REQUEST, "second initialize accepted");
    json_decref(r);
    mcp_session_unref(s);

    s = mcp_session_new(&srv_plain);
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"1999-01-01\"}}");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
        MCP_PROTOCOL_LATEST);
    json_decref(r);
    mcp_session_unref(s);
}

Test(dispatch, unknown_methods_and_fixture_methods_without_fixtures)
{
    struct mcp_session *s = initialized(&srv_plain, "{}");
    json_t *r;

    r = call(s, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}");
    cr_assert_eq(error_code(r), MCP_ERR_METHOD_NOT_FOUND);
    json_decref(r);
    r = call(s, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}");
    cr_assert_eq(error_code(r), MCP_ERR_METHOD_NOT_FOUND, "fixtures leak into a normal run");
    json_decref(r);
    r = call(s, NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    cr_assert_null(r, "a notification got an answer");
    mcp_session_unref(s);
}

Test(dispatch, set_level_validates)
{
    struct mcp_session *s = initialized(&srv_plain, "{}");
    json_t *r;

    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\","
             "\"params\":{\"level\":\"loud\"}}");
    cr_assert_eq(error_code(r), MCP_ERR_INVALID_PARAMS);
    json_decref(r);
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\","
             "\"params\":{\"level\":\"warning\"}}");
    cr_assert_eq(json_object_size(json_object_get(r, "result")), 0);
    json_decref(r);
    mcp_session_unref(s);
}

Test(dispatch, log_level_filters_notifications)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{}");
    struct recorder rec = {.sent = json_array(), .session = s};
    struct mcp_sink sink = {record, &rec, NULL};
    json_t *r;

    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\","
             "\"params\":{\"level\":\"error\"}}");
    json_decref(r);
    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_tool_with_logging\"}}");
    cr_assert_not_null(json_object_get(r, "result"));
    json_decref(r);
    cr_assert_eq(json_array_size(rec.sent), 0, "info logs passed an error filter");
    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"logging/setLevel\","
             "\"params\":{\"level\":\"debug\"}}");
    json_decref(r);
    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_tool_with_logging\"}}");
    json_decref(r);
    cr_assert_eq(json_array_size(rec.sent), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rec.sent, 0), "method")),
                     "notifications/message");
    json_decref(rec.sent);
    mcp_session_unref(s);
}

Test(dispatch, progress_only_with_token)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{}");
    struct recorder rec = {.sent = json_array(), .session = s};
    struct mcp_sink sink = {record, &rec, NULL};
    json_t *r, *p;

    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_tool_with_progress\"}}");
    json_decref(r);
    cr_assert_eq(json_array_size(rec.sent), 0);
    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_tool_with_progress\",\"_meta\":{\"progressToken\":"
             "\"tok\"}}}");
    json_decref(r);
    cr_assert_eq(json_array_size(rec.sent), 3);
    p = json_object_get(json_array_get(rec.sent, 2), "params");
    cr_assert_str_eq(json_string_value(json_object_get(p, "progressToken")), "tok");
    cr_assert_eq(json_number_value(json_object_get(p, "progress")), 100.0);
    json_decref(rec.sent);
    mcp_session_unref(s);
}

Test(client_requests, elicitation_round_trip_through_the_session)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{\"elicitation\":{}}");
    struct recorder rec = {
        .sent = json_array(),
        .session = s,
        .answer = json_pack("{s:s,s:{s:s}}", "action", "accept", "content", "username", "u1")};
    struct mcp_sink sink = {record, &rec, NULL};
    json_t *r;
    const char *text;

    r = call(s, &sink,
             "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_elicitation\",\"arguments\":{\"message\":\"hi\"}}}");
    cr_assert_eq(json_array_size(rec.sent), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rec.sent, 0), "method")),
                     "elicitation/create");
    text = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(r, "result"), "content"), 0), "text"));
    cr_assert_not_null(strstr(text, "u1"), "answer not used: %s", text);
    cr_assert_null(json_object_get(json_object_get(r, "result"), "isError"));
    json_decref(r);
    json_decref(rec.answer);
    json_decref(rec.sent);
    mcp_session_unref(s);
}

Test(client_requests, refused_without_capability_or_transport)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{}");
    json_t *r;

    /* no elicitation capability declared */
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_elicitation\",\"arguments\":{\"message\":\"hi\"}}}");
    cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
    mcp_session_unref(s);

    /* declared, but the transport cannot carry a request (NULL sink): fails fast */
    s = initialized(&srv_fixtures, "{\"sampling\":{}}");
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{"
             "\"name\":\"test_sampling\",\"arguments\":{\"prompt\":\"p\"}}}");
    cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
    mcp_session_unref(s);
}

Test(client_requests, closed_session_cancels_the_wait)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{\"sampling\":{}}");
    struct recorder rec = {.sent = json_array(), .session = s};
    struct mcp_sink sink = {record, &rec, NULL};
    struct mcp_call c = {.session = s, .srv = &srv_fixtures, .sink = &sink};
    json_t *result = NULL;

    mcp_session_close(s);
    cr_assert_eq(mcp_call_request(&c, "sampling/createMessage", json_object(), 1000, &result),
                 -ECANCELED);
    cr_assert_null(result);
    json_decref(rec.sent);
    mcp_session_unref(s);
}

Test(client_requests, unanswered_request_times_out)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{\"sampling\":{}}");
    struct recorder rec = {.sent = json_array(), .session = s};
    struct mcp_sink sink = {record, &rec, NULL};
    struct mcp_call c = {.session = s, .srv = &srv_fixtures, .sink = &sink};
    json_t *result = NULL;

    cr_assert_eq(mcp_call_request(&c, "sampling/createMessage", json_object(), 50, &result),
                 -ETIMEDOUT);
    cr_assert_eq(json_array_size(rec.sent), 1);
    json_decref(rec.sent);
    mcp_session_unref(s);
}

Test(fixtures, resources_and_prompts)
{
    struct mcp_session *s = initialized(&srv_fixtures, "{}");
    json_t *r;
    const char *text;

    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{"
             "\"uri\":\"test://template/42/data\"}}");
    text = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(r, "result"), "contents"), 0), "text"));
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, "\"id\":\"42\""), "%s", text);
    json_decref(r);
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{"
             "\"uri\":\"test://nope\"}}");
    cr_assert_eq(error_code(r), MCP_ERR_RESOURCE_NOT_FOUND);
    json_decref(r);
    r = call(s, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{"
             "\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":\"a\","
             "\"arg2\":\"b\"}}}");
    cr_assert_not_null(json_object_get(r, "result"));
    json_decref(r);
    mcp_session_unref(s);
}
