/* RFC 6962 Merkle trees: leaf and node hashing, the compact frontier of a growing tree, audit
 * (inclusion) and consistency proofs, and their verifiers. Pure computation: the proof builders
 * get subtree hashes from a caller-supplied function, so the same code serves the database, the
 * tests and agentctl. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/sha256.h"

#define OSM_MERKLE_HASH_LEN 32
#define OSM_MERKLE_MAX_NODES 64  /* frontier entries: one per set bit of a 64-bit size */
#define OSM_MERKLE_MAX_PROOF 128 /* hashes in any proof of a tree with < 2^64 leaves */

/* The roots of the perfect subtrees that make up a tree of `size` leaves, one per set bit of
 * size, leftmost (largest) first. Appending a leaf and computing the root are O(log size). */
struct osm_merkle_frontier {
    uint64_t size;
    uint8_t node[OSM_MERKLE_MAX_NODES][OSM_MERKLE_HASH_LEN];
};

/* Hash of a subtree [lo, hi) of leaves, as MTH(D[lo:hi]); 0 or -errno. */
typedef int (*osm_merkle_range_fn)(void *ud, uint64_t lo, uint64_t hi,
                                   uint8_t ret_hash[static OSM_MERKLE_HASH_LEN]);

/* SHA-256(0x00 || data): the leaf hash. */
void osm_merkle_leaf(struct osm_sha256 *h, const void *data, size_t len,
                     uint8_t ret[static OSM_MERKLE_HASH_LEN]);
/* SHA-256(0x01 || l || r): an interior node. ret may alias l or r. */
void osm_merkle_node(struct osm_sha256 *h, const uint8_t l[static OSM_MERKLE_HASH_LEN],
                     const uint8_t r[static OSM_MERKLE_HASH_LEN],
                     uint8_t ret[static OSM_MERKLE_HASH_LEN]);
/* The split point of RFC 6962: the largest power of two below n (n >= 2). */
uint64_t osm_merkle_split(uint64_t n);

/* Number of frontier entries for a tree of size leaves (popcount). */
unsigned osm_merkle_frontier_count(uint64_t size);
/* Empties f. */
void osm_merkle_frontier_init(struct osm_merkle_frontier *f);
/* Appends one leaf given by its leaf hash. */
void osm_merkle_frontier_push(struct osm_sha256 *h, struct osm_merkle_frontier *f,
                              const uint8_t leaf_hash[static OSM_MERKLE_HASH_LEN]);
/* The tree head MTH(D[0:size]); SHA-256("") for the empty tree. */
void osm_merkle_frontier_root(struct osm_sha256 *h, const struct osm_merkle_frontier *f,
                              uint8_t ret[static OSM_MERKLE_HASH_LEN]);
/* Loads the serialised form (the entries back to back, as f->node holds them). -EBADMSG unless
 * len is 32 * osm_merkle_frontier_count(size). */
int osm_merkle_frontier_load(struct osm_merkle_frontier *f, uint64_t size, const void *blob,
                             size_t len);
/* Bytes of the serialised form (it starts at f->node[0]). */
size_t osm_merkle_frontier_blob_len(const struct osm_merkle_frontier *f);
/* True and the hash when [lo, hi) is exactly one of f's subtrees. */
bool osm_merkle_frontier_lookup(const struct osm_merkle_frontier *f, uint64_t lo, uint64_t hi,
                                uint8_t ret[static OSM_MERKLE_HASH_LEN]);

/* RFC 6962 PATH(index, D[0:size]): *ret_path (new, free()) gets *ret_n hashes, leaf side first.
 * -EINVAL unless index < size. Errors of range are passed through. */
int osm_merkle_prove_inclusion(uint64_t index, uint64_t size, osm_merkle_range_fn range, void *ud,
                               uint8_t **ret_path, size_t *ret_n);
/* RFC 6962 PROOF(old_size, D[0:new_size]). -EINVAL unless 0 < old_size <= new_size. */
int osm_merkle_prove_consistency(uint64_t old_size, uint64_t new_size, osm_merkle_range_fn range,
                                 void *ud, uint8_t **ret_proof, size_t *ret_n);

/* RFC 9162 §2.1.3.2: true when path proves leaf_hash is leaf index of the tree with root. */
bool osm_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                 const uint8_t leaf_hash[static OSM_MERKLE_HASH_LEN],
                                 const uint8_t *path, size_t n,
                                 const uint8_t root[static OSM_MERKLE_HASH_LEN]);
/* RFC 9162 §2.1.4.2: true when proof shows the tree old_root (old_size) is a prefix of the tree
 * new_root (new_size). */
bool osm_merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t *proof,
                                   size_t n, const uint8_t old_root[static OSM_MERKLE_HASH_LEN],
                                   const uint8_t new_root[static OSM_MERKLE_HASH_LEN]);
