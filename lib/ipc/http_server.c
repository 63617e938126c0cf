/* The libmicrohttpd transport of the HTTP server: unix or TCP listener, event threads with
 * suspended connections for blocking and deferred requests (one thread per connection for raw
 * handlers), body accumulation with a cap, peer credentials. Routing lives in router.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/limits.h"
#include "errors.h"
#include "http_server.h"

struct osm_http_server {
    struct MHD_Daemon *mhd;
    struct osm_http_server_config cfg;
    char *unix_path;
    bool pool; /* event threads, rather than one thread per connection (raw, per_connection) */
    pthread_mutex_t mu;
    pthread_cond_t drained;
    unsigned held; /* requests suspended for a blocking handler or a deferred answer, until done */
    /* Blocking requests waiting for a worker, and the workers (see run_blocking). */
    struct pending *work_head, *work_tail;
    unsigned queued;
    unsigned workers;
    unsigned idle_workers;
    bool stopping;
    pthread_cond_t work;
};

enum pending_state {
    PENDING_COLLECTING, /* reading the body */
    PENDING_WAITING,    /* suspended: a blocking handler runs, or the answer was deferred */
    PENDING_ANSWERED,   /* resumed with an answer to send */
};

/* One request, from its first header to its completion (MHD's con_cls). */
struct pending {
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
    bool held; /* counted in osm_http_server.held */
    enum pending_state state;
    struct osm_http_server *s;
    struct MHD_Connection *conn;
    struct osm_request req; /* for a blocking or deferred request: lives until completion */
    const char *content_type;
    json_t *answer; /* a deferred answer, serialized on the event thread */
    char *out;      /* a blocking handler's serialized answer */
    size_t out_len;
    struct pending *next_work; /* in the server's queue of blocking requests */
};

/* Open connections served by the calling event thread (each connection stays on the thread that
 * accepted it). */
static __thread unsigned conns_on_thread;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        conns_on_thread++;
    else if (conns_on_thread > 0)
        conns_on_thread--;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct osm_request *req = cls;

    if (req->n_query == OSM_HTTP_MAX_QUERY_ARGS) {
        req->n_query++; /* one past the end marks "too many" */
        return MHD_NO;
    }
    req->query[req->n_query].key = key;
    req->query[req->n_query].value = value ? value : "";
    req->n_query++;
    return MHD_YES;
}

static void peer_credentials(struct MHD_Connection *conn, struct ucred *peer)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    socklen_t len = sizeof(*peer);

    memset(peer, 0, sizeof(*peer));
    peer->uid = (uid_t)-1;
    peer->gid = (gid_t)-1;
    if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, peer, &len) < 0) {
        peer->pid = 0;
        peer->uid = (uid_t)-1;
    }
}

static enum MHD_Result send_body(struct MHD_Connection *conn, int status, char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body,
                                           body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *code,
                                  const char *msg)
{
    json_t *e = osm_error(NULL, status, code, NULL, "%s", msg);
    char *s = json_dumps(e, JSON_COMPACT);

    json_decref(e);
    return send_body(conn, status, s, s ? strlen(s) : 0);
}

/* Appends an upload chunk, remembering (not storing) anything past the cap. */
static void accumulate(struct pending *p, const char *data, size_t n, size_t max)
{
    if (p->too_large || p->len + n > max) {
        p->too_large = true;
        return;
    }
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n + 1)
            cap *= 2;
        char *nb = realloc(p->body, cap);
        if (!nb) {
            p->too_large = true; /* cannot hold it: refuse like an oversized body */
            return;
        }
        p->body = nb;
        p->cap = cap;
    }
    memcpy(p->body + p->len, data, n);
    p->len += n;
}

/* Fills req from the connection; an error status (with *ret_msg) when the request is refused. */
static int request_prepare(struct osm_http_server *s, struct MHD_Connection *conn,
                           struct osm_request *req, const char **ret_msg)
{
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, req);
    if (req->n_query > OSM_HTTP_MAX_QUERY_ARGS) {
        *ret_msg = "too many query parameters";
        return 400;
    }
    if (strlen(req->path) > OSM_HTTP_PATH_MAX) {
        *ret_msg = "request path too long";
        return 414;
    }
    peer_credentials(conn, &req->peer);
    return 0;
}

static void hold(struct pending *p)
{
    pthread_mutex_lock(&p->s->mu);
    p->s->held++;
    pthread_mutex_unlock(&p->s->mu);
    p->held = true;
}

static void unhold(struct pending *p)
{
    pthread_mutex_lock(&p->s->mu);
    if (--p->s->held == 0)
        pthread_cond_broadcast(&p->s->drained);
    pthread_mutex_unlock(&p->s->mu);
}

