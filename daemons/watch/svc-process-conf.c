/* Process backend: services from the services file and from specs (apps), copied into the
 * supervisor's own structures after validation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "svc-process-internal.h"

static const struct {
    const char *name;
    enum proc_restart value;
} restart_names[] = {
    {"no", RESTART_NO},
    {"always", RESTART_ALWAYS},
    {"on-success", RESTART_ON_SUCCESS},
    {"on-failure", RESTART_ON_FAILURE},
    {"on-abnormal", RESTART_ON_ABNORMAL},
    {"on-abort", RESTART_ON_ABORT},
    {"on-watchdog", RESTART_ON_WATCHDOG},
};

int proc_restart_parse(const char *text, enum proc_restart *ret)
{
    if (!text) {
        *ret = RESTART_ON_FAILURE;
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(restart_names); i++)
        if (strcmp(restart_names[i].name, text) == 0) {
            *ret = restart_names[i].value;
            return 0;
        }
    return -EINVAL;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A NULL-terminated copy of v (NULL stays NULL). -E2BIG past the caps. */
static int strv_copy(const char *const *v, char ***ret)
{
    size_t n = 0;
    char **out;

    *ret = NULL;
    if (!v)
        return 0;
    while (v[n])
        if (++n > SVC_ARGV_MAX)
            return -E2BIG;
    if (!(out = calloc(n + 1, sizeof(*out))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (strlen(v[i]) > SVC_ARG_BYTES_MAX || !(out[i] = strdup(v[i]))) {
            strv_free(out);
            return strlen(v[i]) > SVC_ARG_BYTES_MAX ? -E2BIG : -ENOMEM;
        }
    }
    *ret = out;
    return 0;
}

static bool env_entry_valid(const char *e)
{
    const char *eq = strchr(e, '=');

    return eq && eq != e;
}

void proc_svc_free(struct proc_svc *p)
{
    if (!p)
        return;
    free(p->name);
    strv_free(p->argv);
    strv_free(p->env);
    free(p->working_dir);
    free(p->starts);
    free(p);
}

/* The name without a ".service" suffix: "nginx" and "nginx.service" are one service. */
static char *name_canonical(const char *name)
{
    size_t n = strlen(name);

    if (n > 8 && strcmp(name + n - 8, ".service") == 0)
        return strndup(name, n - 8);
    return strdup(name);
}

int proc_svc_from_spec(const struct svc_spec *spec, struct proc_svc **ret)
{
    struct proc_svc *p = calloc(1, sizeof(*p));
    int r = -ENOMEM;

    if (!p)
        return -ENOMEM;
    p->pidfd = p->notify_fd = p->out.fd = p->err.fd = p->log_fd = -1;
    p->w_pid = (struct proc_watch){PW_PIDFD, p};
    p->w_out = (struct proc_watch){PW_STDOUT, p};
    p->w_err = (struct proc_watch){PW_STDERR, p};
    p->w_notify = (struct proc_watch){PW_NOTIFY, p};
    p->enabled = true;
    p->notify = spec->notify;
    p->dynamic_user = spec->dynamic_user;
    p->result = "success";
    p->since_ms = osm_realtime_ms();
    if (!(p->name = name_canonical(spec->name)) ||
        (spec->working_dir && !(p->working_dir = strdup(spec->working_dir))))
        goto fail;
    if ((r = proc_restart_parse(spec->restart, &p->restart)) < 0 ||
        (r = strv_copy(spec->argv, &p->argv)) < 0 || (r = strv_copy(spec->env, &p->env)) < 0)
        goto fail;
    r = -EINVAL;
    if (!p->argv || !p->argv[0] || p->argv[0][0] != '/' ||
        (p->working_dir && p->working_dir[0] != '/'))
        goto fail;
    for (size_t i = 0; p->env && p->env[i]; i++)
        if (!env_entry_valid(p->env[i]))
            goto fail;
    *ret = p;
    return 0;
fail:
    proc_svc_free(p);
    return r;
}

/* ---- the services file ------------------------------------------------------------------ */

/* Strings of a JSON array into a NULL-terminated array of borrowed pointers. */
static int argv_of(json_t *arr, const char **out, size_t max)
{
    size_t i;
    json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) >= max)
        return -EINVAL;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return -EINVAL;
        out[i] = json_string_value(v);
    }
    out[json_array_size(arr)] = NULL;
    return 0;
}

