/* The anthropic driver: the Messages API over libcurl, streamed (each text delta goes to the
 * client as it arrives), with osModa's tools from the registry run on the daemons' agent
 * sockets and the conversation kept per chat session (gw-driver-api.c). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw-drivers.h"

#define ANTH_DEFAULT_URL "https://api.anthropic.com"
#define ANTH_VERSION "2023-06-01"
#define ANTH_ID_PREFIX "anthropic-"

/* ---- one streamed model call -------------------------------------------------------------- */

struct stream {
    struct gw_turn *t;
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

static void on_event(void *ud, const char *data)
{
    struct stream *s = ud;
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

/* One POST /v1/messages: the streamed answer in s. */
static int model_call(struct gw_turn *t, const json_t *messages, struct stream *s,
                      struct gw_api_reply *reply)
{
    json_t *req = json_pack("{s:s, s:i, s:s, s:O, s:O, s:b}", "model", t->model, "max_tokens",
                            GW_API_MAX_TOKENS, "system", t->system_prompt ? t->system_prompt : "",
                            "messages", messages, "tools", gw_api_tools(), "stream", 1);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL, *url = NULL;
    const char *base = t->base_url ? t->base_url : ANTH_DEFAULT_URL;
    struct curl_slist *h = headers_new(t);
    int r = -ENOMEM;

    json_decref(req);
    if (body &&
        asprintf(&url, "%s%s/v1/messages", base, base[strlen(base) - 1] == '/' ? "." : "") >= 0)
        r = gw_api_post(t, url, h, body, on_event, s, reply);
    free(url);
    free(body);
    curl_slist_free_all(h);
    return r;
}

/* ---- the turn ----------------------------------------------------------------------------- */

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
        out = gw_api_tool_call(gw, t, name, json_object_get(b, "input"), &is_error, &status);
        text = gw_api_result_text(out);
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

static int anthropic_run(struct gateway *gw, struct gw_turn *t)
{
    json_t *messages;
    int r = 0, step;

    if (!gw_api_tools())
        return gw_api_fail(t, -ENOMEM, NULL, NULL);
    if (strncmp(t->resume_id, ANTH_ID_PREFIX, strlen(ANTH_ID_PREFIX)) != 0)
        gw_api_new_id(ANTH_ID_PREFIX, t->resume_id, sizeof(t->resume_id));
    messages = gw_api_conversation_get(t->resume_id);
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", t->text));
    for (step = 0; step < GW_API_STEPS_MAX; step++) {
        struct stream s = {.t = t, .blocks = json_array(), .partials = json_array()};
        struct gw_api_reply reply;
        bool more = false;
        r = model_call(t, messages, &s, &reply);
        if (r < 0 || reply.status / 100 != 2 || s.error[0]) {
            r = gw_api_fail(t, r, &reply, s.error);
        } else {
            json_array_append_new(
                messages, json_pack("{s:s, s:O}", "role", "assistant", "content", s.blocks));
            more = strcmp(s.stop, "tool_use") == 0;
            if (more)
                json_array_append_new(messages, tools_run(gw, t, s.blocks));
            if (more && atomic_load(&t->aborted))
                r = gw_api_fail(t, -ECANCELED, NULL, NULL);
        }
        json_decref(s.blocks);
        json_decref(s.partials);
        if (r < 0 || !more)
            break;
    }
    if (step == GW_API_STEPS_MAX) {
        t->emit(t, "error",
                json_pack("{s:s, s:s}", "code", "too_many_steps", "text",
                          "the model asked for tools too many times in one turn"));
        r = -ELOOP;
    }
    if (r == 0)
        gw_api_conversation_put(t->resume_id, messages);
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
