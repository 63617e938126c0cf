/* The process backend (svc.h): osmoda-watch supervises its services as its own children.
 * API calls take the backend's lock, record the action as an event, set what is wanted and
 * wait for the supervisor thread (svc-process-loop.c) to do it. The state machine of one
 * service lives here:
 *   spawn → activating (notify, until READY=1) or active
 *   exit asked by stop → inactive
 *   exit otherwise → service.crashed; then by the restart policy either inactive/failed, or a
 *   restart after 100 ms doubling to 60 s (service.restart), unless the start limit (burst
 *   starts within the interval) is reached: failed, service.failed {reason: start-limit}.
 * The backoff starts again from 100 ms once a process stayed up for the start-limit interval.
 * A manual start clears the start-limit window and the backoff. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "svc-process-internal.h"

#define WAIT_MARGIN_MS 5000 /* beyond the grace period, before an API call stops waiting */

static struct proc_backend *backend(struct svc *s)
{
    return (struct proc_backend *)s;
}

static const char *const state_names[][2] = {
    [PS_INACTIVE] = {"inactive", "dead"},
    [PS_ACTIVATING] = {"activating", "start"},
    [PS_ACTIVE] = {"active", "running"},
    [PS_AUTO_RESTART] = {"activating", "auto-restart"},
    [PS_DEACTIVATING] = {"deactivating", "stop-sigterm"},
    [PS_FAILED] = {"failed", "failed"},
};

static void set_state(struct proc_svc *p, enum proc_state st)
{
    p->state = st;
    p->since_ms = osm_realtime_ms();
}

static int emit(struct proc_backend *b, const char *type, json_t *payload)
{
    int r = watch_emit(&b->base.events, type, payload);

    if (r < 0)
        log_error("svc.event", "type=%s error=%d reason=\"%s\"", type, r, strerror(-r));
    return r;
}

/* ---- the state machine (supervisor thread, lock held) ------------------------------------ */

static int start_record(struct proc_backend *b, struct proc_svc *p, int64_t now)
{
    size_t burst = (size_t)b->start_limit_burst;

    if (!p->starts && !(p->starts = calloc(burst, sizeof(*p->starts))))
        return -ENOMEM;
    p->starts[p->n_starts % burst] = now;
    p->n_starts++;
    return 0;
}

static bool start_limit_hit(const struct proc_backend *b, const struct proc_svc *p, int64_t now)
{
    size_t burst = (size_t)b->start_limit_burst, n = p->n_starts < burst ? p->n_starts : burst;
    int64_t window = (int64_t)b->start_limit_interval_s * 1000;
    size_t recent = 0;

    for (size_t i = 0; i < n; i++)
        recent += now - p->starts[i] < window;
    return recent >= burst;
}

static void spawn_failed(struct proc_backend *b, struct proc_svc *p, int r)
{
    if (p->pid > 0)
        kill(-p->pid, SIGKILL);
    proc_unwatch_fd(b, &p->pidfd);
    proc_unwatch_fd(b, &p->out.fd);
    proc_unwatch_fd(b, &p->err.fd);
    p->pid = 0; /* a child that is not reaped here is reaped by the kernel with us (rare) */
    p->result = "resources";
    set_state(p, PS_FAILED);
    log_error("svc.spawn", "unit=%s error=%d reason=\"%s\"", p->name, r, strerror(-r));
}

void proc_spawn_now(struct proc_backend *b, struct proc_svc *p)
{
    int64_t now = osm_monotonic_ms();
    int r;

    r = emit(b, "service.start",
             json_pack("{s:s, s:i, s:s}", "unit", p->name, "attempt", (int)p->attempt, "backend",
                       "process"));
    if (r < 0) { /* a start that cannot be recorded is not made */
        p->result = "ledger-unavailable";
        set_state(p, PS_FAILED);
        r = -EIO;
    } else if ((r = start_record(b, p, now)) < 0 || (r = proc_spawn(b, p)) < 0)
        spawn_failed(b, p, r);
    if (r == 0) {
        p->started_ms = now;
        p->result = "success";
        set_state(p, p->notify ? PS_ACTIVATING : PS_ACTIVE);
        proc_log_note(b, p, "started pid %d%s", (int)p->pid,
                      p->notify ? ", waiting for READY=1" : "");
    }
    p->spawn_error = r;
    p->spawn_seq++;
    pthread_cond_broadcast(&b->changed);
}

