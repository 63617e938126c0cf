/* Job rows (table jobs) and the job.* events that change them, through the daemon's store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "jobs-internal.h"

static const char *const status_names[] = {
    [OSM_JOB_PENDING_APPROVAL] = "pending_approval",
    [OSM_JOB_STARTING] = "starting",
    [OSM_JOB_RUNNING] = "running",
    [OSM_JOB_EXITED] = "exited",
    [OSM_JOB_KILLED] = "killed",
    [OSM_JOB_DENIED] = "denied",
    [OSM_JOB_EXPIRED] = "expired",
    [OSM_JOB_FAILED] = "failed",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, tool TEXT NOT NULL, args TEXT NOT NULL, ring INTEGER NOT NULL,"
    " kind TEXT NOT NULL, status TEXT NOT NULL, approval_id TEXT, peer_uid INTEGER,"
    " peer_pid INTEGER, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT,"
    " exit_code INTEGER, result TEXT, error TEXT, message TEXT, limits_applied INTEGER,"
    " limits_error TEXT, runner_pid INTEGER, runner_start INTEGER);"
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);";

/* Columns added after the first release (a table from an older agentd gets them). */
static const char *const extra_columns[][2] = {{"command", "TEXT"}};

const char *osm_job_status_name(enum osm_job_status s)
{
    return (size_t)s < ELEMENTSOF(status_names) ? status_names[s] : "failed";
}

