/* Watchers at run time: a min-heap of due times drives the check engine (each watcher on its
 * own interval, all checks in parallel), and the escalation ladder turns results into actions.
 *
 * The ladder: the first failure opens a failure window — watch.check.failed, then the next
 * action (watch.escalation, the action, watch.action.result). After an action a cool-down of
 * max(2 intervals, 5 s) follows, during which failures do not count (a success does: the watcher
 * recovers). The first failure after the cool-down is a fresh window and takes the NEXT action,
 * never the same one again; after the last action the watcher stays degraded (watch.exhausted,
 * once) and acts no more until a success (watch.recovered) resets it to the first step.
 *
 * Two threads: the scheduler starts due checks and applies results to the ladder; the actor
 * records events and runs actions, which may block (the ledger, a restart, a rollback), so a
 * slow action never delays other watchers' checks. A watcher whose action is running is out of
 * the schedule until the action is through. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "svc.h"
#include "switch.h"
#include "watchers-internal.h"

/* ---- the schedule: a binary min-heap on next_run_ms ---- */

static void heap_set(struct watchers *ws, size_t i, struct watcher *w)
{
    ws->heap[i] = w;
    w->heap_idx = i;
}

static void heap_up(struct watchers *ws, size_t i)
{
    struct watcher *w = ws->heap[i];

    while (i > 0 && ws->heap[(i - 1) / 2]->next_run_ms > w->next_run_ms) {
        heap_set(ws, i, ws->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(ws, i, w);
}

static void heap_down(struct watchers *ws, size_t i)
{
    struct watcher *w = ws->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= ws->n_heap)
            break;
        if (c + 1 < ws->n_heap && ws->heap[c + 1]->next_run_ms < ws->heap[c]->next_run_ms)
            c++;
        if (ws->heap[c]->next_run_ms >= w->next_run_ms)
            break;
        heap_set(ws, i, ws->heap[c]);
        i = c;
    }
    heap_set(ws, i, w);
}

int watchers_schedule(struct watchers *ws, struct watcher *w, int64_t when_ms)
{
    if (w->scheduled || w->removed)
        return 0;
    if (ws->n_heap == ws->heap_cap) {
        size_t cap = ws->heap_cap ? ws->heap_cap * 2 : 64;
        struct watcher **h = realloc(ws->heap, cap * sizeof(*h));

        if (!h)
            return -ENOMEM;
        ws->heap = h;
        ws->heap_cap = cap;
    }
    w->next_run_ms = when_ms;
    w->scheduled = true;
    ws->heap[ws->n_heap++] = w;
    heap_up(ws, ws->n_heap - 1);
    pthread_cond_signal(&ws->cond);
    return 0;
}

void watchers_unschedule(struct watchers *ws, struct watcher *w)
{
    size_t i = w->heap_idx;

    if (!w->scheduled)
        return;
    w->scheduled = false;
    if (i != --ws->n_heap) {
        struct watcher *m = ws->heap[ws->n_heap];

        heap_set(ws, i, m);
        heap_up(ws, i);
        heap_down(ws, m->heap_idx);
    }
}

void watcher_unref(struct watcher *w)
{
    if (w && --w->refs == 0)
        watcher_free(w);
}

/* ---- checks ---- */

static void destroy(struct watchers *ws)
{
    pthread_cond_destroy(&ws->cond);
    pthread_cond_destroy(&ws->work_cond);
    pthread_mutex_destroy(&ws->store_lock);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}

/* Queues w's result for the scheduler, waking it only when it would sleep past the result's
 * delay: at the first of a burst (it then sleeps until the delay is up) and at the last. Under
 * ws->lock. */
static void queue_result(struct watchers *ws, struct watcher *w, bool ok, const char *detail)
{
    int64_t now = osm_monotonic_ms();

    w->result_ok = ok;
    snprintf(w->result_detail, sizeof(w->result_detail), "%s", detail);
    if (!ws->results)
        ws->results_since_ms = now;
    if (ws->asleep_until_ms > now + WATCHER_RESULT_DELAY_MS && (!ws->results || ws->inflight == 0))
        pthread_cond_signal(&ws->cond);
    w->rnext = ws->results;
    ws->results = w;
}

/* On the engine's thread: hands the result to the scheduler. */
static void check_done(void *userdata, bool ok, const char *detail)
{
    struct watcher *w = userdata;
    struct watchers *ws = w->ws;
    bool last = false;

    pthread_mutex_lock(&ws->lock);
    ws->inflight--;
    if (ws->stopping) {
        watcher_unref(w);
        last = ws->released && ws->inflight == 0;
    } else {
        queue_result(ws, w, ok, detail);
    }
    pthread_mutex_unlock(&ws->lock);
    if (last)
        destroy(ws);
}

