/* SafeSwitch sessions: the list, recovery at start, commit and rollback, and the routes that
 * read or end a session. Begin is in switch-begin.c, the probation threads in
 * switch-probation.c, the record store in switch-store.c.
 *
 * A rollback is the safe direction: it runs even when its receipt cannot be written (the
 * failure is logged); a commit keeps the change, so it happens only once switch.committed is
 * recorded. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "common/fileio.h"
#include "common/log.h"
#include "ipc/errors.h"
#include "switch-internal.h"

int switch_receipt(struct switches *ss, const char *type, json_t *payload)
{
    int r = watch_emit(&ss->w->events, type, payload);

    if (r < 0)
        log_warn("switch.receipt", "type=%s error=%d reason=\"%s\"", type, r, strerror(-r));
    return r;
}

int switch_persist(struct switches *ss, struct switch_session *s)
{
    int r = switch_store_save(ss->dir, s);

    if (r < 0)
        log_error("switch.persist", "id=%s phase=%s error=%d reason=\"%s\"", s->id,
                  switch_phase_name(s->phase), r, strerror(-r));
    return r;
}

int switch_parse_checks(struct switch_session *s, char *err, size_t errlen)
{
    size_t i, n = json_array_size(s->health_checks);
    json_t *c;
    int r;

    if (!json_is_array(s->health_checks) || n > SWITCH_CHECKS_MAX)
        return snprintf(err, errlen, "health_checks: an array of at most %d checks",
                        SWITCH_CHECKS_MAX),
               -EINVAL;
    if (n && !(s->checks = calloc(n, sizeof(*s->checks))))
        return -ENOMEM;
    json_array_foreach(s->health_checks, i, c)
    {
        char e[200] = "";
        if ((r = check_parse(c, &s->checks[i], e, sizeof(e))) < 0)
            return snprintf(err, errlen, "health_checks[%zu]: %s", i, *e ? e : strerror(-r)), r;
        s->n_checks++;
    }
    return 0;
}

static void set_str(char **p, const char *v)
{
    free(*p);
    *p = v ? strdup(v) : NULL;
}

int switch_claim(struct switches *ss, struct switch_session *s, enum switch_claim c,
                 const char *reason)
{
    bool ok = s->phase == SWITCH_PROBATION ||
              (c != CLAIM_COMMIT && s->phase == SWITCH_ROLLING_BACK && s->error) ||
              (c == CLAIM_ROLLBACK_ANY && s->phase == SWITCH_COMMITTED);

    if (s->busy)
        return -EBUSY;
    if (!ok)
        return -EALREADY;
    s->busy = true;
    if (c == CLAIM_COMMIT)
        return 0;
    if (s->phase != SWITCH_ROLLING_BACK)
        set_str(&s->reason, reason);
    s->phase = SWITCH_ROLLING_BACK;
    pthread_cond_broadcast(&s->wake);
    switch_persist(ss, s);
    return 0;
}

/* A text plan has no backend: the nixos backend restores the generation recorded at begin when
 * there was a system profile; otherwise nothing is restored. */
static int backend_rollback(struct switches *ss, struct switch_session *s, bool *restored,
                            char *err, size_t errlen)
{
    json_auto_t *nixplan = NULL;

    *restored = true;
    if (s->backend)
        return s->backend->rollback(&ss->env, s->plan, s->record, err, errlen);
    if (!s->record) {
        *restored = false;
        return 0;
    }
    nixplan =
        json_pack("{s:s, s:s}", "backend", "nixos", "store_path", s->previous_generation ?: "");
    return nixplan ? switch_backend_nixos.rollback(&ss->env, nixplan, s->record, err, errlen)
                   : -ENOMEM;
}

static json_t *rolled_back_payload(const struct switch_session *s, bool restored)
{
    json_t *p = json_pack("{s:s, s:s, s:O?, s:b, s:I, s:I}", "id", s->id, "reason", s->reason ?: "",
                          "summary", s->summary, "restored", restored, "rounds",
                          (json_int_t)s->rounds, "failures", (json_int_t)s->failures);

    if (p && !restored)
        json_object_set_new(p, "note",
                            json_string("the caller applied this change; there was no "
                                        "system profile for watch to restore"));
    return p;
}

