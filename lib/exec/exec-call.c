/* POST /tools/call {"tool", "arguments", "capability"?}: lookup (aliases too; tools of other
 * daemons are unknown here) → never-for-agents tools → argument schema → capability token →
 * rate limit → policy (with allow-always grants) → tool.call in the ledger → run, hold or
 * refuse → tool.result in the ledger → answer. If tool.call cannot be written nothing runs; if
 * tool.result cannot be written the caller gets 503 "result not recorded" (the action ran). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "exec-internal.h"
#include "ipc/errors.h"
#include "policy/redact.h"
#include "tools/schema.h"
#include "token.h"

const struct osm_exec_tool *exec_find_tool(const struct osm_exec *e, const char *name)
{
    for (size_t i = 0; i < e->n_tools; i++)
        if (strcmp(e->tools[i].tool->name, name) == 0)
            return &e->tools[i];
    return NULL;
}

const json_t *exec_schema(const struct osm_exec *e, const struct osm_exec_tool *et)
{
    const json_t *own = e->schemas[et - e->tools];

    return own ? own : osm_tool_schema(et->tool);
}

int exec_record(struct osm_exec *e, const char *type, const char *actor, const json_t *payload,
                int64_t *ret_id)
{
    return e->sink.record(e->sink.ctx, type, actor, payload, NULL, NULL, ret_id);
}

static int args_hash(const json_t *args, char ret[static OSM_EXEC_HASH_LEN + 1])
{
    _cleanup_free_ char *text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t h[OSM_SHA256_LEN];
    int r;

    if (!text)
        return -ENOMEM;
    if ((r = osm_sha256(text, strlen(text), h)) < 0)
        return r;
    osm_hex_encode(h, sizeof(h), ret);
    return 0;
}

static int call_ring(const json_t *args)
{
    json_t *r = json_object_get(args, "ring");

    if ((json_is_integer(r) && json_integer_value(r) == 1) ||
        (json_is_string(r) && strcmp(json_string_value(r), "ring1") == 0))
        return 1;
    return 2;
}

void exec_call_of(struct exec_call *c, struct osm_exec_call *out)
{
    *out = (struct osm_exec_call){.exec = c->e,
                                  .tool = c->et->tool,
                                  .args = c->args,
                                  .ring = c->ring,
                                  .approved = c->granted,
                                  .approval_id = c->granted ? c->approval_id : NULL,
                                  .peer = c->req->peer,
                                  .userdata = c->e->userdata};
}

/* ---- the gate --------------------------------------------------------------------------- */

static void refuse(struct exec_call *c, const char *rule, const char *code, const char *fmt, ...)
    OSM_PRINTF(4, 5);
static void refuse(struct exec_call *c, const char *rule, const char *code, const char *fmt, ...)
{
    va_list ap;

    c->verdict.decision = OSM_POLICY_DENY;
    snprintf(c->verdict.rule, sizeof(c->verdict.rule), "%s", rule);
    c->deny_code = code;
    va_start(ap, fmt);
    vsnprintf(c->deny_message, sizeof(c->deny_message), fmt, ap);
    va_end(ap);
}

static bool is_class_default(const char *rule)
{
    static const char *const class_rules[] = {"default:read", "default:reversible",
                                              "default:irreversible", "default:privileged"};

    for (size_t i = 0; i < ELEMENTSOF(class_rules); i++)
        if (strcmp(rule, class_rules[i]) == 0)
            return true;
    return false;
}

/* The daemon's own default in place of the class default (osm_exec_decide_fn). */
static void daemon_decide(struct exec_call *c)
{
    struct osm_exec_call call;
    struct osm_policy_verdict v = {.decision = OSM_POLICY_DENY};

    exec_call_of(c, &call);
    call.approved = false;
    call.approval_id = NULL;
    if (c->et->decide(&call, &v))
        c->verdict = v;
}

