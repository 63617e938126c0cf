/* Resumable event streams (mcp-sse.c): event ids, the priming event, replay after Last-Event-ID,
 * the server closing a connection so the client polls, and the bounds of the replay buffer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../mcp/mcp.h"

/* Everything the reader hands out until the connection ends; *ret_end is the final code. */
static char *drain(struct mcp_sse_reader *r, ssize_t *ret_end)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;

    cr_assert_not_null(out);
    /* small reads: events are copied out in pieces */
    while ((n = mcp_sse_reader_read(r, out + len, len + 7 < cap ? 7 : cap - len - 1)) > 0) {
        len += (size_t)n;
        if (len + 8 >= cap) {
            out = realloc(out, cap *= 2);
            cr_assert_not_null(out);
        }
    }
    out[len] = '\0';
    if (ret_end)
        *ret_end = n;
    return out;
}

static json_t *note(int i)
{
    return json_pack("{s:s,s:s,s:{s:i}}", "jsonrpc", "2.0", "method", "notifications/progress",
                     "params", "progress", i);
}

static json_t *response(int id)
{
    return json_pack("{s:s,s:i,s:{}}", "jsonrpc", "2.0", "id", id, "result");
}

static void append(struct mcp_sse_stream *st, json_t *msg, bool final)
{
    cr_assert_eq(mcp_sse_stream_append(st, msg, final), 0);
    json_decref(msg);
}

Test(sse, events_carry_ids_and_a_priming_event_comes_first)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *a, *b;
    struct mcp_sse_reader *r;
    ssize_t end;
    char *text;

    cr_assert_eq(mcp_sse_stream_open(l, true, &a), 0);
    cr_assert_eq(mcp_sse_stream_open(l, false, &b), 0);
    cr_assert_eq(mcp_sse_reader_open(a, &r), 0);
    append(a, note(1), false);
    append(a, response(5), true);
    text = drain(r, &end);
    cr_assert_eq(end, MCP_SSE_END);
    cr_assert_str_eq(text, "id: 1-0\nretry: 1000\ndata: \n\n"
                           "id: 1-1\nevent: message\ndata: "
                           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                           "\"params\":{\"progress\":1}}\n\n"
                           "id: 1-2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,"
                           "\"result\":{}}\n\n");
    free(text);
    mcp_sse_reader_free(r);

    /* the second stream's ids differ; without priming, no empty event, and no closing early */
    cr_assert_eq(mcp_sse_reader_open(b, &r), 0);
    cr_assert_eq(mcp_sse_stream_close_connection(b), -ENOTSUP);
    append(b, response(6), true);
    text = drain(r, &end);
    cr_assert_eq(strncmp(text, "id: 2-1\nevent: message\n", 23), 0, "%s", text);
    free(text);
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(a);
    mcp_sse_stream_unref(b);
    mcp_sse_log_unref(l);
}

