/* The Streamable HTTP transport (MCP 2025-11-25) on /mcp, over lib/ipc's one HTTP server (a
 * unix socket and/or 127.0.0.1:PORT): DNS-rebinding checks on Host and Origin, bearer-token
 * auth, sessions (Mcp-Session-Id), and server-sent events (mcp-sse.c) for the messages a tool
 * call emits before its result (logging, progress, sampling and elicitation requests), the
 * session's GET stream, and resumption with Last-Event-ID. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "ipc/http_server.h"
#include "mcp.h"

struct session_slot {
    char id[33];
    struct mcp_session *s;
    struct mcp_sse_log *log; /* its event streams */
    time_t last_used;
};

/* A session found by its id, with references the caller drops with session_ref_clear. */
struct session_ref {
    struct mcp_session *s;
    struct mcp_sse_log *log;
};

struct mcp_http {
    const struct mcp_server *srv;
    char *token;
    bool no_auth;
    struct osm_http_server *tcp;
    struct osm_http_server *unix_srv;
    pthread_mutex_t lock;
    struct session_slot slots[MCP_SESSIONS_MAX];
};

/* ---- Host / Origin ---- */

static bool port_ok(const char *p)
{
    if (*p == '\0')
        return true;
    if (*p++ != ':' || *p == '\0' || strlen(p) > 5)
        return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

/* host[:port] where host is localhost, 127.0.0.1 or [::1]. */
static bool local_authority(const char *a, size_t len)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    char buf[64];

    if (len >= sizeof(buf))
        return false;
    memcpy(buf, a, len);
    buf[len] = '\0';
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(buf, names[i], n) == 0 && port_ok(buf + n))
            return true;
    }
    return false;
}

bool mcp_host_allowed(const char *host)
{
    return host && local_authority(host, strlen(host));
}

bool mcp_origin_allowed(const char *origin)
{
    const char *rest;

    if (!origin)
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return false;
    return local_authority(rest, strlen(rest));
}

bool mcp_addr_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* ---- responses ---- */

/* A JSON-RPC error as the HTTP body (id null: it answers the transport, not a request). */
static void reply_error(struct osm_raw_response *out, int status, int code, const char *msg)
{
    json_t *e = mcp_error_response(NULL, code, msg, NULL);

    out->status = status;
    out->body = e ? json_dumps(e, JSON_COMPACT) : NULL;
    out->body_len = out->body ? strlen(out->body) : 0;
    json_decref(e);
}

static void reply_json(struct osm_raw_response *out, json_t *msg)
{
    out->status = 200;
    out->body = json_dumps(msg, JSON_COMPACT);
    out->body_len = out->body ? strlen(out->body) : 0;
    if (!out->body)
        out->status = 500;
}

/* ---- sessions ---- */

static bool session_get(struct mcp_http *h, const char *id, struct session_ref *ret)
{
    *ret = (struct session_ref){0};
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < MCP_SESSIONS_MAX; i++)
        if (h->slots[i].s && strcmp(h->slots[i].id, id) == 0) {
            h->slots[i].last_used = time(NULL);
            ret->s = mcp_session_ref(h->slots[i].s);
            ret->log = mcp_sse_log_ref(h->slots[i].log);
            break;
        }
    pthread_mutex_unlock(&h->lock);
    return ret->s != NULL;
}

static void session_ref_clear(struct session_ref *r)
{
    mcp_session_unref(r->s);
    mcp_sse_log_unref(r->log);
    *r = (struct session_ref){0};
}

static void slot_clear(struct session_slot *slot)
{
    mcp_session_close(slot->s);
    mcp_sse_log_close(slot->log); /* ends its connections */
    mcp_session_unref(slot->s);
    mcp_sse_log_unref(slot->log);
    memset(slot, 0, sizeof(*slot));
}

