/* The operator's socket (egress.sock) and the tools (egress-agent.sock, through lib/exec): the
 * routes of egress-api.h. Every operator change is recorded in the ledger before it takes
 * effect; a change that cannot be recorded is not made (503 ledger_unavailable), except a
 * lockdown, which is the safe direction and happens whatever the ledger says. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "common/log.h"
#include "common/macro.h"
#include "egress-api.h"
#include "egress.h"
#include "events.h"
#include "ipc/errors.h"
#include "proxy.h"

#define EG(req) ((struct egress *)(req)->userdata)
#define GRANT_TTL_DEFAULT_S 3600
#define GRANT_REASON_MAX 1024
#define DENIALS_DEFAULT 50
#define DENIALS_MAX EGRESS_DENIALS_KEPT

/* A grant as asked for, validated. */
struct grant_args {
    const char *principal, *host, *reason;
    uint16_t ports[ACL_PORTS_MAX];
    size_t n_ports;
    int64_t ttl_s;
};

static bool principal_named(struct egress *eg, const char *name)
{
    struct acl_config *c = egress_acl(eg);
    bool found = c && acl_principal_find(c, name);

    acl_config_unref(c);
    return found;
}

/* Why ports (an array, or NULL for the default) is refused, or NULL. */
static const char *ports_invalid(const json_t *ports, struct grant_args *g)
{
    const json_t *p;
    size_t i;

    if (!ports)
        return NULL;
    if (!json_is_array(ports) || json_array_size(ports) == 0 ||
        json_array_size(ports) > ACL_PORTS_MAX)
        return "must be an array of 1 to 32 ports";
    json_array_foreach(ports, i, p)
    {
        if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
            return "must hold port numbers from 1 to 65535";
        g->ports[g->n_ports++] = (uint16_t)json_integer_value(p);
    }
    return NULL;
}

/* The keys of a grant request: JSON type and whether the operator must give it (a tool call
 * needs only host and reason). */
static const struct {
    const char *key;
    json_type type;
    bool required;
} grant_keys[] = {
    {"principal", JSON_STRING, true}, {"host", JSON_STRING, true},   {"ports", JSON_ARRAY, false},
    {"ttl_s", JSON_INTEGER, true},    {"reason", JSON_STRING, true},
};

static bool grant_key_required(size_t k, bool tool)
{
    return grant_keys[k].required && (!tool || strcmp(grant_keys[k].key, "host") == 0 ||
                                      strcmp(grant_keys[k].key, "reason") == 0);
}

/* The key of args that is unknown ("body"), missing or of the wrong type, or NULL. */
static const char *grant_keys_invalid(const json_t *args, bool tool)
{
    const char *key;
    const json_t *v;
    size_t k;

    json_object_foreach((json_t *)args, key, v)
    {
        for (k = 0; k < ELEMENTSOF(grant_keys) && strcmp(grant_keys[k].key, key); k++)
            ;
        if (k == ELEMENTSOF(grant_keys))
            return "body";
    }
    for (k = 0; k < ELEMENTSOF(grant_keys); k++) {
        v = json_object_get(args, grant_keys[k].key);
        if ((!v && grant_key_required(k, tool)) || (v && json_typeof(v) != grant_keys[k].type))
            return grant_keys[k].key;
    }
    return NULL;
}

/* Checks a grant's arguments (a request body or a tool's arguments): NULL, or the field that is
 * wrong with why. Nothing of "any" passes: hosts are exact names or literals (no "*"). */
static const char *grant_args_parse(struct egress *eg, const json_t *args, bool tool,
                                    struct grant_args *g, const char **ret_why)
{
    char norm[ACL_HOST_MAX + 1];
    const json_t *ttl = json_object_get(args, "ttl_s"), *principal;
    const char *field;

