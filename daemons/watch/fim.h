/* The file integrity monitor (DESIGN §2): inotify on the critical paths (defaults: /etc, the
 * daemons' binaries, the policy file) against a SHA-256 baseline kept in <data_dir>/fim/. A
 * change not made through a SafeSwitch or an approved tool is an alert event
 * fim.unexpected_change {path, old_sha256, new_sha256}; an expected one moves the baseline
 * (fim.baseline_updated). POST /fim/verify rescans everything against the baseline. */
#pragma once

#include <jansson.h>

#include "ipc/http_server.h"
#include "watch.h"

#define FIM_PATHS_MAX 64
#define FIM_FILES_MAX 100000 /* files under watch in all */

/* paths NULL-terminated; NULL: the defaults. */
int fim_open(struct watch *w, const char *const *paths, struct fim **ret);
void fim_free(struct fim *f);
/* watch itself is about to set path to content with SHA-256 new_sha256 (hex; NULL: path is
 * removed): that change is expected, not an alert. NULL-safe on f. */
void fim_expect(struct fim *f, const char *path, const char *new_sha256);

/* Routes (userdata: struct watch). */
json_t *fim_route_status(struct osm_request *req); /* GET /fim/status */
json_t *fim_route_verify(struct osm_request *req); /* POST /fim/verify */
