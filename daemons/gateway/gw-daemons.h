/* What the gateway asks of the other daemons, on their operator sockets in the run directory
 * (the gateway runs as root in production, as the operator's tools do). */
#pragma once

#include <jansson.h>

#include "gateway.h"
#include "ipc/http_client.h"

#define GW_DAEMON_TIMEOUT_MS 5000

/* The daemons the dashboard shows, in order: name, socket file, what it is (one line). */
struct gw_daemon_info {
    const char *name;
    const char *socket;
    const char *what;
};
extern const struct gw_daemon_info gw_daemons[];
extern const size_t gw_n_daemons;

/* method path on <run>/<socket> with body (lent, may be NULL): 0 with the reply (clear it), or
 * -ENOENT/-ECONNREFUSED (not running), -ETIMEDOUT, -EIO. */
int gw_daemon_call(const struct gateway *gw, const char *socket, const char *method,
                   const char *path, const json_t *body, struct osm_http_reply *ret);
/* {name, what, up, status?, latency_ms, health?} for each daemon (new reference). */
json_t *gw_daemons_health(const struct gateway *gw);
