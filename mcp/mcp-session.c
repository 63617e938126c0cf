/* An MCP session: negotiated state (protocol revision, client capabilities, log level) and the
 * requests the server sends the client (sampling, elicitation) while a tool runs, matched with
 * the answers the transport delivers from another thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp-internal.h"

struct pending {
    json_int_t id;
    json_t *result; /* answer: result or error object */
    bool is_error;
    bool done;
    struct pending *next;
};

struct mcp_session *mcp_session_new(const struct mcp_server *srv)
{
    struct mcp_session *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->srv = srv;
    s->refs = 1;
    s->log_level = MCP_LOG_INFO;
    s->next_id = 1;
    s->subscriptions = json_object();
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (!s->subscriptions) {
        mcp_session_unref(s);
        return NULL;
    }
    return s;
}

struct mcp_session *mcp_session_ref(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->refs++;
    pthread_mutex_unlock(&s->lock);
    return s;
}

void mcp_session_unref(struct mcp_session *s)
{
    int left;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    left = --s->refs;
    pthread_mutex_unlock(&s->lock);
    if (left > 0)
        return;
    json_decref(s->client_caps);
    json_decref(s->subscriptions);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

void mcp_session_close(struct mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

bool mcp_session_initialized(struct mcp_session *s)
{
    bool r;

    pthread_mutex_lock(&s->lock);
    r = s->initialized;
    pthread_mutex_unlock(&s->lock);
    return r;
}

static struct pending *pending_find(struct mcp_session *s, json_int_t id)
{
    for (struct pending *p = s->pending; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void pending_remove(struct mcp_session *s, struct pending *p)
{
    for (struct pending **pp = &s->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            s->n_pending--;
            return;
        }
}

void mcp_session_deliver(struct mcp_session *s, const json_t *msg)
{
    const json_t *id = json_object_get(msg, "id");
    const json_t *err = json_object_get(msg, "error");
    struct pending *p;

    if (!json_is_integer(id))
        return; /* we only ever send integer ids: not an answer to us */
    pthread_mutex_lock(&s->lock);
    p = pending_find(s, json_integer_value(id));
    if (p && !p->done) {
        p->is_error = err != NULL;
        p->result = json_incref(err ? (json_t *)err : json_object_get(msg, "result"));
        if (!p->result)
            p->result = json_object();
        p->done = true;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Registers a pending slot and returns its id, or -errno. */
static int pending_add(struct mcp_session *s, struct pending *p)
{
    int r = 0;

    pthread_mutex_lock(&s->lock);
    if (s->closed)
        r = -ECANCELED;
    else if (s->n_pending >= MCP_PENDING_MAX)
        r = -EBUSY;
    else {
        p->id = s->next_id++;
        p->next = s->pending;
        s->pending = p;
        s->n_pending++;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

static int pending_wait(struct mcp_session *s, struct pending *p, long timeout_ms)
{
    struct timespec deadline;
    int r = 0;

    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (!p->done && !s->closed && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&s->cond, &s->lock, &deadline);
    pending_remove(s, p);
    pthread_mutex_unlock(&s->lock);
    if (p->done)
        return p->is_error ? -EPROTO : 0;
    return s->closed ? -ECANCELED : -ETIMEDOUT;
}

int mcp_call_request(struct mcp_call *c, const char *method, json_t *params, long timeout_ms,
                     json_t **ret_result)
{
    struct pending p = {0};
    json_t *msg;
    int r;

    *ret_result = NULL;
    if (!c->sink || !c->sink->send) {
        json_decref(params);
        return -ENOTCONN;
    }
    r = pending_add(c->session, &p);
    if (r < 0) {
        json_decref(params);
        return r;
    }
    msg = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", p.id, "method", method, "params",
                    params ? params : json_object());
    r = msg ? c->sink->send(c->sink->ud, msg) : -ENOMEM;
    json_decref(msg);
    if (r >= 0)
        r = pending_wait(c->session, &p,
                         timeout_ms > 0 ? timeout_ms : MCP_CLIENT_REQUEST_TIMEOUT_MS);
    else {
        pthread_mutex_lock(&c->session->lock);
        pending_remove(c->session, &p);
        pthread_mutex_unlock(&c->session->lock);
    }
    if (r == 0 || r == -EPROTO)
        *ret_result = p.result;
    else
        json_decref(p.result);
    return r;
}

int mcp_call_notify(struct mcp_call *c, const char *method, json_t *params)
{
    json_t *msg;
    int r;

    if (!c->sink || !c->sink->send) {
        json_decref(params);
        return -ENOTCONN;
    }
    msg = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    if (!msg) {
        json_decref(params);
        return -ENOMEM;
    }
    if (params)
        json_object_set_new(msg, "params", params);
    r = c->sink->send(c->sink->ud, msg);
    json_decref(msg);
    return r;
}

static const char *const level_names[] = {
    [MCP_LOG_DEBUG] = "debug",   [MCP_LOG_INFO] = "info",
    [MCP_LOG_NOTICE] = "notice", [MCP_LOG_WARNING] = "warning",
    [MCP_LOG_ERROR] = "error",   [MCP_LOG_CRITICAL] = "critical",
    [MCP_LOG_ALERT] = "alert",   [MCP_LOG_EMERGENCY] = "emergency",
};

int mcp_log_level_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

int mcp_call_log(struct mcp_call *c, enum mcp_log_level level, const char *logger, json_t *data)
{
    json_t *params;
    bool wanted;

    pthread_mutex_lock(&c->session->lock);
    wanted = (int)level >= c->session->log_level;
    pthread_mutex_unlock(&c->session->lock);
    if (!wanted) {
        json_decref(data);
        return 0;
    }
    params = json_pack("{s:s,s:o}", "level", level_names[level], "data", data ? data : json_null());
    if (params && logger)
        json_object_set_new(params, "logger", json_string(logger));
    return mcp_call_notify(c, "notifications/message", params);
}

int mcp_call_progress(struct mcp_call *c, double progress, double total, const char *message)
{
    json_t *params;

    if (!c->progress_token)
        return 0;
    params = json_pack("{s:O,s:f}", "progressToken", c->progress_token, "progress", progress);
    if (!params)
        return -ENOMEM;
    if (total > 0)
        json_object_set_new(params, "total", json_real(total));
    if (message)
        json_object_set_new(params, "message", json_string(message));
    return mcp_call_notify(c, "notifications/progress", params);
}

const json_t *mcp_call_client_capability(struct mcp_call *c, const char *name)
{
    const json_t *v;

    pthread_mutex_lock(&c->session->lock);
    v = json_object_get(c->session->client_caps, name);
    pthread_mutex_unlock(&c->session->lock);
    return v; /* client_caps is set once at initialize and lives as long as the session */
}

int mcp_call_close_stream(struct mcp_call *c)
{
    if (!c->sink || !c->sink->close_stream)
        return -ENOTSUP;
    return c->sink->close_stream(c->sink->ud);
}

void mcp_session_protocol(struct mcp_session *s, char ret[static 16])
{
    pthread_mutex_lock(&s->lock);
    memcpy(ret, s->protocol, 16);
    pthread_mutex_unlock(&s->lock);
}

json_t *mcp_fail(struct mcp_error *e, int code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return NULL;
}