    *g = (struct grant_args){.principal = EGRESS_AGENT_PRINCIPAL, .ttl_s = GRANT_TTL_DEFAULT_S};
    *ret_why = "is missing, of the wrong type, or holds an unknown key";
    if (!json_is_object(args))
        return "body";
    if ((field = grant_keys_invalid(args, tool)))
        return field;
    g->host = json_string_value(json_object_get(args, "host"));
    g->reason = json_string_value(json_object_get(args, "reason"));
    if ((principal = json_object_get(args, "principal")))
        g->principal = json_string_value(principal);
    if (ttl)
        g->ttl_s = json_integer_value(ttl);
    *ret_why = "must be an exact host name or address literal (no wildcard, no port)";
    if (acl_host_normalize(g->host, norm) < 0)
        return "host";
    *ret_why = "must say why, in 1 to 1024 bytes";
    if (!g->reason[0] || strlen(g->reason) > GRANT_REASON_MAX)
        return "reason";
    if ((*ret_why = ports_invalid(json_object_get(args, "ports"), g)))
        return "ports";
    *ret_why = "must be from 1 to 604800 seconds";
    if (g->ttl_s < 1 || g->ttl_s > ACL_GRANT_TTL_MAX_S)
        return "ttl_s";
    *ret_why = "is not a principal of the ACL";
    if (!principal_named(eg, g->principal))
        return "principal";
    return NULL;
}

static json_t *grant_error(struct osm_request *req, int r)
{
    if (r == -ENOLINK)
        return osm_error(req, 503, "ledger_unavailable", NULL,
                         "the grant could not be recorded in the ledger, so it was not made");
    if (r == -EINVAL)
        return osm_error(req, 422, "invalid_config", NULL,
                         "the ACL with this grant does not load (see the daemon's log)");
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no such grant (or it expired)");
    return osm_error_errno(req, r, "the grants file could not be written");
}

static json_t *grants_add(struct osm_request *req)
{
    struct grant_args g;
    const char *field, *why;
    json_t *grant = NULL;
    int r;

    field = grant_args_parse(EG(req), req->body, false, &g, &why);
    if (field)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", field),
                         "%s %s; nothing was changed", field, why);
    r = egress_grant_add(EG(req), g.principal, g.host, g.ports, g.n_ports, g.ttl_s, g.reason, NULL,
                         &grant);
    if (r < 0)
        return grant_error(req, r);
    req->status = 201;
    return grant;
}

static json_t *grants_revoke(struct osm_request *req)
{
    int r = egress_grant_revoke(EG(req), req->param[0]);

    if (r < 0)
        return grant_error(req, r);
    return json_pack("{s:s, s:s}", "id", req->param[0], "status", "revoked");
}

static json_t *acl_get(struct osm_request *req)
{
    const char *p = osm_request_query(req, "principal");
    struct acl_config *c = egress_acl(EG(req));
    json_t *out = NULL;

    if (c && (!p || acl_principal_find(c, p)))
        out = acl_config_json(c, p, time(NULL));
    else if (c)
        out = osm_error(req, 404, "not_found", NULL, "no principal %s in the ACL", p);
    acl_config_unref(c);
    return out ? out : osm_error(req, 500, "internal_error", NULL, "no configuration in force");
}

static json_t *denials_get(struct osm_request *req)
{
    int64_t limit;
    json_t *err = osm_request_query_int(req, "limit", DENIALS_DEFAULT, 1, DENIALS_MAX, &limit);

    if (err)
        return err;
    return egress_events_denials(EG(req)->events, osm_request_query(req, "principal"),
                                 (size_t)limit);
}

static json_t *principals_json(const struct acl_config *c)
{
    json_t *out = json_object();

    for (size_t i = 0; c && out && i < c->n_principals; i++)
        json_object_set_new(
            out, c->principals[i].name,
            json_string(c->principals[i].mode == ACL_REPORT ? "report" : "enforce"));
    return out;
}

static json_t *health(struct osm_request *req)
{
    struct egress *eg = EG(req);
    struct egress_events_stats es = {0};
    struct proxy_stats ps = {0};
    struct acl_config *c = egress_acl(eg);
    json_t *out;

    if (eg->events)
        egress_events_get_stats(eg->events, &es);
    if (eg->proxy)
        proxy_get_stats(eg->proxy, &ps);
    out =
        json_pack("{s:s, s:o, s:b, s:I, s:{s:b, s:I}, s:I, s:s?}", "status",
                  atomic_load(&eg->lockdown) ? "lockdown" : "ok", "principals", principals_json(c),
                  "lockdown", atomic_load(&eg->lockdown), "connections", (json_int_t)ps.active,
                  "ledger", "ok", es.agentd_ok, "pending", (json_int_t)es.pending,
                  "config_generation", (json_int_t)(c ? c->generation : 0), "listen", eg->listen);
    acl_config_unref(c);
    return out;
}

