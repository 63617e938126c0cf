/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include "emergency.h"
#include "ipc/errors.h"

json_t *safety_route_rollback(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *safety_route_status(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *safety_route_panic(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *safety_route_restart(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
