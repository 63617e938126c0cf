/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include "ipc/errors.h"
#include "watchers.h"

int watchers_open(struct watch *w, struct watchers **ret) { *ret = NULL; return 0; }
void watchers_free(struct watchers *ws) {}
size_t watchers_count(struct watchers *ws) { return 0; }
json_t *watchers_route_add(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *watchers_route_list(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *watchers_route_remove(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
