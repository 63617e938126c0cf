/* The emergency controls: STOP, FREEZE/THAW, LOCKDOWN/UNLOCK on the operator socket.
 *
 * Ledger: each control is an event recorded before it acts. STOP, FREEZE and LOCKDOWN are the
 * operator's brakes and must not depend on agentd: when their event cannot be recorded they act
 * anyway, log an error, and keep the event (marked recorded_late, with the time of the action)
 * in <data_dir>/emergency.json until a later control or a restart records it. THAW and UNLOCK
 * lift a brake: they are refused (503) unless their event is recorded first.
 *
 * State: a freeze (groups and SIGSTOPped processes with their start times) is persisted in
 * <data_dir>/emergency.json, so THAW works after watch restarts. The lockdown file
 * <state_dir>/lockdown ({since, by, reason, workspace_read_only}, 0644) is what every
 * daemon's executor checks before an agent's tool call, what osmoda-egress and osmoda-keyd
 * read when they start, and it survives a reboot. The workspace is made read-only with a
 * read-only bind mount over itself: it survives a watch restart (mounts belong to the mount
 * namespace) and watch puts it back at start if the lockdown file is there but the mount is
 * not (after a reboot). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "emergency-internal.h"
#include "emergency.h"
#include "ipc/errors.h"
#include "ipc/http_client.h"

#define DEFAULT_AGENT_USER "osmoda-agent"
#define STATE_FILE "emergency.json"
#define STATE_MAX (4 * 1024 * 1024)
#define WORKSPACE_NAME "workspace"
#define NOTIFY_TIMEOUT_MS 2000 /* egress and keyd are told of a lockdown within this */
#define STOP_GRACE_MAX_MS 60000
#define PENDING_MAX 1000 /* unrecorded events kept until agentd answers again */
#define JOBS_CGROUP "osmoda-jobs"
#define LIST_CGROUPS_MAX 64 /* agent cgroups */

struct emergency {
    struct watch *w;
    char **cgroups; /* NULL-terminated */
    bool have_uid;
    uid_t uid;
    char *state_path, *lockdown_path, *workspace;
    pthread_mutex_t lock;
    json_t *frozen;  /* {since, method, cgroups: [{path, method}], stopped: [{pid, start}]} */
    json_t *pending; /* [{type, payload}]: events not recorded yet */
};

/* ---- state ------------------------------------------------------------------------------ */

static int save_state(struct emergency *em)
{
    json_auto_t *o = json_pack("{s:O?, s:O}", "frozen", em->frozen, "pending", em->pending);
    _cleanup_free_ char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    int r;

    if (!text)
        return -ENOMEM;
    r = osm_write_file_atomic(em->state_path, text, strlen(text), 0600);
    if (r < 0)
        log_error("emergency.state", "path=%s error=%d reason=\"%s\"", em->state_path, r,
                  strerror(-r));
    return r;
}

static int load_state(struct emergency *em)
{
    _cleanup_free_ char *text = NULL;
    json_auto_t *o = NULL;
    json_t *frozen, *pending;
    int r = osm_read_file(em->state_path, STATE_MAX, &text, NULL);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    o = json_loads(text, 0, NULL);
    frozen = json_object_get(o, "frozen");
    pending = json_object_get(o, "pending");
    if (!json_is_object(o) || (frozen && !json_is_object(frozen) && !json_is_null(frozen)) ||
        (pending && !json_is_array(pending)))
        return -EBADMSG;
    em->frozen = json_is_object(frozen) ? json_incref(frozen) : NULL;
    if (pending)
        json_array_extend(em->pending, pending);
    return 0;
}

/* ---- the ledger ------------------------------------------------------------------------- */

/* Records what could not be recorded before; stops at the first failure. Caller holds lock. */
static void flush_pending(struct emergency *em)
{
    size_t before = json_array_size(em->pending);

    while (json_array_size(em->pending) > 0) {
        json_t *e = json_array_get(em->pending, 0);
        const char *type = json_string_value(json_object_get(e, "type"));
        json_t *payload = json_object_get(e, "payload");
        if (type && watch_emit(&em->w->events, type, json_incref(payload)) < 0)
            break;
        json_array_remove(em->pending, 0);
    }
    if (json_array_size(em->pending) != before)
        (void)save_state(em);
}

