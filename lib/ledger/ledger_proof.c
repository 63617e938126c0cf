/* Inclusion and consistency proofs over the stored ledger. Subtree hashes come from the
 * frontiers we hold (prune record, the writer's live tree) or are recomputed from the leaves;
 * a subtree that lies before the prune point and is not in the prune frontier is gone
 * (-ENODATA). */
#include <errno.h>
#include <stdlib.h>

#include "ledger_internal.h"

struct proof_source {
    struct osm_ledger *l;
    struct ledger_prune_state prune;
    const struct osm_merkle_frontier *live; /* NULL on read-only or inconsistent handles */
};

/* MTH(D[lo:hi]), an osm_merkle_range_fn. */
static int source_range(void *ud, uint64_t lo, uint64_t hi, uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    struct proof_source *src = ud;
    struct osm_merkle_frontier f;
    uint8_t left[OSM_MERKLE_HASH_LEN];
    uint64_t k;
    int r;

    if (osm_merkle_frontier_lookup(&src->prune.frontier, lo, hi, ret) ||
        (src->live && osm_merkle_frontier_lookup(src->live, lo, hi, ret)))
        return 0;
    if (lo >= (uint64_t)src->prune.through) {
        osm_merkle_frontier_init(&f);
        r = ledger_leaves_push(src->l, (int64_t)lo, (int64_t)hi, &f);
        if (r >= 0)
            osm_merkle_frontier_root(&src->l->sha, &f, ret);
        return r;
    }
    if (hi - lo == 1)
        return -ENODATA;
    k = osm_merkle_split(hi - lo);
    r = source_range(ud, lo, lo + k, left);
    if (r >= 0)
        r = source_range(ud, lo + k, hi, ret);
    if (r >= 0)
        osm_merkle_node(&src->l->sha, left, ret, ret);
    return r;
}

static int source_root(struct proof_source *src, int64_t size,
                       uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    if (src->live && (int64_t)src->live->size == size) {
        osm_merkle_frontier_root(&src->l->sha, src->live, ret);
        return 0;
    }
    return source_range(src, 0, (uint64_t)size, ret);
}

/* Prepares src inside the caller's read transaction; resolves size 0 to the newest checkpoint. */
static int source_open(struct osm_ledger *l, int64_t *size, struct proof_source *src)
{
    int64_t last;
    int r;

    src->l = l;
    src->live = (l->flags & OSM_LEDGER_RDWR) && l->tree_err == 0 && !l->stale ? &l->tree : NULL;
    if (*size == 0) {
        r = osm_ledger_latest_checkpoint(l, size, NULL);
        if (r < 0)
            return r;
    }
    r = ledger_prune_load(l, &src->prune);
    if (r >= 0)
        r = ledger_query_int64(l, "SELECT max(id) FROM events", 0, &last);
    if (r < 0)
        return r;
    if (last < src->prune.through)
        last = src->prune.through;
    return *size > 0 && *size <= last ? 0 : -ERANGE;
}

static int inclusion(struct osm_ledger *l, int64_t id, int64_t size, uint8_t **ret_path,
                     size_t *ret_n, uint8_t ret_root[32])
{
    _cleanup_free_ struct proof_source *src = calloc(1, sizeof(*src));
    int r;

    if (!src)
        return -ENOMEM;
    r = source_open(l, &size, src);
    if (r >= 0 && (id < 1 || id > size))
        r = -EINVAL;
    if (r >= 0)
        r = source_root(src, size, ret_root);
    if (r >= 0)
        r = osm_merkle_prove_inclusion((uint64_t)id - 1, (uint64_t)size, source_range, src,
                                       ret_path, ret_n);
    return r;
}

int osm_ledger_prove_inclusion(struct osm_ledger *l, int64_t id, int64_t tree_size,
                               uint8_t **ret_path, size_t *ret_n, uint8_t ret_root[32])
{
    int r = ledger_run(l, STMT_BEGIN);

    return r < 0 ? r : ledger_end(l, inclusion(l, id, tree_size, ret_path, ret_n, ret_root));
}

static int consistency(struct osm_ledger *l, int64_t old_size, int64_t new_size,
                       uint8_t **ret_proof, size_t *ret_n, uint8_t ret_old_root[32],
                       uint8_t ret_new_root[32])
{
    _cleanup_free_ struct proof_source *src = calloc(1, sizeof(*src));
    int r;

    if (!src)
        return -ENOMEM;
    r = source_open(l, &new_size, src);
    if (r >= 0 && (old_size < 1 || old_size > new_size))
        r = -EINVAL;
    if (r >= 0)
        r = source_root(src, old_size, ret_old_root);
    if (r >= 0)
        r = source_root(src, new_size, ret_new_root);
    if (r >= 0)
        r = osm_merkle_prove_consistency((uint64_t)old_size, (uint64_t)new_size, source_range, src,
                                         ret_proof, ret_n);
    return r;
}

int osm_ledger_prove_consistency(struct osm_ledger *l, int64_t old_size, int64_t new_size,
                                 uint8_t **ret_proof, size_t *ret_n, uint8_t ret_old_root[32],
                                 uint8_t ret_new_root[32])
{
    int r = ledger_run(l, STMT_BEGIN);

    if (r < 0)
        return r;
    return ledger_end(
        l, consistency(l, old_size, new_size, ret_proof, ret_n, ret_old_root, ret_new_root));
}
