/* Apps and the service routes. An app is a transient service osmoda-app-<name> of the service
 * backend, with a dynamic user (never root) and its restart policy; the registry of apps is
 * <data_dir>/apps.json, rewritten atomically after every change, and the apps it marks running
 * are started again when watch starts. Every change is a typed event recorded before it is
 * made (app.deploy, app.stop, app.restart, app.remove, service.request), and its failure an
 * event right after (app.deploy_failed). memory_max and cpu_quota are passed to the backend:
 * systemd enforces them, the process backend refuses them (it would not enforce them). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/errors.h"
#include "svc.h"

#define APP_NAME_MAX 64         /* [A-Za-z0-9_-] */
#define APP_ARGS_MAX 255        /* arguments after the command */
#define APP_ENV_MAX 128         /* environment variables */
#define APP_FIELD_MAX 4096      /* bytes of a path, an argument or an env value */
#define APP_LIMIT_TEXT_MAX 32   /* memory_max / cpu_quota text */
#define APPS_FILE_MAX (8 << 20) /* apps.json */

struct apps {
    struct watch *w;
    pthread_mutex_t lock;
    json_t *list; /* [record, ...], the file's content */
    char *path;
};

static const char *const restart_policies[] = {
    "no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"};

/* ---- validation ------------------------------------------------------------------------- */

static bool app_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > APP_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool text_ok(const json_t *s, size_t max)
{
    return json_is_string(s) && json_string_length(s) <= max &&
           strlen(json_string_value(s)) == json_string_length(s);
}

static bool env_key_valid(const char *k)
{
    size_t n = strlen(k);

    return n > 0 && n <= 128 && !(k[0] >= '0' && k[0] <= '9') &&
           strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static bool policy_valid(const char *p)
{
    for (size_t i = 0; i < ELEMENTSOF(restart_policies); i++)
        if (strcmp(p, restart_policies[i]) == 0)
            return true;
    return false;
}

static json_t *bad(struct osm_request *req, const char *field, const char *why)
{
    return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", field), "%s: %s", field,
                     why);
}

/* Checks every field of a deploy body; NULL when it is good, else a 422 envelope. */
static json_t *deploy_check(struct osm_request *req, json_t *body)
{
    const char *name = NULL, *command = NULL, *wd = NULL, *policy = NULL, *mem = NULL, *cpu = NULL;
    json_t *args = NULL, *env = NULL, *v;
    json_int_t port = 0;
    json_error_t err;
    struct stat st;
    const char *k;
    size_t i;

    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s:s, s?o, s?s, s?o, s?I, s?s, s?s, s?s}",
                       "name", &name, "command", &command, "args", &args, "working_dir", &wd, "env",
                       &env, "port", &port, "restart_policy", &policy, "memory_max", &mem,
                       "cpu_quota", &cpu) < 0)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", err.source), "%s",
                         err.text);
    if (!app_name_valid(name))
        return bad(req, "name", "1-64 characters of [A-Za-z0-9_-]");
    if (!text_ok(json_object_get(body, "command"), APP_FIELD_MAX) || command[0] != '/')
        return bad(req, "command", "an absolute path");
    if (stat(command, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
        return bad(req, "command", "no executable file there");
    if (args && (!json_is_array(args) || json_array_size(args) > APP_ARGS_MAX))
        return bad(req, "args", "an array of at most 255 strings");
    json_array_foreach(args, i, v) if (!text_ok(v, APP_FIELD_MAX)) return bad(
        req, "args", "strings without NUL, at most 4096 bytes each");
    if (env && (!json_is_object(env) || json_object_size(env) > APP_ENV_MAX))
        return bad(req, "env", "an object of at most 128 variables");
    json_object_foreach(env, k, v) if (!env_key_valid(k) || !text_ok(v, APP_FIELD_MAX)) return bad(
        req, "env", "names of [A-Za-z0-9_], values strings without NUL");
    if (wd && (!text_ok(json_object_get(body, "working_dir"), APP_FIELD_MAX) || wd[0] != '/' ||
               stat(wd, &st) < 0 || !S_ISDIR(st.st_mode)))
        return bad(req, "working_dir", "an absolute path of a directory");
    if (json_object_get(body, "port") && (port < 1 || port > 65535))
        return bad(req, "port", "1-65535");
    if (policy && !policy_valid(policy))
        return bad(req, "restart_policy", "one of systemd's Restart= values");
    if ((mem && (strlen(mem) == 0 || strlen(mem) > APP_LIMIT_TEXT_MAX)) ||
        (cpu && (strlen(cpu) == 0 || strlen(cpu) > APP_LIMIT_TEXT_MAX)))
        return bad(req, mem ? "memory_max" : "cpu_quota", "1-32 characters");
    return NULL;
}

/* ---- the registry ----------------------------------------------------------------------- */

static json_t *find_app(struct apps *a, const char *name, size_t *ret_index)
{
    size_t i;
    json_t *e;

    json_array_foreach(a->list, i,
                       e) if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
    {
        if (ret_index)
            *ret_index = i;
        return e;
    }
    return NULL;
}

static const char *app_status(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "status"));
}

