/* The anthropic driver: the Messages API over libcurl, streamed (server-sent events), with
 * osModa's tools from the registry. Each tool call the model makes goes to the daemon that
 * executes it, on its agent socket (POST /tools/call), as the MCP bridge sends it, so that the
 * daemon's policy, approvals and ledger apply. The conversation of a chat session is kept in
 * memory for its next turn (its id is the session id the chat hands back). Abort is watched on
 * the turn's eventfd beside curl's sockets. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "gw-chat.h"
#include "gw-drivers.h"
#include "ipc/http_client.h"
#include "tools/registry.h"

#define ANTH_DEFAULT_URL "https://api.anthropic.com"
#define ANTH_VERSION "2023-06-01"
#define ANTH_MAX_TOKENS 4096
#define ANTH_STEPS_MAX 16                /* model calls in one turn (tool rounds) */
#define ANTH_EVENT_MAX (4 * 1024 * 1024) /* one server-sent event, or an error body */
#define ANTH_TOOL_TIMEOUT_MS 120000      /* one tool call */
#define ANTH_RESULT_MAX (64 * 1024)      /* a tool result as the model sees it */
#define ANTH_CONVERSATIONS_MAX 256       /* conversations kept for --resume */
#define ANTH_HISTORY_MAX 200             /* messages kept of one conversation */
#define ANTH_ID_PREFIX "anthropic-"

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
static json_t *conversation_get(const char *id)
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

/* Drops the oldest messages beyond ANTH_HISTORY_MAX, cutting only before a user's own text. */
static void conversation_trim(json_t *messages)
{
    while (json_array_size(messages) > ANTH_HISTORY_MAX) {
        size_t cut = 1;
        for (; cut < json_array_size(messages); cut++)
            if (json_is_string(json_object_get(json_array_get(messages, cut), "content")))
                break;
        for (size_t i = 0; i < cut; i++)
            json_array_remove(messages, 0);
    }
}

