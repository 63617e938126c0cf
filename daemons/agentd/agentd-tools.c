/* agentd as the first user of lib/exec: its tool table (every registry tool agentd executes,
 * REST-mapped ones through its own routes), its sink (events and job rows in one ledger
 * transaction), its approver (itself), the paths no tool may reach, and the start-up order:
 * key → approvals → executor → reconciliation of held calls. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd-approvals.h"
#include "agentd-tools.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "sandbox/sandbox.h"

#define POLICY_NAME "policy.json"

static const struct {
    const struct agentd_handler *list;
    const size_t *n;
} handler_tables[] = {
    {agentd_shell_handlers, &agentd_n_shell_handlers},
    {agentd_file_handlers, &agentd_n_file_handlers},
    {agentd_host_handlers, &agentd_n_host_handlers},
    {agentd_speckit_handlers, &agentd_n_speckit_handlers},
};

static const struct agentd_handler job_handlers[] = {
    {"job_status", osm_exec_job_status, NULL, false},
    {"job_wait", osm_exec_job_wait, NULL, false},
    {"job_kill", osm_exec_job_kill, NULL, false},
};

static const struct agentd_handler *find_handler(const char *name)
{
    for (size_t t = 0; t < ELEMENTSOF(handler_tables); t++)
        for (size_t i = 0; i < *handler_tables[t].n; i++)
            if (strcmp(handler_tables[t].list[i].name, name) == 0)
                return &handler_tables[t].list[i];
    for (size_t i = 0; i < ELEMENTSOF(job_handlers); i++)
        if (strcmp(job_handlers[i].name, name) == 0)
            return &job_handlers[i];
    return NULL;
}

/* Every registry tool agentd executes (new array in *ret). */
static int tool_table(struct osm_exec_tool **ret, size_t *ret_n)
{
    size_t n_all, n = 0;
    const struct osm_tool *all = osm_tools(&n_all);
    struct osm_exec_tool *t = calloc(n_all, sizeof(*t));

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n_all; i++) {
        const struct agentd_handler *h;
        if (strcmp(all[i].daemon, "agentd") != 0)
            continue;
        h = find_handler(all[i].name);
        t[n++] = (struct osm_exec_tool){.tool = &all[i],
                                        .run = h ? h->run : NULL,
                                        .preview = h ? h->preview : NULL,
                                        .process = h && h->process};
    }
    *ret = t;
    *ret_n = n;
    return 0;
}

/* ---- the sink: agentd's own ledger ------------------------------------------------------ */

static int sink_record(void *ctx, const char *type, const char *actor, const json_t *payload,
                       int (*apply)(sqlite3 *db, void *actx), void *actx, int64_t *ret_id)
{
    struct agentd_recorded rec;
    int r = agentd_record(ctx, type, actor, payload, apply, actx, &rec);

    if (r == 0 && ret_id)
        *ret_id = rec.id;
    return r;
}

static int sink_read(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx)
{
    struct agentd_reader rd _cleanup_reader_ = {0};
    int r = agentd_reader_open(ctx, &rd);

    return r < 0 ? r : fn(agentd_reader_db(&rd), fctx);
}

struct setup_call {
    int (*fn)(sqlite3 *db, void *fctx);
    void *fctx;
};

static int setup_on_writer(struct osm_ledger *l, void *ctx)
{
    struct setup_call *s = ctx;

    return s->fn(osm_ledger_sqlite(l), s->fctx);
}

static int sink_setup(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx)
{
    struct setup_call s = {fn, fctx};

    return agentd_writer_task(ctx, setup_on_writer, &s);
}

/* ---- paths ------------------------------------------------------------------------------ */

const char *agentd_workspace(struct agentd *ad)
{
    return ad->exec ? osm_jobs_workspace(osm_exec_jobs(ad->exec)) : NULL;
}

