/* The anthropic driver: the Messages API (POST /v1/messages, stream=true) over libcurl. The text
 * of the model streams to the chat as it arrives; when the model stops for tool_use, each tool
 * runs on the daemon that executes it (drv-tools.c) and the results go back as tool_result
 * blocks, for at most DRV_ROUNDS_MAX requests a turn. The conversation is kept for the session's
 * next turn under the resume id "anthropic-<hex>". */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "drivers.h"
#include "gateway.h"
#include "ipc/json_util.h"

#define ANTH_DEFAULT_URL "https://api.anthropic.com"
#define ANTH_VERSION "2023-06-01"
#define ANTH_OAUTH_BETA "oauth-2025-04-20"
#define ANTH_BLOCKS_MAX 64 /* content blocks of one response */
#define ANTH_ID_PREFIX "anthropic-"

/* What one streamed response builds. */
struct anth_response {
    struct gw_turn *t;
    json_t *blocks;                 /* the assistant's content, in order */
    char *partial[ANTH_BLOCKS_MAX]; /* a tool_use block's input JSON as it arrives */
    json_t *slot[ANTH_BLOCKS_MAX];  /* the block of each index (lent from blocks) */
    char stop_reason[32];
    uint64_t input_tokens, output_tokens;
    bool stopped; /* message_stop seen */
};

static void response_clear(struct anth_response *r)
{
    json_decref(r->blocks);
    for (size_t i = 0; i < ANTH_BLOCKS_MAX; i++)
        free(r->partial[i]);
}

static int bad_stream(struct gw_turn *t, const char *what)
{
    drv_error(t, "bad_stream", "the model provider sent a malformed stream: %s", what);
    return -EPROTO;
}

/* content_block_start: a text or tool_use block (others, such as thinking, are not kept). */
static int block_start(struct anth_response *r, const json_t *ev)
{
    json_int_t i = json_integer_value(json_object_get(ev, "index"));
    const json_t *cb = json_object_get(ev, "content_block");
    const char *type = osm_json_str(cb, "type", "");
    json_t *b;

    if (i < 0 || i >= ANTH_BLOCKS_MAX || r->slot[i])
        return bad_stream(r->t, "content block index out of order");
    if (strcmp(type, "text") == 0)
        b = json_pack("{s:s,s:s}", "type", "text", "text", osm_json_str(cb, "text", ""));
    else if (strcmp(type, "tool_use") == 0 && json_string_value(json_object_get(cb, "id")) &&
             json_string_value(json_object_get(cb, "name")))
        b = json_pack("{s:s,s:O,s:O,s:{}}", "type", "tool_use", "id", json_object_get(cb, "id"),
                      "name", json_object_get(cb, "name"), "input");
    else if (strcmp(type, "tool_use") == 0)
        return bad_stream(r->t, "a tool_use block without id or name");
    else
        return 0;
    if (!b || json_array_append_new(r->blocks, b) < 0)
        return -ENOMEM;
    r->slot[i] = b;
    if (strcmp(type, "tool_use") == 0 && !(r->partial[i] = strdup("")))
        return -ENOMEM;
    return 0;
}

static int append_str(char **s, const char *add)
{
    size_t n = strlen(*s), m = strlen(add);
    char *nb;

    if (n + m > DRV_LINE_MAX)
        return -EMSGSIZE;
    if (!(nb = realloc(*s, n + m + 1)))
        return -ENOMEM;
    memcpy(nb + n, add, m + 1);
    *s = nb;
    return 0;
}

/* content_block_delta: text streams to the chat; a tool's input JSON is gathered. */
static int block_delta(struct anth_response *r, const json_t *ev)
{
    json_int_t i = json_integer_value(json_object_get(ev, "index"));
    const json_t *d = json_object_get(ev, "delta");
    const char *type = osm_json_str(d, "type", "");
    json_t *b = i >= 0 && i < ANTH_BLOCKS_MAX ? r->slot[i] : NULL;

    if (!b)
        return 0; /* a block this driver does not keep */
    if (strcmp(type, "text_delta") == 0) {
        const char *text = osm_json_str(d, "text", "");
        char *all = NULL;
        if (asprintf(&all, "%s%s", osm_json_str(b, "text", ""), text) < 0)
            return -ENOMEM;
        json_object_set_new(b, "text", json_string(all));
        free(all);
        if (*text)
            r->t->emit(r->t, "text", json_pack("{s:s}", "text", text));
        return 0;
    }
    if (strcmp(type, "input_json_delta") == 0 && r->partial[i])
        return append_str(&r->partial[i], osm_json_str(d, "partial_json", ""));
    return 0;
}

