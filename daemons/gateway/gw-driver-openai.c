/* The openai driver: any OpenAI-compatible chat-completions endpoint (OpenAI, a local llama.cpp
 * or Ollama server), streamed, with osModa's tools from the registry as functions run on the
 * daemons' agent sockets and the conversation kept per chat session (gw-driver-api.c). The
 * credential's base_url names the server ("http://127.0.0.1:11434" or ".../v1"). */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw-drivers.h"

#define OAI_DEFAULT_URL "https://api.openai.com"
#define OAI_ID_PREFIX "openai-"
#define OAI_CALLS_MAX 32 /* tool calls in one answer */

/* ---- the tools as functions --------------------------------------------------------------- */

static json_t *functions;
static pthread_once_t functions_once = PTHREAD_ONCE_INIT;

static void functions_build(void)
{
    const json_t *tools = gw_api_tools();
    json_t *a = tools ? json_array() : NULL, *t;
    size_t i;

    json_array_foreach(tools, i, t)
    {
        if (!a)
            break;
        json_array_append_new(a, json_pack("{s:s, s:{s:O, s:O, s:O}}", "type", "function",
                                           "function", "name", json_object_get(t, "name"),
                                           "description", json_object_get(t, "description"),
                                           "parameters", json_object_get(t, "input_schema")));
    }
    functions = a;
}

/* ---- one streamed model call -------------------------------------------------------------- */

struct stream {
    struct gw_turn *t;
    char *text;      /* the answer's text so far */
    json_t *calls;   /* [{id, name, arguments}] by index, as they are built */
    char finish[32]; /* finish_reason */
    char error[512];
};

static void append(char **s, const char *more)
{
    char *joined;

    if (asprintf(&joined, "%s%s", *s ? *s : "", more) >= 0) {
        free(*s);
        *s = joined;
    }
}

static void call_delta(struct stream *s, const json_t *d)
{
    json_int_t i = json_integer_value(json_object_get(d, "index"));
    json_t *fn = json_object_get(d, "function"), *c;
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));

    if (i < 0 || i >= OAI_CALLS_MAX)
        return;
    while (json_array_size(s->calls) <= (size_t)i)
        json_array_append_new(s->calls,
                              json_pack("{s:s, s:s, s:s}", "id", "", "name", "", "arguments", ""));
    c = json_array_get(s->calls, (size_t)i);
    if (id)
        json_object_set_new(c, "id", json_string(id));
    if (name)
        json_object_set_new(c, "name", json_string(name));
    if (args) {
        char *joined = strdup(json_string_value(json_object_get(c, "arguments")));
        append(&joined, args);
        if (joined)
            json_object_set_new(c, "arguments", json_string(joined));
        free(joined);
    }
}

static void on_event(void *ud, const char *data)
{
    struct stream *s = ud;
    json_t *ev, *choice, *delta, *calls, *c;
    const char *text, *finish, *err;
    size_t i;

    if (strcmp(data, "[DONE]") == 0 || !(ev = json_loads(data, 0, NULL)))
        return;
    err = json_string_value(json_object_get(json_object_get(ev, "error"), "message"));
    if (err)
        snprintf(s->error, sizeof(s->error), "%s", err);
    choice = json_array_get(json_object_get(ev, "choices"), 0);
    delta = json_object_get(choice, "delta");
    text = json_string_value(json_object_get(delta, "content"));
    if (text && *text) {
        append(&s->text, text);
        s->t->emit(s->t, "text", json_pack("{s:s}", "text", text));
    }
    calls = json_object_get(delta, "tool_calls");
    json_array_foreach(calls, i, c) call_delta(s, c);
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish)
        snprintf(s->finish, sizeof(s->finish), "%s", finish);
    json_decref(ev);
}

static char *url_of(const char *base)
{
    size_t n = strlen(base);
    char *url = NULL;

    while (n && base[n - 1] == '/')
        n--;
    if (asprintf(&url, "%.*s%s/chat/completions", (int)n, base,
                 n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0 ? "" : "/v1") < 0)
        return NULL;
    return url;
}

static struct curl_slist *headers_new(const struct gw_turn *t)
{
    struct curl_slist *h = curl_slist_append(NULL, "content-type: application/json");
    char *auth = NULL;

    if (t->secret && asprintf(&auth, "authorization: Bearer %s", t->secret) >= 0) {
        h = curl_slist_append(h, auth);
        sodium_memzero(auth, strlen(auth));
        free(auth);
    }
    return h;
}

static int model_call(struct gw_turn *t, const json_t *messages, struct stream *s,
                      struct gw_api_reply *reply)
{
    json_t *all = json_array(), *req;
    char *body = NULL, *url = url_of(t->base_url ? t->base_url : OAI_DEFAULT_URL);
    struct curl_slist *h = headers_new(t);
    int r = -ENOMEM;

