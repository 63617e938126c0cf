/* Jobs: long operations and held tool calls of a daemon, run detached from the request that
 * started them (DESIGN §6). Every daemon that executes tools links this through lib/exec.
 *
 * Two kinds. A process job runs under osmoda-jobrun, a detached runner in its own session that
 * streams output to <jobs_dir>/<id>.out and writes the exit status to <id>.exit, so both survive
 * the client going away and the daemon restarting. A call job is a tool call that waited for an
 * approval and then runs on a thread of the daemon, storing its JSON result; its handler may
 * turn it into a process job (osm_jobs_spawn with the call job's id), so a held shell command is
 * still one job the agent can follow and kill.
 *
 * Supervision is event driven: a runner's exit is seen through its pidfd (the runner is not our
 * child), waiters sleep on a condition variable that every state change broadcasts. Rows and
 * their job.* ledger events go through the daemon's store (one transaction where it can). */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define OSM_JOB_ID_LEN 36 /* uuid v4 text */

enum osm_job_status {
    OSM_JOB_PENDING_APPROVAL,
    OSM_JOB_STARTING, /* recorded, not yet running (a crash here means it never ran) */
    OSM_JOB_RUNNING,
    OSM_JOB_EXITED,  /* finished; exit_code / result set */
    OSM_JOB_KILLED,  /* job_kill, cancelled while held, or activity timeout */
    OSM_JOB_DENIED,  /* the operator denied it */
    OSM_JOB_EXPIRED, /* the approval expired */
    OSM_JOB_FAILED,  /* could not start (sandbox unavailable, ...) or lost */
};

/* "pending_approval", "running", ... */
const char *osm_job_status_name(enum osm_job_status s);

/* Where job rows live and how their events are recorded (see lib/exec/sink.h for the two
 * implementations: agentd's own ledger transaction, and a remote ledger plus a local table). */
struct osm_jobs_store {
    /* Records event type with payload (lent) durably and applies apply(db, actx) to the jobs
     * table: in the same transaction where possible, else right after the event is durable.
     * apply may return -EALREADY to abort (nothing recorded). */
    int (*record)(void *ctx, const char *type, const json_t *payload,
                  int (*apply)(sqlite3 *db, void *actx), void *actx);
    /* Runs fn on a handle that can read the jobs table. */
    int (*read)(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx);
    /* Runs fn once on a writable handle (creating the table). */
    int (*setup)(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx);
    void *ctx;
};

/* What a released call job runs (lib/exec implements it). */
struct osm_job_call {
    const char *id;
    const char *tool;
    const json_t *args;
    int ring;
    const char *approval_id;
    struct ucred peer;
};
typedef json_t *(*osm_job_run_fn)(void *ctx, const struct osm_job_call *call,
                                  const char **ret_error);

struct osm_jobs_config {
    const struct osm_jobs_store *store;
    const char *jobs_dir; /* output and exit files (created 0700) */
    const char
        *workspace; /* ring 2's /workspace (created 0700; owned by the sandbox uid as root) */
    const char *const *protected_dirs; /* never bound into a sandbox, hidden in ring 1 */
    /* The agent principal's egress socket (osm_sandbox_egress_socket(run dir)): when it exists
     * at a job's start, ring 2 gets it as its one way out. NULL: ring 2 has no network. */
    const char *egress_socket;
    size_t n_protected;
    bool cgroups_optional;   /* run without cgroup limits when they cannot be set (said so) */
    int64_t activity_s;      /* a process silent this long is killed; 0: the default */
    osm_job_run_fn run_call; /* runs a released call job on its thread */
    void *run_ctx;
    /* The run-time policy check of a sandbox_exec bind (key "fs_read" or "fs_write", canonical
     * path): 0, or -EPERM with why. NULL: none. */
    int (*check_bind)(void *ctx, const char *key, const char *path, char *why, size_t why_len);
    /* Calls fn for every secret a sandbox must mask (canonical path, a directory or not); stops
     * at fn's first non-zero return. NULL: none. */
    int (*masks)(void *ctx, int (*fn)(const char *path, bool dir, void *ud), void *ud);
    void *policy_ctx;
};

/* A sandboxed command (ring 2 unless ring is 1: the host filesystem, after an approval). */
struct osm_job_process {
    const char *command; /* sh -c */
    int ring;
    bool network;          /* ring 2: egress required (egress_unavailable when it is not running) */
    const json_t *fs_read; /* arrays of paths (sandbox_exec), or NULL */
    const json_t *fs_write;
};