int switch_do_rollback(struct switches *ss, struct switch_session *s)
{
    char err[512] = "";
    bool restored;
    int r = backend_rollback(ss, s, &restored, err, sizeof(err));

    pthread_mutex_lock(&ss->lock);
    if (r < 0) {
        set_str(&s->error, *err ? err : strerror(-r));
    } else {
        set_str(&s->error, NULL);
        s->phase = SWITCH_ROLLED_BACK;
        osm_now_ts(s->ended_at);
    }
    switch_persist(ss, s);
    s->busy = false;
    pthread_mutex_unlock(&ss->lock);
    if (r < 0) {
        log_error("switch.rollback", "id=%s error=%d reason=\"%s\"", s->id, r, err);
        switch_receipt(ss, "switch.rollback_failed",
                       json_pack("{s:s, s:s, s:s}", "id", s->id, "reason", s->reason ?: "", "error",
                                 *err ? err : strerror(-r)));
        return r;
    }
    log_info("switch.rolled_back", "id=%s", s->id);
    switch_receipt(ss, "switch.rolled_back", rolled_back_payload(s, restored));
    return 0;
}

int switch_do_commit(struct switches *ss, struct switch_session *s, bool manual)
{
    int r = switch_receipt(ss, "switch.committed",
                           json_pack("{s:s, s:O?, s:I, s:I, s:b}", "id", s->id, "summary",
                                     s->summary, "rounds", (json_int_t)s->rounds, "failures",
                                     (json_int_t)s->failures, "manual", manual));

    pthread_mutex_lock(&ss->lock);
    if (r == 0) {
        s->phase = SWITCH_COMMITTED;
        osm_now_ts(s->ended_at);
        pthread_cond_broadcast(&s->wake);
        switch_persist(ss, s);
    }
    s->busy = false;
    pthread_mutex_unlock(&ss->lock);
    return r;
}

/* ---- start: recovery of what a stop or a crash left half way ---- */

static const char *recovery_reason(struct switch_session *s, char *err, size_t errlen)
{
    switch (s->phase) {
    case SWITCH_APPLYING:
        return "osmoda-watch stopped while the change was being applied";
    case SWITCH_PROBATION:
        if (s->deadline_ms <= osm_realtime_ms())
            return "the probation deadline passed while osmoda-watch was down";
        if (switch_parse_checks(s, err, errlen) < 0)
            return "the health checks no longer parse";
        return NULL;
    default:
        return NULL;
    }
}

static int recover(struct switches *ss, struct switch_session *s)
{
    char err[256] = "";
    const char *reason = NULL;

    if (s->phase == SWITCH_BEGIN) { /* nothing had changed yet */
        s->phase = SWITCH_ROLLED_BACK;
        set_str(&s->reason, "osmoda-watch stopped before the change was applied");
        osm_now_ts(s->ended_at);
        return switch_persist(ss, s);
    }
    if (s->phase == SWITCH_ROLLING_BACK || (reason = recovery_reason(s, err, sizeof(err)))) {
        if (s->phase != SWITCH_ROLLING_BACK || !s->reason)
            set_str(&s->reason, s->phase == SWITCH_ROLLING_BACK
                                    ? "osmoda-watch stopped during the rollback"
                                    : reason);
        s->phase = SWITCH_ROLLING_BACK;
        s->busy = true;
        switch_persist(ss, s);
        log_info("switch.recover", "id=%s action=rollback reason=\"%s\"", s->id, s->reason);
        switch_do_rollback(ss, s);
        return 0;
    }
    if (s->phase == SWITCH_PROBATION) {
        log_info("switch.recover", "id=%s action=resume", s->id);
        return switch_probation_start(ss, s);
    }
    return 0;
}

static int adopt(void *ctx, struct switch_session *s)
{
    struct switches *ss = ctx;

    pthread_mutex_lock(&ss->lock);
    s->next = ss->head;
    ss->head = s;
    pthread_mutex_unlock(&ss->lock);
    if (recover(ss, s) < 0)
        log_warn("switch.recover", "id=%s note=\"left as it was\"", s->id);
    return 0;
}

