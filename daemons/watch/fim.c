/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include "fim.h"
#include "ipc/errors.h"

int fim_open(struct watch *w, const char *const *paths, struct fim **ret) { *ret = NULL; return 0; }
void fim_free(struct fim *f) {}
void fim_expect(struct fim *f, const char *path, const char *new_sha256) {}
json_t *fim_route_status(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
json_t *fim_route_verify(struct osm_request *req) { return osm_error(req, 503, "not_enabled", NULL, "not built yet"); }
