/* The Idempotency-Key table (gw-idempotency.h). A linear table: it is only looked at by
 * mutating calls that carry a key, which are rate-limited well below what a scan costs. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sha256.h"
#include "gw-idempotency.h"

struct entry {
    bool used, done;
    uint8_t key[32], body_hash[32];
    time_t created;
    int status;
    char *body;
    size_t body_len;
};

struct gw_idem {
    pthread_mutex_t lock;
    unsigned ttl_s;
    size_t n;
    struct entry *e;
};

int gw_idem_new(size_t max, unsigned ttl_s, struct gw_idem **ret)
{
    struct gw_idem *t = calloc(1, sizeof(*t));

    if (!t || !(t->e = calloc(max, sizeof(*t->e)))) {
        free(t);
        return -ENOMEM;
    }
    t->n = max;
    t->ttl_s = ttl_s;
    pthread_mutex_init(&t->lock, NULL);
    *ret = t;
    return 0;
}

static void entry_clear(struct entry *e)
{
    free(e->body);
    memset(e, 0, sizeof(*e));
}

void gw_idem_free(struct gw_idem *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        entry_clear(&t->e[i]);
    pthread_mutex_destroy(&t->lock);
    free(t->e);
    free(t);
}

int gw_idem_key_valid(const char *key)
{
    size_t n = strlen(key);

    return n >= GW_IDEM_KEY_MIN && n <= GW_IDEM_KEY_MAX &&
           strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

void gw_idem_digest(const char *token_id, const char *method, const char *path, const char *key,
                    uint8_t ret[static 32])
{
    struct osm_sha256 h;
    const char *parts[] = {token_id, method, path, key};

    if (osm_sha256_init(&h) < 0) {
        memset(ret, 0, 32);
        return;
    }
    for (size_t i = 0; i < 4; i++)
        osm_sha256_update(&h, parts[i], strlen(parts[i]) + 1); /* with the NUL: no ambiguity */
    osm_sha256_final(&h, ret);
    osm_sha256_done(&h);
}

static struct entry *find(struct gw_idem *t, const uint8_t key[static 32])
{
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].used && memcmp(t->e[i].key, key, 32) == 0)
            return &t->e[i];
    return NULL;
}

/* A free slot: an unused one, else an expired one, else the oldest finished one. */
static struct entry *slot(struct gw_idem *t, time_t now)
{
    struct entry *oldest = NULL;

    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->e[i];
        if (!e->used)
            return e;
        if (e->done && now - e->created >= (time_t)t->ttl_s) {
            entry_clear(e);
            return e;
        }
        if (e->done && (!oldest || e->created < oldest->created))
            oldest = e;
    }
    if (oldest)
        entry_clear(oldest);
    return oldest;
}

static int replay(const struct entry *e, struct gw_idem_answer *ret)
{
    ret->body = malloc(e->body_len + 1);
    if (!ret->body)
        return -ENOMEM;
    memcpy(ret->body, e->body, e->body_len);
    ret->body[e->body_len] = '\0';
    ret->body_len = e->body_len;
    ret->status = e->status;
    return GW_IDEM_REPLAY;
}

static int begin_locked(struct gw_idem *t, const uint8_t key[static 32],
                        const uint8_t body[static 32], time_t now, struct gw_idem_answer *ret)
{
    struct entry *e = find(t, key);

    if (e && e->done && now - e->created >= (time_t)t->ttl_s)
        entry_clear(e), e = NULL;
    if (e && memcmp(e->body_hash, body, 32) != 0)
        return GW_IDEM_REUSED;
    if (e)
        return e->done ? replay(e, ret) : GW_IDEM_IN_FLIGHT;
    if (!(e = slot(t, now)))
        return -ENOSPC;
    e->used = true;
    memcpy(e->key, key, 32);
    memcpy(e->body_hash, body, 32);
    e->created = now;
    return GW_IDEM_NEW;
}

int gw_idem_begin(struct gw_idem *t, const uint8_t key[static 32], const uint8_t body[static 32],
                  time_t now, struct gw_idem_answer *ret)
{
    int r;

    pthread_mutex_lock(&t->lock);
    r = begin_locked(t, key, body, now, ret);
    pthread_mutex_unlock(&t->lock);
    return r;
}

int gw_idem_finish(struct gw_idem *t, const uint8_t key[static 32], int status, const char *body,
                   size_t body_len)
{
    struct entry *e;
    char *copy = malloc(body_len + 1);
    int r = 0;

    pthread_mutex_lock(&t->lock);
    e = find(t, key);
    if (e && !e->done && copy) {
        memcpy(copy, body, body_len);
        e->body = copy, copy = NULL;
        e->body_len = body_len;
        e->status = status;
        e->done = true;
    } else if (e && !e->done) {
        entry_clear(e);
        r = -ENOMEM;
    }
    pthread_mutex_unlock(&t->lock);
    free(copy);
    return r;
}

void gw_idem_abort(struct gw_idem *t, const uint8_t key[static 32])
{
    struct entry *e;

    pthread_mutex_lock(&t->lock);
    if ((e = find(t, key)) && !e->done)
        entry_clear(e);
    pthread_mutex_unlock(&t->lock);
}
