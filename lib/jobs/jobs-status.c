/* What a client sees of a job (job_status), and waiting for one to settle (job_wait): woken by
 * the state changes the jobs layer broadcasts, never by polling the table. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "jobs-internal.h"
#include "sandbox/sandbox.h"

static void copy_key(json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
    json_t *v = json_object_get(src, skey);

    json_object_set(dst, dkey, v ? v : json_null());
}

static void copy_if_string(json_t *dst, const json_t *src, const char *key)
{
    if (json_is_string(json_object_get(src, key)))
        copy_key(dst, key, src, key);
}

/* The runner's record: reason (activity_timeout, job_kill), oom_killed, ... */
static void copy_runner_record(json_t *o, const json_t *result)
{
    static const char *const keys[] = {"reason",      "oom_killed",   "pids_limit_hit",
                                       "duration_ms", "output_bytes", "output_truncated"};

    for (size_t i = 0; json_is_object(result) && i < ELEMENTSOF(keys); i++)
        if (json_object_get(result, keys[i]))
            copy_key(o, keys[i], result, keys[i]);
}

static json_t *status_json(struct osm_jobs *j, const json_t *row, int64_t offset)
{
    static const char *const keys[] = {"tool",       "status",     "ring",     "exit_code",
                                       "created_at", "started_at", "ended_at", "approval_id"};
    json_t *o = json_object(), *result = NULL;
    const char *rtext = jobs_row_str(row, "result"), *kind = jobs_row_str(row, "kind");

    if (!o)
        return NULL;
    copy_key(o, "id", row, "id");
    copy_key(o, "job_id", row, "id");
    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        copy_key(o, keys[i], row, keys[i]);
    copy_if_string(o, row, "error");
    copy_if_string(o, row, "message");
    copy_if_string(o, row, "command");
    json_object_set_new(o, "limits_applied",
                        json_boolean(json_integer_value(json_object_get(row, "limits_applied"))));
    copy_if_string(o, row, "limits_error");
    if (rtext)
        result = json_loads(rtext, JSON_DECODE_ANY, NULL);
    if (kind && strcmp(kind, "process") == 0) {
        copy_runner_record(o, result);
        json_decref(result);
        json_object_set_new(o, "result", json_null());
        jobs_read_output(j, jobs_row_str(row, "id"), offset, o);
    } else {
        json_object_set_new(o, "result", result ? result : json_null());
        json_object_set_new(o, "output", json_null());
        json_object_set_new(o, "output_offset", json_integer(0));
        json_object_set_new(o, "next_offset", json_integer(0));
    }
    return o;
}

int osm_jobs_status(struct osm_jobs *j, const char *id, int64_t offset, json_t **ret)
{
    int r;
    json_t *row = jobs_row_load(j, id, &r);

    if (!row)
        return r;
    *ret = status_json(j, row, offset);
    json_decref(row);
    return *ret ? 0 : -ENOMEM;
}

static bool settled(const json_t *st)
{
    const char *s = json_string_value(json_object_get(st, "status"));

    return s && strcmp(s, "running") != 0 && strcmp(s, "pending_approval") != 0 &&
           strcmp(s, "starting") != 0;
}

/* The state-change count, or UINT64_MAX once the jobs layer is closing (waits end). */
static uint64_t generation(struct osm_jobs *j)
{
    uint64_t g;

    pthread_mutex_lock(&j->lock);
    g = j->stopping ? UINT64_MAX : j->generation;
    pthread_mutex_unlock(&j->lock);
    return g;
}

/* Sleeps until a state changes after seen, or the deadline (monotonic ms). */
static void wait_change(struct osm_jobs *j, uint64_t seen, int64_t deadline_ms)
{
    int64_t left = deadline_ms - osm_monotonic_ms();
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&j->lock);
    while (j->generation == seen && !j->stopping && osm_monotonic_ms() < deadline_ms)
        if (pthread_cond_timedwait(&j->changed, &j->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&j->lock);
}

int osm_jobs_wait(struct osm_jobs *j, const char *id, int64_t timeout_ms, json_t **ret)
{
    int64_t deadline;
    json_t *st = NULL;
    int r;

    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > OSM_JOB_WAIT_MAX_MS)
        timeout_ms = OSM_JOB_WAIT_MAX_MS;
    deadline = osm_monotonic_ms() + timeout_ms;
    for (;;) {
        uint64_t seen = generation(j);
        if ((r = osm_jobs_status(j, id, -1, &st)) < 0)
            return r;
        if (settled(st) || osm_monotonic_ms() >= deadline || seen == UINT64_MAX)
            break;
        json_decref(TAKE_PTR(st));
        wait_change(j, seen, deadline);
    }
    json_object_set_new(st, "timed_out", json_boolean(!settled(st)));
    *ret = st;
    return 0;
}
