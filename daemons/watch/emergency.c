/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include "emergency.h"
#include "ipc/errors.h"

int emergency_open(struct watch *w, const struct emergency_config *cfg, struct emergency **ret)
{
    *ret = NULL;
    return 0;
}
void emergency_free(struct emergency *em) {}
bool emergency_locked(struct emergency *em) { return false; }
bool emergency_frozen(struct emergency *em) { return false; }
json_t *emergency_route_status(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *emergency_route_stop(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *emergency_route_freeze(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *emergency_route_thaw(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *emergency_route_lockdown(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *emergency_route_unlock(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
