/* Full-text indexing of events (events_fts, osModa's FTS5 table) off the commit path. The writer
 * calls osm_ledger_index when it is idle and before a search, so the index never slows an
 * append and a search still sees every acknowledged event. The index can be rebuilt from the
 * events, so its transactions skip the fsync (synchronous=NORMAL in WAL mode): after a crash
 * fts_state and events_fts roll back together and the lost rows are indexed again. */
#include <errno.h>

#include "ledger_internal.h"

static int load_watermark(struct osm_ledger *l)
{
    if (l->indexed_through >= 0)
        return 0;
    return ledger_query_int64(l, "SELECT indexed_through FROM fts_state WHERE id = 1", 0,
                              &l->indexed_through);
}

/* Indexes up to max_rows events after the watermark; returns how many. Inside a transaction. */
static int index_rows(struct osm_ledger *l, int64_t from, int64_t max_rows)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *ins = NULL, *upd = NULL;
    int r;

    r = ledger_prepare(l,
                       "INSERT INTO events_fts (rowid, type, actor, payload)"
                       " SELECT id, type, actor, payload FROM events WHERE id > ?1"
                       " ORDER BY id LIMIT ?2",
                       &ins);
    if (r >= 0)
        r = ledger_prepare(l,
                           "UPDATE fts_state SET indexed_through ="
                           " (SELECT coalesce(max(id), ?1) FROM"
                           "  (SELECT id FROM events WHERE id > ?1 ORDER BY id LIMIT ?2))"
                           " WHERE id = 1",
                           &upd);
    if (r < 0)
        return r;
    sqlite3_bind_int64(ins, 1, from);
    sqlite3_bind_int64(ins, 2, max_rows);
    sqlite3_bind_int64(upd, 1, from);
    sqlite3_bind_int64(upd, 2, max_rows);
    r = ledger_step_done(l, ins);
    if (r >= 0)
        r = sqlite3_changes(l->db);
    if (r >= 0) {
        int n = r;
        r = ledger_step_done(l, upd);
        return r < 0 ? r : n;
    }
    return r;
}

static int set_sync(struct osm_ledger *l, bool full)
{
    if (l->flags & OSM_LEDGER_NO_FSYNC)
        return 0;
    return ledger_exec(l, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

int64_t osm_ledger_index_lag(struct osm_ledger *l)
{
    if (!(l->flags & OSM_LEDGER_RDWR) || load_watermark(l) < 0)
        return 0;
    return l->next_id - 1 - l->indexed_through;
}

int osm_ledger_index(struct osm_ledger *l, int64_t max_rows)
{
    int64_t from;
    int r, n;

    if (!(l->flags & OSM_LEDGER_RDWR))
        return -EROFS;
    if (osm_ledger_index_lag(l) <= 0)
        return 0;
    r = set_sync(l, false);
    if (r >= 0)
        r = ledger_run(l, STMT_BEGIN_IMMEDIATE);
    if (r < 0)
        return r;
    r = ledger_query_int64(l, "SELECT indexed_through FROM fts_state WHERE id = 1", 0, &from);
    n = r < 0 ? r : index_rows(l, from, max_rows);
    r = ledger_end(l, n);
    l->indexed_through = -1; /* re-read: right after a failure too */
    set_sync(l, true);
    return r < 0 ? r : n;
}