/* Keeps messages (stolen) as the conversation id; the least recently used goes when full. */
static void conversation_put(const char *id, json_t *messages)
{
    struct conversation *c, **oldest = NULL;

    conversation_trim(messages);
    pthread_mutex_lock(&conv_lock);
    for (c = convs; c && strcmp(c->id, id) != 0; c = c->next)
        ;
    if (!c && n_convs >= ANTH_CONVERSATIONS_MAX) {
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
static json_t *tool_call(struct gateway *gw, struct gw_turn *t, const char *name,
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
                                                 ANTH_TOOL_TIMEOUT_MS, &t->aborted, &reply)
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

/* ---- one streamed model call -------------------------------------------------------------- */

struct stream {
    struct gw_turn *t;
    CURL *easy;
    long status;
    char *buf; /* unparsed bytes: SSE, or the error body */
    size_t len;
    bool too_big;
    json_t *blocks;   /* the assistant message's content, as it is built */
    json_t *partials; /* a tool_use block's input JSON so far, by index (strings) */
    char stop[32];    /* stop_reason */
    char error[512];  /* an error event's message */
};

static void block_start(struct stream *s, const json_t *ev)
{
    json_t *b = json_deep_copy(json_object_get(ev, "content_block"));

    if (!b)
        return;
    json_array_append_new(s->blocks, b);
    json_array_append_new(s->partials, json_string(""));
}

static void block_delta(struct stream *s, const json_t *ev)
{
    size_t i = (size_t)json_integer_value(json_object_get(ev, "index"));
    json_t *d = json_object_get(ev, "delta"), *b = json_array_get(s->blocks, i);
    const char *type = json_string_value(json_object_get(d, "type"));
    const char *text = json_string_value(json_object_get(d, "text"));
    const char *part = json_string_value(json_object_get(d, "partial_json"));
    char *joined;

    if (!b || !type)
        return;
    if (strcmp(type, "text_delta") == 0 && text) {
        const char *old = json_string_value(json_object_get(b, "text"));
        if (asprintf(&joined, "%s%s", old ? old : "", text) >= 0)
            json_object_set_new(b, "text", json_string(joined));
        free(joined);
        s->t->emit(s->t, "text", json_pack("{s:s}", "text", text));
    } else if (strcmp(type, "input_json_delta") == 0 && part) {
        const char *old = json_string_value(json_array_get(s->partials, i));
        if (asprintf(&joined, "%s%s", old ? old : "", part) >= 0)
            json_array_set_new(s->partials, i, json_string(joined));
        free(joined);
    }
}

static void block_stop(struct stream *s, const json_t *ev)
{
    size_t i = (size_t)json_integer_value(json_object_get(ev, "index"));
    json_t *b = json_array_get(s->blocks, i), *input;
    const char *type = json_string_value(json_object_get(b, "type"));
    const char *part = json_string_value(json_array_get(s->partials, i));

    if (!type || strcmp(type, "tool_use") != 0)
        return;
    input = part && *part ? json_loads(part, 0, NULL) : json_object();
    json_object_set_new(b, "input", json_is_object(input) ? input : json_object());
    if (!json_is_object(input))
        json_decref(input);
    s->t->emit(s->t, "tool_use",
               json_pack("{s:O, s:O, s:O}", "name", json_object_get(b, "name"), "input",
                         json_object_get(b, "input"), "id", json_object_get(b, "id")));
}

static void sse_event(struct stream *s, const char *data)
{
    json_t *ev = json_loads(data, 0, NULL), *d;
    const char *type = json_string_value(json_object_get(ev, "type"));

    if (!type) {
        json_decref(ev);
        return;
    }
    if (strcmp(type, "content_block_start") == 0) {
        block_start(s, ev);
    } else if (strcmp(type, "content_block_delta") == 0) {
        block_delta(s, ev);
    } else if (strcmp(type, "content_block_stop") == 0) {
        block_stop(s, ev);
    } else if (strcmp(type, "message_delta") == 0) {
        d = json_object_get(json_object_get(ev, "delta"), "stop_reason");
        if (json_is_string(d))
            snprintf(s->stop, sizeof(s->stop), "%s", json_string_value(d));
    } else if (strcmp(type, "error") == 0) {
        d = json_object_get(json_object_get(ev, "error"), "message");
        snprintf(s->error, sizeof(s->error), "%s",
                 json_is_string(d) ? json_string_value(d) : "the model endpoint failed");
    }
    json_decref(ev);
}

/* Parses the complete events in s->buf ("data: {...}" lines, a blank line between events). */
static void sse_drain(struct stream *s)
{
    char *start = s->buf, *end;

    while ((end = strstr(start, "\n\n"))) {
        *end = '\0';
        for (char *line = start, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (strncmp(line, "data:", 5) == 0)
                sse_event(s, line + 5 + (line[5] == ' '));
        }
        start = end + 2;
    }
    s->len -= (size_t)(start - s->buf);
    memmove(s->buf, start, s->len);
    s->buf[s->len] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct stream *s = ud;
    size_t len = size * n;
    char *nb;

    if (s->len + len > ANTH_EVENT_MAX || !(nb = realloc(s->buf, s->len + len + 1))) {
        s->too_big = true;
        return 0;
    }
    s->buf = nb;
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
    if (s->status == 0)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status / 100 == 2)
        sse_drain(s); /* streamed to the client as it comes */
    return len;
}

static struct curl_slist *headers_new(const struct gw_turn *t)
{
    struct curl_slist *h = NULL;
    char *auth = NULL;

    h = curl_slist_append(h, "content-type: application/json");
    h = curl_slist_append(h, "anthropic-version: " ANTH_VERSION);
    if (t->secret && asprintf(&auth,
                              strcmp(t->credential_type, "oauth") == 0 ? "authorization: Bearer %s"
                                                                       : "x-api-key: %s",
                              t->secret) >= 0) {
        h = curl_slist_append(h, auth);
        sodium_memzero(auth, strlen(auth));
        free(auth);
    }
    return h;
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

/* One POST /v1/messages: the streamed answer in s. */
static int model_call(struct gw_turn *t, const json_t *messages, struct stream *s)
{
    json_t *req = json_pack("{s:s, s:i, s:s, s:O, s:O, s:b}", "model", t->model, "max_tokens",
                            ANTH_MAX_TOKENS, "system", t->system_prompt ? t->system_prompt : "",
                            "messages", messages, "tools", tools_json, "stream", 1);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL, *url = NULL;
    const char *base = t->base_url ? t->base_url : ANTH_DEFAULT_URL;
    struct curl_slist *h = headers_new(t);
    CURL *easy = curl_easy_init();
    int r = -ENOMEM;

    json_decref(req);
    if (body && easy &&
        asprintf(&url, "%s%s/v1/messages", base, base[strlen(base) - 1] == '/' ? "." : "") >= 0) {
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, s);
        s->easy = easy;
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)GW_CHAT_TURN_TIMEOUT_S);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        r = transfer(easy, t);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &s->status);
    }
    if (r == 0 && s->status / 100 == 2)
        sse_drain(s);
    free(url);
    free(body);
    curl_slist_free_all(h);
    if (easy)
        curl_easy_cleanup(easy);
    return r;
}

/* ---- the turn ----------------------------------------------------------------------------- */

static void stream_clear(struct stream *s)
{
    free(s->buf);
    json_decref(s->blocks);
    json_decref(s->partials);
    *s = (struct stream){0};
}

