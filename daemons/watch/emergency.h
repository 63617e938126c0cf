/* Emergency controls (seed 001, DESIGN §7), on the operator socket only and as agentctl
 * stop|freeze|thaw|lockdown|unlock:
 *   STOP      ends the agent's processes gracefully (SIGTERM, SIGKILL after a grace period);
 *   FREEZE    suspends them keeping their state (v2 cgroup.freeze, the v1 freezer, SIGSTOP as
 *             the last resort); THAW resumes them;
 *   LOCKDOWN  kills them, blocks egress, locks the vault, makes the workspace read-only and
 *             makes every daemon refuse agent tool calls (the lockdown file in the state dir);
 *             only root (SO_PEERCRED uid 0) lifts it, with UNLOCK.
 * The agent's processes are those of the agent user and those in the agent cgroups (the
 * gateway's agents and every daemon's sandboxed jobs). Each control is a ledger event
 * (emergency.stop, emergency.freeze, emergency.thaw, emergency.lockdown, emergency.unlock),
 * recorded before it acts; the safety_* tools are here too. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "ipc/http_server.h"
#include "watch.h"

#define EMERGENCY_STOP_GRACE_MS 5000
#define EMERGENCY_LOCKDOWN_FILE "lockdown" /* in the state dir: {since, by, reason} */

struct emergency_config {
    const char *agent_user;           /* default "osmoda-agent" (absent in dev mode) */
    const char *const *agent_cgroups; /* NULL-terminated cgroup paths (v1 or v2) of agents */
};

int emergency_open(struct watch *w, const struct emergency_config *cfg, struct emergency **ret);
void emergency_free(struct emergency *em);
bool emergency_locked(struct emergency *em);
bool emergency_frozen(struct emergency *em);

/* Routes (userdata: struct watch), operator socket only. */
json_t *emergency_route_status(struct osm_request *req);   /* GET /emergency/status */
json_t *emergency_route_stop(struct osm_request *req);     /* POST /emergency/stop */
json_t *emergency_route_freeze(struct osm_request *req);   /* POST /emergency/freeze */
json_t *emergency_route_thaw(struct osm_request *req);     /* POST /emergency/thaw */
json_t *emergency_route_lockdown(struct osm_request *req); /* POST /emergency/lockdown */
json_t *emergency_route_unlock(struct osm_request *req);   /* POST /emergency/unlock */

/* The safety_* tools' routes (userdata: struct watch). */
json_t *safety_route_rollback(struct osm_request *req); /* POST /safety/rollback */
json_t *safety_route_status(struct osm_request *req);   /* GET /safety/status */
json_t *safety_route_panic(struct osm_request *req);    /* POST /safety/panic */
json_t *safety_route_restart(struct osm_request *req);  /* POST /safety/restart */
