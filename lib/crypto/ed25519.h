/* Ed25519 keys, signatures and verification (libsodium). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSM_ED25519_SEED_LEN 32
#define OSM_ED25519_PUBLIC_LEN 32
#define OSM_ED25519_SECRET_LEN 64 /* libsodium form: seed || public key */
#define OSM_ED25519_SIG_LEN 64

/* Fills seed with fresh randomness. -EIO if libsodium cannot initialise. */
int osm_ed25519_seed_random(uint8_t seed[static OSM_ED25519_SEED_LEN]);
/* Derives the key pair of seed. The caller zeroes sk (osm_secret_zero) when done. */
int osm_ed25519_keypair(const uint8_t seed[static OSM_ED25519_SEED_LEN],
                        uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                        uint8_t sk[static OSM_ED25519_SECRET_LEN]);
/* Detached signature of msg. */
int osm_ed25519_sign(const uint8_t sk[static OSM_ED25519_SECRET_LEN], const void *msg, size_t len,
                     uint8_t sig[static OSM_ED25519_SIG_LEN]);
/* True when sig is pk's valid signature of msg. */
bool osm_ed25519_verify(const uint8_t pk[static OSM_ED25519_PUBLIC_LEN], const void *msg,
                        size_t len, const uint8_t sig[static OSM_ED25519_SIG_LEN]);