    if (all && t->system_prompt)
        json_array_append_new(
            all, json_pack("{s:s, s:s}", "role", "system", "content", t->system_prompt));
    if (all)
        json_array_extend(all, (json_t *)messages); /* adds references, changes nothing */
    req = json_pack("{s:s, s:i, s:o, s:O, s:b}", "model", t->model, "max_tokens", GW_API_MAX_TOKENS,
                    "messages", all, "tools", functions, "stream", 1);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body && url)
        r = gw_api_post(t, url, h, body, on_event, s, reply);
    free(url);
    free(body);
    curl_slist_free_all(h);
    return r;
}

/* ---- the turn ----------------------------------------------------------------------------- */

/* The assistant message of the answer, and a tool_use to the client for each call. */
static json_t *assistant_message(struct stream *s)
{
    json_t *m = json_pack("{s:s, s:s?}", "role", "assistant", "content", s->text), *calls, *c;
    size_t i;

    if (!m || json_array_size(s->calls) == 0)
        return m;
    calls = json_array();
    json_array_foreach(s->calls, i, c)
    {
        const char *args = json_string_value(json_object_get(c, "arguments"));
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object();
        if (!json_is_object(input)) {
            json_decref(input);
            input = json_object();
        }
        json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id",
                                               json_object_get(c, "id"), "type", "function",
                                               "function", "name", json_object_get(c, "name"),
                                               "arguments", args && *args ? args : "{}"));
        s->t->emit(s->t, "tool_use",
                   json_pack("{s:O, s:o, s:O}", "name", json_object_get(c, "name"), "input", input,
                             "id", json_object_get(c, "id")));
    }
    json_object_set_new(m, "tool_calls", calls);
    return m;
}

/* Runs the calls of the answer: one tool message each, appended to messages. */
static void tools_run(struct gateway *gw, struct gw_turn *t, const json_t *calls, json_t *messages)
{
    json_t *c;
    size_t i;

    json_array_foreach(calls, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *args = json_string_value(json_object_get(c, "arguments"));
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object(), *out;
        const char *status;
        bool is_error;
        char *text;
        if (atomic_load(&t->aborted)) {
            json_decref(input);
            break;
        }
        out = json_is_object(input)
                  ? gw_api_tool_call(gw, t, name, input, &is_error, &status)
                  : (is_error = true, status = "error",
                     json_pack("{s:s}", "error", "the arguments are not a JSON object"));
        text = gw_api_result_text(out);
        t->emit(t, "tool_result",
                json_pack("{s:O, s:b, s:s}", "id", json_object_get(c, "id"), "is_error", is_error,
                          "decision", status));
        json_array_append_new(messages,
                              json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id",
                                        json_object_get(c, "id"), "content", text ? text : "{}"));
        free(text);
        json_decref(out);
        json_decref(input);
    }
}

static int openai_run(struct gateway *gw, struct gw_turn *t)
{
    json_t *messages;
    int r = 0, step;

    pthread_once(&functions_once, functions_build);
    if (!functions)
        return gw_api_fail(t, -ENOMEM, NULL, NULL);
    if (strncmp(t->resume_id, OAI_ID_PREFIX, strlen(OAI_ID_PREFIX)) != 0)
        gw_api_new_id(OAI_ID_PREFIX, t->resume_id, sizeof(t->resume_id));
    messages = gw_api_conversation_get(t->resume_id);
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", t->text));
    for (step = 0; step < GW_API_STEPS_MAX; step++) {
        struct stream s = {.t = t, .calls = json_array()};
        struct gw_api_reply reply;
        bool more = false;
        r = model_call(t, messages, &s, &reply);
        if (r < 0 || reply.status / 100 != 2 || s.error[0]) {
            r = gw_api_fail(t, r, &reply, s.error);
        } else {
            json_array_append_new(messages, assistant_message(&s));
            more = json_array_size(s.calls) > 0;
            if (more)
                tools_run(gw, t, s.calls, messages);
            if (more && atomic_load(&t->aborted))
                r = gw_api_fail(t, -ECANCELED, NULL, NULL);
        }
        free(s.text);
        json_decref(s.calls);
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

static const char *const oai_providers[] = {"openai", NULL};
static const char *const oai_auth_types[] = {"api_key", NULL};
static const char *const oai_models[] = {"gpt-4.1", "gpt-4.1-mini", NULL};

const struct gw_driver gw_driver_openai = {
    .name = "openai",
    .display_name = "OpenAI-compatible",
    .description = "Any OpenAI-compatible chat-completions endpoint (a hosted one, or a local "
                   "llama.cpp or Ollama server), with osModa's typed tools run on the daemons' "
                   "agent sockets",
    .providers = oai_providers,
    .auth_types = oai_auth_types,
    .default_models = oai_models,
    .run = openai_run,
};
