/* SafeSwitch transactions (DESIGN §7): begin → apply → probation (checks every few seconds) →
 * commit at TTL, or roll back on a failed check, a manual rollback, or a deadline that passed
 * while osmoda-watch was down. State persists under <data_dir>/switches/; one switch per target
 * at a time (409). Receipts: switch.begin, switch.applied, switch.check, switch.committed,
 * switch.rolled_back (reason and diff summary). The plan is osModa's string (the caller
 * applied the change) or an object naming a backend that watch applies itself
 * (switch-backend.h): files, nix-profile, nixos. */
#pragma once

#include <jansson.h>

#include "ipc/http_server.h"
#include "watch.h"

#define SWITCH_PROBE_INTERVAL_S 5 /* checks during probation (a failure rolls back within 10 s) */
#define SWITCH_TTL_MAX_S (7 * 24 * 3600)

int switches_open(struct watch *w, struct switches **ret);
void switches_free(struct switches *ss);
size_t switches_active(struct switches *ss); /* in probation */
/* Rolls back the newest switch that can still be rolled back (in probation, or committed and
 * not yet superseded): watchers' rollback_generation and safety_rollback. -ENOENT: none. */
int switches_rollback_latest(struct switches *ss, const char *reason, json_t **ret);
/* {backend, current, generations: [...]} for safety_status (new reference). */
json_t *switches_generations(struct switches *ss);

/* Routes (userdata: struct watch). */
json_t *switch_route_begin(struct osm_request *req);    /* POST /switch/begin */
json_t *switch_route_list(struct osm_request *req);     /* GET /switch/list */
json_t *switch_route_status(struct osm_request *req);   /* GET /switch/status/{id} */
json_t *switch_route_commit(struct osm_request *req);   /* POST /switch/commit/{id} */
json_t *switch_route_rollback(struct osm_request *req); /* POST /switch/rollback/{id} */
