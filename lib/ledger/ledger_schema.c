/* The ledger.db schema: osModa v3 exactly, plus our checkpoint and prune tables (additive, so
 * osModa readers keep working), and osModa's migrations (v1 rehash, FTS backfill).
 *
 * One departure: osModa indexes every event into events_fts with an insert trigger, inside the
 * commit. Tokenizing costs several times the insert itself, so we drop that trigger and index
 * off the commit path (ledger_index.c); fts_state records how far the index reaches. Rows up to
 * that point were indexed by whoever wrote them, so only they are removed from the index when
 * events are pruned. */
#include <errno.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ledger_internal.h"

#define TS_DEFAULT "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts TEXT NOT NULL DEFAULT " TS_DEFAULT ","
    " type TEXT NOT NULL, actor TEXT NOT NULL, payload TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS incidents ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open',"
    " created_at TEXT NOT NULL DEFAULT " TS_DEFAULT ", resolved_at TEXT);"
    "CREATE TABLE IF NOT EXISTS incident_steps ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " incident_id TEXT NOT NULL REFERENCES incidents(id), step_number INTEGER NOT NULL,"
    " action TEXT NOT NULL, result TEXT, receipt_id TEXT,"
    " timestamp TEXT NOT NULL DEFAULT " TS_DEFAULT ");"
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5("
    " type, actor, payload, content=events, content_rowid=id,"
    " tokenize='porter unicode61');"
    "CREATE TABLE IF NOT EXISTS fts_state ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " tree_size INTEGER PRIMARY KEY, ts TEXT NOT NULL, root_hash TEXT NOT NULL,"
    " note TEXT NOT NULL, frontier BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ledger_prune ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), pruned_through INTEGER NOT NULL,"
    " last_hash TEXT NOT NULL, frontier BLOB NOT NULL);";

/* Recomputes one event's hashes with the v2 formula; returns its new hash in prev. */
static int rehash_row(struct osm_ledger *l, sqlite3_stmt *sel, sqlite3_stmt *upd,
                      char prev[static OSM_LEDGER_HASH_HEX_LEN + 1])
{
    uint8_t digest[OSM_SHA256_LEN];
    char hex[OSM_LEDGER_HASH_HEX_LEN + 1];
    int64_t id = sqlite3_column_int64(sel, 0);

    size_t ts_len, type_len, actor_len, payload_len;
    const char *ts = ledger_col(sel, 1, &ts_len), *type = ledger_col(sel, 2, &type_len);
    const char *actor = ledger_col(sel, 3, &actor_len), *payload = ledger_col(sel, 4, &payload_len);

    ledger_hash_raw(&l->sha, id, ts, ts_len, type, type_len, actor, actor_len, payload, payload_len,
                    prev, OSM_LEDGER_HASH_HEX_LEN, digest);
    osm_hex_encode(digest, sizeof(digest), hex);
    sqlite3_reset(sel);
    sqlite3_bind_text(upd, 1, prev, OSM_LEDGER_HASH_HEX_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(upd, 2, hex, OSM_LEDGER_HASH_HEX_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upd, 3, id);
    memcpy(prev, hex, sizeof(hex));
    return ledger_step_done(l, upd);
}

/* osModa v1 → v2: rewrite the whole chain with the delimited formula. The select is re-run per
 * row so that no cursor is open on events while it is updated. */
static int migrate_rehash(struct osm_ledger *l)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *sel = NULL, *upd = NULL;
    char prev[OSM_LEDGER_HASH_HEX_LEN + 1];
    int64_t last = 0;
    int r;

    r = ledger_prepare(l,
                       "SELECT id, ts, type, actor, payload FROM events WHERE id > ?1 "
                       "ORDER BY id LIMIT 1",
                       &sel);
    if (r >= 0)
        r = ledger_prepare(l, "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE id = ?3", &upd);
    if (r < 0)
        return r;
    memcpy(prev, osm_ledger_genesis, sizeof(prev));
    for (;;) {
        int rc;
        sqlite3_bind_int64(sel, 1, last);
        rc = sqlite3_step(sel);
        if (rc == SQLITE_DONE)
            return 0;
        if (rc != SQLITE_ROW)
            return ledger_errno(rc);
        last = sqlite3_column_int64(sel, 0);
        r = rehash_row(l, sel, upd, prev);
        sqlite3_reset(upd);
        if (r < 0)
            return r;
    }
}

/* Everything already in events is indexed (by osModa's trigger or by the backfill below), so
 * the index starts at the newest event; then the trigger goes. */
static const char index_sql[] =
    "INSERT OR IGNORE INTO fts_state (id, indexed_through)"
    " SELECT 1, coalesce(max(id), 0) FROM events;"
    "DROP TRIGGER IF EXISTS events_fts_insert;"
    "DROP TRIGGER IF EXISTS events_fts_delete;"
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events"
    " WHEN old.id <= (SELECT indexed_through FROM fts_state WHERE id = 1) BEGIN"
    " INSERT INTO events_fts (events_fts, rowid, type, actor, payload)"
    " VALUES ('delete', old.id, old.type, old.actor, old.payload); END;";

static int migrate(struct osm_ledger *l)
{
    int64_t version;
    int r = ledger_exec(l, schema_sql);

    if (r >= 0)
        r = ledger_query_int64(l, "SELECT version FROM schema_version WHERE id = 1", 0, &version);
    if (r < 0)
        return r;
    if (version > OSM_LEDGER_SCHEMA_VERSION)
        return -EPROTONOSUPPORT;
    if (version > 0 && version < 2)
        r = migrate_rehash(l);
    if (r >= 0 && version < 3)
        r = ledger_exec(l, "INSERT INTO events_fts (events_fts) VALUES ('rebuild')");
    if (r >= 0 && version != OSM_LEDGER_SCHEMA_VERSION)
        r = ledger_exec(l, "INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, 3)");
    if (r >= 0)
        r = ledger_exec(l, index_sql);
    return r;
}

int ledger_schema_migrate(struct osm_ledger *l)
{
    int r = ledger_run(l, STMT_BEGIN_IMMEDIATE);

    return r < 0 ? r : ledger_end(l, migrate(l));
}