/* The error a failed call reports to the client; -errno. */
static int call_failed(struct gw_turn *t, struct stream *s, int r)
{
    json_t *body = s->buf ? json_loads(s->buf, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
    char code[32], text[600];

    if (r == -ECANCELED) {
        snprintf(code, sizeof(code), "aborted");
        snprintf(text, sizeof(text), "the turn was aborted");
    } else if (s->status && s->status / 100 != 2) {
        snprintf(code, sizeof(code), "http_%ld", s->status);
        snprintf(text, sizeof(text), "%s", m ? m : "the model endpoint refused the request");
        r = -EIO;
    } else if (s->error[0]) {
        snprintf(code, sizeof(code), "model_error");
        snprintf(text, sizeof(text), "%s", s->error);
        r = -EIO;
    } else {
        snprintf(code, sizeof(code), "driver_unavailable");
        snprintf(text, sizeof(text), "the model endpoint could not be reached (%s)",
                 r == -E2BIG ? "answer too large" : "connection failed");
        r = r < 0 ? r : -EIO;
    }
    json_decref(body);
    t->emit(t, "error", json_pack("{s:s, s:s}", "code", code, "text", text));
    return r;
}

/* Runs the tool_use blocks of the last answer; the user message with their results. */
static json_t *tools_run(struct gateway *gw, struct gw_turn *t, const json_t *blocks)
{
    json_t *results = json_array(), *b;
    size_t i;

    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *status;
        bool is_error;
        json_t *out;
        char *text;
        if (!type || strcmp(type, "tool_use") != 0 || !name || atomic_load(&t->aborted))
            continue;
        out = tool_call(gw, t, name, json_object_get(b, "input"), &is_error, &status);
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (text && strlen(text) > ANTH_RESULT_MAX)
            strcpy(text + ANTH_RESULT_MAX - 14, "...(truncated)");
        t->emit(t, "tool_result",
                json_pack("{s:O, s:b, s:s}", "id", json_object_get(b, "id"), "is_error", is_error,
                          "decision", status));
        json_array_append_new(results, json_pack("{s:s, s:O, s:s, s:b}", "type", "tool_result",
                                                 "tool_use_id", json_object_get(b, "id"), "content",
                                                 text ? text : "{}", "is_error", is_error));
        free(text);
        json_decref(out);
    }
    return json_pack("{s:s, s:o}", "role", "user", "content", results);
}

static void new_id(char *out, size_t len)
{
    uint8_t b[12];
    char hex[25];

    randombytes_buf(b, sizeof(b));
    osm_hex_encode(b, sizeof(b), hex);
    snprintf(out, len, ANTH_ID_PREFIX "%s", hex);
}

static int anthropic_run(struct gateway *gw, struct gw_turn *t)
{
    json_t *messages;
    int r = 0, step;

    pthread_once(&tools_once, tools_build);
    if (!tools_json)
        return call_failed(t, &(struct stream){0}, -ENOMEM);
    if (strncmp(t->resume_id, ANTH_ID_PREFIX, strlen(ANTH_ID_PREFIX)) != 0)
        new_id(t->resume_id, sizeof(t->resume_id));
    messages = conversation_get(t->resume_id);
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", t->text));
    for (step = 0; step < ANTH_STEPS_MAX; step++) {
        struct stream s = {.t = t, .blocks = json_array(), .partials = json_array()};
        r = model_call(t, messages, &s);
        if (r < 0 || s.status / 100 != 2 || s.error[0]) {
            r = call_failed(t, &s, r);
            stream_clear(&s);
            break;
        }
        json_array_append_new(messages,
                              json_pack("{s:s, s:O}", "role", "assistant", "content", s.blocks));
        if (strcmp(s.stop, "tool_use") != 0) {
            stream_clear(&s);
            break;
        }
        json_array_append_new(messages, tools_run(gw, t, s.blocks));
        stream_clear(&s);
        if (atomic_load(&t->aborted)) {
            r = call_failed(t, &(struct stream){0}, -ECANCELED);
            break;
        }
    }
    if (step == ANTH_STEPS_MAX) {
        t->emit(t, "error",
                json_pack("{s:s, s:s}", "code", "too_many_steps", "text",
                          "the model asked for tools too many times in one turn"));
        r = -ELOOP;
    }
    if (r == 0)
        conversation_put(t->resume_id, messages);
    else
        json_decref(messages);
    return r;
}

static const char *const anth_providers[] = {"anthropic", NULL};
static const char *const anth_auth_types[] = {"api_key", "oauth", NULL};
static const char *const anth_models[] = {"claude-opus-4-6", "claude-sonnet-4-6",
                                          "claude-haiku-4-5", NULL};

const struct gw_driver gw_driver_anthropic = {
    .name = "anthropic",
    .display_name = "Anthropic API",
    .description = "The Messages API directly (streamed), with osModa's typed tools run on "
                   "the daemons' agent sockets",
    .providers = anth_providers,
    .auth_types = anth_auth_types,
    .default_models = anth_models,
    .run = anthropic_run,
};
