/* The executor's life: configuration, the policy and its reload, the jobs layer, the agent
 * socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/daemon.h"
#include "exec-internal.h"

/* The jobs layer's store is the executor's sink, with the daemon as the actor of job events. */
static int jobs_record(void *ctx, const char *type, const json_t *payload,
                       int (*apply)(sqlite3 *db, void *actx), void *actx)
{
    struct osm_exec *e = ctx;

    return e->sink.record(e->sink.ctx, type, e->daemon, payload, apply, actx, NULL);
}

static int jobs_read(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx)
{
    struct osm_exec *e = ctx;

    return e->sink.read(e->sink.ctx, fn, fctx);
}

static int jobs_setup(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx)
{
    struct osm_exec *e = ctx;

    return e->sink.setup(e->sink.ctx, fn, fctx);
}

static char **copy_strings(const char *const *list)
{
    size_t n = 0;
    char **out;

    while (list && list[n])
        n++;
    out = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(list[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

static int policy_load(struct osm_exec *e, struct osm_policy **ret, char *err, size_t errlen)
{
    return osm_policy_load(e->policy_path, (const char *const *)e->protected_paths, geteuid(), ret,
                           err, errlen);
}

int osm_exec_reload(struct osm_exec *e, char *err, size_t errlen)
{
    struct osm_policy *fresh = NULL, *old;
    int r = policy_load(e, &fresh, err, errlen);

    if (r < 0)
        return r;
    pthread_rwlock_wrlock(&e->policy_lock);
    old = e->policy;
    e->policy = fresh;
    pthread_rwlock_unlock(&e->policy_lock);
    osm_policy_free(old);
    return 0;
}

/* name in the directory of path (new string). */
static char *beside(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    char *out = NULL;

    if (asprintf(&out, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, name) < 0)
        return NULL;
    return out;
}

static int copy_config(struct osm_exec *e, const struct osm_exec_config *cfg)
{
    e->daemon = strdup(cfg->daemon);
    e->tools = calloc(cfg->n_tools ? cfg->n_tools : 1, sizeof(*e->tools));
    e->policy_path = strdup(cfg->policy_path);
    e->lockdown_path =
        cfg->lockdown_path ? strdup(cfg->lockdown_path) : beside(cfg->policy_path, "lockdown");
    e->protected_paths = copy_strings(cfg->protected_paths);
    if (!e->daemon || !e->tools || !e->policy_path || !e->lockdown_path || !e->protected_paths)
        return -ENOMEM;
    memcpy(e->tools, cfg->tools, cfg->n_tools * sizeof(*e->tools));
    e->n_tools = cfg->n_tools;
    e->schemas = calloc(cfg->n_tools ? cfg->n_tools : 1, sizeof(json_t *));
    if (!e->schemas)
        return -ENOMEM;
    for (size_t i = 0; i < e->n_tools; i++) {
        /* the registry parses its schemas on first use; a daemon's own tool's is parsed here */
        const char *text = e->tools[i].tool->input_schema;
        if (osm_tool_registered(e->tools[i].tool))
            continue;
        e->schemas[i] = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (!json_is_object(e->schemas[i]))
            return -EINVAL; /* a tool whose schema does not parse can never be called */
    }
    e->routes = cfg->routes;
    e->n_routes = cfg->n_routes;
    e->userdata = cfg->userdata;
    e->sink = cfg->sink;
    e->approver = cfg->approver;
    memcpy(e->signer_pk, cfg->signer_pk, sizeof(e->signer_pk));
    e->approval_ttl_s = cfg->approval_ttl_s;
    return 0;
}

static int open_jobs(struct osm_exec *e, const struct osm_exec_config *cfg)
{
    struct osm_jobs_config jc = cfg->jobs;

    e->jobs_store = (struct osm_jobs_store){
        .record = jobs_record, .read = jobs_read, .setup = jobs_setup, .ctx = e};
    jc.store = &e->jobs_store;
    jc.run_call = exec_run_released;
    jc.run_ctx = e;
    jc.check_bind = exec_check_bind;
    jc.masks = exec_masks;
    jc.policy_ctx = e;
    return osm_jobs_open(&jc, &e->jobs);
}

int osm_exec_new(const struct osm_exec_config *cfg, struct osm_exec **ret, char *err, size_t errlen)
{
    struct osm_exec *e = calloc(1, sizeof(*e));
    char why[256] = "";
    const char *what = "configuration";
    int r;

    if (!e)
        return -ENOMEM;
    pthread_rwlock_init(&e->policy_lock, NULL);
    r = copy_config(e, cfg);
    if (r == 0 && (what = "policy", r = policy_load(e, &e->policy, why, sizeof(why))) == 0 &&
        (what = "rate limits", r = exec_rates_new(cfg->rates, cfg->n_rates, &e->rates)) == 0)
        what = "jobs", r = open_jobs(e, cfg);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", what, why[0] ? why : strerror(-r));
        osm_exec_free(e);
        return r;
    }
    *ret = e;
    return 0;
}

void osm_exec_free(struct osm_exec *e)
{
    if (!e)
        return;
    osm_jobs_close(e->jobs);
    exec_rates_free(e->rates);
    osm_policy_free(e->policy);
    for (size_t i = 0; e->protected_paths && e->protected_paths[i]; i++)
        free(e->protected_paths[i]);
    free(e->protected_paths);
    free(e->policy_path);
    free(e->lockdown_path);
    for (size_t i = 0; e->schemas && i < e->n_tools; i++)
        json_decref(e->schemas[i]);
    free(e->schemas);
    free(e->tools);
    free(e->daemon);
    pthread_rwlock_destroy(&e->policy_lock);
    free(e);
}

struct osm_jobs *osm_exec_jobs(struct osm_exec *e)
{
    return e->jobs;
}

static size_t policy_count(struct osm_exec *e, size_t (*count)(const struct osm_policy *p))
{
    size_t n;

    pthread_rwlock_rdlock(&e->policy_lock);
    n = count(e->policy);
    pthread_rwlock_unlock(&e->policy_lock);
    return n;
}

size_t osm_exec_policy_secrets(struct osm_exec *e)
{
    return policy_count(e, osm_policy_n_secrets);
}

size_t osm_exec_policy_rules(struct osm_exec *e)
{
    return policy_count(e, osm_policy_n_rules);
}

/* ---- the agent socket ------------------------------------------------------------------- */

static json_t *tools_call(struct osm_request *req)
{
    return osm_exec_handle(req->userdata, req);
}

static const struct osm_route agent_routes[] = {
    {"POST", "/tools/call", tools_call, OSM_ROUTE_BODY},
};

int osm_exec_serve_agent(struct osm_exec *e, const char *path, struct osm_http_server **ret)
{
    /* every request is a tool call that may block: one thread per connection, no hand-off */
    struct osm_http_server_config cfg = {.routes = agent_routes,
                                         .n_routes = ELEMENTSOF(agent_routes),
                                         .userdata = e,
                                         .per_connection = true};
    int r = osm_http_server_start_unix(&cfg, path, 0600, ret);

    if (r == 0 && (r = osm_daemon_socket_group(path, OSM_EXEC_AGENT_GROUP)) < 0) {
        osm_http_server_stop(*ret);
        *ret = NULL;
    }
    return r < 0 ? r : 0;
}