/* Stores s under a fresh random id; a full table drops the least recently used session. */
static int session_add(struct mcp_http *h, struct mcp_session *s, char ret_id[static 33])
{
    uint8_t raw[16];
    struct session_slot *slot = NULL;
    time_t now = time(NULL);
    struct mcp_sse_log *log = mcp_sse_log_new(h->srv->sse_hold_ms);

    if (!log)
        return -ENOMEM;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(ret_id, 33, raw, sizeof(raw));
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < MCP_SESSIONS_MAX; i++) {
        struct session_slot *c = &h->slots[i];
        if (c->s && now - c->last_used > MCP_SESSION_IDLE_S)
            slot_clear(c);
        if (!c->s && !slot)
            slot = c;
    }
    if (!slot) {
        slot = &h->slots[0];
        for (size_t i = 1; i < MCP_SESSIONS_MAX; i++)
            if (h->slots[i].last_used < slot->last_used)
                slot = &h->slots[i];
        log_info("mcp_session_evicted", "idle_s=%ld", (long)(now - slot->last_used));
        slot_clear(slot);
    }
    memcpy(slot->id, ret_id, 33);
    slot->s = mcp_session_ref(s);
    slot->log = log;
    slot->last_used = now;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static bool session_remove(struct mcp_http *h, const char *id)
{
    bool found = false;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < MCP_SESSIONS_MAX; i++)
        if (h->slots[i].s && strcmp(h->slots[i].id, id) == 0) {
            slot_clear(&h->slots[i]);
            found = true;
        }
    pthread_mutex_unlock(&h->lock);
    return found;
}

/* ---- server-sent events ---- */

/* The response side of one SSE connection: MHD's connection thread reads the stream. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    return mcp_sse_reader_read(cls, buf, max);
}

static void sse_free(void *cls)
{
    mcp_sse_reader_free(cls);
}

static void reply_stream(struct osm_raw_response *out, struct mcp_sse_reader *r)
{
    out->status = 200;
    out->content_type = "text/event-stream";
    out->stream = sse_read;
    out->stream_free = sse_free;
    out->stream_cls = r;
    osm_raw_response_header(out, "Cache-Control", "no-cache");
}

/* One request answered as an event stream: a worker thread runs it and appends every message
 * it emits, then the response, to the request's stream in the session's log. */
struct sse_job {
    struct mcp_session *session;
    struct mcp_sse_stream *stream;
    json_t *msg;
};

static int job_send(void *ud, const json_t *msg)
{
    struct sse_job *j = ud;

    return mcp_sse_stream_append(j->stream, msg, false);
}

static int job_close_stream(void *ud)
{
    struct sse_job *j = ud;

    return mcp_sse_stream_close_connection(j->stream);
}

static void *sse_worker(void *arg)
{
    struct sse_job *j = arg;
    const struct mcp_sink sink = {job_send, j, job_close_stream};
    json_t *resp = mcp_session_handle(j->session, j->msg, &sink);

    if (!resp)
        resp = mcp_error_response(json_object_get(j->msg, "id"), MCP_ERR_INTERNAL, "internal error",
                                  NULL);
    if (!resp || mcp_sse_stream_append(j->stream, resp, true) < 0)
        log_warn("mcp_sse_response_lost", "stream=%llu",
                 (unsigned long long)mcp_sse_stream_id(j->stream));
    json_decref(resp);
    json_decref(j->msg);
    mcp_sse_stream_unref(j->stream);
    mcp_session_unref(j->session);
    free(j);
    return NULL;
}

/* True when the session negotiated a revision whose clients handle priming events and polling
 * (the revision the session agreed on decides, not a per-request header). */
static bool session_resumable(struct mcp_session *s)
{
    char version[16];

    mcp_session_protocol(s, version);
    return version[0] && strcmp(version, MCP_SSE_RESUMABLE_SINCE) >= 0;
}

/* Ends a stream whose request will not run (out of resources), so that the session can forget
 * it; its resumed readers get this error. */
