/* Decisions as ledger events (events.h): a bounded queue of slots, reserved before a connection
 * is admitted and filled when its decision is final; one flusher thread, asleep on a condition
 * variable until there is something to send, that appends up to EGRESS_EVENTS_BATCH events per
 * request to agentd (POST /events/append_batch) and retries with backoff while agentd is away.
 * Slots are freed only once their batch is durable, so a queue that cannot drain refuses new
 * reservations: nothing is admitted that could not be recorded. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "egress.h"
#include "events.h"
#include "ipc/http_client.h"
#include "ledger/ledger_client.h"

#define EVENTS_RETRY_MIN_MS 100
#define EVENTS_RETRY_MAX_MS 5000
#define EVENTS_STOP_GRACE_MS 3000      /* how long stop waits for agentd to take what is queued */
#define EVENTS_APPEND_TIMEOUT_MS 10000 /* one batch request */

struct egress_events {
    char *socket;
    size_t capacity;
    pthread_mutex_t mu;
    pthread_cond_t wake;  /* events queued, or stop */
    pthread_cond_t retry; /* the backoff's sleep: only stop ends it early */
    json_t **queue;       /* ring of {type, payload}, capacity entries */
    size_t head, count;
    size_t reserved; /* slots promised to admitted connections, not yet filled */
    size_t inflight; /* taken by the flusher, not yet durable: still occupying slots */
    json_t *denials[EGRESS_DENIALS_KEPT]; /* ring of recent denials, newest at den_head - 1 */
    size_t den_head, den_count;
    struct egress_events_stats stats;
    bool stopping, started;
    int64_t stop_deadline_ms;
    pthread_t thread;
};

static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

/* Sleeps until the monotonic time at_ms or stop (mu held). */
static void wait_until(struct egress_events *ev, int64_t at_ms)
{
    struct timespec ts = {.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000L};

    while (!ev->stopping && osm_monotonic_ms() < at_ms)
        if (pthread_cond_timedwait(&ev->retry, &ev->mu, &ts) == ETIMEDOUT)
            break;
}

int egress_events_new(const char *daemons_socket, size_t capacity, struct egress_events **ret)
{
    struct osm_http_reply reply;
    struct egress_events *ev;
    int r;

    if (capacity == 0)
        return -EINVAL;
    r = osm_http_call(daemons_socket, "GET", "/approvals/key", NULL, 5000, &reply);
    if (r < 0)
        return r;
    r = reply.status == 200 ? 0 : -EIO;
    osm_http_reply_clear(&reply);
    if (r < 0)
        return r;
    ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->socket = strdup(daemons_socket)) ||
        !(ev->queue = calloc(capacity, sizeof(*ev->queue)))) {
        egress_events_free(ev);
        return -ENOMEM;
    }
    ev->capacity = capacity;
    ev->stats.agentd_ok = true;
    pthread_mutex_init(&ev->mu, NULL);
    cond_init_monotonic(&ev->wake);
    cond_init_monotonic(&ev->retry);
    *ret = ev;
    return 0;
}

void egress_events_free(struct egress_events *ev)
{
    if (!ev)
        return;
    if (ev->queue) {
        for (size_t i = 0; i < ev->count; i++)
            json_decref(ev->queue[(ev->head + i) % ev->capacity]);
        pthread_mutex_destroy(&ev->mu);
        pthread_cond_destroy(&ev->wake);
        pthread_cond_destroy(&ev->retry);
    }
    for (size_t i = 0; i < EGRESS_DENIALS_KEPT; i++)
        json_decref(ev->denials[i]);
    free(ev->queue);
    free(ev->socket);
    free(ev);
}

int egress_events_reserve(struct egress_events *ev)
{
    int r = 0;

    pthread_mutex_lock(&ev->mu);
    if (ev->stopping || ev->reserved + ev->count + ev->inflight >= ev->capacity)
        r = -EAGAIN;
    else
        ev->reserved++;
    pthread_mutex_unlock(&ev->mu);
    return r;
}

void egress_events_release(struct egress_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    if (ev->reserved > 0)
        ev->reserved--;
    pthread_mutex_unlock(&ev->mu);
}

static const char *verdict_name(enum egress_verdict v)
{
    return v == EGRESS_ALLOW ? "allow" : v == EGRESS_DENY ? "deny" : "would_deny";
}

