/* The stdio transport: newline-delimited JSON-RPC on stdin/stdout, one session. Nothing but
 * JSON-RPC messages is ever written to out_fd (logs go to stderr). Requests run on their own
 * threads so that a tool waiting for the client (sampling, elicitation) does not stop the
 * reader that will receive the answer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "mcp.h"

struct stdio_ctx {
    const struct mcp_server *srv;
    struct mcp_session *session;
    int out_fd;
    bool out_broken;
    pthread_mutex_t out_lock;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned inflight;
    struct mcp_sink sink;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The sink of every request: one line per message, whole lines only. */
static int send_line(void *ud, const json_t *msg)
{
    struct stdio_ctx *x = ud;
    char *s = json_dumps(msg, JSON_COMPACT);
    int r;

    if (!s)
        return -ENOMEM;
    pthread_mutex_lock(&x->out_lock);
    r = x->out_broken ? -EPIPE : write_all(x->out_fd, s, strlen(s));
    if (r == 0)
        r = write_all(x->out_fd, "\n", 1);
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

struct job {
    struct stdio_ctx *x;
    json_t *msg;
};

static void *run_request(void *arg)
{
    struct job *j = arg;
    struct stdio_ctx *x = j->x;

    send_and_free(x, mcp_session_handle(x->session, j->msg, &x->sink));
    json_decref(j->msg);
    free(j);
    pthread_mutex_lock(&x->lock);
    x->inflight--;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

/* Starts a request on its own thread (waits while MCP_INFLIGHT_MAX are running). */
static void start_request(struct stdio_ctx *x, json_t *msg)
{
    struct job *j = malloc(sizeof(*j));
    pthread_attr_t attr;
    pthread_t t;

    pthread_mutex_lock(&x->lock);
    while (x->inflight >= MCP_INFLIGHT_MAX)
        pthread_cond_wait(&x->cond, &x->lock);
    x->inflight++;
    pthread_mutex_unlock(&x->lock);
    if (!j) {
        json_t *e =
            mcp_error_response(json_object_get(msg, "id"), MCP_ERR_INTERNAL, "out of memory", NULL);
        send_and_free(x, e);
        json_decref(msg);
        pthread_mutex_lock(&x->lock);
        x->inflight--;
        pthread_mutex_unlock(&x->lock);
        return;
    }
    *j = (struct job){x, msg};
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, run_request, j) != 0)
        run_request(j); /* no thread: answer inline */
    pthread_attr_destroy(&attr);
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
    pthread_mutex_lock(&x.lock);
    while (x.inflight > 0)
        pthread_cond_wait(&x.cond, &x.lock);
    pthread_mutex_unlock(&x.lock);
    mcp_session_unref(x.session);
    pthread_mutex_destroy(&x.out_lock);
    pthread_mutex_destroy(&x.lock);
    pthread_cond_destroy(&x.cond);
    return r;
}
