/* The error envelope {"error": code, "message": text, "detail": {...}|null} and the one table
 * that turns -errno into an HTTP status and a code. */
#pragma once

#include <jansson.h>

#include "common/macro.h"

struct osm_request;

/* Sets req->status (if req) and returns a new envelope. detail is stolen (may be NULL). */
json_t *osm_error(struct osm_request *req, int status, const char *code, json_t *detail,
                  const char *fmt, ...) OSM_PRINTF(5, 6);
/* The envelope for a -errno from lower layers (e.g. -ENOENT → 404 not_found). */
json_t *osm_error_errno(struct osm_request *req, int neg_errno, const char *fmt, ...)
    OSM_PRINTF(3, 4);
/* HTTP status and code for a -errno. */
int osm_errno_to_status(int neg_errno, const char **ret_code);
