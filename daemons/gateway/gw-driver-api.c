/* What the drivers that speak to a model API themselves share (gw-drivers.h): the streamed
 * POST (server-sent events, read as they come, with the turn's abort watched beside curl's
 * sockets), the registry's tools and their calls on the daemons' agent sockets (as the MCP
 * bridge sends them, so the daemons' policy, approvals and ledger apply), and the conversations
 * kept in memory per chat session for its next turn. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "crypto/encoding.h"
#include "gw-drivers.h"
#include "ipc/http_client.h"
#include "tools/registry.h"

#define API_EVENT_MAX (4 * 1024 * 1024) /* one server-sent event, or an error body */
#define API_TOOL_TIMEOUT_MS 120000      /* one tool call */
#define API_CONVERSATIONS_MAX 256       /* conversations kept for the next turn */
#define API_HISTORY_MAX 200             /* messages kept of one conversation */

/* ---- conversations ------------------------------------------------------------------------ */

struct conversation {
    char id[128];
    json_t *messages;
    time_t last_used;
    struct conversation *next;
};

static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conversation *convs;
static size_t n_convs;

/* A copy of the conversation named id (new reference), or a new empty one. */
json_t *gw_api_conversation_get(const char *id)
{
    json_t *m = NULL;

    pthread_mutex_lock(&conv_lock);
    for (struct conversation *c = convs; c; c = c->next)
        if (strcmp(c->id, id) == 0) {
            m = json_deep_copy(c->messages);
            break;
        }
    pthread_mutex_unlock(&conv_lock);
    return m ? m : json_array();
}

static bool user_text(const json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));

    return role && strcmp(role, "user") == 0 && json_is_string(json_object_get(m, "content"));
}

/* Drops the oldest messages beyond API_HISTORY_MAX, cutting only before a user's own text. */
static void conversation_trim(json_t *messages)
{
    while (json_array_size(messages) > API_HISTORY_MAX) {
        size_t cut = 1;
        for (; cut < json_array_size(messages); cut++)
            if (user_text(json_array_get(messages, cut)))
                break;
        for (size_t i = 0; i < cut; i++)
            json_array_remove(messages, 0);
    }
}

/* Keeps messages (stolen) as the conversation id; the least recently used goes when full. */
void gw_api_conversation_put(const char *id, json_t *messages)
{
    struct conversation *c, **oldest = NULL;

    conversation_trim(messages);
    pthread_mutex_lock(&conv_lock);
    for (c = convs; c && strcmp(c->id, id) != 0; c = c->next)
        ;
    if (!c && n_convs >= API_CONVERSATIONS_MAX) {
        for (struct conversation **p = &convs; *p; p = &(*p)->next)
            if (!oldest || (*p)->last_used < (*oldest)->last_used)
                oldest = p;
        c = *oldest;
        *oldest = c->next;
        json_decref(c->messages);
        free(c);
        n_convs--;
        c = NULL;
    }
    if (!c && (c = calloc(1, sizeof(*c)))) {
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->next = convs;
        convs = c;
        n_convs++;
    }
    if (c) {
        json_decref(c->messages);
        c->messages = json_incref(messages);
        c->last_used = time(NULL);
    }
    pthread_mutex_unlock(&conv_lock);
    json_decref(messages);
}

/* ---- the tools ---------------------------------------------------------------------------- */

static json_t *tools_json;
static pthread_once_t tools_once = PTHREAD_ONCE_INIT;

static void tools_build(void)
{
    size_t n;
    const struct osm_tool *tools = osm_tools(&n);
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const json_t *schema = osm_tool_schema(&tools[i]);
        if ((tools[i].flags & OSM_TOOL_NEVER) || !schema)
            continue;
        json_array_append_new(a, json_pack("{s:s, s:s, s:O}", "name", tools[i].name, "description",
                                           tools[i].description, "input_schema", schema));
    }
    tools_json = a;
}

/* Runs one tool call on its daemon's agent socket: the daemon's answer (new reference). */
json_t *gw_api_tool_call(struct gateway *gw, struct gw_turn *t, const char *name,
                         const json_t *input, bool *ret_error, const char **ret_status)
{
    const struct osm_tool_alias *alias = NULL;
    const struct osm_tool *tool = osm_tool_find(name, &alias);
    struct osm_http_reply reply = {0};
    const char *daemon;
    json_t *args, *body, *out;
    char *sock = NULL;
    int r;

    *ret_error = true;
    *ret_status = "error";
    if (!tool)
        return json_pack("{s:s, s:s}", "error", "unknown_tool", "message", name);
    args = alias ? osm_tool_alias_args(alias, input) : json_incref((json_t *)input);
    daemon = tool->daemon;
    if (strncmp(tool->name, "job_", 4) == 0 &&
        json_is_string(json_object_get(args, "daemon"))) /* a job is followed where it runs */
        daemon = json_string_value(json_object_get(args, "daemon"));
    body = json_pack("{s:s, s:O}", "tool", tool->name, "arguments", args ? args : json_null());
    if (asprintf(&sock, "%s/%s-agent.sock", gw->run_dir, daemon) < 0)
        sock = NULL;
    r = body && sock ? osm_http_call_cancellable(sock, "POST", "/tools/call", body,
                                                 API_TOOL_TIMEOUT_MS, &t->aborted, &reply)
                     : -ENOMEM;
    json_decref(args);
    json_decref(body);
    if (r < 0) {
        out = json_pack("{s:s, s:s, s:s}", "error", "daemon_unavailable", "daemon", daemon,
                        "message", strerror(-r));
    } else if (!json_is_object(reply.json)) {
        out =
            json_pack("{s:s, s:I}", "error", "bad_answer", "http_status", (json_int_t)reply.status);
    } else {
        const char *st = json_string_value(json_object_get(reply.json, "status"));
        out = json_incref(reply.json);
        *ret_error = !st || (strcmp(st, "ok") != 0 && strcmp(st, "pending") != 0);
        *ret_status = !st                          ? "error"
                      : strcmp(st, "ok") == 0      ? "ok"
                      : strcmp(st, "pending") == 0 ? "pending"
                      : strcmp(st, "denied") == 0  ? "denied"
                                                   : "error";
    }
    osm_http_reply_clear(&reply);
    free(sock);
    return out;
}

