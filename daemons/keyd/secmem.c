/* Memory for keys: libsodium's guarded allocations, locked so they never reach swap, and the
 * process settings that keep them out of core dumps and away from ptrace.
 *
 * Small buffers (a key, a seed: at most SECMEM_SLOT bytes) come from one pool allocated once
 * with sodium_malloc and locked: a sodium_malloc of its own costs five system calls (mmap,
 * mprotect, mlock and back), more than the signature the key is opened for. Slots are zeroed
 * when freed. Larger buffers, or all of them when the pool is full, get their own. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "secmem.h"

#define SECMEM_SLOT 64    /* bytes of one pool slot */
#define SECMEM_SLOTS 1024 /* slots in the pool (64 KiB locked) */

static struct {
    pthread_mutex_t lock;
    uint8_t *base; /* sodium_malloc'd, SECMEM_SLOT * SECMEM_SLOTS */
    bool tried;
    uint64_t used[SECMEM_SLOTS / 64];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The pool, allocated and locked on first use; NULL when it cannot be. */
static uint8_t *pool_base(void)
{
    uint8_t *p;

    if (pool.tried)
        return pool.base;
    pool.tried = true;
    if (!(p = sodium_malloc(SECMEM_SLOT * SECMEM_SLOTS)))
        return NULL;
    if (sodium_mlock(p, SECMEM_SLOT * SECMEM_SLOTS) != 0) {
        sodium_free(p);
        return NULL;
    }
    return pool.base = p;
}

static uint8_t *pool_get(void)
{
    uint8_t *p = NULL;

    pthread_mutex_lock(&pool.lock);
    if (pool_base())
        for (size_t w = 0; w < SECMEM_SLOTS / 64 && !p; w++)
            if (~pool.used[w]) {
                int bit = __builtin_ctzll(~pool.used[w]);

                pool.used[w] |= 1ULL << bit;
                p = pool.base + (w * 64 + (size_t)bit) * SECMEM_SLOT;
            }
    pthread_mutex_unlock(&pool.lock);
    return p;
}

/* Returns p's slot to the pool (zeroed): false when p is not from the pool. */
static bool pool_put(uint8_t *p)
{
    bool mine;
    size_t i;

    pthread_mutex_lock(&pool.lock);
    mine = pool.base && p >= pool.base && p < pool.base + SECMEM_SLOT * SECMEM_SLOTS;
    if (mine) {
        i = (size_t)(p - pool.base) / SECMEM_SLOT;
        sodium_memzero(pool.base + i * SECMEM_SLOT, SECMEM_SLOT);
        pool.used[i / 64] &= ~(1ULL << (i % 64));
    }
    pthread_mutex_unlock(&pool.lock);
    return mine;
}

int secbuf_alloc(struct secbuf *b, size_t len)
{
    /* sodium_malloc locks and excludes from dumps as well, but does not fail when locking
     * does: lock again and check, so that a key is refused rather than swappable. */
    size_t n = len ? len : 1;
    uint8_t *p;

    b->p = NULL;
    b->len = 0;
    if (sodium_init() < 0)
        return -ENOMEM;
    if (n <= SECMEM_SLOT && (p = pool_get()))
        goto done;
    if (!(p = sodium_malloc(n)))
        return -ENOMEM;
    if (sodium_mlock(p, n) != 0) {
        sodium_free(p);
        return -ENOMEM;
    }
done:
    b->p = p;
    b->len = len;
    return 0;
}

void secbuf_free(struct secbuf *b)
{
    if (!b || !b->p)
        return;
    if (!pool_put(b->p))
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
