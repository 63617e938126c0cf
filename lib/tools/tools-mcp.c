/* Tools 53-56: managed MCP servers (mcpd). */
#include "tools/tools-table.h"

// clang-format off
#define SERVER_NAME ONE_STRING_ARG("name", "Server name, from mcp_servers.")

const struct osm_tool osm_tools_mcp[] = {
    {.name = "mcp_servers",
     .description = "Managed MCP servers: command, status, pid, restarts, last error.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "mcpd", .method = "GET", .path = "/servers",
     .flags = OSM_TOOL_LIST},
    {.name = "mcp_server_start",
     .description = "Start a configured MCP server.",
     .input_schema = SERVER_NAME,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "mcpd", .method = "POST",
     .path = "/server/{name}/start", .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "mcp_server_stop",
     .description = "Stop a running MCP server.",
     .input_schema = SERVER_NAME,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "mcpd", .method = "POST",
     .path = "/server/{name}/stop", .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "mcp_server_restart",
     .description = "Restart an MCP server.",
     .input_schema = SERVER_NAME,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "mcpd", .method = "POST",
     .path = "/server/{name}/restart"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(mcp);
