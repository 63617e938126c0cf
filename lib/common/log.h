/* key=value logging to stderr (journald picks it up). lib/ never logs above debug. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

enum osm_log_level { OSM_LOG_ERROR, OSM_LOG_WARN, OSM_LOG_INFO, OSM_LOG_DEBUG };

void osm_log_set_ident(const char *ident);
void osm_log_set_level(enum osm_log_level level);
/* Returns the level for "error|warn|info|debug", or -EINVAL. */
int osm_log_parse_level(const char *name);
bool osm_log_enabled(enum osm_log_level level);

/* One line: ts=… level=… ident=… event=<event> <fmt…>. fmt should itself be key=value pairs;
 * use osm_log_quote() for values that may hold spaces or come from outside. */
void osm_log(enum osm_log_level level, const char *event, const char *fmt, ...) OSM_PRINTF(3, 4);

/* Writes s as a double-quoted, escaped log value into buf (truncated to size). Returns buf. */
const char *osm_log_quote(const char *s, char *buf, size_t size);

#define log_error(ev, ...) osm_log(OSM_LOG_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...) osm_log(OSM_LOG_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...) osm_log(OSM_LOG_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...)                                                                         \
    do {                                                                                           \
        if (osm_log_enabled(OSM_LOG_DEBUG))                                                        \
            osm_log(OSM_LOG_DEBUG, ev, __VA_ARGS__);                                               \
    } while (0)
