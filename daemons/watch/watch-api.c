/* The routes of watch.sock (the operator's, 0600) — the same table serves the REST-mapped tools
 * that agents call through watch's executor on watch-agent.sock. */
#include "apps.h"
#include "emergency.h"
#include "fim.h"
#include "svc.h"
#include "switch.h"
#include "watch-api.h"
#include "watchers.h"

static json_t *health(struct osm_request *req)
{
    struct watch *w = req->userdata;

    return json_pack("{s:s, s:I, s:I, s:s, s:b, s:b}", "status", "ok", "active_switches",
                     (json_int_t)switches_active(w->switches), "watchers",
                     (json_int_t)watchers_count(w->watchers), "service_backend",
                     svc_kind_name(w->svc), "lockdown", emergency_locked(w->emergency), "frozen",
                     emergency_frozen(w->emergency));
}

#define BODY OSM_ROUTE_BODY
#define OPTIONAL OSM_ROUTE_BODY_OPTIONAL
#define BLOCKING OSM_ROUTE_BLOCKING
#define OPERATOR OSM_ROUTE_OPERATOR

const struct osm_route watch_routes[] = {
    {"GET", "/health", health, 0},
    /* SafeSwitch (osModa's API; plan may be an object naming a backend) */
    {"POST", "/switch/begin", switch_route_begin, BODY | BLOCKING},
    {"GET", "/switch/list", switch_route_list, 0},
    {"GET", "/switch/status/{id}", switch_route_status, 0},
    {"POST", "/switch/commit/{id}", switch_route_commit, OPTIONAL | BLOCKING},
    {"POST", "/switch/rollback/{id}", switch_route_rollback, OPTIONAL | BLOCKING},
    /* watchers */
    {"POST", "/watcher/add", watchers_route_add, BODY | BLOCKING},
    {"GET", "/watcher/list", watchers_route_list, 0},
    {"DELETE", "/watcher/remove/{id}", watchers_route_remove, BLOCKING},
    /* services and apps */
    {"GET", "/service/status", service_route_status, BLOCKING},
    {"GET", "/service/logs", service_route_logs, BLOCKING},
    {"POST", "/service/{unit}/{action}", service_route_action, OPTIONAL | BLOCKING | OPERATOR},
    {"POST", "/app/deploy", apps_route_deploy, BODY | BLOCKING},
    {"GET", "/app/list", apps_route_list, BLOCKING},
    {"GET", "/app/logs", apps_route_logs, BLOCKING},
    {"POST", "/app/{name}/stop", apps_route_stop, OPTIONAL | BLOCKING},
    {"POST", "/app/{name}/restart", apps_route_restart, OPTIONAL | BLOCKING},
    {"POST", "/app/{name}/remove", apps_route_remove, OPTIONAL | BLOCKING},
    /* safety tools */
    {"POST", "/safety/rollback", safety_route_rollback, OPTIONAL | BLOCKING},
    {"GET", "/safety/status", safety_route_status, BLOCKING},
    {"POST", "/safety/panic", safety_route_panic, OPTIONAL | BLOCKING},
    {"POST", "/safety/restart", safety_route_restart, OPTIONAL | BLOCKING},
    /* emergency controls: the operator's only */
    {"GET", "/emergency/status", emergency_route_status, OPERATOR},
    {"POST", "/emergency/stop", emergency_route_stop, OPTIONAL | BLOCKING | OPERATOR},
    {"POST", "/emergency/freeze", emergency_route_freeze, OPTIONAL | BLOCKING | OPERATOR},
    {"POST", "/emergency/thaw", emergency_route_thaw, OPTIONAL | BLOCKING | OPERATOR},
    {"POST", "/emergency/lockdown", emergency_route_lockdown, OPTIONAL | BLOCKING | OPERATOR},
    {"POST", "/emergency/unlock", emergency_route_unlock, OPTIONAL | BLOCKING | OPERATOR},
    /* file integrity */
    {"GET", "/fim/status", fim_route_status, 0},
    {"POST", "/fim/verify", fim_route_verify, OPTIONAL | BLOCKING | OPERATOR},
};
const size_t watch_n_routes = sizeof(watch_routes) / sizeof(watch_routes[0]);
