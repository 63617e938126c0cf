/* Approvals (osModa §1.1 /approval/...), enforced: a tool call the policy sends to a person waits
 * here (pending_approvals in ledger.db, osModa's columns plus the holding daemon, tool, arguments,
 * preview, target path and job id) and runs only when an operator approves it on the operator
 * socket. Every change of a row is the apply() of its ledger event (approval.requested /
 * approved / denied / expired / cancelled), so a decision and its record commit together; the
 * signed decision then goes to the holding daemon (agentd-decisions.c). allow-always leaves a
 * grant with a TTL for the exact call (tool + arguments hash), the exact target path, or a path
 * prefix, that lets later calls run without asking. Who decided is the caller's uid from
 * SO_PEERCRED ("uid:0"), never a field of the request. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-approvals.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "policy/policy.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS pending_approvals (id TEXT PRIMARY KEY, command TEXT NOT NULL, "
    "actor TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT "
    "(strftime('%Y-%m-%dT%H:%M:%fZ','now')), expires_at TEXT NOT NULL, status TEXT NOT NULL "
    "DEFAULT 'pending', decided_at TEXT, decided_by TEXT);"
    "CREATE INDEX IF NOT EXISTS idx_approvals_status ON pending_approvals(status);"
    "CREATE TABLE IF NOT EXISTS approval_grants (approval_id TEXT PRIMARY KEY, tool TEXT NOT "
    "NULL, args_hash TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, "
    "decided_by TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idx_approval_grants ON approval_grants(tool, args_hash);";

/* Our columns beyond osModa's (added to a table osModa or an older agentd created). */
static const struct {
    const char *table, *name, *type;
} extra_columns[] = {
    {"pending_approvals", "tool", "TEXT"},
    {"pending_approvals", "arguments", "TEXT"},
    {"pending_approvals", "args_hash", "TEXT"},
    {"pending_approvals", "job_id", "TEXT"},
    {"pending_approvals", "call_id", "INTEGER"},
    {"pending_approvals", "mode", "TEXT"},
    {"pending_approvals", "ttl_secs", "INTEGER"},
    {"pending_approvals", "daemon", "TEXT"},
    {"pending_approvals", "preview", "TEXT"},
    {"pending_approvals", "path", "TEXT"},
    {"pending_approvals", "scope", "TEXT"},
    {"pending_approvals", "grant_expires_at", "TEXT"},
    {"approval_grants", "scope", "TEXT NOT NULL DEFAULT 'call'"},
    {"approval_grants", "path", "TEXT"},
};

#define ROW_COLUMNS                                                                                \
    "id, command, actor, reason, created_at, expires_at, status, decided_at, decided_by, tool, "   \
    "arguments, job_id, call_id, mode, ttl_secs, args_hash, daemon, preview, path, scope, "        \
    "grant_expires_at"

static void ts_in(int64_t secs, char ret[static OSM_TS_LEN + 1])
{
    int64_t now = osm_realtime_ms();

    osm_format_ts((time_t)(now / 1000 + secs), (unsigned)(now % 1000), ret);
}

/* ---- schema ----------------------------------------------------------------------------- */

static bool has_column(sqlite3 *db, const char *table, const char *name)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_ROW;
}

