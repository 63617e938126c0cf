/* Token buckets for the API's rate limits (gw-ratelimit.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw-ratelimit.h"

struct bucket {
    char key[GW_RATE_KEY_MAX];
    double tokens;
    int64_t at_ms; /* when tokens was computed */
};

struct gw_rate {
    pthread_mutex_t lock;
    struct bucket slots[GW_RATE_SLOTS];
};

int gw_rate_new(struct gw_rate **ret)
{
    struct gw_rate *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    *ret = r;
    return 0;
}

void gw_rate_free(struct gw_rate *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void refill(struct bucket *b, unsigned per_min, int64_t now_ms)
{
    if (now_ms > b->at_ms)
        b->tokens += (double)(now_ms - b->at_ms) * per_min / 60000.0;
    if (b->tokens > per_min)
        b->tokens = per_min;
    b->at_ms = now_ms;
}

/* The key's bucket, or a fresh (full) one in its probe window: a free slot, else the one
 * used least recently. */
static struct bucket *bucket_of(struct gw_rate *r, const char *key, unsigned per_min,
                                int64_t now_ms)
{
    uint32_t h = fnv1a(key);
    struct bucket *victim = NULL;

    for (unsigned i = 0; i < GW_RATE_PROBE; i++) {
        struct bucket *b = &r->slots[(h + i) % GW_RATE_SLOTS];
        if (strcmp(b->key, key) == 0)
            return b;
        if (b->key[0] == '\0') {
            victim = b;
            break;
        }
        if (!victim || b->at_ms < victim->at_ms)
            victim = b;
    }
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->tokens = per_min;
    victim->at_ms = now_ms;
    return victim;
}

int gw_rate_take(struct gw_rate *r, const char *key, unsigned per_min, int64_t now_ms,
                 unsigned *ret_retry_s)
{
    struct bucket *b;
    int res = 0;

    if (per_min == 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    b = bucket_of(r, key, per_min, now_ms);
    refill(b, per_min, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        /* seconds until one whole token, rounded up, at least 1 */
        double wait_s = (1.0 - b->tokens) * 60.0 / per_min;
        *ret_retry_s = (unsigned)wait_s + 1;
        res = -EBUSY;
    }
    pthread_mutex_unlock(&r->lock);
    return res;
}
