/* keyd's tools for lib/exec: the wallet and vault entries of the registry with their handlers
 * and decisions. */
#pragma once

#include "exec/exec.h"
#include "wallets.h"

/* A new table (free()) of the tools keyd executes. */
int keyd_tool_table(struct osm_exec_tool **ret, size_t *ret_n);