/* content_block_stop: a tool's input is complete. */
static int block_stop(struct anth_response *r, const json_t *ev)
{
    json_int_t i = json_integer_value(json_object_get(ev, "index"));
    json_t *input;

    if (i < 0 || i >= ANTH_BLOCKS_MAX || !r->partial[i])
        return 0;
    input = *r->partial[i] ? json_loads(r->partial[i], 0, NULL) : json_object();
    if (!json_is_object(input)) {
        json_decref(input);
        return bad_stream(r->t, "a tool's input is not a JSON object");
    }
    json_object_set_new(r->slot[i], "input", input);
    return 0;
}

static void usage_take(struct anth_response *r, const json_t *u)
{
    if (json_object_get(u, "input_tokens"))
        r->input_tokens =
            (uint64_t)json_integer_value(json_object_get(u, "input_tokens")) +
            (uint64_t)json_integer_value(json_object_get(u, "cache_creation_input_tokens")) +
            (uint64_t)json_integer_value(json_object_get(u, "cache_read_input_tokens"));
    if (json_object_get(u, "output_tokens")) /* cumulative in message_delta */
        r->output_tokens = (uint64_t)json_integer_value(json_object_get(u, "output_tokens"));
}

static int on_event(struct anth_response *r, const json_t *ev)
{
    const char *type = osm_json_str(ev, "type", "");

    if (strcmp(type, "message_start") == 0)
        usage_take(r, json_object_get(json_object_get(ev, "message"), "usage"));
    else if (strcmp(type, "content_block_start") == 0)
        return block_start(r, ev);
    else if (strcmp(type, "content_block_delta") == 0)
        return block_delta(r, ev);
    else if (strcmp(type, "content_block_stop") == 0)
        return block_stop(r, ev);
    else if (strcmp(type, "message_delta") == 0) {
        const char *sr = osm_json_str(json_object_get(ev, "delta"), "stop_reason", NULL);
        if (sr)
            snprintf(r->stop_reason, sizeof(r->stop_reason), "%s", sr);
        usage_take(r, json_object_get(ev, "usage"));
    } else if (strcmp(type, "message_stop") == 0)
        r->stopped = true;
    else if (strcmp(type, "error") == 0) {
        const json_t *e = json_object_get(ev, "error");
        drv_error(r->t, osm_json_str(e, "type", "provider_error"),
                  "the model provider reported an error: %.300s",
                  osm_json_str(e, "message", "(no message)"));
        return -EPROTO;
    }
    return 0; /* ping, and event types added later */
}

static int on_data(void *ctx, char *data, size_t len)
{
    struct anth_response *r = ctx;
    json_auto_t *ev = json_loadb(data, len, 0, NULL);
    int rc;

    if (!json_is_object(ev))
        return bad_stream(r->t, "an event that is not a JSON object");
    rc = on_event(r, ev);
    if (rc == -ENOMEM)
        drv_error(r->t, "internal", "out of memory");
    return rc;
}

