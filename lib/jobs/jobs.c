/* The life of a job: created (held or starting), started (a runner or a call thread), settled
 * (exited, killed, denied, expired, failed), and the recovery after a restart. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "jobs-internal.h"
#include "sandbox/sandbox.h"

#define KILL_WAIT_MS 5000

void osm_uuid(char ret[static OSM_JOB_ID_LEN + 1])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(ret, OSM_JOB_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

const char *osm_jobs_workspace(const struct osm_jobs *j)
{
    return j->workspace;
}

/* ---- creating --------------------------------------------------------------------------- */

static int insert(struct osm_jobs *j, const struct osm_job_spec *spec, const char *kind,
                  const char *status, const char *id)
{
    char now[OSM_TS_LEN + 1];
    _cleanup_free_ char *args =
        json_dumps(spec->args ? spec->args : json_object(), JSON_COMPACT | JSON_SORT_KEYS);

    if (!args)
        return -ENOMEM;
    osm_now_ts(now);
    return jobs_record(j, "job.create",
                       json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", id, "tool", spec->tool, "ring",
                                 spec->ring, "kind", kind, "status", status),
                       "INSERT INTO jobs (id, tool, args, ring, kind, status, approval_id,"
                       " peer_uid, peer_pid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       json_pack("[s, s, s, i, s, s, s?, i, i, s]", id, spec->tool, args,
                                 spec->ring, kind, status, spec->approval_id, (int)spec->peer.uid,
                                 (int)spec->peer.pid, now),
                       false);
}

struct call_thread {
    struct osm_jobs *j;
    char id[OSM_JOB_ID_LEN + 1];
    char approval_id[OSM_JOB_ID_LEN + 1];
    char *tool;
    json_t *args;
    int ring;
    struct ucred peer;
};

static void call_thread_free(struct call_thread *ct)
{
    json_decref(ct->args);
    free(ct->tool);
    free(ct);
}

/* Runs a call job and stores its result. A handler that turned the job into a process job
 * leaves the ending to the runner: the update below then changes nothing. */