static void policy_decide(struct exec_call *c)
{
    struct osm_policy_query q = {.tool = c->et->tool->name,
                                 .cls = c->et->tool->cls,
                                 .ring = c->ring,
                                 .args = c->args,
                                 .workspace = osm_jobs_workspace(c->e->jobs)};
    char rule[sizeof(c->verdict.rule)];

    pthread_rwlock_rdlock(&c->e->policy_lock);
    osm_policy_decide(c->e->policy, &q, &c->verdict);
    pthread_rwlock_unlock(&c->e->policy_lock);
    if (c->et->decide && is_class_default(c->verdict.rule))
        daemon_decide(c);
    if (c->verdict.decision != OSM_POLICY_DENY)
        return;
    snprintf(rule, sizeof(rule), "%s", c->verdict.rule);
    refuse(c, rule, "denied", "the policy denies %s (%s%s%s)", c->et->tool->name, rule,
           c->verdict.detail[0] ? ": " : "", c->verdict.detail);
}

/* The checks before the policy; false when one refused the call. */
static bool gate_prechecks(struct exec_call *c)
{
    const struct osm_exec_rate *rule = NULL;
    const char *reason = NULL;

    if (c->et->tool->flags & OSM_TOOL_NEVER) {
        refuse(c, "never", "forbidden",
               "%s is never available to an agent: approvals are decided by the operator on the "
               "host (agentctl approvals / agentctl approve ID / agentctl deny ID) or in the "
               "dashboard",
               c->et->tool->name);
        return false;
    }
    if (c->capability &&
        exec_token_check(c->e, c->capability, c->et->tool, &c->req->peer, &reason) < 0) {
        refuse(c, "capability", "denied", "capability token refused: %s", reason);
        return false;
    }
    if (!exec_rate_ok(c->e->rates, c->et->tool, c->req->peer.uid, &rule)) {
        refuse(c, "rate_limit", "rate_limited", "rate limit for %s: at most %d calls per %d s",
               rule->tool, rule->calls, rule->window_s);
        return false;
    }
    return true;
}

static void gate(struct exec_call *c)
{
    const struct osm_exec_approver *a = &c->e->approver;

    if (!gate_prechecks(c))
        return;
    policy_decide(c);
    if (c->verdict.decision == OSM_POLICY_APPROVE && a->grant &&
        a->grant(a->ctx, c->et->tool->name, c->args_hash, c->path, c->approval_id) == 0) {
        c->granted = true;
        c->verdict.decision = OSM_POLICY_ALLOW;
        snprintf(c->verdict.rule, sizeof(c->verdict.rule), "grant");
    }
}

/* ---- the ledger records ----------------------------------------------------------------- */

static int record_call(struct exec_call *c)
{
    const struct ucred *p = &c->req->peer;
    json_auto_t *payload =
        json_pack("{s:s, s:O, s:{s:i, s:i, s:i}, s:s, s:s, s:i}", "tool", c->et->tool->name,
                  "arguments", c->redacted, "caller", "pid", (int)p->pid, "uid", (int)p->uid, "gid",
                  (int)p->gid, "decision", osm_policy_decision_name(c->verdict.decision), "rule",
                  c->verdict.rule, "ring", c->ring);

    if (!payload)
        return -ENOMEM;
    if (c->verdict.detail[0])
        json_object_set_new(payload, "detail", json_string(c->verdict.detail));
    if (c->approval_id[0])
        json_object_set_new(payload, "approval_id", json_string(c->approval_id));
    if (c->capability)
        json_object_set(payload, "capability_id", json_object_get(c->capability, "id"));
    return exec_record(c->e, "tool.call", c->actor, payload, &c->call_id);
}

static int record_result(struct exec_call *c, const char *status, const char *error)
{
    json_auto_t *payload = json_pack("{s:I, s:s, s:s, s:I}", "call_id", (json_int_t)c->call_id,
                                     "tool", c->et->tool->name, "status", status, "duration_ms",
                                     (json_int_t)(osm_monotonic_ms() - c->started_ms));

    if (!payload)
        return -ENOMEM;
    if (c->approval_id[0])
        json_object_set_new(payload, "approval_id", json_string(c->approval_id));
    if (c->job_id[0])
        json_object_set_new(payload, "job_id", json_string(c->job_id));
    if (error)
        json_object_set_new(payload, "error", json_string(error));
    return exec_record(c->e, "tool.result", c->actor, payload, NULL);
}

