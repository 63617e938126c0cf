/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include <errno.h>

#include "ipc/errors.h"
#include "switch.h"

int switches_open(struct watch *w, struct switches **ret) { *ret = NULL; return 0; }
void switches_free(struct switches *ss) {}
size_t switches_active(struct switches *ss) { return 0; }
int switches_rollback_latest(struct switches *ss, const char *reason, json_t **ret)
{
    return -ENOSYS;
}
json_t *switches_generations(struct switches *ss) { return NULL; }
json_t *switch_route_begin(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *switch_route_list(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *switch_route_status(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *switch_route_commit(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *switch_route_rollback(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
