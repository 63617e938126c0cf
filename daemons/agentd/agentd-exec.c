/* The tool executor: POST /tools/call {"tool", "arguments", "capability"?}. Who asks is the
 * socket peer (SO_PEERCRED), never a field. Order of checks: registry (alias ok; tools of other
 * daemons are unknown here) → never-for-agents tools → argument schema → capability token →
 * shell rate limit → policy (with allow-always grants) → tool.call in the ledger → run now, hold
 * for approval (job) or refuse → tool.result in the ledger → answer
 * {"status": ok|error|pending|denied, "result", "approval_id"?, "job_id"?, "call_id"}.
 * REST-mapped tools run through agentd's own route table, so every agentd endpoint is a tool
 * without extra code; direct tools through agentd_exec_tools[]; job tools through jobs. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-exec.h"
#include "agentd-jobs.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "ipc/json_util.h"
#include "policy/redact.h"
#include "tools/result.h"

#define ARGS_HASH_LEN (2 * OSM_SHA256_LEN)
#define REST_PATH_MAX 1024

/* One call on its way through the executor. */
struct tool_call {
    struct osm_request *req;
    struct agentd *ad;
    const struct osm_tool *tool;
    json_t *args;     /* owned */
    json_t *redacted; /* owned */
    const json_t *capability;
    char args_hash[ARGS_HASH_LEN + 1];
    int ring;
    struct osm_policy_verdict verdict;
    const char *deny_code; /* error code of a refusal */
    char deny_message[512];
    char approval_id[AGENTD_APPROVAL_ID_LEN + 1];
    char job_id[AGENTD_JOB_ID_LEN + 1];
    bool granted; /* an allow-always grant let it through */
    int64_t call_id;
    int64_t started_ms;
    char actor[64];
};

static void tool_call_clear(struct tool_call *tc)
{
    json_decref(tc->args);
    json_decref(tc->redacted);
}

void agentd_peer_actor(const char *prefix, const struct ucred *peer, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u", prefix, (unsigned)peer->uid);
}

static int args_hash(const json_t *args, char ret[static ARGS_HASH_LEN + 1])
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

/* ---- running ---------------------------------------------------------------------------- */

/* The static error code for a REST status. */
static const char *status_code(int status)
{
    switch (status) {
    case 400:
    case 415:
    case 422:
        return "invalid_arguments";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 409:
        return "conflict";
    case 413:
        return "too_large";
    case 429:
        return "rate_limited";
    case 503:
        return "unavailable";
    default:
        return "failed";
    }
}

/* Fills path from the tool's pattern with {x} taken from args (removed from rest). */
static int rest_path(const struct osm_tool *t, json_t *rest, char *path, size_t len)
{
    const char *p = t->path;
    size_t off = 0;

    while (*p) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            char key[64], num[32];
            const char *val;
            json_t *v;
            if (!end || (size_t)(end - p - 1) >= sizeof(key))
                return -EINVAL;
            snprintf(key, sizeof(key), "%.*s", (int)(end - p - 1), p + 1);
            v = json_object_get(rest, key);
            if (json_is_integer(v))
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            val = json_is_integer(v) ? num : json_string_value(v);
            if (!val || !*val || strpbrk(val, "/?#%") || off + strlen(val) >= len)
                return -EINVAL;
            off += (size_t)snprintf(path + off, len - off, "%s", val);
            json_object_del(rest, key);
            p = end + 1;
            continue;
        }
        if (off + 1 >= len)
            return -EINVAL;
        path[off++] = *p++;
    }
    path[off] = '\0';
    return 0;
}

/* GET: the remaining arguments as query arguments; strings kept in store (lent from rest). */
static int rest_query(json_t *rest, struct osm_request *req, json_t *store)
{
    const char *key;
    json_t *v;

    json_object_foreach(rest, key, v)
    {
        json_t *text;
        if (json_is_null(v))
            continue;
        if (req->n_query == OSM_HTTP_MAX_QUERY_ARGS)
            return -E2BIG;
        if (json_is_string(v))
            text = json_incref(v);
        else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            text = s ? json_string(s) : NULL;
            free(s);
        }
        if (!text || json_array_append_new(store, text) < 0)
            return -ENOMEM;
        req->query[req->n_query].key = key;
        req->query[req->n_query++].value = json_string_value(text);
    }
    return 0;
}

