/* Reading the Merkle tree's stored parts: leaves from events, frontiers from the checkpoint
 * and prune records. */
#include <errno.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ledger_internal.h"

int ledger_prune_load(struct osm_ledger *l, struct ledger_prune_state *ret)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    const char *hash;
    size_t len;
    int rc, r;

    ret->through = 0;
    memcpy(ret->last_hash, osm_ledger_genesis, sizeof(ret->last_hash));
    osm_merkle_frontier_init(&ret->frontier);
    if (!l->has_tree_tables)
        return 0;
    r = ledger_prepare(l,
                       "SELECT pruned_through, last_hash, frontier FROM ledger_prune "
                       "WHERE id = 1",
                       &st);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return ledger_errno(rc);
    ret->through = sqlite3_column_int64(st, 0);
    hash = ledger_col(st, 1, &len);
    if (ret->through <= 0 || len != OSM_LEDGER_HASH_HEX_LEN)
        return -EBADMSG;
    memcpy(ret->last_hash, hash, len);
    return osm_merkle_frontier_load(&ret->frontier, (uint64_t)ret->through,
                                    sqlite3_column_blob(st, 2),
                                    (size_t)sqlite3_column_bytes(st, 2));
}

int ledger_leaf_from_hex(struct osm_sha256 *h, const char *hex, size_t len,
                         uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    uint8_t raw[OSM_SHA256_LEN];

    if (osm_hex_decode(hex, len, raw, sizeof(raw)) < 0)
        return -EBADMSG;
    osm_merkle_leaf(h, raw, sizeof(raw), ret);
    return 0;
}

int ledger_leaves_push(struct osm_ledger *l, int64_t lo, int64_t hi, struct osm_merkle_frontier *f)
{
    _cleanup_(ledger_resetp) sqlite3_stmt *st = NULL;
    int64_t next = lo + 1;
    int rc, r = ledger_stmt(l, STMT_LEAVES, &st);

    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t leaf[OSM_MERKLE_HASH_LEN];
        size_t len;
        const char *hex = ledger_col(st, 1, &len);
        if (sqlite3_column_int64(st, 0) != next++ ||
            ledger_leaf_from_hex(&l->sha, hex, len, leaf) < 0)
            return -EBADMSG;
        osm_merkle_frontier_push(&l->sha, f, leaf);
    }
    if (rc != SQLITE_DONE)
        return ledger_errno(rc);
    return hi != INT64_MAX && next != hi + 1 ? -ENODATA : 0;
}

int ledger_checkpoint_frontier(struct osm_ledger *l, int64_t size, struct osm_merkle_frontier *f)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    uint8_t root[OSM_MERKLE_HASH_LEN];
    char hex[2 * OSM_MERKLE_HASH_LEN + 1];
    size_t len;
    const char *stored;
    int rc, r = ledger_prepare(l,
                               "SELECT frontier, root_hash FROM checkpoints "
                               "WHERE tree_size = ?1",
                               &st);

    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return ledger_errno(rc);
    r = osm_merkle_frontier_load(f, (uint64_t)size, sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0));
    if (r < 0)
        return r;
    osm_merkle_frontier_root(&l->sha, f, root);
    osm_hex_encode(root, sizeof(root), hex);
    stored = ledger_col(st, 1, &len);
    return len == 2 * OSM_MERKLE_HASH_LEN && memcmp(stored, hex, len) == 0 ? 0 : -EBADMSG;
}
