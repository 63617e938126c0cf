/* Running a call the policy allowed: a handler, the tool's REST mapping dispatched through the
 * daemon's own routes, or a job; and sandboxed processes for shell-like tools. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "exec-internal.h"
#include "ipc/json_util.h"
#include "tools/result.h"

#define REST_PATH_MAX 1024

/* ---- REST-mapped tools ------------------------------------------------------------------ */

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

/* The value of path parameter key from rest (removed from it), or NULL when unusable. */
static const char *path_param(json_t *rest, const char *key, char num[static 32])
{
    json_t *v = json_object_get(rest, key);
    const char *val;

    if (json_is_integer(v))
        snprintf(num, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    val = json_is_integer(v) ? num : json_string_value(v);
    return val && *val && !strpbrk(val, "/?#%") ? val : NULL;
}

/* Fills path from the tool's pattern with {x} taken from args (removed from rest). */
static int rest_path(const struct osm_tool *t, json_t *rest, char *path, size_t len)
{
    const char *p = t->path;
    size_t off = 0;

    while (*p) {
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        char key[64], num[32];
        const char *val;
        if (*p != '{') {
            if (off + 1 >= len)
                return -EINVAL;
            path[off++] = *p++;
            continue;
        }
        if (!end || (size_t)(end - p - 1) >= sizeof(key))
            return -EINVAL;
        snprintf(key, sizeof(key), "%.*s", (int)(end - p - 1), p + 1);
        val = path_param(rest, key, num);
        if (!val || off + strlen(val) >= len)
            return -EINVAL;
        off += (size_t)snprintf(path + off, len - off, "%s", val);
        json_object_del(rest, key);
        p = end + 1;
    }
    path[off] = '\0';
    return 0;
}

/* GET: the remaining arguments as query arguments; strings kept in store. */
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

static json_t *run_rest(struct osm_exec_call *call, const char **ret_error)
{
    const struct osm_tool *t = call->tool;
    struct osm_exec *e = call->exec;
    struct osm_http_server_config cfg = {.routes = e->routes,
                                         .n_routes = e->n_routes,
                                         .userdata = e->userdata,
                                         .operator= call->approved };
    struct osm_request req = {.method = t->method, .peer = call->peer, .operator= call->approved };
    json_auto_t *rest = json_deep_copy(call->args), *store = json_array(), *parsed = NULL;
    _cleanup_free_ char *body = NULL, *out = NULL, *grep = NULL;
    char path[REST_PATH_MAX];
    int64_t offset = 0, limit = -1;
    size_t out_len;
    bool get = strcmp(t->method, "GET") == 0 || strcmp(t->method, "DELETE") == 0;

    *ret_error = rest_forbidden(t) ? "forbidden" : "invalid_arguments";
    if (rest_forbidden(t) || !rest || !store || rest_path(t, rest, path, sizeof(path)) < 0)
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

/* ---- running ---------------------------------------------------------------------------- */

json_t *exec_run(struct osm_exec_call *call, const struct osm_exec_tool *et, const char **ret_error)
{
    *ret_error = NULL;
    if (et->run)
        return et->run(call, ret_error);
    if (et->tool->method && et->tool->path)
        return run_rest(call, ret_error);
    *ret_error = "not_implemented";
    return NULL;
}

json_t *exec_run_released(void *ctx, const struct osm_job_call *jc, const char **ret_error)
{
    struct osm_exec *e = ctx;
    const struct osm_exec_tool *et = exec_find_tool(e, jc->tool);
    struct osm_exec_call call = {.exec = e,
                                 .args = jc->args,
                                 .ring = jc->ring,
                                 .approved = true,
                                 .approval_id = jc->approval_id,
                                 .job_id = jc->id,
                                 .peer = jc->peer,
                                 .userdata = e->userdata};

    if (!et) {
        *ret_error = "unknown_tool";
        return NULL;
    }
    if (exec_locked_down(e)) { /* an approval given before the lockdown does not outlast it */
        *ret_error = "lockdown";
        return json_pack("{s:s, s:s}", "error", "lockdown", "message",
                         "the system is in lockdown: the approved call was not run");
    }
    call.tool = et->tool;
    return exec_run(&call, et, ret_error);
}

static json_t *job_failed(struct exec_call *c, int r)
{
    return exec_answer(c, 200, "error",
                       json_pack("{s:s, s:s}", "error", "job_failed", "message", strerror(-r)),
                       "job_failed");
}

/* A job tool without a handler of its own: a call job, awaited a little so short ones answer
 * inline. */
static json_t *run_job(struct exec_call *c)
{
    struct osm_job_spec spec = {.tool = c->et->tool->name,
                                .args = c->args,
                                .ring = c->ring,
                                .peer = c->req->peer,
                                .approval_id = c->granted ? c->approval_id : NULL,
                                .approved = c->granted};
    json_t *status = NULL;
    int r = osm_jobs_create(c->e->jobs, &spec, c->job_id);

    if (r < 0) {
        c->job_id[0] = '\0';
        return job_failed(c, r);
    }
    r = osm_jobs_wait(c->e->jobs, c->job_id, OSM_EXEC_INLINE_WAIT_MS, &status);
    if (r < 0)
        return job_failed(c, r);
    if (strcmp(osm_json_str(status, "status", ""), "failed") == 0)
        return exec_answer(c, 200, "error", status, "job_failed");
    return exec_answer(c, 200, "ok", status, NULL);
}

json_t *exec_run_now(struct exec_call *c)
{
    struct osm_exec_call call;
    const char *error = NULL;
    json_t *result;

    if ((c->et->tool->flags & OSM_TOOL_JOB) && !c->et->run)
        return run_job(c);
    exec_call_of(c, &call);
    result = exec_run(&call, c->et, &error);
    if (error && !result)
        result = json_pack("{s:s}", "error", error);
    return exec_answer(c, 200, error ? "error" : "ok", result, error);
}

/* ---- sandboxed processes ---------------------------------------------------------------- */

/* ret_error must be static: the known codes of a failed start. */
static const char *static_code(const char *e)
{
    static const char *const codes[] = {"invalid_bind", "egress_unavailable",
                                        "ring1_requires_approval", "invalid_arguments",
                                        "job_failed"};

    for (size_t i = 0; e && i < ELEMENTSOF(codes); i++)
        if (strcmp(e, codes[i]) == 0)
            return codes[i];
    return "sandbox_unavailable";
}

json_t *osm_exec_run_process(struct osm_exec_call *call, const struct osm_job_process *proc,
                             int64_t wait_ms, const char **ret_error)
{
    struct osm_job_spec spec = {.tool = call->tool->name,
                                .args = call->args,
                                .ring = proc->ring,
                                .peer = call->peer,
                                .approval_id = call->approval_id,
                                .approved = call->approved};
    char id[OSM_EXEC_ID_LEN + 1] = "";
    _cleanup_free_ char *message = NULL;
    const char *error = NULL;
    json_t *st = NULL;
    int r;

    if (call->job_id)
        snprintf(id, sizeof(id), "%s", call->job_id);
    r = osm_jobs_spawn(call->exec->jobs, &spec, proc, id, &error, &message);
    if (r < 0 && !id[0]) {
        *ret_error = "job_failed";
        return json_pack("{s:s, s:s}", "error", "job_failed", "message", strerror(-r));
    }
    r = osm_jobs_wait(call->exec->jobs, id, wait_ms, &st);
    if (r < 0) {
        *ret_error = "job_failed";
        return json_pack("{s:s, s:s, s:s}", "error", "job_failed", "message", strerror(-r),
                         "job_id", id);
    }
    if (strcmp(osm_json_str(st, "status", ""), "failed") == 0)
        *ret_error = static_code(error ? error : osm_json_str(st, "error", NULL));
    return st;
}
