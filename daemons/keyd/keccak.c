/* Keccak-256 (Ethereum's, with the original 0x01 padding) through Botan 2's C API. */
#include <errno.h>
#include <botan/ffi.h>

#include "keccak.h"

static void hash_destroyp(botan_hash_t *h)
{
    if (*h)
        botan_hash_destroy(*h);
}

/* Ethereum's hash of the concatenation of n parts. */
int keccak256_parts(const void *const *parts, const size_t *lens, size_t n,
                    uint8_t out[static KECCAK256_LEN])
{
    __attribute__((cleanup(hash_destroyp))) botan_hash_t h = NULL;

    if (botan_hash_init(&h, "Keccak-1600(256)", 0) != 0)
        return -EIO;
    for (size_t i = 0; i < n; i++)
        if (lens[i] > 0 && botan_hash_update(h, parts[i], lens[i]) != 0)
            return -EIO;
    if (botan_hash_final(h, out) != 0)
        return -EIO;
    return 0;
}

/* Ethereum's hash of one buffer. */
int keccak256(const void *data, size_t len, uint8_t out[static KECCAK256_LEN])
{
    const void *parts[] = {data};
    const size_t lens[] = {len};

    return keccak256_parts(parts, lens, 1, out);
}
