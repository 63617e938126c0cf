/* The systemd backend of the service interface: systemd's manager over sd-bus (jobs waited for
 * through JobRemoved, never polled), unit properties, enable/disable, transient units for apps,
 * and the journal through sd-journal.
 *
 * sd-bus objects are not thread-safe. Queries (status, is_active, main_pid, list) share one
 * connection under a mutex: a property read is one short round trip. A call that starts a job
 * or changes unit files opens its own connection for its duration (about a millisecond to
 * connect), so that a stop that takes seconds never holds up the watchers' status checks. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "svc-internal.h"
#include "svc-systemd.h"

#define DEST "org.freedesktop.systemd1"
#define OBJ "/org/freedesktop/systemd1"
#define MANAGER "org.freedesktop.systemd1.Manager"
#define UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SERVICE_IFACE "org.freedesktop.systemd1.Service"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define UNIT_PATH_PREFIX "/org/freedesktop/systemd1/unit"

struct svc_systemd {
    struct svc base;
    pthread_mutex_t lock; /* guards bus */
    sd_bus *bus;          /* queries; reopened when it was closed under us */
    char *address;        /* NULL: the system bus */
};

static struct svc_systemd *sd_of(struct svc *s)
{
    return (struct svc_systemd *)s;
}

/* ------------------------------------------------------------------ errors */

/* systemd's bus errors that mean something to our callers; anything else is -EIO. */
static const struct {
    const char *name;
    int err;
} bus_errors[] = {
    {"org.freedesktop.systemd1.NoSuchUnit", ENOENT},
    {"org.freedesktop.systemd1.LoadFailed", ENOENT},
    {"org.freedesktop.systemd1.NoSuchJob", ENOENT},
    {"org.freedesktop.systemd1.UnitExists", EEXIST},
    {"org.freedesktop.systemd1.UnitMasked", EPERM},
    {"org.freedesktop.systemd1.OnlyByDependency", EPERM},
    {"org.freedesktop.systemd1.JobTypeNotApplicable", EOPNOTSUPP},
    {"org.freedesktop.systemd1.TransactionIsDestructive", EBUSY},
    {"org.freedesktop.DBus.Error.InvalidArgs", EINVAL},
    {"org.freedesktop.DBus.Error.FileNotFound", ENOENT},
    {"org.freedesktop.DBus.Error.AccessDenied", EACCES},
};

/* The -errno of a failed call: a known error as itself, the rest -EIO, logged once here. */
static int bus_fail(const char *what, const char *unit, const sd_bus_error *e, int r)
{
    char qm[256];

    for (size_t i = 0; i < ELEMENTSOF(bus_errors); i++)
        if (sd_bus_error_has_name(e, bus_errors[i].name))
            return -bus_errors[i].err;
    log_warn("svc.systemd", "what=%s unit=%s error=%d bus_error=%s message=%s", what,
             unit ? unit : "-", r, sd_bus_error_is_set(e) ? e->name : "-",
             osm_log_quote(sd_bus_error_is_set(e) ? e->message : strerror(-r), qm, sizeof(qm)));
    return -EIO;
}

/* ------------------------------------------------------------------ connections */

static int bus_connect(const char *address, sd_bus **ret)
{
    sd_bus *b = NULL;
    int r;

    if (!address)
        r = sd_bus_open_system(&b);
    else if ((r = sd_bus_new(&b)) >= 0 && (r = sd_bus_set_address(b, address)) >= 0 &&
             (r = sd_bus_set_bus_client(b, 1)) >= 0)
        r = sd_bus_start(b);
    if (r < 0) {
        sd_bus_unref(b);
        return r;
    }
    *ret = b;
    return 0;
}

static void unlockp(pthread_mutex_t **m)
{
    if (*m)
        pthread_mutex_unlock(*m);
}

/* Locks the query connection (reconnecting when systemd or the bus went away) and returns the
 * lock for a _cleanup_(unlockp) variable. */
static pthread_mutex_t *query_lock(struct svc_systemd *sd, int *ret_err)
{
    pthread_mutex_lock(&sd->lock);
    *ret_err = 0;
    if (sd->bus && sd_bus_is_open(sd->bus) > 0)
        return &sd->lock;
    sd->bus = sd_bus_flush_close_unref(sd->bus);
    if (bus_connect(sd->address, &sd->bus) < 0)
        *ret_err = -EIO;
    return &sd->lock;
}

