/* The egress tools (not in osModa): what an agent and an operator need of the allowlist proxy
 * (osmoda-egress, docs/egress.md). They come after osModa's 92 tools and the job tools in the
 * registry's order. An agent reads its ACL and its recent denials, and asks for access; the
 * request waits for a person, and only an approved one becomes a grant with a TTL. */
#include "tools/tools-table.h"

// clang-format off
#define PRINCIPAL_ARG(desc)                                                                        \
    J("principal":{"type":"string","minLength":1,"maxLength":63,"description":) J(desc) J(})

const struct osm_tool osm_tools_egress[] = {
    {.name = "egress_acl_list",
     .description = "The egress allowlist in force: each principal's mode (enforce or report), "
                    "its rules (host, *.suffix, ports) and its unexpired grants.",
     .input_schema = J({"type":"object","properties":{)
        PRINCIPAL_ARG("Only this principal (default: all of them).") J(},
        "additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "egress", .method = "GET", .path = "/acl"},
    {.name = "egress_denials",
     .description = "Recent egress denials, newest first: principal, host, port, address, "
                    "deny or would_deny (report mode), and the reason.",
     .input_schema = J({"type":"object","properties":{)
        PRINCIPAL_ARG("Only this principal's denials (default: all).") J(,
        "limit":{"type":"integer","minimum":1,"maximum":1000,
                 "description":"At most this many (default 50)."}},
        "additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "egress", .method = "GET", .path = "/denials"},
    {.name = "egress_request_access",
     .description = "Ask the operator for network access to one host: it waits for a person's "
                    "approval, and once approved the host is allowed for ttl_s seconds "
                    "(a grant in the ACL).",
     .input_schema = J({"type":"object","properties":{
        "host":{"type":"string","minLength":1,"maxLength":253,
                "description":"Exact host name or address literal (no wildcards)."},
        "ports":{"type":"array","minItems":1,"maxItems":32,
                 "items":{"type":"integer","minimum":1,"maximum":65535},
                 "description":"Ports (default [443])."},)
        PRINCIPAL_ARG("Who gets the access (default agent, the agent's sandboxes).") J(,
        "ttl_s":{"type":"integer","minimum":1,"maximum":604800,
                 "description":"How long the grant lasts, in seconds (default 3600)."},
        "reason":{"type":"string","minLength":1,"maxLength":1024,
                  "description":"Why the access is needed (shown to the operator)."}},
        "required":["host","reason"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "egress"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(egress);