static void *call_main(void *arg)
{
    struct call_thread *ct = arg;
    struct osm_jobs *j = ct->j;
    struct osm_job_call call = {.id = ct->id,
                                .tool = ct->tool,
                                .args = ct->args,
                                .ring = ct->ring,
                                .approval_id = ct->approval_id[0] ? ct->approval_id : NULL,
                                .peer = ct->peer};
    const char *error = NULL;
    json_t *result = j->run_call(j->run_ctx, &call, &error);
    json_t *code = error ? NULL : json_integer(0);
    char now[OSM_TS_LEN + 1];
    _cleanup_free_ char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;

    pthread_setname_np(pthread_self(), "job-call");
    osm_now_ts(now);
    (void)jobs_record(j, "job.end",
                      json_pack("{s:s, s:s, s:O?, s:s?}", "id", ct->id, "status",
                                error ? "failed" : "exited", "exit_code", code, "error", error),
                      "UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, result = ?,"
                      " error = ? WHERE id = ? AND kind = 'call' AND status IN ('running',"
                      " 'starting')",
                      json_pack("[s, s, O?, s?, s?, s]", error ? "failed" : "exited", now, code,
                                text, error, ct->id),
                      false);
    json_decref(code);
    json_decref(result);
    call_thread_free(ct);
    pthread_mutex_lock(&j->lock);
    j->call_threads--;
    j->generation++;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static int start_call_thread(struct osm_jobs *j, const char *id, const json_t *row,
                             const char *approval_id)
{
    struct call_thread *ct = calloc(1, sizeof(*ct));
    pthread_attr_t attr;
    pthread_t t;
    int r;

    if (!ct)
        return -ENOMEM;
    ct->j = j;
    snprintf(ct->id, sizeof(ct->id), "%s", id);
    snprintf(ct->approval_id, sizeof(ct->approval_id), "%s", approval_id ? approval_id : "");
    ct->tool = strdup(jobs_row_str(row, "tool"));
    ct->args = json_loads(jobs_row_str(row, "args"), 0, NULL);
    ct->ring = (int)json_integer_value(json_object_get(row, "ring"));
    ct->peer.uid = (uid_t)json_integer_value(json_object_get(row, "peer_uid"));
    ct->peer.pid = (pid_t)json_integer_value(json_object_get(row, "peer_pid"));
    if (!ct->tool || !ct->args) {
        call_thread_free(ct);
        return -ENOMEM;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&j->lock);
    r = j->stopping ? -ESHUTDOWN : -pthread_create(&t, &attr, call_main, ct);
    if (r == 0)
        j->call_threads++;
    pthread_mutex_unlock(&j->lock);
    pthread_attr_destroy(&attr);
    if (r < 0)
        call_thread_free(ct);
    return r;
}

/* Moves a starting or held call job to running (or, for a process, to starting: the spawn makes
 * it running) and starts its thread. */
static int run_call_job(struct osm_jobs *j, const char *id, const char *approval_id,
                        const char *from, bool process)
{
    const char *to = process ? "starting" : "running";
    char now[OSM_TS_LEN + 1];
    json_t *row;
    int r;

    osm_now_ts(now);
    r = jobs_record(j, "job.start",
                    json_pack("{s:s, s:s, s:s?}", "id", id, "kind", process ? "process" : "call",
                              "approval_id", approval_id),
                    "UPDATE jobs SET status = ?, started_at = ?,"
                    " approval_id = COALESCE(?, approval_id) WHERE id = ? AND status = ?",
                    json_pack("[s, s, s?, s, s]", to, now, approval_id, id, from), true);
    if (r < 0)
        return r;
    row = jobs_row_load(j, id, &r);
    r = row ? start_call_thread(j, id, row, approval_id) : r;
    json_decref(row);
    if (r < 0)
        jobs_finish(j, id, "failed", NULL, "start_failed", strerror(-r), NULL);
    return r;
}

int osm_jobs_create(struct osm_jobs *j, const struct osm_job_spec *spec,
                    char ret_id[static OSM_JOB_ID_LEN + 1])
{
    int r;

    osm_uuid(ret_id);
    r = insert(j, spec, "call", spec->pending ? "pending_approval" : "starting", ret_id);
    if (r < 0 || spec->pending)
        return r;
    return run_call_job(j, ret_id, spec->approval_id, "starting", false);
}

/* ---- process jobs ----------------------------------------------------------------------- */

static int record_spawn_failure(struct osm_jobs *j, const char *id, const char *error,
                                const char *message)
{
    char now[OSM_TS_LEN + 1];

    osm_now_ts(now);
    return jobs_record(j, "job.start",
                       json_pack("{s:s, s:s, s:s}", "id", id, "status", "failed", "error", error),
                       "UPDATE jobs SET status = 'failed', started_at = ?, ended_at = ?,"
                       " error = ?, message = ? WHERE id = ?",
                       json_pack("[s, s, s, s?, s]", now, now, error, message, id), false);
}

static int record_spawned(struct osm_jobs *j, const char *id, const struct osm_job_process *p,
                          const struct jobs_spawned *sp)
{
    char now[OSM_TS_LEN + 1];

    osm_now_ts(now);
    return jobs_record(
        j, "job.start",
        json_pack("{s:s, s:s, s:i, s:b, s:s?, s:i}", "id", id, "kind", "process", "ring", p->ring,
                  "limits_applied", sp->limits_applied, "limits_error", sp->limits_error,
                  "runner_pid", (int)sp->runner_pid),
        /* a quick job may have ended already (its exit record seen): keep that status */
        "UPDATE jobs SET status = CASE status WHEN 'starting' THEN 'running' ELSE status END,"
        " kind = 'process', started_at = COALESCE(started_at, ?), command = ?,"
        " limits_applied = ?, limits_error = ?, runner_pid = ?, runner_start = ? WHERE id = ?",
        json_pack("[s, s, b, s?, I, I, s]", now, p->command, sp->limits_applied, sp->limits_error,
                  (json_int_t)sp->runner_pid, (json_int_t)sp->runner_start, id),
        false);
}

int osm_jobs_spawn(struct osm_jobs *j, const struct osm_job_spec *spec,
                   const struct osm_job_process *proc, char id_inout[static OSM_JOB_ID_LEN + 1],
                   const char **ret_error, char **ret_message)
{
    struct jobs_spawned sp = {0};
    int r;

    *ret_message = NULL;
    if (!id_inout[0]) {
        osm_uuid(id_inout);
        if ((r = insert(j, spec, "process", "starting", id_inout)) < 0) {
            id_inout[0] = '\0';
            *ret_error = "job_failed";
            return r;
        }
    }
    r = jobs_spawn_runner(j, id_inout, proc, spec->approved, &sp, ret_error, ret_message);
    if (r < 0) {
        (void)record_spawn_failure(j, id_inout, *ret_error, *ret_message);
        return r;
    }
    r = record_spawned(j, id_inout, proc, &sp);
    free(sp.limits_error);
    /* Even unrecorded, the runner runs on: watch it so that it is settled. */
    jobs_monitor_watch(j, id_inout, sp.runner_pid, sp.runner_start);
    if (r < 0)
        *ret_error = "job_failed";
    return r;
}

/* ---- held jobs -------------------------------------------------------------------------- */

int osm_jobs_release(struct osm_jobs *j, const char *id, const char *approval_id, bool process)
{
    return run_call_job(j, id, approval_id, "pending_approval", process);
}

int osm_jobs_refuse(struct osm_jobs *j, const char *id, enum osm_job_status why,
                    const char *message)
{
    char now[OSM_TS_LEN + 1];

    if (why != OSM_JOB_DENIED && why != OSM_JOB_EXPIRED && why != OSM_JOB_KILLED &&
        why != OSM_JOB_FAILED)
        return -EINVAL;
    osm_now_ts(now);
    return jobs_record(j, "job.end",
                       json_pack("{s:s, s:s, s:s?}", "id", id, "status", osm_job_status_name(why),
                                 "reason", message),
                       "UPDATE jobs SET status = ?, ended_at = ?, message = ? WHERE id = ?"
                       " AND status = 'pending_approval'",
                       json_pack("[s, s, s?, s]", osm_job_status_name(why), now, message, id),
                       true);
}

/* ---- killing ---------------------------------------------------------------------------- */

static bool runner_alive(const json_t *row)
{
    json_int_t pid = json_integer_value(json_object_get(row, "runner_pid"));
    uint64_t want = (uint64_t)json_integer_value(json_object_get(row, "runner_start")), st;

    return pid > 0 && osm_proc_start_time((pid_t)pid, &st) == 0 && st == want;
}

int osm_jobs_kill(struct osm_jobs *j, const char *id)
{
    json_t *row, *st = NULL;
    const char *kind;
    int r;

    row = jobs_row_load(j, id, &r);
    if (!row)
        return r;
    kind = jobs_row_str(row, "kind");
    if (!jobs_row_is(row, OSM_JOB_RUNNING))
        r = -EALREADY;
    else if (!kind || strcmp(kind, "process") != 0)
        r = -EOPNOTSUPP;
    else if (runner_alive(row)) {
        /* The runner kills the whole group (cgroup.kill, the process group) and records it. */
        if (kill((pid_t)json_integer_value(json_object_get(row, "runner_pid")), SIGTERM) < 0)
            r = -errno;
        if (r == 0)
            r = osm_jobs_wait(j, id, KILL_WAIT_MS, &st);
        json_decref(st);
    } else {
        r = jobs_finish_from_exit(j, id);
        r = r == -EAGAIN ? 0 : r;
    }
    json_decref(row);
    return r;
}

/* ---- recovery --------------------------------------------------------------------------- */

/* A job found running or starting at start: re-attach to its runner, settle it from its
 * files, or fail it (a call job's thread died with the previous run). */
static void recover_one(struct osm_jobs *j, const char *id)
{
    int r;
    json_t *row = jobs_row_load(j, id, &r);
    json_t *run = NULL;
    const char *kind = row ? jobs_row_str(row, "kind") : NULL;

    if (!row)
        return;
    if (jobs_finish_from_exit(j, id) != -EAGAIN)
        goto out;
    run = jobs_file_json(j, id, "run");
    if (kind && strcmp(kind, "process") == 0 && run) {
        jobs_monitor_watch(j, id, (pid_t)json_integer_value(json_object_get(run, "runner_pid")),
                           (uint64_t)json_integer_value(json_object_get(run, "runner_start")));
        goto out;
    }
    jobs_finish(j, id, "failed", NULL, "daemon_restarted",
                "the daemon restarted while the job was starting or running", NULL);
out:
    json_decref(run);
    json_decref(row);
}

static int recover(struct osm_jobs *j)
{
    json_t *ids = NULL, *v;
    size_t i;
    int r = jobs_ids_where(j, "SELECT id FROM jobs WHERE status IN ('running', 'starting')", NULL,
                           &ids);

    if (r < 0)
        return r;
    json_array_foreach(ids, i, v) recover_one(j, json_string_value(json_array_get(v, 0)));
    r = (int)json_array_size(ids);
    json_decref(ids);
    return r;
}

/* ---- opening ---------------------------------------------------------------------------- */

static int make_workspace(const char *ws)
{
    struct stat st;

    if (osm_mkdir_p(ws, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (lstat(ws, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    /* Ring 2 runs as the sandbox uid: the workspace is its home, private to it (and root). */
    if (geteuid() == 0 && (st.st_uid != OSM_SANDBOX_UID || st.st_gid != OSM_SANDBOX_UID) &&
        chown(ws, OSM_SANDBOX_UID, OSM_SANDBOX_UID) < 0)
        return -errno;
    if ((st.st_mode & 07777) != 0700 && chmod(ws, 0700) < 0)
        return -errno;
    return 0;
}

/* The list, each path made canonical where it exists. */
static char **copy_list(const char *const *list, size_t n)
{
    char **out = calloc(n + 1, sizeof(char *));
    size_t k = 0;

    for (size_t i = 0; out && i < n; i++) {
        char *c = realpath(list[i], NULL);
        if (!c)
            c = strdup(list[i]);
        if (c)
            out[k++] = c;
    }
    return out;
}

static void free_list(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

static int setup(struct osm_jobs *j, const struct osm_jobs_config *cfg)
{
    const char *bwrap = getenv("OSMODA_BWRAP");
    int r;

    j->jobs_dir = strdup(cfg->jobs_dir);
    j->workspace = strdup(cfg->workspace);
    j->protected_dirs = copy_list(cfg->protected_dirs, cfg->n_protected);
    j->bwrap = strdup(bwrap && *bwrap ? bwrap : "/usr/bin/bwrap");
    j->egress_socket = cfg->egress_socket ? strdup(cfg->egress_socket) : NULL;
    if (!j->jobs_dir || !j->workspace || !j->protected_dirs || !j->bwrap ||
        (cfg->egress_socket && !j->egress_socket))
        return -ENOMEM;
    if ((r = osm_mkdir_p(j->jobs_dir, 0700)) < 0 || (r = make_workspace(j->workspace)) < 0)
        return r;
    j->runner = jobs_find_program("osmoda-jobrun");
    j->init = jobs_find_program("osmoda-sandbox-init");
    return jobs_store_setup(j);
}

int osm_jobs_open(const struct osm_jobs_config *cfg, struct osm_jobs **ret)
{
    struct osm_jobs *j = calloc(1, sizeof(*j));
    int r;

    if (!j)
        return -ENOMEM;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    j->store = *cfg->store;
    j->cgroups_optional = cfg->cgroups_optional;
    j->activity_s = cfg->activity_s > 0 ? cfg->activity_s : OSM_JOB_ACTIVITY_TIMEOUT_S;
    j->run_call = cfg->run_call;
    j->run_ctx = cfg->run_ctx;
    j->check_bind = cfg->check_bind;
    j->masks = cfg->masks;
    j->policy_ctx = cfg->policy_ctx;
    r = setup(j, cfg);
    if (r == 0)
        r = jobs_monitor_start(j);
    if (r == 0 && (r = recover(j)) >= 0)
        r = 0;
    if (r < 0) {
        osm_jobs_close(j);
        return r;
    }
    *ret = j;
    return 0;
}

void osm_jobs_close(struct osm_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->changed); /* waiters answer now with what they have */
    while (j->call_threads > 0) /* approved calls in flight finish and record their result */
        pthread_cond_wait(&j->changed, &j->lock);
    pthread_mutex_unlock(&j->lock);
    jobs_monitor_stop(j);
    free(j->jobs_dir);
    free(j->workspace);
    free(j->runner);
    free(j->init);
    free(j->bwrap);
    free(j->egress_socket);
    free_list(j->protected_dirs);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->changed);
    free(j);
}
