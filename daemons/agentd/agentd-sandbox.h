/* Private to agentd-jobs.c, agentd-shell.c and agentd-files.c: the jobs layer's state and the
 * calls between those files. The public job API is agentd-jobs.h. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentd-jobs.h"
#include "agentd-tools.h"

struct agentd;

/* struct agentd.jobs */
struct agentd_jobs {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast whenever a job leaves RUNNING */
    bool stopping;
    unsigned call_threads; /* call jobs running on their threads; shutdown waits for them */
    pthread_t monitor;
    bool monitor_started;
    char *jobs_dir; /* <state>/jobs */
    char *runner;   /* osmoda-jobrun */
    char *init;     /* osmoda-sandbox-init */
    char *bwrap;
    char *state_real; /* canonical state and run dirs: never reachable by tools */
    char *run_real;
    bool cgroups_optional;
    int64_t activity_s;
    char **watch; /* ids of running process jobs the monitor polls */
    size_t n_watch, cap_watch;
};

/* Ensures agentd_jobs_init ran; returns its result. */
int agentd_jobs_ready(struct agentd *ad);

/* agentd-shell.c: starts the runner of process job id for tool/args (shell_exec, sandbox_exec).
 * On success fills the runner's pid/start time and whether cgroup limits were applied. On
 * failure returns -errno with *ret_error a static code ("sandbox_unavailable",
 * "invalid_bind", "egress_not_granted", "ring1_requires_approval", "invalid_arguments") and
 * *ret_message (heap) the reason; the command did not run. */
struct agentd_spawned {
    pid_t runner_pid;
    uint64_t runner_start;
    bool limits_applied;
    char *limits_error; /* heap, NULL when limits were applied */
};
int agentd_shell_spawn(struct agentd *ad, const char *id, const char *tool, const json_t *args,
                       int ring, bool approved, struct agentd_spawned *ret, const char **ret_error,
                       char **ret_message);
/* True for tools that run as a sandboxed process job. */
bool agentd_shell_is_process_tool(const char *tool);

/* agentd-files.c: true when path (canonical) is one tools must never touch: the state dir, the
 * run dir, /run/osmoda. */
bool agentd_files_protected(struct agentd *ad, const char *canonical);

/* agentd-files.c: the run-time check of a sandbox_exec bind (key fs_read or fs_write, path
 * canonical): resolved again and judged by the policy. 0, -EPERM (protected, a secret) with
 * ret_why, or -errno. */
int agentd_files_check_bind(struct agentd *ad, const char *key, const char *path, char *ret_why,
                            size_t why_len);
/* agentd-files.c: calls fn for every existing secret outside /proc and /dev (canonical path,
 * whether it is a directory), to mask them in a ring-1 job. Stops at fn's first non-zero
 * return. -ENOTCONN without a tool layer. */
int agentd_files_masks(struct agentd *ad, int (*fn)(const char *path, bool dir, void *userdata),
                       void *userdata);

/* Direct tool tables of each file (joined into agentd_exec_tools[] in agentd-jobs.c). */
json_t *agentd_tool_shell_exec(struct agentd_call *call, const char **ret_error);
/* Runs command (sh -c) as call's job in the sandbox, as shell_exec does, waiting up to wait_ms;
 * network is honoured only for an approved call. For tools that are shell commands in osModa. */
json_t *agentd_shell_run_command(struct agentd_call *call, const char *command, bool network,
                                 int64_t wait_ms, const char **ret_error);
json_t *agentd_tool_sandbox_exec(struct agentd_call *call, const char **ret_error);
json_t *agentd_tool_file_read(struct agentd_call *call, const char **ret_error);
json_t *agentd_tool_file_write(struct agentd_call *call, const char **ret_error);
json_t *agentd_tool_directory_list(struct agentd_call *call, const char **ret_error);
