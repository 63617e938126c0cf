/* Private to lib/jobs: the jobs layer's state and the calls between its files. */
#pragma once

#include <pthread.h>

#include "jobs.h"

struct jobs_monitor;

struct osm_jobs {
    struct osm_jobs_store store;
    char *jobs_dir;
    char *workspace;
    char *runner; /* osmoda-jobrun, NULL when missing: process jobs answer sandbox_unavailable */
    char *init;   /* osmoda-sandbox-init */
    char *bwrap;
    char **protected_dirs; /* canonical; NULL-terminated */
    char *egress_socket;   /* NULL: no egress */
    bool cgroups_optional;
    int64_t activity_s;
    osm_job_run_fn run_call;
    void *run_ctx;
    int (*check_bind)(void *ctx, const char *key, const char *path, char *why, size_t why_len);
    int (*masks)(void *ctx, int (*fn)(const char *path, bool dir, void *ud), void *ud);
    void *policy_ctx;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* broadcast on every state change; generation counts them */
    uint64_t generation;
    bool stopping;
    unsigned call_threads; /* call jobs on their threads; close waits for them */
    struct jobs_monitor *monitor;
};

/* What the runner reported when it started (jobs-spawn.c). */
struct jobs_spawned {
    pid_t runner_pid;
    uint64_t runner_start;
    bool limits_applied;
    char *limits_error; /* heap, NULL when limits were applied */
};

/* ---- jobs-store.c: rows and their events ---- */
int jobs_store_setup(struct osm_jobs *j);
/* The row as JSON (new reference), or NULL with *ret_r -ENOENT / -EIO. */
json_t *jobs_row_load(struct osm_jobs *j, const char *id, int *ret_r);
const char *jobs_row_str(const json_t *row, const char *key);
bool jobs_row_is(const json_t *row, enum osm_job_status s);
/* Records type with payload (stolen) and runs sql with params (stolen JSON array) in its
 * transaction; must_change: -EALREADY when no row changed. */
int jobs_record(struct osm_jobs *j, const char *type, json_t *payload, const char *sql,
                json_t *params, bool must_change);
/* Ids of rows in status (new array). */
int jobs_ids_where(struct osm_jobs *j, const char *sql, const char *arg, json_t **ret);
/* Ends a running or held job (job.end), once; wakes the waiters. */
int jobs_finish(struct osm_jobs *j, const char *id, const char *status, const json_t *exit_code,
                const char *error, const char *message, const json_t *result);
/* Wakes every waiter (a state changed). */
void jobs_changed(struct osm_jobs *j);

/* ---- jobs-files.c: the runner's files ---- */
char *jobs_file(const struct osm_jobs *j, const char *id, const char *ext);
json_t *jobs_file_json(const struct osm_jobs *j, const char *id, const char *ext);
/* Finishes a process job from its .exit file; -EAGAIN while there is none. */
int jobs_finish_from_exit(struct osm_jobs *j, const char *id);
/* Kills what is left of a job whose runner is gone (cgroups named in its .run file). */
void jobs_kill_orphans(struct osm_jobs *j, const char *id);
/* Output from offset (negative: the last window) into o. */
int jobs_read_output(const struct osm_jobs *j, const char *id, int64_t offset, json_t *o);

/* ---- jobs-spawn.c ---- */
int jobs_spawn_runner(struct osm_jobs *j, const char *id, const struct osm_job_process *p,
                      bool approved, struct jobs_spawned *ret, const char **ret_error,
                      char **ret_message);
/* Finds a sandbox program (heap path) or NULL. */
char *jobs_find_program(const char *name);

/* ---- jobs-monitor.c: runner exits through pidfds ---- */
int jobs_monitor_start(struct osm_jobs *j);
void jobs_monitor_stop(struct osm_jobs *j);
/* Watches the runner of a running process job; finishes it when the runner is gone. */
void jobs_monitor_watch(struct osm_jobs *j, const char *id, pid_t pid, uint64_t start_time);