/* The ledger payload of d (events.h), new reference or NULL. */
static json_t *decision_payload(const struct egress_decision *d)
{
    json_t *p =
        json_pack("{s:s?, s:s?, s:i, s:s?, s:s?, s:s, s:I, s:I, s:I, s:s?}", "principal",
                  d->principal, "host", d->host, "port", (int)d->port, "address", d->address,
                  "method", d->method, "decision", verdict_name(d->verdict), "bytes_up",
                  (json_int_t)d->bytes_up, "bytes_down", (json_int_t)d->bytes_down, "duration_ms",
                  (json_int_t)d->duration_ms, "mode", d->mode ? d->mode : "enforce");

    if (p && d->verdict == EGRESS_ALLOW)
        json_object_set_new(p, "rule", d->rule ? json_string(d->rule) : json_null());
    else if (p)
        json_object_set_new(p, "reason", json_string(d->reason ? d->reason : "denied"));
    return p;
}

/* The entry of the recent-denials ring (new reference or NULL). */
static json_t *denial_entry(const struct egress_decision *d)
{
    char ts[OSM_TS_LEN + 1];

    osm_now_ts(ts);
    return json_pack("{s:s, s:s?, s:s?, s:i, s:s?, s:s, s:s?}", "ts", ts, "principal", d->principal,
                     "host", d->host, "port", (int)d->port, "address", d->address, "decision",
                     verdict_name(d->verdict), "reason", d->reason);
}

/* Called with mu held; steals entry. */
static void remember_denial(struct egress_events *ev, json_t *entry)
{
    if (!entry)
        return;
    json_decref(ev->denials[ev->den_head]);
    ev->denials[ev->den_head] = entry;
    ev->den_head = (ev->den_head + 1) % EGRESS_DENIALS_KEPT;
    if (ev->den_count < EGRESS_DENIALS_KEPT)
        ev->den_count++;
}

void egress_events_record(struct egress_events *ev, const struct egress_decision *d)
{
    json_t *payload = decision_payload(d);
    json_t *item = payload ? json_pack("{s:s, s:o}", "type",
                                       d->verdict == EGRESS_ALLOW ? "egress.allow" : "egress.deny",
                                       "payload", payload)
                           : NULL;
    json_t *denial = d->verdict == EGRESS_ALLOW ? NULL : denial_entry(d);

    pthread_mutex_lock(&ev->mu);
    if (ev->reserved > 0)
        ev->reserved--;
    if (item && ev->count + ev->inflight < ev->capacity) {
        ev->queue[(ev->head + ev->count) % ev->capacity] = item;
        ev->count++;
        ev->stats.queued++;
        pthread_cond_signal(&ev->wake);
    } else {
        json_decref(item); /* out of memory, or recorded without a reservation */
        ev->stats.dropped_denials += d->verdict != EGRESS_ALLOW;
    }
    remember_denial(ev, denial);
    pthread_mutex_unlock(&ev->mu);
}

void egress_events_drop_denial(struct egress_events *ev, const struct egress_decision *d)
{
    json_t *denial = denial_entry(d);

    pthread_mutex_lock(&ev->mu);
    ev->stats.dropped_denials++;
    remember_denial(ev, denial);
    pthread_mutex_unlock(&ev->mu);
}

int egress_events_record_sync(struct egress_events *ev, const char *type, const json_t *payload)
{
    json_auto_t *events = json_pack("[{s:s, s:O}]", "type", type, "payload", payload);
    int r;

    if (!events)
        return -ENOMEM;
    r = osm_ledger_client_append_batch(ev->socket, events, EVENTS_APPEND_TIMEOUT_MS, NULL);
    if (r < 0)
        log_error("egress.record", "type=%s error=%d reason=\"%s\"", type, r, strerror(-r));
    return r;
}

/* Takes up to EGRESS_EVENTS_BATCH queued events as one JSON array (mu held): they stay counted
 * as in flight until batch_done. */
static json_t *batch_take(struct egress_events *ev)
{
    size_t n = ev->count < EGRESS_EVENTS_BATCH ? ev->count : EGRESS_EVENTS_BATCH;
    json_t *batch = json_array();

    if (!batch)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(batch, ev->queue[ev->head]);
        ev->queue[ev->head] = NULL;
        ev->head = (ev->head + 1) % ev->capacity;
    }
    ev->count -= n;
    ev->inflight = n;
    return batch;
}