int drv_anthropic_parse(struct gw_turn *t, const char *bytes, size_t n, size_t piece)
{
    struct anth_response r = {.t = t, .blocks = json_array()};
    struct drv_stream s = {.t = t, .on_data = on_data, .ctx = &r};
    int rc = r.blocks ? 0 : -ENOMEM;

    if (piece == 0)
        piece = 1;
    for (size_t at = 0; rc == 0 && at < n; at += piece)
        rc = drv_stream_feed(&s, bytes + at, n - at < piece ? n - at : piece, n - at <= piece);
    if (rc == 0 && n == 0)
        rc = drv_stream_feed(&s, "", 0, true);
    else if (rc < 0)
        drv_stream_feed(&s, "", 0, true); /* frees the line */
    if (rc == 0 && !r.stopped)
        rc = bad_stream(t, "it ended before message_stop");
    response_clear(&r);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------- */

static struct curl_slist *headers_new(const struct gw_turn *t)
{
    struct curl_slist *h = NULL, *n;
    _cleanup_free_ char *auth = NULL;
    bool oauth = t->credential_type && strcmp(t->credential_type, "oauth") == 0;

    if (asprintf(&auth, oauth ? "Authorization: Bearer %s" : "x-api-key: %s",
                 t->secret ? t->secret : "") < 0)
        return NULL;
    const char *lines[] = {"Content-Type: application/json", "Accept: text/event-stream",
                           "anthropic-version: " ANTH_VERSION, auth,
                           oauth ? "anthropic-beta: " ANTH_OAUTH_BETA : NULL};
    for (size_t i = 0; i < ELEMENTSOF(lines) && lines[i]; i++) {
        if (!(n = curl_slist_append(h, lines[i]))) {
            drv_headers_free(h);
            h = NULL;
            break;
        }
        h = n;
    }
    sodium_memzero(auth, strlen(auth));
    return h;
}

static json_t *request_body(const struct gw_turn *t, const json_t *messages)
{
    json_t *b = json_pack("{s:s,s:i,s:b,s:O,s:O}", "model",
                          t->model && *t->model ? t->model : "claude-sonnet-4-6", "max_tokens",
                          DRV_MAX_TOKENS, "stream", 1, "messages", messages, "tools", drv_tools());

    if (b && t->system_prompt && *t->system_prompt)
        json_object_set_new(b, "system", json_string(t->system_prompt));
    return b;
}

/* One request; the assistant's message is appended to messages. */
static int request(struct gateway *gw, struct gw_turn *t, const char *url, json_t *messages,
                   struct anth_response *r)
{
    json_auto_t *body = request_body(t, messages);
    struct curl_slist *h = headers_new(t);
    struct drv_stream s = {.t = t, .on_data = on_data, .ctx = r};
    int rc;

    if (!body || !h || !(r->blocks = json_array())) {
        drv_headers_free(h);
        drv_error(t, "internal", "out of memory");
        return -ENOMEM;
    }
    rc = drv_stream_post(gw, &s, url, h, body);
    drv_headers_free(h);
    if (gw->llm && (r->input_tokens || r->output_tokens))
        gw_llmproxy_account(gw->llm, t->agent_id, r->input_tokens, r->output_tokens);
    if (rc < 0)
        return rc;
    if (!r->stopped)
        return bad_stream(t, "it ended before message_stop");
    if (json_array_append_new(
            messages, json_pack("{s:s,s:O}", "role", "assistant", "content", r->blocks)) < 0)
        return -ENOMEM;
    return 0;
}

/* Runs the tool_use blocks of the last response; their results as the next user message. */
static int run_tools(struct gateway *gw, struct gw_turn *t, const struct anth_response *r,
                     json_t *messages)
{
    json_t *results = json_array(), *b;
    size_t i;

    json_array_foreach(r->blocks, i, b)
    {
        bool is_error = false;
        char *text;
        if (strcmp(osm_json_str(b, "type", ""), "tool_use") != 0)
            continue;
        text = drv_tool_run(gw, t, osm_json_str(b, "id", ""), osm_json_str(b, "name", ""),
                            json_object_get(b, "input"), &is_error);
        if (!text ||
            json_array_append_new(results, json_pack("{s:s,s:s,s:s,s:b}", "type", "tool_result",
                                                     "tool_use_id", osm_json_str(b, "id", ""),
                                                     "content", text, "is_error", is_error)) < 0) {
            free(text);
            json_decref(results);
            return -ENOMEM;
        }
        free(text);
        if (atomic_load(&t->aborted))
            break;
    }
    return json_array_append_new(messages,
                                 json_pack("{s:s,s:o}", "role", "user", "content", results));
}

static char *messages_url(const struct gw_turn *t)
{
    const char *base = t->base_url && *t->base_url ? t->base_url : ANTH_DEFAULT_URL;
    size_t n = strlen(base);
    char *url;

    while (n > 0 && base[n - 1] == '/')
        n--;
    if (asprintf(&url, "%.*s/v1/messages", (int)n, base) < 0)
        return NULL;
    return url;
}

static int anthropic_run(struct gateway *gw, struct gw_turn *t)
{
    _cleanup_free_ char *url = messages_url(t);
    json_t *messages = drv_conversation_get(t, ANTH_ID_PREFIX);
    int rc = -ENOMEM;

    if (!url || !messages ||
        json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content",
                                                  t->text ? t->text : "")) < 0) {
        drv_error(t, "internal", "out of memory");
        goto out;
    }
    for (int round = 0; round < DRV_ROUNDS_MAX; round++) {
        struct anth_response r = {.t = t};
        rc = request(gw, t, url, messages, &r);
        if (rc == 0 && strcmp(r.stop_reason, "tool_use") == 0) {
            rc = run_tools(gw, t, &r, messages);
            rc = atomic_load(&t->aborted) ? -ECANCELED : rc < 0 ? -ENOMEM : 1;
        }
        response_clear(&r);
        if (rc <= 0)
            goto out;
    }
    drv_error(t, "tool_rounds", "the model asked for tools %d times in one turn; stopped there",
              DRV_ROUNDS_MAX);
    rc = -ELOOP;
out:
    if (rc == 0) /* only a finished turn is kept: a broken one would be sent again */
        drv_conversation_put(t, messages);
    else
        json_decref(messages);
    return rc;
}

static const char *const providers[] = {"anthropic", NULL};
static const char *const auth_types[] = {"api_key", "oauth", NULL};
static const char *const models[] = {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5",
                                     NULL};

const struct gw_driver gw_driver_anthropic = {
    .name = "anthropic",
    .display_name = "Anthropic API",
    .description = "Claude through the Messages API directly (streaming, osModa's typed tools "
                   "run by the gateway through the daemons' policy)",
    .providers = providers,
    .auth_types = auth_types,
    .default_models = models,
    .run = anthropic_run,
};
