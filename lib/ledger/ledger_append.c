/* Appending events: one transaction per batch (group commit), the hash computed here rather
 * than by an insert-then-update, side effects committed with their record. */
#include <errno.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ledger_internal.h"

static int entry_validate(const struct osm_ledger_entry *e)
{
    if (!osm_ledger_name_valid(e->type) || !osm_ledger_name_valid(e->actor) ||
        !ledger_payload_valid(e->payload, e->payload_len))
        return -EINVAL;
    return 0;
}

static int insert_bind_step(struct osm_ledger *l, const struct osm_ledger_entry *e)
{
    _cleanup_(ledger_resetp) sqlite3_stmt *st = NULL;
    int r = ledger_stmt(l, STMT_INSERT_EVENT, &st);

    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, l->next_id);
    sqlite3_bind_text(st, 2, e->ts, OSM_TS_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->payload ? e->payload : "", (int)e->payload_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, l->last_hash, OSM_LEDGER_HASH_HEX_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, e->hash, OSM_LEDGER_HASH_HEX_LEN, SQLITE_STATIC);
    return ledger_step_done(l, st);
}

/* Inserts e as event next_id and advances the cached head and frontier. */
static int entry_insert(struct osm_ledger *l, struct osm_ledger_entry *e)
{
    uint8_t digest[OSM_SHA256_LEN], leaf[OSM_MERKLE_HASH_LEN];
    int r;

    osm_now_ts(e->ts);
    ledger_hash_raw(&l->sha, l->next_id, e->ts, OSM_TS_LEN, e->type, strlen(e->type), e->actor,
                    strlen(e->actor), e->payload ? e->payload : "", e->payload_len, l->last_hash,
                    OSM_LEDGER_HASH_HEX_LEN, digest);
    osm_hex_encode(digest, sizeof(digest), e->hash);
    r = insert_bind_step(l, e);
    if (r < 0)
        return r;
    osm_merkle_leaf(&l->sha, digest, sizeof(digest), leaf);
    osm_merkle_frontier_push(&l->sha, &l->tree, leaf);
    e->id = l->next_id++;
    memcpy(l->last_hash, e->hash, sizeof(l->last_hash));
    return 0;
}

/* One entry. A lone INSERT is atomic by itself; with apply, a savepoint makes the side effect
 * and the record one unit. */
static int entry_append(struct osm_ledger *l, struct osm_ledger_entry *e)
{
    int r = entry_validate(e);

    if (r < 0 || !e->apply)
        return r < 0 ? r : entry_insert(l, e);
    r = ledger_run(l, STMT_SAVEPOINT);
    if (r < 0)
        return r;
    r = e->apply(l->db, e->apply_ctx);
    if (r >= 0)
        r = entry_insert(l, e);
    if (r < 0)
        ledger_run(l, STMT_ROLLBACK_TO);
    ledger_run(l, STMT_RELEASE);
    return r < 0 ? r : 0;
}

static void batch_fail(struct osm_ledger_entry *entries, size_t n, int r)
{
    for (size_t i = 0; i < n; i++) {
        entries[i].result = r;
        entries[i].id = 0;
    }
}

int osm_ledger_append(struct osm_ledger *l, struct osm_ledger_entry *entries, size_t n)
{
    int r = 0;

    if (!(l->flags & OSM_LEDGER_RDWR))
        return -EROFS;
    if (n == 0)
        return 0;
    if (l->stale) {
        r = ledger_state_load(l);
        l->stale = r < 0;
    }
    if (r >= 0)
        r = ledger_run(l, STMT_BEGIN_IMMEDIATE);
    if (r < 0) {
        batch_fail(entries, n, r);
        return r;
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        entries[i].id = 0;
        entries[i].result = entry_append(l, &entries[i]);
        /* SQLite rolls the whole transaction back on some errors (I/O, full disk). */
        if (sqlite3_get_autocommit(l->db))
            r = -EIO;
    }
    r = ledger_end(l, r);
    if (r < 0) {
        batch_fail(entries, n, r);
        l->stale = ledger_state_load(l) < 0;
    }
    return r;
}
