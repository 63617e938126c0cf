/* WebSocket connections (gw-ws.h): wslay does the framing; this file owns the sockets, one epoll
 * thread for all of them, the heartbeat, the idle close, backpressure and the queue through
 * which other threads send. A connection's wslay context is touched only by the ws thread; other
 * threads append to the connection's outbox under its lock and wake the thread with an eventfd.
 * Timers are epoll_wait's timeout, computed from the nearest deadline. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/utf8.h"
#include "crypto/encoding.h"
#include "gw-ws.h"

#define WS_EVENTS_MAX 64
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define WS_CLOSE_WAIT_MS 5000 /* how long a close we sent waits for the peer's */
#define WS_TIMER_SLACK_MS 250 /* deadlines this close are served together */
#define WS_TRIM_AFTER_MS 1000 /* quiet time after new connections before memory is trimmed */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CODE_IDLE 4003
#define WS_CODE_NO_PONG 4002

struct out_msg {
    struct out_msg *next;
    size_t len;
    char data[];
};

struct gw_ws_conn {
    struct gw_ws *ws; /* NULL once the part is gone */
    atomic_int refs;
    const struct gw_ws_handlers *h;
    void *ud;

    /* the ws thread's alone */
    int fd;
    wslay_event_context_ptr ctx;
    uint8_t *extra; /* bytes read past the handshake, served first */
    size_t extra_len, extra_off;
    bool eof, finished;
    uint32_t events;                                /* what epoll watches for */
    int64_t last_msg_ms, next_ping_ms, close_by_ms; /* close_by_ms: 0 unless we closed */
    bool ping_unanswered;
    struct gw_ws_conn *prev, *next; /* the thread's list */

    /* shared, under lock */
    pthread_mutex_t lock;
    struct out_msg *out_head, *out_tail;
    size_t out_bytes, wire_bytes; /* in the outbox; still in wslay's queue */
    bool closed, paused, dirty, close_req;
    uint16_t close_code;
    char close_reason[123];
    uint64_t dropped_now; /* dropped during the current pause */
    struct gw_ws_conn *dirty_next;
};

struct gw_ws {
    int epfd, evfd;
    unsigned ping_s, idle_s;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock; /* incoming, dirty, n, stop */
    struct gw_ws_conn *incoming, *dirty;
    size_t n;
    bool stop;