static void sse_abandon(struct mcp_sse_stream *st, const json_t *msg)
{
    json_t *e = mcp_error_response(json_object_get(msg, "id"), MCP_ERR_INTERNAL,
                                   "cannot run the request", NULL);

    if (e)
        mcp_sse_stream_append(st, e, true);
    json_decref(e);
    mcp_sse_stream_unref(st);
}

/* Answers request msg in session s as an event stream. */
static int reply_sse(struct mcp_session *s, struct mcp_sse_log *log, const json_t *msg,
                     struct osm_raw_response *out)
{
    struct sse_job *j = calloc(1, sizeof(*j));
    struct mcp_sse_reader *reader = NULL;
    pthread_attr_t attr;
    pthread_t t;
    int r;

    if (!j)
        return -ENOMEM;
    r = mcp_sse_stream_open(log, session_resumable(s), &j->stream);
    if (r < 0) {
        free(j);
        return r;
    }
    r = mcp_sse_reader_open(j->stream, &reader);
    if (r < 0) {
        sse_abandon(j->stream, msg);
        free(j);
        return r;
    }
    j->session = mcp_session_ref(s);
    j->msg = json_incref((json_t *)msg);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &attr, sse_worker, j);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        mcp_sse_reader_free(reader);
        json_decref(j->msg);
        sse_abandon(j->stream, msg);
        mcp_session_unref(j->session);
        free(j);
        return -r;
    }
    reply_stream(out, reader);
    return 0;
}

/* ---- requests ---- */

static bool accepts(const char *accept, const char *type)
{
    return accept && (strcasestr(accept, type) || strstr(accept, "*/*"));
}

static int null_send(void *ud, const json_t *msg)
{
    return -ENOTCONN; /* a plain JSON answer cannot carry anything but the response */
}

static const struct mcp_sink null_sink = {null_send, NULL, NULL};

static void post_initialize(struct mcp_http *h, const json_t *msg, struct osm_raw_response *out)
{
    struct mcp_session *s = mcp_session_new(h->srv);
    char id[33];
    json_t *resp;

    if (!s) {
        reply_error(out, 503, MCP_ERR_INTERNAL, "out of memory");
        return;
    }
    resp = mcp_session_handle(s, msg, &null_sink);
    if (resp && json_object_get(resp, "result")) {
        if (session_add(h, s, id) < 0) {
            json_decref(resp);
            mcp_session_unref(s);
            reply_error(out, 503, MCP_ERR_INTERNAL, "out of memory");
            return;
        }
        osm_raw_response_header(out, "Mcp-Session-Id", id);
        log_info("mcp_session_new", "session=%.8s", id);
    }
    reply_json(out, resp);
    json_decref(resp);
    mcp_session_unref(s);
}

/* The session a request names (a reference in *ret), or false with the error answered. */
static bool session_of_request(struct mcp_http *h, const char *sid, struct session_ref *ret,
                               struct osm_raw_response *out)
{
    if (!sid) {
        reply_error(out, 400, MCP_ERR_INVALID_REQUEST,
                    "Mcp-Session-Id header required (send initialize first)");
        return false;
    }
    if (!session_get(h, sid, ret)) {
        reply_error(out, 404, MCP_ERR_INVALID_REQUEST, "unknown or expired session");
        return false;
    }
    return true;
}

