/* Memory for keys: libsodium's guarded allocations, locked so they never reach swap, and the
 * process settings that keep them out of core dumps and away from ptrace. */
#include <errno.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "secmem.h"

int secbuf_alloc(struct secbuf *b, size_t len)
{
    /* sodium_malloc locks and excludes from dumps as well, but does not fail when locking
     * does: lock again and check, so that a key is refused rather than swappable. */
    size_t n = len ? len : 1;
    uint8_t *p;

    b->p = NULL;
    b->len = 0;
    if (sodium_init() < 0 || !(p = sodium_malloc(n)))
        return -ENOMEM;
    if (sodium_mlock(p, n) != 0) {
        sodium_free(p);
        return -ENOMEM;
    }
    b->p = p;
    b->len = len;
    return 0;
}

void secbuf_free(struct secbuf *b)
{
    if (!b || !b->p)
        return;
    sodium_free(b->p); /* zeroes, unlocks, unmaps */
    b->p = NULL;
    b->len = 0;
}

int secmem_harden_process(void)
{
    const struct rlimit none = {0, 0};

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return -errno;
    return 0;
}