/* Blocking requests run on worker threads: an idle worker takes the next one, and a new worker
 * starts whenever none is idle, so every blocking request has a thread of its own and none
 * waits behind another. A worker idle for OSM_HTTP_WORKER_IDLE_S exits; reusing them saves a
 * thread creation per request. */
static void run_blocking(struct pending *p)
{
    osm_http_dispatch(&p->s->cfg, &p->req, p->content_type, p->body ? p->body : "", p->len, &p->out,
                      &p->out_len);
    p->state = PENDING_ANSWERED;
    MHD_resume_connection(p->conn);
}

/* Waits as an idle worker; false when the worker should exit (idle too long, or the server
 * stops). Called with mu held. */
static bool worker_wait(struct osm_http_server *s)
{
    struct timespec deadline;
    int r = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += OSM_HTTP_WORKER_IDLE_S;
    s->idle_workers++;
    while (!s->work_head && !s->stopping && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&s->work, &s->mu, &deadline);
    s->idle_workers--;
    return s->work_head != NULL;
}

static void *worker_main(void *arg)
{
    struct osm_http_server *s = arg;
    struct pending *p;

    pthread_setname_np(pthread_self(), "http-worker");
    pthread_mutex_lock(&s->mu);
    while (s->work_head || worker_wait(s)) {
        p = s->work_head;
        s->work_head = p->next_work;
        if (!s->work_head)
            s->work_tail = NULL;
        s->queued--;
        pthread_mutex_unlock(&s->mu);
        run_blocking(p);
        pthread_mutex_lock(&s->mu);
    }
    if (--s->workers == 0)
        pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int worker_spawn(struct osm_http_server *s)
{
    pthread_attr_t attr;
    pthread_t t;
    int r;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, OSM_HTTP_THREAD_STACK);
    r = -pthread_create(&t, &attr, worker_main, s);
    pthread_attr_destroy(&attr);
    return r;
}

/* Queues p for a worker, starting one when none is idle for it. Called with mu held; fails only
 * when no worker exists to take p (then p is not queued). */
static int worker_queue(struct osm_http_server *s, struct pending *p)
{
    p->next_work = NULL;
    if (s->work_tail)
        s->work_tail->next_work = p;
    else
        s->work_head = p;
    s->work_tail = p;
    s->queued++;
    if (s->idle_workers >= s->queued) {
        pthread_cond_signal(&s->work);
        return 0;
    }
    if (worker_spawn(s) == 0) {
        s->workers++;
        return 0;
    }
    if (s->workers > 0)
        return 0; /* no thread to spare: the next free worker takes it */
    s->work_head = s->work_tail = NULL;
    s->queued = 0;
    return -EAGAIN;
}

/* Suspends the connection and hands the request to a worker thread. */
static enum MHD_Result dispatch_blocking(struct pending *p)
{
    struct osm_http_server *s = p->s;
    int r;

    hold(p);
    p->state = PENDING_WAITING;
    MHD_suspend_connection(p->conn);
    pthread_mutex_lock(&s->mu);
    r = worker_queue(s, p);
    pthread_mutex_unlock(&s->mu);
    if (r < 0) {
        p->req.status = 503;
        p->answer = osm_error(&p->req, 503, "unavailable", NULL, "no thread for the request");
        p->state = PENDING_ANSWERED;
        MHD_resume_connection(p->conn);
    }
    return MHD_YES;
}

static enum MHD_Result dispatch(struct osm_http_server *s, struct pending *p, const char *url,
                                const char *method)
{
    struct osm_request *req = &p->req;
    const char *msg;
    char *out;
    size_t out_len;
    int status;

    *req = (struct osm_request){.method = method, .path = url, .operator= s->cfg.operator};
    status = request_prepare(s, p->conn, req, &msg);
    if (status)
        return send_error(p->conn, status, status == 400 ? "bad_request" : "uri_too_long", msg);
    p->content_type = MHD_lookup_connection_value(p->conn, MHD_HEADER_KIND, "Content-Type");
    if (s->pool && (osm_http_route_flags(&s->cfg, method, url) & OSM_ROUTE_BLOCKING))
        return dispatch_blocking(p);
    req->conn_ = s->pool ? p : NULL;
    status = osm_http_dispatch(&s->cfg, req, p->content_type, p->body ? p->body : "", p->len, &out,
                               &out_len);
    if (req->deferred_)
        return MHD_YES; /* suspended by osm_request_defer() */
    return send_body(p->conn, status, out, out_len);
}

bool osm_request_may_wait(const struct osm_request *req)
{
    const struct pending *p = req->conn_;

    return !p || conns_on_thread <= 1;
}

struct osm_deferred *osm_request_defer(struct osm_request *req)
{
    struct pending *p = req->conn_;