static int setup_task(struct osm_ledger *l, void *ctx)
{
    sqlite3 *db = osm_ledger_sqlite(l);
    char sql[160];

    if (sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    for (size_t i = 0; i < ELEMENTSOF(extra_columns); i++) {
        if (has_column(db, extra_columns[i].table, extra_columns[i].name))
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", extra_columns[i].table,
                 extra_columns[i].name, extra_columns[i].type);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -EIO;
    }
    return sqlite3_exec(db,
                        "CREATE INDEX IF NOT EXISTS idx_approval_grants_path ON "
                        "approval_grants(tool, scope)",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

/* ---- rows ------------------------------------------------------------------------------- */

/* What only the operator sees of a preview: the content of the target. */
static const char *const preview_content_keys[] = {"diff", "head"};

/* The stored preview; without full (the agent asking) the target's content is left out. */
static json_t *preview_json(sqlite3_stmt *st, bool full)
{
    const char *text = (const char *)sqlite3_column_text(st, 17);
    json_t *p = text ? agentd_payload_parse(text) : NULL;

    if (!p)
        return json_null();
    for (size_t i = 0; !full && json_is_object(p) && i < ELEMENTSOF(preview_content_keys); i++)
        if (json_object_get(p, preview_content_keys[i]))
            json_object_set_new(p, preview_content_keys[i], json_string("[shown to the operator]"));
    return p;
}

/* One row (ROW_COLUMNS) as osModa's approval object plus our fields; full for the operator (or
 * agentd itself), else the preview's content is left out. New reference. */
static json_t *row_json(sqlite3_stmt *st, bool full)
{
    const char *command = (const char *)sqlite3_column_text(st, 1);
    const char *args = (const char *)sqlite3_column_text(st, 10);
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id", agentd_column_json(st, 0),
        "command", agentd_column_json(st, 1), "actor", agentd_column_json(st, 2), "reason",
        agentd_column_json(st, 3), "created_at", agentd_column_json(st, 4), "expires_at",
        agentd_column_json(st, 5), "status", agentd_column_json(st, 6), "decided_at",
        agentd_column_json(st, 7), "decided_by", agentd_column_json(st, 8), "is_destructive",
        command && osm_policy_destructive(command, NULL));

    if (!o)
        return NULL;
    json_object_set_new(o, "tool", agentd_column_json(st, 9));
    json_object_set_new(o, "arguments", args ? agentd_payload_parse(args) : json_null());
    json_object_set_new(o, "job_id", agentd_column_json(st, 11));
    json_object_set_new(o, "call_id",
                        sqlite3_column_type(st, 12) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(st, 12)));
    json_object_set_new(o, "mode", agentd_column_json(st, 13));
    if (sqlite3_column_type(st, 14) != SQLITE_NULL)
        json_object_set_new(o, "ttl_secs", json_integer(sqlite3_column_int64(st, 14)));
    json_object_set_new(o, "args_hash", agentd_column_json(st, 15));
    json_object_set_new(o, "daemon", agentd_column_json(st, 16));
    json_object_set_new(o, "preview", preview_json(st, full));
    json_object_set_new(o, "path", agentd_column_json(st, 18));
    json_object_set_new(o, "scope", agentd_column_json(st, 19));
    json_object_set_new(o, "grant_expires_at", agentd_column_json(st, 20));
    return o;
}