static void handle_post(struct mcp_http *h, struct osm_raw_request *req,
                        struct osm_raw_response *out)
{
    const char *ct = osm_raw_header(req, "Content-Type");
    const char *accept = osm_raw_header(req, "Accept");
    const char *sid = osm_raw_header(req, "Mcp-Session-Id");
    _cleanup_(json_decrefp) json_t *msg = NULL;
    json_t *err, *resp;
    struct session_ref ref;
    enum mcp_msg_kind kind;
    const char *method;

    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        reply_error(out, 415, MCP_ERR_INVALID_REQUEST, "Content-Type must be application/json");
        return;
    }
    if (accept && !accepts(accept, "application/json") && !accepts(accept, "text/event-stream")) {
        reply_error(out, 406, MCP_ERR_INVALID_REQUEST,
                    "Accept must allow application/json or text/event-stream");
        return;
    }
    if (mcp_parse(req->body, req->body_len, &msg, &err) < 0) {
        reply_json(out, err);
        out->status = 400;
        json_decref(err);
        return;
    }
    kind = mcp_message_kind(msg);
    method = json_string_value(json_object_get(msg, "method"));
    if (kind == MCP_MSG_REQUEST && strcmp(method, "initialize") == 0 && !sid) {
        post_initialize(h, msg, out);
        return;
    }
    if (!session_of_request(h, sid, &ref, out))
        return;
    if (kind != MCP_MSG_REQUEST) {
        json_decref(mcp_session_handle(ref.s, msg, &null_sink));
        out->status = 202;
    } else if (accepts(accept, "text/event-stream") && strcmp(method, "tools/call") == 0) {
        int r = reply_sse(ref.s, ref.log, msg, out);
        if (r == -EBUSY)
            reply_error(out, 503, MCP_ERR_INTERNAL,
                        "too many event streams running in this session");
        else if (r < 0)
            reply_error(out, 503, MCP_ERR_INTERNAL, "cannot start the event stream");
    } else {
        resp = mcp_session_handle(ref.s, msg, &null_sink);
        reply_json(out, resp);
        json_decref(resp);
    }
    session_ref_clear(&ref);
}

/* GET /mcp: the session's own event stream, or with Last-Event-ID the resumption of the stream
 * that event belongs to (whatever request opened it): what followed it is replayed, then the
 * stream goes on. */
static void handle_get(struct mcp_http *h, struct osm_raw_request *req,
                       struct osm_raw_response *out)
{
    const char *sid = osm_raw_header(req, "Mcp-Session-Id");
    const char *last = osm_raw_header(req, "Last-Event-ID");
    struct mcp_sse_reader *reader = NULL;
    struct session_ref ref;
    int r;

    if (!accepts(osm_raw_header(req, "Accept"), "text/event-stream")) {
        reply_error(out, 406, MCP_ERR_INVALID_REQUEST, "Accept must allow text/event-stream");
        return;
    }
    if (!session_of_request(h, sid, &ref, out))
        return;
    if (last)
        r = mcp_sse_reader_resume(ref.log, last, &reader);
    else
        r = mcp_sse_reader_standalone(ref.log, session_resumable(ref.s), &reader);
    session_ref_clear(&ref);
    switch (r) {
    case 0:
        reply_stream(out, reader);
        return;
    case -EINVAL:
        reply_error(out, 400, MCP_ERR_INVALID_REQUEST,
                    "Last-Event-ID is not an event id of this server");
        return;
    case -ENOENT:
    case -ESTALE:
        reply_error(out, 409, MCP_ERR_INVALID_REQUEST,
                    r == -ENOENT ? "cannot resume: this session has no such event (any more)"
                                 : "cannot resume: events after Last-Event-ID were dropped from "
                                   "the replay buffer");
        return;
    case -ECANCELED:
        reply_error(out, 404, MCP_ERR_INVALID_REQUEST, "unknown or expired session");
        return;
    default:
        reply_error(out, 503, MCP_ERR_INTERNAL, "cannot open the event stream");
    }
}

static void handle_delete(struct mcp_http *h, struct osm_raw_request *req,
                          struct osm_raw_response *out)
{
    const char *sid = osm_raw_header(req, "Mcp-Session-Id");

    if (!sid) {
        reply_error(out, 400, MCP_ERR_INVALID_REQUEST, "Mcp-Session-Id header required");
        return;
    }
    if (!session_remove(h, sid)) {
        reply_error(out, 404, MCP_ERR_INVALID_REQUEST, "unknown or expired session");
        return;
    }
    log_info("mcp_session_end", "session=%.8s", sid);
    out->status = 200;
}