/* Sends one batch until agentd has it durable, or it was refused, or stop gave up on it.
 * Called without mu. */
static void batch_send(struct egress_events *ev, json_t *batch)
{
    int64_t delay = EVENTS_RETRY_MIN_MS;
    int r;

    for (;;) {
        r = osm_ledger_client_append_batch(ev->socket, batch, EVENTS_APPEND_TIMEOUT_MS, NULL);
        pthread_mutex_lock(&ev->mu);
        ev->stats.agentd_ok = r == 0;
        if (r == 0 || r == -EINVAL || (ev->stopping && osm_monotonic_ms() >= ev->stop_deadline_ms))
            break;
        ev->stats.failed_batches++;
        log_warn("egress.events", "pending=%zu error=%d reason=\"%s\" retry_ms=%lld",
                 ev->count + ev->inflight, r, strerror(-r), (long long)delay);
        wait_until(ev, osm_monotonic_ms() + delay);
        delay = delay * 2 > EVENTS_RETRY_MAX_MS ? EVENTS_RETRY_MAX_MS : delay * 2;
        pthread_mutex_unlock(&ev->mu);
    }
    if (r == 0) {
        ev->stats.written += ev->inflight;
        ev->stats.batches++;
    } else {
        /* refused (a bug of ours: nothing here can fix it) or abandoned at stop */
        ev->stats.failed_batches++;
        log_error("egress.events", "lost=%zu error=%d reason=\"%s\"", ev->inflight, r,
                  strerror(-r));
    }
    ev->inflight = 0;
    pthread_mutex_unlock(&ev->mu);
}

static void *flusher_main(void *arg)
{
    struct egress_events *ev = arg;
    json_t *batch;

    pthread_setname_np(pthread_self(), "egress-events");
    pthread_mutex_lock(&ev->mu);
    for (;;) {
        while (!ev->count && !ev->stopping)
            pthread_cond_wait(&ev->wake, &ev->mu);
        if (!ev->count)
            break; /* stopping, and everything is written */
        batch = batch_take(ev);
        pthread_mutex_unlock(&ev->mu);
        if (batch)
            batch_send(ev, batch);
        json_decref(batch);
        pthread_mutex_lock(&ev->mu);
        if (ev->stopping && osm_monotonic_ms() >= ev->stop_deadline_ms)
            break;
    }
    pthread_mutex_unlock(&ev->mu);
    return NULL;
}

int egress_events_start(struct egress_events *ev)
{
    int r = pthread_create(&ev->thread, NULL, flusher_main, ev);

    if (r)
        return -r;
    ev->started = true;
    return 0;
}

void egress_events_stop(struct egress_events *ev)
{
    if (!ev || !ev->started)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stopping = true;
    ev->stop_deadline_ms = osm_monotonic_ms() + EVENTS_STOP_GRACE_MS;
    pthread_cond_broadcast(&ev->wake);
    pthread_cond_broadcast(&ev->retry);
    pthread_mutex_unlock(&ev->mu);
    pthread_join(ev->thread, NULL);
    ev->started = false;
    if (ev->count)
        log_error("egress.events", "lost=%zu reason=\"agentd did not take them before stop\"",
                  ev->count);
}

static bool denial_matches(const json_t *d, const char *principal)
{
    const char *p = json_string_value(json_object_get(d, "principal"));

    return !principal || (p && strcmp(p, principal) == 0);
}

json_t *egress_events_denials(struct egress_events *ev, const char *principal, size_t limit)
{
    json_t *out = json_array(), *d;

    if (!out)
        return NULL;
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 1; i <= ev->den_count && json_array_size(out) < limit; i++) {
        d = ev->denials[(ev->den_head + EGRESS_DENIALS_KEPT - i) % EGRESS_DENIALS_KEPT];
        if (denial_matches(d, principal))
            json_array_append(out, d);
    }
    pthread_mutex_unlock(&ev->mu);
    return out;
}

void egress_events_get_stats(struct egress_events *ev, struct egress_events_stats *ret)
{
    pthread_mutex_lock(&ev->mu);
    *ret = ev->stats;
    ret->pending = ev->count + ev->inflight;
    pthread_mutex_unlock(&ev->mu);
}