/* env {"K": "V"} into "K=V" strings kept in store. */
static int env_of(json_t *obj, json_t *store, const char **out, size_t max)
{
    const char *k;
    json_t *v;
    size_t n = 0;

    if (!obj) {
        out[0] = NULL;
        return 0;
    }
    if (!json_is_object(obj) || json_object_size(obj) >= max)
        return -EINVAL;
    json_object_foreach(obj, k, v)
    {
        json_t *kv;
        if (!json_is_string(v) || !*k || strchr(k, '=') ||
            strlen(json_string_value(v)) != json_string_length(v))
            return -EINVAL;
        kv = json_sprintf("%s=%s", k, json_string_value(v));
        if (!kv || json_array_append_new(store, kv) < 0)
            return -ENOMEM;
        out[n++] = json_string_value(kv);
    }
    out[n] = NULL;
    return 0;
}

static int conf_entry(struct proc_backend *b, json_t *e, size_t index)
{
    const char *name, *wd = NULL, *restart = NULL;
    json_t *argv_j, *env_j = NULL;
    int notify = 0, enabled = 1, r;
    json_error_t err;
    const char *argv[SVC_ARGV_MAX + 1], *env[SVC_ARGV_MAX + 1];
    json_auto_t *store = json_array();
    struct proc_svc *p;

    if (json_unpack_ex(e, &err, JSON_STRICT, "{s:s, s:o, s?s, s?o, s?s, s?b, s?b}", "name", &name,
                       "argv", &argv_j, "working_dir", &wd, "env", &env_j, "restart", &restart,
                       "notify", &notify, "enabled", &enabled) < 0) {
        log_error("svc.conf", "entry=%zu reason=\"%s\"", index, err.text);
        return -EINVAL;
    }
    if (!svc_name_valid(name) || argv_of(argv_j, argv, ELEMENTSOF(argv)) < 0 ||
        env_of(env_j, store, env, ELEMENTSOF(env)) < 0) {
        log_error("svc.conf", "entry=%zu reason=\"bad name, argv or env\"", index);
        return -EINVAL;
    }
    struct svc_spec spec = {.name = name,
                            .argv = argv,
                            .env = env,
                            .working_dir = wd,
                            .restart = restart,
                            .notify = notify};
    if ((r = proc_svc_from_spec(&spec, &p)) < 0) {
        log_error("svc.conf", "entry=%zu name=%s error=%d reason=\"%s\"", index, name, r,
                  strerror(-r));
        return r;
    }
    p->enabled = enabled;
    for (size_t i = 0; i < b->n_svcs; i++)
        if (strcmp(b->svcs[i]->name, p->name) == 0) {
            log_error("svc.conf", "entry=%zu name=%s reason=\"defined twice\"", index, name);
            proc_svc_free(p);
            return -EINVAL;
        }
    b->svcs[b->n_svcs++] = p;
    return 0;
}

int proc_conf_load(struct proc_backend *b, const char *path)
{
    _cleanup_free_ char *text = NULL;
    json_auto_t *root = NULL;
    json_error_t err;
    size_t i, len;
    json_t *e;
    int r;

    if (!path)
        return 0;
    r = osm_read_file(path, SVC_SERVICES_FILE_MAX, &text, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err)) || !json_is_array(root) ||
        json_array_size(root) > SVC_PROCESS_MAX) {
        log_error("svc.conf", "path=%s reason=\"%s\"", path,
                  root ? "not an array of at most SVC_PROCESS_MAX services" : err.text);
        return -EINVAL;
    }
    json_array_foreach(root, i, e) if ((r = conf_entry(b, e, i)) < 0) return r;
    return 0;
}
