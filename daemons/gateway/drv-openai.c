/* The openai driver: any OpenAI-compatible chat-completions endpoint (hosted, llama.cpp's server,
 * Ollama, vLLM) with stream=true and function tools. Content deltas stream to the chat; tool
 * calls arrive in pieces (name and arguments split across chunks, keyed by index) and run on the
 * daemons when the response ends (finish_reason tool_calls, or any call gathered: some local
 * servers say stop), their results going back as role "tool" messages, for at most
 * DRV_ROUNDS_MAX requests a turn. The conversation is kept under the resume id "openai-<hex>". */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "drivers.h"
#include "gateway.h"
#include "ipc/json_util.h"

#define OAI_DEFAULT_URL "https://api.openai.com/v1"
#define OAI_CALLS_MAX 32 /* tool calls in one response */
#define OAI_ID_PREFIX "openai-"

struct oai_call {
    char *id, *name, *arguments;
};

/* What one streamed response builds. */
struct oai_response {
    struct gw_turn *t;
    char *content;
    struct oai_call calls[OAI_CALLS_MAX];
    size_t n_calls;
    uint64_t input_tokens, output_tokens;
    bool done; /* [DONE] seen */
};

static void response_clear(struct oai_response *r)
{
    free(r->content);
    for (size_t i = 0; i < OAI_CALLS_MAX; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
}

static int bad_stream(struct gw_turn *t, const char *what)
{
    drv_error(t, "bad_stream", "the model provider sent a malformed stream: %s", what);
    return -EPROTO;
}

/* Appends add to *s (NULL counts as ""), capped at DRV_LINE_MAX. */
static int append_str(char **s, const char *add)
{
    size_t n = *s ? strlen(*s) : 0, m = strlen(add);
    char *nb;

    if (n + m > DRV_LINE_MAX)
        return -EMSGSIZE;
    if (!(nb = realloc(*s, n + m + 1)))
        return -ENOMEM;
    memcpy(nb + n, add, m + 1);
    *s = nb;
    return 0;
}

/* One delta.tool_calls entry: a new call at its index, or more of one. */
static int call_delta(struct oai_response *r, const json_t *tc)
{
    json_int_t i = json_is_integer(json_object_get(tc, "index"))
                       ? json_integer_value(json_object_get(tc, "index"))
                       : (json_int_t)r->n_calls - (r->n_calls > 0 && !json_object_get(tc, "id"));
    const json_t *fn = json_object_get(tc, "function");
    struct oai_call *c;
    int rc = 0;

    if (i < 0 || i >= OAI_CALLS_MAX)
        return bad_stream(r->t, "a tool call index out of range");
    c = &r->calls[i];
    if ((size_t)i >= r->n_calls)
        r->n_calls = (size_t)i + 1;
    if (json_string_value(json_object_get(tc, "id")) && !c->id)
        rc = append_str(&c->id, json_string_value(json_object_get(tc, "id")));
    if (rc == 0 && json_string_value(json_object_get(fn, "name")))
        rc = append_str(&c->name, json_string_value(json_object_get(fn, "name")));
    if (rc == 0 && json_string_value(json_object_get(fn, "arguments")))
        rc = append_str(&c->arguments, json_string_value(json_object_get(fn, "arguments")));
    return rc;
}

static int choice_delta(struct oai_response *r, const json_t *choice)
{
    const json_t *d = json_object_get(choice, "delta");
    const char *text = json_string_value(json_object_get(d, "content"));
    const json_t *tcs = json_object_get(d, "tool_calls"), *tc;
    size_t i;
    int rc;

    if (text && *text) {
        if ((rc = append_str(&r->content, text)) < 0)
            return rc;
        r->t->emit(r->t, "text", json_pack("{s:s}", "text", text));
    }
    json_array_foreach(tcs, i, tc)
    {
        if ((rc = call_delta(r, tc)) < 0)
            return rc;
    }
    return 0;
}

static int on_chunk(struct oai_response *r, const json_t *chunk)
{
    const json_t *choices = json_object_get(chunk, "choices"), *u = json_object_get(chunk, "usage");
    const json_t *e = json_object_get(chunk, "error");

    if (e) {
        drv_error(r->t, "provider_error", "the model provider reported an error: %.300s",
                  json_is_object(e) ? osm_json_str(e, "message", "(no message)")
                                    : osm_json_str(chunk, "error", "(no message)"));
        return -EPROTO;
    }
    if (json_is_object(u)) {
        r->input_tokens = (uint64_t)json_integer_value(json_object_get(u, "prompt_tokens"));
        r->output_tokens = (uint64_t)json_integer_value(json_object_get(u, "completion_tokens"));
    }
    if (choices && !json_is_array(choices))
        return bad_stream(r->t, "choices is not an array");
    /* n=1: the first choice is the answer */
    return json_array_size(choices) ? choice_delta(r, json_array_get(choices, 0)) : 0;
}

static int on_data(void *ctx, char *data, size_t len)
{
    struct oai_response *r = ctx;
    json_auto_t *chunk = NULL;
    int rc;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->done = true;
        return 0;
    }
    chunk = json_loadb(data, len, 0, NULL); /* not inside json_is_object: it reads twice */
    if (!json_is_object(chunk))
        return bad_stream(r->t, "a chunk that is not a JSON object");
    rc = on_chunk(r, chunk);
    if (rc == -ENOMEM)
        drv_error(r->t, "internal", "out of memory");
    else if (rc == -EMSGSIZE)
        rc = bad_stream(r->t, "a message longer than the gateway keeps");
    return rc;
}

