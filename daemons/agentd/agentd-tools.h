/* agentd's tool executor (POST /tools/call on the agent socket): registry lookup, argument
 * validation, capability token, policy (allow / approve / deny), approvals, the tool.call ledger
 * records, and dispatch either through agentd's own routes (REST-mapped tools) or to a direct
 * implementation (shell, files, jobs, services...). Fails closed: no ledger, no approver, no
 * sandbox → no action. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "tools/registry.h"

struct agentd;

/* One tool call as the executor hands it to an implementation. */
struct agentd_call {
    struct agentd *ad;
    const struct osm_tool *tool;
    const json_t *args;      /* validated against the tool's schema (lent) */
    int ring;                /* 2 = sandboxed (default), 1 = host access after approval */
    bool approved;           /* runs because an operator approved it */
    const char *approval_id; /* NULL unless approved */
    const char *job_id;      /* set when the call runs as a job (lent) */
    struct ucred peer;       /* the agent process that asked (SO_PEERCRED) */
};

/* A direct implementation: returns the result (new reference). On failure returns NULL (or a
 * JSON detail) and sets *ret_error to a short static code ("not_found", "sandbox_unavailable",
 * "timeout", ...) and *ret_message (static or from the result) when useful. */
typedef json_t *(*agentd_tool_fn)(struct agentd_call *call, const char **ret_error);

struct agentd_direct_tool {
    const char *name;
    agentd_tool_fn fn;
};

/* Direct implementations by file (each file exports its table; the executor merges them). */
extern const struct agentd_direct_tool agentd_exec_tools[]; /* agentd-shell.c, agentd-files.c,
                                                               agentd-jobs.c */
extern const size_t agentd_n_exec_tools;
extern const struct agentd_direct_tool agentd_host_tools[]; /* agentd-host.c */
extern const size_t agentd_n_host_tools;
extern const struct agentd_direct_tool agentd_speckit_tools[]; /* agentd-speckit.c */
extern const size_t agentd_n_speckit_tools;