    struct gw_ws_conn *conns; /* the ws thread's list */
    int64_t trim_at;          /* when to give back what the handshakes' threads left: 0 none */
    _Atomic uint64_t open, opened, closed_idle, dropped_paused, messages_in, messages_out;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the handshake ------------------------------------------------------------------------ */

int gw_ws_accept_key(const char *key, char out[static 29])
{
    uint8_t raw[18], digest[EVP_MAX_MD_SIZE];
    char buf[64];
    unsigned dlen = 0;
    size_t n;

    if (!key || strlen(key) != 24 || osm_base64_decode(key, 24, raw, sizeof(raw), &n) < 0 ||
        n != 16)
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    if (EVP_Digest(buf, strlen(buf), digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20)
        return -EIO;
    return osm_base64_encode(digest, 20, out, 29) < 0 ? -EIO : 0;
}

/* ---- references --------------------------------------------------------------------------- */

static void outbox_free(struct gw_ws_conn *c)
{
    for (struct out_msg *m = c->out_head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

void gw_ws_conn_ref(struct gw_ws_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void gw_ws_conn_unref(struct gw_ws_conn *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    outbox_free(c);
    pthread_mutex_destroy(&c->lock);
    free(c->extra);
    free(c);
}

/* ---- the outbox (any thread) -------------------------------------------------------------- */

static void wake(struct gw_ws *w)
{
    uint64_t one = 1;

    if (write(w->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("ws.wake", "error=%d", -errno);
}

/* Puts c on the dirty list (c->lock held) so that the ws thread looks at it. */
static void mark_dirty(struct gw_ws_conn *c)
{
    struct gw_ws *w = c->ws;

    if (c->dirty)
        return;
    c->dirty = true;
    gw_ws_conn_ref(c);
    pthread_mutex_lock(&w->lock);
    c->dirty_next = w->dirty;
    w->dirty = c;
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

static int outbox_append(struct gw_ws_conn *c, const char *text, size_t len)
{
    struct out_msg *m = malloc(sizeof(*m) + len);

    if (!m)
        return -ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->data, text, len);
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    c->out_bytes += len;
    return 0;
}

#define PAUSE_MSG "{\"type\":\"backpressure_pause\"}"

static int send_text(struct gw_ws_conn *c, const char *text, size_t len, bool always)
{
    int r;

    pthread_mutex_lock(&c->lock);
    if (c->closed || c->close_req || !c->ws) {
        r = -EPIPE;
    } else if (c->paused && always) {
        if ((r = outbox_append(c, text, len)) == 0)
            mark_dirty(c);
    } else if (c->paused) {
        c->dropped_now++;
        atomic_fetch_add(&c->ws->dropped_paused, 1);
        r = -EAGAIN;
    } else if ((r = outbox_append(c, text, len)) == 0) {
        if (c->out_bytes + c->wire_bytes > GW_WS_PAUSE_BYTES) {
            c->paused = true;
            c->dropped_now = 0;
            r = outbox_append(c, PAUSE_MSG, strlen(PAUSE_MSG));
        }
        mark_dirty(c);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

int gw_ws_send_text(struct gw_ws_conn *c, const char *text, size_t len)
{
    return send_text(c, text, len, false);
}

int gw_ws_send_text_always(struct gw_ws_conn *c, const char *text, size_t len)
{
    return send_text(c, text, len, true);
}

void gw_ws_close(struct gw_ws_conn *c, uint16_t code, const char *reason)
{
    pthread_mutex_lock(&c->lock);
    if (!c->closed && !c->close_req && c->ws) {
        c->close_req = true;
        c->close_code = code;
        snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
        mark_dirty(c);
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- wslay's callbacks (ws thread) -------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct gw_ws_conn *c = user_data;
    ssize_t n;

    (void)flags;
    if (c->extra_off < c->extra_len) {
        n = (ssize_t)MIN(len, c->extra_len - c->extra_off);
        memcpy(buf, c->extra + c->extra_off, (size_t)n);
        c->extra_off += (size_t)n;
        return n;
    }
    if (c->fd < 0) { /* fed from memory (gw_ws_feed): the bytes are all there is */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    n = recv(c->fd, buf, len, 0);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->eof = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct gw_ws_conn *c = user_data;
    ssize_t n;

    if (c->fd < 0)
        return (ssize_t)len;
    n = send(c->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void fail(struct gw_ws_conn *c, uint16_t code, const char *reason)
{
    wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, strlen(reason));
    wslay_event_shutdown_read(c->ctx);
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user_data)
{
    (void)ctx;
    if (arg->payload_length > GW_WS_FRAME_MAX)
        fail(user_data, WSLAY_CODE_MESSAGE_TOO_BIG, "frame too big");
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user_data)
{
    struct gw_ws_conn *c = user_data;

    (void)ctx;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (!osm_utf8_valid((const char *)arg->msg, arg->msg_length)) {
            fail(c, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "invalid UTF-8");
            return;
        }
        c->last_msg_ms = now_ms();
        if (c->ws)
            atomic_fetch_add(&c->ws->messages_in, 1);
        if (c->h && c->h->on_text)
            c->h->on_text(c, (const char *)arg->msg, arg->msg_length, c->ud);
        break;
    case WSLAY_BINARY_FRAME:
        fail(c, WSLAY_CODE_UNSUPPORTED_DATA, "text messages only");
        break;
    case WSLAY_PONG:
        c->ping_unanswered = false;
        break;
    default: /* ping: wslay answers; close: wslay replies */
        break;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .on_frame_recv_start_callback = on_frame_start,
    .on_msg_recv_callback = on_msg,
};

static int conn_init_ctx(struct gw_ws_conn *c)
{
    if (wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0)
        return -ENOMEM;
    wslay_event_config_set_max_recv_msg_length(c->ctx, GW_WS_FRAME_MAX);
    return 0;
}

/* ---- the ws thread ------------------------------------------------------------------------ */

static void conn_finish(struct gw_ws *w, struct gw_ws_conn *c)
{
    if (c->finished)
        return;
    c->finished = true;
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    outbox_free(c);
    pthread_mutex_unlock(&c->lock);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_lock(&w->lock);
    w->n--;
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_sub(&w->open, 1);
    if (c->h && c->h->on_close)
        c->h->on_close(c, c->ud);
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    c->ctx = NULL;
    gw_ws_conn_unref(c); /* the thread's reference */
}

/* Queues a close we start: the peer has WS_CLOSE_WAIT_MS to answer. */
static void conn_close(struct gw_ws_conn *c, uint16_t code, const char *reason)
{
    if (wslay_event_get_close_sent(c->ctx) || c->close_by_ms)
        return;
    wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, strlen(reason));
    c->close_by_ms = now_ms() + WS_CLOSE_WAIT_MS;
}

/* Moves the outbox into wslay's queue and handles a close asked by another thread. */
static void conn_take_outbox(struct gw_ws *w, struct gw_ws_conn *c)
{
    struct out_msg *m;
    bool close_req;
    uint16_t code;
    char reason[sizeof(c->close_reason)];

    pthread_mutex_lock(&c->lock);
    m = c->out_head;
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
    close_req = c->close_req;
    code = c->close_code;
    memcpy(reason, c->close_reason, sizeof(reason));
    pthread_mutex_unlock(&c->lock);
    for (struct out_msg *next; m; m = next) {
        struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)m->data, m->len};
        next = m->next;
        if (wslay_event_queue_msg(c->ctx, &msg) == 0)
            atomic_fetch_add(&w->messages_out, 1);
        free(m);
    }
    if (close_req)
        conn_close(c, code, reason);
}

/* Tells a paused client it may read again, once the queue is short. */
static void conn_maybe_resume(struct gw_ws_conn *c, size_t wire)
{
    char msg[96];
    uint64_t dropped = 0;
    bool resume = false;

    pthread_mutex_lock(&c->lock);
    c->wire_bytes = wire;
    if (c->paused && c->out_bytes + wire < GW_WS_RESUME_BYTES) {
        c->paused = false;
        resume = true;
        dropped = c->dropped_now;
    }
    pthread_mutex_unlock(&c->lock);
    if (resume) {
        int n = snprintf(msg, sizeof(msg), "{\"type\":\"backpressure_resume\",\"dropped\":%llu}",
                         (unsigned long long)dropped);
        struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)msg, (size_t)n};
        wslay_event_queue_msg(c->ctx, &m);
    }
}

/* After any event: send what can be sent, finish a connection that is done, watch for EPOLLOUT
 * only while something waits. */
static void conn_update(struct gw_ws *w, struct gw_ws_conn *c)
{
    uint32_t events;

    if (c->eof || (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) < 0)) {
        conn_finish(w, c);
        return;
    }
    conn_maybe_resume(c, wslay_event_get_queued_msg_length(c->ctx));
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) < 0) {
        conn_finish(w, c);
        return;
    }
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx)) {
        conn_finish(w, c);
        return;
    }
    events = (wslay_event_want_read(c->ctx) ? EPOLLIN | EPOLLRDHUP : 0) |
             (wslay_event_want_write(c->ctx) ? EPOLLOUT : 0);
    if (events != c->events) {
        struct epoll_event ev = {.events = events, .data.ptr = c};
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->events = events;
    }
}

static void conn_event(struct gw_ws *w, struct gw_ws_conn *c, uint32_t events)
{
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && wslay_event_want_read(c->ctx) &&
        wslay_event_recv(c->ctx) < 0) {
        conn_finish(w, c);
        return;
    }
    if ((events & (EPOLLHUP | EPOLLERR)) && !wslay_event_want_read(c->ctx))
        c->eof = true;
    conn_update(w, c);
}

/* New connections into the thread's list; dirty ones have their outboxes moved. */
static void take_shared(struct gw_ws *w)
{
    struct gw_ws_conn *in, *dirty;

    pthread_mutex_lock(&w->lock);
    in = w->incoming;
    dirty = w->dirty;
    w->incoming = w->dirty = NULL;
    pthread_mutex_unlock(&w->lock);
    if (in)
        w->trim_at = now_ms() + WS_TRIM_AFTER_MS;
    for (struct gw_ws_conn *c = in, *next; c; c = next) {
        next = c->next;
        c->prev = NULL;
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        if (conn_init_ctx(c) < 0) {
            log_warn("ws.adopt", "error=%d reason=\"no memory for the connection\"", -ENOMEM);
            conn_finish(w, c);
        } else if (c->extra_len) {
            conn_event(w, c, EPOLLIN);
        }
    }
    for (struct gw_ws_conn *c = dirty, *next; c; c = next) {
        next = c->dirty_next;
        pthread_mutex_lock(&c->lock);
        c->dirty = false;
        pthread_mutex_unlock(&c->lock);
        if (!c->finished) {
            conn_take_outbox(w, c);
            conn_update(w, c);
        }
        gw_ws_conn_unref(c);
    }
}

static void conn_timers(struct gw_ws *w, struct gw_ws_conn *c, int64_t now)
{
    if (c->close_by_ms) {
        if (now >= c->close_by_ms)
            conn_finish(w, c);
        return;
    }
    if (now >= c->last_msg_ms + (int64_t)w->idle_s * 1000) {
        atomic_fetch_add(&w->closed_idle, 1);
        conn_close(c, WS_CODE_IDLE, "idle");
    } else if (now >= c->next_ping_ms) {
        if (c->ping_unanswered) {
            conn_close(c, WS_CODE_NO_PONG, "no pong");
        } else {
            struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
            wslay_event_queue_msg(c->ctx, &ping);
            c->ping_unanswered = true;
        }
        c->next_ping_ms = now + (int64_t)w->ping_s * 1000;
    }
    conn_update(w, c);
}

/* Serves every deadline within the slack; returns epoll_wait's timeout for the next. */
static int run_timers(struct gw_ws *w)
{
    int64_t now = now_ms(), next = INT64_MAX;

    for (struct gw_ws_conn *c = w->conns, *n; c; c = n) {
        int64_t d;
        n = c->next;
        d = c->close_by_ms ? c->close_by_ms
                           : MIN(c->next_ping_ms, c->last_msg_ms + (int64_t)w->idle_s * 1000);
        if (d <= now + WS_TIMER_SLACK_MS) {
            conn_timers(w, c, now);
            if (c->finished)
                continue;
            d = c->close_by_ms ? c->close_by_ms
                               : MIN(c->next_ping_ms, c->last_msg_ms + (int64_t)w->idle_s * 1000);
        }
        next = MIN(next, d);
    }
    /* Each handshake ran on an HTTP thread whose buffers (tens of KB) are freed around the
     * small records a socket keeps: once a burst of connections is over, the free pages go back */
    if (w->trim_at && now >= w->trim_at) {
        malloc_trim(0);
        w->trim_at = 0;
    }
    if (w->trim_at)
        next = MIN(next, w->trim_at);
    if (next == INT64_MAX)
        return -1;
    return next <= now ? 0 : (int)MIN(next - now, 3600 * 1000);
}

static void shutdown_all(struct gw_ws *w)
{
    take_shared(w);
    while (w->conns) {
        struct gw_ws_conn *c = w->conns;
        if (c->ctx && !wslay_event_get_close_sent(c->ctx)) {
            conn_take_outbox(w, c);
            wslay_event_queue_close(c->ctx, WSLAY_CODE_GOING_AWAY, (const uint8_t *)"going away",
                                    10);
            wslay_event_send(c->ctx);
        }
        conn_finish(w, c);
    }
}

static void *ws_thread(void *arg)
{
    struct gw_ws *w = arg;
    struct epoll_event evs[WS_EVENTS_MAX];
    int timeout = -1;

    for (;;) {
        int n = epoll_wait(w->epfd, evs, WS_EVENTS_MAX, timeout);
        struct gw_ws_conn *c;
        bool stop;

        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                if (read(w->evfd, &v, sizeof(v)) < 0)
                    log_debug("ws.wake", "error=%d", -errno);
                continue;
            }
            c = evs[i].data.ptr;
            if (!c->finished && c->ctx) /* a new one has its context made in take_shared */
                conn_event(w, c, evs[i].events);
        }
        pthread_mutex_lock(&w->lock);
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        take_shared(w);
        timeout = run_timers(w);
    }
    shutdown_all(w);
    return NULL;
}