void proc_on_ready(struct proc_backend *b, struct proc_svc *p)
{
    if (p->state != PS_ACTIVATING)
        return;
    set_state(p, PS_ACTIVE);
    proc_log_note(b, p, "ready");
    emit(b, "service.ready", json_pack("{s:s, s:i}", "unit", p->name, "pid", (int)p->pid));
    pthread_cond_broadcast(&b->changed);
}

static bool wants_restart(enum proc_restart policy, bool clean, int code, int status)
{
    bool sig = code == CLD_KILLED || code == CLD_DUMPED;

    switch (policy) {
    case RESTART_ALWAYS:
        return true;
    case RESTART_ON_SUCCESS:
        return clean;
    case RESTART_ON_FAILURE:
        return !clean;
    case RESTART_ON_ABNORMAL:
        return sig && status != SIGTERM && status != SIGINT;
    case RESTART_ON_ABORT:
        return sig && status != SIGTERM && status != SIGINT && status != SIGHUP &&
               status != SIGPIPE;
    default:
        return false;
    }
}

static json_t *exit_payload(const struct proc_svc *p, pid_t pid, int code, int status)
{
    if (code == CLD_EXITED)
        return json_pack("{s:s, s:i, s:i}", "unit", p->name, "pid", (int)pid, "status", status);
    return json_pack("{s:s, s:i, s:i, s:b}", "unit", p->name, "pid", (int)pid, "signal", status,
                     "core_dumped", code == CLD_DUMPED);
}

static void schedule_restart(struct proc_backend *b, struct proc_svc *p, int64_t now)
{
    int64_t delay;

    if (now - p->started_ms >= (int64_t)b->start_limit_interval_s * 1000)
        p->attempt = 0; /* it stayed up: the backoff starts again */
    if (start_limit_hit(b, p, now)) {
        p->result = "start-limit-hit";
        set_state(p, PS_FAILED);
        proc_log_note(b, p, "start limit hit: %d starts within %d s", b->start_limit_burst,
                      b->start_limit_interval_s);
        emit(b, "service.failed",
             json_pack("{s:s, s:s, s:i, s:i}", "unit", p->name, "reason", "start-limit", "burst",
                       b->start_limit_burst, "interval_s", b->start_limit_interval_s));
        return;
    }
    p->attempt++;
    delay =
        p->attempt >= 20 ? SVC_RESTART_MAX_MS : (int64_t)SVC_RESTART_FIRST_MS << (p->attempt - 1);
    if (delay > SVC_RESTART_MAX_MS)
        delay = SVC_RESTART_MAX_MS;
    if (emit(b, "service.restart",
             json_pack("{s:s, s:i, s:I}", "unit", p->name, "attempt", (int)p->attempt, "delay_ms",
                       (json_int_t)delay)) < 0) {
        p->result = "ledger-unavailable"; /* a restart that cannot be recorded is not made */
        set_state(p, PS_FAILED);
        return;
    }
    p->restarts++;
    p->spawn_at_ms = now + delay;
    set_state(p, PS_AUTO_RESTART);
}

void proc_on_exit(struct proc_backend *b, struct proc_svc *p, int code, int status)
{
    bool clean = code == CLD_EXITED && status == 0;
    pid_t pid = p->pid;

    proc_log_note(b, p, "pid %d %s %d", (int)pid,
                  code == CLD_EXITED ? "exited with status" : "killed by signal", status);
    p->pid = 0;
    p->kill_at_ms = 0;
    p->exit_seq++;
    pthread_cond_broadcast(&b->changed);
    if (p->stop_wanted) {
        p->stop_wanted = false;
        p->result = "success";
        set_state(p, PS_INACTIVE);
        return;
    }
    p->result = clean                ? "success"
                : code == CLD_EXITED ? "exit-code"
                : code == CLD_DUMPED ? "core-dump"
                                     : "signal";
    emit(b, clean ? "service.exited" : "service.crashed", exit_payload(p, pid, code, status));
    if (p->removed || !wants_restart(p->restart, clean, code, status)) {
        set_state(p, clean ? PS_INACTIVE : PS_FAILED);
        return;
    }
    schedule_restart(b, p, osm_monotonic_ms());
}

/* ---- API helpers (any thread) ------------------------------------------------------------ */

