/* The ledger's only writer, as group commit with a leader: whoever finds the ledger free takes
 * every waiting append, commits them in one transaction (one fsync) and only then answers them
 * all; appends arriving meanwhile queue up for the next batch. A caller that waits (a handler on
 * its own thread) leads on that thread, with no hand-off between it and its durable answer. An
 * asynchronous append (POST /events/append from the server's event threads, which must not wait)
 * is queued with a callback and led by the writer thread, which answers it through the callback.
 * Leaders also sign the checkpoint every N events and run tasks (prune, search catch-up) in queue
 * order. When the ledger is idle, the writer thread indexes events for full-text search and
 * signs the time-based checkpoint. */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "common/limits.h"
#include "common/log.h"
#include "ipc/json_util.h"

struct append_req {
    struct osm_ledger_entry entry;
    int (*task)(struct osm_ledger *l, void *ctx); /* instead of an entry when set */
    void *task_ctx;
    agentd_recorded_fn done_fn; /* asynchronous: heap-allocated, answered and freed by its leader */
    void *done_ctx;
    bool done;
    struct append_req *next;
    char strings[]; /* asynchronous: type, actor and payload, NUL-terminated */
};

struct agentd_writer {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* the ledger became free, or a batch was answered */
    pthread_cond_t wake; /* wakes the writer thread: asynchronous appends queued, or stop */
    struct append_req *head, *tail;
    size_t queued;
    bool busy; /* a leader or the maintenance thread holds the ledger */
    bool stopping;
    pthread_t thread; /* leads asynchronous appends; maintenance when idle */
    struct osm_ledger *ledger;
    struct agentd *ad;
    int64_t first_unsigned_ms; /* monotonic time of the oldest event not under a checkpoint */
    int64_t last_batch_ms;     /* monotonic time the last batch was committed */
    int64_t index_lag;         /* events not yet searchable, as last seen by the ledger's holder;
                                  the connection itself is touched only by whoever is busy */
    int64_t checkpoint_at_ms;  /* when the time-based checkpoint falls due (monotonic), 0 none;
                                  like index_lag, set under mu by the ledger's holder */
    int64_t asleep_until_ms;   /* the writer thread's planned wake-up while it waits, 0 awake */
};

static void lead(struct agentd_writer *w);

/* Queues rq; called with mu held. -ESHUTDOWN or -EAGAIN (queue full) leave it out. */
static int enqueue(struct agentd_writer *w, struct append_req *rq)
{
    if (w->stopping || w->queued >= OSM_LEDGER_QUEUE_MAX)
        return w->stopping ? -ESHUTDOWN : -EAGAIN;
    if (w->tail)
        w->tail->next = rq;
    else
        w->head = rq;
    w->tail = rq;
    w->queued++;
    return 0;
}