static json_t *stats_get(struct osm_request *req)
{
    struct egress *eg = EG(req);
    struct egress_events_stats es = {0};
    struct proxy_stats ps = {0};

    if (eg->events)
        egress_events_get_stats(eg->events, &es);
    if (eg->proxy)
        proxy_get_stats(eg->proxy, &ps);
    return json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:I, s:I, s:I, s:b, s:I}}",
        "proxy", "accepted", (json_int_t)ps.accepted, "active", (json_int_t)ps.active, "tunnels",
        (json_int_t)ps.tunnels, "allowed", (json_int_t)ps.allowed, "denied", (json_int_t)ps.denied,
        "would_deny", (json_int_t)ps.would_deny, "bytes_up", (json_int_t)ps.bytes_up, "bytes_down",
        (json_int_t)ps.bytes_down, "refused_limit", (json_int_t)ps.refused_limit, "refused_ledger",
        (json_int_t)ps.refused_ledger, "refused_lockdown", (json_int_t)ps.refused_lockdown,
        "timeouts", (json_int_t)ps.timeouts, "generation", (json_int_t)0, "ledger", "queued",
        (json_int_t)es.queued, "written", (json_int_t)es.written, "dropped_denials",
        (json_int_t)es.dropped_denials, "batches", (json_int_t)es.batches, "failed_batches",
        (json_int_t)es.failed_batches, "agentd_ok", es.agentd_ok, "pending",
        (json_int_t)es.pending);
}

/* Records an operator change of type before it is made: NULL, or the 503 envelope. */
static json_t *record_first(struct osm_request *req, const char *type, json_t *payload)
{
    int r = egress_events_record_sync(EG(req)->events, type, payload);

    json_decref(payload);
    if (r == 0)
        return NULL;
    return osm_error(req, 503, "ledger_unavailable", NULL,
                     "%s could not be recorded in the ledger, so it was not done", type);
}

static json_t *reload(struct osm_request *req)
{
    char err[512] = "";
    json_t *e = record_first(req, "egress.reload", json_pack("{s:s}", "by", "operator"));
    struct acl_config *c;
    json_t *out;
    int r;

    if (e)
        return e;
    r = egress_reload(EG(req), err, sizeof(err));
    if (r < 0)
        return osm_error(req, r == -EINVAL ? 422 : 500, "invalid_config", NULL,
                         "the configuration in force is kept: %s", err);
    c = egress_acl(EG(req));
    out = json_pack("{s:s, s:I}", "status", "reloaded", "config_generation",
                    (json_int_t)(c ? c->generation : 0));
    acl_config_unref(c);
    return out;
}

static json_t *lockdown(struct osm_request *req)
{
    json_auto_t *payload = json_pack("{s:s}", "by", "operator");
    int r = egress_events_record_sync(EG(req)->events, "egress.lockdown", payload);

    if (r < 0)
        log_error("egress.lockdown", "recorded=false error=%d", r);
    egress_lockdown(EG(req)); /* the safe direction: happens even unrecorded */
    return json_pack("{s:s, s:b}", "status", "lockdown", "recorded", r == 0);
}

static json_t *unlock(struct osm_request *req)
{
    json_t *e;
    int r;

    if (egress_lockdown_file_present(EG(req)))
        return osm_error(req, 409, "lockdown_file_present", NULL,
                         "the lockdown file still exists; only root lifts a lockdown");
    if ((e = record_first(req, "egress.unlock", json_pack("{s:s}", "by", "operator"))))
        return e;
    r = egress_unlock(EG(req));
    if (r == -EBUSY)
        return osm_error(req, 409, "lockdown_file_present", NULL,
                         "the lockdown file still exists; only root lifts a lockdown");
    if (r < 0)
        return osm_error_errno(req, r, "unlock failed");
    return json_pack("{s:s}", "status", "unlocked");
}