    if (!p || p->state != PENDING_COLLECTING)
        return NULL;
    hold(p);
    p->state = PENDING_WAITING;
    req->deferred_ = true;
    MHD_suspend_connection(p->conn);
    return (struct osm_deferred *)p;
}

void osm_deferred_answer(struct osm_deferred *d, int status, json_t *body)
{
    struct pending *p = (struct pending *)d;

    p->req.status = status;
    p->answer = body;
    p->state = PENDING_ANSWERED;
    MHD_resume_connection(p->conn);
}

void osm_deferred_answer_text(struct osm_deferred *d, int status, char *text)
{
    struct pending *p = (struct pending *)d;

    p->req.status = status;
    p->out = text;
    p->out_len = text ? strlen(text) : 0;
    p->state = PENDING_ANSWERED;
    MHD_resume_connection(p->conn);
}

/* Sends the answer of a resumed request (blocking or deferred). */
static enum MHD_Result send_resumed(struct pending *p)
{
    int status;

    if (p->out) {
        status = p->req.status;
        return send_body(p->conn, status, TAKE_PTR(p->out), p->out_len);
    }
    status = osm_http_serialize(&p->req, TAKE_PTR(p->answer), &p->out, &p->out_len);
    return send_body(p->conn, status, TAKE_PTR(p->out), p->out_len);
}

const char *osm_raw_header(const struct osm_raw_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

const char *osm_raw_query(const struct osm_raw_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, key);
}

static void peer_address(struct MHD_Connection *conn, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    buf[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
}

/* The upgraded connection: MHD gives the socket back at once and the handler keeps a duplicate,
 * so MHD's connection thread ends instead of waiting for the protocol's end (a WebSocket lives
 * for hours: 500 of them must not hold 500 threads). */
struct upgrade_hand_off {
    void (*fn)(void *cls, int fd, const char *extra, size_t extra_len);
    void *cls;
};

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
                        size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct upgrade_hand_off *h = cls;
    int fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);

    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    if (fd >= 0)
        h->fn(h->cls, fd, extra, extra_len);
    else
        h->fn(h->cls, -1, NULL, 0);
    free(h);
}

static struct MHD_Response *raw_upgrade_response(struct osm_raw_response *out)
{
    struct upgrade_hand_off *h = malloc(sizeof(*h));
    struct MHD_Response *resp;

    free(out->body);
    out->body = NULL;
    if (!h)
        return NULL;
    *h = (struct upgrade_hand_off){out->upgrade, out->upgrade_cls};
    resp = MHD_create_response_for_upgrade(on_upgraded, h);
    if (!resp)
        free(h);
    return resp;
}

int osm_raw_response_header(struct osm_raw_response *resp, const char *name, const char *value)
{
    size_t i = resp->n_headers;

    if (i == OSM_RAW_MAX_HEADERS || strlen(name) >= sizeof(resp->headers[i].name) ||
        strlen(value) >= sizeof(resp->headers[i].value))
        return -E2BIG;
    strcpy(resp->headers[i].name, name);
    strcpy(resp->headers[i].value, value);
    resp->n_headers++;
    return 0;
}

static struct MHD_Response *raw_make_response(struct osm_raw_response *out)
{
    struct MHD_Response *resp;

    if (out->upgrade && out->status == 101)
        return raw_upgrade_response(out);
    if (out->stream) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, out->stream,
                                                 out->stream_cls, out->stream_free);
        if (!resp && out->stream_free)
            out->stream_free(out->stream_cls);
        free(out->body);
        return resp;
    }
    resp = MHD_create_response_from_buffer(
        out->body_len, out->body, out->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(out->body);
    return resp;
}