static int save(struct apps *a)
{
    _cleanup_free_ char *text = json_dumps(a->list, JSON_INDENT(1) | JSON_SORT_KEYS);

    return text ? osm_write_file_atomic(a->path, text, strlen(text), 0600) : -ENOMEM;
}

/* What the backend needs to run a record: argv and env pointing into the record. */
struct app_spec {
    char unit[sizeof(APP_UNIT_PREFIX) + APP_NAME_MAX];
    const char *argv[APP_ARGS_MAX + 2];
    const char *env[APP_ENV_MAX + 1];
    json_t *store;
    struct svc_spec spec;
};

static void app_spec_clear(struct app_spec *s)
{
    json_decref(s->store);
    s->store = NULL;
}

static int app_spec_of(const json_t *rec, struct app_spec *s)
{
    json_t *args = json_object_get(rec, "args"), *env = json_object_get(rec, "env"), *v;
    size_t i, n = 0;
    const char *k;

    snprintf(s->unit, sizeof(s->unit), "%s%s", APP_UNIT_PREFIX,
             json_string_value(json_object_get(rec, "name")));
    s->argv[0] = json_string_value(json_object_get(rec, "command"));
    json_array_foreach(args, i, v) s->argv[i + 1] = json_string_value(v);
    s->argv[json_array_size(args) + 1] = NULL;
    if (!(s->store = json_array()))
        return -ENOMEM;
    json_object_foreach(env, k, v)
    {
        json_t *kv = json_sprintf("%s=%s", k, json_string_value(v));
        if (!kv || json_array_append_new(s->store, kv) < 0)
            return -ENOMEM;
        s->env[n++] = json_string_value(kv);
    }
    s->env[n] = NULL;
    s->spec = (struct svc_spec){
        .name = s->unit,
        .argv = s->argv,
        .env = s->env,
        .working_dir = json_string_value(json_object_get(rec, "working_dir")),
        .restart = json_string_value(json_object_get(rec, "restart_policy")),
        .memory_max = json_string_value(json_object_get(rec, "memory_max")),
        .cpu_quota = json_string_value(json_object_get(rec, "cpu_quota")),
        .dynamic_user = true,
    };
    return 0;
}

static int run_record(struct apps *a, const json_t *rec)
{
    struct app_spec s = {0};
    int r = app_spec_of(rec, &s);

    if (r == 0)
        r = svc_run(a->w->svc, &s.spec);
    app_spec_clear(&s);
    return r;
}

