/* The API drivers (anthropic, openai) and the LLM proxy they make every model request through.
 *
 * The gateway is the only process that holds a provider's key: a driver asks the proxy to admit
 * each model request for its agent (requests-per-minute limit, refused with a clear error), sends
 * it itself over libcurl, and reports the provider's usage (input and output tokens) back. The
 * tools a model may call are the registry's (lib/tools), run on the daemons' agent sockets as the
 * MCP bridge runs them, so the daemons' policy, approvals and ledger apply to every call. */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gw-chat.h"

extern const struct gw_driver gw_driver_anthropic, gw_driver_openai;

/* ---- the LLM proxy (gw-llmproxy.c) --------------------------------------------------------- */

#define GW_LLM_RPM_DEFAULT 60  /* model requests per agent per minute */
#define GW_LLM_RPM_MAX 10000   /* the highest limit an agent can be given */
#define GW_LLM_AGENTS_MAX 256  /* agents accounted; the least recently used beyond are dropped */
#define GW_LLM_WINDOW_MS 60000 /* the limit's sliding window */

struct gw_llmproxy;

/* A proxy whose agents get default_rpm (1..GW_LLM_RPM_MAX) unless told otherwise. */
int gw_llmproxy_new(unsigned default_rpm, struct gw_llmproxy **ret);
void gw_llmproxy_free(struct gw_llmproxy *p);
/* The limit of one agent (0: back to the default): 0, -EINVAL, -ENOMEM. */
int gw_llmproxy_set_rpm(struct gw_llmproxy *p, const char *agent_id, unsigned rpm);
/* Admits one model request of agent_id now: 0, or -EAGAIN with *ret_retry_s (seconds until the
 * oldest request of the window leaves it) when the agent already made its rpm requests in the
 * last minute (the refusal is counted), -ENOMEM. */
int gw_llmproxy_admit(struct gw_llmproxy *p, const char *agent_id, unsigned *ret_retry_s);
/* Adds a response's usage to the agent's totals. */
void gw_llmproxy_account(struct gw_llmproxy *p, const char *agent_id, uint64_t input_tokens,
                         uint64_t output_tokens);
/* {"default_rpm", "agents": [{"agent_id", "rpm", "requests", "refused", "last_minute",
 *  "input_tokens", "output_tokens"}], "totals": {"requests", "refused", "input_tokens",
 *  "output_tokens"}} for /metrics and the dashboard (new reference, NULL without memory). */
json_t *gw_llmproxy_stats(struct gw_llmproxy *p);

/* The LLM proxy's socket (gw-llmproxy-sock.c): POST /agents/{id}/v1/chat/completions forwards
 * an OpenAI-compatible request (stream false) to the agent's provider with its key added, under
 * the agent's limit and accounting. Who may connect is the socket's mode. */
struct gw_llm_target {
    char *runtime, *base_url, *secret, *model; /* malloc'ed; the secret wiped by _clear */
};
void gw_llm_target_clear(struct gw_llm_target *t);
/* Fills *ret for an enabled agent with a credential: 0, -ENOENT, or -errno. */
typedef int (*gw_llm_resolve_fn)(void *ctx, const char *agent_id, struct gw_llm_target *ret);
struct gw_llm_server;
int gw_llmproxy_serve(struct gw_llmproxy *p, const char *path, mode_t mode,
                      gw_llm_resolve_fn resolve, void *ctx, struct gw_llm_server **ret);
void gw_llmproxy_serve_stop(struct gw_llm_server *srv); /* NULL-safe */

/* ---- what the two drivers share (drv-tools.c) ---------------------------------------------- */

#define DRV_ROUNDS_MAX 16          /* model requests in one turn (tool rounds) */
#define DRV_LINE_MAX (1024 * 1024) /* one line of a stream, or an error body */
#define DRV_TOOL_TIMEOUT_MS 120000 /* one tool call on a daemon's socket */
#define DRV_RESULT_MAX (32 * 1024) /* a tool's result as the model sees it */
#define DRV_CONVERSATIONS_MAX 256  /* conversations kept for the next turn */
#define DRV_HISTORY_MAX 100        /* messages kept of one conversation */
#define DRV_CONNECT_TIMEOUT_S 15   /* reaching the provider */
#define DRV_STALL_S 120            /* a stream that sends nothing this long is cut */
#define DRV_MAX_TOKENS 4096        /* a response's output tokens */

