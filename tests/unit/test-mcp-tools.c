/* The bridge's tool translation (registry → tools/list, daemon answer → CallToolResult, byte
 * cap with truncation marker, socket resolution) and the HTTP transport's Host/Origin rules.
 * The daemon on the other end of /tools/call is a MOCK built on lib/ipc's server: it answers
 * whatever the test sets, so the mapping is checked without agentd. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mcp/mcp.h"
#include "ipc/http_server.h"
#include "tools/registry.h"

static char run_dir[64];
static struct mcp_server srv = {.result_max = 65536};

static struct mcp_session *session(void)
{
    struct mcp_session *s = mcp_session_new(&srv);
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}";
    json_t *m = json_loads(init, 0, NULL);

    json_decref(mcp_session_handle(s, m, NULL));
    json_decref(m);
    return s;
}

static json_t *tool_call(struct mcp_session *s, const char *name, const char *args)
{
    char buf[1024];
    json_t *m, *r, *result;

    snprintf(buf, sizeof(buf),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":%s}}",
             name, args);
    m = json_loads(buf, 0, NULL);
    cr_assert_not_null(m);
    r = mcp_session_handle(s, m, NULL);
    json_decref(m);
    result = json_incref(json_object_get(r, "result"));
    cr_assert_not_null(result, "no result: %s", json_dumps(r, 0));
    json_decref(r);
    return result;
}

static json_t *text_json(const json_t *result)
{
    const char *text = json_string_value(
        json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
    json_t *v;

    cr_assert_not_null(text);
    v = json_loads(text, 0, NULL);
    cr_assert_not_null(v, "text is not JSON: %s", text);
    return v;
}

static void setup(void)
{
    strcpy(run_dir, "/tmp/mcp-tools-XXXXXX");
    cr_assert_not_null(mkdtemp(run_dir));
    srv.run_dir = run_dir;
    unsetenv("AGENTD_SOCKET");
}

static void teardown(void)
{
    char p[128];

    snprintf(p, sizeof(p), "%s/agentd-agent.sock", run_dir);
    unlink(p);
    rmdir(run_dir);
}

TestSuite(tools, .init = setup, .fini = teardown);

Test(tools, list_has_every_registry_tool_with_schema_and_annotations)
{
    json_t *a = json_array();
    size_t i;
    json_t *t;
    bool saw_health = false;

    cr_assert_eq(mcp_tools_list(a), 0);
    cr_assert_geq(json_array_size(a), 92);
    json_array_foreach(a, i, t)
    {
        cr_assert(json_is_string(json_object_get(t, "name")));
        cr_assert(json_is_string(json_object_get(t, "description")));
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(t, "inputSchema"), "type")),
            "object");
        cr_assert(json_is_object(json_object_get(t, "annotations")));
        if (strcmp(json_string_value(json_object_get(t, "name")), "system_health") == 0) {
            saw_health = true;
            cr_assert(
                json_is_true(json_object_get(json_object_get(t, "annotations"), "readOnlyHint")));
        }
    }
    cr_assert(saw_health);
    json_decref(a);
}

Test(tools, unknown_tool_is_a_protocol_error)
{
    struct mcp_session *s = session();
    json_t *m = json_loads("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"no_such_tool\"}}",
                           0, NULL);
    json_t *r = mcp_session_handle(s, m, NULL);

    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                 MCP_ERR_INVALID_PARAMS);
    json_decref(r);
    json_decref(m);
    mcp_session_unref(s);
}

Test(tools, daemon_unavailable_names_the_socket)
{
    struct mcp_session *s = session();
    json_t *r = tool_call(s, "system_health", "{}");
    json_t *v = text_json(r);
    char want[128];

    snprintf(want, sizeof(want), "%s/agentd-agent.sock", run_dir);
    cr_assert(json_is_true(json_object_get(r, "isError")));
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "daemon_unavailable");
    cr_assert_str_eq(json_string_value(json_object_get(v, "socket")), want);
    cr_assert(json_equal(v, json_object_get(r, "structuredContent")));
    json_decref(v);
    json_decref(r);
    mcp_session_unref(s);
}

Test(tools, job_tools_go_to_the_daemon_that_gave_the_job)
{
    static const struct {
        const char *args, *socket;
    } cases[] = {
        {"{\"job_id\":\"j1\"}", "agentd-agent.sock"},
        {"{\"job_id\":\"j1\",\"daemon\":\"watch\"}", "watch-agent.sock"},
        {"{\"job_id\":\"j1\",\"daemon\":\"agentd\"}", "agentd-agent.sock"},
    };
    struct mcp_session *s = session();
    char want[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = tool_call(s, "job_status", cases[i].args);
        json_t *v = text_json(r);
        snprintf(want, sizeof(want), "%s/%s", run_dir, cases[i].socket);
        cr_expect_str_eq(json_string_value(json_object_get(v, "socket")), want, "%s",
                         cases[i].args);
        json_decref(v);
        json_decref(r);
    }
    {
        json_t *r = tool_call(s, "job_wait", "{\"job_id\":\"j1\",\"daemon\":\"../x\"}");
        json_t *v = text_json(r);
        cr_expect_str_eq(json_string_value(json_object_get(v, "error")), "invalid_argument",
                         "a daemon outside the list never names a socket");
        json_decref(v);
        json_decref(r);
    }
    mcp_session_unref(s);
}

Test(tools, env_override_wins_over_run_dir)
{
    char *p;

    setenv("AGENTD_SOCKET", "/somewhere/agentd.sock", 1);
    p = mcp_tools_socket(&srv, "agentd");
    cr_assert_str_eq(p, "/somewhere/agentd.sock");
    free(p);
    unsetenv("AGENTD_SOCKET");
    p = mcp_tools_socket(&srv, "watch");
    cr_assert_not_null(strstr(p, "/watch-agent.sock"));
    free(p);
}

/* ---- MOCK daemon ---- */