static int enqueue_and_wait(struct agentd_writer *w, struct append_req *rq)
{
    int r;

    pthread_mutex_lock(&w->mu);
    r = enqueue(w, rq);
    if (r < 0) {
        pthread_mutex_unlock(&w->mu);
        return r;
    }
    while (!rq->done) {
        if (!w->busy)
            lead(w); /* returns with mu held */
        else
            pthread_cond_wait(&w->idle, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return rq->entry.result;
}

int agentd_record_raw(struct agentd *ad, const char *type, const char *actor, const char *payload,
                      int (*apply)(sqlite3 *db, void *ctx), void *apply_ctx,
                      struct agentd_recorded *ret)
{
    struct append_req rq = {.entry = {.type = type,
                                      .actor = actor,
                                      .payload = payload,
                                      .payload_len = strlen(payload),
                                      .apply = apply,
                                      .apply_ctx = apply_ctx}};
    int r;

    if (!osm_ledger_name_valid(type) || !osm_ledger_name_valid(actor))
        return -EINVAL;
    r = enqueue_and_wait(ad->writer, &rq);
    if (r == 0 && ret) {
        ret->id = rq.entry.id;
        memcpy(ret->ts, rq.entry.ts, sizeof(ret->ts));
        memcpy(ret->hash, rq.entry.hash, sizeof(ret->hash));
    }
    return r;
}

int agentd_record(struct agentd *ad, const char *type, const char *actor, const json_t *payload,
                  int (*apply)(sqlite3 *db, void *ctx), void *apply_ctx,
                  struct agentd_recorded *ret)
{
    _cleanup_free_ char *s = osm_json_dumps_sorted(payload);

    if (!s)
        return -ENOMEM;
    return agentd_record_raw(ad, type, actor, s, apply, apply_ctx, ret);
}

/* One allocation holding the request and copies of its strings. */
static struct append_req *async_req_new(const char *type, const char *actor, const char *payload,
                                        size_t payload_len)
{
    size_t tl = strlen(type) + 1, al = strlen(actor) + 1;
    struct append_req *rq = malloc(sizeof(*rq) + tl + al + payload_len + 1);
    char *p;

    if (!rq)
        return NULL;
    *rq = (struct append_req){0};
    p = rq->strings;
    rq->entry.type = memcpy(p, type, tl);
    rq->entry.actor = memcpy(p + tl, actor, al);
    p += tl + al;
    memcpy(p, payload, payload_len);
    p[payload_len] = '\0';
    rq->entry.payload = p;
    rq->entry.payload_len = payload_len;
    return rq;
}

int agentd_record_async(struct agentd *ad, const char *type, const char *actor, const char *payload,
                        size_t payload_len, agentd_recorded_fn done, void *ctx)
{
    struct agentd_writer *w = ad->writer;
    struct append_req *rq;
    int r;

    if (!osm_ledger_name_valid(type) || !osm_ledger_name_valid(actor))
        return -EINVAL;
    rq = async_req_new(type, actor, payload, payload_len);
    if (!rq)
        return -ENOMEM;
    rq->done_fn = done;
    rq->done_ctx = ctx;
    pthread_mutex_lock(&w->mu);
    r = enqueue(w, rq);
    if (r == 0 && !w->busy)
        pthread_cond_signal(&w->wake); /* a busy leader wakes it when its batch is done */
    pthread_mutex_unlock(&w->mu);
    if (r < 0)
        free(rq);
    return r;
}

int agentd_writer_task(struct agentd *ad, int (*fn)(struct osm_ledger *l, void *ctx), void *ctx)
{
    struct append_req rq = {.task = fn, .task_ctx = ctx};

    return enqueue_and_wait(ad->writer, &rq);
}

static void checkpoint_if_due(struct agentd_writer *w, bool force)
{
    int64_t pending = osm_ledger_unsigned_events(w->ledger);
    int64_t now = osm_monotonic_ms();
    int r;

    if (pending <= 0) {
        w->first_unsigned_ms = 0;
        return;
    }
    if (!w->first_unsigned_ms)
        w->first_unsigned_ms = now;
    if (!force && pending < w->ad->cfg.checkpoint_every &&
        now - w->first_unsigned_ms < w->ad->cfg.checkpoint_interval * 1000)
        return;
    r = osm_ledger_checkpoint(w->ledger, w->ad->signer, w->ad->checkpoint_log, NULL);
    if (r < 0)
        log_error("ledger.checkpoint", "error=%d reason=%s", r, strerror(-r));
    else
        w->first_unsigned_ms = 0;
}

/* When the time-based checkpoint falls due, 0 if no event waits for one. By the ledger's holder. */
static int64_t checkpoint_deadline(const struct agentd_writer *w)
{
    return w->first_unsigned_ms ? w->first_unsigned_ms + w->ad->cfg.checkpoint_interval * 1000 : 0;
}

/* When the writer thread has maintenance to do: search indexing shortly after appends pause, the
 * time-based checkpoint when due (and appends paused), otherwise nothing (INT64_MAX): an idle
 * writer sleeps until an append, the stop, or the ledger's holder (lead) wakes it. Under mu. */
static int64_t maintenance_at(const struct agentd_writer *w)
{
    int64_t paused = w->last_batch_ms + OSM_INDEX_IDLE_MS;

    if (w->busy || (!w->index_lag && !w->checkpoint_at_ms))
        return INT64_MAX;
    if (w->index_lag > 0)
        return osm_monotonic_ms() + OSM_INDEX_IDLE_MS;
    return w->checkpoint_at_ms > paused ? w->checkpoint_at_ms : paused;
}

/* Takes up to one batch of appends (stopping at a task, which runs alone). */
static struct append_req *take_batch(struct agentd_writer *w)
{
    struct append_req *first = w->head, *last = first;
    size_t n = 1;

    if (first->task) {
        w->head = first->next;
    } else {
        while (last->next && !last->next->task && n < OSM_LEDGER_BATCH_MAX) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        last->next = NULL;
    }
    if (!w->head)
        w->tail = NULL;
    w->queued -= n;
    if (first->task)
        first->next = NULL;
    return first;
}

/* Runs on the leader's own (connection) thread, so the entries live on the heap. */
static void run_batch(struct agentd_writer *w, struct append_req *batch)
{
    _cleanup_free_ struct osm_ledger_entry *entries = NULL;
    size_t n = 0;
    int r;

    if (batch->task) {
        batch->entry.result = batch->task(w->ledger, batch->task_ctx);
        return;
    }
    for (struct append_req *rq = batch; rq; rq = rq->next)
        n++;
    entries = malloc(n * sizeof(*entries));
    if (!entries) {
        for (struct append_req *rq = batch; rq; rq = rq->next)
            rq->entry.result = -ENOMEM;
        return;
    }
    n = 0;
    for (struct append_req *rq = batch; rq; rq = rq->next)
        entries[n++] = rq->entry;
    r = osm_ledger_append(w->ledger, entries, n);
    if (r < 0)
        log_error("ledger.append", "events=%zu error=%d reason=\"%s\"", n, r,
                  osm_ledger_errmsg(w->ledger));
    n = 0;
    for (struct append_req *rq = batch; rq; rq = rq->next) {
        rq->entry = entries[n++];
        if (r < 0 && rq->entry.result == 0)
            rq->entry.result = r;
    }
}

/* Answers and frees the asynchronous requests of a committed batch (without mu: the leader owns
 * them now) and returns the rest, whose callers wait for finish_batch. */
static struct append_req *answer_async(struct append_req *batch)
{
    struct append_req *waiting = NULL, **tail = &waiting, *next;
    struct agentd_recorded rec;

    for (struct append_req *rq = batch; rq; rq = next) {
        next = rq->next;
        if (!rq->done_fn) {
            *tail = rq;
            tail = &rq->next;
            continue;
        }
        rec.id = rq->entry.id;
        memcpy(rec.ts, rq->entry.ts, sizeof(rec.ts));
        memcpy(rec.hash, rq->entry.hash, sizeof(rec.hash));
        rq->done_fn(rq->done_ctx, rq->entry.result, &rec);
        free(rq);
    }
    *tail = NULL;
    return waiting;
}

/* Marks a batch answered. Called with mu held: each request lives on its caller's stack, and
 * its caller cannot return before it gets mu back. */
static void finish_batch(struct append_req *batch)
{
    for (struct append_req *rq = batch; rq; rq = rq->next)
        rq->done = true;
}

/* Commits one batch from the head of the queue (and, every N events, signs a checkpoint).
 * Called with mu held and the ledger free; returns with mu held and the ledger free again,
 * having woken the waiters once (and the writer thread when more is queued). */
static void lead(struct agentd_writer *w)
{
    struct append_req *batch = take_batch(w);
    int64_t lag, at;

    w->busy = true;
    pthread_mutex_unlock(&w->mu);
    run_batch(w, batch);
    batch = answer_async(batch);
    checkpoint_if_due(w, false);
    lag = osm_ledger_index_lag(w->ledger);
    at = checkpoint_deadline(w);
    pthread_mutex_lock(&w->mu);
    w->index_lag = lag;
    w->checkpoint_at_ms = at;
    w->last_batch_ms = osm_monotonic_ms();
    w->busy = false;
    finish_batch(batch);
    pthread_cond_broadcast(&w->idle);
    if (w->head || maintenance_at(w) < w->asleep_until_ms)
        pthread_cond_signal(&w->wake);
}

static void index_some(struct agentd_writer *w, int64_t max_rows)
{
    int r = osm_ledger_index(w->ledger, max_rows);

    if (r < 0)
        log_error("ledger.index", "error=%d reason=\"%s\"", r, osm_ledger_errmsg(w->ledger));
}

static int index_all(struct osm_ledger *l, void *ctx)
{
    int r = osm_ledger_index(l, INT64_MAX);

    return r < 0 ? r : 0;
}

int agentd_index_now(struct agentd *ad)
{
    return agentd_writer_task(ad, index_all, NULL);
}

/* Waits for an append, the stop, or the maintenance due next. */
static void maintenance_wait(struct agentd_writer *w)
{
    int64_t at = maintenance_at(w);
    struct timespec deadline = {.tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000};

    w->asleep_until_ms = at;
    if (at == INT64_MAX)
        pthread_cond_wait(&w->wake, &w->mu);
    else
        pthread_cond_timedwait(&w->wake, &w->mu, &deadline);
    w->asleep_until_ms = 0;
}

/* Holds the ledger (waiting for it to be free and the queue empty) for maintenance work. */
static void hold_idle_ledger(struct agentd_writer *w)
{
    while (w->busy || w->head)
        pthread_cond_wait(&w->idle, &w->mu);
    w->busy = true;
}

static void release_ledger(struct agentd_writer *w)
{
    w->busy = false;
    pthread_cond_broadcast(&w->idle);
}

/* Maintenance (search indexing, the time-based checkpoint) waits until appends pause for
 * OSM_INDEX_IDLE_MS, so it never holds the ledger between two appends of a steady stream;
 * indexing that fell OSM_INDEX_MAX_LAG events behind runs anyway, to bound a search's catch-up. */
static bool maintenance_due(const struct agentd_writer *w)
{
    return w->index_lag >= OSM_INDEX_MAX_LAG ||
           osm_monotonic_ms() - w->last_batch_ms >= OSM_INDEX_IDLE_MS;
}

static void *writer_main(void *arg)
{
    struct agentd_writer *w = arg;

    pthread_setname_np(pthread_self(), "ledger-writer");
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        if (w->head && !w->busy) {
            lead(w);
            continue;
        }
        maintenance_wait(w);
        if (w->stopping || w->busy || w->head || !maintenance_due(w))
            continue; /* appends first: indexing waits for a pause */
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        index_some(w, OSM_INDEX_CHUNK);
        checkpoint_if_due(w, false);
        int64_t lag = osm_ledger_index_lag(w->ledger), at = checkpoint_deadline(w);
        pthread_mutex_lock(&w->mu);
        w->index_lag = lag;
        w->checkpoint_at_ms = at;
        release_ledger(w);
    }
    while (w->head) { /* what was queued before the stop is committed and answered */
        if (!w->busy)
            lead(w);
        else
            pthread_cond_wait(&w->idle, &w->mu);
    }
    hold_idle_ledger(w);
    pthread_mutex_unlock(&w->mu);
    index_some(w, INT64_MAX);
    checkpoint_if_due(w, true);
    return NULL;
}

int agentd_writer_start(struct agentd *ad, struct osm_ledger *ledger)
{
    struct agentd_writer *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    int r;

    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->idle, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->ledger = ledger;
    w->ad = ad;
    /* a first look at once: events left unsigned by the last run get their checkpoint */
    w->checkpoint_at_ms = osm_monotonic_ms();
    r = -pthread_create(&w->thread, NULL, writer_main, w);
    if (r < 0) {
        free(w);
        return r;
    }
    ad->writer = w;
    return 0;
}

void agentd_writer_stop(struct agentd *ad)
{
    struct agentd_writer *w = ad->writer;

    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    osm_ledger_close(w->ledger);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    free(w);
    ad->writer = NULL;
}
