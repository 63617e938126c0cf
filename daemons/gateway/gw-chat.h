/* Chat: GET /ws (upgrade; bearer header, or the session cookie, or ?token= for clients that
 * cannot set headers — all constant-time), osModa's messages:
 *   client → {"type":"chat","text","sessionKey"?,"agentId"?} | {"type":"abort"}
 *   server → {"type":"text","text"} (incremental) | {"type":"tool_use","name","input"?,"id"?}
 *            | {"type":"tool_result","id"?,"is_error"?,"decision"?} |
 * {"type":"error","text","code"?} | {"type":"done","sessionId"?} | {"type":"status","text"}
 * (progress) A chat session per client unless sessionKey is given (then "web:<sessionKey>", shared
 * by the clients that name it); one turn at a time per session (a chat sent while a turn runs gets
 * {"type":"error","code":"busy"}); abort ends the running turn of the socket's session; at most
 * GW_CHAT_SOCKETS_PER_TOKEN sockets per token (the next gets 429 with X-Auth-Reason:
 * too_many_connections). Sessions idle GW_CHAT_SESSION_IDLE_S are forgotten.
 *
 * Drivers run a turn on a thread of the chat part and stream what happens through emit. Without
 * a configured agent and driver a chat answers one error that says exactly how to configure one
 * (Claude Code on PATH, an Anthropic key, or an OpenAI-compatible URL, and where to put it). */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "gw-http.h"

#define GW_CHAT_SOCKETS_PER_TOKEN 3
#define GW_CHAT_SESSION_IDLE_S (30 * 60)
#define GW_CHAT_TEXT_MAX (32 * 1024)
#define GW_CHAT_TURN_TIMEOUT_S 600

struct gw_turn;

/* What a driver gets for one turn and how it reports back. */
struct gw_turn {
    const char *agent_id, *model, *system_prompt;
    const char *runtime;         /* "claude-code" | "anthropic" | "openai" */
    const char *secret;          /* the credential's secret (never in a child's argv or logs) */
    const char *credential_type; /* "api_key" | "oauth" */
    const char *base_url;        /* or NULL */
    const char *text;            /* the user's message */
    char resume_id[128];         /* the driver's session id to resume ("" for a new one); the
                                    driver writes the new one here */
    atomic_bool aborted;         /* set by abort / socket close; the driver stops promptly */
    int abort_fd;                /* readable once aborted (an eventfd): drivers poll it */
    const char *program;         /* the driver's program (the claude CLI), or NULL */
    const char *mcp_bridge;      /* the MCP bridge the program gets as its only tools */
    /* Streams one message to the client: type and fields (stolen). Thread-safe. */
    void (*emit)(struct gw_turn *t, const char *type, json_t *fields);
    void *emit_ctx;
};

struct gw_driver {
    const char *name; /* runtime */
    const char *display_name, *description;
    const char *const *providers;  /* supported providers */
    const char *const *auth_types; /* supported credential types */
    const char *const *default_models;
    /* Runs the turn to its end (blocking, on a chat thread): 0, or -errno after emitting an
     * error message. */
    int (*run)(struct gateway *gw, struct gw_turn *t);
};

/* The drivers this gateway has (GET /config/drivers). */
extern const struct gw_driver *const gw_drivers[];
extern const size_t gw_n_drivers;
const struct gw_driver *gw_driver_find(const char *runtime);

int gw_chat_new(struct gateway *gw, struct gw_chat **ret);
void gw_chat_free(struct gw_chat *c); /* aborts running turns and waits for them */
/* Active sockets, sessions and turns, for /health and /metrics. */
json_t *gw_chat_stats(struct gw_chat *c);