static struct proc_svc *find(struct proc_backend *b, const char *unit)
{
    size_t n = strlen(unit);

    if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
        n -= 8;
    for (size_t i = 0; i < b->n_svcs; i++) {
        struct proc_svc *p = b->svcs[i];
        if (!p->removed && strlen(p->name) == n && strncmp(p->name, unit, n) == 0)
            return p;
    }
    return NULL;
}

/* Waits (lock held) until *seq moves past old or the deadline passes. */
static int wait_seq(struct proc_backend *b, struct proc_svc *p, const uint64_t *seq, uint64_t old,
                    int64_t ms)
{
    struct timespec ts;
    int r = 0;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    p->waiters++;
    while (*seq == old && r == 0)
        r = pthread_cond_timedwait(&b->changed, &b->lock, &ts);
    p->waiters--;
    return *seq == old ? -ETIMEDOUT : 0;
}

/* Asks the supervisor for a spawn now and waits for its outcome. */
static int start_locked(struct proc_backend *b, struct proc_svc *p)
{
    uint64_t seq = p->spawn_seq;
    int r;

    if (p->pid > 0 && !p->stop_wanted)
        return 0;
    if (p->pid > 0 &&
        (r = wait_seq(b, p, &p->exit_seq, p->exit_seq, SVC_STOP_GRACE_MS + WAIT_MARGIN_MS)) < 0)
        return r;
    p->attempt = 0;
    p->n_starts = 0;
    seq = p->spawn_seq;
    p->spawn_at_ms = osm_monotonic_ms();
    proc_wake(b);
    if ((r = wait_seq(b, p, &p->spawn_seq, seq, WAIT_MARGIN_MS * 6)) < 0)
        return r;
    return p->spawn_error;
}

/* Records service.stop, sends SIGTERM to the group and waits for the exit (SIGKILL after the
 * grace period). A service that is not running only loses a pending restart. */
static int stop_locked(struct proc_backend *b, struct proc_svc *p, const char *why)
{
    uint64_t seq = p->exit_seq;

    p->spawn_at_ms = 0;
    if (p->pid == 0) {
        if (p->state == PS_AUTO_RESTART)
            set_state(p, PS_INACTIVE);
        return 0;
    }
    if (!p->stop_wanted) {
        if (emit(b, "service.stop",
                 json_pack("{s:s, s:i, s:s}", "unit", p->name, "pid", (int)p->pid, "reason", why)) <
                0 &&
            strcmp(why, "watch-exit") != 0)
            return -EIO;
        p->stop_wanted = true;
        set_state(p, PS_DEACTIVATING);
        kill(-p->pid, SIGTERM);
        p->kill_at_ms = osm_monotonic_ms() + SVC_STOP_GRACE_MS;
        proc_wake(b);
    }
    return wait_seq(b, p, &p->exit_seq, seq, SVC_STOP_GRACE_MS + WAIT_MARGIN_MS);
}

#define LOCKED_UNIT(b, p, unit)                                                                    \
    struct proc_backend *b = backend(s);                                                           \
    pthread_mutex_lock(&b->lock);                                                                  \
    struct proc_svc *p = find(b, unit);                                                            \
    if (!p) {                                                                                      \
        pthread_mutex_unlock(&b->lock);                                                            \
        return -ENOENT;                                                                            \
    }

static int op_start(struct svc *s, const char *unit)
{
    LOCKED_UNIT(b, p, unit);
    int r = start_locked(b, p);
    pthread_mutex_unlock(&b->lock);
    return r;
}

static int op_stop(struct svc *s, const char *unit)
{
    LOCKED_UNIT(b, p, unit);
    int r = stop_locked(b, p, "requested");
    pthread_mutex_unlock(&b->lock);
    return r;
}

static int op_restart(struct svc *s, const char *unit)
{
    LOCKED_UNIT(b, p, unit);
    int r = stop_locked(b, p, "restart");
    if (r == 0)
        r = start_locked(b, p);
    pthread_mutex_unlock(&b->lock);
    return r;
}

