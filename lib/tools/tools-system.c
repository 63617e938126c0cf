/* Tools 1-6: system health and queries, the event log, memory (agentd). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_system[] = {
    {.name = "system_health",
     .description = "Host health: CPU per core, memory, swap, load, uptime, hostname, disks.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/health"},
    {.name = "system_query",
     .description = "Query the host: running processes, disk usage, hostname or uptime.",
     .input_schema = J({"type":"object","properties":{
        "query":{"type":"string","enum":["processes","disk","hostname","uptime"],
                 "description":"What to query."},
        "args":{"type":"object","description":"Options of the processes query.",
                "properties":{
                  "sort":{"type":"string","enum":["cpu","memory"],"description":"Sort key."},
                  "limit":{"type":"integer","minimum":1,"maximum":) OSM_STR(OSM_QUERY_PROCESSES_MAX)
                        J(,"description":"Processes to return (default 50)."}}}},
        "required":["query"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "POST", .path = "/system/query"},
    {.name = "system_discover",
     .description = "Discover the services running on this host: listening ports, systemd "
                    "units, and what each one is (nginx, postgres, ...).",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/system/discover"},
    {.name = "event_log",
     .description = "The hash-chained audit ledger, newest first, filtered by type and actor.",
     .input_schema = J({"type":"object","properties":{
        "type":{"type":"string","description":"Only events of this exact type, e.g. tool.call."},
        "actor":{"type":"string","description":"Only events by this actor, e.g. agentd."},)
        PAGE_PROPS J(},"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/events/log",
     .flags = OSM_TOOL_LIST},
    {.name = "memory_store",
     .description = "Remember something: store a note in long-term memory (the ledger).",
     .input_schema = J({"type":"object","properties":{
        "summary":{"type":"string","minLength":1,"description":"One-line summary to remember."},
        "detail":{"type":"string","description":"Longer detail."},
        "category":{"type":"string","description":"Category, e.g. ops or preference."},
        "tags":{"type":"array","items":{"type":"string"},"description":"Tags for recall."}},
        "required":["summary"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd", .method = "POST", .path = "/memory/store"},
    {.name = "memory_recall",
     .description = "Search long-term memory and the ledger by keywords (ranked).",
     .input_schema = J({"type":"object","properties":{
        "query":{"type":"string","minLength":1,"description":"Keywords to search for."},
        "max_results":{"type":"integer","minimum":1,"maximum":) OSM_STR(OSM_RECALL_MAX)
                      J(,"description":"Results to return (default 10)."},
        "timeframe":{"type":"string","description":"Timestamp prefix, e.g. 2026-04."}},
        "required":["query"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "POST", .path = "/memory/recall"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(system);
