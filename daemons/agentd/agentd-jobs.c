/* Jobs: records in ledger.db (table jobs, changed together with job.* ledger events), process
 * jobs run by a detached osmoda-jobrun (agentd-shell.c) and finished when their <id>.exit file
 * appears, call jobs run on a thread, and the job_status / job_wait / job_kill tools. Everything
 * a client needs after a disconnect or an agentd restart is in the table and the job files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-exec.h"
#include "agentd-sandbox.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/utf8.h"
#include "sandbox/sandbox.h"

#define MONITOR_PERIOD_MS 200
#define KILL_WAIT_MS 5000
#define EXIT_FILE_MAX 65536
#define RUN_FILE_MAX 65536

static const char *const status_names[] = {
    [AGENTD_JOB_PENDING_APPROVAL] = "pending_approval",
    [AGENTD_JOB_RUNNING] = "running",
    [AGENTD_JOB_EXITED] = "exited",
    [AGENTD_JOB_KILLED] = "killed",
    [AGENTD_JOB_DENIED] = "denied",
    [AGENTD_JOB_EXPIRED] = "expired",
    [AGENTD_JOB_FAILED] = "failed",
};

static const char jobs_schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, tool TEXT NOT NULL, args TEXT NOT NULL, ring INTEGER NOT NULL,"
    " kind TEXT NOT NULL, status TEXT NOT NULL, approval_id TEXT, peer_uid INTEGER,"
    " peer_pid INTEGER, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT,"
    " exit_code INTEGER, result TEXT, error TEXT, message TEXT, limits_applied INTEGER,"
    " limits_error TEXT, runner_pid INTEGER, runner_start INTEGER);"
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);";

/* ---- rows ------------------------------------------------------------------------------- */

/* One statement run inside agentd_record's transaction; params is a JSON array of strings,
 * integers, booleans and nulls bound in order. With must_change, a statement that changes no
 * row aborts the record (-EALREADY): a job is finished once. */
struct row_change {
    const char *sql;
    json_t *params;
    bool must_change;
};

