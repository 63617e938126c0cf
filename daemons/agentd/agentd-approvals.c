/* Approvals (osModa §1.1 /approval/...), enforced: a tool call the policy sends to a person waits
 * here (pending_approvals in ledger.db, osModa's columns plus tool, arguments, job id) and runs
 * only when an operator approves it on the operator socket. Every change of a row is the apply()
 * of its ledger event (approval.requested / approved / denied / expired), so a decision and its
 * record commit together. allow-always leaves a grant (tool + exact arguments hash, TTL) that
 * lets identical later calls run without asking. Who decided is the caller's uid from
 * SO_PEERCRED ("uid:0"), never a field of the request. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-exec.h"
#include "agentd-jobs.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"

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

/* Our columns beyond osModa's (added to a table osModa created). */
static const char *const extra_columns[][2] = {
    {"tool", "TEXT"},       {"arguments", "TEXT"}, {"args_hash", "TEXT"},   {"job_id", "TEXT"},
    {"call_id", "INTEGER"}, {"mode", "TEXT"},      {"ttl_secs", "INTEGER"}, {"preview", "TEXT"},
};

/* What only the operator sees of a preview: the content of the target. */
static const char *const preview_content_keys[] = {"diff", "head"};

#define ROW_COLUMNS                                                                                \
    "id, command, actor, reason, created_at, expires_at, status, decided_at, decided_by, tool, "   \
    "arguments, job_id, call_id, mode, ttl_secs, args_hash, preview"

void agentd_uuid(char ret[static AGENTD_APPROVAL_ID_LEN + 1])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(ret, AGENTD_APPROVAL_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static void ts_in(int64_t secs, char ret[static OSM_TS_LEN + 1])
{
    int64_t now = osm_realtime_ms();

    osm_format_ts((time_t)(now / 1000 + secs), (unsigned)(now % 1000), ret);
}

/* ---- schema ----------------------------------------------------------------------------- */

static bool has_column(sqlite3 *db, const char *name)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM pragma_table_info('pending_approvals') WHERE name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_ROW;
}

