/* Ed25519 through libsodium; sodium_init() is idempotent and cheap after the first call. */
#include <errno.h>
#include <sodium.h>

#include "ed25519.h"

int osm_ed25519_seed_random(uint8_t seed[static OSM_ED25519_SEED_LEN])
{
    if (sodium_init() < 0)
        return -EIO;
    randombytes_buf(seed, OSM_ED25519_SEED_LEN);
    return 0;
}

int osm_ed25519_keypair(const uint8_t seed[static OSM_ED25519_SEED_LEN],
                        uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                        uint8_t sk[static OSM_ED25519_SECRET_LEN])
{
    if (sodium_init() < 0)
        return -EIO;
    return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -EINVAL;
}

int osm_ed25519_sign(const uint8_t sk[static OSM_ED25519_SECRET_LEN], const void *msg, size_t len,
                     uint8_t sig[static OSM_ED25519_SIG_LEN])
{
    if (sodium_init() < 0)
        return -EIO;
    return crypto_sign_detached(sig, NULL, msg, len, sk) == 0 ? 0 : -EINVAL;
}

bool osm_ed25519_verify(const uint8_t pk[static OSM_ED25519_PUBLIC_LEN], const void *msg,
                        size_t len, const uint8_t sig[static OSM_ED25519_SIG_LEN])
{
    if (sodium_init() < 0)
        return false;
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}
