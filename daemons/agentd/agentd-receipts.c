/* GET /receipts: ledger events as osModa's receipts. Unlike osModa, `since` (ts >= since, the
 * same string comparison) is applied in SQL before the LIMIT, so a page is never short. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"

/* One row (id, ts, type, actor, payload) as osModa's Receipt, fields in declaration order. */
static json_t *receipt_new(sqlite3_stmt *st)
{
    static const char *const summary_keys[] = {"summary", "content"};
    int64_t id = sqlite3_column_int64(st, 0);
    const char *type = (const char *)sqlite3_column_text(st, 2);
    json_t *detail = agentd_payload_parse((const char *)sqlite3_column_text(st, 4));
    const char *summary = agentd_payload_text(detail, summary_keys, ELEMENTSOF(summary_keys));
    char rid[32];
    json_t *r;

    snprintf(rid, sizeof(rid), "receipt-%lld", (long long)id);
    r = json_pack("{s:s, s:I, s:s, s:o, s:s, s:o, s:o, s:b}", "id", rid, "event_id", (json_int_t)id,
                  "receipt_type", type, "actor", agentd_column_json(st, 3), "summary",
                  summary ? summary : type, "detail", detail, "timestamp",
                  agentd_column_json(st, 1), "reversible",
                  strstr(type, "switch") || strstr(type, "send"));
    if (r && strstr(type, "switch.commit"))
        json_object_set_new(r, "undo_action", json_string("switch.rollback"));
    return r;
}

static int receipts_query(sqlite3 *db, const char *type, const char *since, int64_t limit,
                          json_t *out)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r;

    r = sqlite3_prepare_v2(db,
                           "SELECT id, ts, type, actor, payload FROM events "
                           "WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR ts >= ?2) "
                           "ORDER BY id DESC LIMIT ?3",
                           -1, &st, NULL);
    if (r != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(out, receipt_new(st)) < 0)
            return -ENOMEM;
    return r == SQLITE_DONE ? 0 : -EIO;
}

json_t *agentd_receipts(struct osm_request *req)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    json_auto_t *out = json_array();
    int64_t limit;
    json_t *err;
    int r;

    err = osm_request_query_int(req, "limit", OSM_RECEIPTS_DEFAULT, 0, INT64_MAX, &limit);
    if (err)
        return err;
    if (limit > OSM_RECEIPTS_MAX)
        limit = OSM_RECEIPTS_MAX; /* osModa caps silently */
    r = agentd_reader_open(AGENTD(req), &rd);
    if (r >= 0)
        r = receipts_query(agentd_reader_db(&rd), osm_request_query(req, "type"),
                           osm_request_query(req, "since"), limit, out);
    if (r < 0)
        return agentd_read_error(req, r, "receipts");
    return json_incref(out);
}