/* ---- answers ---------------------------------------------------------------------------- */

json_t *exec_answer(struct exec_call *c, int http, const char *status, json_t *result,
                    const char *error)
{
    json_t *o;
    int r = record_result(c, status, error);

    if (r < 0) {
        log_error("tool.result", "call_id=%" PRId64 " tool=%s error=%d note=\"action ran\"",
                  c->call_id, c->et->tool->name, r);
        return osm_error(c->req, 503, "result_not_recorded",
                         json_pack("{s:I, s:s, s:o}", "call_id", (json_int_t)c->call_id, "status",
                                   status, "result", result ? result : json_null()),
                         "the action already ran but its result could not be recorded in the "
                         "ledger: %s",
                         strerror(-r));
    }
    c->req->status = http;
    o = json_pack("{s:s, s:o, s:I}", "status", status, "result", result ? result : json_null(),
                  "call_id", (json_int_t)c->call_id);
    if (o && c->approval_id[0])
        json_object_set_new(o, "approval_id", json_string(c->approval_id));
    if (o && c->job_id[0])
        json_object_set_new(o, "job_id", json_string(c->job_id));
    if (o && error)
        json_object_set_new(o, "error", json_string(error));
    return o;
}

static json_t *answer_denied(struct exec_call *c)
{
    int http = strcmp(c->deny_code, "rate_limited") == 0 ? 429 : 403;
    json_t *result =
        json_pack("{s:s, s:s, s:s, s:s}", "error", c->deny_code, "message", c->deny_message, "rule",
                  c->verdict.rule, "detail", c->verdict.detail);
    json_t *o = exec_answer(c, http, "denied", result, c->deny_code);

    if (o && c->req->status == http)
        json_object_set_new(o, "message", json_string(c->deny_message));
    return o;
}