/* ------------------------------------------------------------------ properties */

/* What status reads of a unit; strings are borrowed from the replies kept here. */
struct unit_props {
    sd_bus_message *replies[2];
    const char *load_state, *active_state, *sub_state, *description, *result;
    uint32_t main_pid, n_restarts;
    int32_t exec_code, exec_status;
    uint64_t active_enter_us;
    bool is_service;
};

static const struct prop {
    const char *iface, *name;
    char type;
    size_t offset;
} props_table[] = {
    {UNIT_IFACE, "LoadState", 's', offsetof(struct unit_props, load_state)},
    {UNIT_IFACE, "ActiveState", 's', offsetof(struct unit_props, active_state)},
    {UNIT_IFACE, "SubState", 's', offsetof(struct unit_props, sub_state)},
    {UNIT_IFACE, "Description", 's', offsetof(struct unit_props, description)},
    {UNIT_IFACE, "ActiveEnterTimestamp", 't', offsetof(struct unit_props, active_enter_us)},
    {SERVICE_IFACE, "MainPID", 'u', offsetof(struct unit_props, main_pid)},
    {SERVICE_IFACE, "NRestarts", 'u', offsetof(struct unit_props, n_restarts)},
    {SERVICE_IFACE, "Result", 's', offsetof(struct unit_props, result)},
    {SERVICE_IFACE, "ExecMainCode", 'i', offsetof(struct unit_props, exec_code)},
    {SERVICE_IFACE, "ExecMainStatus", 'i', offsetof(struct unit_props, exec_status)},
};

static void unit_props_clear(struct unit_props *p)
{
    for (size_t i = 0; i < ELEMENTSOF(p->replies); i++)
        sd_bus_message_unref(p->replies[i]);
}

static const struct prop *prop_find(const char *iface, const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(props_table); i++)
        if (strcmp(props_table[i].iface, iface) == 0 && strcmp(props_table[i].name, name) == 0)
            return &props_table[i];
    return NULL;
}

