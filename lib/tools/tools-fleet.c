/* Tools 81-84: fleet-wide SafeSwitch, a change voted on by mesh peers (watch). */
#include "tools/tools-table.h"

// clang-format off
#define FLEET_ID ONE_STRING_ARG("id", "Fleet switch id, from fleet_propose.")

const struct osm_tool osm_tools_fleet[] = {
    {.name = "fleet_propose",
     .description = "Propose a change to a set of peers; it runs once a quorum approves.",
     .input_schema = J({"type":"object","properties":{
        "plan":{"type":"string","minLength":1,"description":"The change, and why."},
        "peer_ids":{"type":"array","minItems":1,"items":{"type":"string","minLength":1},
                    "description":"Participating peers."},
        "health_checks":{"type":"array","description":"Checks during probation.",
                         "items":) HEALTH_CHECK J(},
        "quorum_percent":{"type":"integer","minimum":1,"maximum":100,
                          "description":"Approvals needed, percent (default 51)."},
        "timeout_secs":{"type":"integer","minimum":1,"description":"Voting time (default 300)."}},
        "required":["plan","peer_ids"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "watch", .method = "POST", .path = "/fleet/propose"},
    {.name = "fleet_status",
     .description = "State of a fleet switch: phase, votes, quorum.",
     .input_schema = FLEET_ID,
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/fleet/status/{id}"},
    {.name = "fleet_vote",
     .description = "Record a peer's vote on a fleet switch.",
     .input_schema = J({"type":"object","properties":{
        "id":{"type":"string","minLength":1,"description":"Fleet switch id."},
        "peer_id":{"type":"string","minLength":1,"maxLength":256,"description":"Voting peer."},
        "approve":{"type":"boolean","description":"true to approve, false to veto."},
        "reason":{"type":"string","description":"Why."}},
        "required":["id","peer_id","approve"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "watch", .method = "POST",
     .path = "/fleet/vote/{id}"},
    {.name = "fleet_rollback",
     .description = "Roll back a fleet switch on every participant.",
     .input_schema = FLEET_ID,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST",
     .path = "/fleet/rollback/{id}", .flags = OSM_TOOL_IDEMPOTENT},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(fleet);
