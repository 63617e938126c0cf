/* The LLM proxy's socket: POST /agents/{id}/v1/chat/completions on a unix socket in the run
 * directory takes an OpenAI-compatible request from a tool or a routine, adds the agent's key and
 * sends it to the agent's provider, so that nothing but the gateway ever holds the key. The
 * request counts against the agent's requests-per-minute limit and its usage against the agent's
 * tokens, as the chat's own requests do. Answers are whole (stream: false): a streamed answer
 * would need a streaming transport the socket does not have. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "drivers.h"
#include "ipc/errors.h"
#include "ipc/http_server.h"
#include "ipc/json_util.h"

struct llm_sock {
    struct gw_llmproxy *p;
    gw_llm_resolve_fn resolve;
    void *ctx;
};

struct gw_llm_server {
    struct llm_sock s;
    struct osm_http_server *http;
};

void gw_llm_target_clear(struct gw_llm_target *t)
{
    if (t->secret)
        sodium_memzero(t->secret, strlen(t->secret));
    free(t->runtime);
    free(t->base_url);
    free(t->secret);
    free(t->model);
    memset(t, 0, sizeof(*t));
}

struct reply_buf {
    char *data;
    size_t len;
};

static size_t on_reply(char *data, size_t size, size_t nmemb, void *ud)
{
    struct reply_buf *b = ud;
    size_t n = size * nmemb;
    char *nb;

    if (b->len + n > DRV_LINE_MAX || !(nb = realloc(b->data, b->len + n + 1)))
        return 0;
    memcpy(nb + b->len, data, n);
    b->data = nb;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* POSTs body to url with the target's key: 0 with *ret_status and *ret_body (malloc'ed), or a
 * curl failure as -EIO with ret_why. */
static int post(const struct gw_llm_target *tg, const char *url, const char *body, long *ret_status,
                char **ret_body, const char **ret_why)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    _cleanup_free_ char *auth = NULL;
    struct reply_buf b = {0};
    CURL *c = curl_easy_init();
    CURLcode rc = CURLE_OUT_OF_MEMORY;

    if (tg->secret && *tg->secret && asprintf(&auth, "Authorization: Bearer %s", tg->secret) >= 0)
        h = h ? curl_slist_append(h, auth) : NULL;
    if (auth)
        sodium_memzero(auth, strlen(auth));
    if (c && h) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)DRV_CONNECT_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)GW_CHAT_TURN_TIMEOUT_S);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
    }
    if (c)
        curl_easy_cleanup(c);
    drv_headers_free(h);
    if (rc != CURLE_OK) {
        free(b.data);
        *ret_why = curl_easy_strerror(rc);
        return -EIO;
    }
    *ret_body = b.data ? b.data : strdup("");
    return *ret_body ? 0 : -ENOMEM;
}

/* The provider's answer as this socket's: a 2xx body as it is (its usage accounted), anything
 * else a 502 envelope with the provider's status and message (the key masked out). */
static json_t *relay(struct osm_request *req, struct llm_sock *s, const char *agent,
                     const struct gw_llm_target *tg, long status, char *text)
{
    json_t *j = json_loads(text, 0, NULL), *u = json_object_get(j, "usage");
    const json_t *e = json_object_get(j, "error");
    char msg[512];

    if (status / 100 == 2 && json_is_object(j)) {
        gw_llmproxy_account(s->p, agent,
                            (uint64_t)json_integer_value(json_object_get(u, "prompt_tokens")),
                            (uint64_t)json_integer_value(json_object_get(u, "completion_tokens")));
        return j;
    }
    snprintf(msg, sizeof(msg), "%s",
             json_is_object(e) ? osm_json_str(e, "message", "") : json_string_value(e) ?: "");
    drv_mask_secret(msg, tg->secret);
    json_decref(j);
    if (status / 100 == 2)
        return osm_error(req, 502, "bad_gateway",
                         json_pack("{s:i}", "provider_status", (int)status),
                         "the model provider's answer is not a JSON object");
    return osm_error(req, 502, "provider_error",
                     json_pack("{s:i,s:s}", "provider_status", (int)status, "message", msg),
                     "the model provider answered HTTP %ld", status);
}