Test(sse, resume_replays_what_followed_the_last_event_id)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st;
    struct mcp_sse_reader *r;
    char *text;

    cr_assert_eq(mcp_sse_stream_open(l, true, &st), 0);
    append(st, note(1), false);
    append(st, note(2), false);
    append(st, response(9), true);

    cr_assert_eq(mcp_sse_reader_resume(l, "1-1", &r), 0);
    text = drain(r, NULL);
    cr_assert_null(strstr(text, "id: 1-1\n"), "an event the client had was sent again");
    cr_assert_null(strstr(text, "data: \n"), "a resumed connection is not primed");
    cr_assert_not_null(strstr(text, "id: 1-2\n"));
    cr_assert_not_null(
        strstr(text, "id: 1-3\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":9"));
    free(text);
    mcp_sse_reader_free(r);

    /* from the priming event: everything */
    cr_assert_eq(mcp_sse_reader_resume(l, "1-0", &r), 0);
    text = drain(r, NULL);
    cr_assert_not_null(strstr(text, "id: 1-1\n"));
    free(text);
    mcp_sse_reader_free(r);

    /* from the last event of a finished stream: nothing, and the connection ends */
    cr_assert_eq(mcp_sse_reader_resume(l, "1-3", &r), 0);
    text = drain(r, NULL);
    cr_assert_str_eq(text, "");
    free(text);
    mcp_sse_reader_free(r);

    cr_assert_eq(mcp_sse_reader_resume(l, "1-4", &r), -ENOENT);
    cr_assert_eq(mcp_sse_reader_resume(l, "2-0", &r), -ENOENT);
    static const char *const bad[] = {"",    "1",     "1-",   "-1",   "0-1",
                                      "a-b", "1-1-1", "1 -1", "1-+1", "99999999999999999999-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_eq(mcp_sse_reader_resume(l, bad[i], &r), -EINVAL, "%s", bad[i]);
    mcp_sse_stream_unref(st);
    mcp_sse_log_unref(l);
}

Test(sse, server_closes_the_connection_and_the_client_resumes)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st;
    struct mcp_sse_reader *r;
    ssize_t end;
    char *text;

    cr_assert_eq(mcp_sse_stream_open(l, true, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &r), 0);
    cr_assert_eq(mcp_sse_stream_close_connection(st), 0);
    text = drain(r, &end);
    cr_assert_eq(end, MCP_SSE_END);
    cr_assert_str_eq(text, "id: 1-0\nretry: 1000\ndata: \n\nretry: 1000\n\n");
    free(text);
    mcp_sse_reader_free(r);

    /* the result comes while nobody is connected, and waits in the buffer */
    append(st, response(1), true);
    cr_assert_eq(mcp_sse_reader_resume(l, "1-0", &r), 0);
    text = drain(r, &end);
    cr_assert_eq(end, MCP_SSE_END);
    cr_assert_str_eq(text, "id: 1-1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"result\":{}}\n\n");
    free(text);
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(st);

    /* the answer may be in before the connection notices the close: still a retry field, and
     * the answer is for the resumed connection */
    cr_assert_eq(mcp_sse_stream_open(l, true, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &r), 0);
    cr_assert_eq(mcp_sse_stream_close_connection(st), 0);
    append(st, response(2), true);
    text = drain(r, &end);
    cr_assert_str_eq(text, "id: 2-0\nretry: 1000\ndata: \n\nretry: 1000\n\n");
    free(text);
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(st);
    mcp_sse_log_unref(l);
}

Test(sse, a_new_reader_of_a_stream_ends_the_old_one)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st;
    struct mcp_sse_reader *old, *fresh;
    ssize_t end;
    char *text;

    cr_assert_eq(mcp_sse_stream_open(l, true, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &old), 0);
    cr_assert_eq(mcp_sse_reader_resume(l, "1-0", &fresh), 0);
    text = drain(old, &end);
    cr_assert_eq(end, MCP_SSE_END);
    free(text);
    append(st, response(1), true);
    text = drain(fresh, &end);
    cr_assert_not_null(strstr(text, "id: 1-1\n"));
    free(text);
    mcp_sse_reader_free(old);
    mcp_sse_reader_free(fresh);
    mcp_sse_stream_unref(st);
    mcp_sse_log_unref(l);
}

Test(sse, held_connections_end_with_a_retry_field)
{
    struct mcp_sse_log *l = mcp_sse_log_new(MCP_SSE_HOLD_MS_MIN);
    struct mcp_sse_reader *r, *again;
    ssize_t end;
    char *text;

    /* the GET stream: primed, then closed after the hold time with nothing to say */
    cr_assert_eq(mcp_sse_reader_standalone(l, true, &r), 0);
    text = drain(r, &end);
    cr_assert_eq(end, MCP_SSE_END);
    cr_assert_str_eq(text, "id: 1-0\nretry: 1000\ndata: \n\nretry: 1000\n\n");
    free(text);
    /* it is the same stream the next time */
    cr_assert_eq(mcp_sse_reader_standalone(l, true, &again), 0);
    text = drain(again, NULL);
    cr_assert_eq(strncmp(text, "id: 1-0\n", 8), 0, "%s", text);
    free(text);
    mcp_sse_reader_free(again);
    mcp_sse_reader_free(r);

    /* a request's resumable stream whose answer takes longer than the hold time: the
     * connection is closed for polling, the answer waits for the resumed one */
    struct mcp_sse_stream *st;
    cr_assert_eq(mcp_sse_stream_open(l, true, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &r), 0);
    append(st, note(1), false);
    text = drain(r, &end);
    cr_assert_eq(end, MCP_SSE_END);
    cr_assert_not_null(strstr(text, "id: 2-1\n"));
    cr_assert_not_null(strstr(text, "\n\nretry: 1000\n\n"));
    free(text);
    mcp_sse_reader_free(r);
    append(st, response(1), true);
    cr_assert_eq(mcp_sse_reader_resume(l, "2-1", &r), 0);
    text = drain(r, &end);
    cr_assert_eq(strncmp(text, "id: 2-2\n", 8), 0, "%s", text);
    free(text);
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(st);
    mcp_sse_log_unref(l);
}

