/* A SafeSwitch session as JSON: the record persisted under <data_dir>/switches/ (everything a
 * restart needs, the backend's record included) and the API's view of it (osModa's
 * SwitchSession {id, plan, ttl_secs, health_checks, started_at, previous_generation, status}
 * plus backend, target, deadline_at, diff and checks). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "switch-internal.h"

static const char *const phase_names[] = {
    [SWITCH_BEGIN] = "begin",         [SWITCH_APPLYING] = "applying",
    [SWITCH_PROBATION] = "probation", [SWITCH_ROLLING_BACK] = "rolling_back",
    [SWITCH_COMMITTED] = "committed", [SWITCH_ROLLED_BACK] = "rolled_back",
};

const char *switch_phase_name(enum switch_phase p)
{
    return phase_names[p];
}

int switch_phase_parse(const char *s, enum switch_phase *ret)
{
    for (size_t i = 0; s && i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
        if (strcmp(phase_names[i], s) == 0)
            return *ret = (enum switch_phase)i, 0;
    return -EINVAL;
}

/* osModa's tagged status, with the states of ours in between ("applying", "rolling_back",
 * "rollback_failed"). */
static json_t *status_json(const struct switch_session *s)
{
    switch (s->phase) {
    case SWITCH_COMMITTED:
        return json_pack("{s:s, s:s}", "state", "committed", "committed_at", s->ended_at);
    case SWITCH_ROLLED_BACK:
        return json_pack("{s:s, s:s, s:s}", "state", "rolled_back", "reason", s->reason ?: "",
                         "rolled_back_at", s->ended_at);
    case SWITCH_ROLLING_BACK:
        return json_pack("{s:s, s:s, s:s*}", "state", s->error ? "rollback_failed" : "rolling_back",
                         "reason", s->reason ?: "", "error", s->error);
    case SWITCH_PROBATION:
        return json_pack("{s:s}", "state", "probation");
    default:
        return json_pack("{s:s}", "state", "applying");
    }
}

static json_t *target_json(const struct switch_session *s)
{
    json_t *a = json_array();

    for (const char *t = s->target; a && t && *t; t += strlen(t) + 1)
        json_array_append_new(a, json_string(t));
    return a;
}

json_t *switch_session_json(const struct switch_session *s, bool with_record)
{
    char deadline[OSM_TS_LEN + 1];
    json_t *j;

    osm_format_ts((time_t)(s->deadline_ms / 1000), (unsigned)(s->deadline_ms % 1000), deadline);
    j = json_pack("{s:s, s:O, s:I, s:O, s:s, s:s, s:o, s:s?, s:o, s:s, s:O?, s:s,"
                  " s:{s:I, s:I, s:O}}",
                  "id", s->id, "plan", s->plan, "ttl_secs", (json_int_t)s->ttl_secs,
                  "health_checks", s->health_checks, "started_at", s->started_at,
                  "previous_generation", s->previous_generation ?: "unknown", "status",
                  status_json(s), "backend", s->backend ? s->backend->name : NULL, "target",
                  target_json(s), "deadline_at", deadline, "diff", s->summary, "phase",
                  switch_phase_name(s->phase), "checks", "rounds", (json_int_t)s->rounds,
                  "failures", (json_int_t)s->failures, "history", s->history);
    if (j && with_record) {
        json_object_set(j, "record", s->record ?: json_null());
        json_object_set_new(j, "started_ms", json_integer(s->started_ms));
        json_object_set_new(j, "deadline_ms", json_integer(s->deadline_ms));
        json_object_set_new(j, "check_events", json_integer(s->check_events));
        json_object_set_new(j, "ended_at", json_string(s->ended_at));
    }
    return j;
}

static int target_from_json(const json_t *a, char **ret)
{
    size_t i, len = 1;
    json_t *v;
    char *t, *p;

    json_array_foreach(a, i, v) len += json_string_length(v) + 1;
    if (!(t = calloc(1, len)))
        return -ENOMEM;
    p = t;
    json_array_foreach(a, i, v)
    {
        memcpy(p, json_string_value(v) ?: "", json_string_length(v));
        p += json_string_length(v) + 1;
    }
    *ret = t;
    return 0;
}

