/* libFuzzer target for MCP JSON-RPC framing: the input is split into lines as the stdio
 * transport does; each line goes through mcp_parse and, when it parses, through one session's
 * dispatch (initialize, tools/list, tools/call with argument validation; the conformance
 * fixtures stay off, their sleeps would slow the fuzzer). Checks that every request gets exactly
 * one response carrying its id and that errors carry a code. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../mcp/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mcp_server srv = {.run_dir = "/nonexistent-osmoda-fuzz",
                                      .fixtures = false,
                                      .result_max = 4096,
                                      .call_timeout_ms = 200};

static int drop(void *ud, const json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);

    assert(s != NULL); /* everything the server emits serialises */
    free(s);
    return -ENOTCONN; /* no client on the other end: client requests fail fast */
}

static void check_response(const json_t *req, const json_t *resp)
{
    const json_t *err = json_object_get(resp, "error");

    assert(json_is_object(resp));
    assert(json_equal(json_object_get(req, "id"), json_object_get(resp, "id")));
    assert(!!err != !!json_object_get(resp, "result"));
    if (err)
        assert(json_is_integer(json_object_get(err, "code")));
}

static void one_line(struct mcp_session *s, const char *line, size_t len)
{
    static const struct mcp_sink sink = {drop, NULL, NULL};
    json_t *msg = NULL, *err = NULL, *resp;

    if (mcp_parse(line, len, &msg, &err) < 0) {
        assert(msg == NULL && json_is_object(json_object_get(err, "error")));
        json_decref(err);
        return;
    }
    resp = mcp_session_handle(s, msg, &sink);
    if (mcp_message_kind(msg) == MCP_MSG_REQUEST)
        check_response(msg, resp);
    else
        assert(resp == NULL);
    json_decref(resp);
    json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mcp_session *s = mcp_session_new(&srv);
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        one_line(s, p, n);
        p += n + (nl ? 1 : 0);
    }
    mcp_session_close(s);
    mcp_session_unref(s);
    return 0;
}