Test(sse, the_replay_buffer_is_bounded)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st;
    struct mcp_sse_reader *r, *early;
    char *text, want[32];
    int extra = 10;

    cr_assert_eq(mcp_sse_stream_open(l, false, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &early), 0);
    for (int i = 1; i <= MCP_SSE_EVENTS_MAX + extra; i++)
        append(st, note(i), false);
    append(st, response(1), true);
    /* a connection that had not read them yet cannot go on: it is aborted */
    cr_assert_eq(mcp_sse_reader_read(early, want, sizeof(want)), MCP_SSE_ABORT);
    mcp_sse_reader_free(early);
    /* the first events are gone: resuming before them is refused, not a silent gap */
    cr_assert_eq(mcp_sse_reader_resume(l, "1-0", &r), -ESTALE);
    cr_assert_eq(mcp_sse_reader_resume(l, "1-10", &r), -ESTALE);
    cr_assert_eq(mcp_sse_reader_resume(l, "1-11", &r), 0);
    text = drain(r, NULL);
    snprintf(want, sizeof(want), "id: 1-%d\n", MCP_SSE_EVENTS_MAX + extra + 1);
    cr_assert_not_null(strstr(text, "id: 1-12\n"));
    cr_assert_not_null(strstr(text, want));
    free(text);
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(st);

    /* bytes: large events push out older ones; the newest always stays */
    size_t big = MCP_SSE_BUFFER_MAX / 3;
    char *filler = malloc(big + 1);
    cr_assert_not_null(filler);
    memset(filler, 'x', big);
    filler[big] = '\0';
    cr_assert_eq(mcp_sse_stream_open(l, false, &st), 0);
    for (int i = 0; i < 4; i++)
        append(st, json_pack("{s:s}", "x", filler), false);
    cr_assert_eq(mcp_sse_reader_resume(l, "2-1", &r), -ESTALE);
    cr_assert_eq(mcp_sse_reader_resume(l, "2-2", &r), 0);
    mcp_sse_reader_free(r);
    free(filler);
    mcp_sse_stream_unref(st);
    mcp_sse_log_unref(l);
}

Test(sse, running_streams_are_bounded_and_finished_ones_forgotten_first)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st[MCP_SSE_STREAMS_MAX], *more;
    struct mcp_sse_reader *r;

    for (int i = 0; i < MCP_SSE_STREAMS_MAX; i++)
        cr_assert_eq(mcp_sse_stream_open(l, true, &st[i]), 0);
    cr_assert_eq(mcp_sse_stream_open(l, true, &more), -EBUSY);
    append(st[3], response(4), true);
    cr_assert_eq(mcp_sse_reader_resume(l, "4-0", &r), 0);
    mcp_sse_reader_free(r);
    cr_assert_eq(mcp_sse_stream_open(l, true, &more), 0);
    cr_assert_eq(mcp_sse_reader_resume(l, "4-0", &r), -ENOENT, "a forgotten stream resumed");
    mcp_sse_stream_unref(more);
    for (int i = 0; i < MCP_SSE_STREAMS_MAX; i++)
        mcp_sse_stream_unref(st[i]);
    mcp_sse_log_unref(l);
}

static void *read_all(void *arg)
{
    ssize_t end = 0;

    free(drain(arg, &end));
    return (void *)(intptr_t)end;
}

Test(sse, closing_the_log_ends_waiting_connections)
{
    struct mcp_sse_log *l = mcp_sse_log_new(0);
    struct mcp_sse_stream *st;
    struct mcp_sse_reader *r, *late;
    pthread_t t;
    void *end;

    cr_assert_eq(mcp_sse_stream_open(l, false, &st), 0);
    cr_assert_eq(mcp_sse_reader_open(st, &r), 0);
    cr_assert_eq(pthread_create(&t, NULL, read_all, r), 0);
    mcp_sse_log_close(l);
    pthread_join(t, &end);
    cr_assert_eq((intptr_t)end, MCP_SSE_END);
    cr_assert_eq(mcp_sse_reader_standalone(l, true, &late), -ECANCELED);
    mcp_sse_log_unref(l); /* readers and streams keep the log alive */
    mcp_sse_reader_free(r);
    mcp_sse_stream_unref(st);
}