const json_t *gw_api_tools(void)
{
    pthread_once(&tools_once, tools_build);
    return tools_json;
}

/* ---- the streamed call ------------------------------------------------------------------- */

struct post {
    CURL *easy;
    long status;
    char *buf;
    size_t len;
    bool too_big;
    gw_api_event_fn on_event;
    void *ud;
};

/* Hands each complete event's data lines to on_event; keeps the rest. */
static void sse_drain(struct post *p)
{
    char *start = p->buf, *end;

    while ((end = strstr(start, "\n\n"))) {
        *end = '\0';
        for (char *line = start, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (line[0] && line[strlen(line) - 1] == '\r')
                line[strlen(line) - 1] = '\0';
            if (strncmp(line, "data:", 5) == 0)
                p->on_event(p->ud, line + 5 + (line[5] == ' '));
        }
        start = end + 2;
    }
    p->len -= (size_t)(start - p->buf);
    memmove(p->buf, start, p->len);
    p->buf[p->len] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct post *p = ud;
    size_t len = size * n;
    char *nb;

    if (p->len + len > API_EVENT_MAX || !(nb = realloc(p->buf, p->len + len + 1))) {
        p->too_big = true;
        return 0;
    }
    p->buf = nb;
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    p->buf[p->len] = '\0';
    if (p->status == 0)
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &p->status);
    if (p->status / 100 == 2)
        sse_drain(p); /* streamed to the client as it comes */
    return len;
}

/* Runs the transfer, waking on curl's sockets and on the turn's abort: 0, -ECANCELED, -EIO. */
static int transfer(CURL *easy, struct gw_turn *t)
{
    CURLM *m = curl_multi_init();
    int running = 1, r = 0;
    CURLMsg *msg;
    int left;

    if (!m)
        return -ENOMEM;
    curl_multi_add_handle(m, easy);
    while (running) {
        struct curl_waitfd wfd = {.fd = t->abort_fd, .events = CURL_WAIT_POLLIN};
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            r = -EIO;
            break;
        }
        if (!running)
            break;
        if (curl_multi_poll(m, &wfd, 1, 60000, NULL) != CURLM_OK) {
            r = -EIO;
            break;
        }
        if (wfd.revents || atomic_load(&t->aborted)) {
            r = -ECANCELED;
            break;
        }
    }
    while (r == 0 && (msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK)
            r = msg->data.result == CURLE_WRITE_ERROR ? -E2BIG : -EIO;
    curl_multi_remove_handle(m, easy);
    curl_multi_cleanup(m);
    return r;
}

int gw_api_post(struct gw_turn *t, const char *url, struct curl_slist *headers, const char *body,
                gw_api_event_fn on_event, void *ud, struct gw_api_reply *ret)
{
    struct post p = {.on_event = on_event, .ud = ud};
    CURL *easy = curl_easy_init();
    int r = -ENOMEM;

    *ret = (struct gw_api_reply){0};
    if (easy) {
        p.easy = easy;
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &p);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)GW_CHAT_TURN_TIMEOUT_S);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        r = transfer(easy, t);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &p.status);
        curl_easy_cleanup(easy);
    }
    if (r == -E2BIG || p.too_big)
        r = -E2BIG;
    ret->status = p.status;
    if (p.status / 100 != 2 && p.buf) {
        json_t *e = json_loads(p.buf, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
        snprintf(ret->error, sizeof(ret->error), "%s", m ? m : "");
        json_decref(e);
    }
    free(p.buf);
    return r;
}

int gw_api_fail(struct gw_turn *t, int r, const struct gw_api_reply *reply, const char *model_error)
{
    char code[32], text[600];

    if (r == -ECANCELED) {
        snprintf(code, sizeof(code), "aborted");
        snprintf(text, sizeof(text), "the turn was aborted");
    } else if (reply && reply->status && reply->status / 100 != 2) {
        snprintf(code, sizeof(code), "http_%ld", reply->status);
        snprintf(text, sizeof(text), "%s",
                 reply->error[0] ? reply->error : "the model endpoint refused the request");
        r = -EIO;
    } else if (model_error && *model_error) {
        snprintf(code, sizeof(code), "model_error");
        snprintf(text, sizeof(text), "%s", model_error);
        r = -EIO;
    } else {
        snprintf(code, sizeof(code), "driver_unavailable");
        snprintf(text, sizeof(text), "the model endpoint could not be reached (%s)",
                 r == -E2BIG ? "answer too large" : "connection failed");
        r = r < 0 ? r : -EIO;
    }
    t->emit(t, "error", json_pack("{s:s, s:s}", "code", code, "text", text));
    return r;
}

char *gw_api_result_text(const json_t *out)
{
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;

    if (text && strlen(text) > GW_API_RESULT_MAX)
        strcpy(text + GW_API_RESULT_MAX - 14, "...(truncated)");
    return text;
}

void gw_api_new_id(const char *prefix, char *out, size_t len)
{
    uint8_t b[12];
    char hex[25];

    randombytes_buf(b, sizeof(b));
    osm_hex_encode(b, sizeof(b), hex);
    snprintf(out, len, "%s%s", prefix, hex);
}