static json_t *mock_reply;     /* what the mock answers next */
static json_t *mock_last_body; /* what it received */

static json_t *mock_script; /* when set: an array of replies, one per call, the last repeats */
static size_t mock_step;

static json_t *mock_tools_call(struct osm_request *req)
{
    json_decref(mock_last_body);
    mock_last_body = json_deep_copy(req->body);
    if (mock_script) {
        size_t n = json_array_size(mock_script);
        return json_incref(json_array_get(mock_script, mock_step < n ? mock_step++ : n - 1));
    }
    return json_incref(mock_reply);
}

static const struct osm_route mock_routes[] = {
    {"POST", "/tools/call", mock_tools_call, OSM_ROUTE_BODY},
};

static struct osm_http_server *mock_start(void)
{
    struct osm_http_server_config cfg = {.routes = mock_routes, .n_routes = 1};
    struct osm_http_server *m;
    char p[128];

    snprintf(p, sizeof(p), "%s/agentd-agent.sock", run_dir);
    cr_assert_eq(osm_http_server_start_unix(&cfg, p, 0600, &m), 0);
    return m;
}

Test(tools, daemon_answers_map_onto_results)
{
    struct osm_http_server *m = mock_start();
    struct mcp_session *s = session();
    json_t *r, *v;

    mock_reply = json_pack("{s:s,s:{s:s}}", "status", "ok", "result", "hostname", "box");
    r = tool_call(s, "system_health", "{}");
    cr_assert_null(json_object_get(r, "isError"));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r, "structuredContent"), "hostname")),
        "box");
    cr_assert_str_eq(json_string_value(json_object_get(mock_last_body, "tool")), "system_health");
    json_decref(r);
    json_decref(mock_reply);

    mock_reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "denied", "result", "error",
                           "policy_denied", "message", "ring 0");
    r = tool_call(s, "system_health", "{}");
    cr_assert(json_is_true(json_object_get(r, "isError")));
    v = text_json(r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "policy_denied");
    cr_assert_str_eq(json_string_value(json_object_get(v, "status")), "denied");
    json_decref(v);
    json_decref(r);
    json_decref(mock_reply);

    mock_reply =
        json_pack("{s:s,s:s,s:s}", "status", "pending", "approval_id", "ap-1", "job_id", "job-9");
    r = tool_call(s, "system_health", "{}");
    cr_assert_null(json_object_get(r, "isError"), "pending must not be an error");
    v = text_json(r);
    cr_assert_str_eq(json_string_value(json_object_get(v, "approval_id")), "ap-1");
    cr_assert_str_eq(json_string_value(json_object_get(v, "job_id")), "job-9");
    cr_assert_not_null(strstr(json_string_value(json_object_get(v, "message")), "job_wait"));
    json_decref(v);
    json_decref(r);
    json_decref(mock_reply);

    mock_reply = json_pack("{s:s}", "unexpected", "shape");
    r = tool_call(s, "system_health", "{}");
    cr_assert(json_is_true(json_object_get(r, "isError")));
    json_decref(r);
    json_decref(mock_reply);

    mcp_session_unref(s);
    osm_http_server_stop(m);
    json_decref(mock_last_body);
    mock_last_body = NULL;
}

