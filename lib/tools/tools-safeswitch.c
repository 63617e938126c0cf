/* Tools 21-27: SafeSwitch sessions and autopilot watchers (watch). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_safeswitch[] = {
    {.name = "safe_switch_begin",
     .description = "Make a change as a SafeSwitch transaction: watch applies the plan (config "
                    "files, a Nix profile, a NixOS generation), runs the health checks every 5 s "
                    "and rolls the change back on a failure; after ttl_secs it commits. A text "
                    "plan applies nothing: on NixOS a rollback returns to the generation current "
                    "at begin, so begin before switching.",
     .input_schema = J({"type":"object","properties":{
        "plan":{"description":"The change for watch to apply, or text about one made.","oneOf":[
          {"type":"string","minLength":1,"description":"What was changed, and why."},
          {"type":"object","description":"Replace config files atomically; restart services.",
           "properties":{"backend":{"const":"files"},
             "files":{"type":"object","additionalProperties":{"type":"string"},
                      "description":"Absolute path -> its complete new content."},
             "restart":{"type":"array","items":{"type":"string","minLength":1,"maxLength":256},
                        "description":"Services to reload or restart after the change."},
             "description":{"type":"string","description":"Why."}},
           "required":["backend","files"],"additionalProperties":false},
          {"type":"object","description":"Switch a Nix profile to a store path.",
           "properties":{"backend":{"const":"nix-profile"},
             "profile":{"type":"string","minLength":1,"description":"Profile path."},
             "store_path":{"type":"string","minLength":1,"description":"/nix/store/... path."},
             "description":{"type":"string","description":"Why."}},
           "required":["backend","profile","store_path"],"additionalProperties":false},
          {"type":"object","description":"Switch NixOS to a built system (switch-to-configuration).",
           "properties":{"backend":{"const":"nixos"},
             "store_path":{"type":"string","minLength":1,"description":"The built system."},
             "description":{"type":"string","description":"Why."}},
           "required":["backend","store_path"],"additionalProperties":false}]},
        "ttl_secs":{"type":"integer","minimum":1,"description":"Probation length in seconds."},
        "health_checks":{"type":"array","description":"Checks that must keep passing.",
                         "items":) HEALTH_CHECK J(}},
        "required":["plan","ttl_secs","health_checks"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "watch", .method = "POST", .path = "/switch/begin"},
    {.name = "safe_switch_list",
     .description = "SafeSwitch sessions, newest first, with their state.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/switch/list",
     .flags = OSM_TOOL_LIST},
    {.name = "safe_switch_status",
     .description = "One SafeSwitch session: plan, checks, state.",
     .input_schema = ONE_STRING_ARG("id", "Session id, from safe_switch_begin."),
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/switch/status/{id}"},
    {.name = "safe_switch_commit",
     .description = "Keep the change now: end the probation of a session as committed.",
     .input_schema = ONE_STRING_ARG("id", "Session id, from safe_switch_begin."),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "watch", .method = "POST",
     .path = "/switch/commit/{id}", .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "safe_switch_rollback",
     .description = "Roll the system back to the generation before a session in probation.",
     .input_schema = ONE_STRING_ARG("id", "Session id, from safe_switch_begin."),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST",
     .path = "/switch/rollback/{id}", .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "watcher_add",
     .description = "Add an autopilot watcher: a health check run periodically, and actions "
                    "taken one more step each failed cycle (restart, rollback, notify).",
     .input_schema = J({"type":"object","properties":{
        "name":{"type":"string","minLength":1,"description":"Watcher name."},
        "check":) HEALTH_CHECK J(,
        "interval_secs":{"type":"integer","minimum":1,"description":"Check period (default 30)."},
        "actions":{"type":"array","description":"Escalation ladder, first action first.",
          "items":{"oneOf":[
            {"type":"object","description":"systemctl restart unit.",
             "properties":{"type":{"const":"restart_service"},
               "unit":{"type":"string","minLength":1,"maxLength":256,"description":"Unit."}},
             "required":["type","unit"],"additionalProperties":false},
            {"type":"object","description":"Roll back to the previous system generation.",
             "properties":{"type":{"const":"rollback_generation"}},
             "required":["type"],"additionalProperties":false},
            {"type":"object","description":"Notify the operator.",
             "properties":{"type":{"const":"notify"},
               "message":{"type":"string","minLength":1,"description":"Message."}},
             "required":["type","message"],"additionalProperties":false}]}}},
        "required":["name","check","actions"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "watch", .method = "POST", .path = "/watcher/add"},
    {.name = "watcher_list",
     .description = "Autopilot watchers and their state (healthy or degraded).",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET", .path = "/watcher/list",
     .flags = OSM_TOOL_LIST},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(safeswitch);
