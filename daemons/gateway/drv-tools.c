/* What the anthropic and openai drivers share: the tools a model is offered (the registry's), a
 * tool call run on the daemon that executes it exactly as the MCP bridge sends it, the
 * conversations kept between turns, and one streamed model request over libcurl with abort, the
 * proxy's admission and the provider's errors. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "drivers.h"
#include "gateway.h"
#include "ipc/http_client.h"
#include "ipc/json_util.h"
#include "tools/registry.h"
#include "tools/result.h"

/* ---- the tools ------------------------------------------------------------------------------ */

static json_t *tools_json;
static pthread_once_t tools_once = PTHREAD_ONCE_INIT;

static void tools_build(void)
{
    size_t n;
    const struct osm_tool *tools = osm_tools(&n);
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const json_t *schema = osm_tool_schema(&tools[i]);
        if (tools[i].flags & OSM_TOOL_NEVER)
            continue; /* refused to agents whatever the policy: not worth the model's context */
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:o}", "name", tools[i].name, "description",
                         tools[i].description, "input_schema",
                         schema ? json_deep_copy(schema) : json_pack("{s:s}", "type", "object")));
    }
    tools_json = a;
}

const json_t *drv_tools(void)
{
    pthread_once(&tools_once, tools_build);
    return tools_json;
}

/* ---- a tool call ---------------------------------------------------------------------------- */

/* The policy's decision as the daemon's answer shows it. */
static const char *decision_of(const char *status)
{
    if (!status)
        return "error";
    if (strcmp(status, "ok") == 0)
        return "allow";
    if (strcmp(status, "pending") == 0)
        return "approve";
    if (strcmp(status, "denied") == 0)
        return "deny";
    return "allow"; /* allowed, then failed while running */
}

/* The daemon that executes t (the job tools go to the daemon that gave the job). */
static const char *target_daemon(const struct osm_tool *t, const json_t *args)
{
    if (strncmp(t->name, "job_", 4) == 0)
        return osm_json_str(args, "daemon", t->daemon);
    return t->daemon;
}

/* The daemon's status as a string that outlives its reply ("error" for one this driver does not
 * know). */
static const char *status_static(const char *status)
{
    static const char *const known[] = {"ok", "pending", "denied", "error"};

    for (size_t i = 0; status && i < ELEMENTSOF(known); i++)
        if (strcmp(status, known[i]) == 0)
            return known[i];
    return "error";
}

/* What the model reads back for the daemon's answer (new reference); *ret_status set (static). */
static json_t *answer_for_model(const struct osm_tool *t, const struct osm_http_reply *reply,
                                const char **ret_status)
{
    const json_t *j = reply->json;
    const char *status = json_string_value(json_object_get(j, "status"));
    const json_t *result = json_object_get(j, "result");

    *ret_status = status_static(status);
    if (!status)
        return json_pack("{s:s,s:s,s:i}", "error", "daemon_error", "tool", t->name, "http_status",
                         (int)reply->status);
    if (strcmp(status, "ok") == 0)
        return json_incref(result ? (json_t *)result : json_null());
    if (strcmp(status, "pending") == 0)
        return json_pack("{s:s,s:O,s:O,s:s,s:s}", "status", "pending", "approval_id",
                         json_object_get(j, "approval_id") ?: json_null(), "job_id",
                         json_object_get(j, "job_id") ?: json_null(), "daemon", t->daemon,
                         "message",
                         "this call waits for an operator's approval (dashboard, agentctl "
                         "approve); it runs once approved. Follow it with job_status {job_id, "
                         "daemon}.");
    return json_pack("{s:s,s:s,s:O}", "status", status, "tool", t->name, "result",
                     result ? (json_t *)result : json_null());
}