/* The event's view of a record: no environment values (they may hold secrets). */
static json_t *event_of(const json_t *rec, const struct osm_request *req)
{
    json_t *e = json_pack("{s:O, s:O, s:O, s:O, s:s}", "name", json_object_get(rec, "name"), "unit",
                          json_object_get(rec, "unit"), "command", json_object_get(rec, "command"),
                          "args", json_object_get(rec, "args"), "by",
                          !req           ? "watch"
                          : req->operator? "operator"
                                         : "agent");
    json_t *keys = json_array();
    const char *k;
    json_t *v;

    json_object_foreach(json_object_get(rec, "env"), k, v)
        json_array_append_new(keys, json_string(k));
    json_object_set_new(e, "env_keys", keys);
    return e;
}

static int load(struct apps *a)
{
    _cleanup_free_ char *text = NULL;
    json_error_t err;
    size_t len, i;
    json_t *e;
    int r = osm_read_file(a->path, APPS_FILE_MAX, &text, &len);

    if (r == -ENOENT) {
        a->list = json_array();
        return a->list ? 0 : -ENOMEM;
    }
    if (r < 0)
        return r;
    a->list = json_loadb(text, len, 0, &err);
    if (!json_is_array(a->list))
        return -EINVAL;
    json_array_foreach(a->list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *st = app_status(e);
        if (!name || !app_name_valid(name) || !st || !json_is_string(json_object_get(e, "command")))
            return -EINVAL;
    }
    return 0;
}

int apps_open(struct watch *w, struct apps **ret)
{
    struct apps *a = calloc(1, sizeof(*a));
    size_t i;
    json_t *e;
    int r;

    if (!a)
        return -ENOMEM;
    a->w = w;
    pthread_mutex_init(&a->lock, NULL);
    if (!(a->path = osm_path_join(w->data_dir, "apps.json")))
        r = -ENOMEM;
    else if ((r = load(a)) < 0)
        log_error("apps.load", "path=%s error=%d reason=\"%s\"", a->path, r,
                  r == -EINVAL ? "not a valid apps registry" : strerror(-r));
    if (r < 0) {
        apps_free(a);
        return r;
    }
    json_array_foreach(a->list, i,
                       e) if (strcmp(app_status(e), "running") == 0 && (r = run_record(a, e)) < 0)
        log_warn("apps.start", "app=%s error=%d reason=\"%s\"",
                 json_string_value(json_object_get(e, "name")), r, strerror(-r));
    *ret = a;
    return 0;
}

