/* Probation: one thread per switch in probation, asleep on its condition variable until the
 * next probe round or the deadline (or a commit, a rollback, the daemon stopping).
 *
 * Every SWITCH_PROBE_INTERVAL_S all checks run at once (checks_run_all). A failed round is
 * confirmed once, SWITCH_CONFIRM_DELAY_MS later, so that a blip (a service still binding its
 * port) does not undo a good change; a second failure in a row rolls back — within
 * interval + confirmation (6 s plus the checks' own time-outs) of the failure appearing. At the
 * deadline a last round decides: all passing commits, a confirmed failure rolls back.
 *
 * Receipts stay bounded: a switch.check is written for the first round, for every round whose
 * result differs from the one before, and for the final round, at most SWITCH_CHECK_EVENTS_MAX
 * per switch; the counts of all rounds are in switch.committed / switch.rolled_back. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "checks.h"
#include "common/log.h"
#include "switch-internal.h"

struct round {
    bool ok, final;
    char detail[CHECK_DETAIL_MAX];
};

static void deadline_ts(int64_t mono_ms, struct timespec *ts)
{
    ts->tv_sec = mono_ms / 1000;
    ts->tv_nsec = (mono_ms % 1000) * 1000000;
}

/* Monotonic time of the realtime deadline of s. */
static int64_t deadline_mono(const struct switch_session *s)
{
    return osm_monotonic_ms() + (s->deadline_ms - osm_realtime_ms());
}

/* Under the lock: waits until at, or until s leaves probation / the daemon stops. False when
 * the thread must end. */
static bool sleep_until(struct switches *ss, struct switch_session *s, int64_t at)
{
    struct timespec ts;

    deadline_ts(at, &ts);
    while (!ss->stopping && s->phase == SWITCH_PROBATION && osm_monotonic_ms() < at)
        pthread_cond_timedwait(&s->wake, &ss->lock, &ts);
    return !ss->stopping && s->phase == SWITCH_PROBATION;
}

static void run_round(struct switches *ss, struct switch_session *s, struct round *rd)
{
    rd->detail[0] = '\0';
    rd->ok = s->n_checks == 0 ||
             checks_run_all(ss->w->checks, s->checks, s->n_checks, rd->detail, sizeof(rd->detail));
    if (!rd->ok && !rd->detail[0])
        snprintf(rd->detail, sizeof(rd->detail), "a health check failed");
}

/* Under the lock: the round into the session's history and counters. Returns the receipt to
 * write (new reference) or NULL. */
static json_t *note_round(struct switches *ss, struct switch_session *s, const struct round *rd)
{
    char at[OSM_TS_LEN + 1];
    json_t *last = json_array_get(s->history, json_array_size(s->history) - 1);
    bool changed = !last || json_is_true(json_object_get(last, "ok")) != rd->ok;

    osm_now_ts(at);
    s->rounds++;
    s->failures += !rd->ok;
    json_array_append_new(
        s->history, json_pack("{s:s, s:b, s:s}", "at", at, "ok", rd->ok, "detail", rd->detail));
    while (json_array_size(s->history) > SWITCH_HISTORY_MAX)
        json_array_remove(s->history, 0);
    switch_persist(ss, s);
    if ((!changed && !rd->final) || s->check_events >= SWITCH_CHECK_EVENTS_MAX)
        return NULL;
    s->check_events++;
    return json_pack("{s:s, s:I, s:b, s:s, s:b}", "id", s->id, "round", (json_int_t)s->rounds, "ok",
                     rd->ok, "detail", rd->detail, "final", rd->final);
}

/* Under the lock, which it drops while acting: the outcome of a round. False when the thread
 * is done (s committed or rolled back). */
static bool decide(struct switches *ss, struct switch_session *s, const struct round *rd,
                   bool *confirming)
{
    char reason[CHECK_DETAIL_MAX + 64];
    bool done;

    if (!rd->ok && !*confirming) {
        *confirming = true;
        return true;
    }
    *confirming = false;
    if (!rd->ok) {
        snprintf(reason, sizeof(reason), "health check failed: %s", rd->detail);
        if (switch_claim(ss, s, CLAIM_ROLLBACK, reason) < 0)
            return true;
        pthread_mutex_unlock(&ss->lock);
        switch_do_rollback(ss, s);
        pthread_mutex_lock(&ss->lock);
        return false;
    }
    if (!rd->final || switch_claim(ss, s, CLAIM_COMMIT, NULL) < 0)
        return true;
    pthread_mutex_unlock(&ss->lock);
    done = switch_do_commit(ss, s, false) == 0;
    pthread_mutex_lock(&ss->lock);
    if (!done)
        log_warn("switch.commit", "id=%s note=\"receipt refused; retried next round\"", s->id);
    return !done;
}

static void *probation_main(void *arg)
{
    struct switch_session *s = arg;
    struct switches *ss = s->probation_owner;
    int64_t next = osm_monotonic_ms() + SWITCH_PROBE_INTERVAL_S * 1000;
    bool confirming = false, past_end = false;

    pthread_setname_np(pthread_self(), "watch-probation");
    pthread_mutex_lock(&ss->lock);
    for (;;) {
        int64_t end = deadline_mono(s);
        struct round rd = {0};
        json_t *receipt;

        /* a confirmation, or a retry after the deadline, waits for next, not for the end */
        if (!sleep_until(ss, s, confirming || past_end || next < end ? next : end))
            break;
        if (s->busy) { /* a manual commit or rollback is running */
            next = osm_monotonic_ms() + SWITCH_PROBE_INTERVAL_S * 1000;
            continue;
        }
        rd.final = past_end = osm_monotonic_ms() >= end;
        pthread_mutex_unlock(&ss->lock);
        run_round(ss, s, &rd);
        pthread_mutex_lock(&ss->lock);
        if (ss->stopping || s->phase != SWITCH_PROBATION)
            break;
        if ((receipt = note_round(ss, s, &rd))) {
            pthread_mutex_unlock(&ss->lock);
            switch_receipt(ss, "switch.check", receipt);
            pthread_mutex_lock(&ss->lock);
        }
        if (!decide(ss, s, &rd, &confirming))
            break;
        next = osm_monotonic_ms() +
               (confirming ? SWITCH_CONFIRM_DELAY_MS : SWITCH_PROBE_INTERVAL_S * 1000);
    }
    pthread_mutex_unlock(&ss->lock);
    return NULL;
}

int switch_probation_start(struct switches *ss, struct switch_session *s)
{
    pthread_attr_t a;
    int r;

    if (s->thread_started)
        return 0;
    s->probation_owner = ss;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    r = -pthread_create(&s->thread, &a, probation_main, s);
    pthread_attr_destroy(&a);
    if (r < 0) {
        log_error("switch.probation", "id=%s error=%d reason=\"%s\"", s->id, r, strerror(-r));
        return r;
    }
    s->thread_started = true;
    return 0;
}