/* A token that is not a token object (or its JSON text) is refused by the bridge itself: the
 * call is never sent without it. No daemon runs here, so a call that got through would answer
 * daemon_unavailable instead. (Valid tokens, in both forms, are checked against a real agentd in
 * tests/e2e/test_mcp_capability.py.) */
static void assert_refused(struct mcp_session *s, const char *msg_json, const char *field)
{
    json_t *m = json_loads(msg_json, 0, NULL), *r, *v;

    cr_assert_not_null(m, "bad test JSON: %s", msg_json);
    r = mcp_session_handle(s, m, NULL);
    v = json_object_get(json_object_get(r, "result"), "structuredContent");
    cr_assert(json_is_true(json_object_get(json_object_get(r, "result"), "isError")), "%s",
              msg_json);
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "invalid_capability", "%s",
                     msg_json);
    cr_assert_str_eq(json_string_value(json_object_get(v, "field")), field);
    cr_assert_eq(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    json_decref(m);
}

#define CALL_HEAD "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"

Test(tools, capability_that_is_not_a_token_is_refused_not_dropped)
{
    struct mcp_session *s = session();

    assert_refused(s,
                   CALL_HEAD "\"name\":\"system_health\",\"arguments\":{\"capability_token\":"
                             "\"cap-123\"}}}",
                   "capability_token");
    assert_refused(s,
                   CALL_HEAD "\"name\":\"system_health\",\"arguments\":{\"capability_token\":"
                             "\"[1,2]\"}}}",
                   "capability_token");
    assert_refused(s,
                   CALL_HEAD "\"name\":\"system_health\",\"arguments\":{\"capability_token\":"
                             "42}}}",
                   "capability_token");
    assert_refused(s, CALL_HEAD "\"name\":\"system_health\",\"_meta\":{\"capability\":null}}}",
                   "_meta.capability");
    assert_refused(s,
                   CALL_HEAD "\"name\":\"system_health\",\"_meta\":{\"capability\":"
                             "\"{\\\"id\\\":\"}}}",
                   "_meta.capability");
    /* two different tokens: which one was meant is not guessed */
    assert_refused(s,
                   CALL_HEAD "\"name\":\"system_health\",\"arguments\":{\"capability_token\":"
                             "{\"id\":\"a\"}},\"_meta\":{\"capability\":{\"id\":\"b\"}}}}",
                   "capability_token");
    mcp_session_unref(s);
}

Test(tools, capability_forms_pass_the_bridge)
{
    struct mcp_session *s = session();
    static const char *const calls[] = {
        CALL_HEAD "\"name\":\"system_health\",\"_meta\":{\"capability\":{\"id\":\"a\"}}}}",
        CALL_HEAD "\"name\":\"system_health\",\"_meta\":{\"capability\":\"{\\\"id\\\":"
                  "\\\"a\\\"}\"}}}",
        CALL_HEAD "\"name\":\"system_health\",\"arguments\":{\"capability_token\":{\"id\":"
                  "\"a\"}},\"_meta\":{\"capability\":\"{\\\"id\\\":\\\"a\\\"}\"}}}",
    };

    for (size_t i = 0; i < sizeof(calls) / sizeof(*calls); i++) {
        json_t *m = json_loads(calls[i], 0, NULL), *r;
        cr_assert_not_null(m, "bad test JSON: %s", calls[i]);
        r = mcp_session_handle(s, m, NULL);
        cr_assert_str_eq(
            json_string_value(json_object_get(
                json_object_get(json_object_get(r, "result"), "structuredContent"), "error")),
            "daemon_unavailable", "%s", calls[i]);
        json_decref(r);
        json_decref(m);
    }
    mcp_session_unref(s);
}

Test(result, cap_marks_truncation_and_stays_json)
{
    json_t *big = json_object(), *r;
    const json_t *v;
    char *filler = malloc(200000);
    const char *text;

    memset(filler, 'x', 199999);
    filler[199999] = '\0';
    json_object_set_new(big, "output", json_string(filler));
    r = mcp_tool_result_json(big, false, 4096);
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
    cr_assert_leq(strlen(text), 4096);
    cr_assert_not_null(strstr(text, "[truncated:"), "no truncation marker: %.80s", text);
    cr_assert_eq(strncmp(text, "{\"output\":\"xxx", 14), 0, "head not kept");
    v = json_object_get(r, "structuredContent");
    cr_assert(json_is_true(json_object_get(v, "truncated")));
    cr_assert_gt(json_integer_value(json_object_get(v, "total_bytes")), 199999);
    json_decref(r);

    /* quotes double in size when escaped: still under the cap */
    memset(filler, '"', 199999);
    json_object_set_new(big, "output", json_string(filler));
    r = mcp_tool_result_json(big, false, 4096);
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
    cr_assert_leq(strlen(text), 4096);
    json_decref(r);

    /* small: whole, and a non-object is wrapped for structuredContent */
    json_t *arr = json_array();
    r = mcp_tool_result_json(arr, false, 4096);
    cr_assert(json_is_array(json_object_get(json_object_get(r, "structuredContent"), "result")));
    json_decref(r);
    json_decref(arr);
    free(filler);
    json_decref(big);
}

