/* Incident workspaces (incidents and incident_steps in ledger.db). Every change is made by the
 * apply() callback of its ledger event, so the row and the event commit together or not at all.
 * Beyond osModa: POST /incident/{id}/resolve. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"

#define UUID_LEN 36

/* Serialises changes so a step number computed before recording is still the next one. */
static pthread_mutex_t incident_lock = PTHREAD_MUTEX_INITIALIZER;

struct incident_change {
    const char *id;
    const char *name;    /* create */
    int64_t step_number; /* step */
    const char *action;
    const char *result;
    const char *receipt_id;
};

static void uuid_v4(char ret[static UUID_LEN + 1])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(ret, UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* Runs sql with text parameters (NULL binds NULL); returns the number of changed rows or -EIO. */
static int exec_text(sqlite3 *db, const char *sql, const char *const params[], size_t n)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    for (size_t i = 0; i < n; i++)
        sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return -EIO;
    return sqlite3_changes(db);
}

/* The status of incident id, -ENOENT when there is none; *ret_steps gets its step count. */
static int incident_state(sqlite3 *db, const char *id, bool *ret_open, int64_t *ret_steps)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const char *status;
    int r;

    if (sqlite3_prepare_v2(db,
                           "SELECT status, (SELECT COUNT(*) FROM incident_steps WHERE "
                           "incident_id = ?1) FROM incidents WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    status = (const char *)sqlite3_column_text(st, 0);
    *ret_open = status && strcmp(status, "open") == 0;
    *ret_steps = sqlite3_column_int64(st, 1);
    return 0;
}

static int apply_create(sqlite3 *db, void *ctx)
{
    const struct incident_change *c = ctx;
    const char *const p[] = {c->id, c->name};

    return exec_text(db, "INSERT INTO incidents (id, name) VALUES (?1, ?2)", p, 2) < 0 ? -EIO : 0;
}

static int apply_step(sqlite3 *db, void *ctx)
{
    const struct incident_change *c = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    bool open;
    int64_t steps;
    int r = incident_state(db, c->id, &open, &steps);

    if (r < 0)
        return r;
    if (steps + 1 != c->step_number)
        return -EBUSY;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO incident_steps (incident_id, step_number, action, result, "
                           "receipt_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->step_number);
    sqlite3_bind_text(st, 3, c->action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->result, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->receipt_id, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

static int apply_resolve(sqlite3 *db, void *ctx)
{
    const struct incident_change *c = ctx;
    const char *const p[] = {c->id};
    int r = exec_text(db,
                      "UPDATE incidents SET status = 'resolved', resolved_at = "
                      "strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1 AND status = 'open'",
                      p, 1);

    return r < 0 ? r : r == 0 ? -EALREADY : 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

static json_t *steps_new(sqlite3 *db, const char *id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    json_auto_t *steps = json_array();

    if (sqlite3_prepare_v2(db,
                           "SELECT step_number, action, result, receipt_id, timestamp FROM "
                           "incident_steps WHERE incident_id = ?1 ORDER BY step_number ASC",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *s =
            json_pack("{s:I, s:o, s:o}", "step_number", (json_int_t)sqlite3_column_int64(st, 0),
                      "action", agentd_column_json(st, 1), "result", agentd_column_json(st, 2));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            json_object_set_new(s, "receipt_id", agentd_column_json(st, 3));
        json_object_set_new(s, "timestamp", agentd_column_json(st, 4));
        if (json_array_append_new(steps, s) < 0)
            return NULL;
    }
    return json_incref(steps);
}

/* A row (id, name, status, created_at, resolved_at) as osModa's IncidentWorkspace. */
static json_t *workspace_new(sqlite3 *db, sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    json_t *steps = steps_new(db, id);
    json_t *w;

    if (!steps)
        return NULL;
    w = json_pack("{s:s, s:o, s:o, s:o, s:o}", "id", id, "name", agentd_column_json(st, 1),
                  "status", agentd_column_json(st, 2), "steps", steps, "created_at",
                  agentd_column_json(st, 3));
    if (w && sqlite3_column_type(st, 4) != SQLITE_NULL)
        json_object_set_new(w, "resolved_at", agentd_column_json(st, 4));
    return w;
}

/* Appends the workspaces matching (id, status) to out; NULL filters are not applied. */
static int workspaces_query(sqlite3 *db, const char *id, const char *status, json_t *out)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db,
                           "SELECT id, name, status, created_at, resolved_at FROM incidents "
                           "WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR status = ?2) "
                           "ORDER BY created_at DESC, rowid DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(out, workspace_new(db, st)) < 0)
            return -EIO;
    return r == SQLITE_DONE ? 0 : -EIO;
}

/* The workspace of id (new reference) or an error envelope. */
static json_t *workspace_reply(struct osm_request *req, const char *id)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    json_auto_t *list = json_array();
    int r;

    r = agentd_reader_open(AGENTD(req), &rd);
    if (r >= 0)
        r = workspaces_query(agentd_reader_db(&rd), id, NULL, list);
    if (r < 0)
        return agentd_read_error(req, r, "incident");
    if (json_array_size(list) == 0)
        return osm_error(req, 404, "not_found", NULL, "incident not found: %s", id);
    return json_incref(json_array_get(list, 0));
}

/* The open/closed state and step count of id through a reader, or an error envelope. */
static json_t *incident_lookup(struct osm_request *req, const char *id, bool *ret_open,
                               int64_t *ret_steps)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    int r = agentd_reader_open(AGENTD(req), &rd);

    if (r >= 0)
        r = incident_state(agentd_reader_db(&rd), id, ret_open, ret_steps);
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "incident not found: %s", id);
    if (r < 0)
        return agentd_read_error(req, r, "incident");
    return NULL;
}

/* Records type with apply under the incident lock and answers with the workspace. */
static json_t *change_and_reply(struct osm_request *req, const char *type, json_t *payload,
                                int (*apply)(sqlite3 *, void *), struct incident_change *c)
{
    int r = payload ? agentd_record(AGENTD(req), type, "agentd", payload, apply, c, NULL) : -ENOMEM;

    pthread_mutex_unlock(&incident_lock);
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "incident not found: %s", c->id);
    if (r == -EALREADY)
        return osm_error(req, 409, "conflict", NULL, "incident %s is already resolved", c->id);
    if (r < 0)
        return agentd_record_error(req, r, type);
    return workspace_reply(req, c->id);
}

json_t *agentd_incident_create(struct osm_request *req)
{
    json_t *name, *err;
    const struct agentd_field fields[] = {{"name", AGENTD_FIELD_STRING, true, &name}};
    char id[UUID_LEN + 1];
    struct incident_change c = {.id = id};
    json_auto_t *payload = NULL;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    uuid_v4(id);
    c.name = json_string_value(name);
    payload = json_pack("{s:s, s:O}", "incident_id", id, "name", name);
    pthread_mutex_lock(&incident_lock);
    return change_and_reply(req, "incident.create", payload, apply_create, &c);
}

json_t *agentd_incident_step(struct osm_request *req)
{
    json_t *action, *result, *receipt_id, *err;
    const struct agentd_field fields[] = {
        {"action", AGENTD_FIELD_STRING, true, &action},
        {"result", AGENTD_FIELD_STRING, true, &result},
        {"receipt_id", AGENTD_FIELD_STRING, false, &receipt_id},
    };
    struct incident_change c = {.id = req->param[0]};
    json_auto_t *payload = NULL;
    bool open;
    int64_t steps;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    c.action = json_string_value(action);
    c.result = json_string_value(result);
    c.receipt_id = json_string_value(receipt_id);
    pthread_mutex_lock(&incident_lock);
    err = incident_lookup(req, c.id, &open, &steps);
    if (err) {
        pthread_mutex_unlock(&incident_lock);
        return err;
    }
    c.step_number = steps + 1;
    payload = json_pack("{s:O, s:s, s:O, s:I}", "action", action, "incident_id", c.id, "result",
                        result, "step_number", (json_int_t)c.step_number);
    return change_and_reply(req, "incident.step", payload, apply_step, &c);
}

json_t *agentd_incident_resolve(struct osm_request *req)
{
    json_t *resolution, *err;
    const struct agentd_field fields[] = {
        {"resolution", AGENTD_FIELD_STRING, false, &resolution},
    };
    struct incident_change c = {.id = req->param[0]};
    json_auto_t *payload = NULL;
    bool open;
    int64_t steps;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    pthread_mutex_lock(&incident_lock);
    err = incident_lookup(req, c.id, &open, &steps);
    if (!err && !open)
        err = osm_error(req, 409, "conflict", NULL, "incident %s is already resolved", c.id);
    if (err) {
        pthread_mutex_unlock(&incident_lock);
        return err;
    }
    payload =
        json_pack("{s:s, s:o}", "incident_id", c.id, "resolution", agentd_or_null(resolution));
    return change_and_reply(req, "incident.resolve", payload, apply_resolve, &c);
}

json_t *agentd_incident_get(struct osm_request *req)
{
    return workspace_reply(req, req->param[0]);
}

json_t *agentd_incidents_list(struct osm_request *req)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    json_auto_t *list = json_array();
    int r;

    r = agentd_reader_open(AGENTD(req), &rd);
    if (r >= 0)
        r = workspaces_query(agentd_reader_db(&rd), NULL, osm_request_query(req, "status"), list);
    if (r < 0)
        return agentd_read_error(req, r, "incidents");
    return json_incref(list);
}