/* Sends the call; returns what the model reads (new reference), *ret_status set. */
static json_t *call_daemon(struct gateway *gw, struct gw_turn *t, const struct osm_tool *tool,
                           const json_t *args, const char **ret_status)
{
    const char *daemon = target_daemon(tool, args);
    _cleanup_free_ char *sock = NULL;
    json_auto_t *body = json_pack("{s:s,s:O}", "tool", tool->name, "arguments", args);
    struct osm_http_reply reply;
    json_t *r;
    int rc;

    *ret_status = "error";
    if (!body || asprintf(&sock, "%s/%s-agent.sock", gw->run_dir, daemon) < 0)
        return NULL;
    rc = osm_http_call_cancellable(sock, "POST", "/tools/call", body, DRV_TOOL_TIMEOUT_MS,
                                   &t->aborted, &reply);
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        return json_pack("{s:s,s:s,s:s}", "error", "daemon_unavailable", "daemon", daemon,
                         "message", "the daemon that runs this tool is not running");
    if (rc < 0)
        return json_pack("{s:s,s:s,s:s}", "error",
                         rc == -ETIMEDOUT   ? "timeout"
                         : rc == -ECANCELED ? "aborted"
                                            : "daemon_error",
                         "daemon", daemon, "message", strerror(-rc));
    r = answer_for_model(tool, &reply, ret_status);
    osm_http_reply_clear(&reply);
    return r;
}

char *drv_tool_run(struct gateway *gw, struct gw_turn *t, const char *id, const char *name,
                   const json_t *input, bool *ret_is_error)
{
    const struct osm_tool_alias *alias = NULL;
    const struct osm_tool *tool = osm_tool_find(name, &alias);
    char field[128] = "", reason[256] = "";
    const char *status = "error";
    json_auto_t *args = NULL, *answer = NULL;

    t->emit(
        t, "tool_use",
        json_pack("{s:s,s:O,s:s}", "name", name, "input", input ? input : json_null(), "id", id));
    if (!tool || (tool->flags & OSM_TOOL_NEVER))
        answer = json_pack("{s:s,s:s}", "error", "unknown_tool", "message",
                           "no such tool is offered to this agent");
    else if (!json_is_object(input))
        answer = json_pack("{s:s,s:s}", "error", "invalid_arguments", "message",
                           "the tool's input must be a JSON object");
    else if (!(args = alias ? osm_tool_alias_args(alias, input) : json_deep_copy(input)))
        return NULL;
    else if (osm_tool_validate(tool, args, field, sizeof(field), reason, sizeof(reason)) < 0)
        answer = json_pack("{s:s,s:s,s:s}", "error", "invalid_arguments", "field", field, "reason",
                           reason);
    else
        answer = call_daemon(gw, t, tool, args, &status);
    if (!answer)
        return NULL;
    *ret_is_error = strcmp(status, "ok") != 0 && strcmp(status, "pending") != 0;
    t->emit(t, "tool_result",
            json_pack("{s:s,s:b,s:s,s:s}", "id", id, "is_error", *ret_is_error, "decision",
                      args && tool ? decision_of(status) : "invalid", "status", status));
    return osm_result_text(answer, DRV_RESULT_MAX, NULL);
}

/* ---- conversations -------------------------------------------------------------------------- */

struct conversation {
    char id[128];
    json_t *messages;
    uint64_t last_used; /* conv_uses when last used */
    struct conversation *next;
};

static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conversation *convs;
static size_t n_convs;
static uint64_t conv_uses;

json_t *drv_conversation_get(struct gw_turn *t, const char *prefix)
{
    unsigned char rnd[12];
    char hex[sizeof(rnd) * 2 + 1];
    json_t *m = NULL;

    if (strncmp(t->resume_id, prefix, strlen(prefix)) == 0) {
        pthread_mutex_lock(&conv_lock);
        for (struct conversation *c = convs; c; c = c->next)
            if (strcmp(c->id, t->resume_id) == 0) {
                m = json_deep_copy(c->messages);
                break;
            }
        pthread_mutex_unlock(&conv_lock);
        if (m)
            return m;
    }
    /* an unknown or forgotten id starts afresh under a new one */
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(t->resume_id, sizeof(t->resume_id), "%s%s", prefix, hex);
    return json_array();
}

/* Drops the oldest messages beyond DRV_HISTORY_MAX, cutting only before a user's own text (a
 * string content), so that no tool result is left without its call. */
