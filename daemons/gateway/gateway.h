/* osmoda-gateway: what a person sees and talks to (DESIGN §8, docs/gateway.md). HTTP and
 * WebSocket on 127.0.0.1:18789: the dashboard (static files in web/), chat over /ws with the
 * agent drivers, /config/... (drivers, credentials, agents), the public /api/v1 for the operator's
 * own tooling, /metrics, and the login that turns the bearer token into a session cookie.
 *
 * Parts, one header each:
 *   gw-http.h      the gateway's router over lib/ipc's raw server: auth per route, request ids,
 *                  the error envelope, static files, WebSocket upgrade
 *   gw-auth.h      the token file, constant-time checks, cookie sessions, CSRF
 *   gw-ws.h        WebSocket connections (wslay) on one epoll thread: heartbeat, idle close,
 *                  backpressure, frame limits
 *   gw-chat.h      chat sessions, one turn at a time, the drivers' interface
 *   gw-credstore.h the encrypted credential store
 *   gw-agents.h    agents.json: agents, bindings, routing
 *   gw-api.h       /api/v1 (idempotency, rate limits, OpenAPI), /metrics
 *   gw-daemons.h   what the gateway asks of agentd, watch, egress and keyd over their sockets
 *   osmoda-gateway.c  main */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define GW_DEFAULT_ADDR "127.0.0.1"
#define GW_DEFAULT_PORT 18789
#define GW_CONFIG_DIR "config" /* <state>/config: gateway-token, agents.json, credentials */

struct gw_auth;
struct gw_ws;
struct gw_chat;
struct gw_credstore;
struct gw_agents;
struct gw_api;
struct gw_llmproxy;

struct gateway {
    const char *run_dir;   /* the other daemons' sockets */
    const char *state_dir; /* <state> */
    char *config_dir;      /* <state>/config (0700) */
    char *web_dir;         /* the dashboard's files */
    char *daemons_socket;  /* agentd-daemons.sock: the gateway's own ledger events */
    char *agentd_socket;   /* agentd.sock: the operator's view (events, approvals) */
    time_t started_at;

    struct gw_auth *auth;
    struct gw_ws *ws;
    struct gw_chat *chat;
    struct gw_credstore *creds;
    struct gw_agents *agents;
    struct gw_api *api;
    struct gw_llmproxy *llm; /* drivers.h: every model request is admitted and accounted here */
};

/* Records a ledger event through agentd and waits until it is durable: 0 or -errno (then the
 * change must not be made). Secrets never go into payload. */
int gateway_emit(struct gateway *gw, const char *type, const json_t *payload);