/* A brake's event: recorded if possible, else kept for later (the brake acts either way).
 * Steals payload. Caller holds lock. */
static void record_brake(struct emergency *em, const char *type, json_t *payload)
{
    char ts[OSM_TS_LEN + 1];
    int r;

    flush_pending(em);
    if (!payload)
        return;
    r = json_array_size(em->pending) ? -EAGAIN
                                     : watch_emit(&em->w->events, type, json_incref(payload));
    if (r == 0) {
        json_decref(payload);
        return;
    }
    log_error("emergency.unrecorded",
              "event=%s error=%d note=\"acting anyway; the event is "
              "kept and recorded when agentd answers\"",
              type, r);
    osm_now_ts(ts);
    json_object_set_new(payload, "recorded_late", json_true());
    json_object_set_new(payload, "at", json_string(ts));
    if (json_array_size(em->pending) < PENDING_MAX)
        json_array_append_new(em->pending,
                              json_pack("{s:s, s:o}", "type", type, "payload", payload));
    else
        json_decref(payload);
    (void)save_state(em);
}

/* ---- paths and targets ------------------------------------------------------------------ */

/* <mount><parent of the caller's cgroup on it>/osmoda-jobs, where lib/sandbox puts jobs. */
static char *jobs_group(const char *mount, const char *hierarchy)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024], *out = NULL;

    while (f && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *slash;
        if (!c2)
            continue;
        *c2 = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        if (strcmp(c1 + 1, hierarchy) != 0)
            continue;
        if ((slash = strrchr(c2 + 1, '/')))
            *slash = '\0';
        if (asprintf(&out, "%s%s/%s", mount, c2 + 1, JOBS_CGROUP) < 0)
            out = NULL;
        break;
    }
    return out;
}

/* The agent cgroups: the configured ones, else the sandboxed jobs' groups on the unified
 * hierarchy and on the v1 freezer. */
static int agent_cgroups(const struct emergency_config *cfg, char ***ret)
{
    char **list = calloc(LIST_CGROUPS_MAX + 1, sizeof(char *));
    size_t n = 0;

    if (!list)
        return -ENOMEM;
    if (cfg && cfg->agent_cgroups) {
        for (size_t i = 0; cfg->agent_cgroups[i] && n < LIST_CGROUPS_MAX; i++)
            if (!(list[n++] = strdup(cfg->agent_cgroups[i])))
                goto oom;
    } else {
        if ((list[n] = jobs_group("/sys/fs/cgroup/unified", "")))
            n++;
        if ((list[n] = jobs_group("/sys/fs/cgroup", "")))
            n++;
        if ((list[n] = jobs_group("/sys/fs/cgroup/freezer", "freezer")))
            n++;
    }
    *ret = list;
    return 0;
oom:
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return -ENOMEM;
}

static int collect(struct emergency *em, struct em_targets *t)
{
    int r = em_targets_collect((const char *const *)em->cgroups, em->have_uid, em->uid, t);

    if (r < 0)
        log_error("emergency.targets", "error=%d reason=\"%s\"", r, strerror(-r));
    return r;
}

static json_t *targets_json(const struct em_targets *t)
{
    return json_pack("{s:o, s:o, s:b}", "pids", em_pids_json(t->procs, t->n_procs), "cgroups",
                     em_groups_json(t->groups, t->n_groups), "truncated", t->truncated);
}

/* ---- the workspace ---------------------------------------------------------------------- */

/* 1 when path is a mount point mounted read-only (the newest mount there), 0 if not, -errno. */
static int mounted_ro(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], mp[PATH_MAX], opts[1024];
    int found = 0;

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        /* id parent major:minor root mount-point options ... (octal escapes for spaces) */
        if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, opts) != 2)
            continue;
        if (strcmp(mp, path) == 0)
            found = strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || opts[2] == '\0') ? 1 : 0;
    }
    return found;
}

