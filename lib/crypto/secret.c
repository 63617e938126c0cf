/* Secret-memory helpers over libsodium. */
#include <sodium.h>
#include <stdlib.h>

#include "secret.h"

bool osm_memeq_ct(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

void osm_secret_zero(void *p, size_t len)
{
    sodium_memzero(p, len);
}

void osm_secret_free(void *p, size_t len)
{
    if (!p)
        return;
    sodium_memzero(p, len);
    free(p);
}
