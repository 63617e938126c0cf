/* Watchers (osModa's autopilot, §4): a health check on its own interval and an escalation
 * ladder of actions — restart_service{unit}, rollback_generation, notify{message} — that
 * never repeats a destructive step (restart, rollback) without a fresh failure window after
 * it, waits a cool-down after each action, and records every step as a typed event
 * (watch.check.failed, watch.escalation, watch.recovered, ...). Watchers persist in
 * <data_dir>/watchers.json (osModa's format: a pretty JSON array of Watcher). */
#pragma once

#include <jansson.h>

#include "ipc/http_server.h"
#include "watch.h"

#define WATCHERS_MAX 4096

int watchers_open(struct watch *w, struct watchers **ret);
void watchers_free(struct watchers *ws);
size_t watchers_count(struct watchers *ws);

/* Routes (userdata: struct watch). */
json_t *watchers_route_add(struct osm_request *req);    /* POST /watcher/add */
json_t *watchers_route_list(struct osm_request *req);   /* GET /watcher/list */
json_t *watchers_route_remove(struct osm_request *req); /* DELETE /watcher/remove/{id} */
