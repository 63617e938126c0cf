/* Pruning: events up to a signed checkpoint are deleted; their chain head and Merkle frontier
 * stay in ledger_prune so that the rest still verifies and proofs still work. */
#include <errno.h>

#include "ledger_internal.h"

static int prune_write(struct osm_ledger *l, int64_t through, const char *last_hash,
                       const struct osm_merkle_frontier *f)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *ins = NULL, *del = NULL;
    int r = ledger_prepare(l,
                           "INSERT OR REPLACE INTO ledger_prune "
                           "(id, pruned_through, last_hash, frontier) VALUES (1, ?1, ?2, ?3)",
                           &ins);

    if (r >= 0)
        r = ledger_prepare(l, "DELETE FROM events WHERE id <= ?1", &del);
    if (r < 0)
        return r;
    sqlite3_bind_int64(ins, 1, through);
    sqlite3_bind_text(ins, 2, last_hash, OSM_LEDGER_HASH_HEX_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, f->node, (int)osm_merkle_frontier_blob_len(f), SQLITE_STATIC);
    sqlite3_bind_int64(del, 1, through);
    r = ledger_step_done(l, ins);
    return r < 0 ? r : ledger_step_done(l, del);
}

static int prune(struct osm_ledger *l, int64_t through)
{
    struct ledger_prune_state cur;
    struct osm_merkle_frontier f;
    char last_hash[OSM_LEDGER_HASH_HEX_LEN + 1];
    int64_t max_id;
    int r = ledger_prune_load(l, &cur);

    if (r >= 0)
        r = ledger_query_int64(l, "SELECT max(id) FROM events", 0, &max_id);
    if (r < 0)
        return r;
    if (through == cur.through)
        return 0;
    if (through < cur.through || through > max_id)
        return -ERANGE;
    r = ledger_checkpoint_frontier(l, through, &f);
    if (r >= 0)
        r = ledger_event_hash(l, through, last_hash);
    return r < 0 ? r : prune_write(l, through, last_hash, &f);
}

int osm_ledger_prune(struct osm_ledger *l, int64_t through_id)
{
    int r;

    if (!(l->flags & OSM_LEDGER_RDWR))
        return -EROFS;
    if (through_id < 1)
        return -EINVAL;
    r = ledger_run(l, STMT_BEGIN_IMMEDIATE);
    return r < 0 ? r : ledger_end(l, prune(l, through_id));
}