static int workspace_lock(const char *ws)
{
    if (access(ws, F_OK) < 0)
        return -errno;
    if (mounted_ro(ws) == 1)
        return 0;
    if (mount(ws, ws, NULL, MS_BIND, NULL) < 0)
        return -errno;
    if (mount(NULL, ws, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        int r = -errno;
        (void)umount2(ws, MNT_DETACH);
        return r;
    }
    return 0;
}

static int workspace_unlock(const char *ws)
{
    for (int i = 0; i < 8 && mounted_ro(ws) == 1; i++)
        if (umount2(ws, MNT_DETACH) < 0)
            return -errno;
    return 0;
}

static const char *ws_result(int r)
{
    return r == 0 ? "read-only" : r == -ENOENT ? "absent" : strerror(-r);
}

/* Tells egress or keyd (when its socket exists) of a lockdown or its end. */
static json_t *notify(const char *run_dir, const char *sock, const char *path)
{
    _cleanup_free_ char *p = osm_path_join(run_dir, sock);
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    int r;

    if (!p || access(p, F_OK) < 0)
        return json_string("absent: the lockdown file is read when it starts");
    r = osm_http_call(p, "POST", path, body, NOTIFY_TIMEOUT_MS, &reply);
    if (r == 0 && reply.status >= 200 && reply.status < 300) {
        osm_http_reply_clear(&reply);
        return json_string("notified");
    }
    log_error("emergency.notify", "socket=%s path=%s error=%d status=%ld", p, path, r,
              r == 0 ? reply.status : 0);
    osm_http_reply_clear(&reply);
    return json_string("failed");
}

/* ---- open ------------------------------------------------------------------------------- */

static void resolve_user(struct emergency *em, const char *name)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name ? name : DEFAULT_AGENT_USER, &pw, buf, sizeof(buf), &res) == 0 && res &&
        res->pw_uid != 0) {
        em->have_uid = true;
        em->uid = res->pw_uid;
    } else if (res)
        log_warn("emergency.user", "user=%s note=\"uid 0 is never an agent: ignored\"", name);
}

bool emergency_locked(struct emergency *em)
{
    return em && access(em->lockdown_path, F_OK) == 0;
}

bool emergency_frozen(struct emergency *em)
{
    bool frozen;

    if (!em)
        return false;
    pthread_mutex_lock(&em->lock);
    frozen = em->frozen != NULL;
    pthread_mutex_unlock(&em->lock);
    return frozen;
}

int emergency_open(struct watch *w, const struct emergency_config *cfg, struct emergency **ret)
{
    struct emergency *em = calloc(1, sizeof(*em));
    int r;

    *ret = NULL;
    if (!em)
        return -ENOMEM;
    em->w = w;
    pthread_mutex_init(&em->lock, NULL);
    em->pending = json_array();
    em->state_path = osm_path_join(w->data_dir, STATE_FILE);
    em->lockdown_path = osm_path_join(w->state_dir, EMERGENCY_LOCKDOWN_FILE);
    em->workspace = osm_path_join(w->state_dir, WORKSPACE_NAME);
    if (!em->pending || !em->state_path || !em->lockdown_path || !em->workspace)
        r = -ENOMEM;
    else if ((r = agent_cgroups(cfg, &em->cgroups)) == 0 && (r = load_state(em)) < 0)
        log_error("emergency.state", "path=%s error=%d reason=\"%s\"", em->state_path, r,
                  strerror(-r));
    if (r < 0) {
        emergency_free(em);
        return r;
    }
    resolve_user(em, cfg ? cfg->agent_user : NULL);
    if (emergency_locked(em) && (r = workspace_lock(em->workspace)) < 0 && r != -ENOENT)
        log_error("emergency.lockdown", "what=workspace error=%d reason=\"%s\"", r, strerror(-r));
    pthread_mutex_lock(&em->lock);
    flush_pending(em);
    pthread_mutex_unlock(&em->lock);
    *ret = em;
    return 0;
}

void emergency_free(struct emergency *em)
{
    if (!em)
        return;
    for (size_t i = 0; em->cgroups && em->cgroups[i]; i++)
        free(em->cgroups[i]);
    free(em->cgroups);
    json_decref(em->frozen);
    json_decref(em->pending);
    free(em->state_path);
    free(em->lockdown_path);
    free(em->workspace);
    pthread_mutex_destroy(&em->lock);
    free(em);
}

/* ---- routes ----------------------------------------------------------------------------- */

static struct emergency *of(struct osm_request *req)
{
    struct watch *w = req->userdata;

    return w ? w->emergency : NULL;
}

static json_t *not_enabled(struct osm_request *req)
{
    return osm_error(req, 503, "not_enabled", NULL, "the emergency controls are not running");
}

/* Refuses a body with keys other than allowed (NULL-terminated). NULL when it is fine. */
static json_t *check_body(struct osm_request *req, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(req->body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", key),
                             "unknown field '%s'", key);
    }
    return NULL;
}

