/* The stdio transport: newline-delimited JSON-RPC on stdin/stdout, one session. Nothing but
 * JSON-RPC messages is ever written to out_fd (logs go to stderr). Requests run on their own
 * threads so that a tool waiting for the client (sampling, elicitation) does not stop the
 * reader that will receive the answer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "mcp.h"

/* One request thread. Threads are joined, not detached, so that none is still exiting (its
 * thread-local state not yet freed) when the transport returns. */
struct worker {
    pthread_t thread;
    bool started;  /* a thread runs or ran here and was not joined yet */
    bool finished; /* its request is answered */
    struct stdio_ctx *x;
    json_t *msg;
};

struct stdio_ctx {
    const struct mcp_server *srv;
    struct mcp_session *session;
    int out_fd;
    bool out_broken;
    pthread_mutex_t out_lock;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a worker finished */
    struct worker workers[MCP_INFLIGHT_MAX];
    struct mcp_sink sink;
};

/* The sink of every request: one line per message, whole lines only. */
static int send_line(void *ud, const json_t *msg)
{
    struct stdio_ctx *x = ud;
    char *s = json_dumps(msg, JSON_COMPACT);
    int r;

    if (!s)
        return -ENOMEM;
    pthread_mutex_lock(&x->out_lock);
    r = x->out_broken ? -EPIPE : osm_write_all(x->out_fd, s, strlen(s));
    if (r == 0)
        r = osm_write_all(x->out_fd, "\n", 1);
    if (r < 0)
        x->out_broken = true;
    pthread_mutex_unlock(&x->out_lock);
    free(s);
    return r;
}

static void send_and_free(struct stdio_ctx *x, json_t *msg)
{
    if (msg)
        send_line(x, msg);
    json_decref(msg);
}

static void *run_request(void *arg)
{
    struct worker *w = arg;
    struct stdio_ctx *x = w->x;

    send_and_free(x, mcp_session_handle(x->session, w->msg, &x->sink));
    json_decref(w->msg);
    pthread_mutex_lock(&x->lock);
    w->msg = NULL;
    w->finished = true;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

/* Locked: a worker slot to run a request in, joining a finished thread to free one; waits
 * while MCP_INFLIGHT_MAX requests are running. */
static struct worker *take_worker_locked(struct stdio_ctx *x)
{
    for (;;) {
        for (size_t i = 0; i < MCP_INFLIGHT_MAX; i++)
            if (!x->workers[i].started)
                return &x->workers[i];
        for (size_t i = 0; i < MCP_INFLIGHT_MAX; i++) {
            struct worker *w = &x->workers[i];
            if (w->finished) {
                pthread_mutex_unlock(&x->lock);
                pthread_join(w->thread, NULL);
                pthread_mutex_lock(&x->lock);
                w->started = false;
                return w;
            }
        }
        pthread_cond_wait(&x->cond, &x->lock);
    }
}

/* Starts a request on its own thread. Only the reader starts and joins threads. */
static void start_request(struct stdio_ctx *x, json_t *msg)
{
    struct worker *w;

    pthread_mutex_lock(&x->lock);
    w = take_worker_locked(x);
    *w = (struct worker){.started = true, .x = x, .msg = msg};
    pthread_mutex_unlock(&x->lock);
    if (pthread_create(&w->thread, NULL, run_request, w) != 0) {
        run_request(w); /* no thread: answer inline */
        pthread_mutex_lock(&x->lock);
        w->started = false;
        pthread_mutex_unlock(&x->lock);
    }
}

/* Waits for every request thread to end. */
static void join_workers(struct stdio_ctx *x)
{
    for (size_t i = 0; i < MCP_INFLIGHT_MAX; i++)
        if (x->workers[i].started) {
            pthread_join(x->workers[i].thread, NULL);
            x->workers[i].started = false;
        }
}

static void handle_line(struct stdio_ctx *x, const char *line, size_t len)
{
    json_t *msg, *err;
    const char *method;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return;
    if (mcp_parse(line, len, &msg, &err) < 0) {
        log_warn("stdio_bad_message", "bytes=%zu", len);
        send_and_free(x, err);
        return;
    }
    method = json_string_value(json_object_get(msg, "method"));
    if (mcp_message_kind(msg) == MCP_MSG_REQUEST && strcmp(method, "initialize") != 0) {
        start_request(x, msg);
        return;
    }
    /* initialize (in order, before anything else), notifications and answers: inline */
    send_and_free(x, mcp_session_handle(x->session, msg, &x->sink));
    json_decref(msg);
}

/* Answers a line over the size cap: with the request's id when the scan found it, so the client
 * waiting for that id is not left waiting; else with id null. */
static void answer_too_large(struct stdio_ctx *x, const struct mcp_id_scan *scan, size_t bytes)
{
    json_t *id = mcp_id_scan_result(scan);

    log_warn("stdio_message_too_large", "bytes=%zu max=%d id_recovered=%d", bytes, MCP_MESSAGE_MAX,
             id != NULL);
    send_and_free(x, mcp_error_response(id, MCP_ERR_INVALID_REQUEST, "message too large", NULL));
    json_decref(id);
}

/* Reads lines from fd until EOF. A line longer than the buffer may grow to (twice
 * MCP_MESSAGE_MAX) is not kept: its bytes go through the id scan as they come, and it is
 * answered once it ends. */
static int read_loop(struct stdio_ctx *x, int fd)
{
    size_t cap = 64 * 1024, len = 0, skipped = 0;
    _cleanup_free_ char *buf = malloc(cap);
    bool skipping = false;
    struct mcp_id_scan scan;

    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;
        char *nl;

        if (len == cap) {
            if (cap > MCP_MESSAGE_MAX) {
                if (!skipping)
                    mcp_id_scan_init(&scan);
                skipping = true;
                mcp_id_scan_feed(&scan, buf, len);
                skipped += len;
                len = 0;
            } else {
                char *nb = realloc(buf, cap * 2);
                if (!nb)
                    return -ENOMEM;
                buf = nb;
                cap *= 2;
            }
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        while ((nl = memchr(buf, '\n', len))) {
            size_t line = (size_t)(nl - buf);
            if (skipping) {
                mcp_id_scan_feed(&scan, buf, line);
                answer_too_large(x, &scan, skipped + line);
                skipping = false;
                skipped = 0;
            } else {
                handle_line(x, buf, line);
            }
            memmove(buf, nl + 1, len - line - 1);
            len -= line + 1;
        }
    }
    if (skipping) {
        mcp_id_scan_feed(&scan, buf, len);
        answer_too_large(x, &scan, skipped + len);
    } else if (len > 0) {
        handle_line(x, buf, len); /* a last message without its newline */
    }
    return 0;
}

int mcp_stdio_run(const struct mcp_server *srv, int in_fd, int out_fd)
{
    struct stdio_ctx x = {.srv = srv, .out_fd = out_fd};
    int r;

    x.session = mcp_session_new(srv);
    if (!x.session)
        return -ENOMEM;
    x.sink = (struct mcp_sink){send_line, &x, NULL};
    pthread_mutex_init(&x.out_lock, NULL);
    pthread_mutex_init(&x.lock, NULL);
    pthread_cond_init(&x.cond, NULL);
    r = read_loop(&x, in_fd);
    mcp_session_close(x.session); /* nobody can answer a client request any more */
    join_workers(&x);
    mcp_session_unref(x.session);
    pthread_mutex_destroy(&x.out_lock);
    pthread_mutex_destroy(&x.lock);
    pthread_cond_destroy(&x.cond);
    return r;
}