static void conversation_trim(json_t *messages)
{
    while (json_array_size(messages) > DRV_HISTORY_MAX) {
        size_t cut = 1;
        for (; cut < json_array_size(messages); cut++) {
            const json_t *m = json_array_get(messages, cut);
            if (strcmp(osm_json_str(m, "role", ""), "user") == 0 &&
                json_is_string(json_object_get(m, "content")))
                break;
        }
        for (size_t i = 0; i < cut; i++)
            json_array_remove(messages, 0);
    }
}

static void conversation_evict_oldest(void)
{
    struct conversation **oldest = NULL, *c;

    for (struct conversation **p = &convs; *p; p = &(*p)->next)
        if (!oldest || (*p)->last_used < (*oldest)->last_used)
            oldest = p;
    if (!oldest)
        return;
    c = *oldest;
    *oldest = c->next;
    json_decref(c->messages);
    free(c);
    n_convs--;
}

void drv_conversation_put(struct gw_turn *t, json_t *messages)
{
    struct conversation *c;

    conversation_trim(messages);
    pthread_mutex_lock(&conv_lock);
    for (c = convs; c && strcmp(c->id, t->resume_id) != 0; c = c->next)
        ;
    if (!c && n_convs >= DRV_CONVERSATIONS_MAX)
        conversation_evict_oldest();
    if (!c && (c = calloc(1, sizeof(*c)))) {
        snprintf(c->id, sizeof(c->id), "%s", t->resume_id);
        c->next = convs;
        convs = c;
        n_convs++;
    }
    if (c) {
        json_decref(c->messages);
        c->messages = json_incref(messages);
        c->last_used = ++conv_uses;
    }
    pthread_mutex_unlock(&conv_lock);
    json_decref(messages);
}

/* ---- errors --------------------------------------------------------------------------------- */

void drv_mask_secret(char *s, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    char *p;

    if (n < 4)
        return;
    while ((p = strstr(s, secret)))
        memset(p, '*', n);
}

void drv_error(struct gw_turn *t, const char *code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    drv_mask_secret(text, t->secret);
    t->emit(t, "error", json_pack("{s:s,s:s}", "text", text, "code", code));
}

/* ---- one streamed model request ------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void drv_curl_init(void)
{
    pthread_once(&curl_once, curl_init);
}

/* One complete line of a 2xx answer: "data:" lines go to the driver, the rest (event names,
 * comments, blank separators) carry nothing the drivers need. */
static int stream_line(struct drv_stream *s, char *line, size_t len)
{
    char *d;

    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (strncmp(line, "data:", 5) != 0)
        return 0;
    d = line + 5 + (line[5] == ' ');
    s->events = true;
    return s->on_data(s->ctx, d, len - (size_t)(d - line));
}

static int line_append(struct drv_stream *s, const char *p, size_t n)
{
    if (s->len + n + 1 > DRV_LINE_MAX)
        return -EMSGSIZE;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *nb;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (!(nb = realloc(s->line, cap)))
            return -ENOMEM;
        s->line = nb;
        s->cap = cap;
    }
    memcpy(s->line + s->len, p, n);
    s->len += n;
    s->line[s->len] = '\0';
    return 0;
}

/* Splits a chunk of a 2xx answer into lines. */
static int stream_chunk(struct drv_stream *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        int r = line_append(s, p, take);
        if (r < 0)
            return r;
        if (!nl)
            return 0;
        r = stream_line(s, s->line, s->len);
        s->len = 0;
        if (r < 0)
            return r;
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct drv_stream *s = ud;
    size_t n = size * nmemb;
    int r;

    if (atomic_load(&s->t->aborted)) {
        s->stop = -ECANCELED;
        return 0;
    }
    if (s->status == 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status / 100 != 2) /* an error body, read whole (capped) for its message */
        r = line_append(s, data, n);
    else
        r = stream_chunk(s, data, n);
    if (r < 0) {
        s->stop = r;
        return 0;
    }
    return n;
}