static int op_enable(struct svc *s, const char *unit, bool enable)
{
    LOCKED_UNIT(b, p, unit);
    p->enabled = enable;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int op_is_active(struct svc *s, const char *unit)
{
    LOCKED_UNIT(b, p, unit);
    int r = p->state == PS_ACTIVE;
    pthread_mutex_unlock(&b->lock);
    return r;
}

static const char *restart_name(enum proc_restart r)
{
    static const char *const names[] = {"no",          "always",   "on-success", "on-failure",
                                        "on-abnormal", "on-abort", "on-watchdog"};
    return names[r];
}

static json_t *status_json(const struct proc_svc *p)
{
    char since[OSM_TS_LEN + 1];
    json_t *exec = json_array();

    osm_format_ts((time_t)(p->since_ms / 1000), (unsigned)(p->since_ms % 1000), since);
    for (size_t i = 0; p->argv[i]; i++)
        json_array_append_new(exec, json_string(p->argv[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:o, s:s, s:b, s:b, s:b}", "unit",
                     p->name, "backend", "process", "active_state", state_names[p->state][0],
                     "sub_state", state_names[p->state][1], "main_pid", (int)p->pid, "since", since,
                     "restarts", (int)p->restarts, "result", p->result, "exec", exec, "restart",
                     restart_name(p->restart), "notify", p->notify, "enabled", p->enabled,
                     "transient", p->transient);
}

static int op_status(struct svc *s, const char *unit, json_t **ret)
{
    LOCKED_UNIT(b, p, unit);
    *ret = status_json(p);
    pthread_mutex_unlock(&b->lock);
    return *ret ? 0 : -ENOMEM;
}

static int op_logs(struct svc *s, const char *unit, const struct svc_log_query *q, json_t **ret)
{
    char name[SVC_NAME_MAX + 1];

    {
        LOCKED_UNIT(b, p, unit);
        snprintf(name, sizeof(name), "%s", p->name);
        pthread_mutex_unlock(&b->lock);
    }
    return proc_log_read(backend(s), name, q, ret);
}

static int op_main_pid(struct svc *s, const char *unit, pid_t *ret)
{
    LOCKED_UNIT(b, p, unit);
    *ret = p->pid;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int op_list(struct svc *s, const char *prefix, json_t **ret)
{
    struct proc_backend *b = backend(s);
    json_t *arr = json_array();

    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; arr && i < b->n_svcs; i++)
        if (!b->svcs[i]->removed &&
            (!prefix || strncmp(b->svcs[i]->name, prefix, strlen(prefix)) == 0))
            json_array_append_new(arr, status_json(b->svcs[i]));
    pthread_mutex_unlock(&b->lock);
    *ret = arr;
    return arr ? 0 : -ENOMEM;
}

/* Limits need a cgroup of the service's own, which this backend does not create: a limit that
 * would not be enforced is refused rather than silently ignored. */
static int op_run(struct svc *s, const struct svc_spec *spec)
{
    struct proc_backend *b = backend(s);
    struct proc_svc *p;
    int r;

    if (spec->memory_max || spec->cpu_quota)
        return -EOPNOTSUPP;
    if (spec->dynamic_user && geteuid() == 0 && !b->run_user_known)
        return -EPERM;
    if ((r = proc_svc_from_spec(spec, &p)) < 0)
        return r;
    p->transient = true;
    pthread_mutex_lock(&b->lock);
    if (find(b, p->name) || b->n_svcs == SVC_PROCESS_MAX) {
        r = find(b, p->name) ? -EEXIST : -ENOSPC;
        pthread_mutex_unlock(&b->lock);
        proc_svc_free(p);
        return r;
    }
    b->svcs[b->n_svcs++] = p;
    r = start_locked(b, p);
    if (r < 0) { /* a transient service that did not start is forgotten */
        stop_locked(b, p, "start-failed");
        p->removed = true;
        proc_wake(b);
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

static int op_remove(struct svc *s, const char *unit)
{
    LOCKED_UNIT(b, p, unit);
    int r = p->transient ? stop_locked(b, p, "remove") : -EPERM;
    if (r == 0) {
        p->removed = true;
        proc_wake(b);
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

static int op_reload_or_restart(struct svc *s, const char *unit)
{
    return op_restart(s, unit); /* no reload signal is configured for a process service */
}

/* Stops every child: SIGTERM to each group, SIGKILL after the grace period. */
static void stop_all(struct proc_backend *b)
{
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n_svcs; i++) {
        struct proc_svc *p = b->svcs[i];
        p->spawn_at_ms = 0;
        if (p->pid > 0 && !p->stop_wanted) {
            emit(b, "service.stop",
                 json_pack("{s:s, s:i, s:s}", "unit", p->name, "pid", (int)p->pid, "reason",
                           "watch-exit"));
            p->stop_wanted = true;
            set_state(p, PS_DEACTIVATING);
            kill(-p->pid, SIGTERM);
            p->kill_at_ms = osm_monotonic_ms() + SVC_STOP_GRACE_MS;
        }
    }
    proc_wake(b);
    for (size_t i = 0; i < b->n_svcs; i++)
        if (b->svcs[i]->pid > 0)
            wait_seq(b, b->svcs[i], &b->svcs[i]->exit_seq, b->svcs[i]->exit_seq,
                     SVC_STOP_GRACE_MS + WAIT_MARGIN_MS);
    pthread_mutex_unlock(&b->lock);
}

static void op_free(struct svc *s)
{
    struct proc_backend *b = backend(s);

    if (b->thread_started)
        stop_all(b);
    proc_loop_stop(b);
    for (size_t i = 0; i < b->n_svcs; i++) {
        struct proc_svc *p = b->svcs[i];
        if (p->pid > 0) /* did not die even of SIGKILL in time: leave no zombie behind */
            kill(-p->pid, SIGKILL);
        int *fds[] = {&p->pidfd, &p->out.fd, &p->err.fd, &p->notify_fd};
        for (size_t k = 0; k < ELEMENTSOF(fds); k++)
            if (*fds[k] >= 0)
                close(*fds[k]);
        proc_log_close(p);
        proc_svc_free(p);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->changed);
    free(b->state_dir);
    free(b->log_dir);
    free(b);
}

static const struct svc_ops proc_ops = {
    .start = op_start,
    .stop = op_stop,
    .restart = op_restart,
    .reload_or_restart = op_reload_or_restart,
    .enable = op_enable,
    .is_active = op_is_active,
    .status = op_status,
    .logs = op_logs,
    .run = op_run,
    .remove = op_remove,
    .list = op_list,
    .main_pid = op_main_pid,
    .free = op_free,
};

static int backend_init(struct proc_backend *b, const struct svc_process_config *cfg)
{
    pthread_condattr_t ca;
    const char *user = cfg->run_as_user ? cfg->run_as_user : "nobody";
    int r;

    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->changed, &ca);
    pthread_condattr_destroy(&ca);
    b->epfd = b->wakefd = -1;
    b->start_limit_burst =
        cfg->start_limit_burst > 0 ? cfg->start_limit_burst : SVC_START_LIMIT_BURST;
    b->start_limit_interval_s =
        cfg->start_limit_interval_s > 0 ? cfg->start_limit_interval_s : SVC_START_LIMIT_INTERVAL_S;
    b->log_max_bytes = cfg->log_max_bytes > 0 ? cfg->log_max_bytes : SVC_LOG_MAX_BYTES;
    if (!cfg->state_dir || !(b->state_dir = strdup(cfg->state_dir)) ||
        !(b->log_dir = osm_path_join(cfg->state_dir, "logs")))
        return cfg->state_dir ? -ENOMEM : -EINVAL;
    if ((r = osm_mkdir_p(b->log_dir, 0700)) < 0)
        return r;
    r = proc_run_user(user, &b->run_uid, &b->run_gid);
    b->run_user_known = r == 0;
    if (r < 0 && geteuid() == 0)
        log_warn("svc.init",
                 "run_as_user=%s error=%d note=\"dynamic-user services will not "
                 "start\"",
                 user, r);
    return 0;
}

int svc_open_process(const struct svc_process_config *cfg, const struct watch_events *ev,
                     struct svc **ret)
{
    struct proc_backend *b = calloc(1, sizeof(*b));
    int r;

    if (!b)
        return -ENOMEM;
    b->base = (struct svc){.ops = &proc_ops, .kind = SVC_BACKEND_PROCESS, .events = *ev};
    if ((r = backend_init(b, cfg)) < 0 || (r = proc_conf_load(b, cfg->services_file)) < 0 ||
        (r = proc_loop_start(b)) < 0) {
        op_free(&b->base);
        return r;
    }
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n_svcs; i++)
        if (b->svcs[i]->enabled)
            b->svcs[i]->spawn_at_ms = osm_monotonic_ms();
    proc_wake(b);
    pthread_mutex_unlock(&b->lock);
    *ret = &b->base;
    return 0;
}
