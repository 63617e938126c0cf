/* Tools 7-13: shell, files, services, journal and network. osModa ran these inside the MCP
 * bridge; here agentd executes them itself, under the policy (no REST mapping). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_host[] = {
    {.name = "shell_exec",
     .description = "Run a shell command (/bin/sh -c) on the host and return its exit status and "
                    "output. Sandboxed by default (network only through the egress proxy); "
                    "runs as a job.",
     .input_schema = J({"type":"object","properties":{
        "command":{"type":"string","minLength":1,"description":"The command line."},
        "timeout":{"type":"integer","minimum":1,"maximum":) OSM_STR(OSM_TOOL_SHELL_TIMEOUT_MAX_MS)
                  J(,"description":"Timeout in milliseconds (default 30000)."}},
        "required":["command"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "agentd", .flags = OSM_TOOL_JOB},
    {.name = "file_read",
     .description = "Read a text file.",
     .input_schema = J({"type":"object","properties":{
        "path":{"type":"string","minLength":1,"description":"Absolute path of the file."},
        "maxLines":{"type":"integer","minimum":1,"description":"Lines to return (default 500)."}},
        "required":["path"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd"},
    {.name = "file_write",
     .description = "Write (or append to) a text file, creating its directories.",
     .input_schema = J({"type":"object","properties":{
        "path":{"type":"string","minLength":1,"description":"Absolute path of the file."},
        "content":{"type":"string","description":"Text to write."},
        "append":{"type":"boolean","description":"Append instead of replacing (default false)."}},
        "required":["path","content"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd"},
    {.name = "directory_list",
     .description = "List a directory: name, type and size of each entry.",
     .input_schema = J({"type":"object","properties":{
        "path":{"type":"string","minLength":1,"description":"Absolute path of the directory."},
        "recursive":{"type":"boolean","description":"Include subdirectories (default false)."},)
        PAGE_PROPS J(},"required":["path"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .flags = OSM_TOOL_LIST},
    {.name = "service_status",
     .description = "Status of a service (systemd unit, or a service osmoda-watch supervises).",
     .input_schema = J({"type":"object","properties":{
        "unit":{"type":"string","minLength":1,"maxLength":256,
                "description":"Unit name, e.g. nginx or nginx.service."}},
        "required":["unit"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/service/status"},
    {.name = "journal_logs",
     .description = "Recent journal lines of a systemd unit (journalctl -u).",
     .input_schema = J({"type":"object","properties":{
        "unit":{"type":"string","minLength":1,"maxLength":256,"description":"Unit name."},
        "lines":{"type":"integer","minimum":1,"maximum":) OSM_STR(OSM_TOOL_JOURNAL_LINES_MAX)
                J(,"description":"Newest lines to read (default 50)."},
        "priority":{"type":"string","description":"Lowest priority: emerg .. debug, or 0-7."},
        "since":{"type":"string","description":"journalctl --since, e.g. \"1 hour ago\"."},)
        PAGE_PROPS J(},"required":["unit"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/service/logs",
     .flags = OSM_TOOL_LIST},
    {.name = "network_info",
     .description = "Network state: interfaces, listening ports, DNS resolvers, routes.",
     .input_schema = J({"type":"object","properties":{
        "detail":{"type":"string","enum":["interfaces","ports","dns","routes","all"],
                  "description":"What to show (default all)."}},
        "additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(host);