/* Hands the request to the raw handler and sends what it built. */
static enum MHD_Result dispatch_raw(struct osm_http_server *s, struct MHD_Connection *conn,
                                    const char *url, const char *method, struct pending *p)
{
    struct osm_raw_request req = {.method = method,
                                  .path = url,
                                  .body = p->body ? p->body : "",
                                  .body_len = p->len,
                                  .userdata = s->cfg.userdata,
                                  .conn_ = conn};
    struct osm_raw_response out = {0};
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (p->body)
        p->body[p->len] = '\0';
    peer_credentials(conn, &req.peer);
    peer_address(conn, req.peer_addr, sizeof(req.peer_addr));
    s->cfg.raw(&req, &out);
    resp = raw_make_response(&out);
    if (!resp)
        return MHD_NO;
    if (out.body || out.stream || out.content_type)
        MHD_add_response_header(resp, "Content-Type",
                                out.content_type ? out.content_type : "application/json");
    for (size_t i = 0; i < out.n_headers; i++)
        MHD_add_response_header(resp, out.headers[i].name, out.headers[i].value);
    ret = MHD_queue_response(conn, out.status ? (unsigned)out.status : 500, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decoding of the path and query, in place, except %00: a NUL would cut the string
 * every handler sees ("/static/a.html%00.js" would name a.html), so it stays encoded and
 * matches nothing. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;

    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hex_digit(r[1])) >= 0 && (lo = hex_digit(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct osm_http_server *s = cls;
    struct pending *p = *con_cls;

    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return MHD_NO;
        p->s = s;
        p->conn = conn;
        *con_cls = p;
        return MHD_YES;
    }
    if (p->state == PENDING_ANSWERED)
        return send_resumed(p);
    if (*upload_data_size > 0) {
        accumulate(p, upload_data, *upload_data_size, s->cfg.body_max);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (p->state == PENDING_WAITING)
        return MHD_YES; /* not answered yet (cannot happen while suspended) */
    if (p->too_large)
        return send_error(conn, 413, "too_large", "request body exceeds the size limit");
    if (s->cfg.raw)
        return dispatch_raw(s, conn, url, method, p);
    return dispatch(s, p, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pending *p = *con_cls;

    if (!p)
        return;
    if (p->held)
        unhold(p);
    json_decref(p->answer);
    free(p->out);
    free(p->body);
    free(p);
    *con_cls = NULL;
}

/* Routes: one epoll thread per CPU (at most OSM_HTTP_POOL_THREADS_MAX), connections suspended while
 * a blocking handler runs or an answer is deferred. Raw handlers (streams that block): one thread
 * per connection. */
static int start_mhd(struct osm_http_server *s, int listen_fd)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = 0;

    if (s->pool) {
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        pool = cpus < 1 ? 1 : cpus > OSM_HTTP_POOL_THREADS_MAX ? OSM_HTTP_POOL_THREADS_MAX : cpus;
    } else
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_ALLOW_UPGRADE;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, s, MHD_OPTION_CONNECTION_LIMIT,
        s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)OSM_HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)OSM_HTTP_THREAD_STACK, pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
        pool, MHD_OPTION_END);
    return s->mhd ? 0 : -EIO;
}

static struct osm_http_server *server_new(const struct osm_http_server_config *cfg)
{
    struct osm_http_server *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->pool = !cfg->raw && !cfg->per_connection;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->drained, NULL);
    pthread_cond_init(&s->work, NULL);
    if (!s->cfg.body_max)
        s->cfg.body_max = OSM_BODY_MAX;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = OSM_HTTP_MAX_CONNECTIONS;
    return s;
}

static void server_free(struct osm_http_server *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->drained);
    pthread_cond_destroy(&s->work);
    free(s->unix_path);
    free(s);
}

/* Removes path if it is a socket nobody listens on; -EADDRINUSE if a daemon answers. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (r == 0)
        return -EADDRINUSE;
    return unlink(path) < 0 ? -errno : 0;
}

static int listen_unix(const char *path, mode_t mode)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    r = remove_stale_socket(path, &sa);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    old = umask(077);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || chmod(path, mode) < 0 || listen(fd, 256) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int osm_http_server_start_unix(const struct osm_http_server_config *cfg, const char *path,
                               mode_t mode, struct osm_http_server **ret)
{
    struct osm_http_server *s = server_new(cfg);
    int fd, r;

    if (!s)
        return -ENOMEM;
    fd = listen_unix(path, mode);
    if (fd < 0) {
        server_free(s);
        return fd;
    }
    s->unix_path = strdup(path);
    r = s->unix_path ? start_mhd(s, fd) : -ENOMEM;
    if (r < 0) {
        close(fd);
        unlink(path);
        server_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

static int listen_tcp(const char *addr, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int fd, one = 1;

    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof(*in6);
    } else {
        return -EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 256) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int osm_http_server_start_tcp(const struct osm_http_server_config *cfg, const char *addr,
                              uint16_t port, struct osm_http_server **ret)
{
    struct osm_http_server *s = server_new(cfg);
    int fd, r;

    if (!s)
        return -ENOMEM;
    fd = listen_tcp(addr, port);
    if (fd < 0) {
        server_free(s);
        return fd;
    }
    r = start_mhd(s, fd);
    if (r < 0) {
        close(fd);
        server_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void osm_http_server_stop(struct osm_http_server *s)
{
    MHD_socket fd;

    if (!s)
        return;
    fd = MHD_quiesce_daemon(s->mhd); /* stop accepting; running requests finish below */
    pthread_mutex_lock(&s->mu);      /* suspended connections must be resumed and answered first */
    while (s->held > 0)
        pthread_cond_wait(&s->drained, &s->mu);
    s->stopping = true; /* idle workers exit */
    pthread_cond_broadcast(&s->work);
    while (s->workers > 0)
        pthread_cond_wait(&s->drained, &s->mu);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    if (s->unix_path)
        unlink(s->unix_path);
    server_free(s);
}
