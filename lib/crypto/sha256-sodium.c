/* SHA-256 over libsodium: the implementation of sha256.h that agentd links, so that libcrypto
 * is never mapped into the long-running daemon (see sha256.h). */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

#include "sha256.h"

int osm_sha256_init(struct osm_sha256 *h)
{
    h->ctx = malloc(sizeof(crypto_hash_sha256_state));
    if (!h->ctx)
        return -ENOMEM;
    crypto_hash_sha256_init(h->ctx);
    return 0;
}

void osm_sha256_update(struct osm_sha256 *h, const void *data, size_t len)
{
    crypto_hash_sha256_update(h->ctx, data, len);
}

void osm_sha256_final(struct osm_sha256 *h, uint8_t out[static OSM_SHA256_LEN])
{
    crypto_hash_sha256_final(h->ctx, out);
    crypto_hash_sha256_init(h->ctx);
}

void osm_sha256_done(struct osm_sha256 *h)
{
    free(h->ctx);
    h->ctx = NULL;
}

int osm_sha256(const void *data, size_t len, uint8_t out[static OSM_SHA256_LEN])
{
    crypto_hash_sha256(out, data, len);
    return 0;
}
