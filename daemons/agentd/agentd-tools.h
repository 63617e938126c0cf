/* agentd's tools as its executor runs them (lib/exec): the handlers each file implements, and
 * what they need of agentd. A handler gets struct osm_exec_call with userdata = struct agentd. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "exec/exec.h"

struct agentd;

#define AGENTD_OF(call) ((struct agentd *)(call)->userdata)

/* One handler: a tool name, its implementation and (optionally) the preview a person sees. */
struct agentd_handler {
    const char *name;
    osm_exec_fn run;
    osm_exec_preview_fn preview;
    bool process; /* run starts a sandboxed process */
};

/* Each file's handlers (joined into the executor's table in agentd-tools.c). */
extern const struct agentd_handler agentd_shell_handlers[]; /* agentd-shell.c */
extern const size_t agentd_n_shell_handlers;
extern const struct agentd_handler agentd_file_handlers[]; /* agentd-files.c */
extern const size_t agentd_n_file_handlers;
extern const struct agentd_handler agentd_host_handlers[]; /* agentd-host.c */
extern const size_t agentd_n_host_handlers;
extern const struct agentd_handler agentd_speckit_handlers[]; /* agentd-speckit.c */
extern const size_t agentd_n_speckit_handlers;

/* The agent workspace (lent): ring 2's /workspace. */
const char *agentd_workspace(struct agentd *ad);
/* True when path (canonical) is one no tool may touch: the state dir (but the workspace), the
 * run dir, /run/osmoda. */
bool agentd_path_protected(struct agentd *ad, const char *canonical);
/* Runs command (sh -c) as call's sandboxed job, as shell_exec does, waiting up to wait_ms;
 * network: the egress proxy is required (egress_unavailable when osmoda-egress is not running).
 * For tools that are shell commands in osModa. */
json_t *agentd_shell_run_command(struct osm_exec_call *call, const char *command, bool network,
                                 int64_t wait_ms, const char **ret_error);
