/* SHA-256: a reusable context for hot loops (ledger verification hashes millions of short
 * messages) and a one-shot helper for everything else. Two implementations of this one header:
 * sha256-openssl.c (SHA-NI, fastest: agentctl's verify, tests, tools) and sha256-sodium.c
 * (agentd: it hashes a few events at a time, and leaving libcrypto out of the process saves
 * about 3.4 MB of resident memory). A program links exactly one (meson: osmoda_dep or
 * osmoda_sodium_dep). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define OSM_SHA256_LEN 32

/* A running digest. Zero-initialise, osm_sha256_init() once, then update/final any number of
 * times; osm_sha256_done() releases it. */
struct osm_sha256 {
    void *ctx; /* the implementation's state */
};

/* Allocates the context and starts a digest. -ENOMEM on failure. */
int osm_sha256_init(struct osm_sha256 *h);
/* Feeds len bytes. Cannot fail once init succeeded. */
void osm_sha256_update(struct osm_sha256 *h, const void *data, size_t len);
/* Writes the digest and restarts h for the next message. */
void osm_sha256_final(struct osm_sha256 *h, uint8_t out[static OSM_SHA256_LEN]);
/* Releases the context; safe on a zeroed or already released h (usable with _cleanup_). */
void osm_sha256_done(struct osm_sha256 *h);
/* One-shot digest of data. -ENOMEM when the implementation cannot allocate. */
int osm_sha256(const void *data, size_t len, uint8_t out[static OSM_SHA256_LEN]);