static int apply_change(sqlite3 *db, void *ctx)
{
    struct row_change *c = ctx;
    sqlite3_stmt *st = NULL;
    size_t i;
    json_t *v;
    int r;

    if (sqlite3_prepare_v2(db, c->sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    json_array_foreach(c->params, i, v)
    {
        int k = (int)i + 1;
        if (json_is_string(v))
            sqlite3_bind_text(st, k, json_string_value(v), -1, SQLITE_TRANSIENT);
        else if (json_is_integer(v))
            sqlite3_bind_int64(st, k, json_integer_value(v));
        else if (json_is_boolean(v))
            sqlite3_bind_int(st, k, json_is_true(v));
        else
            sqlite3_bind_null(st, k);
    }
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return -EIO;
    return c->must_change && sqlite3_changes(db) == 0 ? -EALREADY : 0;
}

static int record_change(struct agentd *ad, const char *type, json_t *payload, const char *sql,
                         json_t *params, bool must_change)
{
    struct row_change c = {.sql = sql, .params = params, .must_change = must_change};
    int r;

    r = payload && params ? agentd_record(ad, type, "agentd", payload, apply_change, &c, NULL)
                          : -ENOMEM;
    json_decref(payload);
    json_decref(params);
    return r;
}

static int create_table(struct osm_ledger *l, void *ctx)
{
    return sqlite3_exec(osm_ledger_sqlite(l), jobs_schema, NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                                          : -EIO;
}

/* A job row as JSON (new reference) or NULL with *ret_r = -ENOENT / -EIO. */
static json_t *load_row(struct agentd *ad, const char *id, int *ret_r)
{
    static const char sql[] =
        "SELECT id, tool, args, ring, kind, status, approval_id, created_at, started_at,"
        " ended_at, exit_code, result, error, message, limits_applied, limits_error,"
        " runner_pid, runner_start FROM jobs WHERE id = ?";
    struct agentd_reader rd _cleanup_reader_ = {0};
    sqlite3_stmt *st = NULL;
    json_t *o = NULL;
    int r;

    if ((r = agentd_reader_open(ad, &rd)) < 0) {
        *ret_r = r;
        return NULL;
    }
    if (sqlite3_prepare_v2(agentd_reader_db(&rd), sql, -1, &st, NULL) != SQLITE_OK) {
        *ret_r = -EIO;
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        o = json_object();
        for (int c = 0; o && c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                json_object_set_new(o, name, json_integer(sqlite3_column_int64(st, c)));
                break;
            case SQLITE_NULL:
                json_object_set_new(o, name, json_null());
                break;
            default:
                json_object_set_new(o, name, json_string((const char *)sqlite3_column_text(st, c)));
            }
        }
        *ret_r = o ? 0 : -ENOMEM;
    } else {
        *ret_r = r == SQLITE_DONE ? -ENOENT : -EIO;
    }
    sqlite3_finalize(st);
    return o;
}

static const char *row_str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static bool row_is(const json_t *row, enum agentd_job_status s)
{
    const char *v = row_str(row, "status");

    return v && strcmp(v, status_names[s]) == 0;
}

/* ---- files ------------------------------------------------------------------------------ */

static char *job_file(struct agentd *ad, const char *id, const char *ext)
{
    char *p = NULL;

    return asprintf(&p, "%s/%s.%s", ad->jobs->jobs_dir, id, ext) < 0 ? NULL : p;
}

static json_t *load_json_file(struct agentd *ad, const char *id, const char *ext)
{
    _cleanup_free_ char *path = job_file(ad, id, ext);
    _cleanup_free_ char *text = NULL;

    if (!path || osm_read_file(path, EXIT_FILE_MAX, &text, NULL) < 0)
        return NULL;
    return json_loads(text, 0, NULL);
}

/* output from offset (negative: the last window), at most OSM_JOB_OUTPUT_WINDOW bytes. */
static int read_output(struct agentd *ad, const char *id, int64_t offset, json_t *o)
{
    _cleanup_free_ char *path = job_file(ad, id, "out");
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    int64_t size = 0, start;
    ssize_t n = 0;

    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && fstat(fd, &st) == 0)
        size = st.st_size;
    start = offset < 0 ? (size > OSM_JOB_OUTPUT_WINDOW ? size - OSM_JOB_OUTPUT_WINDOW : 0)
                       : (offset > size ? size : offset);
    buf = malloc(OSM_JOB_OUTPUT_WINDOW + 1);
    if (!buf)
        return -ENOMEM;
    if (fd >= 0 && size > start) {
        n = pread(fd, buf, OSM_JOB_OUTPUT_WINDOW, start);
        if (n < 0)
            n = 0;
    }
    buf[n] = '\0';
    osm_utf8_scrub(buf, (size_t)n);
    json_object_set_new(o, "output", json_stringn(buf, (size_t)n));
    json_object_set_new(o, "output_offset", json_integer(start));
    json_object_set_new(o, "next_offset", json_integer(start + n));
    json_object_set_new(o, "output_size", json_integer(size));
    json_object_set_new(o, "output_more", json_boolean(start + n < size));
    return 0;
}

/* ---- the watch list --------------------------------------------------------------------- */

static void watch_add(struct agentd_jobs *j, const char *id)
{
    char *copy = strdup(id);

    pthread_mutex_lock(&j->lock);
    if (copy && j->n_watch == j->cap_watch) {
        size_t cap = j->cap_watch ? j->cap_watch * 2 : 16;
        char **nw = realloc(j->watch, cap * sizeof(char *));
        if (nw) {
            j->watch = nw;
            j->cap_watch = cap;
        }
    }
    if (copy && j->n_watch < j->cap_watch)
        j->watch[j->n_watch++] = TAKE_PTR(copy);
    pthread_mutex_unlock(&j->lock);
    free(copy);
}

static void watch_remove(struct agentd_jobs *j, const char *id)
{
    pthread_mutex_lock(&j->lock);
    for (size_t i = 0; i < j->n_watch; i++)
        if (strcmp(j->watch[i], id) == 0) {
            free(j->watch[i]);
            j->watch[i] = j->watch[--j->n_watch];
            break;
        }
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
}

/* ---- finishing -------------------------------------------------------------------------- */

static int finish(struct agentd *ad, const char *id, const char *status, json_t *exit_code,
                  const char *error, const char *message, json_t *result)
{
    char now[OSM_TS_LEN + 1];
    _cleanup_free_ char *result_text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_t *payload, *params;
    int r;

    osm_now_ts(now);
    payload = json_pack("{s:s, s:s, s:O?, s:s?, s:s?}", "id", id, "status", status, "exit_code",
                        exit_code, "error", error, "reason",
                        result ? json_string_value(json_object_get(result, "reason")) : NULL);
    params = json_pack("[s, s, O?, s?, s?, s?, s]", status, now, exit_code, result_text, error,
                       message, id);
    r = record_change(ad, "job.end", payload,
                      "UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, result = ?,"
                      " error = ?, message = ? WHERE id = ? AND status IN"
                      " ('running', 'pending_approval')",
                      params, true);
    watch_remove(ad->jobs, id);
    if (r == -EALREADY)
        r = 0;
    if (r < 0)
        log_error("job.end", "id=%s error=%d reason=\"%s\"", id, r, strerror(-r));
    return r;
}

/* Finishes a process job from its .exit file. -EAGAIN when it is still running. */
static int finish_from_exit_file(struct agentd *ad, const char *id)
{
    json_t *ex = load_json_file(ad, id, "exit");
    int r;

    if (!ex)
        return -EAGAIN;
    r = finish(ad, id, row_str(ex, "status") ? row_str(ex, "status") : "failed",
               json_object_get(ex, "exit_code"), row_str(ex, "error"), row_str(ex, "message"), ex);
    json_decref(ex);
    return r;
}

static bool runner_alive(const json_t *row)
{
    json_int_t pid = json_integer_value(json_object_get(row, "runner_pid"));
    uint64_t want = (uint64_t)json_integer_value(json_object_get(row, "runner_start")), st;

    return pid > 0 && osm_proc_start_time((pid_t)pid, &st) == 0 && st == want;
}

/* Kills what is left of a job whose runner is gone, using the cgroups its .run file names. */
static void kill_orphans(struct agentd *ad, const char *id)
{
    json_t *run = load_json_file(ad, id, "run");
    json_t *cgj = json_object_get(run, "cgroup");
    struct osm_cgroup cg = {0};

    if (json_is_object(cgj)) {
        cg.memory = (char *)row_str(cgj, "memory");
        cg.pids = (char *)row_str(cgj, "pids");
        cg.cpu = (char *)row_str(cgj, "cpu");
        cg.unified = (char *)row_str(cgj, "unified");
        const char *dirs[] = {cg.memory, cg.pids, cg.cpu, cg.unified};
        (void)osm_cgroup_kill(&cg);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
            if (dirs[i])
                (void)rmdir(dirs[i]);
    }
    json_decref(run);
}

/* A running process job: finished when its .exit exists; failed when its runner vanished. */
static int refresh_process(struct agentd *ad, const json_t *row)
{
    const char *id = row_str(row, "id");
    int r = finish_from_exit_file(ad, id);

    if (r != -EAGAIN)
        return r;
    if (runner_alive(row))
        return -EAGAIN;
    /* The runner writes .exit before it ends: check once more, then declare it lost. */
    if ((r = finish_from_exit_file(ad, id)) != -EAGAIN)
        return r;
    kill_orphans(ad, id);
    return finish(ad, id, status_names[AGENTD_JOB_FAILED], NULL, "runner_lost",
                  "the job runner ended without recording an exit status", NULL);
}

static void *monitor_main(void *arg)
{
    struct agentd *ad = arg;
    struct agentd_jobs *j = ad->jobs;

    pthread_mutex_lock(&j->lock);
    while (!j->stopping) {
        struct timespec ts;
        char **ids;
        size_t n = j->n_watch;

        ids = n ? calloc(n, sizeof(char *)) : NULL;
        for (size_t i = 0; ids && i < n; i++)
            ids[i] = strdup(j->watch[i]);
        pthread_mutex_unlock(&j->lock);
        for (size_t i = 0; ids && i < n; i++) {
            int r;
            json_t *row = ids[i] ? load_row(ad, ids[i], &r) : NULL;
            if (row && row_is(row, AGENTD_JOB_RUNNING))
                (void)refresh_process(ad, row);
            else if (ids[i])
                watch_remove(j, ids[i]);
            json_decref(row);
            free(ids[i]);
        }
        free(ids);
        pthread_mutex_lock(&j->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += MONITOR_PERIOD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!j->stopping)
            pthread_cond_timedwait(&j->changed, &j->lock, &ts);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* ---- starting --------------------------------------------------------------------------- */

struct call_job {
    struct agentd *ad;
    char id[AGENTD_JOB_ID_LEN + 1];
    char approval_id[AGENTD_JOB_ID_LEN + 1];
    const struct osm_tool *tool;
    json_t *args;
    int ring;
    bool approved;
    struct ucred peer;
};

static void *call_job_main(void *arg)
{
    struct call_job *cj = arg;
    struct agentd_call call = {.ad = cj->ad,
                               .tool = cj->tool,
                               .args = cj->args,
                               .ring = cj->ring,
                               .approved = cj->approved,
                               .approval_id = cj->approved ? cj->approval_id : NULL,
                               .job_id = cj->id,
                               .peer = cj->peer};
    const char *error = NULL;
    json_t *result = agentd_exec_run(&call, &error);
    json_t *code = error ? NULL : json_integer(0);

    finish(cj->ad, cj->id, status_names[error ? AGENTD_JOB_FAILED : AGENTD_JOB_EXITED], code, error,
           NULL, result);
    json_decref(code);
    json_decref(result);
    json_decref(cj->args);
    free(cj);
    pthread_mutex_lock(&call.ad->jobs->lock);
    call.ad->jobs->call_threads--;
    pthread_cond_broadcast(&call.ad->jobs->changed);
    pthread_mutex_unlock(&call.ad->jobs->lock);
    return NULL;
}

static int start_call_job(struct agentd *ad, const char *id, const struct agentd_call *call)
{
    struct call_job *cj = calloc(1, sizeof(*cj));
    pthread_attr_t attr;
    pthread_t t;
    int r;

    if (!cj)
        return -ENOMEM;
    *cj = (struct call_job){.ad = ad,
                            .tool = call->tool,
                            .args = json_deep_copy(call->args),
                            .ring = call->ring,
                            .approved = call->approved,
                            .peer = call->peer};
    snprintf(cj->id, sizeof(cj->id), "%s", id);
    if (call->approval_id)
        snprintf(cj->approval_id, sizeof(cj->approval_id), "%s", call->approval_id);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&ad->jobs->lock);
    r = ad->jobs->stopping ? -ESHUTDOWN : -pthread_create(&t, &attr, call_job_main, cj);
    if (r == 0)
        ad->jobs->call_threads++;
    pthread_mutex_unlock(&ad->jobs->lock);
    pthread_attr_destroy(&attr);
    if (r < 0) {
        json_decref(cj->args);
        free(cj);
    }
    return r;
}

/* Moves a job row to RUNNING (or FAILED when its sandbox could not start) and starts it. */
static int start_job(struct agentd *ad, const char *id, const struct agentd_call *call)
{
    char now[OSM_TS_LEN + 1];
    struct agentd_spawned sp = {0};
    const char *error = NULL;
    _cleanup_free_ char *message = NULL;
    bool process = agentd_shell_is_process_tool(call->tool->name);
    int r;

    osm_now_ts(now);
    if (process) {
        r = agentd_shell_spawn(ad, id, call->tool->name, call->args, call->ring, call->approved,
                               &sp, &error, &message);
        if (r < 0) {
            log_warn("job.start", "id=%s tool=%s error=%s", id, call->tool->name,
                     error ? error : "sandbox_unavailable");
            r = record_change(ad, "job.start",
                              json_pack("{s:s, s:s, s:s, s:s}", "id", id, "tool", call->tool->name,
                                        "status", "failed", "error",
                                        error ? error : "sandbox_unavailable"),
                              "UPDATE jobs SET status = 'failed', started_at = ?, ended_at = ?,"
                              " error = ?, message = ? WHERE id = ?",
                              json_pack("[s, s, s, s?, s]", now, now,
                                        error ? error : "sandbox_unavailable", message, id),
                              false);
            return r;
        }
    }
    r = record_change(
        ad, "job.start",
        json_pack("{s:s, s:s, s:i, s:s, s:b, s:s?}", "id", id, "tool", call->tool->name, "ring",
                  call->ring, "kind", process ? "process" : "call", "limits_applied",
                  !process || sp.limits_applied, "limits_error", sp.limits_error),
        "UPDATE jobs SET status = 'running', started_at = ?, approval_id ="
        " COALESCE(?, approval_id), limits_applied = ?, limits_error = ?,"
        " runner_pid = ?, runner_start = ? WHERE id = ?",
        json_pack("[s, s?, b, s?, I, I, s]", now, call->approval_id, !process || sp.limits_applied,
                  sp.limits_error, (json_int_t)sp.runner_pid, (json_int_t)sp.runner_start, id),
        false);
    free(sp.limits_error);
    if (r < 0)
        return r; /* a process job runs on; its record is missing: the caller gets the error */
    if (process) {
        watch_add(ad->jobs, id);
        return 0;
    }
    r = start_call_job(ad, id, call);
    if (r < 0)
        finish(ad, id, status_names[AGENTD_JOB_FAILED], NULL, "start_failed", strerror(-r), NULL);
    return 0;
}

static void new_id(char ret[static AGENTD_JOB_ID_LEN + 1])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(ret, AGENTD_JOB_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int agentd_job_create(struct agentd_call *call, bool pending, char ret_id[AGENTD_JOB_ID_LEN + 1])
{
    struct agentd *ad = call->ad;
    char now[OSM_TS_LEN + 1];
    _cleanup_free_ char *args = NULL;
    bool process;
    int r;

    if ((r = agentd_jobs_ready(ad)) < 0)
        return r;
    process = agentd_shell_is_process_tool(call->tool->name);
    args = json_dumps(call->args ? call->args : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    if (!args)
        return -ENOMEM;
    new_id(ret_id);
    osm_now_ts(now);
    r = record_change(ad, "job.create",
                      json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", ret_id, "tool", call->tool->name,
                                "ring", call->ring, "kind", process ? "process" : "call", "status",
                                pending ? "pending_approval" : "starting"),
                      "INSERT INTO jobs (id, tool, args, ring, kind, status, approval_id,"
                      " peer_uid, peer_pid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      json_pack("[s, s, s, i, s, s, s?, i, i, s]", ret_id, call->tool->name, args,
                                call->ring, process ? "process" : "call",
                                pending ? "pending_approval" : "starting", call->approval_id,
                                (int)call->peer.uid, (int)call->peer.pid, now),
                      false);
    if (r < 0 || pending)
        return r;
    return start_job(ad, ret_id, call);
}

int agentd_job_release(struct agentd *ad, const char *id, const char *approval_id)
{
    json_t *row, *args;
    struct agentd_call call = {0};
    int r;

    if ((r = agentd_jobs_ready(ad)) < 0)
        return r;
    row = load_row(ad, id, &r);
    if (!row)
        return r;
    if (!row_is(row, AGENTD_JOB_PENDING_APPROVAL)) {
        json_decref(row);
        return -EALREADY;
    }
    args = json_loads(row_str(row, "args"), 0, NULL);
    call = (struct agentd_call){.ad = ad,
                                .tool = osm_tool_find(row_str(row, "tool"), NULL),
                                .args = args,
                                .ring = (int)json_integer_value(json_object_get(row, "ring")),
                                .approved = true,
                                .approval_id = approval_id,
                                .job_id = id};
    call.peer.uid = (uid_t)json_integer_value(json_object_get(row, "peer_uid"));
    call.peer.pid = (pid_t)json_integer_value(json_object_get(row, "peer_pid"));
    if (!call.tool || !args)
        r = finish(ad, id, status_names[AGENTD_JOB_FAILED], NULL, "unknown_tool", NULL, NULL);
    else
        r = start_job(ad, id, &call);
    json_decref(args);
    json_decref(row);
    return r;
}

int agentd_job_refuse(struct agentd *ad, const char *id, enum agentd_job_status why)
{
    int r;

    if ((r = agentd_jobs_ready(ad)) < 0)
        return r;
    if (why < AGENTD_JOB_EXITED || why > AGENTD_JOB_FAILED)
        return -EINVAL;
    return finish(ad, id, status_names[why], NULL, NULL, NULL, NULL);
}

/* ---- status ----------------------------------------------------------------------------- */

static void copy_key(json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
    json_t *v = json_object_get(src, skey);

    json_object_set(dst, dkey, v ? v : json_null());
}

static json_t *status_json(struct agentd *ad, const json_t *row, int64_t offset)
{
    json_t *o = json_object(), *result = NULL;
    const char *rtext = row_str(row, "result");
    bool process = row_str(row, "kind") && strcmp(row_str(row, "kind"), "process") == 0;

    if (!o)
        return NULL;
    copy_key(o, "id", row, "id");
    copy_key(o, "job_id", row, "id");
    copy_key(o, "tool", row, "tool");
    copy_key(o, "status", row, "status");
    copy_key(o, "ring", row, "ring");
    copy_key(o, "exit_code", row, "exit_code");
    copy_key(o, "created_at", row, "created_at");
    copy_key(o, "started_at", row, "started_at");
    copy_key(o, "ended_at", row, "ended_at");
    copy_key(o, "approval_id", row, "approval_id");
    if (json_is_string(json_object_get(row, "error")))
        copy_key(o, "error", row, "error");
    if (json_is_string(json_object_get(row, "message")))
        copy_key(o, "message", row, "message");
    json_object_set_new(o, "limits_applied",
                        json_boolean(json_integer_value(json_object_get(row, "limits_applied"))));
    if (json_is_string(json_object_get(row, "limits_error")))
        copy_key(o, "limits_error", row, "limits_error");
    if (rtext)
        result = json_loads(rtext, JSON_DECODE_ANY, NULL);
    if (process) {
        /* The runner's record: reason (activity_timeout, job_kill), oom_killed, ... */
        if (json_is_object(result)) {
            static const char *const keys[] = {"reason",      "oom_killed",   "pids_limit_hit",
                                               "duration_ms", "output_bytes", "output_truncated"};
            for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (json_object_get(result, keys[i]))
                    copy_key(o, keys[i], result, keys[i]);
        }
        json_object_set_new(o, "result", json_null());
        json_decref(result);
        read_output(ad, row_str(row, "id"), offset, o);
    } else {
        json_object_set_new(o, "result", result ? result : json_null());
        json_object_set_new(o, "output", json_null());
        json_object_set_new(o, "output_offset", json_integer(0));
        json_object_set_new(o, "next_offset", json_integer(0));
    }
    return o;
}

int agentd_job_status(struct agentd *ad, const char *id, int64_t output_offset, json_t **ret)
{
    json_t *row;
    int r;

    if ((r = agentd_jobs_ready(ad)) < 0)
        return r;
    row = load_row(ad, id, &r);
    if (row && row_is(row, AGENTD_JOB_RUNNING) && strcmp(row_str(row, "kind"), "process") == 0 &&
        refresh_process(ad, row) != -EAGAIN) {
        json_decref(row);
        row = load_row(ad, id, &r);
    }
    if (!row)
        return r;
    *ret = status_json(ad, row, output_offset);
    json_decref(row);
    return *ret ? 0 : -ENOMEM;
}

static bool settled(const json_t *st)
{
    const char *s = row_str(st, "status");

    return s && strcmp(s, "running") != 0 && strcmp(s, "pending_approval") != 0 &&
           strcmp(s, "starting") != 0;
}

int agentd_job_wait(struct agentd *ad, const char *id, int64_t timeout_ms, json_t **ret)
{
    int64_t deadline;
    json_t *st = NULL;
    int r;

    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > OSM_JOB_WAIT_MAX_MS)
        timeout_ms = OSM_JOB_WAIT_MAX_MS;
    deadline = osm_monotonic_ms() + timeout_ms;
    for (;;) {
        struct timespec ts;
        int64_t left;

        if ((r = agentd_job_status(ad, id, -1, &st)) < 0)
            return r;
        left = deadline - osm_monotonic_ms();
        if (settled(st) || left <= 0)
            break;
        json_decref(st);
        st = NULL;
        if (left > 100)
            left = 100;
        pthread_mutex_lock(&ad->jobs->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += left * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&ad->jobs->changed, &ad->jobs->lock, &ts);
        pthread_mutex_unlock(&ad->jobs->lock);
    }
    json_object_set_new(st, "timed_out", json_boolean(!settled(st)));
    *ret = st;
    return 0;
}

int agentd_job_kill(struct agentd *ad, const char *id)
{
    json_t *row, *st = NULL;
    int r;

    if ((r = agentd_jobs_ready(ad)) < 0)
        return r;
    row = load_row(ad, id, &r);
    if (!row)
        return r;
    if (row_is(row, AGENTD_JOB_PENDING_APPROVAL)) {
        r = finish(ad, id, status_names[AGENTD_JOB_KILLED], NULL, NULL, "cancelled", NULL);
    } else if (!row_is(row, AGENTD_JOB_RUNNING)) {
        r = -EALREADY;
    } else if (strcmp(row_str(row, "kind"), "process") != 0) {
        r = -EOPNOTSUPP; /* a call job runs to its end */
    } else if (runner_alive(row)) {
        /* The runner kills the whole group (cgroup.kill, the process group) and records it. */
        if (kill((pid_t)json_integer_value(json_object_get(row, "runner_pid")), SIGTERM) < 0)
            r = -errno;
        if (r == 0)
            r = agentd_job_wait(ad, id, KILL_WAIT_MS, &st);
        json_decref(st);
    } else {
        r = refresh_process(ad, row);
        if (r == -EAGAIN)
            r = 0;
    }
    json_decref(row);
    return r;
}

/* ---- start-up --------------------------------------------------------------------------- */

int agentd_jobs_recover(struct agentd *ad)
{
    struct agentd_reader rd _cleanup_reader_ = {0};
    sqlite3_stmt *st = NULL;
    json_t *ids = json_array();
    size_t i;
    json_t *v;
    int r, n = 0;

    if (!ids)
        return -ENOMEM;
    if ((r = agentd_reader_open(ad, &rd)) < 0)
        goto out;
    if (sqlite3_prepare_v2(agentd_reader_db(&rd),
                           "SELECT id FROM jobs WHERE status IN ('running', 'starting')", -1, &st,
                           NULL) != SQLITE_OK) {
        r = -EIO;
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    agentd_reader_close(&rd);
    json_array_foreach(ids, i, v)
    {
        json_t *row = load_row(ad, json_string_value(v), &r);
        const char *kind = row ? row_str(row, "kind") : NULL;
        if (!row)
            continue;
        if (kind && strcmp(kind, "process") == 0 && row_is(row, AGENTD_JOB_RUNNING)) {
            if (refresh_process(ad, row) == -EAGAIN)
                watch_add(ad->jobs, json_string_value(v));
        } else {
            finish(ad, json_string_value(v), status_names[AGENTD_JOB_FAILED], NULL,
                   "agentd_restarted", "agentd restarted while the job was starting or running",
                   NULL);
        }
        n++;
        json_decref(row);
    }
    r = n;
out:
    json_decref(ids);
    return r;
}

static char *find_program(const char *name)
{
    static const char *const dirs[] = {"/usr/libexec/osmoda", "/usr/local/libexec/osmoda",
                                       "/usr/lib/osmoda"};
    char self[PATH_MAX], *p = NULL, *slash;
    const char *env = getenv("OSMODA_LIBEXEC_DIR");
    ssize_t n;

    if (env && *env && asprintf(&p, "%s/%s", env, name) >= 0 && access(p, X_OK) == 0)
        return p;
    free(p);
    p = NULL;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (asprintf(&p, "%s/%s", self, name) >= 0 && access(p, X_OK) == 0)
                return p;
            free(p);
            p = NULL;
        }
    }
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        if (asprintf(&p, "%s/%s", dirs[i], name) >= 0 && access(p, X_OK) == 0)
            return p;
        free(p);
        p = NULL;
    }
    return NULL;
}