/* List tools: offset and grep are ours, limit is widened so the page can be cut from it. */
static void list_args(json_t *rest, int64_t *ret_offset, int64_t *ret_limit, char **ret_grep)
{
    json_t *off = json_object_get(rest, "offset"), *lim = json_object_get(rest, "limit");
    const char *grep = json_string_value(json_object_get(rest, "grep"));

    *ret_offset = json_is_integer(off) ? json_integer_value(off) : 0;
    *ret_limit = json_is_integer(lim) ? json_integer_value(lim) : -1;
    *ret_grep = grep ? strdup(grep) : NULL;
    json_object_del(rest, "offset");
    json_object_del(rest, "grep");
    if (*ret_offset > 0 || *ret_limit >= 0) {
        int64_t want = (*ret_limit >= 0 ? *ret_limit : OSM_TOOL_LIST_DEFAULT) + *ret_offset;
        json_object_set_new(rest, "limit",
                            json_integer(want > OSM_TOOL_LIST_MAX ? OSM_TOOL_LIST_MAX : want));
    }
}

/* Decision routes are never reachable through a tool, whatever the approval. */
static bool rest_forbidden(const struct osm_tool *t)
{
    return strcmp(t->method, "POST") == 0 && strncmp(t->path, "/approval/", 10) == 0 &&
           strcmp(t->path, "/approval/request") != 0;
}

static json_t *run_rest(struct agentd_call *call, const char **ret_error)
{
    const struct osm_tool *t = call->tool;
    struct osm_http_server_config cfg = {.routes = agentd_routes,
                                         .n_routes = agentd_n_routes,
                                         .userdata = call->ad,
                                         .operator= call->approved };
    struct osm_request req = {.method = t->method, .peer = call->peer, .operator= call->approved };
    json_auto_t *rest = json_deep_copy(call->args), *store = json_array(), *parsed = NULL;
    _cleanup_free_ char *body = NULL, *out = NULL, *grep = NULL;
    char path[REST_PATH_MAX];
    int64_t offset = 0, limit = -1;
    size_t out_len;
    bool get = strcmp(t->method, "GET") == 0 || strcmp(t->method, "DELETE") == 0;

    *ret_error = "invalid_arguments";
    if (rest_forbidden(t)) {
        *ret_error = "forbidden";
        return NULL;
    }
    if (!rest || !store || rest_path(t, rest, path, sizeof(path)) < 0)
        return NULL;
    if (t->flags & OSM_TOOL_LIST)
        list_args(rest, &offset, &limit, &grep);
    req.path = path;
    if (get ? rest_query(rest, &req, store) < 0 : !(body = json_dumps(rest, JSON_COMPACT)))
        return NULL;
    osm_http_dispatch(&cfg, &req, "application/json", body, body ? strlen(body) : 0, &out,
                      &out_len);
    parsed = out ? json_loadb(out, out_len, JSON_DECODE_ANY, NULL) : NULL;
    if (req.status < 200 || req.status >= 300) {
        *ret_error = status_code(req.status);
        return TAKE_PTR(parsed);
    }
    *ret_error = NULL;
    if ((t->flags & OSM_TOOL_LIST) && json_is_array(parsed))
        return osm_result_page(parsed, offset, limit, grep);
    return parsed ? TAKE_PTR(parsed) : json_null();
}

/* The direct implementations, one table per file (agentd-tools.h). */
static const struct {
    const struct agentd_direct_tool *tools;
    const size_t *n;
} direct_tables[] = {
    {agentd_exec_tools, &agentd_n_exec_tools},
    {agentd_host_tools, &agentd_n_host_tools},
    {agentd_speckit_tools, &agentd_n_speckit_tools},
};

static agentd_tool_fn find_direct(const char *name)
{
    for (size_t t = 0; t < ELEMENTSOF(direct_tables); t++)
        for (size_t i = 0; i < *direct_tables[t].n; i++)
            if (strcmp(direct_tables[t].tools[i].name, name) == 0)
                return direct_tables[t].tools[i].fn;
    return NULL;
}

