/* RFC 6962 inclusion and consistency proofs, and the RFC 9162 verification algorithms. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "merkle.h"

struct proof_builder {
    osm_merkle_range_fn range;
    void *ud;
    uint8_t hashes[OSM_MERKLE_MAX_PROOF][OSM_MERKLE_HASH_LEN];
    size_t n;
};

static int proof_add(struct proof_builder *b, uint64_t lo, uint64_t hi)
{
    if (b->n == OSM_MERKLE_MAX_PROOF)
        return -E2BIG;
    return b->range(b->ud, lo, hi, b->hashes[b->n++]);
}

/* PATH(m, D[lo:hi]) with m absolute. */
static int path_build(struct proof_builder *b, uint64_t m, uint64_t lo, uint64_t hi)
{
    uint64_t k;
    int r;

    if (hi - lo <= 1)
        return 0;
    k = osm_merkle_split(hi - lo);
    if (m < lo + k) {
        r = path_build(b, m, lo, lo + k);
        return r < 0 ? r : proof_add(b, lo + k, hi);
    }
    r = path_build(b, m, lo + k, hi);
    return r < 0 ? r : proof_add(b, lo, lo + k);
}

/* SUBPROOF(m, D[lo:hi], complete) with m relative to lo. */
static int subproof_build(struct proof_builder *b, uint64_t m, uint64_t lo, uint64_t hi,
                          bool complete)
{
    uint64_t k;
    int r;

    if (m == hi - lo)
        return complete ? 0 : proof_add(b, lo, hi);
    k = osm_merkle_split(hi - lo);
    if (m <= k) {
        r = subproof_build(b, m, lo, lo + k, complete);
        return r < 0 ? r : proof_add(b, lo + k, hi);
    }
    r = subproof_build(b, m - k, lo + k, hi, false);
    return r < 0 ? r : proof_add(b, lo, lo + k);
}

static int proof_take(struct proof_builder *b, uint8_t **ret, size_t *ret_n)
{
    uint8_t *out = malloc(b->n ? b->n * OSM_MERKLE_HASH_LEN : 1);

    if (!out)
        return -ENOMEM;
    memcpy(out, b->hashes, b->n * OSM_MERKLE_HASH_LEN);
    *ret = out;
    *ret_n = b->n;
    return 0;
}

int osm_merkle_prove_inclusion(uint64_t index, uint64_t size, osm_merkle_range_fn range, void *ud,
                               uint8_t **ret_path, size_t *ret_n)
{
    _cleanup_free_ struct proof_builder *b = NULL;
    int r;

    if (index >= size)
        return -EINVAL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    *b = (struct proof_builder){.range = range, .ud = ud};
    r = path_build(b, index, 0, size);
    return r < 0 ? r : proof_take(b, ret_path, ret_n);
}

int osm_merkle_prove_consistency(uint64_t old_size, uint64_t new_size, osm_merkle_range_fn range,
                                 void *ud, uint8_t **ret_proof, size_t *ret_n)
{
    _cleanup_free_ struct proof_builder *b = NULL;
    int r;

    if (old_size == 0 || old_size > new_size)
        return -EINVAL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    *b = (struct proof_builder){.range = range, .ud = ud};
    r = subproof_build(b, old_size, 0, new_size, true);
    return r < 0 ? r : proof_take(b, ret_proof, ret_n);
}

/* Right-shifts fn and sn together until fn's low bit is set or fn is 0. */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn)
{
    while (!(*fn & 1) && *fn != 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

bool osm_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                 const uint8_t leaf_hash[static OSM_MERKLE_HASH_LEN],
                                 const uint8_t *path, size_t n,
                                 const uint8_t root[static OSM_MERKLE_HASH_LEN])
{
    _cleanup_(osm_sha256_done) struct osm_sha256 h = {0};
    uint8_t r[OSM_MERKLE_HASH_LEN];
    uint64_t fn = index, sn = size - 1;

    if (index >= size || osm_sha256_init(&h) < 0)
        return false;
    memcpy(r, leaf_hash, sizeof(r));
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = path + i * OSM_MERKLE_HASH_LEN;
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            osm_merkle_node(&h, p, r, r);
            shift_to_set_bit(&fn, &sn);
        } else {
            osm_merkle_node(&h, r, p, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, sizeof(r)) == 0;
}

bool osm_merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t *proof,
                                   size_t n, const uint8_t old_root[static OSM_MERKLE_HASH_LEN],
                                   const uint8_t new_root[static OSM_MERKLE_HASH_LEN])
{
    _cleanup_(osm_sha256_done) struct osm_sha256 h = {0};
    uint8_t fr[OSM_MERKLE_HASH_LEN], sr[OSM_MERKLE_HASH_LEN];
    uint64_t fn = old_size - 1, sn = new_size - 1;
    size_t i = 0;

    if (old_size == 0 || old_size > new_size)
        return false;
    if (old_size == new_size)
        return n == 0 && memcmp(old_root, new_root, OSM_MERKLE_HASH_LEN) == 0;
    if (osm_sha256_init(&h) < 0)
        return false;
    /* A power-of-two old tree is itself a node of the new one: its root starts the walk. */
    if ((old_size & (old_size - 1)) == 0) {
        memcpy(fr, old_root, sizeof(fr));
    } else {
        if (n == 0)
            return false;
        memcpy(fr, proof, sizeof(fr));
        i = 1;
    }
    memcpy(sr, fr, sizeof(sr));
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < n; i++) {
        const uint8_t *c = proof + i * OSM_MERKLE_HASH_LEN;
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            osm_merkle_node(&h, c, fr, fr);
            osm_merkle_node(&h, c, sr, sr);
            shift_to_set_bit(&fn, &sn);
        } else {
            osm_merkle_node(&h, sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, old_root, sizeof(fr)) == 0 &&
           memcmp(sr, new_root, sizeof(sr)) == 0;
}
