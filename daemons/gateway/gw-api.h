/* The public /api/v1 for the operator's own tooling, and /metrics.
 *
 * /api/v1 (bearer or session): GET status (version, uptime, daemons), GET health (every
 * daemon's /health: agentd, watch, egress, keyd, mcp bridge, with reachable/latency), GET events
 * (agentd's ledger: type, actor, limit, before; each with its hash) and GET events/verify (the
 * chain and checkpoint check, as agentctl verify-ledger), GET events/{id}/proof, GET approvals,
 * POST approvals/{id}/approve {mode?, ttl_s?} and POST approvals/{id}/deny {reason?} (decided
 * on agentd's operator socket, naming the dashboard user), GET switches (SafeSwitch history with
 * checks and outcomes, from watch), GET services (watch), GET egress/denials, GET wallets
 * (keyd, no keys). Conventions (osModa §10.8): X-Request-Id; Idempotency-Key ([A-Za-z0-9_-]
 * {16,128}) on mutating calls replays the same answer for 24 h with Idempotent-Replayed: true,
 * 409 idempotency_key_reused with another body, failures not cached; rate limits per token and
 * per address with 429 rate_limited and Retry-After; GET /api/v1/openapi.json is the OpenAPI
 * 3.1 document of all of it (linted in the tests).
 *
 * /metrics (bearer): Prometheus text — per-daemon up, tool calls by decision, ledger size and
 * last checkpoint, SafeSwitch outcomes, chat sockets and turns, LLM requests and tokens per agent.
 * Optional export of ledger events as CEF over syslog (--syslog-cef) for a SIEM. */
#pragma once

#include "gw-http.h"

#define GW_IDEMPOTENCY_TTL_S 86400
#define GW_IDEMPOTENCY_MAX 4096
#define GW_RATE_READ_PER_MIN 600
#define GW_RATE_WRITE_PER_MIN 60
#define GW_SYSLOG_SOCKET "/dev/log"

/* What main may change (flags); zeroes take the defaults above. */
struct gw_api_options {
    unsigned read_per_min, write_per_min; /* per token and per address */
    bool syslog_cef;                      /* forward ledger events as CEF lines */
    const char *syslog_socket;            /* a datagram socket (default GW_SYSLOG_SOCKET) */
};

/* Opens the part (and starts the CEF follower when asked): 0 or -errno. */
int gw_api_new(struct gateway *gw, const struct gw_api_options *opt, struct gw_api **ret);
void gw_api_free(struct gw_api *a);
/* Counts one answer of the gateway for /metrics (any route; a NULL a is ignored). */
void gw_api_count(struct gw_api *a, int status);