/* ---- the part ----------------------------------------------------------------------------- */

int gw_ws_new(unsigned ping_s, unsigned idle_s, struct gw_ws **ret)
{
    struct gw_ws *w = calloc(1, sizeof(*w));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    if (!w)
        return -ENOMEM;
    w->ping_s = ping_s ? ping_s : GW_WS_PING_S;
    w->idle_s = idle_s ? idle_s : GW_WS_IDLE_S;
    pthread_mutex_init(&w->lock, NULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->epfd < 0 || w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) {
        int r = -errno;
        gw_ws_free(w);
        return r;
    }
    *ret = w;
    return 0;
}

int gw_ws_start(struct gw_ws *w)
{
    int r = pthread_create(&w->thread, NULL, ws_thread, w);

    if (r != 0)
        return -r;
    pthread_setname_np(w->thread, "gw-ws");
    w->started = true;
    return 0;
}

void gw_ws_free(struct gw_ws *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    if (w->started) {
        wake(w);
        pthread_join(w->thread, NULL);
    } else if (w->evfd >= 0) {
        shutdown_all(w);
    }
    /* no connection can reach the part any more */
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->evfd >= 0)
        close(w->evfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static struct gw_ws_conn *conn_new(struct gw_ws *w, int fd, const char *extra, size_t extra_len,
                                   const struct gw_ws_handlers *h, void *ud)
{
    struct gw_ws_conn *c = calloc(1, sizeof(*c));
    int64_t now = now_ms();

    if (!c)
        return NULL;
    c->ws = w;
    c->fd = fd;
    c->h = h;
    c->ud = ud;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    /* the ws thread makes the wslay context of a real connection (its memory then sits in that
     * thread's arena, not among the HTTP threads' short-lived allocations) */
    if ((extra_len && !(c->extra = malloc(extra_len))) || (!w && conn_init_ctx(c) < 0)) {
        gw_ws_conn_unref(c);
        return NULL;
    }
    if (extra_len)
        memcpy(c->extra, extra, extra_len);
    c->extra_len = extra_len;
    c->last_msg_ms = now;
    c->next_ping_ms = w ? now + (int64_t)w->ping_s * 1000 : 0;
    return c;
}

int gw_ws_adopt(struct gw_ws *w, int fd, const char *extra, size_t extra_len,
                const struct gw_ws_handlers *h, void *ud, struct gw_ws_conn **ret)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
    struct gw_ws_conn *c;
    int one = 1, r = 0;

    if (fd < 0)
        return -EBADF;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!(c = conn_new(w, fd, extra, extra_len, h, ud))) {
        close(fd);
        return -ENOMEM;
    }
    ev.data.ptr = c;
    c->events = ev.events;
    if (ret)
        *ret = c; /* before the thread can see it: on_text may run before this returns */
    pthread_mutex_lock(&w->lock);
    if (w->stop || w->n >= GW_WS_CONNS_MAX)
        r = w->stop ? -ESHUTDOWN : -EMFILE;
    else if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        r = -errno;
    if (r == 0) {
        c->next = w->incoming;
        w->incoming = c;
        w->n++;
    }
    pthread_mutex_unlock(&w->lock);
    if (r < 0) {
        if (ret)
            *ret = NULL;
        close(fd);
        gw_ws_conn_unref(c);
        return r;
    }
    atomic_fetch_add(&w->open, 1);
    atomic_fetch_add(&w->opened, 1);
    wake(w);
    return 0;
}

void gw_ws_get_stats(struct gw_ws *w, struct gw_ws_stats *ret)
{
    *ret = (struct gw_ws_stats){
        .open = atomic_load(&w->open),
        .opened = atomic_load(&w->opened),
        .closed_idle = atomic_load(&w->closed_idle),
        .dropped_paused = atomic_load(&w->dropped_paused),
        .messages_in = atomic_load(&w->messages_in),
        .messages_out = atomic_load(&w->messages_out),
    };
}

uint16_t gw_ws_feed(const uint8_t *data, size_t len, const struct gw_ws_handlers *h, void *ud)
{
    struct gw_ws_conn *c = conn_new(NULL, -1, (const char *)data, len, h, ud);
    uint16_t code = 0;

    if (!c)
        return 0;
    wslay_event_recv(c->ctx);
    wslay_event_send(c->ctx);
    if (wslay_event_get_close_sent(c->ctx))
        code = wslay_event_get_status_code_sent(c->ctx);
    wslay_event_context_free(c->ctx);
    c->ctx = NULL;
    if (h && h->on_close)
        h->on_close(c, ud);
    gw_ws_conn_unref(c);
    return code;
}