json_t *emergency_route_status(struct osm_request *req)
{
    struct emergency *em = of(req);
    _cleanup_free_ char *text = NULL;
    json_t *lock = NULL, *o;

    if (!em)
        return not_enabled(req);
    if (osm_read_file(em->lockdown_path, STATE_MAX, &text, NULL) == 0)
        lock = json_loads(text, 0, NULL);
    pthread_mutex_lock(&em->lock);
    flush_pending(em);
    o = json_pack("{s:b, s:O?, s:b, s:o?, s:b, s:I}", "frozen", em->frozen != NULL, "freeze",
                  em->frozen, "lockdown", access(em->lockdown_path, F_OK) == 0, "lockdown_info",
                  lock, "workspace_read_only", mounted_ro(em->workspace) == 1, "pending_events",
                  (json_int_t)json_array_size(em->pending));
    pthread_mutex_unlock(&em->lock);
    return o;
}

/* Resumes what a freeze suspended (caller holds lock); clears the freeze. */
static void thaw_frozen(struct emergency *em)
{
    size_t i;
    json_t *g, *p;

    json_array_foreach(json_object_get(em->frozen, "cgroups"), i, g)
    {
        struct em_group eg = {.path = (char *)json_string_value(json_object_get(g, "path"))};
        if (eg.path &&
            em_method_parse(json_string_value(json_object_get(g, "method")), &eg.method) == 0 &&
            em_group_freeze(&eg, false) < 0)
            log_error("emergency.thaw", "cgroup=%s", eg.path);
    }
    json_array_foreach(json_object_get(em->frozen, "stopped"), i, p)
    {
        struct em_proc ep = {
            .pid = (pid_t)json_integer_value(json_object_get(p, "pid")),
            .start = (unsigned long long)json_integer_value(json_object_get(p, "start"))};
        (void)em_proc_signal(&ep, SIGCONT);
    }
    json_decref(em->frozen);
    em->frozen = NULL;
}

/* SIGTERM, grace, SIGKILL for every agent process; the answer's body (new) or NULL. */
static json_t *stop_all(struct emergency *em, const char *type, json_t *payload, int grace_ms)
{
    struct em_targets t;
    json_t *outcome = NULL, *tj;

    if (collect(em, &t) < 0) {
        json_decref(payload);
        return NULL;
    }
    tj = targets_json(&t);
    json_object_update(payload, tj);
    json_decref(tj);
    json_object_set_new(payload, "grace_ms", json_integer(grace_ms));
    record_brake(em, type, payload);
    if (em->frozen) /* a suspended process must run to take its SIGTERM */
        thaw_frozen(em);
    if (em_targets_end(&t, grace_ms, &outcome) == 0)
        json_object_set_new(outcome, "pids", em_pids_json(t.procs, t.n_procs));
    em_targets_clear(&t);
    (void)save_state(em);
    return outcome;
}

json_t *emergency_route_stop(struct osm_request *req)
{
    static const char *const allowed[] = {"grace_ms", NULL};
    struct emergency *em = of(req);
    json_t *err, *grace = json_object_get(req->body, "grace_ms"), *out;
    int grace_ms = EMERGENCY_STOP_GRACE_MS;

    if (!em)
        return not_enabled(req);
    if ((err = check_body(req, allowed)))
        return err;
    if (grace && (!json_is_integer(grace) || json_integer_value(grace) < 0 ||
                  json_integer_value(grace) > STOP_GRACE_MAX_MS))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "grace_ms"),
                         "grace_ms must be an integer from 0 to %d", STOP_GRACE_MAX_MS);
    if (grace)
        grace_ms = (int)json_integer_value(grace);
    pthread_mutex_lock(&em->lock);
    out = stop_all(em, "emergency.stop", json_pack("{s:i}", "by", (int)req->peer.uid), grace_ms);
    pthread_mutex_unlock(&em->lock);
    if (!out)
        return osm_error(req, 500, "internal", NULL, "the agent processes could not be listed");
    json_object_set_new(out, "stopped", json_true());
    return out;
}

/* Freezes t's groups; what could not be frozen by its group is SIGSTOPped. The freeze record
 * {since, method, cgroups, stopped} (new). */