bool agentd_path_protected(struct agentd *ad, const char *canonical)
{
    _cleanup_free_ char *state = realpath(ad->paths.state_dir, NULL);
    _cleanup_free_ char *run = realpath(ad->paths.run_dir, NULL);
    _cleanup_free_ char *ws = agentd_workspace(ad) ? realpath(agentd_workspace(ad), NULL) : NULL;
    const char *roots[] = {state, run, ad->paths.state_dir, ad->paths.run_dir, OSM_DEFAULT_RUN_DIR};

    if (ws && osm_path_is_under(canonical, ws))
        return false; /* the workspace lives in the state dir but is the agent's */
    for (size_t i = 0; i < ELEMENTSOF(roots); i++)
        if (roots[i] && osm_path_is_under(canonical, roots[i]))
            return true;
    return false;
}

/* ---- rate limits from flags ------------------------------------------------------------- */

/* "TOOL=CALLS/SECONDS" into rule (tool points into the flag). */
static int parse_rate(const char *flag, struct osm_exec_rate *rule, char *tool, size_t len)
{
    const char *eq = strchr(flag, '=');
    int calls, secs, used = 0;

    if (!eq || eq == flag || (size_t)(eq - flag) >= len ||
        sscanf(eq + 1, "%d/%d%n", &calls, &secs, &used) != 2 || eq[1 + used] || calls < 1 ||
        secs < 1)
        return -EINVAL;
    snprintf(tool, len, "%.*s", (int)(eq - flag), flag);
    *rule = (struct osm_exec_rate){.tool = tool, .calls = calls, .window_s = secs};
    return 0;
}

struct rates {
    struct osm_exec_rate rules[OSM_EXEC_RATES_MAX];
    char names[OSM_EXEC_RATES_MAX][64];
    size_t n;
};

/* The defaults, each replaced by a flag for the same tool; other flags added. */
static int rates_from_flags(const struct agentd_config *cfg, struct rates *out)
{
    const struct osm_exec_rate defaults[] = {
        {"@shell", OSM_EXEC_SHELL_RATE_CALLS, OSM_EXEC_SHELL_RATE_WINDOW_S},
        {"@irreversible", OSM_EXEC_HELD_RATE_CALLS, OSM_EXEC_HELD_RATE_WINDOW_S},
        {"@privileged", OSM_EXEC_HELD_RATE_CALLS, OSM_EXEC_HELD_RATE_WINDOW_S},
    };

    out->n = 0;
    for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
        out->rules[out->n++] = defaults[i];
    for (size_t i = 0; i < cfg->n_rate_flags; i++) {
        struct osm_exec_rate rule;
        size_t k = 0;
        if (parse_rate(cfg->rate_flags[i], &rule, out->names[i], sizeof(out->names[i])) < 0)
            return -EINVAL;
        while (k < out->n && strcmp(out->rules[k].tool, rule.tool) != 0)
            k++;
        if (k == OSM_EXEC_RATES_MAX)
            return -E2BIG;
        out->rules[k] = rule;
        out->n += k == out->n;
    }
    return 0;
}

/* ---- start, reload, stop ---------------------------------------------------------------- */

static int64_t env_int(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    long long n = v && *v ? atoll(v) : 0;

    return n > 0 ? n : dflt;
}

