/* Apps (osModa §2 rows 85-90) and the service tools: app_deploy / app_list / app_logs /
 * app_stop / app_restart / app_remove as services osmoda-app-<name> of the service backend
 * (systemd: a transient unit with a dynamic user, never root), kept in <data_dir>/apps.json and
 * started again when watch starts; service_status and journal_logs on either backend. */
#pragma once

#include <jansson.h>

#include "exec/exec.h"
#include "ipc/http_server.h"
#include "watch.h"

#define APPS_MAX 256
#define APP_UNIT_PREFIX "osmoda-app-"

int apps_open(struct watch *w, struct apps **ret);
void apps_free(struct apps *a);

/* Routes (userdata: struct watch). */
json_t *apps_route_deploy(struct osm_request *req);    /* POST /app/deploy */
json_t *apps_route_list(struct osm_request *req);      /* GET /app/list */
json_t *apps_route_logs(struct osm_request *req);      /* GET /app/logs?name=&lines= */
json_t *apps_route_stop(struct osm_request *req);      /* POST /app/{name}/stop */
json_t *apps_route_restart(struct osm_request *req);   /* POST /app/{name}/restart */
json_t *apps_route_remove(struct osm_request *req);    /* POST /app/{name}/remove */
json_t *service_route_status(struct osm_request *req); /* GET /service/status?unit= */
json_t *service_route_logs(struct osm_request *req);   /* GET /service/logs?unit=&lines=&... */
json_t *service_route_action(struct osm_request *req); /* POST /service/{unit}/{start|stop|
                                                          restart}, operator only */