static int prop_read(sd_bus_message *m, const struct prop *d, struct unit_props *p)
{
    char sig[2] = {d->type, '\0'};
    int r = sd_bus_message_enter_container(m, 'v', sig);

    if (r < 0)
        return r;
    if ((r = sd_bus_message_read_basic(m, d->type, (char *)p + d->offset)) < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

/* Reads the a{sv} of GetAll(iface), keeping the properties of props_table. */
static int props_parse(sd_bus_message *m, const char *iface, struct unit_props *p)
{
    const struct prop *d;
    const char *name;
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");

    while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        if ((r = sd_bus_message_read(m, "s", &name)) < 0)
            break;
        d = prop_find(iface, name);
        r = d ? prop_read(m, d, p) : sd_bus_message_skip(m, "v");
        if (r >= 0)
            r = sd_bus_message_exit_container(m);
    }
    return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* The unit's properties (GetAll on its object, which loads the unit). A unit systemd cannot
 * find is -ENOENT. Call with the query lock held. */
static int props_get(sd_bus *bus, const char *unit, struct unit_props *p)
{
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = NULL;
    const char *ifaces[] = {UNIT_IFACE, SERVICE_IFACE};
    size_t n;
    int r;

    *p = (struct unit_props){.is_service = strlen(unit) > 8 &&
                                           strcmp(unit + strlen(unit) - 8, ".service") == 0};
    if ((r = sd_bus_path_encode(UNIT_PATH_PREFIX, unit, &path)) < 0)
        return r;
    n = p->is_service ? 2 : 1;
    for (size_t i = 0; i < n; i++) {
        r = sd_bus_call_method(bus, DEST, path, PROPS_IFACE, "GetAll", &e, &p->replies[i], "s",
                               ifaces[i]);
        if (r < 0)
            return bus_fail("GetAll", unit, &e, r);
        if ((r = props_parse(p->replies[i], ifaces[i], p)) < 0)
            return bus_fail("GetAll", unit, &e, r);
    }
    if (!p->load_state || !p->active_state)
        return -EIO;
    return strcmp(p->load_state, "not-found") == 0 ? -ENOENT : 0;
}

/* props_get on the shared connection. */
static int unit_props(struct svc_systemd *sd, const char *name, struct unit_props *p)
{
    char unit[SVC_SYSTEMD_UNIT_MAX];
    int r = svc_systemd_unit_name(name, unit);
    _cleanup_(unlockp) pthread_mutex_t *l = NULL;

    if (r < 0)
        return r;
    l = query_lock(sd, &r);
    return r < 0 ? r : props_get(sd->bus, unit, p);
}

/* ------------------------------------------------------------------ jobs */

struct job_wait {
    const char *path; /* the job's object path, once StartUnit & co. answered */
    bool done;
    char result[32];
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    struct job_wait *w = userdata;
    const char *path, *unit, *result;
    uint32_t id;

    if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
        return 0;
    if (w->path && strcmp(path, w->path) == 0) {
        w->done = true;
        snprintf(w->result, sizeof(w->result), "%s", result);
    }
    return 0;
}

static int job_wait(sd_bus *bus, struct job_wait *w)
{
    int64_t deadline = osm_monotonic_ms() + SVC_SYSTEMD_JOB_TIMEOUT_MS, left;
    int r;

    while (!w->done) {
        if ((r = sd_bus_process(bus, NULL)) < 0)
            return r;
        if (r > 0)
            continue;
        if ((left = deadline - osm_monotonic_ms()) <= 0)
            return -ETIMEDOUT;
        if ((r = sd_bus_wait(bus, (uint64_t)left * 1000)) < 0)
            return r;
    }
    return 0;
}

/* What a finished job's result means for the caller. */
static int job_result(const char *unit, const char *result)
{
    static const struct {
        const char *result;
        int r;
    } results[] = {{"done", 0}, {"skipped", 0}, {"canceled", -ECANCELED}, {"timeout", -ETIMEDOUT}};

    for (size_t i = 0; i < ELEMENTSOF(results); i++)
        if (strcmp(result, results[i].result) == 0)
            return results[i].r;
    log_warn("svc.systemd", "what=job unit=%s result=%s", unit, result);
    return -EIO; /* failed, dependency, invalid, ... */
}

typedef int (*append_fn)(sd_bus_message *m, const char *unit, const void *ctx);

static int append_replace(sd_bus_message *m, const char *unit, const void *ctx)
{
    return sd_bus_message_append(m, "ss", unit, "replace");
}

/* Calls a Manager method that enqueues a job on unit, and waits for the job to finish: the
 * match on JobRemoved is in place before the call, so its end cannot be missed. */
static int job_call(struct svc_systemd *sd, const char *method, const char *unit, append_fn append,
                    const void *ctx)
{
    _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
    _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    struct job_wait w = {0};
    int r;

    if ((r = bus_connect(sd->address, &bus)) < 0)
        return bus_fail("connect", unit, &e, r);
    r = sd_bus_match_signal(bus, &slot, DEST, OBJ, MANAGER, "JobRemoved", on_job_removed, &w);
    if (r >= 0)
        r = sd_bus_call_method(bus, DEST, OBJ, MANAGER, "Subscribe", &e, NULL, NULL);
    if (r >= 0)
        r = sd_bus_message_new_method_call(bus, &call, DEST, OBJ, MANAGER, method);
    if (r >= 0)
        r = append(call, unit, ctx);
    if (r >= 0)
        r = sd_bus_call(bus, call, 0, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &w.path);
    if (r < 0)
        return bus_fail(method, unit, &e, r);
    if ((r = job_wait(bus, &w)) < 0)
        return r == -ETIMEDOUT ? r : bus_fail("JobRemoved", unit, &e, r);
    return job_result(unit, w.result);
}

static int unit_job(struct svc *s, const char *name, const char *method)
{
    char unit[SVC_SYSTEMD_UNIT_MAX];
    int r = svc_systemd_unit_name(name, unit);

    return r < 0 ? r : job_call(sd_of(s), method, unit, append_replace, NULL);
}

static int op_start(struct svc *s, const char *unit)
{
    return unit_job(s, unit, "StartUnit");
}

static int op_stop(struct svc *s, const char *unit)
{
    return unit_job(s, unit, "StopUnit");
}

static int op_restart(struct svc *s, const char *unit)
{
    return unit_job(s, unit, "RestartUnit");
}

static int op_reload_or_restart(struct svc *s, const char *unit)
{
    return unit_job(s, unit, "ReloadOrRestartUnit");
}

/* ------------------------------------------------------------------ unit files */

static int skip_changes(sd_bus_message *reply)
{
    return sd_bus_message_skip(reply, "a(sss)");
}

static int op_enable(struct svc *s, const char *name, bool enable)
{
    _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    char unit[SVC_SYSTEMD_UNIT_MAX];
    const char *method = enable ? "EnableUnitFiles" : "DisableUnitFiles";
    int install_info = 1, r;

    if ((r = svc_systemd_unit_name(name, unit)) < 0)
        return r;
    if ((r = bus_connect(sd_of(s)->address, &bus)) < 0)
        return bus_fail("connect", unit, &e, r);
    if (enable)
        r = sd_bus_call_method(bus, DEST, OBJ, MANAGER, method, &e, &reply, "asbb", 1, unit, 0, 0);
    else
        r = sd_bus_call_method(bus, DEST, OBJ, MANAGER, method, &e, &reply, "asb", 1, unit, 0);
    if (r >= 0 && enable)
        r = sd_bus_message_read(reply, "b", &install_info);
    if (r >= 0)
        r = skip_changes(reply);
    if (r < 0)
        return bus_fail(method, unit, &e, r);
    if (!install_info) /* no [Install] section: nothing can enable it */
        return -EINVAL;
    r = sd_bus_call_method(bus, DEST, OBJ, MANAGER, "Reload", &e, NULL, NULL);
    return r < 0 ? bus_fail("Reload", unit, &e, r) : 0;
}

/* ------------------------------------------------------------------ queries */

static int op_is_active(struct svc *s, const char *unit)
{
    struct unit_props p;
    int r = unit_props(sd_of(s), unit, &p);

    if (r == 0)
        r = strcmp(p.active_state, "active") == 0 || strcmp(p.active_state, "reloading") == 0;
    unit_props_clear(&p);
    return r;
}

static json_t *since_json(uint64_t usec)
{
    char ts[OSM_TS_LEN + 1];

    if (usec == 0)
        return json_null();
    osm_format_ts((time_t)(usec / 1000000), (unsigned)(usec / 1000 % 1000), ts);
    return json_string(ts);
}

static json_t *exec_json(const struct unit_props *p)
{
    static const char *const codes[] = {"", "exited", "killed", "dumped"};

    if (p->exec_code < 1 || p->exec_code > 3)
        return NULL;
    return json_pack("{s:s, s:i}", "code", codes[p->exec_code], "status", (int)p->exec_status);
}

static json_t *status_json(const char *unit, const struct unit_props *p)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:s}", "unit", unit, "backend", "systemd",
                  "active_state", p->active_state, "sub_state", p->sub_state ? p->sub_state : "",
                  "main_pid", (json_int_t)p->main_pid, "since", since_json(p->active_enter_us),
                  "restarts", (json_int_t)p->n_restarts, "result", p->result ? p->result : "");
    json_t *exec = exec_json(p);

    if (j && p->description && *p->description)
        json_object_set_new(j, "description", json_string(p->description));
    if (j && exec)
        json_object_set_new(j, "exec", exec);
    else
        json_decref(exec);
    return j;
}