void apps_free(struct apps *a)
{
    if (!a)
        return;
    json_decref(a->list);
    free(a->path);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* ---- app routes ------------------------------------------------------------------------- */

static struct apps *apps_of(struct osm_request *req)
{
    return ((struct watch *)req->userdata)->apps;
}

static json_t *record_new(json_t *body)
{
    char ts[OSM_TS_LEN + 1];
    json_t *rec = json_deep_copy(body);
    const char *name = json_string_value(json_object_get(body, "name"));

    if (!rec)
        return NULL;
    osm_now_ts(ts);
    json_object_del(rec, "page");
    if (!json_object_get(rec, "args"))
        json_object_set_new(rec, "args", json_array());
    if (!json_object_get(rec, "env"))
        json_object_set_new(rec, "env", json_object());
    if (!json_object_get(rec, "restart_policy"))
        json_object_set_new(rec, "restart_policy", json_string("on-failure"));
    json_object_set_new(rec, "unit", json_sprintf("%s%s", APP_UNIT_PREFIX, name));
    json_object_set_new(rec, "deployed_at", json_string(ts));
    json_object_set_new(rec, "status", json_string("running"));
    return rec;
}

static json_t *deploy_error(struct osm_request *req, int r)
{
    if (r == -EOPNOTSUPP)
        return osm_error(req, 422, "invalid_field", NULL,
                         "memory_max and cpu_quota are not enforced by the %s service backend; "
                         "deploy without them",
                         svc_kind_name(((struct watch *)req->userdata)->svc));
    if (r == -EPERM)
        return osm_error(req, 403, "forbidden", NULL,
                         "no unprivileged user to run the app as (apps never run as root)");
    return osm_error_errno(req, r, "deploy failed: %s", strerror(-r));
}

/* Records app.deploy, runs the service, saves the registry (lock held). */
static json_t *deploy_locked(struct osm_request *req, struct apps *a, json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    size_t old;
    int r;

    if ((r = watch_emit(&a->w->events, "app.deploy", event_of(rec, req))) < 0)
        return osm_error(req, 503, "ledger_unavailable", NULL, "app.deploy not recorded: %s",
                         strerror(-r));
    if ((r = run_record(a, rec)) < 0) {
        watch_emit(&a->w->events, "app.deploy_failed",
                   json_pack("{s:s, s:i, s:s}", "name", name, "error", -r, "reason", strerror(-r)));
        return deploy_error(req, r);
    }
    if (find_app(a, name, &old))
        json_array_remove(a->list, old); /* a removed app of that name */
    json_array_append(a->list, rec);
    if ((r = save(a)) < 0)
        log_error("apps.save", "path=%s error=%d", a->path, r);
    return json_pack("{s:s, s:O, s:s}", "name", name, "unit", json_object_get(rec, "unit"),
                     "status", "running");
}

/* Room for one more app: a removed record gives its place. */
static int make_room(struct apps *a)
{
    size_t i;
    json_t *e;

    if (json_array_size(a->list) < APPS_MAX)
        return 0;
    json_array_foreach(a->list, i, e) if (strcmp(app_status(e), "removed") == 0)
    {
        json_array_remove(a->list, i);
        return 0;
    }
    return -ENOSPC;
}

json_t *apps_route_deploy(struct osm_request *req)
{
    struct apps *a = apps_of(req);
    json_t *err = deploy_check(req, req->body), *existing, *out;
    json_auto_t *rec = NULL;
    const char *name;

    if (err)
        return err;
    if (svc_kind(apps_of(req)->w->svc) == SVC_BACKEND_PROCESS &&
        (json_object_get(req->body, "memory_max") || json_object_get(req->body, "cpu_quota")))
        return deploy_error(req, -EOPNOTSUPP); /* before anything is recorded */
    name = json_string_value(json_object_get(req->body, "name"));
    if (!(rec = record_new(req->body)))
        return osm_error_errno(req, -ENOMEM, "out of memory");
    pthread_mutex_lock(&a->lock);
    existing = find_app(a, name, NULL);
    if (existing && strcmp(app_status(existing), "removed") != 0)
        out = osm_error(req, 409, "conflict", json_pack("{s:s}", "name", name),
                        "app '%s' exists; remove it first", name);
    else if (!existing && make_room(a) < 0)
        out = osm_error(req, 507, "insufficient_storage", NULL, "at most %d apps", APPS_MAX);
    else
        out = deploy_locked(req, a, rec);
    pthread_mutex_unlock(&a->lock);
    return out;
}

static json_t *list_entry(struct apps *a, const json_t *rec)
{
    json_t *e =
        json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "name", json_object_get(rec, "name"),
                  "unit", json_object_get(rec, "unit"), "command", json_object_get(rec, "command"),
                  "args", json_object_get(rec, "args"), "restart_policy",
                  json_object_get(rec, "restart_policy"), "status", json_object_get(rec, "status"),
                  "deployed_at", json_object_get(rec, "deployed_at"));
    json_t *st = NULL;

    if (e && svc_status(a->w->svc, json_string_value(json_object_get(rec, "unit")), &st) == 0) {
        json_object_set(e, "active_state", json_object_get(st, "active_state"));
        json_object_set(e, "main_pid", json_object_get(st, "main_pid"));
        json_object_set(e, "restarts", json_object_get(st, "restarts"));
        json_decref(st);
    } else if (e)
        json_object_set_new(e, "active_state", json_string("inactive"));
    return e;
}

json_t *apps_route_list(struct osm_request *req)
{
    struct apps *a = apps_of(req);
    json_t *out = json_array(), *e;
    size_t i;

    pthread_mutex_lock(&a->lock);
    json_array_foreach(a->list, i, e) if (strcmp(app_status(e), "removed") != 0)
        json_array_append_new(out, list_entry(a, e));
    pthread_mutex_unlock(&a->lock);
    return out;
}

