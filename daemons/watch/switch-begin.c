/* POST /switch/begin: one SafeSwitch transaction from validation to probation.
 *
 *   validate (plan, ttl, checks, the backend's own checks) → one switch per target (409) →
 *   record {begin} → receipt switch.begin → snapshot (prepare) → record {applying} → apply →
 *   record {probation} → receipt switch.applied → the probation thread.
 *
 * Nothing changes before switch.begin is in the ledger; a failure after the apply started ends
 * in a rollback. A text plan (osModa's) describes a change the caller already made: watch only
 * records the system profile's generation, for a rollback through the nixos backend. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "ipc/errors.h"
#include "jobs/jobs.h"
#include "switch-internal.h"

struct begin {
    struct switches *ss;
    struct switch_session *s;
    char err[512];
};

/* ---- validation ---- */

static json_t *bad(struct osm_request *req, int r, const char *err)
{
    if (r == -EOPNOTSUPP)
        return osm_error(req, 503, "not_enabled", NULL, "%s", err);
    if (r == -EPERM)
        return osm_error(req, 403, "forbidden", NULL, "%s", err);
    return osm_error(req, 400, "bad_request", NULL, "%s", err);
}

static int text_plan(struct begin *b)
{
    struct switch_env *env = &b->ss->env;
    char link[PATH_MAX];
    ssize_t n = readlink(env->nixos_profile, link, sizeof(link) - 1);
    size_t len = strlen(env->nixos_profile);

    b->s->previous_generation = strdup(n > 0 ? (link[n] = '\0', link) : "unknown");
    if (!b->s->previous_generation || !(b->s->target = calloc(1, len + 2)))
        return -ENOMEM;
    memcpy(b->s->target, env->nixos_profile, len);
    return 0;
}

static int backend_plan(struct begin *b)
{
    const struct switch_backend *be;
    const char *name = json_string_value(json_object_get(b->s->plan, "backend"));
    int r;

    if (!(be = switch_backend_find(name)))
        return snprintf(b->err, sizeof(b->err),
                        "plan.backend: unknown backend \"%s\" (files, "
                        "nix-profile, nixos)",
                        name ?: ""),
               -EINVAL;
    b->s->backend = be;
    if (!(b->s->target = calloc(1, SWITCH_TARGET_MAX)))
        return -ENOMEM;
    r = be->validate(&b->ss->env, b->s->plan, b->s->target, SWITCH_TARGET_MAX, b->err,
                     sizeof(b->err));
    b->s->previous_generation = strdup("unknown");
    return r < 0 ? r : b->s->previous_generation ? 0 : -ENOMEM;
}

static json_t *parse_request(struct osm_request *req, struct begin *b)
{
    json_t *plan, *checks, *err;
    json_int_t ttl;
    struct switch_session *s = b->s;
    int r;

    if ((err = osm_request_unpack(req, "{s:o, s:I, s:o}", "plan", &plan, "ttl_secs", &ttl,
                                  "health_checks", &checks)))
        return err;
    if (ttl < 1 || ttl > SWITCH_TTL_MAX_S)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "ttl_secs"),
                         "ttl_secs: 1 to %d seconds", SWITCH_TTL_MAX_S);
    if (json_is_string(plan) &&
        (json_string_length(plan) == 0 || json_string_length(plan) > SWITCH_TEXT_PLAN_MAX))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "plan"),
                         "plan: 1 to %d bytes of text", SWITCH_TEXT_PLAN_MAX);
    if (!json_is_string(plan) && !json_is_object(plan))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "plan"),
                         "plan: a text or an object naming a backend");
    s->plan = json_incref(plan);
    s->health_checks = json_incref(checks);
    s->ttl_secs = ttl;
    if ((r = switch_parse_checks(s, b->err, sizeof(b->err))) < 0)
        return bad(req, r == -ENOSYS ? -EOPNOTSUPP : r, b->err);
    r = json_is_string(plan) ? text_plan(b) : backend_plan(b);
    return r < 0 ? bad(req, r, *b->err ? b->err : strerror(-r)) : NULL;
}

/* ---- one switch per target ---- */

static struct switch_session *conflicting(struct switches *ss, const struct switch_session *s,
                                          const char **ret_target)
{
    for (struct switch_session *o = ss->head; o; o = o->next) {
        if (o->phase >= SWITCH_COMMITTED)
            continue;
        for (const char *x = s->target; *x; x += strlen(x) + 1)
            for (const char *y = o->target; y && *y; y += strlen(y) + 1)
                if (strcmp(x, y) == 0)
                    return *ret_target = y, o;
    }
    return NULL;
}