static int op_status(struct svc *s, const char *name, json_t **ret)
{
    char unit[SVC_SYSTEMD_UNIT_MAX];
    struct unit_props p = {0};
    int r = svc_systemd_unit_name(name, unit);

    if (r == 0 && (r = unit_props(sd_of(s), unit, &p)) == 0)
        r = (*ret = status_json(unit, &p)) ? 0 : -ENOMEM;
    unit_props_clear(&p);
    return r;
}

static int op_main_pid(struct svc *s, const char *unit, pid_t *ret)
{
    struct unit_props p;
    int r = unit_props(sd_of(s), unit, &p);

    if (r == 0)
        *ret = (pid_t)p.main_pid;
    unit_props_clear(&p);
    return r;
}

/* Names of the loaded service units matching pattern (ListUnitsByPatterns). */
static int list_names(struct svc_systemd *sd, const char *pattern, json_t *names)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_(unlockp) pthread_mutex_t *l = NULL;
    const char *name;
    int r;

    l = query_lock(sd, &r);
    if (r < 0)
        return r;
    r = sd_bus_call_method(sd->bus, DEST, OBJ, MANAGER, "ListUnitsByPatterns", &e, &reply, "asas",
                           0, 1, pattern);
    if (r >= 0)
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
    while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL,
                                              NULL, NULL, NULL, NULL, NULL)) > 0)
        if (json_array_append_new(names, json_string(name)) < 0)
            return -ENOMEM;
    return r < 0 ? bus_fail("ListUnitsByPatterns", pattern, &e, r) : 0;
}