/* The record of a deployed (not removed) app named name, or a 404/422 envelope. Lock held. */
static json_t *lookup(struct osm_request *req, struct apps *a, const char *name, json_t **ret)
{
    if (!name || !app_name_valid(name))
        return bad(req, "name", "1-64 characters of [A-Za-z0-9_-]");
    *ret = find_app(a, name, NULL);
    if (!*ret || strcmp(app_status(*ret), "removed") == 0)
        return osm_error(req, 404, "not_found", json_pack("{s:s}", "name", name), "no app '%s'",
                         name);
    return NULL;
}

json_t *apps_route_logs(struct osm_request *req)
{
    struct apps *a = apps_of(req);
    char unit[sizeof(APP_UNIT_PREFIX) + APP_NAME_MAX];
    int64_t lines;
    json_t *err, *rec, *out = NULL;
    struct svc_log_query q = {0};
    int r;

    if ((err = osm_request_query_int(req, "lines", 50, 1, SVC_LOG_LINES_MAX, &lines)))
        return err;
    q.lines = (int)lines;
    pthread_mutex_lock(&a->lock);
    err = lookup(req, a, osm_request_query(req, "name"), &rec);
    if (!err)
        snprintf(unit, sizeof(unit), "%s", json_string_value(json_object_get(rec, "unit")));
    pthread_mutex_unlock(&a->lock);
    if (err)
        return err;
    r = svc_logs(a->w->svc, unit, &q, &out);
    if (r == -ENOENT) /* known to the registry, not running since watch started */
        return json_pack("{s:s, s:[], s:b}", "unit", unit, "lines", "truncated", 0);
    if (r < 0)
        return osm_error_errno(req, r, "logs of %s: %s", unit, strerror(-r));
    json_object_set_new(out, "name", json_string(osm_request_query(req, "name")));
    return out;
}

enum app_action { APP_STOP, APP_RESTART, APP_REMOVE };

static const struct {
    const char *event, *status;
} app_actions[] = {
    [APP_STOP] = {"app.stop", "stopped"},
    [APP_RESTART] = {"app.restart", "running"},
    [APP_REMOVE] = {"app.remove", "removed"},
};

static int act(struct apps *a, json_t *rec, enum app_action what)
{
    const char *unit = json_string_value(json_object_get(rec, "unit"));
    int r;

    switch (what) {
    case APP_STOP:
        r = svc_stop(a->w->svc, unit);
        break;
    case APP_REMOVE:
        r = svc_remove(a->w->svc, unit);
        break;
    case APP_RESTART:
        r = svc_restart(a->w->svc, unit);
        if (r == -ENOENT) /* not running since watch started: run it again */
            r = run_record(a, rec);
        return r;
    }
    return r == -ENOENT ? 0 : r; /* not running: nothing to stop */
}

static json_t *app_action(struct osm_request *req, enum app_action what)
{
    struct apps *a = apps_of(req);
    const char *name = req->n_params ? req->param[0] : NULL;
    json_t *err, *rec, *out;
    int r;

    pthread_mutex_lock(&a->lock);
    if (what == APP_REMOVE && name && (rec = find_app(a, name, NULL)) &&
        strcmp(app_status(rec), "removed") == 0) {
        pthread_mutex_unlock(&a->lock);
        return json_pack("{s:s, s:s}", "name", name, "status", "removed"); /* idempotent */
    }
    if ((err = lookup(req, a, name, &rec))) {
        pthread_mutex_unlock(&a->lock);
        return err;
    }
    if ((r = watch_emit(&a->w->events, app_actions[what].event, event_of(rec, req))) < 0)
        out = osm_error(req, 503, "ledger_unavailable", NULL, "%s not recorded: %s",
                        app_actions[what].event, strerror(-r));
    else if ((r = act(a, rec, what)) < 0)
        out = osm_error_errno(req, r, "%s %s: %s", app_actions[what].event, name, strerror(-r));
    else {
        json_object_set_new(rec, "status", json_string(app_actions[what].status));
        if ((r = save(a)) < 0)
            log_error("apps.save", "path=%s error=%d", a->path, r);
        out = json_pack("{s:s, s:s}", "name", name, "status", app_actions[what].status);
    }
    pthread_mutex_unlock(&a->lock);
    return out;
}

