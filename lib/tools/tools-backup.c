/* Tools 40-41: backups of the osModa state (agentd). There is no restore tool: restoring
 * overwrites live state and is the operator's decision (agentctl / operator socket). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_backup[] = {
    {.name = "backup_create",
     .description = "Snapshot the osModa state (/var/lib/osmoda) into a new backup; the newest "
                    "7 are kept. Runs as a job.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd", .method = "POST", .path = "/backup/create",
     .flags = OSM_TOOL_JOB},
    {.name = "backup_list",
     .description = "Backups, newest first: id, path, size, time.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/backup/list",
     .flags = OSM_TOOL_LIST},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(backup);
