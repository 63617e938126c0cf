/* Private to lib/tools: the per-category tool tables (tools-*.c) that registry.c joins, in
 * osModa's order, into the one array osm_tools() returns; and the macros the tables use to write
 * JSON Schema text as plain JSON in C source.
 *
 * J(...) turns its tokens into a string literal, escaping the quotes for us: J({"a":1}) is
 * "{\"a\":1}". It does not expand macros inside, so numbers from limits.h are spliced in between
 * two J() pieces with OSM_STR(). Adjacent literals concatenate into one schema.
 *
 * The rule that gives each tool its class is written above the joined table in registry.c. */
#pragma once

#include <stddef.h>

#include "common/limits.h"
#include "common/macro.h"
#include "tools/registry.h"

// clang-format off
#define J(...) #__VA_ARGS__
#define OSM_STR_(x) #x
#define OSM_STR(x) OSM_STR_(x)

/* The schema of a tool without arguments. */
#define NO_ARGS J({"type":"object","properties":{},"additionalProperties":false})

/* The schema of a tool whose only argument is the required string key. */
#define ONE_STRING_ARG(key, desc)                                                                  \
    J({"type":"object","properties":{) J(key) J(:{"type":"string","minLength":1,"description":)   \
    J(desc) J(}},"required":[) J(key) J(],"additionalProperties":false})

/* offset / limit / grep of every OSM_TOOL_LIST tool: properties to splice into "properties". */
#define PAGE_PROPS                                                                                 \
    J("offset":{"type":"integer","minimum":0,"maximum":) OSM_STR(OSM_TOOL_OFFSET_MAX)              \
    J(,"description":"Skip this many items (counted after grep)."},                                \
      "limit":{"type":"integer","minimum":0,"maximum":) OSM_STR(OSM_TOOL_LIST_MAX)                 \
    J(,"description":"Return at most this many items (one page when omitted)."},                   \
      "grep":{"type":"string","maxLength":) OSM_STR(OSM_TOOL_GREP_MAX)                             \
    J(,"description":"Keep only items whose JSON contains this text (case-insensitive)."})

/* A schema of a list tool whose only arguments are offset / limit / grep. */
#define PAGE_ONLY J({"type":"object","properties":{) PAGE_PROPS J(},"additionalProperties":false})

/* osModa's HealthCheck (§4), tagged by "type"; used by SafeSwitch, watchers and fleet. */
#define HEALTH_CHECK                                                                               \
    J({"description":"A health check, tagged by type.","oneOf":[                                   \
      {"type":"object","description":"Passes while the systemd unit is active.",                  \
       "properties":{"type":{"const":"systemd_unit"},                                              \
         "unit":{"type":"string","minLength":1,"maxLength":256,                                   \
                 "description":"Unit name, e.g. nginx.service."}},                                 \
       "required":["type","unit"],"additionalProperties":false},                                   \
      {"type":"object","description":"Passes when a TCP connection succeeds within 5 s.",         \
       "properties":{"type":{"const":"tcp_port"},                                                  \
         "host":{"type":"string","minLength":1,"description":"Host name or address."},            \
         "port":{"type":"integer","minimum":1,"maximum":65535,"description":"TCP port."}},         \
       "required":["type","host","port"],"additionalProperties":false},                            \
      {"type":"object","description":"Passes when GET url answers with expect_status.",           \
       "properties":{"type":{"const":"http_get"},                                                  \
         "url":{"type":"string","minLength":1,"description":"http:// or https:// URL."},          \
         "expect_status":{"type":"integer","minimum":100,"maximum":599,                            \
                          "description":"Expected HTTP status, e.g. 200."}},                       \
       "required":["type","url","expect_status"],"additionalProperties":false},                    \
      {"type":"object","description":"Passes when the program exits 0 (run without a shell).",    \
       "properties":{"type":{"const":"command"},                                                   \
         "cmd":{"type":"string","minLength":1,"description":"Absolute path of the program."},     \
         "args":{"type":"array","items":{"type":"string"},"description":"Its arguments."}},        \
       "required":["type","cmd"],"additionalProperties":false}]})

// clang-format on

/* One category's tools, in osModa's order. */
#define OSM_TOOL_TABLE(cat)                                                                        \
    extern const struct osm_tool osm_tools_##cat[];                                                \
    extern const size_t osm_tools_##cat##_n

OSM_TOOL_TABLE(system);     /* tools-system.c: system, events, memory (1-6) */
OSM_TOOL_TABLE(host);       /* tools-host.c: shell, files, services, journal, network (7-13) */
OSM_TOOL_TABLE(wallet);     /* tools-wallet.c (14-20) */
OSM_TOOL_TABLE(safeswitch); /* tools-safeswitch.c: SafeSwitch and watchers (21-27) */
OSM_TOOL_TABLE(routines);   /* tools-routines.c (28-30) */
OSM_TOOL_TABLE(records);    /* tools-records.c: agent card, receipts, incidents (31-34) */
OSM_TOOL_TABLE(voice);      /* tools-voice.c (35-39) */
OSM_TOOL_TABLE(backup);     /* tools-backup.c (40-41) */
OSM_TOOL_TABLE(mesh);       /* tools-mesh.c (42-52) */
OSM_TOOL_TABLE(mcp);        /* tools-mcp.c (53-56) */
OSM_TOOL_TABLE(safety);     /* tools-safety.c (57-60) */
OSM_TOOL_TABLE(teach);      /* tools-teach.c (61-74) */
OSM_TOOL_TABLE(approval);   /* tools-approval.c: approvals, sandbox, capabilities (75-80) */
OSM_TOOL_TABLE(fleet);      /* tools-fleet.c (81-84) */
OSM_TOOL_TABLE(apps);       /* tools-apps.c (85-90) */
OSM_TOOL_TABLE(speckit);    /* tools-speckit.c (91-92) */
OSM_TOOL_TABLE(jobs);       /* tools-jobs.c: ours, after osModa's 92 (93-95) */
OSM_TOOL_TABLE(egress);     /* tools-egress.c: ours (96-98) */
OSM_TOOL_TABLE(keyd);       /* tools-wallet.c: keyd's beyond osModa's wallet tools (99-104) */

/* Defines a category's count beside its table. */
#define OSM_TOOL_TABLE_SIZE(cat) const size_t osm_tools_##cat##_n = ELEMENTSOF(osm_tools_##cat)

/* aliases.c: the seeds' names for the same tools. */
extern const struct osm_tool_alias osm_tool_aliases[];
extern const size_t osm_tool_n_aliases;