/* The request as it goes out: the client's, with the agent's model when it names none. */
static char *outgoing(const json_t *body, const struct gw_llm_target *tg)
{
    json_auto_t *b = json_deep_copy(body);

    if (!b)
        return NULL;
    if (!json_string_value(json_object_get(b, "model")) && tg->model)
        json_object_set_new(b, "model", json_string(tg->model));
    return json_dumps(b, JSON_COMPACT);
}

static json_t *forward(struct osm_request *req, struct llm_sock *s, const char *agent,
                       const struct gw_llm_target *tg)
{
    _cleanup_free_ char *url = drv_openai_url(tg->base_url), *text = outgoing(req->body, tg);
    _cleanup_free_ char *answer = NULL;
    const char *why = "";
    unsigned retry = 0;
    long status = 0;
    int r;

    if (!url || !text)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    if ((r = gw_llmproxy_admit(s->p, agent, &retry)) == -EAGAIN)
        return osm_error(req, 429, "rate_limited",
                         json_pack("{s:s,s:i}", "agent", agent, "retry_after_s", (int)retry),
                         "agent %s made as many model requests in the last minute as it may",
                         agent);
    if (r < 0)
        return osm_error_errno(req, r, "out of memory");
    if ((r = post(tg, url, text, &status, &answer, &why)) < 0)
        return osm_error(req, 502, "provider_unreachable", NULL,
                         "the model provider could not be reached: %s", why);
    return relay(req, s, agent, tg, status, answer);
}

static json_t *completions(struct osm_request *req)
{
    struct llm_sock *s = req->userdata;
    const char *agent = req->param[0];
    struct gw_llm_target tg = {0};
    json_t *out;
    int r;

    if (json_is_true(json_object_get(req->body, "stream")))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "stream"),
                         "this socket answers whole responses: send stream false");
    if (!json_is_array(json_object_get(req->body, "messages")))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "messages"),
                         "messages must be an array");
    r = s->resolve(s->ctx, agent, &tg);
    if (r == -ENOENT)
        out = osm_error(req, 404, "unknown_agent", json_pack("{s:s}", "agent", agent),
                        "no enabled agent %s with a credential", agent);
    else if (r < 0)
        out = osm_error_errno(req, r, "the agent's provider could not be looked up");
    else if (!tg.runtime || strcmp(tg.runtime, "openai") != 0)
        out = osm_error(req, 422, "not_openai_compatible",
                        json_pack("{s:s,s:s}", "agent", agent, "runtime", tg.runtime ?: ""),
                        "agent %s does not use an OpenAI-compatible provider", agent);
    else
        out = forward(req, s, agent, &tg);
    gw_llm_target_clear(&tg);
    return out;
}

static const struct osm_route routes[] = {
    {"POST", "/agents/{id}/v1/chat/completions", completions, OSM_ROUTE_BODY},
};

int gw_llmproxy_serve(struct gw_llmproxy *p, const char *path, mode_t mode,
                      gw_llm_resolve_fn resolve, void *ctx, struct gw_llm_server **ret)
{
    struct gw_llm_server *srv = calloc(1, sizeof(*srv));
    int r;

    if (!srv)
        return -ENOMEM;
    drv_curl_init();
    srv->s = (struct llm_sock){.p = p, .resolve = resolve, .ctx = ctx};
    struct osm_http_server_config cfg = {.routes = routes,
                                         .n_routes = ELEMENTSOF(routes),
                                         .userdata = &srv->s,
                                         .per_connection = true};
    if ((r = osm_http_server_start_unix(&cfg, path, mode, &srv->http)) < 0) {
        free(srv);
        return r;
    }
    *ret = srv;
    return 0;
}

void gw_llmproxy_serve_stop(struct gw_llm_server *srv)
{
    if (!srv)
        return;
    osm_http_server_stop(srv->http);
    free(srv);
}
