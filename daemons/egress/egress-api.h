/* The operator's socket (egress.sock, 0600) and the tools on egress-agent.sock (through
 * lib/exec).
 *
 * egress.sock:
 *   GET  /health               {status, mode per principal, principals, lockdown, connections,
 *                               ledger: {ok, pending}, config_generation, listen}
 *   GET  /acl[?principal=P]    the configuration in force (acl_config_json)
 *   POST /acl/grants           {principal, host, ports?, ttl_s, reason} → 201 the grant
 *                              (recorded as egress.grant before it takes effect)
 *   DELETE /acl/grants/{id}    revoke (egress.revoke)
 *   GET  /denials[?principal=P&limit=N]
 *   GET  /stats                proxy and ledger counters
 *   POST /reload               as SIGHUP
 *   POST /lockdown, POST /unlock   osmoda-watch's LOCKDOWN and its end ({} bodies)
 *
 * Tools (registry: lib/tools/tools-egress.c, daemon "egress"):
 *   egress_acl_list        read: the ACL of a principal (default: all)
 *   egress_denials         read: recent denials
 *   egress_request_access  privileged: {host, ports?, principal? ("agent"), ttl_s?, reason}:
 *                          held for the operator; once approved, the grant is added with its
 *                          TTL and the answer names it. An agent cannot grant itself anything. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "egress.h"
#include "exec/exec.h"
#include "ipc/http_server.h"

extern const struct osm_route egress_routes[];
extern const size_t egress_n_routes;

/* The tools egress executes, for osm_exec_config.tools (userdata: the struct egress): the
 * registry's egress_* entries and the job tools of its held calls. A new array (free() it), or
 * -ENOMEM. A function rather than a table, as the executor wants the registry's own entries. */
int egress_tool_table(struct osm_exec_tool **ret, size_t *ret_n);

/* Adds a grant to grants.json (atomically) and reloads: 0 with the grant (new reference). */
int egress_grant_add(struct egress *eg, const char *principal, const char *host,
                     const uint16_t *ports, size_t n_ports, int64_t ttl_s, const char *reason,
                     const char *approval_id, json_t **ret);
int egress_grant_revoke(struct egress *eg, const char *id);