static json_t *run_direct(struct agentd_call *call, const char **ret_error)
{
    agentd_tool_fn fn = find_direct(call->tool->name);

    *ret_error = fn ? NULL : "not_implemented";
    return fn ? fn(call, ret_error) : NULL;
}

json_t *agentd_exec_run(struct agentd_call *call, const char **ret_error)
{
    if (call->tool->method && call->tool->path)
        return run_rest(call, ret_error);
    return run_direct(call, ret_error);
}

/* ---- the gate --------------------------------------------------------------------------- */

static int call_ring(const json_t *args)
{
    json_t *r = json_object_get(args, "ring");

    if ((json_is_integer(r) && json_integer_value(r) == 1) ||
        (json_is_string(r) && strcmp(json_string_value(r), "ring1") == 0))
        return 1;
    return 2;
}

/* osModa's 30 shell calls per 60 s (per agentd rather than per bridge process). */
static bool rate_ok(struct agentd_tools *t)
{
    int64_t now = osm_monotonic_ms();
    bool ok;

    pthread_mutex_lock(&t->rate_lock);
    ok = t->rate_times[t->rate_next] == 0 ||
         now - t->rate_times[t->rate_next] >= AGENTD_SHELL_RATE_WINDOW_MS;
    if (ok) {
        t->rate_times[t->rate_next] = now;
        t->rate_next = (t->rate_next + 1) % AGENTD_SHELL_RATE_CALLS;
    }
    pthread_mutex_unlock(&t->rate_lock);
    return ok;
}

static void refuse(struct tool_call *tc, const char *rule, const char *code, const char *fmt, ...)
    OSM_PRINTF(4, 5);
static void refuse(struct tool_call *tc, const char *rule, const char *code, const char *fmt, ...)
{
    va_list ap;

    tc->verdict.decision = OSM_POLICY_DENY;
    snprintf(tc->verdict.rule, sizeof(tc->verdict.rule), "%s", rule);
    tc->deny_code = code;
    va_start(ap, fmt);
    vsnprintf(tc->deny_message, sizeof(tc->deny_message), fmt, ap);
    va_end(ap);
}

static void policy_decide(struct tool_call *tc)
{
    struct agentd_tools *t = tc->ad->tools;
    struct osm_policy_query q = {.tool = tc->tool->name,
                                 .cls = tc->tool->cls,
                                 .ring = tc->ring,
                                 .args = tc->args,
                                 .workspace = tc->ad->workspace};

    pthread_rwlock_rdlock(&t->policy_lock);
    osm_policy_decide(t->policy, &q, &tc->verdict);
    pthread_rwlock_unlock(&t->policy_lock);
    if (tc->verdict.decision == OSM_POLICY_DENY) {
        char rule[sizeof(tc->verdict.rule)];
        snprintf(rule, sizeof(rule), "%s", tc->verdict.rule);
        refuse(tc, rule, "denied", "the policy denies %s (%s%s%s)", tc->tool->name, rule,
               tc->verdict.detail[0] ? ": " : "", tc->verdict.detail);
    }
}

/* The checks before the policy; false when one refused the call. */
static bool gate_prechecks(struct tool_call *tc)
{
    const char *reason = NULL;

    if (tc->tool->flags & OSM_TOOL_NEVER) {
        refuse(tc, "never", "forbidden",
               "%s is never available to an agent: approvals are decided by the operator on the "
               "host (agentctl approvals / agentctl approve ID / agentctl deny ID) or in the "
               "dashboard",
               tc->tool->name);
        return false;
    }
    if (tc->capability &&
        agentd_capability_check(tc->ad, tc->capability, tc->tool, &tc->req->peer, &reason) < 0) {
        refuse(tc, "capability", "denied", "capability token refused: %s", reason);
        return false;
    }
    if (osm_policy_is_shell_tool(tc->tool->name) && !rate_ok(tc->ad->tools)) {
        refuse(tc, "rate_limit", "rate_limited", "shell rate limit: at most %d calls per %d s",
               AGENTD_SHELL_RATE_CALLS, AGENTD_SHELL_RATE_WINDOW_MS / 1000);
        return false;
    }
    return true;
}