/* The burst buffer holds every scheduled watcher. Only the scheduler touches it. */
static struct check_start *due_buffer(struct watchers *ws, size_t *ret_cap)
{
    if (ws->due_cap < ws->n_heap) {
        struct check_start *d = realloc(ws->due, ws->heap_cap * sizeof(*d));

        if (d) {
            ws->due = d;
            ws->due_cap = ws->heap_cap;
        }
    }
    *ret_cap = ws->due_cap;
    return ws->due;
}

static void start_failed(struct watchers *ws, const struct check_start *burst, size_t n, int r,
                         int64_t now)
{
    log_warn("watcher.check", "checks=%zu error=%d reason=\"%s\"", n, r, strerror(-r));
    for (size_t i = 0; i < n; i++) {
        struct watcher *w = burst[i].userdata;

        w->running = false;
        ws->inflight--;
        watchers_schedule(ws, w, now + (int64_t)w->interval_s * 1000);
        watcher_unref(w);
    }
}

/* Starts the checks due now or within the slack, handed to the engine in one burst without the
 * lock (the engine's done takes it). Under ws->lock. */
static void start_due(struct watchers *ws, int64_t now)
{
    struct check_start one, *burst;
    size_t n, cap;
    int r;

    while (!ws->stopping) {
        if (!(burst = due_buffer(ws, &cap))) {
            burst = &one;
            cap = 1;
        }
        for (n = 0; n < cap && ws->n_heap > 0 && ws->heap[0]->next_run_ms <= now + WATCHER_SLACK_MS;
             n++) {
            struct watcher *w = ws->heap[0];

            watchers_unschedule(ws, w);
            w->running = true;
            w->refs++;
            ws->inflight++;
            burst[n] = (struct check_start){w->check, w};
        }
        if (n == 0)
            return;
        pthread_mutex_unlock(&ws->lock);
        r = checks_start_many(ws->w->checks, burst, n, check_done);
        pthread_mutex_lock(&ws->lock);
        if (r < 0)
            start_failed(ws, burst, n, r, now);
    }
}

/* ---- the ladder ---- */

static void queue_work(struct watchers *ws, enum watcher_work_kind kind, struct watcher *w,
                       int step, const char *detail)
{
    struct watcher_work *k = calloc(1, sizeof(*k));

    if (!k) {
        log_error("watcher.ladder", "id=%s reason=\"out of memory\"", w->id);
        if (kind == WORK_ACTION)
            w->acting = false;
        return;
    }
    *k = (struct watcher_work){.kind = kind, .w = w, .step = step};
    snprintf(k->detail, sizeof(k->detail), "%s", detail);
    w->refs++;
    *ws->work_tail = k;
    ws->work_tail = &k->next;
    pthread_cond_signal(&ws->work_cond);
}

static void ladder(struct watchers *ws, struct watcher *w, bool ok, const char *detail, int64_t now)
{
    if (ok) {
        if (w->degraded) {
            w->degraded = w->exhausted = false;
            w->next_action_at_ms = 0;
            queue_work(ws, WORK_RECOVERED, w, w->step, detail);
        }
        return;
    }
    snprintf(w->last_error, sizeof(w->last_error), "%s", detail);
    if (!w->degraded) {
        w->degraded = true;
        osm_now_ts(w->since);
        w->retries = 0;
        w->step = -1;
        w->next_step = 0;
        w->cooldown_until_ms = 0;
        w->next_action_at_ms = 0;
    } else {
        w->retries++;
        if (now < w->cooldown_until_ms || w->exhausted)
            return; /* the same window: one step per window */
    }
    queue_work(ws, WORK_FAILED, w, w->next_step, detail);
    if ((size_t)w->next_step < w->n_actions) {
        w->acting = true;
        queue_work(ws, WORK_ACTION, w, w->next_step, detail);
    } else {
        w->exhausted = true;
        if (w->n_actions > 0)
            queue_work(ws, WORK_EXHAUSTED, w, w->step, detail);
    }
}

static void process_results(struct watchers *ws, int64_t now)
{
    struct watcher *w = ws->results, *next;

    ws->results = NULL;
    for (; w; w = next) {
        next = w->rnext;
        w->running = false;
        if (!w->removed) {
            ladder(ws, w, w->result_ok, w->result_detail, now);
            if (!w->acting) {
                int64_t due = w->next_run_ms + (int64_t)w->interval_s * 1000;

                watchers_schedule(ws, w, due > now ? due : now);
            }
        }
        watcher_unref(w);
    }
}

