/* The ledger's only writer: one thread that takes every waiting append, commits them in one
 * transaction (one fsync) and only then answers the callers; it also signs checkpoints every N
 * events or T seconds, indexes events for full-text search when it is idle (never between a
 * caller and its durable answer), and runs maintenance tasks (prune) between batches. */
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
    bool done;
    struct append_req *next;
};

struct agentd_writer {
    pthread_mutex_t mu;
    pthread_cond_t work; /* queue became non-empty, or stop */
    pthread_cond_t done; /* a batch finished */
    struct append_req *head, *tail;
    size_t queued;
    bool stopping;
    pthread_t thread;
    struct osm_ledger *ledger;
    struct agentd *ad;
    int64_t first_unsigned_ms; /* monotonic time of the oldest event not under a checkpoint */
};

static int enqueue_and_wait(struct agentd_writer *w, struct append_req *rq)
{
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= OSM_LEDGER_QUEUE_MAX) {
        int r = w->stopping ? -ESHUTDOWN : -EAGAIN;
        pthread_mutex_unlock(&w->mu);
        return r;
    }
    if (w->tail)
        w->tail->next = rq;
    else
        w->head = rq;
    w->tail = rq;
    w->queued++;
    pthread_cond_signal(&w->work);
    while (!rq->done)
        pthread_cond_wait(&w->done, &w->mu);
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

static void run_batch(struct agentd_writer *w, struct append_req *batch)
{
    struct osm_ledger_entry entries[OSM_LEDGER_BATCH_MAX];
    size_t n = 0;
    int r;

    if (batch->task) {
        batch->entry.result = batch->task(w->ledger, batch->task_ctx);
        return;
    }
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

static void finish_batch(struct agentd_writer *w, struct append_req *batch)
{
    pthread_mutex_lock(&w->mu);
    for (struct append_req *rq = batch, *next; rq; rq = next) {
        next = rq->next; /* rq lives on its caller's stack: read next before waking it */
        rq->done = true;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
}

/* Waits for work: briefly when search indexing is behind (index once the load pauses), else
 * up to a second (time-based checkpoints). */
static void wait_for_work(struct agentd_writer *w)
{
    int64_t ms = osm_ledger_index_lag(w->ledger) > 0 ? OSM_INDEX_IDLE_MS : 1000;
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += (long)(ms % 1000) * 1000000;
    deadline.tv_sec += ms / 1000 + deadline.tv_nsec / 1000000000;
    deadline.tv_nsec %= 1000000000;
    pthread_cond_timedwait(&w->work, &w->mu, &deadline);
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

static void *writer_main(void *arg)
{
    struct agentd_writer *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->head) {
            if (w->stopping)
                break;
            wait_for_work(w);
            if (!w->head) {
                pthread_mutex_unlock(&w->mu);
                index_some(w, OSM_INDEX_CHUNK);
                checkpoint_if_due(w, false);
                pthread_mutex_lock(&w->mu);
                continue;
            }
        }
        struct append_req *batch = take_batch(w);
        pthread_mutex_unlock(&w->mu);
        run_batch(w, batch);
        finish_batch(w, batch);
        checkpoint_if_due(w, false);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    index_some(w, INT64_MAX);
    checkpoint_if_due(w, true);
    return NULL;
}

int agentd_writer_start(struct agentd *ad, struct osm_ledger *ledger)
{
    struct agentd_writer *w = calloc(1, sizeof(*w));
    int r;

    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    w->ledger = ledger;
    w->ad = ad;
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
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    osm_ledger_close(w->ledger);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    free(w);
    ad->writer = NULL;
}
