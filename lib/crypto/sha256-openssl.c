/* SHA-256 over OpenSSL EVP (SHA-NI where the CPU has it), the digest fetched once per process.
 * The implementation of sha256.h for everything but agentd (see sha256-sodium.c). */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "sha256.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The explicitly fetched digest avoids OpenSSL 3's implicit fetch (a lock) on every init. */
static const EVP_MD *sha256_get(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

int osm_sha256_init(struct osm_sha256 *h)
{
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex2(h->ctx, sha256_get(), NULL) != 1) {
        osm_sha256_done(h);
        return -ENOMEM;
    }
    return 0;
}

void osm_sha256_update(struct osm_sha256 *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void osm_sha256_final(struct osm_sha256 *h, uint8_t out[static OSM_SHA256_LEN])
{
    EVP_DigestFinal_ex(h->ctx, out, NULL);
    EVP_DigestInit_ex2(h->ctx, NULL, NULL);
}

void osm_sha256_done(struct osm_sha256 *h)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)h->ctx);
    h->ctx = NULL;
}

int osm_sha256(const void *data, size_t len, uint8_t out[static OSM_SHA256_LEN])
{
    return EVP_Digest(data, len, out, NULL, sha256_get(), NULL) == 1 ? 0 : -ENOMEM;
}