static int op_list(struct svc *s, const char *prefix, json_t **ret)
{
    json_auto_t *names = json_array(), *out = json_array();
    char pattern[SVC_SYSTEMD_UNIT_MAX + 2];
    json_t *name, *st;
    size_t i;
    int r;

    if (prefix && *prefix && !svc_name_valid(prefix)) /* valid names hold no glob character */
        return -EINVAL;
    snprintf(pattern, sizeof(pattern), "%s*.service", prefix ? prefix : "");
    if (!names || !out)
        return -ENOMEM;
    if ((r = list_names(sd_of(s), pattern, names)) < 0)
        return r;
    json_array_foreach(names, i, name)
    {
        r = op_status(s, json_string_value(name), &st);
        if (r == -ENOENT) /* gone since the listing */
            continue;
        if (r < 0)
            return r;
        json_array_append_new(out, st);
    }
    *ret = json_incref(out);
    return 0;
}

/* ------------------------------------------------------------------ transient units */

static const char *const restart_values[] = {
    "no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"};

static bool restart_valid(const char *v)
{
    for (size_t i = 0; i < ELEMENTSOF(restart_values); i++)
        if (strcmp(v, restart_values[i]) == 0)
            return true;
    return false;
}

static bool env_valid(const char *const *env)
{
    for (; env && *env; env++) {
        const char *eq = strchr(*env, '=');
        if (!eq || eq == *env)
            return false;
    }
    return true;
}

/* The spec, checked and converted, as StartTransientUnit's properties need it. */
struct transient {
    const struct svc_spec *spec;
    const char *restart;
    uint64_t memory_max, cpu_usec; /* 0: not set */
};

static int transient_check(const struct svc_spec *spec, struct transient *t)
{
    *t = (struct transient){.spec = spec, .restart = spec->restart ? spec->restart : "on-failure"};
    if (!restart_valid(t->restart) || !env_valid(spec->env))
        return -EINVAL;
    if (spec->working_dir && spec->working_dir[0] != '/')
        return -EINVAL;
    if (spec->memory_max && svc_systemd_parse_bytes(spec->memory_max, &t->memory_max) < 0)
        return -EINVAL;
    if (spec->cpu_quota && svc_systemd_parse_cpu_quota(spec->cpu_quota, &t->cpu_usec) < 0)
        return -EINVAL;
    return 0;
}

static int append_exec(sd_bus_message *m, const char *const *argv)
{
    int r = sd_bus_message_append(m, "s", "ExecStart");

    if (r >= 0)
        r = sd_bus_message_open_container(m, 'v', "a(sasb)");
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "(sasb)");
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'r', "sasb");
    if (r >= 0)
        r = sd_bus_message_append(m, "s", argv[0]);
    if (r >= 0)
        r = sd_bus_message_append_strv(m, (char **)argv);
    if (r >= 0)
        r = sd_bus_message_append(m, "b", 0);
    for (int i = 0; i < 3 && r >= 0; i++)
        r = sd_bus_message_close_container(m);
    return r;
}

static int append_env(sd_bus_message *m, const char *const *env)
{
    int r = sd_bus_message_append(m, "s", "Environment");

    if (r >= 0)
        r = sd_bus_message_open_container(m, 'v', "as");
    if (r >= 0)
        r = sd_bus_message_append_strv(m, (char **)env);
    return r >= 0 ? sd_bus_message_close_container(m) : r;
}

/* One (sv) property of the transient unit; the sv pair is appended by fn. */
static int append_prop(sd_bus_message *m, int (*fn)(sd_bus_message *, const void *),
                       const void *arg)
{
    int r = sd_bus_message_open_container(m, 'r', "sv");

    if (r >= 0)
        r = fn(m, arg);
    return r >= 0 ? sd_bus_message_close_container(m) : r;
}

static int prop_exec(sd_bus_message *m, const void *arg)
{
    return append_exec(m, arg);
}

static int prop_env(sd_bus_message *m, const void *arg)
{
    return append_env(m, arg);
}