static int init_paths(struct switches *ss, struct watch *w)
{
    ss->dir = osm_path_join(w->data_dir, "switches");
    ss->store_dir = ss->dir ? osm_path_join(ss->dir, "store") : NULL;
    if (!ss->store_dir)
        return -ENOMEM;
    ss->protected_dirs[0] = w->data_dir;
    ss->protected_dirs[1] = w->state_dir;
    ss->protected_dirs[2] = w->run_dir;
    ss->env = (struct switch_env){.store_dir = ss->store_dir,
                                  .nixos_profile = w->nixos_profile ?: SWITCH_NIXOS_PROFILE,
                                  .svc = w->svc,
                                  .fim = w->fim,
                                  .events = &w->events,
                                  .protected_dirs = ss->protected_dirs};
    return osm_mkdir_p(ss->store_dir, 0700);
}

int switches_open(struct watch *w, struct switches **ret)
{
    struct switches *ss = calloc(1, sizeof(*ss));
    int r;

    if (!ss)
        return -ENOMEM;
    pthread_mutex_init(&ss->lock, NULL);
    ss->w = w;
    if ((r = init_paths(ss, w)) < 0 || (r = switch_store_load(ss->dir, adopt, ss)) < 0) {
        switches_free(ss);
        return r;
    }
    *ret = ss;
    return 0;
}

void switches_free(struct switches *ss)
{
    struct switch_session *s, *next;

    if (!ss)
        return;
    pthread_mutex_lock(&ss->lock);
    ss->stopping = true;
    for (s = ss->head; s; s = s->next)
        pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&ss->lock);
    for (s = ss->head; s; s = s->next)
        if (s->thread_started)
            pthread_join(s->thread, NULL);
    for (s = ss->head; s; s = next) {
        next = s->next;
        switch_session_free(s);
    }
    pthread_mutex_destroy(&ss->lock);
    free(ss->dir);
    free(ss->store_dir);
    free(ss);
}

size_t switches_active(struct switches *ss)
{
    size_t n = 0;

    if (!ss)
        return 0;
    pthread_mutex_lock(&ss->lock);
    for (struct switch_session *s = ss->head; s; s = s->next)
        n += s->phase == SWITCH_PROBATION;
    pthread_mutex_unlock(&ss->lock);
    return n;
}

/* ---- the newest switch that can still be rolled back ---- */

static bool targets_overlap(const char *a, const char *b)
{
    for (const char *x = a; x && *x; x += strlen(x) + 1)
        for (const char *y = b; y && *y; y += strlen(y) + 1)
            if (strcmp(x, y) == 0)
                return true;
    return false;
}

static bool restorable(const struct switch_session *s)
{
    return s->backend || s->record;
}

/* Newest first: a switch in probation, or a committed one whose targets no newer switch (other
 * than a rolled back one) has changed since. */
static struct switch_session *latest_rollbackable(struct switches *ss)
{
    for (struct switch_session *s = ss->head; s; s = s->next) {
        bool superseded = false;
        if (s->phase == SWITCH_ROLLED_BACK || !restorable(s))
            continue;
        for (struct switch_session *t = ss->head; t != s && !superseded; t = t->next)
            superseded = t->phase != SWITCH_ROLLED_BACK && restorable(t) &&
                         targets_overlap(s->target, t->target);
        if (!superseded && !s->busy &&
            (s->phase == SWITCH_PROBATION || s->phase == SWITCH_COMMITTED))
            return s;
    }
    return NULL;
}

int switches_rollback_latest(struct switches *ss, const char *reason, json_t **ret)
{
    struct switch_session *s;
    int r;

    if (!ss)
        return -ENOENT;
    pthread_mutex_lock(&ss->lock);
    s = latest_rollbackable(ss);
    r = s ? switch_claim(ss, s, CLAIM_ROLLBACK_ANY, reason ?: "rollback requested") : -ENOENT;
    pthread_mutex_unlock(&ss->lock);
    if (r < 0)
        return r;
    r = switch_do_rollback(ss, s);
    pthread_mutex_lock(&ss->lock);
    *ret = switch_session_json(s, false);
    pthread_mutex_unlock(&ss->lock);
    return r < 0 ? r : *ret ? 0 : -ENOMEM;
}

