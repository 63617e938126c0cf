/* Tools 75-80: approvals, the sandbox and capability tokens (agentd). Agents may ask for an
 * approval and check it, never grant one: approval_approve is OSM_TOOL_NEVER, and the executor
 * answers it with where the operator decides. */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_approval[] = {
    {.name = "approval_request",
     .description = "Ask the operator to approve a command or action; returns an approval id "
                    "to check with approval_check.",
     .input_schema = J({"type":"object","properties":{
        "command":{"type":"string","minLength":1,"maxLength":4096,
                   "description":"The command or action to approve."},
        "reason":{"type":"string","minLength":1,"maxLength":1024,
                  "description":"Why it is needed."}},
        "required":["command","reason"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd", .method = "POST",
     .path = "/approval/request"},
    {.name = "approval_pending",
     .description = "Approval requests waiting for the operator.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/approval/pending",
     .flags = OSM_TOOL_LIST},
    {.name = "approval_approve",
     .description = "Not available to agents: approvals are decided by the operator (agentctl, "
                    "the dashboard or a chat channel). Use approval_check to wait for it.",
     .input_schema = ONE_STRING_ARG("id", "Approval id."),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "agentd", .method = "POST",
     .path = "/approval/{id}/approve", .flags = OSM_TOOL_NEVER},
    {.name = "approval_check",
     .description = "State of an approval request: pending, approved, denied or expired.",
     .input_schema = ONE_STRING_ARG("id", "Approval id."),
     .cls = OSM_CLASS_READ, .daemon = "agentd", .method = "GET", .path = "/approval/{id}"},
    {.name = "sandbox_exec",
     .description = "Run a command in the bubblewrap sandbox: ring 2 (default) has a private "
                    "/tmp and its own network namespace, whose one way out is the egress proxy "
                    "(HTTP_PROXY/HTTPS_PROXY, the agent's allowlist) while osmoda-egress runs; "
                    "ring 1 (the host filesystem) needs an approval. Runs as a job.",
     .input_schema = J({"type":"object","properties":{
        "command":{"type":"string","minLength":1,"description":"The command line (/bin/sh -c)."},
        "ring":{"enum":[1,2,"ring1","ring2"],"description":"Trust ring (default 2)."},
        "capabilities":{"type":"array","items":{"type":"string"},
                        "description":"Capabilities requested for the run."},
        "timeout_secs":{"type":"integer","minimum":1,"description":"Timeout (default 60)."},
        "fs_read":{"type":"array","items":{"type":"string","minLength":1},"maxItems":32,
                   "description":"Absolute host paths to bind read-only (ring 1)."},
        "fs_write":{"type":"array","items":{"type":"string","minLength":1},"maxItems":32,
                    "description":"Absolute host paths to bind writable (ring 1)."},
        "network":{"type":"boolean",
                   "description":"Require the egress proxy (egress_unavailable without it)."}},
        "required":["command"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "agentd", .flags = OSM_TOOL_JOB},
    {.name = "capability_mint",
     .description = "Mint a signed capability token granting permissions for a time.",
     .input_schema = J({"type":"object","properties":{
        "granted_to":{"type":"string","minLength":1,"description":"Holder of the token."},
        "permissions":{"type":"array","minItems":1,"items":{"type":"string","minLength":1},
                       "description":"Permissions granted, e.g. tool names."},
        "ttl_secs":{"type":"integer","minimum":1,"description":"Lifetime (default 3600)."}},
        "required":["granted_to","permissions"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "agentd", .method = "POST",
     .path = "/capability/mint"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(approval);