#define BODY OSM_ROUTE_BODY
#define OPT OSM_ROUTE_BODY_OPTIONAL
#define OPERATOR OSM_ROUTE_OPERATOR
#define BLOCKS OSM_ROUTE_BLOCKING /* waits for the ledger or the disk */

const struct osm_route egress_routes[] = {
    {"GET", "/health", health, 0},
    {"GET", "/acl", acl_get, 0},
    {"POST", "/acl/grants", grants_add, BODY | OPERATOR | BLOCKS},
    {"DELETE", "/acl/grants/{id}", grants_revoke, OPERATOR | BLOCKS},
    {"GET", "/denials", denials_get, 0},
    {"GET", "/stats", stats_get, 0},
    {"POST", "/reload", reload, OPT | OPERATOR | BLOCKS},
    {"POST", "/lockdown", lockdown, OPT | OPERATOR | BLOCKS},
    {"POST", "/unlock", unlock, OPT | OPERATOR | BLOCKS},
};
const size_t egress_n_routes = ELEMENTSOF(egress_routes);

/* egress_request_access, once a person approved it: adds the grant with the approval's id. */
static json_t *request_access(struct osm_exec_call *call, const char **ret_error)
{
    struct egress *eg = call->userdata;
    struct grant_args g;
    const char *field, *why;
    json_t *grant = NULL;
    int r;

    if (!call->approved) {
        *ret_error = "approval_required"; /* never runs on the agent's word alone */
        return NULL;
    }
    field = grant_args_parse(eg, call->args, true, &g, &why);
    if (field) {
        *ret_error = "invalid_arguments";
        return json_pack("{s:s, s:s}", "field", field, "message", why);
    }
    r = egress_grant_add(eg, g.principal, g.host, g.ports, g.n_ports, g.ttl_s, g.reason,
                         call->approval_id, &grant);
    if (r < 0)
        *ret_error = r == -ENOLINK  ? "ledger_unavailable"
                     : r == -EINVAL ? "invalid_config"
                                    : "grant_failed";
    return grant;
}

/* Refuses before anyone is asked what could never become a grant: a host the ACL syntax
 * refuses, a principal the ACL does not name, a TTL out of range. */
static bool request_access_decide(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    struct grant_args g;
    const char *why, *field = grant_args_parse(call->userdata, call->args, true, &g, &why);

    if (!field)
        return false; /* the class default: a person decides */
    v->decision = OSM_POLICY_DENY;
    snprintf(v->rule, sizeof(v->rule), "egress:invalid_%s", field);
    snprintf(v->detail, sizeof(v->detail), "%s %s", field, why);
    return true;
}

/* The handlers of egress's tools; the REST-mapped ones (acl_list, denials) have none. */
static const struct {
    const char *name;
    osm_exec_fn run;
    osm_exec_decide_fn decide;
} handlers[] = {
    {"egress_request_access", request_access, request_access_decide},
    {"job_status", osm_exec_job_status, NULL},
    {"job_wait", osm_exec_job_wait, NULL},
    {"job_kill", osm_exec_job_kill, NULL},
};

int egress_tool_table(struct osm_exec_tool **ret, size_t *ret_n)
{
    size_t n_all, n = 0, k;
    const struct osm_tool *all = osm_tools(&n_all);
    struct osm_exec_tool *t = calloc(n_all, sizeof(*t));

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n_all; i++) {
        for (k = 0; k < ELEMENTSOF(handlers) && strcmp(handlers[k].name, all[i].name); k++)
            ;
        if (strcmp(all[i].daemon, "egress") != 0 && k == ELEMENTSOF(handlers))
            continue;
        t[n++] = (struct osm_exec_tool){
            .tool = &all[i],
            .run = k < ELEMENTSOF(handlers) ? handlers[k].run : NULL,
            .decide = k < ELEMENTSOF(handlers) ? handlers[k].decide : NULL,
        };
    }
    *ret = t;
    *ret_n = n;
    return 0;
}