static bool token_ok(const struct mcp_http *h, const char *auth)
{
    size_t n = strlen(h->token);

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    return strlen(auth) == n && sodium_memcmp(auth, h->token, n) == 0;
}

/* The order of checks: where (path), who may ask at all (Host/Origin: a page in a browser
 * must not reach us), who asks (token), what it speaks (protocol version), then the method. */
static void on_http(struct osm_raw_request *req, struct osm_raw_response *out)
{
    struct mcp_http *h = req->userdata;
    const char *origin = osm_raw_header(req, "Origin");
    const char *version = osm_raw_header(req, "MCP-Protocol-Version");

    if (strcmp(req->path, "/mcp") != 0) {
        reply_error(out, 404, MCP_ERR_INVALID_REQUEST, "not found: the endpoint is /mcp");
        return;
    }
    if (!mcp_host_allowed(osm_raw_header(req, "Host")) || (origin && !mcp_origin_allowed(origin))) {
        log_warn("mcp_rebinding_refused", "method=%s", req->method);
        {
            reply_error(out, 403, MCP_ERR_INVALID_REQUEST,
                        "forbidden: Host and Origin must name localhost");
            return;
        }
    }
    if (!h->no_auth && !token_ok(h, osm_raw_header(req, "Authorization"))) {
        log_warn("mcp_auth_refused", "method=%s", req->method);
        osm_raw_response_header(out, "WWW-Authenticate", "Bearer realm=\"osmoda-mcp\"");
        {
            reply_error(out, 401, MCP_ERR_INVALID_REQUEST, "unauthorized: bearer token required");
            return;
        }
    }
    if (version && !mcp_protocol_supported(version)) {
        reply_error(out, 400, MCP_ERR_INVALID_REQUEST, "unsupported MCP-Protocol-Version");
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        handle_post(h, req, out);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        handle_get(h, req, out);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        handle_delete(h, req, out);
        return;
    }
    osm_raw_response_header(out, "Allow", "GET, POST, DELETE");
    reply_error(out, 405, MCP_ERR_INVALID_REQUEST, "method not allowed");
}

int mcp_http_start(const struct mcp_server *srv, const struct mcp_http_config *cfg,
                   struct mcp_http **ret)
{
    struct mcp_http *h = calloc(1, sizeof(*h));
    struct osm_http_server_config sc = {.raw = on_http, .userdata = h, .body_max = MCP_MESSAGE_MAX};
    int r = 0;

    if (!h)
        return -ENOMEM;
    h->srv = srv;
    h->no_auth = cfg->insecure_no_auth;
    pthread_mutex_init(&h->lock, NULL);
    if (!h->no_auth && !(cfg->token && (h->token = strdup(cfg->token))))
        r = -EINVAL;
    if (r == 0 && cfg->socket_path)
        r = osm_http_server_start_unix(&sc, cfg->socket_path, 0600, &h->unix_srv);
    if (r == 0 && cfg->tcp_addr)
        r = osm_http_server_start_tcp(&sc, cfg->tcp_addr, cfg->tcp_port, &h->tcp);
    if (r < 0) {
        mcp_http_stop(h);
        return r;
    }
    *ret = h;
    return 0;
}

void mcp_http_stop(struct mcp_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < MCP_SESSIONS_MAX; i++)
        if (h->slots[i].s) {
            mcp_session_close(h->slots[i].s);   /* wakes tools waiting for the client */
            mcp_sse_log_close(h->slots[i].log); /* ends event streams */
        }
    pthread_mutex_unlock(&h->lock);
    osm_http_server_stop(h->tcp);
    osm_http_server_stop(h->unix_srv);
    for (size_t i = 0; i < MCP_SESSIONS_MAX; i++)
        if (h->slots[i].s)
            slot_clear(&h->slots[i]);
    if (h->token) {
        sodium_memzero(h->token, strlen(h->token));
        free(h->token);
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}