/* Everything that decides allow / approve / deny. */
static void gate(struct tool_call *tc)
{
    if (!gate_prechecks(tc))
        return;
    policy_decide(tc);
    if (tc->verdict.decision == OSM_POLICY_APPROVE &&
        agentd_grant_find(tc->ad, tc->tool->name, tc->args_hash, tc->approval_id) == 0) {
        tc->granted = true;
        tc->verdict.decision = OSM_POLICY_ALLOW;
        snprintf(tc->verdict.rule, sizeof(tc->verdict.rule), "grant");
    }
    if (tc->verdict.decision == OSM_POLICY_APPROVE)
        agentd_uuid(tc->approval_id);
}

/* ---- the ledger records ----------------------------------------------------------------- */

static int record_call(struct tool_call *tc)
{
    struct agentd_recorded rec;
    const struct ucred *p = &tc->req->peer;
    json_t *payload =
        json_pack("{s:s, s:O, s:{s:i, s:i, s:i}, s:s, s:s, s:i}", "tool", tc->tool->name,
                  "arguments", tc->redacted, "caller", "pid", (int)p->pid, "uid", (int)p->uid,
                  "gid", (int)p->gid, "decision", osm_policy_decision_name(tc->verdict.decision),
                  "rule", tc->verdict.rule, "ring", tc->ring);
    int r;

    if (!payload)
        return -ENOMEM;
    if (tc->verdict.detail[0])
        json_object_set_new(payload, "detail", json_string(tc->verdict.detail));
    if (tc->approval_id[0])
        json_object_set_new(payload, "approval_id", json_string(tc->approval_id));
    if (tc->capability)
        json_object_set(payload, "capability_id", json_object_get(tc->capability, "id"));
    r = agentd_record(tc->ad, "tool.call", tc->actor, payload, NULL, NULL, &rec);
    json_decref(payload);
    if (r == 0)
        tc->call_id = rec.id;
    return r;
}

static int record_result(struct tool_call *tc, const char *status, const char *error)
{
    json_t *payload = json_pack("{s:I, s:s, s:s, s:I}", "call_id", (json_int_t)tc->call_id, "tool",
                                tc->tool->name, "status", status, "duration_ms",
                                (json_int_t)(osm_monotonic_ms() - tc->started_ms));
    int r;

    if (!payload)
        return -ENOMEM;
    if (tc->approval_id[0])
        json_object_set_new(payload, "approval_id", json_string(tc->approval_id));
    if (tc->job_id[0])
        json_object_set_new(payload, "job_id", json_string(tc->job_id));
    if (error)
        json_object_set_new(payload, "error", json_string(error));
    r = agentd_record(tc->ad, "tool.result", tc->actor, payload, NULL, NULL, NULL);
    json_decref(payload);
    return r;
}

/* ---- answers ---------------------------------------------------------------------------- */

/* The answer after tool.result; result is stolen. */
static json_t *answer(struct tool_call *tc, int http, const char *status, json_t *result,
                      const char *error)
{
    json_t *o;
    int r = record_result(tc, status, error);

    if (r < 0) {
        log_error("tool.result", "call_id=%" PRId64 " tool=%s error=%d note=\"action ran\"",
                  tc->call_id, tc->tool->name, r);
        return osm_error(tc->req, 503, "result_not_recorded",
                         json_pack("{s:I, s:s, s:o}", "call_id", (json_int_t)tc->call_id, "status",
                                   status, "result", result ? result : json_null()),
                         "the action already ran but its result could not be recorded in the "
                         "ledger: %s",
                         strerror(-r));
    }
    tc->req->status = http;
    o = json_pack("{s:s, s:o, s:I}", "status", status, "result", result ? result : json_null(),
                  "call_id", (json_int_t)tc->call_id);
    if (o && tc->approval_id[0])
        json_object_set_new(o, "approval_id", json_string(tc->approval_id));
    if (o && tc->job_id[0])
        json_object_set_new(o, "job_id", json_string(tc->job_id));
    if (o && error)
        json_object_set_new(o, "error", json_string(error));
    return o;
}

