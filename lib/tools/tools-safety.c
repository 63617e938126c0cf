/* Tools 57-60: emergency commands. osModa ran them as shell loops in the MCP bridge, as root,
 * from the agent itself. Rollback and the emergency stops belong to osmoda-watch (SafeSwitch and
 * emergency controls, DESIGN §7), which executes them under its own policy, and so does
 * safety_status, which reads the generations of every SafeSwitch backend. */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_safety[] = {
    {.name = "safety_rollback",
     .description = "Emergency: roll the whole system back to its previous generation. Runs as "
                    "a job.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST", .path = "/safety/rollback",
     .flags = OSM_TOOL_JOB},
    {.name = "safety_status",
     .description = "Current system generation and the last generations to roll back to.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/safety/status"},
    {.name = "safety_panic",
     .description = "Emergency: stop the osModa services (gateway, keyd, watch, routines, "
                    "mesh, mcpd, teachd, voice, egress).",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST", .path = "/safety/panic",
     .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "safety_restart",
     .description = "Restart all osModa services.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST", .path = "/safety/restart"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(safety);
