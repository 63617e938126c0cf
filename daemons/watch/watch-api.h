/* watch's route table (watch-api.c) and its tool table (watch-tools.c). */
#pragma once

#include <stddef.h>

#include "exec/exec.h"
#include "ipc/http_server.h"

extern const struct osm_route watch_routes[];
extern const size_t watch_n_routes;

/* Every registry tool watch executes, REST-mapped onto watch_routes (new array in *ret). */
int watch_tool_table(struct osm_exec_tool **ret, size_t *ret_n);