/* A new job: tool and args are stored; pending waits for an approval. */
struct osm_job_spec {
    const char *tool;
    const json_t *args;
    int ring;
    struct ucred peer;
    const char *approval_id; /* the approval that released it */
    bool approved;           /* an operator approved it: ring 1 may run */
    bool pending;
};

struct osm_jobs;

/* Creates the directories and the table, finds the sandbox programs (beside the executable, in
 * $OSMODA_LIBEXEC_DIR or the libexec directories), re-attaches to runners left by a previous
 * run and starts the monitor. Returns 0 or -errno. */
int osm_jobs_open(const struct osm_jobs_config *cfg, struct osm_jobs **ret);
/* Stops the monitor after the call jobs in flight finished; runners keep running. NULL-safe. */
void osm_jobs_close(struct osm_jobs *j);
/* The workspace path (lent). */
const char *osm_jobs_workspace(const struct osm_jobs *j);

/* Records a job (job.create). A pending job waits for osm_jobs_release / osm_jobs_refuse; a
 * call job that is not pending starts on its thread at once. */
int osm_jobs_create(struct osm_jobs *j, const struct osm_job_spec *spec,
                    char ret_id[static OSM_JOB_ID_LEN + 1]);
/* Starts a sandboxed process: in a new job (*id_inout empty) or as the process of the running
 * call job *id_inout. On failure the command did not run, the job is failed, and *ret_error is
 * a static code ("sandbox_unavailable", "invalid_bind", ...) with *ret_message (heap) why. */
int osm_jobs_spawn(struct osm_jobs *j, const struct osm_job_spec *spec,
                   const struct osm_job_process *proc, char id_inout[static OSM_JOB_ID_LEN + 1],
                   const char **ret_error, char **ret_message);
/* A held job's approval was granted: runs it on its thread. With process, the handler starts a
 * sandboxed process as this job (osm_jobs_spawn), so the job stays "starting" until it runs.
 * -EALREADY when it is not waiting any more. */
int osm_jobs_release(struct osm_jobs *j, const char *id, const char *approval_id, bool process);
/* A held job will not run: why is OSM_JOB_DENIED, OSM_JOB_EXPIRED, OSM_JOB_KILLED or
 * OSM_JOB_FAILED. -EALREADY when it is not waiting any more. */
int osm_jobs_refuse(struct osm_jobs *j, const char *id, enum osm_job_status why,
                    const char *message);
/* Kills a running process job's whole group (its runner records it). -EALREADY when it is not
 * running, -EOPNOTSUPP for a call job (it runs to its end), -ENOENT. */
int osm_jobs_kill(struct osm_jobs *j, const char *id);

/* {id, job_id, tool, status, exit_code, result, output (from offset, capped), output_offset,
 * next_offset, ...}: new reference in *ret; -ENOENT when unknown. offset < 0: the last window. */
int osm_jobs_status(struct osm_jobs *j, const char *id, int64_t offset, json_t **ret);
/* Waits until the job settles or timeout_ms passes (event driven); then as osm_jobs_status with
 * "timed_out". */
int osm_jobs_wait(struct osm_jobs *j, const char *id, int64_t timeout_ms, json_t **ret);
/* The job's status and approval id (for reconciling held calls). */
int osm_jobs_state(struct osm_jobs *j, const char *id, enum osm_job_status *ret_status,
                   char ret_approval_id[static OSM_JOB_ID_LEN + 1]);
/* The tool and the stored arguments text (canonical: compact, keys sorted) of a job; heap. */
int osm_jobs_call_text(struct osm_jobs *j, const char *id, char **ret_tool, char **ret_args);
/* Ids of the jobs waiting for an approval, as [[job_id, approval_id], ...] (new reference). */
int osm_jobs_held(struct osm_jobs *j, json_t **ret);
/* The job holding approval_id, -ENOENT when none. */
int osm_jobs_by_approval(struct osm_jobs *j, const char *approval_id,
                         char ret_id[static OSM_JOB_ID_LEN + 1]);

/* A fresh uuid v4 (also used for approval and token ids). */
void osm_uuid(char ret[static OSM_JOB_ID_LEN + 1]);