/* Rows matching id (or all when NULL) and status (or any when NULL), newest first. */
static int rows_query(struct agentd *ad, const char *id, const char *status, bool full, json_t *out)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = agentd_reader_open(ad, &rd);

    if (r < 0)
        return r;
    if (sqlite3_prepare_v2(agentd_reader_db(&rd),
                           "SELECT " ROW_COLUMNS " FROM pending_approvals WHERE (?1 IS NULL OR "
                           "id = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY created_at DESC, "
                           "rowid DESC LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, AGENTD_APPROVAL_LIST_MAX);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(out, row_json(st, full)) < 0)
            return -ENOMEM;
    return r == SQLITE_DONE ? 0 : -EIO;
}

/* Row id (new reference) or NULL with *ret_r -ENOENT / -errno; full: with the preview's content. */
static json_t *row_get(struct agentd *ad, const char *id, bool full, int *ret_r)
{
    json_auto_t *list = json_array();

    *ret_r = list ? rows_query(ad, id, NULL, full, list) : -ENOMEM;
    if (*ret_r == 0 && json_array_size(list) == 0)
        *ret_r = -ENOENT;
    return *ret_r == 0 ? json_incref(json_array_get(list, 0)) : NULL;
}

json_t *agentd_approval_row(struct agentd *ad, const char *id, int *ret_r)
{
    return row_get(ad, id, true, ret_r);
}

/* ---- changes (apply callbacks run on the writer, inside the event's transaction) --------- */

struct approval_change {
    const char *id;
    const char *command, *actor, *reason, *expires_at;
    const char *tool, *arguments, *args_hash, *job_id, *daemon, *preview, *path;
    int64_t call_id;
    /* decisions */
    const char *status; /* approved | denied | expired | cancelled */
    const char *decided_by, *mode, *scope;
    const char *on_behalf_of, *note; /* the person a gateway decided for, and why (payload) */
    int64_t ttl_secs;
    char now[OSM_TS_LEN + 1];
    char grant_expires[OSM_TS_LEN + 1];
};

static void bind_opt(sqlite3_stmt *st, int k, const char *v)
{
    if (v)
        sqlite3_bind_text(st, k, v, -1, SQLITE_STATIC);
}

static int apply_insert(sqlite3 *db, void *ctx)
{
    const struct approval_change *c = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO pending_approvals (id, command, actor, reason, created_at, "
                           "expires_at, status, tool, arguments, args_hash, job_id, call_id, "
                           "daemon, preview, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, "
                           "?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->expires_at, -1, SQLITE_STATIC);
    bind_opt(st, 7, c->tool);
    bind_opt(st, 8, c->arguments);
    bind_opt(st, 9, c->args_hash);
    bind_opt(st, 10, c->job_id);
    if (c->call_id > 0)
        sqlite3_bind_int64(st, 11, c->call_id);
    bind_opt(st, 12, c->daemon);
    bind_opt(st, 13, c->preview);
    bind_opt(st, 14, c->path);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int insert_grant(sqlite3 *db, const struct approval_change *c)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO approval_grants (approval_id, tool, args_hash, "
                           "created_at, expires_at, decided_by, scope, path) VALUES (?1, ?2, ?3, "
                           "?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->args_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->grant_expires, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->decided_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->scope ? c->scope : "call", -1, SQLITE_STATIC);
    bind_opt(st, 8, c->path);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

/* Moves a pending row to c->status; -EALREADY when it is no longer pending (a race lost). */
static int apply_decide(sqlite3 *db, void *ctx)
{
    const struct approval_change *c = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    bool always = c->mode && strcmp(c->mode, "always") == 0;

    if (sqlite3_prepare_v2(db,
                           "UPDATE pending_approvals SET status = ?2, decided_at = ?3, decided_by "
                           "= ?4, mode = ?5, ttl_secs = ?6, scope = ?7, grant_expires_at = ?8 "
                           "WHERE id = ?1 AND status = 'pending'",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->decided_by, -1, SQLITE_STATIC);
    bind_opt(st, 5, c->mode);
    if (c->ttl_secs > 0)
        sqlite3_bind_int64(st, 6, c->ttl_secs);
    bind_opt(st, 7, always ? c->scope : NULL);
    bind_opt(st, 8, always ? c->grant_expires : NULL);
    if (sqlite3_step(st) != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(db) == 0)
        return -EALREADY;
    if (strcmp(c->status, "approved") == 0 && always && c->tool && c->args_hash)
        return insert_grant(db, c);
    return 0;
}

/* ---- for the holding daemons ------------------------------------------------------------ */

/* A one-line description of a tool call for the operator (osModa's "command" column). */
static char *call_summary(const char *tool, const json_t *args)
{
    const char *cmd = json_string_value(json_object_get(args, "command"));
    _cleanup_free_ char *text = cmd ? NULL : json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    char *out = NULL;

    if (asprintf(&out, "%s %s", tool, cmd ? cmd : text ? text : "{}") < 0)
        return NULL;
    if (strlen(out) > AGENTD_APPROVAL_COMMAND_MAX)
        strcpy(out + AGENTD_APPROVAL_COMMAND_MAX - 3, "...");
    return out;
}

static bool id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    return n == OSM_EXEC_ID_LEN && strspn(id, "0123456789abcdef-") == n;
}

int agentd_approval_open(struct agentd *ad, const char *daemon,
                         const struct osm_approval_request *req)
{
    _cleanup_free_ char *command = call_summary(req->tool, req->arguments);
    _cleanup_free_ char *args = json_dumps(req->arguments, JSON_COMPACT | JSON_SORT_KEYS);
    _cleanup_free_ char *preview =
        req->preview ? json_dumps(req->preview, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char expires[OSM_TS_LEN + 1];
    struct approval_change c = {.id = req->id,
                                .actor = req->actor,
                                .reason = req->reason,
                                .expires_at = expires,
                                .tool = req->tool,
                                .arguments = args,
                                .args_hash = req->args_hash,
                                .job_id = req->job_id,
                                .call_id = req->call_id,
                                .daemon = daemon,
                                .preview = preview,
                                .path = req->path};
    json_auto_t *payload = NULL;

    if (!command || !args || (req->preview && !preview))
        return -ENOMEM;
    if (!id_valid(req->id) || (preview && strlen(preview) > AGENTD_PREVIEW_MAX))
        return -EINVAL;
    c.command = command;
    osm_now_ts(c.now);
    ts_in(ad->approvals->ttl_s, expires);
    payload = json_pack("{s:s, s:s, s:s, s:O, s:s*, s:I, s:s, s:s, s:s, s:s*}", "id", req->id,
                        "daemon", daemon, "tool", req->tool, "arguments", req->arguments, "job_id",
                        req->job_id, "call_id", (json_int_t)req->call_id, "command", command,
                        "reason", req->reason, "expires_at", expires, "path", req->path);
    if (payload && preview) {
        /* the ledger binds what the approver was shown without holding the content */
        uint8_t h[OSM_SHA256_LEN];
        char hex[2 * OSM_SHA256_LEN + 1];
        if (osm_sha256(preview, strlen(preview), h) < 0)
            return -EIO;
        osm_hex_encode(h, sizeof(h), hex);
        json_object_set_new(payload, "preview_sha256", json_string(hex));
    }
    return payload ? agentd_record(ad, "approval.requested", req->actor, payload, apply_insert, &c,
                                   NULL)
                   : -ENOMEM;
}

json_t *agentd_approval_preview(struct agentd *ad, const char *id)
{
    int r;
    json_auto_t *row = agentd_approval_row(ad, id, &r);
    json_t *p = json_object_get(row, "preview");

    return json_is_object(p) ? json_incref(p) : NULL;
}

int agentd_grant_find(struct agentd *ad, const char *tool, const char *args_hash, const char *path,
                      char ret_id[static OSM_EXEC_ID_LEN + 1])
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char now[OSM_TS_LEN + 1];
    int r = agentd_reader_open(ad, &rd);

    if (r < 0)
        return r;
    osm_now_ts(now);
    /* A prefix grant covers its path and everything under it: "<prefix>/" is a prefix of
     * "<path>/" (so /etc/app does not cover /etc/application). */
    if (sqlite3_prepare_v2(
            agentd_reader_db(&rd),
            "SELECT approval_id FROM approval_grants WHERE tool = ?1 AND expires_at > ?3 AND ("
            "(scope = 'call' AND args_hash = ?2) OR (scope = 'path' AND path = ?4) OR "
            "(scope = 'prefix' AND ?4 IS NOT NULL AND substr(?4 || '/', 1, length(rtrim(path, "
            "'/')) + 1) = rtrim(path, '/') || '/')) ORDER BY expires_at DESC LIMIT 1",
            -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, args_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    bind_opt(st, 4, path);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    snprintf(ret_id, OSM_EXEC_ID_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    return 0;
}

/* Records a decision the holding daemon asked for or the sweeper made (no operator). */
static int decide_as(struct agentd *ad, const char *id, const char *status, const char *type,
                     const char *by)
{
    struct approval_change c = {.id = id, .status = status, .decided_by = by};
    json_auto_t *payload = json_pack("{s:s, s:s}", "id", id, "status", status);
    int r;

    osm_now_ts(c.now);
    r = payload ? agentd_record(ad, type, by, payload, apply_decide, &c, NULL) : -ENOMEM;
    if (r == 0)
        (void)agentd_decision_deliver(ad, id);
    return r;
}

/* The row, when it belongs to daemon (legacy rows with a job but no daemon are agentd's). */
static json_t *own_row(struct agentd *ad, const char *daemon, const char *id, int *ret_r)
{
    json_t *row = agentd_approval_row(ad, id, ret_r);
    const char *owner = row ? json_string_value(json_object_get(row, "daemon")) : NULL;

    if (!owner && row && json_is_string(json_object_get(row, "job_id")))
        owner = "agentd";
    if (row && (!owner || strcmp(owner, daemon) != 0)) {
        json_decref(row);
        *ret_r = -ENOENT;
        return NULL;
    }
    return row;
}

int agentd_approval_cancel(struct agentd *ad, const char *daemon, const char *id)
{
    int r;
    json_auto_t *row = own_row(ad, daemon, id, &r);
    char by[AGENTD_DAEMON_NAME_MAX + 8];

    if (!row)
        return r;
    snprintf(by, sizeof(by), "%s", daemon);
    r = decide_as(ad, id, "cancelled", "approval.cancelled", by);
    if (r == 0)
        log_info("approval.cancelled", "id=%s by=%s", id, daemon);
    return r;
}

int agentd_approval_decision(struct agentd *ad, const char *daemon, const char *id, json_t **ret)
{
    int r;
    json_auto_t *row = own_row(ad, daemon, id, &r);
    const char *status = row ? json_string_value(json_object_get(row, "status")) : NULL;

    if (!row)
        return r;
    if (!status || strcmp(status, "pending") == 0)
        return -EAGAIN;
    *ret = agentd_decision_sign(ad, row);
    return *ret ? 0 : -ENOMEM;
}

/* ---- expiry ----------------------------------------------------------------------------- */

/* Ids of pending rows past their expiry. */
static int expired_query(struct agentd *ad, json_t *out)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char now[OSM_TS_LEN + 1];
    int r = agentd_reader_open(ad, &rd);

    if (r < 0)
        return r;
    osm_now_ts(now);
    if (sqlite3_prepare_v2(agentd_reader_db(&rd),
                           "SELECT id FROM pending_approvals WHERE status = 'pending' AND "
                           "expires_at <= ?1 LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, AGENTD_APPROVAL_LIST_MAX);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(out, agentd_column_json(st, 0));
    return r == SQLITE_DONE ? 0 : -EIO;
}

int agentd_approvals_expire(struct agentd *ad)
{
    json_auto_t *list = json_array();
    size_t i;
    json_t *item;
    int r, n = 0;

    if (!list)
        return -ENOMEM;
    if ((r = expired_query(ad, list)) < 0)
        return r;
    json_array_foreach(list, i, item)
    {
        r = decide_as(ad, json_string_value(item), "expired", "approval.expired", "agentd");
        if (r == -EALREADY)
            continue; /* decided meanwhile */
        if (r < 0)
            return r;
        log_info("approval.expired", "id=%s", json_string_value(item));
        n++;
    }
    return n;
}

static void *sweeper_main(void *arg)
{
    struct agentd *ad = arg;
    struct agentd_approvals *a = ad->approvals;
    struct timespec until;
    int r;

    pthread_setname_np(pthread_self(), "approval-sweep");
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += AGENTD_APPROVAL_SWEEP_S;
        while (!a->stopping && pthread_cond_timedwait(&a->cond, &a->lock, &until) != ETIMEDOUT)
            ; /* decisions broadcast on the same condition: keep the period */
        if (a->stopping)
            break;
        pthread_mutex_unlock(&a->lock);
        if ((r = agentd_approvals_expire(ad)) < 0)
            log_error("approval.sweep", "error=%d reason=\"%s\"", r, strerror(-r));
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int agentd_approvals_init(struct agentd *ad)
{
    struct agentd_approvals *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;
    int r;

    if (!a)
        return -ENOMEM;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    a->ttl_s = ad->cfg.approval_ttl > 0 ? ad->cfg.approval_ttl : AGENTD_APPROVAL_TTL_S;
    ad->approvals = a;
    if ((r = agentd_writer_task(ad, setup_task, NULL)) < 0)
        goto fail;
    r = -pthread_create(&a->sweeper, NULL, sweeper_main, ad);
    a->sweeper_started = r == 0;
    if (r == 0)
        return 0;
fail:
    agentd_approvals_shutdown(ad);
    return r;
}

void agentd_approvals_shutdown(struct agentd *ad)
{
    struct agentd_approvals *a = ad->approvals;

    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (a->sweeper_started)
        pthread_join(a->sweeper, NULL);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
    ad->approvals = NULL;
}

/* ---- routes ----------------------------------------------------------------------------- */

static json_t *not_ready(struct osm_request *req)
{
    return osm_error(req, 503, "not_enabled", NULL, "approval gate not enabled");
}

/* The approval as the caller may see it: the operator all of it, the agent without the
 * preview's content. */
static json_t *approval_reply(struct osm_request *req, const char *id)
{
    int r;
    json_t *row = row_get(AGENTD(req), id, req->operator, & r);

    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "approval not found");
    if (r < 0)
        return agentd_read_error(req, r, "approval");
    return row;
}

/* The approval's actor: the operator may name one; an agent is named by its uid. */
static int request_actor(struct osm_request *req, const json_t *given, char *buf, size_t len)
{
    if (!req->operator) {
        snprintf(buf, len, "agent:%u", (unsigned)req->peer.uid);
        return 0;
    }
    snprintf(buf, len, "%s", given ? json_string_value(given) : "agent");
    return osm_ledger_name_valid(buf) ? 0 : -EINVAL;
}

static json_t *request_check(struct osm_request *req, const json_t *command, const json_t *reason,
                             const json_t *actor, int64_t ttl)
{
    if (strlen(json_string_value(command)) > AGENTD_APPROVAL_COMMAND_MAX)
        return agentd_field_error(req, "command", "is longer than 4096 bytes");
    if (strlen(json_string_value(reason)) > AGENTD_APPROVAL_REASON_MAX)
        return agentd_field_error(req, "reason", "is longer than 1024 bytes");
    if (actor && strlen(json_string_value(actor)) > AGENTD_APPROVAL_ACTOR_MAX)
        return agentd_field_error(req, "actor", "is longer than 256 bytes");
    if (ttl < 1 || ttl > AGENTD_APPROVAL_TTL_MAX_S)
        return agentd_field_error(req, "ttl_secs", "must be from 1 to 2592000");
    return NULL;
}

json_t *agentd_approval_request(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    json_t *command = NULL, *reason = NULL, *actor = NULL, *ttl = NULL, *err, *payload;
    const struct agentd_field fields[] = {
        {"command", AGENTD_FIELD_STRING, true, &command},
        {"reason", AGENTD_FIELD_STRING, true, &reason},
        {"actor", AGENTD_FIELD_STRING, false, &actor},
        {"ttl_secs", AGENTD_FIELD_COUNT, false, &ttl},
    };
    char id[OSM_EXEC_ID_LEN + 1], expires[OSM_TS_LEN + 1], who[AGENTD_APPROVAL_ACTOR_MAX + 1];
    struct approval_change c = {.id = id, .expires_at = expires, .actor = who};
    int64_t ttl_s;
    int r;

    if (!ad->approvals)
        return not_ready(req);
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    ttl_s = ttl ? json_integer_value(ttl) : AGENTD_APPROVAL_TTL_S;
    if ((err = request_check(req, command, reason, actor, ttl_s)))
        return err;
    if (request_actor(req, actor, who, sizeof(who)) < 0)
        return agentd_field_error(req, "actor", "must be 1-128 chars of [a-z0-9_.:-]");
    osm_uuid(id);
    osm_now_ts(c.now);
    ts_in(ttl_s, expires);
    c.command = json_string_value(command);
    c.reason = json_string_value(reason);
    payload =
        json_pack("{s:s, s:O, s:O, s:s, s:b}", "id", id, "command", command, "reason", reason,
                  "expires_at", expires, "is_destructive", osm_policy_destructive(c.command, NULL));
    r = payload ? agentd_record(ad, "approval.requested", who, payload, apply_insert, &c, NULL)
                : -ENOMEM;
    json_decref(payload);
    if (r < 0)
        return agentd_record_error(req, r, "approval.requested");
    req->status = 201;
    return approval_reply(req, id);
}

json_t *agentd_approval_pending(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    json_auto_t *list = json_array();
    int r;

    if (!ad->approvals)
        return not_ready(req);
    if ((r = agentd_approvals_expire(ad)) < 0)
        return agentd_read_error(req, r, "approvals");
    if ((r = rows_query(ad, NULL, "pending", req->operator, list)) < 0)
        return agentd_read_error(req, r, "approvals");
    return json_incref(list);
}

json_t *agentd_approval_get(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    int r;

    if (!ad->approvals)
        return not_ready(req);
    if ((r = agentd_approvals_expire(ad)) < 0)
        return agentd_read_error(req, r, "approvals");
    return approval_reply(req, req->param[0]);
}

/* The grant an allow-always decision leaves: the exact call (default), the held call's target
 * path, or a prefix of it the operator names. */
static json_t *grant_scope(struct osm_request *req, const json_t *scope, const json_t *prefix,
                           struct approval_change *c)
{
    const char *s = scope ? json_string_value(scope) : "call";

    if (strcmp(s, "call") != 0 && strcmp(s, "path") != 0 && strcmp(s, "prefix") != 0)
        return agentd_field_error(req, "scope", "must be \"call\", \"path\" or \"prefix\"");
    if (scope && !(c->mode && strcmp(c->mode, "always") == 0))
        return agentd_field_error(req, "scope", "applies only to mode \"always\"");
    if (prefix && strcmp(s, "prefix") != 0)
        return agentd_field_error(req, "prefix", "applies only to scope \"prefix\"");
    if (strcmp(s, "prefix") == 0 && !prefix)
        return agentd_field_error(req, "prefix", "is required for scope \"prefix\"");
    c->scope = s;
    c->path = prefix ? json_string_value(prefix) : NULL;
    return NULL;
}

/* The person an operator-socket client (the gateway) decides for: 1-64 printable ASCII. */
static bool on_behalf_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* on_behalf_of and reason: recorded in the decision's event beside decided_by, which stays the
 * socket peer. */
static json_t *decision_notes(struct osm_request *req, const json_t *behalf, const json_t *reason,
                              struct approval_change *c)
{
    c->on_behalf_of = behalf ? json_string_value(behalf) : NULL;
    c->note = reason ? json_string_value(reason) : NULL;
    if (c->on_behalf_of && !on_behalf_valid(c->on_behalf_of))
        return agentd_field_error(req, "on_behalf_of", "must be 1-64 printable ASCII characters");
    if (c->note && strlen(c->note) > 500)
        return agentd_field_error(req, "reason", "must be at most 500 bytes");
    return NULL;
}

/* The operator's decision: who may make it, and the body's mode / ttl_secs / scope (decided_by
 * in the body is ignored: the decider is the socket peer). */
static json_t *decision_parse(struct osm_request *req, bool approve, struct approval_change *c)
{
    json_t *mode = NULL, *ttl = NULL, *scope = NULL, *prefix = NULL, *ignored = NULL, *err;
    json_t *behalf = NULL, *reason = NULL;
    const struct agentd_field fields[] = {
        {"mode", AGENTD_FIELD_STRING, false, &mode},
        {"ttl_secs", AGENTD_FIELD_COUNT, false, &ttl},
        {"scope", AGENTD_FIELD_STRING, false, &scope},
        {"prefix", AGENTD_FIELD_STRING, false, &prefix},
        {"decided_by", AGENTD_FIELD_ANY, false, &ignored},
        {"on_behalf_of", AGENTD_FIELD_STRING, false, &behalf},
        {"reason", AGENTD_FIELD_STRING, false, &reason},
    };

    if (!req->operator||(req->peer.uid != 0 && req->peer.uid != geteuid()))
        return osm_error(req, 403, "forbidden", NULL,
                         "approval decisions are taken only by root or agentd's own uid on the "
                         "operator socket");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))) ||
        (err = decision_notes(req, behalf, reason, c)))
        return err;
    c->mode = approve ? (mode ? json_string_value(mode) : "once") : NULL;
    if (c->mode && strcmp(c->mode, "once") != 0 && strcmp(c->mode, "always") != 0)
        return agentd_field_error(req, "mode", "must be \"once\" or \"always\"");
    if (ttl && !(c->mode && strcmp(c->mode, "always") == 0))
        return agentd_field_error(req, "ttl_secs", "applies only to mode \"always\"");
    c->ttl_secs = ttl                            ? json_integer_value(ttl)
                  : c->mode && c->mode[0] == 'a' ? AGENTD_GRANT_TTL_S
                                                 : 0;
    if (ttl && (c->ttl_secs < 1 || c->ttl_secs > AGENTD_APPROVAL_TTL_MAX_S))
        return agentd_field_error(req, "ttl_secs", "must be from 1 to 2592000");
    return grant_scope(req, scope, prefix, c);
}

/* 409 unless row is still pending (NULL then). */
static json_t *check_pending(struct osm_request *req, const char *id, const json_t *row)
{
    const char *status = json_string_value(json_object_get(row, "status"));

    if (status && strcmp(status, "pending") == 0)
        return NULL;
    return osm_error(req, 409, "not_pending", json_pack("{s:s?}", "status", status),
                     "approval %s is %s, not pending", id, status ? status : "unknown");
}

/* A path or prefix grant needs the held call's target path, under the prefix. */
static json_t *check_grant_path(struct osm_request *req, const json_t *row,
                                struct approval_change *c)
{
    const char *held = json_string_value(json_object_get(row, "path"));
    _cleanup_free_ char *prefix = NULL;
    size_t n;

    if (!c->scope || strcmp(c->scope, "call") == 0)
        return NULL;
    if (!held)
        return agentd_field_error(req, "scope", "needs a call with a path argument");
    if (strcmp(c->scope, "path") == 0) {
        c->path = held;
        return NULL;
    }
    prefix = c->path[0] == '/' ? osm_policy_normalize_path(c->path) : NULL;
    n = prefix ? strlen(prefix) : 0;
    if (!prefix || !(strncmp(held, prefix, n) == 0 &&
                     (held[n] == '\0' || held[n] == '/' || strcmp(prefix, "/") == 0)))
        return agentd_field_error(req, "prefix",
                                  "must be an absolute path at or above the held call's path");
    json_object_set_new((json_t *)row, "grant_prefix", json_string(prefix));
    c->path = json_string_value(json_object_get(row, "grant_prefix"));
    return NULL;
}

/* Records the decision (row lent: c points into it). */
static int decision_record(struct agentd *ad, const json_t *row, struct approval_change *c)
{
    bool approve = strcmp(c->status, "approved") == 0;
    json_auto_t *payload = NULL;

    c->tool = json_string_value(json_object_get(row, "tool"));
    c->job_id = json_string_value(json_object_get(row, "job_id"));
    c->args_hash = json_string_value(json_object_get(row, "args_hash"));
    osm_now_ts(c->now);
    if (c->ttl_secs > 0)
        ts_in(c->ttl_secs, c->grant_expires);
    payload = json_pack("{s:s, s:s?, s:s?, s:s, s:s?, s:O?}", "id", c->id, "tool", c->tool,
                        "job_id", c->job_id, "decided_by", c->decided_by, "mode", c->mode, "daemon",
                        json_object_get(row, "daemon"));
    if (payload && c->on_behalf_of)
        json_object_set_new(payload, "on_behalf_of", json_string(c->on_behalf_of));
    if (payload && c->note)
        json_object_set_new(payload, "reason", json_string(c->note));
    if (payload && c->ttl_secs > 0 && c->tool) {
        json_object_set_new(payload, "grant_expires_at", json_string(c->grant_expires));
        json_object_set_new(payload, "scope", json_string(c->scope ? c->scope : "call"));
        if (c->path)
            json_object_set_new(payload, "grant_path", json_string(c->path));
    }
    return payload ? agentd_record(ad, approve ? "approval.approved" : "approval.denied",
                                   c->decided_by, payload, apply_decide, c, NULL)
                   : -ENOMEM;
}

static json_t *decide(struct osm_request *req, bool approve)
{
    struct agentd *ad = AGENTD(req);
    const char *id = req->param[0];
    struct approval_change c = {.id = id, .status = approve ? "approved" : "denied"};
    json_auto_t *row = NULL;
    json_t *err, *reply;
    char who[32];
    int r;

    if (!ad->approvals)
        return not_ready(req);
    if ((err = decision_parse(req, approve, &c)))
        return err;
    if ((r = agentd_approvals_expire(ad)) < 0)
        return agentd_read_error(req, r, "approvals");
    row = approval_reply(req, id);
    if (req->status != 200)
        return TAKE_PTR(row);
    if ((err = check_pending(req, id, row)) || (err = check_grant_path(req, row, &c)))
        return err;
    snprintf(who, sizeof(who), "uid:%u", (unsigned)req->peer.uid);
    c.decided_by = who;
    r = decision_record(ad, row, &c);
    if (r == -EALREADY)
        return osm_error(req, 409, "not_pending", NULL, "approval %s was decided meanwhile", id);
    if (r < 0)
        return agentd_record_error(req, r, approve ? "approval.approved" : "approval.denied");
    log_info(approve ? "approval.approved" : "approval.denied", "id=%s by=%s mode=%s", id, who,
             c.mode ? c.mode : "-");
    r = agentd_decision_deliver(ad, id);
    reply = approval_reply(req, id);
    if (r < 0 && r != -ENOENT && req->status == 200)
        json_object_set_new(reply, "job_error", json_string(strerror(-r)));
    return reply;
}

json_t *agentd_approval_approve(struct osm_request *req)
{
    return decide(req, true);
}

json_t *agentd_approval_deny(struct osm_request *req)
{
    return decide(req, false);
}

/* ---- agentd's own executor's approver --------------------------------------------------- */

static int own_open(void *ctx, const struct osm_approval_request *req)
{
    return agentd_approval_open(ctx, "agentd", req);
}

static int own_grant(void *ctx, const char *tool, const char *args_hash, const char *path,
                     char ret_id[static OSM_EXEC_ID_LEN + 1])
{
    return agentd_grant_find(ctx, tool, args_hash, path, ret_id);
}

static int own_cancel(void *ctx, const char *id)
{
    return agentd_approval_cancel(ctx, "agentd", id);
}

static int own_decision(void *ctx, const char *id, json_t **ret)
{
    return agentd_approval_decision(ctx, "agentd", id, ret);
}

void agentd_approver(struct agentd *ad, struct osm_exec_approver *ret)
{
    *ret = (struct osm_exec_approver){.open = own_open,
                                      .grant = own_grant,
                                      .cancel = own_cancel,
                                      .decision = own_decision,
                                      .ctx = ad};
}