static json_t *freeze_targets(struct em_targets *t, const char *method)
{
    json_t *groups = json_array(), *stopped = json_array();
    char ts[OSM_TS_LEN + 1];

    for (size_t i = 0; i < t->n_groups; i++) {
        struct em_group *g = &t->groups[i];
        int r = g->method == EM_SIGSTOP ? -EOPNOTSUPP : em_group_freeze(g, true);
        if (r == 0) {
            json_array_append_new(groups, json_pack("{s:s, s:s}", "path", g->path, "method",
                                                    em_method_name(g->method)));
            continue;
        }
        if (r != -EOPNOTSUPP)
            log_error("emergency.freeze", "cgroup=%s error=%d note=\"falling back to SIGSTOP\"",
                      g->path, r);
        if (g->method != EM_SIGSTOP)
            (void)em_group_freeze(g, false);
        for (size_t j = 0; j < t->n_procs; j++) /* its processes are signalled below */
            t->procs[j].in_group = t->procs[j].in_group && r == 0;
    }
    for (size_t i = 0; i < t->n_procs; i++)
        if (!t->procs[i].in_group && em_proc_signal(&t->procs[i], SIGSTOP) == 0)
            json_array_append_new(stopped, json_pack("{s:i, s:I}", "pid", (int)t->procs[i].pid,
                                                     "start", (json_int_t)t->procs[i].start));
    osm_now_ts(ts);
    return json_pack("{s:s, s:s, s:o, s:o}", "since", ts, "method", method, "cgroups", groups,
                     "stopped", stopped);
}

/* A second freeze adds what the first did not cover. */
static void merge_freeze(struct emergency *em, json_t *fresh)
{
    if (!em->frozen) {
        em->frozen = fresh;
        return;
    }
    json_array_extend(json_object_get(em->frozen, "cgroups"), json_object_get(fresh, "cgroups"));
    json_array_extend(json_object_get(em->frozen, "stopped"), json_object_get(fresh, "stopped"));
    json_decref(fresh);
}

json_t *emergency_route_freeze(struct osm_request *req)
{
    static const char *const allowed[] = {NULL};
    struct emergency *em = of(req);
    _cleanup_free_ char *method = NULL;
    struct em_targets t;
    json_t *err, *payload, *out;

    if (!em)
        return not_enabled(req);
    if ((err = check_body(req, allowed)))
        return err;
    pthread_mutex_lock(&em->lock);
    if (collect(em, &t) < 0) {
        pthread_mutex_unlock(&em->lock);
        return osm_error(req, 500, "internal", NULL, "the agent processes could not be listed");
    }
    method = em_targets_methods(&t);
    payload = targets_json(&t);
    json_object_set_new(payload, "method", json_string(method ? method : "none"));
    json_object_set_new(payload, "by", json_integer(req->peer.uid));
    out = json_deep_copy(payload);
    record_brake(em, "emergency.freeze", payload);
    merge_freeze(em, freeze_targets(&t, method ? method : "none"));
    (void)save_state(em);
    json_object_set_new(out, "frozen", json_true());
    json_object_set(out, "freeze", em->frozen);
    pthread_mutex_unlock(&em->lock);
    em_targets_clear(&t);
    return out;
}

json_t *emergency_route_thaw(struct osm_request *req)
{
    static const char *const allowed[] = {NULL};
    struct emergency *em = of(req);
    json_t *err, *out;
    int r;

    if (!em)
        return not_enabled(req);
    if ((err = check_body(req, allowed)))
        return err;
    pthread_mutex_lock(&em->lock);
    flush_pending(em);
    if (!em->frozen) {
        pthread_mutex_unlock(&em->lock);
        return osm_error(req, 409, "not_frozen", NULL, "nothing is frozen");
    }
    r = watch_emit(&em->w->events, "emergency.thaw",
                   json_pack("{s:i, s:O}", "by", (int)req->peer.uid, "freeze", em->frozen));
    if (r < 0) {
        pthread_mutex_unlock(&em->lock);
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "the thaw could not be recorded in the ledger, so nothing was resumed: "
                         "%s",
                         strerror(-r));
    }
    out = json_pack("{s:b, s:O}", "thawed", true, "freeze", em->frozen);
    thaw_frozen(em);
    (void)save_state(em);
    pthread_mutex_unlock(&em->lock);
    return out;
}