static int calls_complete(struct oai_response *r);

int drv_openai_parse(struct gw_turn *t, const char *bytes, size_t n, size_t piece)
{
    struct oai_response r = {.t = t};
    struct drv_stream s = {.t = t, .on_data = on_data, .ctx = &r};
    int rc = 0;

    if (piece == 0)
        piece = 1;
    for (size_t at = 0; rc == 0 && at < n; at += piece)
        rc = drv_stream_feed(&s, bytes + at, n - at < piece ? n - at : piece, n - at <= piece);
    if (rc == 0 && n == 0)
        rc = drv_stream_feed(&s, "", 0, true);
    else if (rc < 0)
        drv_stream_feed(&s, "", 0, true); /* frees the line */
    if (rc == 0 && !r.done)
        rc = bad_stream(t, "it ended before [DONE]");
    if (rc == 0)
        rc = calls_complete(&r);
    response_clear(&r);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------- */

static struct curl_slist *headers_new(const struct gw_turn *t)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *n;
    _cleanup_free_ char *auth = NULL;

    if (h && t->secret && *t->secret) { /* a local server may need no key */
        if (asprintf(&auth, "Authorization: Bearer %s", t->secret) < 0)
            auth = NULL;
        n = auth ? curl_slist_append(h, auth) : NULL;
        if (auth)
            sodium_memzero(auth, strlen(auth));
        if (!n) {
            drv_headers_free(h);
            return NULL;
        }
        h = n;
    }
    return h;
}

static json_t *tools_json(void)
{
    const json_t *all = drv_tools(), *tool;
    json_t *a = json_array();
    size_t i;

    json_array_foreach(all, i, tool)
        json_array_append_new(a, json_pack("{s:s,s:{s:O,s:O,s:O}}", "type", "function", "function",
                                           "name", json_object_get(tool, "name"), "description",
                                           json_object_get(tool, "description"), "parameters",
                                           json_object_get(tool, "input_schema")));
    return a;
}

static json_t *request_body(const struct gw_turn *t, const json_t *messages)
{
    json_t *all = json_array();

    if (all && t->system_prompt && *t->system_prompt)
        json_array_append_new(
            all, json_pack("{s:s,s:s}", "role", "system", "content", t->system_prompt));
    if (!all || json_array_extend(all, (json_t *)messages) < 0) {
        json_decref(all);
        return NULL;
    }
    return json_pack("{s:s,s:b,s:{s:b},s:i,s:o,s:o}", "model",
                     t->model && *t->model ? t->model : "gpt-4o", "stream", 1, "stream_options",
                     "include_usage", 1, "max_tokens", DRV_MAX_TOKENS, "messages", all, "tools",
                     tools_json());
}