static int append_props(sd_bus_message *m, const struct transient *t)
{
    const struct svc_spec *sp = t->spec;
    int r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "Description", "s", sp->name, "Type", "s",
                                  sp->notify ? "notify" : "exec", "Restart", "s", t->restart,
                                  "DynamicUser", "b", (int)sp->dynamic_user);

    if (r >= 0)
        r = append_prop(m, prop_exec, sp->argv);
    if (r >= 0 && sp->env && sp->env[0])
        r = append_prop(m, prop_env, sp->env);
    if (r >= 0 && sp->working_dir)
        r = sd_bus_message_append(m, "(sv)", "WorkingDirectory", "s", sp->working_dir);
    if (r >= 0 && t->memory_max)
        r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", t->memory_max);
    if (r >= 0 && t->cpu_usec)
        r = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t", t->cpu_usec);
    return r;
}

static int append_transient(sd_bus_message *m, const char *unit, const void *ctx)
{
    int r = sd_bus_message_append(m, "ss", unit, "fail");

    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "(sv)");
    if (r >= 0)
        r = append_props(m, ctx);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r >= 0 ? sd_bus_message_append(m, "a(sa(sv))", 0) : r;
}

static int op_run(struct svc *s, const struct svc_spec *spec)
{
    char unit[SVC_SYSTEMD_UNIT_MAX];
    struct transient t;
    int r = svc_systemd_unit_name(spec->name, unit);

    if (r < 0 || (r = transient_check(spec, &t)) < 0)
        return r;
    return job_call(sd_of(s), "StartTransientUnit", unit, append_transient, &t);
}

static int op_remove(struct svc *s, const char *name)
{
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_(unlockp) pthread_mutex_t *l = NULL;
    char unit[SVC_SYSTEMD_UNIT_MAX];
    int r = svc_systemd_unit_name(name, unit);

    if (r < 0 || (r = job_call(sd_of(s), "StopUnit", unit, append_replace, NULL)) < 0)
        return r;
    l = query_lock(sd_of(s), &r);
    if (r < 0)
        return r;
    /* a failed unit stays loaded until its failure is reset; a stopped one is already gone */
    r = sd_bus_call_method(sd_of(s)->bus, DEST, OBJ, MANAGER, "ResetFailedUnit", &e, NULL, "s",
                           unit);
    if (r < 0 && !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
        return bus_fail("ResetFailedUnit", unit, &e, r);
    return 0;
}

/* ------------------------------------------------------------------ open / free */

static void op_free(struct svc *s)
{
    struct svc_systemd *sd = sd_of(s);

    sd_bus_flush_close_unref(sd->bus);
    pthread_mutex_destroy(&sd->lock);
    free(sd->address);
    free(sd);
}

static const struct svc_ops systemd_ops = {
    .start = op_start,
    .stop = op_stop,
    .restart = op_restart,
    .reload_or_restart = op_reload_or_restart,
    .enable = op_enable,
    .is_active = op_is_active,
    .status = op_status,
    .logs = svc_systemd_logs,
    .run = op_run,
    .remove = op_remove,
    .list = op_list,
    .main_pid = op_main_pid,
    .free = op_free,
};

/* systemd answers on the bus: its manager's Version property can be read. */
static int manager_reachable(sd_bus *bus)
{
    _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *version = NULL;

    return sd_bus_get_property_string(bus, DEST, OBJ, MANAGER, "Version", &e, &version);
}

int svc_open_systemd(const char *bus_address, const struct watch_events *ev, struct svc **ret)
{
    struct svc_systemd *sd = calloc(1, sizeof(*sd));
    int r;

    if (!sd)
        return -ENOMEM;
    sd->base = (struct svc){.ops = &systemd_ops, .kind = SVC_BACKEND_SYSTEMD, .events = *ev};
    pthread_mutex_init(&sd->lock, NULL);
    if (bus_address && !(sd->address = strdup(bus_address)))
        r = -ENOMEM;
    else if ((r = bus_connect(bus_address, &sd->bus)) < 0 || (r = manager_reachable(sd->bus)) < 0)
        r = -ENOTCONN;
    if (r < 0) {
        log_debug("svc.systemd", "what=open address=%s error=%d",
                  bus_address ? bus_address : "system", r);
        op_free(&sd->base);
        return r;
    }
    *ret = &sd->base;
    return 0;
}