json_t *exec_answer_unavailable(struct exec_call *c, const char *code, const char *what, int r)
{
    json_t *result = json_pack("{s:s, s:s}", "error", code, "message", what);
    json_t *o;

    log_error("tool.call", "tool=%s call_id=%" PRId64 " error=%d what=\"%s\"", c->et->tool->name,
              c->call_id, r, what);
    o = exec_answer(c, 503, "error", result, code);
    if (o && c->req->status == 503)
        json_object_set_new(o, "message", json_string(what));
    return o;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static json_t *unknown_tool(struct osm_request *req, struct osm_exec *e, const char *name,
                            const struct osm_tool *t)
{
    if (!t)
        return osm_error(req, 404, "unknown_tool", json_pack("{s:s}", "tool", name),
                         "unknown tool: %s", name);
    return osm_error(req, 404, "unknown_tool",
                     json_pack("{s:s, s:s}", "tool", name, "daemon", t->daemon),
                     "%s is executed by %s, not %s", name, t->daemon, e->daemon);
}

/* The tool (a daemon's own name, or a registry name or alias it executes) and its arguments
 * under the tool's names. */
static json_t *parse_tool(struct osm_request *req, struct exec_call *c, const char *name,
                          const json_t *args)
{
    const struct osm_tool_alias *alias = NULL;
    const struct osm_tool *t = NULL;

    c->et = exec_find_tool(c->e, name);
    if (!c->et) {
        t = osm_tool_find(name, &alias);
        c->et = t ? exec_find_tool(c->e, t->name) : NULL;
        if (!c->et)
            return unknown_tool(req, c->e, name, t);
    }
    c->args = args ? json_incref((json_t *)args) : json_object();
    if (c->args && alias) {
        json_t *renamed = osm_tool_alias_args(alias, c->args);
        json_decref(c->args);
        c->args = renamed;
    }
    return c->args ? NULL : osm_error_errno(req, -ENOMEM, "out of memory");
}

/* True (with the field and why) unless the arguments are an object its schema accepts; a tool
 * without a schema accepts nothing. */
static bool args_invalid(struct exec_call *c, char *field, size_t flen, char *reason, size_t rlen)
{
    const json_t *schema = exec_schema(c->e, c->et);

    snprintf(field, flen, "%s", "");
    if (!schema || !json_is_object(c->args)) {
        snprintf(reason, rlen, "%s", schema ? "arguments must be a JSON object" : "no schema");
        return true;
    }
    return osm_schema_validate(schema, c->args, field, flen, reason, rlen) < 0;
}

/* The policy's path argument, canonical, for path and prefix grants. */
static char *target_path(const json_t *args)
{
    const char *p = json_string_value(json_object_get(args, "path"));

    return p ? osm_policy_normalize_path(p) : NULL;
}

static json_t *parse(struct osm_request *req, struct exec_call *c)
{
    json_t *name = NULL, *args = NULL, *cap = NULL, *err;
    char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];
    json_error_t jerr;

    if (json_unpack_ex(req->body, &jerr, 0, "{s:o, s?o, s?o}", "tool", &name, "arguments", &args,
                       "capability", &cap) < 0 ||
        !json_is_string(name) || (args && !json_is_object(args) && !json_is_null(args)))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "tool"),
                         "the body must be {\"tool\": string, \"arguments\": object}");
    if ((err = parse_tool(req, c, json_string_value(name), json_is_object(args) ? args : NULL)))
        return err;
    if (cap && !json_is_null(cap) && !(c->capability = osm_token_parse(cap)))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "capability"),
                         "capability must be the token object or its JSON text");
    if (args_invalid(c, field, sizeof(field), reason, sizeof(reason)))
        return osm_error(req, 422, "invalid_arguments",
                         json_pack("{s:s, s:s, s:s}", "tool", c->et->tool->name, "field", field,
                                   "reason", reason),
                         "invalid arguments for %s at '%s': %s", c->et->tool->name, field, reason);
    c->redacted = osm_redact_args(c->et->tool->name, c->args);
    if (!c->redacted || args_hash(c->args, c->args_hash) < 0)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    c->ring = call_ring(c->args);
    c->path = target_path(c->args);
    return NULL;
}

/* ---- the route -------------------------------------------------------------------------- */

bool exec_locked_down(const struct osm_exec *e)
{
    return access(e->lockdown_path, F_OK) == 0 || errno != ENOENT;
}

static json_t *locked_down(struct osm_request *req, const struct osm_exec *e)
{
    return osm_error(req, 423, "lockdown", json_pack("{s:s}", "file", e->lockdown_path),
                     "the system is in lockdown: no agent tool call runs until root lifts it "
                     "(agentctl unlock)");
}

json_t *osm_exec_handle(struct osm_exec *e, struct osm_request *req)
{
    struct exec_call c = {.req = req, .e = e, .started_ms = osm_monotonic_ms()};
    json_t *out;
    int r;

    if (!req->operator&& exec_locked_down(e))
        return locked_down(req, e);
    snprintf(c.actor, sizeof(c.actor), "%s:%u", req->operator? "operator" : "agent",
             (unsigned)req->peer.uid);
    if ((out = parse(req, &c)))
        goto done;
    gate(&c);
    r = record_call(&c);
    if (r < 0) {
        log_error("tool.call", "tool=%s error=%d note=\"not recorded: refused\"", c.et->tool->name,
                  r);
        out = osm_error(req, 503, "ledger_unavailable", json_pack("{s:s}", "status", "error"),
                        "the call could not be recorded in the ledger, so it was not run: %s",
                        strerror(-r));
        goto done;
    }
    if (c.verdict.decision == OSM_POLICY_DENY)
        out = answer_denied(&c);
    else if (c.verdict.decision == OSM_POLICY_APPROVE)
        out = exec_hold(&c);
    else
        out = exec_run_now(&c);
done:
    json_decref(c.args);
    json_decref(c.redacted);
    json_decref(c.capability);
    free(c.path);
    return out;
}