json_t *switches_generations(struct switches *ss)
{
    json_t *gens = json_array(), *current = json_null();

    if (!ss)
        return json_pack("{s:s, s:n, s:o}", "backend", "safeswitch", "current", "generations",
                         gens);
    pthread_mutex_lock(&ss->lock);
    for (struct switch_session *s = ss->head; s && json_array_size(gens) < 50; s = s->next) {
        json_t *st = switch_session_json(s, false);
        if (json_is_null(current) && (s->phase == SWITCH_PROBATION || s->phase == SWITCH_COMMITTED))
            current = json_string(s->id);
        json_array_append_new(
            gens, json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "id", s->id, "backend",
                            json_object_get(st, "backend"), "status", json_object_get(st, "status"),
                            "started_at", json_object_get(st, "started_at"), "target",
                            json_object_get(st, "target"), "diff", json_object_get(st, "diff")));
        json_decref(st);
    }
    pthread_mutex_unlock(&ss->lock);
    return json_pack("{s:s, s:o, s:o}", "backend", "safeswitch", "current", current, "generations",
                     gens);
}

/* ---- routes ---- */

static struct switch_session *find(struct switches *ss, const char *id)
{
    for (struct switch_session *s = ss->head; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

json_t *switch_route_list(struct osm_request *req)
{
    struct switches *ss = ((struct watch *)req->userdata)->switches;
    json_t *err, *list;
    int64_t limit;

    if ((err = osm_request_query_int(req, "limit", SWITCH_RECORDS_MAX, 0, SWITCH_RECORDS_MAX,
                                     &limit)))
        return err;
    if (!(list = json_array()))
        return NULL;
    pthread_mutex_lock(&ss->lock);
    for (struct switch_session *s = ss->head; s && (int64_t)json_array_size(list) < limit;
         s = s->next)
        json_array_append_new(list, switch_session_json(s, false));
    pthread_mutex_unlock(&ss->lock);
    return list;
}

json_t *switch_route_status(struct osm_request *req)
{
    struct switches *ss = ((struct watch *)req->userdata)->switches;
    struct switch_session *s;
    json_t *j = NULL;

    pthread_mutex_lock(&ss->lock);
    if ((s = find(ss, req->param[0])))
        j = switch_session_json(s, false);
    pthread_mutex_unlock(&ss->lock);
    return s ? j : osm_error(req, 404, "not_found", NULL, "no switch session %s", req->param[0]);
}

/* Finds and claims the session of the request; on failure returns the error envelope. */
static json_t *claim_of(struct osm_request *req, enum switch_claim c, const char *reason,
                        struct switch_session **ret)
{
    struct switches *ss = ((struct watch *)req->userdata)->switches;
    struct switch_session *s;
    int r = -ENOENT;

    pthread_mutex_lock(&ss->lock);
    if ((s = find(ss, req->param[0])))
        r = switch_claim(ss, s, c, reason);
    pthread_mutex_unlock(&ss->lock);
    *ret = s;
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no switch session %s", req->param[0]);
    if (r == -EBUSY)
        return osm_error(req, 409, "conflict", NULL, "switch session %s is busy", s->id);
    if (r < 0)
        return osm_error(req, 409, "conflict", NULL, "switch session is not in probation");
    return NULL;
}

static json_t *session_answer(struct switches *ss, struct switch_session *s)
{
    json_t *j;

    pthread_mutex_lock(&ss->lock);
    j = switch_session_json(s, false);
    pthread_mutex_unlock(&ss->lock);
    return j;
}

json_t *switch_route_commit(struct osm_request *req)
{
    struct switches *ss = ((struct watch *)req->userdata)->switches;
    struct switch_session *s;
    json_t *err = claim_of(req, CLAIM_COMMIT, NULL, &s);
    int r;

    if (err)
        return err;
    if ((r = switch_do_commit(ss, s, true)) < 0)
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "switch.committed could not be recorded: the switch stays in probation");
    return session_answer(ss, s);
}

json_t *switch_route_rollback(struct osm_request *req)
{
    struct switches *ss = ((struct watch *)req->userdata)->switches;
    struct switch_session *s;
    json_t *err = claim_of(req, CLAIM_ROLLBACK, "manual rollback", &s);

    if (err)
        return err;
    if (switch_do_rollback(ss, s) < 0)
        return osm_error(req, 500, "rollback_failed", session_answer(ss, s),
                         "the rollback of %s failed; it is retried at the next start or on "
                         "request",
                         s->id);
    return session_answer(ss, s);
}