static int setup_task(struct osm_ledger *l, void *ctx)
{
    sqlite3 *db = osm_ledger_sqlite(l);
    char sql[128];

    if (sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    for (size_t i = 0; i < ELEMENTSOF(extra_columns); i++) {
        if (has_column(db, extra_columns[i][0]))
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE pending_approvals ADD COLUMN %s %s",
                 extra_columns[i][0], extra_columns[i][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -EIO;
    }
    return 0;
}

int agentd_approvals_setup(struct agentd *ad)
{
    return agentd_writer_task(ad, setup_task, NULL);
}

/* ---- rows ------------------------------------------------------------------------------- */

/* The stored preview; without full (the agent asking) the target's content is left out. */
static json_t *preview_json(sqlite3_stmt *st, bool full)
{
    const char *text = (const char *)sqlite3_column_text(st, 16);
    json_t *p = text ? agentd_payload_parse(text) : NULL;

    if (!p)
        return json_null();
    for (size_t i = 0; !full && json_is_object(p) && i < ELEMENTSOF(preview_content_keys); i++)
        if (json_object_get(p, preview_content_keys[i]))
            json_object_set_new(p, preview_content_keys[i], json_string("[shown to the operator]"));
    return p;
}

/* One row (ROW_COLUMNS) as osModa's approval object plus our fields. New reference. */
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
    json_object_set_new(o, "preview", preview_json(st, full));
    return o;
}

/* Rows matching id (or all when NULL) and status (or any when NULL), newest first; full: for
 * the operator. */
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

/* The approval id as JSON (new reference) or NULL with *ret_r = -ENOENT / -errno. */
static json_t *row_get(struct agentd *ad, const char *id, bool full, int *ret_r)
{
    json_auto_t *list = json_array();

    *ret_r = list ? rows_query(ad, id, NULL, full, list) : -ENOMEM;
    if (*ret_r == 0 && json_array_size(list) == 0)
        *ret_r = -ENOENT;
    return *ret_r == 0 ? json_incref(json_array_get(list, 0)) : NULL;
}

/* ---- changes (apply callbacks run on the writer, inside the event's transaction) --------- */

struct approval_change {
    const char *id;
    const char *command, *actor, *reason, *expires_at;
    const char *tool, *arguments, *args_hash, *job_id, *preview;
    int64_t call_id;
    /* decisions */
    const char *status; /* approved | denied | expired */
    const char *decided_by, *mode;
    int64_t ttl_secs;
    char now[OSM_TS_LEN + 1];
    char grant_expires[OSM_TS_LEN + 1];
};

static int apply_insert(sqlite3 *db, void *ctx)
{
    const struct approval_change *c = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO pending_approvals (id, command, actor, reason, created_at, "
                           "expires_at, status, tool, arguments, args_hash, job_id, call_id, "
                           "preview) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?10, "
                           "?11, ?12)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->expires_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, c->arguments, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, c->args_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, c->job_id, -1, SQLITE_STATIC);
    if (c->call_id > 0)
        sqlite3_bind_int64(st, 11, c->call_id);
    sqlite3_bind_text(st, 12, c->preview, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int insert_grant(sqlite3 *db, const struct approval_change *c)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO approval_grants (approval_id, tool, args_hash, "
                           "created_at, expires_at, decided_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->args_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->grant_expires, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->decided_by, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

/* Moves a pending row to c->status; -EALREADY when it is no longer pending (a race lost). */
static int apply_decide(sqlite3 *db, void *ctx)
{
    const struct approval_change *c = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "UPDATE pending_approvals SET status = ?2, decided_at = ?3, decided_by "
                           "= ?4, mode = ?5, ttl_secs = ?6 WHERE id = ?1 AND status = 'pending'",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->decided_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->mode, -1, SQLITE_STATIC);
    if (c->ttl_secs > 0)
        sqlite3_bind_int64(st, 6, c->ttl_secs);
    if (sqlite3_step(st) != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(db) == 0)
        return -EALREADY;
    if (strcmp(c->status, "approved") == 0 && c->mode && strcmp(c->mode, "always") == 0 &&
        c->tool && c->args_hash)
        return insert_grant(db, c);
    return 0;
}

/* ---- for the executor ------------------------------------------------------------------- */

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

/* The preview's SHA-256 in hex: the ledger binds what the approver was shown. */
static void preview_hash(const char *text, char ret[static 2 * OSM_SHA256_LEN + 1])
{
    uint8_t h[OSM_SHA256_LEN];

    if (osm_sha256(text, strlen(text), h) < 0)
        ret[0] = '\0';
    else
        osm_hex_encode(h, sizeof(h), ret);
}

int agentd_approval_open(struct agentd *ad, const char *approval_id, const char *tool,
                         const json_t *redacted_args, const char *args_hash, const char *job_id,
                         int64_t call_id, const char *actor, const char *reason,
                         const json_t *preview)
{
    _cleanup_free_ char *command = call_summary(tool, redacted_args);
    _cleanup_free_ char *args = json_dumps(redacted_args, JSON_COMPACT | JSON_SORT_KEYS);
    _cleanup_free_ char *preview_text =
        preview ? json_dumps(preview, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char expires[OSM_TS_LEN + 1], hash[2 * OSM_SHA256_LEN + 1];
    struct approval_change c = {.id = approval_id,
                                .actor = actor,
                                .reason = reason,
                                .expires_at = expires,
                                .tool = tool,
                                .arguments = args,
                                .args_hash = args_hash,
                                .job_id = job_id,
                                .call_id = call_id,
                                .preview = preview_text};
    json_t *payload;
    int r;

    if (!command || !args || (preview && !preview_text))
        return -ENOMEM;
    c.command = command;
    osm_now_ts(c.now);
    ts_in(ad->tools->approval_ttl_s, expires);
    payload =
        json_pack("{s:s, s:s, s:O, s:s*, s:I, s:s, s:s, s:s}", "id", approval_id, "tool", tool,
                  "arguments", redacted_args, "job_id", job_id, "call_id", (json_int_t)call_id,
                  "command", command, "reason", reason, "expires_at", expires);
    if (payload && preview_text) {
        preview_hash(preview_text, hash);
        json_object_set_new(payload, "preview_sha256", json_string(hash));
    }
    r = payload ? agentd_record(ad, "approval.requested", actor, payload, apply_insert, &c, NULL)
                : -ENOMEM;
    json_decref(payload);
    return r;
}

json_t *agentd_approval_preview(struct agentd *ad, const char *id)
{
    int r;
    json_auto_t *row = row_get(ad, id, true, &r);
    json_t *p = json_object_get(row, "preview");

    return json_is_object(p) ? json_incref(p) : NULL;
}

int agentd_grant_find(struct agentd *ad, const char *tool, const char *args_hash,
                      char ret_approval_id[AGENTD_APPROVAL_ID_LEN + 1])
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char now[OSM_TS_LEN + 1];
    int r = agentd_reader_open(ad, &rd);

    if (r < 0)
        return r;
    osm_now_ts(now);
    if (sqlite3_prepare_v2(agentd_reader_db(&rd),
                           "SELECT approval_id FROM approval_grants WHERE tool = ?1 AND "
                           "args_hash = ?2 AND expires_at > ?3 ORDER BY expires_at DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, args_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    snprintf(ret_approval_id, AGENTD_APPROVAL_ID_LEN + 1, "%s",
             (const char *)sqlite3_column_text(st, 0));
    return 0;
}

/* ---- expiry ----------------------------------------------------------------------------- */

/* Ids (and job ids) of pending rows past their expiry, into out as [id, job_id|null] pairs. */
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
                           "SELECT id, job_id FROM pending_approvals WHERE status = 'pending' AND "
                           "expires_at <= ?1 LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, AGENTD_APPROVAL_LIST_MAX);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            out, json_pack("[o, o]", agentd_column_json(st, 0), agentd_column_json(st, 1)));
    return r == SQLITE_DONE ? 0 : -EIO;
}

/* Records approval.expired for one row and refuses its job. 1 when expired, 0 when it was
 * decided meanwhile, -errno. */
static int expire_one(struct agentd *ad, const char *id, const char *job_id)
{
    struct approval_change c = {.id = id, .status = "expired", .decided_by = "agentd"};
    json_t *payload = json_pack("{s:s, s:s*}", "id", id, "job_id", job_id);
    int r;

    osm_now_ts(c.now);
    r = payload ? agentd_record(ad, "approval.expired", "agentd", payload, apply_decide, &c, NULL)
                : -ENOMEM;
    json_decref(payload);
    if (r == -EALREADY)
        return 0;
    if (r < 0)
        return r;
    if (job_id && (r = agentd_job_refuse(ad, job_id, AGENTD_JOB_EXPIRED)) < 0)
        log_warn("approval.expire", "id=%s job=%s error=%d note=\"job not refused\"", id, job_id,
                 r);
    log_info("approval.expired", "id=%s", id);
    return 1;
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
        r = expire_one(ad, json_string_value(json_array_get(item, 0)),
                       json_string_value(json_array_get(item, 1)));
        if (r < 0)
            return r;
        n += r;
    }
    return n;
}

void *agentd_approvals_sweeper(void *arg)
{
    struct agentd *ad = arg;
    struct agentd_tools *t = ad->tools;
    struct timespec until;
    int r;

    pthread_mutex_lock(&t->sweep_lock);
    while (!t->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += AGENTD_APPROVAL_SWEEP_S;
        pthread_cond_timedwait(&t->sweep_cond, &t->sweep_lock, &until);
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->sweep_lock);
        if ((r = agentd_approvals_expire(ad)) < 0)
            log_error("approval.sweep", "error=%d reason=\"%s\"", r, strerror(-r));
        pthread_mutex_lock(&t->sweep_lock);
    }
    pthread_mutex_unlock(&t->sweep_lock);
    return NULL;
}

/* ---- routes ----------------------------------------------------------------------------- */

static json_t *not_ready(struct osm_request *req)
{
    return osm_error(req, 503, "not_enabled", NULL, "approval gate not enabled");
}

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
        agentd_peer_actor("agent", &req->peer, buf, len);
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
    char id[AGENTD_APPROVAL_ID_LEN + 1], expires[OSM_TS_LEN + 1],
        who[AGENTD_APPROVAL_ACTOR_MAX + 1];
    struct approval_change c = {.id = id, .expires_at = expires, .actor = who};
    int64_t ttl_s;
    int r;

    if (!ad->tools)
        return not_ready(req);
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    ttl_s = ttl ? json_integer_value(ttl) : AGENTD_APPROVAL_TTL_S;
    if ((err = request_check(req, command, reason, actor, ttl_s)))
        return err;
    if (request_actor(req, actor, who, sizeof(who)) < 0)
        return agentd_field_error(req, "actor", "must be 1-128 chars of [a-z0-9_.:-]");
    agentd_uuid(id);
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

    if (!ad->tools)
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

    if (!ad->tools)
        return not_ready(req);
    if ((r = agentd_approvals_expire(ad)) < 0)
        return agentd_read_error(req, r, "approvals");
    return approval_reply(req, req->param[0]);
}

/* The operator's decision: who may make it, and the body's mode / ttl_secs (decided_by in the
 * body is ignored: the decider is the socket peer). */
static json_t *decision_parse(struct osm_request *req, bool approve, struct approval_change *c)
{
    json_t *mode = NULL, *ttl = NULL, *ignored = NULL, *err;
    const struct agentd_field fields[] = {
        {"mode", AGENTD_FIELD_STRING, false, &mode},
        {"ttl_secs", AGENTD_FIELD_COUNT, false, &ttl},
        {"decided_by", AGENTD_FIELD_ANY, false, &ignored},
    };

    if (!req->operator||(req->peer.uid != 0 && req->peer.uid != geteuid()))
        return osm_error(req, 403, "forbidden", NULL,
                         "approval decisions are taken only by root or agentd's own uid on the "
                         "operator socket");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
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
    return NULL;
}

/* Releases or refuses the waiting job after the decision is durable. */
static void decision_job(struct agentd *ad, const struct approval_change *c, json_t *reply)
{
    int r;

    if (!c->job_id)
        return;
    r = strcmp(c->status, "approved") == 0 ? agentd_job_release(ad, c->job_id, c->id)
                                           : agentd_job_refuse(ad, c->job_id, AGENTD_JOB_DENIED);
    if (r < 0) {
        log_error("approval.job", "id=%s job=%s error=%d reason=\"%s\"", c->id, c->job_id, r,
                  strerror(-r));
        json_object_set_new(reply, "job_error", json_string(strerror(-r)));
    }
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

/* Records the decision (row lent: c points into it). */
static int decision_record(struct agentd *ad, const json_t *row, struct approval_change *c)
{
    bool approve = strcmp(c->status, "approved") == 0;
    json_t *payload;
    int r;

    c->tool = json_string_value(json_object_get(row, "tool"));
    c->job_id = json_string_value(json_object_get(row, "job_id"));
    c->args_hash = json_string_value(json_object_get(row, "args_hash"));
    osm_now_ts(c->now);
    if (c->ttl_secs > 0)
        ts_in(c->ttl_secs, c->grant_expires);
    payload = json_pack("{s:s, s:s?, s:s?, s:s, s:s?}", "id", c->id, "tool", c->tool, "job_id",
                        c->job_id, "decided_by", c->decided_by, "mode", c->mode);
    if (payload && c->ttl_secs > 0 && c->tool)
        json_object_set_new(payload, "grant_expires_at", json_string(c->grant_expires));
    r = payload ? agentd_record(ad, approve ? "approval.approved" : "approval.denied",
                                c->decided_by, payload, apply_decide, c, NULL)
                : -ENOMEM;
    json_decref(payload);
    return r;
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

    if (!ad->tools)
        return not_ready(req);
    if ((err = decision_parse(req, approve, &c)))
        return err;
    if ((r = agentd_approvals_expire(ad)) < 0)
        return agentd_read_error(req, r, "approvals");
    row = approval_reply(req, id);
    if (req->status != 200)
        return TAKE_PTR(row);
    if ((err = check_pending(req, id, row)))
        return err;
    agentd_peer_actor("uid", &req->peer, who, sizeof(who));
    c.decided_by = who;
    r = decision_record(ad, row, &c);
    if (r == -EALREADY)
        return osm_error(req, 409, "not_pending", NULL, "approval %s was decided meanwhile", id);
    if (r < 0)
        return agentd_record_error(req, r, approve ? "approval.approved" : "approval.denied");
    log_info(approve ? "approval.approved" : "approval.denied", "id=%s by=%s mode=%s", id, who,
             c.mode ? c.mode : "-");
    reply = approval_reply(req, id);
    if (req->status == 200)
        decision_job(ad, &c, reply);
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