static json_t *answer_denied(struct tool_call *tc)
{
    int http = strcmp(tc->deny_code, "rate_limited") == 0 ? 429 : 403;
    json_t *result =
        json_pack("{s:s, s:s, s:s, s:s}", "error", tc->deny_code, "message", tc->deny_message,
                  "rule", tc->verdict.rule, "detail", tc->verdict.detail);
    json_t *o = answer(tc, http, "denied", result, tc->deny_code);

    if (o && tc->req->status == http)
        json_object_set_new(o, "message", json_string(tc->deny_message));
    return o;
}

/* A failure before anything ran and after tool.call: fail closed. */
static json_t *answer_unavailable(struct tool_call *tc, const char *code, const char *what, int r)
{
    json_t *result = json_pack("{s:s, s:s}", "error", code, "message", what);
    json_t *o;

    log_error("tool.call", "tool=%s call_id=%" PRId64 " error=%d what=\"%s\"", tc->tool->name,
              tc->call_id, r, what);
    o = answer(tc, 503, "error", result, code);
    if (o && tc->req->status == 503)
        json_object_set_new(o, "message", json_string(what));
    return o;
}

static void call_of(struct tool_call *tc, struct agentd_call *c)
{
    *c = (struct agentd_call){.ad = tc->ad,
                              .tool = tc->tool,
                              .args = tc->args,
                              .ring = tc->ring,
                              .approved = tc->granted,
                              .approval_id = tc->granted ? tc->approval_id : NULL,
                              .peer = tc->req->peer};
}

/* A call the policy sends to a person: a waiting job and a pending approval. */
static json_t *hold(struct tool_call *tc)
{
    struct agentd_call c;
    char reason[AGENTD_APPROVAL_REASON_MAX];
    json_auto_t *preview = NULL;
    int r;

    call_of(tc, &c);
    r = agentd_job_create(&c, true, tc->job_id);
    if (r < 0) {
        tc->job_id[0] = '\0';
        return answer_unavailable(tc, "no_approver", "the call cannot be held for approval", r);
    }
    snprintf(reason, sizeof(reason), "policy %s%s%s: %s needs an operator's approval",
             tc->verdict.rule, tc->verdict.detail[0] ? " " : "", tc->verdict.detail,
             tc->tool->name);
    preview = agentd_files_preview(tc->ad, tc->tool->name, tc->args);
    r = agentd_approval_open(tc->ad, tc->approval_id, tc->tool->name, tc->redacted, tc->args_hash,
                             tc->job_id, tc->call_id, tc->actor, reason, preview);
    if (r < 0) {
        agentd_job_refuse(tc->ad, tc->job_id, AGENTD_JOB_FAILED);
        return answer_unavailable(tc, "no_approver", "the approval could not be recorded", r);
    }
    log_info("tool.pending", "tool=%s approval=%s job=%s", tc->tool->name, tc->approval_id,
             tc->job_id);
    return answer(tc, 202, "pending",
                  json_pack("{s:s, s:s, s:s}", "message",
                            "waiting for an operator's approval: agentctl approve <approval_id> "
                            "(or deny) on the host, or the dashboard; then follow job_id with "
                            "job_status / job_wait",
                            "approval_id", tc->approval_id, "job_id", tc->job_id),
                  NULL);
}

/* A job tool: start it and wait a little so short commands answer inline. */
static json_t *run_job(struct tool_call *tc)
{
    struct agentd_call c;
    json_t *status = NULL;
    int r;

    call_of(tc, &c);
    r = agentd_job_create(&c, false, tc->job_id);
    if (r < 0) {
        tc->job_id[0] = '\0';
        return answer(tc, 200, "error",
                      json_pack("{s:s, s:s}", "error", "job_failed", "message", strerror(-r)),
                      "job_failed");
    }
    r = agentd_job_wait(tc->ad, tc->job_id, AGENTD_JOB_INLINE_WAIT_MS, &status);
    if (r < 0)
        return answer(tc, 200, "error",
                      json_pack("{s:s, s:s}", "error", "job_failed", "message", strerror(-r)),
                      "job_failed");
    if (strcmp(osm_json_str(status, "status", ""), "failed") == 0)
        return answer(tc, 200, "error", status, "job_failed");
    return answer(tc, 200, "ok", status, NULL);
}

