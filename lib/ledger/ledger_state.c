/* The writer's cached state: next id, chain head and Merkle frontier, loaded at open and again
 * whenever a commit fails. */
#include <errno.h>
#include <string.h>

#include "ledger_internal.h"

static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a > b ? a : b;

    return m > c ? m : c;
}

int ledger_event_hash(struct osm_ledger *l, int64_t id,
                      char ret[static OSM_LEDGER_HASH_HEX_LEN + 1])
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    const char *hash;
    size_t len;
    int rc, r = ledger_prepare(l, "SELECT hash FROM events WHERE id = ?1", &st);

    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? -EBADMSG : ledger_errno(rc);
    hash = ledger_col(st, 0, &len);
    if (len != OSM_LEDGER_HASH_HEX_LEN)
        return -EBADMSG;
    memcpy(ret, hash, len);
    ret[len] = '\0';
    return 0;
}

/* The frontier from the newest checkpoint (or the prune record), extended with later leaves.
 * An inconsistent store leaves tree_err set rather than failing the open: appends go on, and
 * checkpoints and proofs refuse. */
static int tree_load(struct osm_ledger *l, const struct ledger_prune_state *prune, int64_t have)
{
    int64_t cp;
    int r = ledger_query_int64(l, "SELECT max(tree_size) FROM checkpoints", 0, &cp);

    if (r < 0)
        return r;
    l->checkpoint_size = cp;
    l->tree = prune->frontier;
    if (cp > have)
        r = -EBADMSG;
    else if (cp > 0 && cp >= prune->through)
        r = ledger_checkpoint_frontier(l, cp, &l->tree);
    if (r >= 0)
        r = ledger_leaves_push(l, (int64_t)l->tree.size, INT64_MAX, &l->tree);
    if (r >= 0 && (int64_t)l->tree.size != l->next_id - 1)
        r = -EBADMSG;
    l->tree_err = r == -EBADMSG ? r : 0;
    return r == -EBADMSG ? 0 : r;
}

int ledger_state_load(struct osm_ledger *l)
{
    struct ledger_prune_state prune;
    int64_t max_id, seq;
    int r = ledger_run(l, STMT_BEGIN);

    if (r < 0)
        return r;
    r = ledger_prune_load(l, &prune);
    if (r >= 0)
        r = ledger_query_int64(l, "SELECT max(id) FROM events", 0, &max_id);
    if (r >= 0)
        r = ledger_query_int64(l, "SELECT seq FROM sqlite_sequence WHERE name = 'events'", 0, &seq);
    if (r >= 0) {
        l->next_id = max3(max_id, seq, prune.through) + 1;
        memcpy(l->last_hash, prune.last_hash, sizeof(l->last_hash));
        if (max_id > prune.through)
            r = ledger_event_hash(l, max_id, l->last_hash);
    }
    if (r >= 0)
        r = tree_load(l, &prune, max_id > prune.through ? max_id : prune.through);
    return ledger_end(l, r);
}