/* When results must be taken: at once when no check is in flight any more, else once the oldest
 * has waited its delay; INT64_MAX when there is none. */
static int64_t results_due_ms(const struct watchers *ws)
{
    if (!ws->results)
        return INT64_MAX;
    return ws->inflight == 0 ? 0 : ws->results_since_ms + WATCHER_RESULT_DELAY_MS;
}

/* When the scheduler must wake next: the earliest due check or results_due_ms; INT64_MAX for
 * nothing to do. */
static int64_t next_wake(const struct watchers *ws)
{
    int64_t at = ws->n_heap > 0 ? ws->heap[0]->next_run_ms : INT64_MAX;

    return results_due_ms(ws) < at ? results_due_ms(ws) : at;
}

/* Sleeps until at (monotonic ms) or a signal. A result arriving meanwhile signals only when at
 * is further than its delay (the scheduler then sleeps again until the delay is up): the results
 * of a burst are taken together, on the wake-up that starts the next burst when there is one. */
static void sleep_until(struct watchers *ws, int64_t at)
{
    struct timespec ts = {.tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000};

    ws->asleep_until_ms = at;
    if (at == INT64_MAX)
        pthread_cond_wait(&ws->cond, &ws->lock);
    else
        pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
    ws->asleep_until_ms = 0;
}

static void *scheduler_main(void *arg)
{
    struct watchers *ws = arg;

    pthread_setname_np(pthread_self(), "watch-sched");
    pthread_mutex_lock(&ws->lock);
    while (!ws->stopping) {
        int64_t now = osm_monotonic_ms(), at;

        if ((ws->n_heap > 0 && ws->heap[0]->next_run_ms <= now + WATCHER_SLACK_MS) ||
            results_due_ms(ws) <= now) {
            process_results(ws, now);
            start_due(ws, now);
        }
        if (!ws->stopping && (at = next_wake(ws)) > osm_monotonic_ms())
            sleep_until(ws, at);
    }
    pthread_mutex_unlock(&ws->lock);
    return NULL;
}

/* ---- actions, on the actor's thread ---- */

static json_t *about(const struct watcher *w)
{
    return json_pack("{s:s, s:s}", "watcher", w->name, "id", w->id);
}

static int emit(struct watchers *ws, const char *type, json_t *payload)
{
    int r = watch_emit(&ws->w->events, type, payload);

    if (r < 0)
        log_error("watcher.event", "type=%s error=%d reason=\"%s\"", type, r, strerror(-r));
    return r;
}

static int run_action(struct watchers *ws, const struct watcher *w, const struct watcher_action *a,
                      const char *detail)
{
    char reason[CHECK_DETAIL_MAX + WATCHER_NAME_MAX + 32];
    json_t *res = NULL;
    int r;

    switch (a->kind) {
    case ACTION_RESTART:
        if ((r = emit(ws, "service.restart",
                      json_pack("{s:s, s:s, s:s, s:s, s:s}", "unit", a->arg, "by", "watcher",
                                "watcher", w->name, "id", w->id, "reason", detail))) < 0)
            return r;
        return svc_restart(ws->w->svc, a->arg);
    case ACTION_ROLLBACK:
        if (!ws->w->switches)
            return -EOPNOTSUPP;
        snprintf(reason, sizeof(reason), "watcher %s: %s", w->name, detail);
        r = switches_rollback_latest(ws->w->switches, reason, &res);
        json_decref(res);
        return r;
    default:
        return emit(
            ws, "watch.notify",
            json_pack("{s:s, s:s, s:s}", "watcher", w->name, "id", w->id, "message", a->arg));
    }
}

/* Records the step, then takes it, then records how it went. False: the step was not taken. */
static bool do_action(struct watchers *ws, const struct watcher_work *k)
{
    const struct watcher *w = k->w;
    const struct watcher_action *a = &w->actions[k->step];
    json_t *ev = watcher_action_json(a);
    int r;

    if (ev)
        json_object_update_new(ev,
                               json_pack("{s:s, s:s, s:i, s:s}", "watcher", w->name, "id", w->id,
                                         "step", k->step, "action", watcher_action_type(a)));
    if (emit(ws, "watch.escalation", ev) < 0)
        return false; /* not recorded: not taken */
    r = run_action(ws, w, a, k->detail);
    ev = json_pack("{s:s, s:s, s:i, s:s, s:b}", "watcher", w->name, "id", w->id, "step", k->step,
                   "action", watcher_action_type(a), "ok", r == 0);
    if (ev && r < 0)
        json_object_set_new(ev, "error", json_string(strerror(-r)));
    emit(ws, "watch.action.result", ev);
    return true;
}

