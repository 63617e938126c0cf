/* RFC 6962 hashing and the compact frontier of an append-only Merkle tree. */
#include <errno.h>
#include <string.h>

#include "merkle.h"

void osm_merkle_leaf(struct osm_sha256 *h, const void *data, size_t len,
                     uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    static const uint8_t prefix = 0x00;

    osm_sha256_update(h, &prefix, 1);
    osm_sha256_update(h, data, len);
    osm_sha256_final(h, ret);
}

void osm_merkle_node(struct osm_sha256 *h, const uint8_t l[static OSM_MERKLE_HASH_LEN],
                     const uint8_t r[static OSM_MERKLE_HASH_LEN],
                     uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    static const uint8_t prefix = 0x01;

    osm_sha256_update(h, &prefix, 1);
    osm_sha256_update(h, l, OSM_MERKLE_HASH_LEN);
    osm_sha256_update(h, r, OSM_MERKLE_HASH_LEN);
    osm_sha256_final(h, ret);
}

uint64_t osm_merkle_split(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

unsigned osm_merkle_frontier_count(uint64_t size)
{
    return (unsigned)__builtin_popcountll(size);
}

void osm_merkle_frontier_init(struct osm_merkle_frontier *f)
{
    f->size = 0;
}

void osm_merkle_frontier_push(struct osm_sha256 *h, struct osm_merkle_frontier *f,
                              const uint8_t leaf_hash[static OSM_MERKLE_HASH_LEN])
{
    unsigned n = osm_merkle_frontier_count(f->size);
    uint8_t acc[OSM_MERKLE_HASH_LEN];

    /* Like a binary counter: each trailing 1 bit of size is a subtree the new leaf completes. */
    memcpy(acc, leaf_hash, sizeof(acc));
    for (uint64_t s = f->size; s & 1; s >>= 1)
        osm_merkle_node(h, f->node[--n], acc, acc);
    memcpy(f->node[n], acc, sizeof(acc));
    f->size++;
}

void osm_merkle_frontier_root(struct osm_sha256 *h, const struct osm_merkle_frontier *f,
                              uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    unsigned n = osm_merkle_frontier_count(f->size);

    if (n == 0) {
        osm_sha256_final(h, ret);
        return;
    }
    memcpy(ret, f->node[n - 1], OSM_MERKLE_HASH_LEN);
    for (unsigned i = n - 1; i > 0; i--)
        osm_merkle_node(h, f->node[i - 1], ret, ret);
}

int osm_merkle_frontier_load(struct osm_merkle_frontier *f, uint64_t size, const void *blob,
                             size_t len)
{
    if (len != (size_t)osm_merkle_frontier_count(size) * OSM_MERKLE_HASH_LEN)
        return -EBADMSG;
    if (len > 0)
        memcpy(f->node, blob, len);
    f->size = size;
    return 0;
}

size_t osm_merkle_frontier_blob_len(const struct osm_merkle_frontier *f)
{
    return (size_t)osm_merkle_frontier_count(f->size) * OSM_MERKLE_HASH_LEN;
}

bool osm_merkle_frontier_lookup(const struct osm_merkle_frontier *f, uint64_t lo, uint64_t hi,
                                uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    uint64_t start = 0;
    unsigned i = 0;

    for (int bit = 63; bit >= 0; bit--) {
        uint64_t width = (uint64_t)1 << bit;
        if (!(f->size & width))
            continue;
        if (start == lo && start + width == hi) {
            memcpy(ret, f->node[i], OSM_MERKLE_HASH_LEN);
            return true;
        }
        start += width;
        i++;
    }
    return false;
}
