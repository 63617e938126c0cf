/* tools/list and tools/call for the registry's tools. The bridge is a translator: it looks the
 * tool up (aliases included), validates the arguments for an early and precise error, sends
 * POST /tools/call to the daemon's agent socket and maps the daemon's answer onto an MCP result
 * (one capped JSON text item plus structuredContent). Policy is the daemon's business. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "ipc/http_client.h"
#include "ipc/json_util.h"
#include "mcp.h"
#include "tools/registry.h"
#include "tools/result.h"

int mcp_tools_list(json_t *array)
{
    size_t n;
    const struct osm_tool *tools = osm_tools(&n);

    for (size_t i = 0; i < n; i++) {
        const json_t *schema = osm_tool_schema(&tools[i]);
        json_t *t = json_pack(
            "{s:s,s:s,s:o,s:o}", "name", tools[i].name, "description", tools[i].description,
            "inputSchema", schema ? json_deep_copy(schema) : json_pack("{s:s}", "type", "object"),
            "annotations", osm_tool_annotations(&tools[i]));
        if (!t || json_array_append_new(array, t) < 0)
            return -ENOMEM;
    }
    return 0;
}

char *mcp_tools_socket(const struct mcp_server *srv, const char *daemon)
{
    const char *env = osm_tool_socket_env(daemon);
    const char *over = env ? getenv(env) : NULL;
    char *path;

    if (over && *over)
        return strdup(over);
    if (asprintf(&path, "%s/%s-agent.sock", srv->run_dir, daemon) < 0)
        return NULL;
    return path;
}

json_t *mcp_tool_result_json(const json_t *v, bool is_error, size_t cap)
{
    bool cut = false;
    _cleanup_free_ char *text = osm_result_text(v, cap, &cut);
    json_t *structured, *r;

    if (!text)
        return NULL;
    if (cut) {
        /* the text keeps the head and the shared marker; the structured copy says what happened
         * instead of carrying a second oversized copy */
        _cleanup_free_ char *full = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        structured =
            json_pack("{s:b,s:I,s:I,s:s}", "truncated", 1, "total_bytes",
                      (json_int_t)(full ? strlen(full) : 0), "cap_bytes", (json_int_t)cap, "hint",
                      "result cut at the byte cap (see the text for its head): narrow "
                      "the call with offset, limit or grep");
    } else if (json_is_object(v)) {
        structured = json_deep_copy(v);
    } else {
        structured = json_pack("{s:O}", "result", (json_t *)v);
    }
    r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text,
                  "structuredContent", structured);
    if (r && is_error)
        json_object_set_new(r, "isError", json_true());
    return r;
}

static json_t *tool_error(const struct mcp_call *c, json_t *payload)
{
    json_t *r = mcp_tool_result_json(payload, true, c->srv->result_max);

    json_decref(payload);
    return r;
}

/* A capability token as agentd takes it: the object itself, or its JSON text. New reference, or
 * NULL with why filled. */