/* The assistant's message as the next request must repeat it (new reference). */
static json_t *assistant_message(const struct oai_response *r)
{
    json_t *m = json_pack("{s:s,s:s?}", "role", "assistant", "content", r->content), *calls;

    if (!m || r->n_calls == 0)
        return m;
    if (!(calls = json_array())) {
        json_decref(m);
        return NULL;
    }
    for (size_t i = 0; i < r->n_calls; i++)
        json_array_append_new(
            calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", r->calls[i].id, "type", "function",
                             "function", "name", r->calls[i].name, "arguments",
                             r->calls[i].arguments ? r->calls[i].arguments : "{}"));
    json_object_set_new(m, "tool_calls", calls);
    return m;
}

/* Every call has a name (and an id: some local servers give none, so one is made). */
static int calls_complete(struct oai_response *r)
{
    for (size_t i = 0; i < r->n_calls; i++) {
        if (!r->calls[i].name || !*r->calls[i].name)
            return bad_stream(r->t, "a tool call without a function name");
        if (!r->calls[i].id && asprintf(&r->calls[i].id, "call_%zu", i) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int request(struct gateway *gw, struct gw_turn *t, const char *url, json_t *messages,
                   struct oai_response *r)
{
    json_auto_t *body = request_body(t, messages);
    struct curl_slist *h = headers_new(t);
    struct drv_stream s = {.t = t, .on_data = on_data, .ctx = r};
    int rc;

    if (!body || !h) {
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
    if (!r->done)
        return bad_stream(t, "it ended before [DONE]");
    if ((rc = calls_complete(r)) < 0)
        return rc;
    if (json_array_append_new(messages, assistant_message(r)) < 0)
        return -ENOMEM;
    return 0;
}

/* Runs the calls of the last response; each result becomes a role "tool" message. */
static int run_tools(struct gateway *gw, struct gw_turn *t, const struct oai_response *r,
                     json_t *messages)
{
    for (size_t i = 0; i < r->n_calls && !atomic_load(&t->aborted); i++) {
        const struct oai_call *c = &r->calls[i];
        json_auto_t *input =
            json_loads(c->arguments && *c->arguments ? c->arguments : "{}", 0, NULL);
        bool is_error = false;
        char *text = drv_tool_run(gw, t, c->id, c->name, input, &is_error);
        int rc;

        if (!text)
            return -ENOMEM;
        rc = json_array_append_new(messages, json_pack("{s:s,s:s,s:s}", "role", "tool",
                                                       "tool_call_id", c->id, "content", text));
        free(text);
        if (rc < 0)
            return -ENOMEM;
    }
    return 0;
}

/* {base}/chat/completions when the base already names the API version (".../v1"), else
 * {base}/v1/chat/completions. */
char *drv_openai_url(const char *base_url)
{
    const char *base = base_url && *base_url ? base_url : OAI_DEFAULT_URL;
    size_t n = strlen(base);
    char *url;

    while (n > 0 && base[n - 1] == '/')
        n--;
    if (asprintf(&url, "%.*s%s/chat/completions", (int)n, base,
                 n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0 ? "" : "/v1") < 0)
        return NULL;
    return url;
}

static int openai_run(struct gateway *gw, struct gw_turn *t)
{
    _cleanup_free_ char *url = drv_openai_url(t->base_url);
    json_t *messages = drv_conversation_get(t, OAI_ID_PREFIX);
    int rc = -ENOMEM;

    if (!url || !messages ||
        json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content",
                                                  t->text ? t->text : "")) < 0) {
        drv_error(t, "internal", "out of memory");
        goto out;
    }
    for (int round = 0; round < DRV_ROUNDS_MAX; round++) {
        struct oai_response r = {.t = t};
        rc = request(gw, t, url, messages, &r);
        if (rc == 0 && r.n_calls > 0) {
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

static const char *const providers[] = {"openai", "openai-compatible", "ollama", "llama.cpp", NULL};
static const char *const auth_types[] = {"api_key", NULL};
static const char *const models[] = {"gpt-4o", "gpt-4o-mini", NULL};

const struct gw_driver gw_driver_openai = {
    .name = "openai",
    .display_name = "OpenAI-compatible API",
    .description = "Any chat-completions endpoint with tools (hosted, llama.cpp, Ollama), "
                   "streaming; osModa's typed tools run by the gateway through the daemons' "
                   "policy",
    .providers = providers,
    .auth_types = auth_types,
    .default_models = models,
    .run = openai_run,
};