json_t *apps_route_stop(struct osm_request *req)
{
    return app_action(req, APP_STOP);
}
json_t *apps_route_restart(struct osm_request *req)
{
    return app_action(req, APP_RESTART);
}
json_t *apps_route_remove(struct osm_request *req)
{
    return app_action(req, APP_REMOVE);
}

/* ---- service routes --------------------------------------------------------------------- */

static json_t *svc_error(struct osm_request *req, int r, const char *unit)
{
    if (r == -EINVAL)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "unit"),
                         "bad unit name or query");
    return osm_error_errno(req, r, "%s: %s", unit ? unit : "?", strerror(-r));
}

static const char *unit_of(struct osm_request *req, json_t **err)
{
    const char *unit = osm_request_query(req, "unit");

    *err = NULL;
    if (!unit || !svc_name_valid(unit))
        *err = bad(req, "unit", "1-256 characters of [A-Za-z0-9@._:-]");
    return unit;
}

json_t *service_route_status(struct osm_request *req)
{
    struct watch *w = req->userdata;
    json_t *err, *out = NULL;
    const char *unit = unit_of(req, &err);
    int r;

    if (err)
        return err;
    r = svc_status(w->svc, unit, &out);
    return r < 0 ? svc_error(req, r, unit) : out;
}

json_t *service_route_logs(struct osm_request *req)
{
    struct watch *w = req->userdata;
    json_t *err, *out = NULL;
    const char *unit = unit_of(req, &err);
    struct svc_log_query q = {.priority = osm_request_query(req, "priority"),
                              .since = osm_request_query(req, "since")};
    int64_t lines;
    int r;

    if (err || (err = osm_request_query_int(req, "lines", 50, 1, SVC_LOG_LINES_MAX, &lines)))
        return err;
    q.lines = (int)lines;
    r = svc_logs(w->svc, unit, &q, &out);
    if (r == -EINVAL)
        return osm_error(req, 422, "invalid_field", NULL,
                         "priority is emerg..debug or 0-7; since is \"YYYY-MM-DD HH:MM:SS\" "
                         "(UTC) or \"N seconds|minutes|hours|days ago\"");
    return r < 0 ? svc_error(req, r, unit) : out;
}

static const struct {
    const char *name;
    int (*fn)(struct svc *s, const char *unit);
} service_actions[] = {
    {"start", svc_start},
    {"stop", svc_stop},
    {"restart", svc_restart},
};

json_t *service_route_action(struct osm_request *req)
{
    struct watch *w = req->userdata;
    const char *unit = req->param[0], *action = req->param[1];
    json_t *st = NULL;
    int r;

    if (!svc_name_valid(unit))
        return bad(req, "unit", "1-256 characters of [A-Za-z0-9@._:-]");
    for (size_t i = 0; i < ELEMENTSOF(service_actions); i++) {
        if (strcmp(action, service_actions[i].name) != 0)
            continue;
        if ((r = svc_status(w->svc, unit, &st)) < 0)
            return svc_error(req, r, unit);
        json_decref(st);
        r = watch_emit(&w->events, "service.request",
                       json_pack("{s:s, s:s, s:s}", "unit", unit, "action", action, "by",
                                 req->operator? "operator" : "agent"));
        if (r < 0)
            return osm_error(req, 503, "ledger_unavailable", NULL, "service.request not recorded");
        if ((r = service_actions[i].fn(w->svc, unit)) < 0)
            return svc_error(req, r, unit);
        return svc_status(w->svc, unit, &st) == 0 ? st : json_pack("{s:s}", "unit", unit);
    }
    return bad(req, "action", "start, stop or restart");
}