static size_t open_count(struct switches *ss)
{
    size_t n = 0;

    for (struct switch_session *o = ss->head; o; o = o->next)
        n += o->phase < SWITCH_COMMITTED;
    return n;
}

/* Under the lock: checks the conflicts and puts s at the head of the list, busy. */
static json_t *reserve(struct osm_request *req, struct begin *b)
{
    struct switches *ss = b->ss;
    struct switch_session *o;
    const char *t = NULL;
    json_t *err = NULL;

    pthread_mutex_lock(&ss->lock);
    if (ss->stopping)
        err = osm_error(req, 503, "not_ready", NULL, "osmoda-watch is stopping");
    else if ((o = conflicting(ss, b->s, &t)))
        err = osm_error(req, 409, "conflict", json_pack("{s:s, s:s}", "switch", o->id, "target", t),
                        "switch %s is already changing %s", o->id, t);
    else if (open_count(ss) >= SWITCH_ACTIVE_MAX)
        err = osm_error(req, 503, "busy", NULL, "%d switches are open already", SWITCH_ACTIVE_MAX);
    if (!err) {
        b->s->busy = true;
        b->s->next = ss->head;
        ss->head = b->s;
    }
    pthread_mutex_unlock(&ss->lock);
    return err;
}

static void unlink_session(struct switches *ss, struct switch_session *s)
{
    pthread_mutex_lock(&ss->lock);
    for (struct switch_session **p = &ss->head; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&ss->lock);
}

/* ---- the transaction ---- */

/* The plan as receipts show it: file contents are left out (their hashes are in the diff). */
static json_t *plan_brief(const json_t *plan)
{
    json_t *p, *paths, *files = json_object_get(plan, "files");
    const char *path;
    json_t *v;

    if (!json_is_object(plan) || !json_is_object(files))
        return json_incref((json_t *)plan);
    if (!(p = json_copy((json_t *)plan)) || !(paths = json_array()))
        return json_decref(p), NULL;
    json_object_foreach(files, path, v) json_array_append_new(paths, json_string(path));
    json_object_set_new(p, "files", paths);
    return p;
}

static int record_begin(struct begin *b)
{
    struct switch_session *s = b->s;
    int r;

    osm_uuid(s->id);
    s->started_ms = osm_realtime_ms();
    s->deadline_ms = s->started_ms + s->ttl_secs * 1000;
    osm_format_ts((time_t)(s->started_ms / 1000), (unsigned)(s->started_ms % 1000), s->started_at);
    s->phase = SWITCH_BEGIN;
    if (!(s->history = json_array()))
        return -ENOMEM;
    if ((r = switch_store_save(b->ss->dir, s)) < 0)
        return snprintf(b->err, sizeof(b->err), "the switch could not be recorded: %s",
                        strerror(-r)),
               r;
    return 0;
}

static json_t *begin_payload(const struct switch_session *s)
{
    json_t *j = switch_session_json(s, false), *p;

    if (!j)
        return NULL;
    p = json_pack("{s:s, s:s, s:O, s:I, s:O, s:s, s:o?, s:s}", "id", s->id, "backend",
                  s->backend ? s->backend->name : "text", "target", json_object_get(j, "target"),
                  "ttl_secs", (json_int_t)s->ttl_secs, "health_checks", s->health_checks,
                  "previous_generation", s->previous_generation, "plan", plan_brief(s->plan),
                  "deadline_at", json_string_value(json_object_get(j, "deadline_at")));
    json_decref(j);
    return p;
}

/* A text plan on a host with a system profile: the nixos backend records the generation now
 * (the plan it is given is the system as it is, so its checks pass). */
static void prepare_text(struct begin *b)
{
    struct switch_session *s = b->s;
    json_auto_t *nixplan = NULL;
    char err[256] = "", real[PATH_MAX];
    int r;

    if (strcmp(s->previous_generation, "unknown") == 0 || !realpath(b->ss->env.nixos_profile, real))
        return;
    nixplan = json_pack("{s:s, s:s}", "backend", "nixos", "store_path", real);
    if (nixplan &&
        (r = switch_backend_nixos.prepare(&b->ss->env, nixplan, &s->record, err, sizeof(err))) < 0)
        log_warn("switch.begin", "id=%s note=\"no generation recorded\" error=%d reason=\"%s\"",
                 s->id, r, err);
}

static void set_phase(struct begin *b, enum switch_phase p)
{
    pthread_mutex_lock(&b->ss->lock);
    b->s->phase = p;
    switch_persist(b->ss, b->s);
    pthread_mutex_unlock(&b->ss->lock);
}