static int write_lockdown(struct emergency *em, uid_t by, const char *reason, bool ws_ro)
{
    char ts[OSM_TS_LEN + 1];
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;

    osm_now_ts(ts);
    o = json_pack("{s:s, s:i, s:s, s:b}", "since", ts, "by", (int)by, "reason", reason,
                  "workspace_read_only", ws_ro);
    if (!o || !(text = json_dumps(o, JSON_COMPACT)))
        return -ENOMEM;
    return osm_write_file_atomic(em->lockdown_path, text, strlen(text), 0644);
}

json_t *emergency_route_lockdown(struct osm_request *req)
{
    static const char *const allowed[] = {"reason", NULL};
    struct emergency *em = of(req);
    json_t *err, *reason = json_object_get(req->body, "reason"), *out;
    const char *why = "operator lockdown";
    int r, ws;

    if (!em)
        return not_enabled(req);
    if ((err = check_body(req, allowed)))
        return err;
    if (reason && (!json_is_string(reason) || json_string_length(reason) == 0 ||
                   json_string_length(reason) > EMERGENCY_REASON_MAX))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "reason"),
                         "reason must be a non-empty string of at most %d bytes",
                         EMERGENCY_REASON_MAX);
    if (reason)
        why = json_string_value(reason);
    pthread_mutex_lock(&em->lock);
    /* the kill first: nothing of the agent's may run while the rest is put in place */
    out = stop_all(em, "emergency.lockdown",
                   json_pack("{s:i, s:s}", "by", (int)req->peer.uid, "reason", why), 0);
    ws = workspace_lock(em->workspace);
    if (ws < 0 && ws != -ENOENT)
        log_error("emergency.lockdown", "what=workspace path=%s error=%d reason=\"%s\"",
                  em->workspace, ws, strerror(-ws));
    r = write_lockdown(em, req->peer.uid, why, ws == 0);
    pthread_mutex_unlock(&em->lock);
    if (r < 0) {
        log_error("emergency.lockdown", "what=file path=%s error=%d reason=\"%s\"",
                  em->lockdown_path, r, strerror(-r));
        json_decref(out);
        return osm_error_errno(req, r,
                               "the agents were stopped but the lockdown file could not "
                               "be written: %s",
                               strerror(-r));
    }
    if (!out)
        out = json_object();
    json_object_set_new(out, "lockdown", json_true());
    json_object_set_new(out, "workspace", json_string(ws_result(ws)));
    json_object_set_new(out, "egress", notify(em->w->run_dir, "egress.sock", "/lockdown"));
    json_object_set_new(out, "vault", notify(em->w->run_dir, "keyd.sock", "/lockdown"));
    return out;
}

json_t *emergency_route_unlock(struct osm_request *req)
{
    static const char *const allowed[] = {NULL};
    struct emergency *em = of(req);
    json_t *err;
    int r;

    if (!em)
        return not_enabled(req);
    if ((err = check_body(req, allowed)))
        return err;
    if (req->peer.uid != 0)
        return osm_error(req, 403, "forbidden", json_pack("{s:i}", "uid", (int)req->peer.uid),
                         "only root lifts a lockdown");
    pthread_mutex_lock(&em->lock);
    flush_pending(em);
    if (!emergency_locked(em)) {
        pthread_mutex_unlock(&em->lock);
        return osm_error(req, 409, "not_locked", NULL, "there is no lockdown to lift");
    }
    r = watch_emit(&em->w->events, "emergency.unlock", json_pack("{s:i}", "by", 0));
    if (r < 0) {
        pthread_mutex_unlock(&em->lock);
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "the unlock could not be recorded in the ledger, so the lockdown stays: "
                         "%s",
                         strerror(-r));
    }
    if ((r = workspace_unlock(em->workspace)) < 0)
        log_error("emergency.unlock", "what=workspace error=%d reason=\"%s\"", r, strerror(-r));
    if (r == 0 && unlink(em->lockdown_path) < 0 && errno != ENOENT)
        r = -errno;
    pthread_mutex_unlock(&em->lock);
    if (r < 0)
        return osm_error_errno(req, r, "the lockdown was not lifted: %s", strerror(-r));
    return json_pack("{s:b, s:o, s:o}", "unlocked", true, "egress",
                     notify(em->w->run_dir, "egress.sock", "/unlock"), "vault",
                     notify(em->w->run_dir, "keyd.sock", "/unlock"));
}
