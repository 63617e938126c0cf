/* Private to the emergency controls: the agent's processes and cgroups (emergency-targets.c),
 * and the persisted state of a freeze (emergency-state.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define EMERGENCY_PIDS_MAX 4096          /* agent processes acted on in one control */
#define EMERGENCY_FREEZE_TIMEOUT_MS 5000 /* a cgroup freeze must settle within this */
#define EMERGENCY_KILL_WAIT_MS 3000      /* SIGKILLed processes must be gone within this */
#define EMERGENCY_REASON_MAX 512         /* bytes of a lockdown reason */

/* How a group or a process is suspended. */
enum em_method { EM_CGROUP2, EM_FREEZER, EM_SIGSTOP };

/* One agent cgroup: v2 (cgroup.freeze, cgroup.kill), a v1 freezer group, or another v1 group
 * whose processes are signalled one by one. */
struct em_group {
    char *path;
    enum em_method method;
};

/* One agent process; start (field 22 of /proc/PID/stat) tells it from a later one that reused
 * its pid. in_group: a cgroup freeze covers it. */
struct em_proc {
    pid_t pid;
    unsigned long long start;
    bool in_group;
};

struct em_targets {
    struct em_group *groups;
    size_t n_groups;
    struct em_proc *procs;
    size_t n_procs;
    bool truncated; /* more than EMERGENCY_PIDS_MAX processes */
};

/* The agent's groups among cgroups (missing ones skipped; a group holding watch itself is
 * demoted to per-process signals) and the processes in them (recursively) and of uid (when
 * have_uid). Never watch itself or PID 1. 0 or -errno. */
int em_targets_collect(const char *const *cgroups, bool have_uid, uid_t uid, struct em_targets *t);
void em_targets_clear(struct em_targets *t);
const char *em_method_name(enum em_method m);
int em_method_parse(const char *s, enum em_method *ret);
/* "cgroup2", "freezer", "sigstop" or several joined by ','. New string. */
char *em_targets_methods(const struct em_targets *t);
json_t *em_pids_json(const struct em_proc *p, size_t n);    /* [pid, ...] */
json_t *em_groups_json(const struct em_group *g, size_t n); /* [{path, method}, ...] */
/* Process start time, 0 when the process is gone. */
unsigned long long em_proc_start(pid_t pid);

/* Suspends (on) or resumes a group with its cgroup freezer. 0 or -errno. */
int em_group_freeze(const struct em_group *g, bool on);
/* Sends sig to p unless its pid now names another process. 0 or -errno (-ESRCH: gone). */
int em_proc_signal(const struct em_proc *p, int sig);
/* Ends every target: SIGTERM and up to grace_ms for them to exit (0: none), then SIGKILL
 * (cgroup.kill where available) for what is left and for processes the groups gained
 * meanwhile. *ret gets {terminated: n, killed: n, remaining: [pid...]} (new reference). */
int em_targets_end(struct em_targets *t, int grace_ms, json_t **ret);