/* Apply failed half way (or its receipt could not be written): roll back at once. */
static void abort_applied(struct begin *b, const char *why)
{
    char reason[700];

    snprintf(reason, sizeof(reason), "%s: %s", why, b->err);
    pthread_mutex_lock(&b->ss->lock);
    free(b->s->reason);
    b->s->reason = strdup(reason);
    b->s->phase = SWITCH_ROLLING_BACK;
    switch_persist(b->ss, b->s);
    pthread_mutex_unlock(&b->ss->lock);
    log_warn("switch.begin", "id=%s reason=\"%s\" action=rollback", b->s->id, reason);
    switch_do_rollback(b->ss, b->s);
}

/* prepare, apply; 0 in probation, else -errno with the switch rolled back. */
static int run_change(struct begin *b)
{
    struct switch_session *s = b->s;
    const struct switch_backend *be = s->backend;
    json_t *summary;
    int r;

    if (!be) {
        prepare_text(b);
        return 0;
    }
    if ((r = be->prepare(&b->ss->env, s->plan, &s->record, b->err, sizeof(b->err))) < 0) {
        s->record = NULL;
        abort_applied(b, "the snapshot failed");
        return r;
    }
    set_phase(b, SWITCH_APPLYING);
    if ((r = be->apply(&b->ss->env, s->plan, s->record, b->err, sizeof(b->err))) < 0) {
        abort_applied(b, "apply failed");
        return r;
    }
    summary = be->summary(s->plan, s->record);
    pthread_mutex_lock(&b->ss->lock); /* the list route reads it */
    s->summary = summary;
    pthread_mutex_unlock(&b->ss->lock);
    return 0;
}

static json_t *answer(struct begin *b)
{
    json_t *j = switch_session_json(b->s, false);

    /* osModa's answer had status as a plain string */
    if (j)
        json_object_set(j, "status", json_object_get(json_object_get(j, "status"), "state"));
    return j;
}

static json_t *failed(struct osm_request *req, struct begin *b, int status, const char *code)
{
    json_t *detail;

    pthread_mutex_lock(&b->ss->lock);
    detail = switch_session_json(b->s, false);
    pthread_mutex_unlock(&b->ss->lock);
    return osm_error(req, status, code, detail, "%s", b->err);
}

static json_t *transaction(struct osm_request *req, struct begin *b)
{
    struct switches *ss = b->ss;
    struct switch_session *s = b->s;
    int r;

    if ((r = record_begin(b)) < 0) {
        unlink_session(ss, s);
        return osm_error(req, 500, "internal", NULL, "%s", b->err);
    }
    if ((r = switch_receipt(ss, "switch.begin", begin_payload(s))) < 0) {
        unlink_session(ss, s);
        switch_store_remove(ss->dir, s->id);
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "switch.begin could not be recorded (%s): nothing was changed",
                         strerror(-r));
    }
    if (run_change(b) < 0)
        return failed(req, b, 422, "switch_failed");
    set_phase(b, SWITCH_PROBATION);
    if ((r = switch_receipt(ss, "switch.applied",
                            json_pack("{s:s, s:s, s:O?}", "id", s->id, "backend",
                                      s->backend ? s->backend->name : "text", "diff",
                                      s->summary))) < 0) {
        snprintf(b->err, sizeof(b->err), "%s", strerror(-r));
        abort_applied(b, "switch.applied could not be recorded");
        return failed(req, b, 503, "ledger_unavailable");
    }
    pthread_mutex_lock(&ss->lock);
    s->busy = false;
    r = switch_probation_start(ss, s);
    pthread_mutex_unlock(&ss->lock);
    log_info("switch.begin", "id=%s backend=%s ttl_secs=%lld checks=%zu", s->id,
             s->backend ? s->backend->name : "text", (long long)s->ttl_secs, s->n_checks);
    return answer(b);
}

json_t *switch_route_begin(struct osm_request *req)
{
    struct watch *w = req->userdata;
    struct begin b = {.ss = w->switches};
    json_t *err;

    if (!(b.s = switch_session_new()))
        return NULL;
    if ((err = parse_request(req, &b)) || (err = reserve(req, &b))) {
        switch_session_free(b.s);
        return err;
    }
    err = transaction(req, &b);
    if (req->status >= 400 && b.s->phase == SWITCH_BEGIN)
        switch_session_free(b.s); /* refused before anything changed: unlinked, forgotten */
    return err;
}