static int make_workspace(struct agentd *ad)
{
    const char *ws = ad->cfg.workspace_flag;
    struct stat st;

    ad->workspace = ws ? strdup(ws) : osm_path_join(ad->paths.state_dir, "workspace");
    if (!ad->workspace)
        return -ENOMEM;
    if (osm_mkdir_p(ad->workspace, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (lstat(ad->workspace, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    /* Ring 2 runs as the sandbox uid: the workspace is its home, private to it (and root). */
    if (geteuid() == 0 && (st.st_uid != OSM_SANDBOX_UID || st.st_gid != OSM_SANDBOX_UID) &&
        chown(ad->workspace, OSM_SANDBOX_UID, OSM_SANDBOX_UID) < 0)
        return -errno;
    if ((st.st_mode & 07777) != 0700 && chmod(ad->workspace, 0700) < 0)
        return -errno;
    return 0;
}

static int64_t env_int(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    long long n;

    if (!v || !*v)
        return dflt;
    n = atoll(v);
    return n > 0 ? n : dflt;
}

static int jobs_setup(struct agentd *ad, struct agentd_jobs *j)
{
    const char *cg = getenv("OSMODA_SANDBOX_CGROUPS");
    int r;

    j->jobs_dir = osm_path_join(ad->paths.state_dir, "jobs");
    if (!j->jobs_dir)
        return -ENOMEM;
    if ((r = osm_mkdir_p(j->jobs_dir, 0700)) < 0)
        return r;
    if ((r = make_workspace(ad)) < 0)
        return r;
    j->state_real = realpath(ad->paths.state_dir, NULL);
    j->run_real = ad->paths.run_dir ? realpath(ad->paths.run_dir, NULL) : NULL;
    j->runner = find_program("osmoda-jobrun");
    j->init = find_program("osmoda-sandbox-init");
    j->bwrap = strdup(getenv("OSMODA_BWRAP") && *getenv("OSMODA_BWRAP") ? getenv("OSMODA_BWRAP")
                                                                        : "/usr/bin/bwrap");
    j->cgroups_optional = ad->cfg.sandbox_cgroups_optional || (cg && strcmp(cg, "optional") == 0);
    j->activity_s = ad->cfg.job_activity_timeout_s > 0
                        ? ad->cfg.job_activity_timeout_s
                        : env_int("OSMODA_JOB_ACTIVITY_TIMEOUT", OSM_JOB_ACTIVITY_TIMEOUT_S);
    if (!j->runner || !j->init)
        log_warn("sandbox.programs",
                 "runner=%s init=%s note=\"shell tools answer "
                 "sandbox_unavailable\"",
                 j->runner ? j->runner : "missing", j->init ? j->init : "missing");
    if ((r = agentd_writer_task(ad, create_table, NULL)) < 0)
        return r;
    return 0;
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

int agentd_jobs_init(struct agentd *ad)
{
    struct agentd_jobs *j;
    int r;

    pthread_mutex_lock(&init_lock);
    if (ad->jobs) {
        pthread_mutex_unlock(&init_lock);
        return 0;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        pthread_mutex_unlock(&init_lock);
        return -ENOMEM;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    ad->jobs = j;
    r = jobs_setup(ad, j);
    if (r == 0) {
        int n = agentd_jobs_recover(ad);
        if (n > 0)
            log_info("job.recover", "jobs=%d", n);
        j->monitor_started = pthread_create(&j->monitor, NULL, monitor_main, ad) == 0;
    }
    pthread_mutex_unlock(&init_lock);
    if (r < 0) {
        log_error("jobs.init", "error=%d reason=\"%s\"", r, strerror(-r));
        agentd_jobs_shutdown(ad);
    }
    return r;
}

int agentd_jobs_ready(struct agentd *ad)
{
    if (ad->jobs)
        return 0;
    return agentd_jobs_init(ad);
}

void agentd_jobs_shutdown(struct agentd *ad)
{
    struct agentd_jobs *j = ad->jobs;

    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->changed);
    while (j->call_threads > 0) /* approved calls in flight finish and record their result */
        pthread_cond_wait(&j->changed, &j->lock);
    pthread_mutex_unlock(&j->lock);
    if (j->monitor_started)
        pthread_join(j->monitor, NULL);
    for (size_t i = 0; i < j->n_watch; i++)
        free(j->watch[i]);
    free(j->watch);
    free(j->jobs_dir);
    free(j->runner);
    free(j->init);
    free(j->bwrap);
    free(j->state_real);
    free(j->run_real);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->changed);
    free(j);
    ad->jobs = NULL;
    free(ad->workspace);
    ad->workspace = NULL;
}

/* ---- the job tools ---------------------------------------------------------------------- */

static const char *arg_id(const json_t *args)
{
    const char *id = json_string_value(json_object_get(args, "job_id"));

    return id ? id : json_string_value(json_object_get(args, "id"));
}

static json_t *job_error(int r, const char **ret_error)
{
    *ret_error = r == -ENOENT       ? "not_found"
                 : r == -EALREADY   ? "not_running"
                 : r == -EOPNOTSUPP ? "not_supported"
                                    : "job_failed";
    return json_pack("{s:s, s:s}", "error", *ret_error, "message", strerror(-r));
}

static json_t *tool_job_status(struct agentd_call *call, const char **ret_error)
{
    const char *id = arg_id(call->args);
    json_t *off = json_object_get(call->args, "offset"), *st = NULL;
    int r;

    if (!id) {
        *ret_error = "invalid_arguments";
        return NULL;
    }
    r = agentd_job_status(call->ad, id, json_is_integer(off) ? json_integer_value(off) : -1, &st);
    return r < 0 ? job_error(r, ret_error) : st;
}

static json_t *tool_job_wait(struct agentd_call *call, const char **ret_error)
{
    const char *id = arg_id(call->args);
    json_t *t = json_object_get(call->args, "timeout_ms"), *st = NULL;
    int64_t ms = json_is_integer(t) ? json_integer_value(t) : OSM_SHELL_TIMEOUT_DEFAULT_MS;
    int r;

    if (!id) {
        *ret_error = "invalid_arguments";
        return NULL;
    }
    r = agentd_job_wait(call->ad, id, ms, &st);
    return r < 0 ? job_error(r, ret_error) : st;
}

static json_t *tool_job_kill(struct agentd_call *call, const char **ret_error)
{
    const char *id = arg_id(call->args);
    json_t *st = NULL;
    int r;

    if (!id) {
        *ret_error = "invalid_arguments";
        return NULL;
    }
    r = agentd_job_kill(call->ad, id);
    if (r < 0)
        return job_error(r, ret_error);
    r = agentd_job_status(call->ad, id, -1, &st);
    return r < 0 ? job_error(r, ret_error) : st;
}

const struct agentd_direct_tool agentd_exec_tools[] = {
    {"shell_exec", agentd_tool_shell_exec},
    {"sandbox_exec", agentd_tool_sandbox_exec},
    {"file_read", agentd_tool_file_read},
    {"file_write", agentd_tool_file_write},
    {"directory_list", agentd_tool_directory_list},
    {"job_status", tool_job_status},
    {"job_wait", tool_job_wait},
    {"job_kill", tool_job_kill},
};
const size_t agentd_n_exec_tools = ELEMENTSOF(agentd_exec_tools);