static json_t *capability_object(const json_t *v, char *why, size_t n)
{
    const char *text = json_string_value(v);
    size_t len = json_string_length(v);
    char err[160];
    json_t *o;

    if (json_is_object(v))
        return json_incref((json_t *)v);
    if (!text) {
        snprintf(why, n, "must be the token object or its JSON text");
        return NULL;
    }
    if (len > MCP_CAPABILITY_TEXT_MAX) {
        snprintf(why, n, "JSON text longer than %d bytes", MCP_CAPABILITY_TEXT_MAX);
        return NULL;
    }
    o = osm_json_parse(text, len, err, sizeof(err));
    if (!json_is_object(o)) {
        snprintf(why, n, "%s", o ? "JSON text that is not an object" : err);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Takes the capability token out of the call: _meta.capability or the argument
 * capability_token (removed from args), each the token object or its JSON text. 0 with *ret a new
 * reference (NULL: no token); -EINVAL with field and why filled when a token is given but is not
 * one, or two different ones are given: such a call is refused, never sent without its token. */
static int take_capability(const struct mcp_call *c, json_t *args, json_t **ret, const char **field,
                           char *why, size_t n)
{
    const json_t *meta_cap = json_object_get(c->meta, "capability");
    json_t *arg_cap = json_incref(json_object_get(args, "capability_token"));
    json_t *from_meta = NULL, *from_arg = NULL;
    int r = 0;

    *ret = NULL;
    json_object_del(args, "capability_token");
    if (meta_cap && !(from_meta = capability_object(meta_cap, why, n))) {
        *field = "_meta.capability";
        r = -EINVAL;
    } else if (arg_cap && !(from_arg = capability_object(arg_cap, why, n))) {
        *field = "capability_token";
        r = -EINVAL;
    } else if (from_meta && from_arg && !json_equal(from_meta, from_arg)) {
        *field = "capability_token";
        snprintf(why, n, "differs from _meta.capability: give one token");
        r = -EINVAL;
    } else {
        *ret = from_meta ? json_incref(from_meta) : json_incref(from_arg);
    }
    json_decref(from_meta);
    json_decref(from_arg);
    json_decref(arg_cap);
    return r;
}

/* Maps the daemon's {"status","result","approval_id"?,"job_id"?} onto a tool result. */
static json_t *map_reply(const struct mcp_call *c, const struct osm_tool *t,
                         const struct osm_http_reply *reply)
{
    const json_t *j = reply->json;
    const char *status = json_string_value(json_object_get(j, "status"));
    const json_t *result = json_object_get(j, "result");

    if (!status) {
        json_t *body = j ? json_incref((json_t *)j) : json_stringn(reply->body, reply->body_len);
        return tool_error(c, json_pack("{s:s,s:s,s:i,s:o}", "error", "daemon_error", "tool",
                                       t->name, "http_status", (int)reply->status, "body",
                                       body ? body : json_null()));
    }
    if (strcmp(status, "ok") == 0)
        return mcp_tool_result_json(result ? result : json_null(), false, c->srv->result_max);
    if (strcmp(status, "pending") == 0) {
        json_t *p =
            json_pack("{s:s,s:s,s:O,s:O,s:s,s:s}", "status", "pending", "tool", t->name,
                      "approval_id", json_object_get(j, "approval_id") ?: json_null(), "job_id",
                      json_object_get(j, "job_id") ?: json_null(), "daemon", t->daemon, "message",
                      "this call waits for an operator's approval (dashboard, agentctl "
                      "approve, chat); it runs once approved. Follow it with "
                      "job_status {job_id, daemon} or job_wait {job_id, daemon}.");
        json_t *r = mcp_tool_result_json(p, false, c->srv->result_max);
        json_decref(p);
        return r;
    }
    /* error, denied, or a status this bridge does not know: all are tool errors */
    if (json_is_object(result)) {
        json_t *p = json_deep_copy(result);
        if (json_object_get(p, "status") == NULL)
            json_object_set_new(p, "status", json_string(status));
        return tool_error(c, p);
    }
    return tool_error(c, json_pack("{s:s,s:s,s:O}", "error", status, "tool", t->name, "result",
                                   result ? (json_t *)result : json_null()));
}

static bool job_running(const json_t *st)
{
    const char *s = json_string_value(json_object_get(st, "status"));

    return s && (strcmp(s, "running") == 0 || strcmp(s, "starting") == 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Follows a job that outlived the daemon's inline wait: job_wait in short slices, one
 * notifications/progress per slice, until it settles or MCP_JOB_WAIT_MAX_S pass. Returns the
 * daemon reply to show (the last job status); steals reply. Only with a progressToken: without
 * one the running status goes back at once and the client follows the job itself. */
static json_t *follow_job(struct mcp_call *c, const char *sock, json_t *reply)
{
    const json_t *st = json_object_get(reply, "result");
    const char *job = json_string_value(json_object_get(st, "job_id"));
    int64_t start = now_ms();
    char msg[160];

    for (double n = 1; job && job_running(st); n++) {
        struct osm_http_reply r;
        json_t *body;
        int rc;

        if (now_ms() - start > MCP_JOB_WAIT_MAX_S * 1000LL)
            break;
        snprintf(msg, sizeof(msg), "job %s running for %lld s", job,
                 (long long)((now_ms() - start) / 1000));
        if (mcp_call_progress(c, n, 0, msg) < 0)
            break; /* nobody listens any more */
        body = json_pack("{s:s,s:{s:s,s:i}}", "tool", "job_wait", "arguments", "job_id", job,
                         "timeout_ms", MCP_JOB_POLL_MS);
        rc = body ? osm_http_call(sock, "POST", "/tools/call", body, c->srv->call_timeout_ms, &r)
                  : -ENOMEM;
        json_decref(body);
        if (rc < 0)
            break;
        if (!json_is_object(json_object_get(r.json, "result")) ||
            !json_string_value(json_object_get(r.json, "status")) ||
            strcmp(json_string_value(json_object_get(r.json, "status")), "ok") != 0) {
            osm_http_reply_clear(&r);
            break; /* job_wait refused: show what we had */
        }
        json_decref(reply);
        reply = json_incref(r.json);
        osm_http_reply_clear(&r);
        st = json_object_get(reply, "result");
        job = json_string_value(json_object_get(st, "job_id")) ?: job;
    }
    return reply;
}

/* The daemon that executes t: its registry entry's, except for the job tools, which go to the
 * daemon that gave the job (their "daemon" argument, checked against the schema's list). */
static const char *target_daemon(const struct osm_tool *t, const json_t *args)
{
    if (strncmp(t->name, "job_", 4) == 0)
        return osm_json_str(args, "daemon", t->daemon);
    return t->daemon;
}

static json_t *call_daemon(struct mcp_call *c, const struct osm_tool *t, json_t *args, json_t *cap)
{
    const char *daemon = target_daemon(t, args);
    _cleanup_free_ char *sock = mcp_tools_socket(c->srv, daemon);
    struct osm_http_reply reply;
    json_t *body, *r;
    int rc;

    if (!sock)
        return NULL;
    body = json_pack("{s:s,s:O}", "tool", t->name, "arguments", args);
    if (body && cap)
        json_object_set(body, "capability", cap);
    if (!body)
        return NULL;
    rc = osm_http_call(sock, "POST", "/tools/call", body, c->srv->call_timeout_ms, &reply);
    json_decref(body);
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        return tool_error(c, json_pack("{s:s,s:s,s:s,s:s}", "error", "daemon_unavailable", "daemon",
                                       daemon, "socket", sock, "message",
                                       "the daemon that runs this tool is not running"));
    if (rc < 0)
        return tool_error(c, json_pack("{s:s,s:s,s:s,s:s}", "error",
                                       rc == -ETIMEDOUT ? "timeout" : "daemon_error", "daemon",
                                       daemon, "socket", sock, "message", strerror(-rc)));
    if (c->progress_token && (t->flags & OSM_TOOL_JOB) &&
        strcmp(osm_json_str(reply.json, "status", ""), "ok") == 0 &&
        job_running(json_object_get(reply.json, "result"))) {
        json_t *last = follow_job(c, sock, json_incref(reply.json));
        json_decref(reply.json);
        reply.json = last;
    }
    r = map_reply(c, t, &reply);
    osm_http_reply_clear(&reply);
    return r;
}

json_t *mcp_tools_call(struct mcp_call *c, const char *name, const json_t *args,
                       struct mcp_error *e)
{
    const struct osm_tool_alias *alias = NULL;
    const struct osm_tool *t = osm_tool_find(name, &alias);
    char field[128] = "", reason[256] = "";
    const char *cap_field = "";
    json_t *a, *cap, *r;
    json_t *empty = NULL;

    if (!t)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "unknown tool: %s", name);
    if (!args)
        args = empty = json_object();
    a = alias ? osm_tool_alias_args(alias, args) : json_deep_copy(args);
    json_decref(empty);
    if (!a)
        return mcp_fail(e, MCP_ERR_INTERNAL, "out of memory");
    if (take_capability(c, a, &cap, &cap_field, reason, sizeof(reason)) < 0) {
        r = tool_error(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "error", "invalid_capability", "tool",
                                    t->name, "field", cap_field, "reason", reason, "message",
                                    "the call was not sent: a capability token is the object "
                                    "agentd minted (or its JSON text), given once"));
    } else if (osm_tool_validate(t, a, field, sizeof(field), reason, sizeof(reason)) < 0) {
        r = tool_error(c, json_pack("{s:s,s:s,s:s,s:s}", "error", "invalid_argument", "tool",
                                    t->name, "field", field, "reason", reason));
    } else {
        r = call_daemon(c, t, a, cap);
    }
    json_decref(a);
    json_decref(cap);
    if (!r)
        return mcp_fail(e, MCP_ERR_INTERNAL, "out of memory");
    return r;
}