/* The tools a model is offered: every registry tool an agent may call (those refused to agents
 * whatever the policy are left out), as {"name", "description", "input_schema"} objects (lent,
 * built once). */
const json_t *drv_tools(void);

/* Runs one tool call the model made: emits tool_use {name, input, id}, sends the call to the
 * daemon that executes it (POST /tools/call on <run>/<daemon>-agent.sock) and emits tool_result
 * {id, is_error, decision, status}. Returns the text the model gets back as the tool's result
 * (malloc'ed, at most DRV_RESULT_MAX bytes: the result, or what was refused or held and why) and
 * sets *ret_is_error; NULL only without memory. */
char *drv_tool_run(struct gateway *gw, struct gw_turn *t, const char *id, const char *name,
                   const json_t *input, bool *ret_is_error);

/* A turn's conversation: a copy of the messages kept under t->resume_id when it names one of
 * this driver's (prefix), else a new empty array and a new id written to t->resume_id.
 * New reference, NULL without memory. */
json_t *drv_conversation_get(struct gw_turn *t, const char *prefix);
/* Keeps messages (stolen) under t->resume_id for the next turn, oldest messages dropped beyond
 * DRV_HISTORY_MAX (cut only before a user's own text). */
void drv_conversation_put(struct gw_turn *t, json_t *messages);

/* Overwrites every occurrence of secret in s with asterisks. */
void drv_mask_secret(char *s, const char *secret);
/* The chat-completions URL of an OpenAI-compatible base (drv-openai.c): malloc'ed or NULL. */
char *drv_openai_url(const char *base_url);
/* curl_global_init, once. */
void drv_curl_init(void);

/* Emits {"type":"error","text","code"} with the turn's secret masked out of text. */
void drv_error(struct gw_turn *t, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One streamed model request. on_data gets each "data:" line's payload (NUL-terminated, without
 * the prefix) and returns 0 to go on or -errno to stop (after emitting an error). */
struct drv_stream {
    struct gw_turn *t;
    int (*on_data)(void *ctx, char *data, size_t len);
    void *ctx;
    /* filled while streaming */
    long status; /* HTTP status */
    char *line;  /* the partial line (capped at DRV_LINE_MAX) */
    size_t len, cap;
    int stop;    /* why on_data stopped the transfer (-errno), or 0 */
    bool events; /* a data line was seen */
    CURL *curl;
};

/* POSTs body (JSON) to url with headers and streams the answer through s->on_data. Admits the
 * request at the proxy first (agent t->agent_id) and refuses it (error "rate_limited") when the
 * agent is over its limit. Every failure is reported to the turn as one error message before
 * -errno returns: the provider's HTTP status (code "http_<status>", its error message), a
 * stream that is not one, the network; abort returns -ECANCELED without one. */
int drv_stream_post(struct gateway *gw, struct drv_stream *s, const char *url,
                    struct curl_slist *headers, const json_t *body);
/* Runs bytes of a 2xx answer through the line splitter and s->on_data, as if they had arrived
 * from the provider (last: the answer ends after them): for the fuzz target. 0 or on_data's
 * -errno (-EMSGSIZE for an overlong line). */
int drv_stream_feed(struct drv_stream *s, const char *bytes, size_t n, bool last);
/* A driver's response parser over one answer's bytes fed in pieces of at most piece bytes
 * (drv-anthropic.c, drv-openai.c): what a streamed response would emit to t, without a request.
 * 0 when the bytes are one complete response, else -errno. */
int drv_anthropic_parse(struct gw_turn *t, const char *bytes, size_t n, size_t piece);
int drv_openai_parse(struct gw_turn *t, const char *bytes, size_t n, size_t piece);

/* Frees request headers, wiping them first (they hold the key). */
void drv_headers_free(struct curl_slist *h);
