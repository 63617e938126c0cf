/* JSON helpers shared by daemons and clients. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Compact serialization with keys sorted, as osModa's serde_json (json! {} objects). New string. */
char *osm_json_dumps_sorted(const json_t *v);
/* Parses a JSON document from bytes, rejecting invalid UTF-8, NUL in strings, depth over
 * OSM_JSON_MAX_DEPTH and integers outside int64. Returns a new reference or NULL with a message
 * in err (size errlen). */
json_t *osm_json_parse(const char *data, size_t len, char *err, size_t errlen);
/* Nesting depth of v (a scalar is 1). */
size_t osm_json_depth(const json_t *v);
/* json_string_value or def if v is not a string. */
const char *osm_json_str(const json_t *obj, const char *key, const char *def);
