/* RFC 6962 Merkle trees: the Certificate Transparency reference vectors, then properties over
 * every tree size 1..64 (every inclusion and consistency proof verifies; any change fails). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ledger/merkle.h"

#define MAX_LEAVES 64

/* The CT test leaves and the roots of their prefixes of size 0..8. */
static const char *const ct_leaves[] = {"",
                                        "00",
                                        "10",
                                        "2021",
                                        "3031",
                                        "40414243",
                                        "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f"};
static const char *const ct_roots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct vector {
    uint64_t a, b; /* inclusion: index, size; consistency: old, new */
    size_t n;
    const char *hashes[3];
};

static const struct vector inclusion_vectors[] = {
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const struct vector consistency_vectors[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct tree {
    struct osm_sha256 h;
    uint8_t leaf[MAX_LEAVES][OSM_MERKLE_HASH_LEN];
    size_t n;
    int range_calls;
};

static struct tree T;

static void setup(void)
{
    memset(&T, 0, sizeof(T));
    cr_assert_eq(osm_sha256_init(&T.h), 0);
}

static void teardown(void)
{
    osm_sha256_done(&T.h);
}

static void unhex(const char *s, uint8_t *out)
{
    cr_assert_eq(osm_hex_decode(s, strlen(s), out, strlen(s) / 2), 0, "%s", s);
}

static void ct_tree(void)
{
    for (size_t i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t len = strlen(ct_leaves[i]) / 2;
        unhex(ct_leaves[i], data);
        osm_merkle_leaf(&T.h, data, len, T.leaf[i]);
    }
    T.n = 8;
}

/* A tree of n pseudo-random leaves. */
static void random_tree(size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        uint8_t data[8];
        for (size_t j = 0; j < sizeof(data); j++)
            data[j] = (uint8_t)rand();
        osm_merkle_leaf(&T.h, data, sizeof(data), T.leaf[i]);
    }
    T.n = n;
}

/* MTH(D[lo:hi]) straight from RFC 6962's recursive definition (independent of the frontier). */
static void mth(uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint8_t l[32], r[32];
    uint64_t k = 1;

    if (hi - lo == 1) {
        memcpy(out, T.leaf[lo], 32);
        return;
    }
    while (k * 2 < hi - lo)
        k *= 2;
    mth(lo, lo + k, l);
    mth(lo + k, hi, r);
    osm_merkle_node(&T.h, l, r, out);
}

static int range(void *ud, uint64_t lo, uint64_t hi, uint8_t ret[static 32])
{
    (void)ud;
    T.range_calls++;
    cr_assert(lo < hi && hi <= T.n);
    mth(lo, hi, ret);
    return 0;
}

static void root_of(size_t n, uint8_t out[32])
{
    struct osm_merkle_frontier f;

    osm_merkle_frontier_init(&f);
    for (size_t i = 0; i < n; i++)
        osm_merkle_frontier_push(&T.h, &f, T.leaf[i]);
    osm_merkle_frontier_root(&T.h, &f, out);
}

TestSuite(merkle, .init = setup, .fini = teardown);

Test(merkle, ct_reference_roots)
{
    uint8_t root[32], want[32];

    ct_tree();
    for (size_t n = 0; n <= 8; n++) {
        root_of(n, root);
        unhex(ct_roots[n], want);
        cr_assert_arr_eq(root, want, 32, "size %zu", n);
        if (n > 0) {
            mth(0, n, root);
            cr_assert_arr_eq(root, want, 32, "recursive size %zu", n);
        }
    }
}

static void check_vector_hashes(const struct vector *v, const uint8_t *got, size_t n)
{
    uint8_t want[32];

    cr_assert_eq(n, v->n, "%lu/%lu: %zu hashes", (unsigned long)v->a, (unsigned long)v->b, n);
    for (size_t i = 0; i < n; i++) {
        unhex(v->hashes[i], want);
        cr_assert_arr_eq(got + 32 * i, want, 32, "%lu/%lu hash %zu", (unsigned long)v->a,
                         (unsigned long)v->b, i);
    }
}

Test(merkle, ct_reference_inclusion_proofs)
{
    ct_tree();
    for (size_t i = 0; i < sizeof(inclusion_vectors) / sizeof(*inclusion_vectors); i++) {
        const struct vector *v = &inclusion_vectors[i];
        uint8_t *path = NULL, root[32];
        size_t n;
        cr_assert_eq(osm_merkle_prove_inclusion(v->a, v->b, range, NULL, &path, &n), 0);
        check_vector_hashes(v, path, n);
        unhex(ct_roots[v->b], root);
        cr_assert(osm_merkle_verify_inclusion(v->a, v->b, T.leaf[v->a], path, n, root));
        free(path);
    }
}

Test(merkle, ct_reference_consistency_proofs)
{
    ct_tree();
    for (size_t i = 0; i < sizeof(consistency_vectors) / sizeof(*consistency_vectors); i++) {
        const struct vector *v = &consistency_vectors[i];
        uint8_t *proof = NULL, a[32], b[32];
        size_t n;
        cr_assert_eq(osm_merkle_prove_consistency(v->a, v->b, range, NULL, &proof, &n), 0);
        check_vector_hashes(v, proof, n);
        unhex(ct_roots[v->a], a);
        unhex(ct_roots[v->b], b);
        cr_assert(osm_merkle_verify_consistency(v->a, v->b, proof, n, a, b));
        free(proof);
    }
}

static void check_inclusion(uint64_t size, uint64_t index, const uint8_t root[32])
{
    uint8_t *path = NULL, bad[32];
    size_t n;

    cr_assert_eq(osm_merkle_prove_inclusion(index, size, range, NULL, &path, &n), 0);
    cr_assert(osm_merkle_verify_inclusion(index, size, T.leaf[index], path, n, root),
              "leaf %lu of %lu", (unsigned long)index, (unsigned long)size);
    memcpy(bad, T.leaf[index], 32);
    bad[31] ^= 1;
    cr_assert_not(osm_merkle_verify_inclusion(index, size, bad, path, n, root));
    if (size > 1)
        cr_assert_not(
            osm_merkle_verify_inclusion((index + 1) % size, size, T.leaf[index], path, n, root));
    memcpy(bad, root, 32);
    bad[0] ^= 1;
    cr_assert_not(osm_merkle_verify_inclusion(index, size, T.leaf[index], path, n, bad));
    for (size_t i = 0; i < n; i++) {
        path[32 * i + 7] ^= 0x10;
        cr_assert_not(osm_merkle_verify_inclusion(index, size, T.leaf[index], path, n, root));
        path[32 * i + 7] ^= 0x10;
    }
    if (n > 0)
        cr_assert_not(osm_merkle_verify_inclusion(index, size, T.leaf[index], path, n - 1, root));
    free(path);
}

Test(merkle, every_inclusion_proof_verifies_sizes_1_to_64)
{
    uint8_t root[32];

    random_tree(MAX_LEAVES, 6962);
    for (uint64_t size = 1; size <= MAX_LEAVES; size++) {
        root_of(size, root);
        for (uint64_t i = 0; i < size; i++)
            check_inclusion(size, i, root);
    }
}

static void check_consistency(uint64_t m, uint64_t n, uint8_t roots[][32])
{
    uint8_t *proof = NULL;
    size_t k;

    cr_assert_eq(osm_merkle_prove_consistency(m, n, range, NULL, &proof, &k), 0);
    cr_assert(osm_merkle_verify_consistency(m, n, proof, k, roots[m], roots[n]), "%lu -> %lu",
              (unsigned long)m, (unsigned long)n);
    if (m < n) {
        cr_assert_not(osm_merkle_verify_consistency(m, n, proof, k, roots[m - 1], roots[n]));
        cr_assert_not(osm_merkle_verify_consistency(m, n, proof, k, roots[m], roots[n - 1]));
    }
    for (size_t i = 0; i < k; i++) {
        proof[32 * i] ^= 0x80;
        cr_assert_not(osm_merkle_verify_consistency(m, n, proof, k, roots[m], roots[n]),
                      "%lu -> %lu, hash %zu flipped", (unsigned long)m, (unsigned long)n, i);
        proof[32 * i] ^= 0x80;
    }
    free(proof);
}

Test(merkle, every_consistency_proof_verifies_all_pairs_to_64)
{
    static uint8_t roots[MAX_LEAVES + 1][32];

    random_tree(MAX_LEAVES, 20250705);
    for (uint64_t n = 0; n <= MAX_LEAVES; n++)
        root_of(n, roots[n]);
    for (uint64_t n = 1; n <= MAX_LEAVES; n++)
        for (uint64_t m = 1; m <= n; m++)
            check_consistency(m, n, roots);
}

Test(merkle, frontier_serialises_and_finds_its_subtrees)
{
    struct osm_merkle_frontier f, g;
    uint8_t a[32], b[32], node[32];

    random_tree(13, 1);
    osm_merkle_frontier_init(&f);
    for (size_t i = 0; i < 13; i++)
        osm_merkle_frontier_push(&T.h, &f, T.leaf[i]);
    cr_assert_eq(osm_merkle_frontier_count(13), 3);
    cr_assert_eq(osm_merkle_frontier_blob_len(&f), 3 * 32);
    cr_assert_eq(osm_merkle_frontier_load(&g, 13, f.node, 3 * 32), 0);
    osm_merkle_frontier_root(&T.h, &f, a);
    osm_merkle_frontier_root(&T.h, &g, b);
    cr_assert_arr_eq(a, b, 32);
    cr_assert_eq(osm_merkle_frontier_load(&g, 13, f.node, 2 * 32), -EBADMSG);
    /* 13 = 8 + 4 + 1: [0,8) [8,12) [12,13). */
    cr_assert(osm_merkle_frontier_lookup(&f, 8, 12, node));
    mth(8, 12, a);
    cr_assert_arr_eq(node, a, 32);
    cr_assert(osm_merkle_frontier_lookup(&f, 12, 13, node));
    cr_assert_arr_eq(node, T.leaf[12], 32);
    cr_assert_not(osm_merkle_frontier_lookup(&f, 0, 4, node));
    cr_assert_not(osm_merkle_frontier_lookup(&f, 8, 13, node));
}

Test(merkle, bad_arguments)
{
    uint8_t *p = NULL, root[32] = {0};
    size_t n;

    random_tree(4, 2);
    cr_assert_eq(osm_merkle_prove_inclusion(4, 4, range, NULL, &p, &n), -EINVAL);
    cr_assert_eq(osm_merkle_prove_consistency(0, 4, range, NULL, &p, &n), -EINVAL);
    cr_assert_eq(osm_merkle_prove_consistency(3, 2, range, NULL, &p, &n), -EINVAL);
    cr_assert_not(osm_merkle_verify_inclusion(0, 0, T.leaf[0], NULL, 0, root));
    cr_assert_not(osm_merkle_verify_consistency(0, 4, NULL, 0, root, root));
    cr_assert_not(osm_merkle_verify_consistency(2, 4, NULL, 0, root, root));
    cr_assert_eq(osm_merkle_split(2), 1);
    cr_assert_eq(osm_merkle_split(5), 4);
    cr_assert_eq(osm_merkle_split(8), 4);
    cr_assert_eq(osm_merkle_split(9), 8);
}