static void run_work(struct watchers *ws, const struct watcher_work *k)
{
    json_t *p = about(k->w);

    switch (k->kind) {
    case WORK_FAILED:
        if (p)
            json_object_update_new(
                p, json_pack("{s:s, s:s}", "check", check_type(k->w->check), "error", k->detail));
        emit(ws, "watch.check.failed", p);
        break;
    case WORK_RECOVERED:
        if (p)
            json_object_set_new(p, "steps_taken", json_integer(k->step + 1));
        emit(ws, "watch.recovered", p);
        break;
    case WORK_EXHAUSTED:
        if (p)
            json_object_set_new(p, "error", json_string(k->detail));
        emit(ws, "watch.exhausted", p);
        break;
    case WORK_ACTION:
        break;
    }
    if (k->kind != WORK_ACTION)
        return;
    json_decref(p);
    bool taken = do_action(ws, k);
    int64_t now = osm_monotonic_ms(), cool = (int64_t)k->w->interval_s * WATCHER_COOLDOWN_INTERVALS;
    struct watcher *w = k->w;

    if (cool < WATCHER_COOLDOWN_MIN_S)
        cool = WATCHER_COOLDOWN_MIN_S;
    pthread_mutex_lock(&ws->lock);
    w->acting = false;
    if (taken) {
        w->step = k->step;
        w->next_step = k->step + 1;
    }
    w->cooldown_until_ms = now + cool * 1000;
    w->next_action_at_ms =
        (size_t)w->next_step < w->n_actions ? osm_realtime_ms() + cool * 1000 : 0;
    watchers_schedule(ws, w, now + (int64_t)w->interval_s * 1000);
    pthread_mutex_unlock(&ws->lock);
}

static void *actor_main(void *arg)
{
    struct watchers *ws = arg;

    pthread_setname_np(pthread_self(), "watch-actor");
    pthread_mutex_lock(&ws->lock);
    for (;;) {
        while (!ws->stopping && !ws->work)
            pthread_cond_wait(&ws->work_cond, &ws->lock);
        if (ws->stopping)
            break;
        struct watcher_work *k = ws->work;
        if (!(ws->work = k->next))
            ws->work_tail = &ws->work;
        pthread_mutex_unlock(&ws->lock);
        if (!k->w->removed)
            run_work(ws, k);
        pthread_mutex_lock(&ws->lock);
        if (k->kind == WORK_ACTION)
            k->w->acting = false;
        watcher_unref(k->w);
        free(k);
    }
    pthread_mutex_unlock(&ws->lock);
    return NULL;
}

int watchers_ladder_start(struct watchers *ws)
{
    pthread_condattr_t attr;
    int r;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ws->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&ws->work_cond, NULL);
    if ((r = -pthread_create(&ws->scheduler, NULL, scheduler_main, ws)) < 0)
        return r;
    if ((r = -pthread_create(&ws->actor, NULL, actor_main, ws)) < 0) {
        pthread_mutex_lock(&ws->lock);
        ws->stopping = true;
        pthread_cond_signal(&ws->cond);
        pthread_mutex_unlock(&ws->lock);
        pthread_join(ws->scheduler, NULL);
        return r;
    }
    ws->started = true;
    return 0;
}

/* Stops both threads and drops what they had queued. Checks in flight keep ws (and their
 * watcher) until their done; watchers_release frees ws after the last. */
void watchers_ladder_stop(struct watchers *ws)
{
    struct watcher_work *k, *next;
    struct watcher *w, *wn;

    pthread_mutex_lock(&ws->lock);
    ws->stopping = true;
    pthread_cond_broadcast(&ws->cond);
    pthread_cond_broadcast(&ws->work_cond);
    pthread_mutex_unlock(&ws->lock);
    if (ws->started) {
        pthread_join(ws->scheduler, NULL);
        pthread_join(ws->actor, NULL);
        ws->started = false;
    }
    free(ws->due);
    ws->due = NULL;
    ws->due_cap = 0;
    pthread_mutex_lock(&ws->lock);
    for (k = ws->work; k; k = next) {
        next = k->next;
        watcher_unref(k->w);
        free(k);
    }
    ws->work = NULL;
    for (w = ws->results; w; w = wn) {
        wn = w->rnext;
        watcher_unref(w);
    }
    ws->results = NULL;
    pthread_mutex_unlock(&ws->lock);
}

void watchers_release(struct watchers *ws)
{
    bool last;

    pthread_mutex_lock(&ws->lock);
    ws->released = true;
    last = ws->inflight == 0;
    pthread_mutex_unlock(&ws->lock);
    if (last)
        destroy(ws);
}