/* curl calls this often while a transfer runs, about once a second when nothing arrives. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct drv_stream *s = ud;

    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&s->t->aborted) ? 1 : 0;
}

/* The provider's own words for an error answer: error.message (Anthropic and OpenAI both). */
static void provider_error(struct drv_stream *s)
{
    json_auto_t *j = s->line ? json_loads(s->line, 0, NULL) : NULL;
    const json_t *e = json_object_get(j, "error");
    const char *msg = json_is_object(e) ? osm_json_str(e, "message", NULL) : json_string_value(e);
    char code[32];

    snprintf(code, sizeof(code), "http_%ld", s->status);
    drv_error(s->t, code, "the model provider answered HTTP %ld%s%.300s", s->status,
              msg ? ": " : "", msg ? msg : "");
}

static int admit(struct gateway *gw, struct gw_turn *t)
{
    unsigned retry = 0;
    int r;

    if (!gw->llm) {
        drv_error(t, "llm_proxy",
                  "the gateway's LLM proxy is not running, so no model request "
                  "is made");
        return -ENOTCONN;
    }
    r = gw_llmproxy_admit(gw->llm, t->agent_id, &retry);
    if (r == -EAGAIN)
        drv_error(t, "rate_limited",
                  "agent %s made as many model requests in the last minute as it may; try "
                  "again in %u s",
                  t->agent_id ? t->agent_id : "default", retry);
    else if (r < 0)
        drv_error(t, "internal", "out of memory");
    return r;
}

static void stream_setopts(CURL *c, struct drv_stream *s, const char *url,
                           struct curl_slist *headers, const char *body)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)DRV_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)GW_CHAT_TURN_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)DRV_STALL_S);
}

/* What went wrong, said once to the turn; -errno. */
static int stream_outcome(struct drv_stream *s, CURLcode rc)
{
    if (s->stop == -ECANCELED || atomic_load(&s->t->aborted))
        return -ECANCELED;
    if (s->status != 0 && s->status / 100 != 2) {
        provider_error(s);
        return -EPROTO;
    }
    if (s->stop == -EMSGSIZE)
        drv_error(s->t, "bad_stream", "the model provider sent a line longer than %d bytes",
                  DRV_LINE_MAX);
    else if (s->stop == -ENOMEM)
        drv_error(s->t, "internal", "out of memory");
    if (s->stop < 0)
        return s->stop; /* the driver said why */
    if (rc != CURLE_OK) {
        drv_error(s->t, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network",
                  "the model provider could not be reached or stopped answering: %s",
                  curl_easy_strerror(rc));
        return -EIO;
    }
    if (s->len > 0) { /* a last line without its newline */
        int r = stream_line(s, s->line, s->len);
        s->len = 0;
        if (r < 0)
            return r;
    }
    if (!s->events) {
        drv_error(s->t, "bad_stream", "the model provider's answer was not an event stream");
        return -EPROTO;
    }
    return 0;
}

int drv_stream_feed(struct drv_stream *s, const char *bytes, size_t n, bool last)
{
    int r = stream_chunk(s, bytes, n);

    if (r == 0 && last && s->len > 0) {
        r = stream_line(s, s->line, s->len);
        s->len = 0;
    }
    if (last || r < 0) {
        free(s->line);
        s->line = NULL;
        s->cap = s->len = 0;
    }
    return r;
}

int drv_stream_post(struct gateway *gw, struct drv_stream *s, const char *url,
                    struct curl_slist *headers, const json_t *body)
{
    _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
    CURLcode rc;
    int r;

    if (!text) {
        drv_error(s->t, "internal", "out of memory");
        return -ENOMEM;
    }
    if ((r = admit(gw, s->t)) < 0)
        return r;
    drv_curl_init();
    if (!(s->curl = curl_easy_init())) {
        drv_error(s->t, "internal", "out of memory");
        return -ENOMEM;
    }
    s->status = 0;
    s->len = 0;
    s->stop = 0;
    s->events = false;
    stream_setopts(s->curl, s, url, headers, text);
    rc = curl_easy_perform(s->curl);
    if (s->status == 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_cleanup(s->curl);
    s->curl = NULL;
    r = stream_outcome(s, rc);
    free(s->line);
    s->line = NULL;
    s->cap = s->len = 0;
    return r;
}

void drv_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        sodium_memzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}