Test(http_rules, host_origin_loopback)
{
    cr_assert(mcp_host_allowed("localhost"));
    cr_assert(mcp_host_allowed("127.0.0.1:8080"));
    cr_assert(mcp_host_allowed("[::1]:1"));
    cr_assert(mcp_host_allowed("LOCALHOST:3000"));
    cr_assert_not(mcp_host_allowed("evil.example.com"));
    cr_assert_not(mcp_host_allowed("localhost.evil.com"));
    cr_assert_not(mcp_host_allowed("127.0.0.1.nip.io"));
    cr_assert_not(mcp_host_allowed("localhost:abc"));
    cr_assert_not(mcp_host_allowed("localhost:"));
    cr_assert_not(mcp_host_allowed(NULL));
    cr_assert(mcp_origin_allowed("http://localhost:5173"));
    cr_assert(mcp_origin_allowed("https://127.0.0.1"));
    cr_assert_not(mcp_origin_allowed("http://evil.example.com"));
    cr_assert_not(mcp_origin_allowed("null"));
    cr_assert_not(mcp_origin_allowed("ftp://localhost"));
    cr_assert_not(mcp_origin_allowed("http://localhost/path"));
    cr_assert(mcp_addr_is_loopback("127.0.0.1"));
    cr_assert(mcp_addr_is_loopback("127.9.9.9"));
    cr_assert(mcp_addr_is_loopback("::1"));
    cr_assert_not(mcp_addr_is_loopback("0.0.0.0"));
    cr_assert_not(mcp_addr_is_loopback("::"));
    cr_assert_not(mcp_addr_is_loopback("10.0.0.1"));
}

static int record(void *ud, const json_t *msg)
{
    json_array_append((json_t *)ud, (json_t *)msg);
    return 0;
}

Test(tools, long_job_is_followed_with_progress)
{
    struct osm_http_server *m = mock_start();
    struct mcp_session *s = session();
    json_t *sent = json_array(), *msg, *r, *result;
    struct mcp_sink sink = {record, sent, NULL};
    const struct osm_tool *t = osm_tool_find("shell_exec", NULL);

    cr_assert(t && (t->flags & OSM_TOOL_JOB), "shell_exec is expected to be a job tool");
    mock_step = 0;
    mock_script = json_pack("[{s:s,s:{s:s,s:s}},{s:s,s:{s:s,s:s}},{s:s,s:{s:s,s:s,s:i}}]", "status",
                            "ok", "result", "status", "running", "job_id", "j1", "status", "ok",
                            "result", "status", "running", "job_id", "j1", "status", "ok", "result",
                            "status", "exited", "job_id", "j1", "exit_code", 0);
    msg = json_loads("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"shell_exec\",\"arguments\":{\"command\":\"sleep 60\"},"
                     "\"_meta\":{\"progressToken\":\"p1\"}}}",
                     0, NULL);
    r = mcp_session_handle(s, msg, &sink);
    result = json_object_get(r, "result");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(result, "structuredContent"), "status")),
        "exited", "the final job status was not returned");
    cr_assert_eq(json_array_size(sent), 2, "one progress notification per running poll");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sent, 0), "method")),
                     "notifications/progress");
    cr_assert_str_eq(json_string_value(json_object_get(mock_last_body, "tool")), "job_wait");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(mock_last_body, "arguments"), "job_id")),
        "j1");
    json_decref(r);

    /* without a progress token the running status goes back at once */
    mock_step = 0;
    json_object_del(json_object_get(msg, "params"), "_meta");
    r = mcp_session_handle(s, msg, &sink);
    result = json_object_get(r, "result");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(result, "structuredContent"), "status")),
        "running");
    cr_assert_eq(mock_step, 1);
    json_decref(r);
    json_decref(msg);
    json_decref(mock_script);
    mock_script = NULL;
    json_decref(sent);
    mcp_session_unref(s);
    osm_http_server_stop(m);
    json_decref(mock_last_body);
    mock_last_body = NULL;
}