static int start_exec(struct agentd *ad)
{
    _cleanup_free_ char *policy = osm_path_join(ad->paths.state_dir, POLICY_NAME);
    _cleanup_free_ char *jobs_dir = osm_path_join(ad->paths.state_dir, "jobs");
    _cleanup_free_ char *egress = osm_sandbox_egress_socket(ad->paths.run_dir);
    _cleanup_free_ char *ws = ad->cfg.workspace_flag
                                  ? strdup(ad->cfg.workspace_flag)
                                  : osm_path_join(ad->paths.state_dir, "workspace");
    char **protected = osm_exec_protected_new(ad->paths.state_dir, ad->paths.run_dir, NULL);
    const char *hidden[] = {ad->paths.state_dir, ad->paths.run_dir, OSM_DEFAULT_RUN_DIR};
    const char *cg = getenv("OSMODA_SANDBOX_CGROUPS");
    struct osm_exec_tool *tools = NULL;
    struct osm_exec_config cfg = {.daemon = "agentd",
                                  .routes = agentd_routes,
                                  .n_routes = agentd_n_routes,
                                  .userdata = ad,
                                  .sink = {sink_record, sink_read, sink_setup, ad},
                                  .policy_path = policy,
                                  .protected_paths = (const char *const *)protected,
                                  .approval_ttl_s = ad->cfg.approval_ttl};
    struct rates rates;
    char err[512];
    int r;

    if (!policy || !jobs_dir || !egress || !ws || !protected ||
        tool_table(&tools, &cfg.n_tools) < 0) {
        osm_exec_protected_free(protected);
        return -ENOMEM;
    }
    if ((r = rates_from_flags(&ad->cfg, &rates)) < 0) {
        log_error("tools.init", "what=rate-limit error=%d reason=\"bad --rate-limit flag\"", r);
        goto out;
    }
    cfg.tools = tools;
    cfg.rates = rates.rules;
    cfg.n_rates = rates.n;
    agentd_approver(ad, &cfg.approver);
    memcpy(cfg.signer_pk, ad->sign_pk, sizeof(cfg.signer_pk));
    cfg.jobs = (struct osm_jobs_config){
        .jobs_dir = jobs_dir,
        .workspace = ws,
        .protected_dirs = hidden,
        .n_protected = ELEMENTSOF(hidden),
        .egress_socket = egress,
        .cgroups_optional = ad->cfg.sandbox_cgroups_optional || (cg && strcmp(cg, "optional") == 0),
        .activity_s = ad->cfg.job_activity_timeout_s > 0
                          ? ad->cfg.job_activity_timeout_s
                          : env_int("OSMODA_JOB_ACTIVITY_TIMEOUT", OSM_JOB_ACTIVITY_TIMEOUT_S)};
    r = osm_exec_new(&cfg, &ad->exec, err, sizeof(err));
    if (r < 0)
        log_error(strncmp(err, "policy:", 7) == 0 ? "policy.load" : "tools.init",
                  "path=%s error=%d reason=\"%s\"", policy, r, err);
    else
        log_info("policy.load", "path=%s rules=%zu secrets=%zu", policy,
                 osm_exec_policy_rules(ad->exec), osm_exec_policy_secrets(ad->exec));
out:
    free(tools);
    osm_exec_protected_free(protected);
    return r;
}

int agentd_tools_init(struct agentd *ad)
{
    int r = agentd_capability_load(ad);

    if (r == 0 && (r = agentd_approvals_init(ad)) < 0)
        log_error("approval.setup", "error=%d reason=\"%s\"", r, strerror(-r));
    if (r == 0)
        r = start_exec(ad);
    if (r == 0 && (r = osm_exec_reconcile(ad->exec)) > 0)
        log_info("approval.reconcile", "settled=%d", r);
    if (r < 0) {
        agentd_tools_shutdown(ad);
        return r;
    }
    return 0;
}

void agentd_tools_shutdown(struct agentd *ad)
{
    osm_exec_free(ad->exec); /* running jobs go on under their runners */
    ad->exec = NULL;
    agentd_approvals_shutdown(ad);
    agentd_capability_free(ad);
}

int agentd_tools_reload(struct agentd *ad)
{
    char err[512] = "";
    int r = ad->exec ? osm_exec_reload(ad->exec, err, sizeof(err)) : -ENOTCONN;

    if (r < 0)
        log_warn("policy.reload", "error=%d reason=\"%s\" note=\"kept the previous policy\"", r,
                 err[0] ? err : strerror(-r));
    else
        log_info("policy.load", "rules=%zu secrets=%zu", osm_exec_policy_rules(ad->exec),
                 osm_exec_policy_secrets(ad->exec));
    return r;
}

/* POST /tools/call on the operator and agent sockets. */
json_t *agentd_tools_call(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);

    if (!ad->exec)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    return osm_exec_handle(ad->exec, req);
}
