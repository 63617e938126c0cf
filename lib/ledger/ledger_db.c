/* SQLite plumbing of a ledger handle: error mapping, cached statements, small queries. */
#include <errno.h>

#include "ledger_internal.h"

#define INSERT_EVENT_SQL                                                                           \
    "INSERT INTO events (id, ts, type, actor, payload, prev_hash, hash) "                          \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"

static const char *const stmt_sql[_STMT_MAX] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT osm_entry",
    [STMT_RELEASE] = "RELEASE osm_entry",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO osm_entry",
    [STMT_INSERT_EVENT] = INSERT_EVENT_SQL,
    [STMT_LEAVES] = "SELECT id, hash FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id",
};

int ledger_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    default:
        return -EIO;
    }
}

int ledger_exec(struct osm_ledger *l, const char *sql)
{
    return ledger_errno(sqlite3_exec(l->db, sql, NULL, NULL, NULL));
}

int ledger_prepare(struct osm_ledger *l, const char *sql, sqlite3_stmt **ret)
{
    return ledger_errno(sqlite3_prepare_v2(l->db, sql, -1, ret, NULL));
}

int ledger_stmt(struct osm_ledger *l, enum ledger_stmt which, sqlite3_stmt **ret)
{
    if (!l->stmt[which]) {
        int rc = sqlite3_prepare_v3(l->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                    &l->stmt[which], NULL);
        if (rc != SQLITE_OK)
            return ledger_errno(rc);
    }
    *ret = l->stmt[which];
    return 0;
}

int ledger_step_done(struct osm_ledger *l, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    return rc == SQLITE_DONE ? 0 : ledger_errno(rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
}

int ledger_run(struct osm_ledger *l, enum ledger_stmt which)
{
    sqlite3_stmt *st;
    int r = ledger_stmt(l, which, &st);

    if (r < 0)
        return r;
    r = ledger_step_done(l, st);
    sqlite3_reset(st);
    return r;
}

int ledger_end(struct osm_ledger *l, int r)
{
    if (r >= 0) {
        int c = ledger_run(l, STMT_COMMIT);
        if (c >= 0)
            return r;
        r = c;
    }
    if (!sqlite3_get_autocommit(l->db))
        ledger_run(l, STMT_ROLLBACK);
    return r;
}

int ledger_query_int64(struct osm_ledger *l, const char *sql, int64_t dflt, int64_t *ret)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    int rc, r = ledger_prepare(l, sql, &st);

    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *ret = dflt;
    else
        return ledger_errno(rc);
    return 0;
}

int ledger_table_exists(struct osm_ledger *l, const char *name)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    int rc, r = ledger_prepare(l, "SELECT 1 FROM sqlite_master WHERE name = ?1", &st);

    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : ledger_errno(rc);
}

void ledger_finalize_all(struct osm_ledger *l)
{
    for (size_t i = 0; i < _STMT_MAX; i++) {
        sqlite3_finalize(l->stmt[i]);
        l->stmt[i] = NULL;
    }
}