static json_t *run_now(struct tool_call *tc)
{
    struct agentd_call c;
    const char *error = NULL;
    json_t *result;

    /* Job tools with their own implementation (shell_exec, sandbox_exec) start and wait for
     * their job themselves, honouring their timeout argument. */
    if ((tc->tool->flags & OSM_TOOL_JOB) && !find_direct(tc->tool->name))
        return run_job(tc);
    call_of(tc, &c);
    result = agentd_exec_run(&c, &error);
    if (error && !result)
        result = json_pack("{s:s}", "error", error);
    return answer(tc, 200, error ? "error" : "ok", result, error);
}

/* ---- the route -------------------------------------------------------------------------- */

/* Registry lookup and argument checks: NULL when tc is ready, else the error (no record). */
static json_t *parse(struct osm_request *req, struct tool_call *tc)
{
    const struct osm_tool_alias *alias = NULL;
    json_t *name = NULL, *args = NULL, *cap = NULL, *err;
    const struct agentd_field fields[] = {
        {"tool", AGENTD_FIELD_STRING, true, &name},
        {"arguments", AGENTD_FIELD_OBJECT, false, &args},
        {"capability", AGENTD_FIELD_OBJECT, false, &cap},
    };
    char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];

    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    tc->tool = osm_tool_find(json_string_value(name), &alias);
    if (!tc->tool || strcmp(tc->tool->daemon, "agentd") != 0)
        return osm_error(
            req, 404, "unknown_tool",
            json_pack("{s:O, s:s?}", "tool", name, "daemon", tc->tool ? tc->tool->daemon : NULL),
            tc->tool ? "%s is executed by %s, not agentd" : "unknown tool: %s%s",
            json_string_value(name), tc->tool ? tc->tool->daemon : "");
    tc->args = args ? json_incref(args) : json_object();
    if (tc->args && alias) {
        json_t *renamed = osm_tool_alias_args(alias, tc->args);
        json_decref(tc->args);
        tc->args = renamed;
    }
    if (!tc->args)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    if (osm_tool_validate(tc->tool, tc->args, field, sizeof(field), reason, sizeof(reason)) < 0)
        return osm_error(
            req, 422, "invalid_arguments",
            json_pack("{s:s, s:s, s:s}", "tool", tc->tool->name, "field", field, "reason", reason),
            "invalid arguments for %s at '%s': %s", tc->tool->name, field, reason);
    tc->capability = cap;
    tc->redacted = osm_redact_args(tc->tool->name, tc->args);
    if (!tc->redacted || args_hash(tc->args, tc->args_hash) < 0)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    tc->ring = call_ring(tc->args);
    return NULL;
}

json_t *agentd_tools_call(struct osm_request *req)
{
    struct tool_call tc = {.req = req, .ad = AGENTD(req), .started_ms = osm_monotonic_ms()};
    json_t *out;
    int r;

    if (!tc.ad->tools)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    agentd_peer_actor(req->operator? "operator" : "agent", &req->peer, tc.actor, sizeof(tc.actor));
    if ((out = parse(req, &tc)))
        goto done;
    gate(&tc);
    r = record_call(&tc);
    if (r < 0) {
        log_error("tool.call", "tool=%s error=%d note=\"not recorded: refused\"", tc.tool->name, r);
        out = osm_error(req, 503, "ledger_unavailable", json_pack("{s:s}", "status", "error"),
                        "the call could not be recorded in the ledger, so it was not run: %s",
                        strerror(-r));
        goto done;
    }
    if (tc.verdict.decision == OSM_POLICY_DENY)
        out = answer_denied(&tc);
    else if (tc.verdict.decision == OSM_POLICY_APPROVE)
        out = hold(&tc);
    else
        out = run_now(&tc);
done:
    tool_call_clear(&tc);
    return out;
}

/* ---- start, reload, stop ---------------------------------------------------------------- */

static char **protected_list(struct agentd *ad)
{
    static const char *const state_names[] = {
        OSM_LEDGER_DB_NAME "*",    OSM_LEDGER_KEY_NAME,        OSM_LEDGER_PUB_NAME,
        OSM_LEDGER_CHECKPOINT_LOG, AGENTD_CAPABILITY_KEY_NAME, "keyd",
    };
    size_t n = ELEMENTSOF(state_names) + 2, i = 0;
    char **list = calloc(n + 1, sizeof(char *));

    if (!list)
        return NULL;
    for (; i < ELEMENTSOF(state_names); i++)
        list[i] = osm_path_join(ad->paths.state_dir, state_names[i]);
    list[i++] = strdup(ad->paths.run_dir);
    list[i++] = strdup(OSM_DEFAULT_RUN_DIR);
    for (size_t k = 0; k < n; k++)
        if (!list[k]) {
            for (size_t j = 0; j < n; j++)
                free(list[j]);
            free(list);
            return NULL;
        }
    return list;
}