static int strdup_opt(const char *s, char **ret)
{
    *ret = NULL;
    return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

static int fill_status(struct switch_session *s, const json_t *status)
{
    const char *reason = json_string_value(json_object_get(status, "reason"));
    const char *error = json_string_value(json_object_get(status, "error"));

    if (strdup_opt(reason, &s->reason) < 0 || strdup_opt(error, &s->error) < 0)
        return -ENOMEM;
    return 0;
}

struct switch_session *switch_session_new(void)
{
    struct switch_session *s = calloc(1, sizeof(*s));
    pthread_condattr_t a;

    if (!s)
        return NULL;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &a);
    pthread_condattr_destroy(&a);
    return s;
}

int switch_session_from_json(const json_t *j, struct switch_session **ret)
{
    struct switch_session *s = switch_session_new();
    const char *id, *started, *prev, *phase, *ended = "", *backend = NULL;
    json_t *plan, *checks, *status, *target, *record = NULL, *summary = NULL, *ch;
    json_int_t ttl, started_ms, deadline_ms, events = 0;
    int r = -EINVAL;

    if (!s)
        return -ENOMEM;
    if (json_unpack((json_t *)j,
                    "{s:s, s:o, s:I, s:o, s:s, s:s, s:o, s?:s, s:o, s?:o, s:s, s:o, s?:o, s:I,"
                    " s:I, s?:I, s?:s}",
                    "id", &id, "plan", &plan, "ttl_secs", &ttl, "health_checks", &checks,
                    "started_at", &started, "previous_generation", &prev, "status", &status,
                    "backend", &backend, "target", &target, "diff", &summary, "phase", &phase,
                    "checks", &ch, "record", &record, "started_ms", &started_ms, "deadline_ms",
                    &deadline_ms, "check_events", &events, "ended_at", &ended) < 0 ||
        strlen(id) != SWITCH_ID_LEN || strlen(started) != OSM_TS_LEN ||
        strlen(ended) > OSM_TS_LEN || switch_phase_parse(phase, &s->phase) < 0 ||
        !json_is_array(target) || (backend && !(s->backend = switch_backend_find(backend))))
        goto fail;
    memcpy(s->id, id, SWITCH_ID_LEN + 1);
    memcpy(s->started_at, started, OSM_TS_LEN + 1);
    memcpy(s->ended_at, ended, strlen(ended) + 1);
    s->plan = json_incref(plan);
    s->health_checks = json_incref(checks);
    s->record = json_is_null(record) ? NULL : json_incref(record);
    s->summary = json_is_null(summary) ? NULL : json_incref(summary);
    s->ttl_secs = ttl;
    s->started_ms = started_ms;
    s->deadline_ms = deadline_ms;
    s->check_events = events;
    s->rounds = json_integer_value(json_object_get(ch, "rounds"));
    s->failures = json_integer_value(json_object_get(ch, "failures"));
    s->history = json_deep_copy(json_object_get(ch, "history") ?: json_array());
    if ((r = strdup_opt(prev, &s->previous_generation)) < 0 || (r = fill_status(s, status)) < 0 ||
        (r = target_from_json(target, &s->target)) < 0 || !s->history)
        goto fail;
    *ret = s;
    return 0;
fail:
    switch_session_free(s);
    return r < 0 ? r : -ENOMEM;
}

void switch_session_free(struct switch_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_checks; i++)
        check_free(s->checks[i]);
    free(s->checks);
    json_decref(s->plan);
    json_decref(s->health_checks);
    json_decref(s->record);
    json_decref(s->summary);
    json_decref(s->history);
    free(s->previous_generation);
    free(s->target);
    free(s->reason);
    free(s->error);
    pthread_cond_destroy(&s->wake);
    free(s);
}