static bool has_column(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('jobs') WHERE name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int create_table(sqlite3 *db, void *ctx)
{
    char sql[128];

    if (sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    for (size_t i = 0; i < ELEMENTSOF(extra_columns); i++) {
        if (has_column(db, extra_columns[i][0]))
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE jobs ADD COLUMN %s %s", extra_columns[i][0],
                 extra_columns[i][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -EIO;
    }
    return sqlite3_exec(db, "CREATE INDEX IF NOT EXISTS jobs_approval ON jobs(approval_id)", NULL,
                        NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

int jobs_store_setup(struct osm_jobs *j)
{
    return j->store.setup(j->store.ctx, create_table, NULL);
}

/* ---- changes ---------------------------------------------------------------------------- */

/* One statement run inside the event's transaction; params is a JSON array of strings,
 * integers, booleans and nulls bound in order. */
struct row_change {
    const char *sql;
    const json_t *params;
    bool must_change;
};

static void bind_json(sqlite3_stmt *st, int k, const json_t *v)
{
    if (json_is_string(v))
        sqlite3_bind_text(st, k, json_string_value(v), -1, SQLITE_TRANSIENT);
    else if (json_is_integer(v))
        sqlite3_bind_int64(st, k, json_integer_value(v));
    else if (json_is_boolean(v))
        sqlite3_bind_int(st, k, json_is_true(v));
    else
        sqlite3_bind_null(st, k);
}

static int apply_change(sqlite3 *db, void *ctx)
{
    const struct row_change *c = ctx;
    sqlite3_stmt *st = NULL;
    size_t i;
    json_t *v;
    int r;

    if (sqlite3_prepare_v2(db, c->sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    json_array_foreach(c->params, i, v) bind_json(st, (int)i + 1, v);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return -EIO;
    return c->must_change && sqlite3_changes(db) == 0 ? -EALREADY : 0;
}

int jobs_record(struct osm_jobs *j, const char *type, json_t *payload, const char *sql,
                json_t *params, bool must_change)
{
    struct row_change c = {.sql = sql, .params = params, .must_change = must_change};
    int r = payload && params ? j->store.record(j->store.ctx, type, payload, apply_change, &c)
                              : -ENOMEM;

    json_decref(payload);
    json_decref(params);
    if (r == 0)
        jobs_changed(j);
    return r;
}

void jobs_changed(struct osm_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    j->generation++;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
}

int jobs_finish(struct osm_jobs *j, const char *id, const char *status, const json_t *exit_code,
                const char *error, const char *message, const json_t *result)
{
    char now[OSM_TS_LEN + 1];
    _cleanup_free_ char *result_text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    const char *reason = result ? json_string_value(json_object_get(result, "reason")) : NULL;
    int r;

    osm_now_ts(now);
    r = jobs_record(j, "job.end",
                    json_pack("{s:s, s:s, s:O?, s:s?, s:s?}", "id", id, "status", status,
                              "exit_code", exit_code, "error", error, "reason", reason),
                    "UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, result = ?,"
                    " error = ?, message = ? WHERE id = ? AND status IN"
                    " ('running', 'pending_approval', 'starting')",
                    json_pack("[s, s, O?, s?, s?, s?, s]", status, now, exit_code, result_text,
                              error, message, id),
                    true);
    return r == -EALREADY ? 0 : r;
}

/* ---- reading ---------------------------------------------------------------------------- */

struct row_query {
    const char *id;
    json_t *row;
};

static json_t *column_json(sqlite3_stmt *st, int c)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, c));
    case SQLITE_NULL:
        return json_null();
    default:
        return json_string((const char *)sqlite3_column_text(st, c));
    }
}

static int read_row(sqlite3 *db, void *ctx)
{
    struct row_query *q = ctx;
    sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db, "SELECT * FROM jobs WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, q->id, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        q->row = json_object();
        for (int c = 0; q->row && c < sqlite3_column_count(st); c++)
            json_object_set_new(q->row, sqlite3_column_name(st, c), column_json(st, c));
        r = q->row ? 0 : -ENOMEM;
    } else {
        r = r == SQLITE_DONE ? -ENOENT : -EIO;
    }
    sqlite3_finalize(st);
    return r;
}

json_t *jobs_row_load(struct osm_jobs *j, const char *id, int *ret_r)
{
    struct row_query q = {.id = id};

    *ret_r = j->store.read(j->store.ctx, read_row, &q);
    if (*ret_r < 0) {
        json_decref(q.row);
        return NULL;
    }
    return q.row;
}

const char *jobs_row_str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

bool jobs_row_is(const json_t *row, enum osm_job_status s)
{
    const char *v = jobs_row_str(row, "status");

    return v && strcmp(v, osm_job_status_name(s)) == 0;
}

struct ids_query {
    const char *sql;
    const char *arg;
    json_t *out;
};

static int read_ids(sqlite3 *db, void *ctx)
{
    struct ids_query *q = ctx;
    sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db, q->sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (q->arg)
        sqlite3_bind_text(st, 1, q->arg, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *item = json_array();
        for (int c = 0; item && c < sqlite3_column_count(st); c++)
            json_array_append_new(item, column_json(st, c));
        if (!item || json_array_append_new(q->out, item) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : -EIO;
}

int jobs_ids_where(struct osm_jobs *j, const char *sql, const char *arg, json_t **ret)
{
    struct ids_query q = {.sql = sql, .arg = arg, .out = json_array()};
    int r = q.out ? j->store.read(j->store.ctx, read_ids, &q) : -ENOMEM;

    if (r < 0) {
        json_decref(q.out);
        return r;
    }
    *ret = q.out;
    return 0;
}

int osm_jobs_held(struct osm_jobs *j, json_t **ret)
{
    return jobs_ids_where(j,
                          "SELECT id, approval_id FROM jobs WHERE status = 'pending_approval'"
                          " AND approval_id IS NOT NULL",
                          NULL, ret);
}

int osm_jobs_by_approval(struct osm_jobs *j, const char *approval_id,
                         char ret_id[static OSM_JOB_ID_LEN + 1])
{
    json_t *ids = NULL;
    const char *id;
    int r = jobs_ids_where(j, "SELECT id FROM jobs WHERE approval_id = ?1", approval_id, &ids);

    if (r < 0)
        return r;
    id = json_string_value(json_array_get(json_array_get(ids, 0), 0));
    if (id)
        snprintf(ret_id, OSM_JOB_ID_LEN + 1, "%s", id);
    json_decref(ids);
    return id ? 0 : -ENOENT;
}

int osm_jobs_state(struct osm_jobs *j, const char *id, enum osm_job_status *ret_status,
                   char ret_approval_id[static OSM_JOB_ID_LEN + 1])
{
    int r;
    json_t *row = jobs_row_load(j, id, &r);

    if (!row)
        return r;
    *ret_status = OSM_JOB_FAILED;
    for (size_t s = 0; s < ELEMENTSOF(status_names); s++)
        if (jobs_row_is(row, (enum osm_job_status)s))
            *ret_status = (enum osm_job_status)s;
    snprintf(ret_approval_id, OSM_JOB_ID_LEN + 1, "%s",
             jobs_row_str(row, "approval_id") ? jobs_row_str(row, "approval_id") : "");
    json_decref(row);
    return 0;
}

int osm_jobs_call_text(struct osm_jobs *j, const char *id, char **ret_tool, char **ret_args)
{
    int r;
    json_t *row = jobs_row_load(j, id, &r);

    if (!row)
        return r;
    *ret_tool = strdup(jobs_row_str(row, "tool"));
    *ret_args = strdup(jobs_row_str(row, "args"));
    json_decref(row);
    if (*ret_tool && *ret_args)
        return 0;
    free(*ret_tool);
    free(*ret_args);
    return -ENOMEM;
}