static int policy_load(struct agentd *ad, struct osm_policy **ret)
{
    struct agentd_tools *t = ad->tools;
    char err[512];
    int r = osm_policy_load(t->policy_path, (const char *const *)t->protected_paths, geteuid(), ret,
                            err, sizeof(err));

    if (r < 0) {
        char q[600];
        log_error("policy.load", "path=%s error=%d reason=%s", t->policy_path, r,
                  osm_log_quote(err[0] ? err : strerror(-r), q, sizeof(q)));
        return r;
    }
    log_info("policy.load", "path=%s rules=%zu secrets=%zu", t->policy_path,
             osm_policy_n_rules(*ret), osm_policy_n_secrets(*ret));
    return 0;
}

int agentd_tools_reload(struct agentd *ad)
{
    struct agentd_tools *t = ad->tools;
    struct osm_policy *fresh = NULL, *old;
    int r;

    if (!t)
        return -ENOTCONN;
    r = policy_load(ad, &fresh);
    if (r < 0) {
        log_warn("policy.reload", "note=\"kept the previous policy\"");
        return r;
    }
    pthread_rwlock_wrlock(&t->policy_lock);
    old = t->policy;
    t->policy = fresh;
    pthread_rwlock_unlock(&t->policy_lock);
    osm_policy_free(old);
    return 0;
}

static int tools_new(struct agentd *ad)
{
    struct agentd_tools *t = calloc(1, sizeof(*t));

    if (!t)
        return -ENOMEM;
    ad->tools = t;
    pthread_rwlock_init(&t->policy_lock, NULL);
    pthread_mutex_init(&t->rate_lock, NULL);
    pthread_mutex_init(&t->sweep_lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->sweep_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    t->approval_ttl_s = ad->cfg.approval_ttl > 0 ? ad->cfg.approval_ttl : AGENTD_APPROVAL_TTL_S;
    t->policy_path = osm_path_join(ad->paths.state_dir, AGENTD_POLICY_NAME);
    t->protected_paths = protected_list(ad);
    return t->policy_path && t->protected_paths ? 0 : -ENOMEM;
}

int agentd_tools_init(struct agentd *ad)
{
    int r = tools_new(ad);

    if (r == 0)
        r = policy_load(ad, &ad->tools->policy);
    if (r == 0)
        r = agentd_capability_load(ad);
    if (r == 0 && (r = agentd_approvals_setup(ad)) < 0)
        log_error("approval.setup", "error=%d reason=\"%s\"", r, strerror(-r));
    if (r == 0) {
        r = -pthread_create(&ad->tools->sweeper, NULL, agentd_approvals_sweeper, ad);
        ad->tools->sweeper_started = r == 0;
    }
    if (r < 0)
        agentd_tools_shutdown(ad);
    return r;
}

void agentd_tools_shutdown(struct agentd *ad)
{
    struct agentd_tools *t = ad->tools;

    if (!t)
        return;
    if (t->sweeper_started) {
        pthread_mutex_lock(&t->sweep_lock);
        t->stopping = true;
        pthread_cond_signal(&t->sweep_cond);
        pthread_mutex_unlock(&t->sweep_lock);
        pthread_join(t->sweeper, NULL);
    }
    agentd_capability_free(ad);
    osm_policy_free(t->policy);
    for (size_t i = 0; t->protected_paths && t->protected_paths[i]; i++)
        free(t->protected_paths[i]);
    free(t->protected_paths);
    free(t->policy_path);
    pthread_rwlock_destroy(&t->policy_lock);
    pthread_mutex_destroy(&t->rate_lock);
    pthread_mutex_destroy(&t->sweep_lock);
    pthread_cond_destroy(&t->sweep_cond);
    free(t);
    ad->tools = NULL;
}
