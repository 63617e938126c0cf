/* Tools 31-34: the agent card, receipts and incident workspaces (agentd). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_records[] = {
    {.name = "agent_card",
     .description = "This agent's EIP-8004 card: name, services and trust model.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/agent/card"},
    {.name = "receipt_list",
     .description = "Receipts of past actions (from the ledger), newest first.",
     .input_schema = J({"type":"object","properties":{
        "type":{"type":"string","description":"Only receipts of this event type."},
        "since":{"type":"string","description":"Only receipts at or after this timestamp."},)
        PAGE_PROPS J(},"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/receipts",
     .flags = OSM_TOOL_LIST},
    {.name = "incident_create",
     .description = "Open an incident workspace to record an investigation step by step.",
     .input_schema = ONE_STRING_ARG("name", "Incident title."),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd", .method = "POST",
     .path = "/incident/create"},
    {.name = "incident_step",
     .description = "Record a step of an incident: what was done and what came of it.",
     .input_schema = J({"type":"object","properties":{
        "id":{"type":"string","minLength":1,"description":"Incident id."},
        "action":{"type":"string","minLength":1,"description":"What was done."},
        "result":{"type":"string","description":"What came of it."},
        "receipt_id":{"type":"string","description":"Receipt of the action, if any."}},
        "required":["id","action","result"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd", .method = "POST",
     .path = "/incident/{id}/step"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(records);
