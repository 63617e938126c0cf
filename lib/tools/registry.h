/* The tool registry shared by the MCP bridge and the daemons that execute tools: osModa's 92 tool
 * names and argument names (osmoda-reference §2), each with a JSON Schema, a class, the daemon
 * that executes it and how it maps onto that daemon's REST API; plus the seeds' alias names.
 *
 * How a call flows (DESIGN §6): the bridge (agent's uid) looks the tool up, validates the
 * arguments for an early, precise error, and sends POST /tools/call {"tool","arguments"} to
 * <run_dir>/<daemon>-agent.sock. That daemon validates again, checks the capability token and
 * the policy (allow / approve / deny), records tool.call in the ledger, executes (for REST-backed
 * tools by dispatching method+path internally through its own route table) and answers
 * {"status": "ok"|"error"|"pending"|"denied", "result": ..., "approval_id"?, "job_id"?}.
 * A daemon that is not running yields the tool error daemon_unavailable naming the socket. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum osm_tool_class {
    OSM_CLASS_READ,         /* no state change: allowed */
    OSM_CLASS_REVERSIBLE,   /* changes that can be undone: allowed and recorded */
    OSM_CLASS_IRREVERSIBLE, /* deletes, sends, funds: approval */
    OSM_CLASS_PRIVILEGED,   /* root-level system changes: approval */
};

struct osm_tool {
    const char *name; /* osModa's name, e.g. "memory_store" */
    const char *description;
    const char *input_schema; /* JSON Schema 2020-12 text, {"type":"object",...} */
    enum osm_tool_class cls;
    const char *daemon; /* "agentd", "watch", "keyd", "routines", "mesh", "mcpd",
                           "teachd", "voice" */
    const char *method; /* REST mapping inside the daemon, e.g. "POST"; NULL when the
                           daemon implements the tool directly (shell_exec, file_read...) */
    const char *path;   /* e.g. "/incident/{id}/step": {x} is taken from arguments.x; the
                           other arguments are the JSON body (POST) or query (GET) */
    unsigned flags;     /* OSM_TOOL_* below */
};

enum osm_tool_flags {
    OSM_TOOL_LIST = 1 << 0,       /* takes offset / limit / grep, result is paged */
    OSM_TOOL_JOB = 1 << 1,        /* long-running: answers with a job handle */
    OSM_TOOL_NEVER = 1 << 2,      /* refused for agents whatever the policy (approval_approve) */
    OSM_TOOL_IDEMPOTENT = 1 << 3, /* a changing tool that, repeated, changes nothing more */
};

/* The seeds' names ("72 System Tools": read_file, run_command, ...) for the same operations.
 * renames is a NULL-terminated list of {alias_arg, tool_arg} pairs. */
struct osm_tool_alias {
    const char *alias;
    const char *tool;
    const char *const *renames;
    const char *const *fixed; /* NULL-terminated {tool_arg, string value} pairs the alias
                                 implies (list_processes: query=processes); may be NULL */
};

/* All tools, in osModa's order. */
const struct osm_tool *osm_tools(size_t *ret_n);
/* By canonical name or alias; NULL when unknown. *ret_alias (optional) set for an alias. */
const struct osm_tool *osm_tool_find(const char *name, const struct osm_tool_alias **ret_alias);
/* Arguments of an alias call rewritten to the tool's argument names (new reference). */
json_t *osm_tool_alias_args(const struct osm_tool_alias *alias, const json_t *args);
const char *osm_tool_class_name(enum osm_tool_class cls);
/* True when t is one of the registry's entries (not a daemon's own tool). */
bool osm_tool_registered(const struct osm_tool *t);
/* The parsed input schema (lent, parsed once on first use, thread-safe). */
const json_t *osm_tool_schema(const struct osm_tool *t);
/* MCP annotations matching the class: readOnlyHint, destructiveHint, idempotentHint (new ref). */
json_t *osm_tool_annotations(const struct osm_tool *t);
/* Validates args against the tool's schema. 0 when valid; else -EINVAL with ret_field (the JSON
 * pointer of the offending field, "" for the whole object) and ret_reason filled. */
int osm_tool_validate(const struct osm_tool *t, const json_t *args, char *ret_field,
                      size_t field_len, char *ret_reason, size_t reason_len);
/* The environment variable that overrides this daemon's socket (osModa: AGENTD_SOCKET, ...). */
const char *osm_tool_socket_env(const char *daemon);
