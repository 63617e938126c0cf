/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include "apps.h"
#include "ipc/errors.h"

int apps_open(struct watch *w, struct apps **ret) { *ret = NULL; return 0; }
void apps_free(struct apps *a) {}
json_t *apps_route_deploy(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *apps_route_list(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *apps_route_logs(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *apps_route_stop(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *apps_route_restart(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *apps_route_remove(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *service_route_status(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *service_route_logs(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *service_route_action(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
