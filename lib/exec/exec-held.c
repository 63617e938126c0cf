/* Calls that wait for a person. The executor holds the call as a job and opens the approval on
 * agentd, the one approval authority. A signed decision releases or refuses the job; at start
 * (and whenever agentd was unreachable) every held job is reconciled with its approval, so a
 * decision and the job's release agree across crashes. Killing a held job cancels its approval
 * first, so it can never be approved afterwards. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "exec-internal.h"
#include "ipc/json_util.h"

/* ---- holding ---------------------------------------------------------------------------- */

static json_t *preview_of(struct exec_call *c)
{
    struct osm_exec_call call;

    if (!c->et->preview)
        return NULL;
    exec_call_of(c, &call);
    return c->et->preview(&call);
}

json_t *exec_hold(struct exec_call *c)
{
    struct osm_exec_approver *a = &c->e->approver;
    struct osm_job_spec spec = {.tool = c->et->tool->name,
                                .args = c->args,
                                .ring = c->ring,
                                .peer = c->req->peer,
                                .approval_id = c->approval_id,
                                .pending = true};
    char reason[OSM_EXEC_REASON_MAX];
    json_auto_t *preview = NULL;
    int r;

    if (!a->open)
        return exec_answer_unavailable(c, "no_approver", "no approver is configured", -ENOTCONN);
    osm_uuid(c->approval_id);
    r = osm_jobs_create(c->e->jobs, &spec, c->job_id);
    if (r < 0) {
        c->job_id[0] = c->approval_id[0] = '\0';
        return exec_answer_unavailable(c, "no_approver", "the call cannot be held", r);
    }
    snprintf(reason, sizeof(reason), "policy %s%s%s: %s needs an operator's approval",
             c->verdict.rule, c->verdict.detail[0] ? " " : "", c->verdict.detail,
             c->et->tool->name);
    preview = preview_of(c);
    r = a->open(a->ctx, &(struct osm_approval_request){.id = c->approval_id,
                                                       .tool = c->et->tool->name,
                                                       .arguments = c->redacted,
                                                       .args_hash = c->args_hash,
                                                       .path = c->path,
                                                       .job_id = c->job_id,
                                                       .call_id = c->call_id,
                                                       .actor = c->actor,
                                                       .reason = reason,
                                                       .preview = preview});
    if (r < 0) {
        osm_jobs_refuse(c->e->jobs, c->job_id, OSM_JOB_FAILED, "the approval could not be opened");
        c->approval_id[0] = '\0'; /* there is none to name */
        return exec_answer_unavailable(c, "no_approver", "the approval could not be opened", r);
    }
    log_info("tool.pending", "tool=%s approval=%s job=%s", c->et->tool->name, c->approval_id,
             c->job_id);
    return exec_answer(c, 202, "pending",
                       json_pack("{s:s, s:s, s:s}", "message",
                                 "waiting for an operator's approval: agentctl approve "
                                 "<approval_id> (or deny) on the host, or the dashboard; then "
                                 "follow job_id with job_status / job_wait",
                                 "approval_id", c->approval_id, "job_id", c->job_id),
                       NULL);
}

/* ---- decisions -------------------------------------------------------------------------- */

static enum osm_job_status refusal_of(const char *decision)
{
    if (strcmp(decision, "expired") == 0)
        return OSM_JOB_EXPIRED;
    if (strcmp(decision, "cancelled") == 0)
        return OSM_JOB_KILLED;
    return OSM_JOB_DENIED;
}

/* The held job is the call that was approved: same tool, arguments hashing to the approved
 * hash (a row changed behind our back is not run). */
static bool job_matches(struct osm_exec *e, const char *job_id, const json_t *d)
{
    _cleanup_free_ char *tool = NULL, *args = NULL;
    uint8_t h[OSM_SHA256_LEN];
    char hex[OSM_EXEC_HASH_LEN + 1];

    if (osm_jobs_call_text(e->jobs, job_id, &tool, &args) < 0 ||
        osm_sha256(args, strlen(args), h) < 0)
        return false;
    osm_hex_encode(h, sizeof(h), hex);
    return strcmp(tool, osm_json_str(d, "tool", "")) == 0 &&
           strcmp(hex, osm_json_str(d, "args_hash", "")) == 0;
}

int osm_exec_decided(struct osm_exec *e, const json_t *d)
{
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *decision = json_string_value(json_object_get(d, "decision"));
    char job_id[OSM_EXEC_ID_LEN + 1];
    const struct osm_exec_tool *et;
    int r;

    if ((r = exec_decision_check(e, d)) < 0) {
        log_error("approval.decision",
                  "id=%s error=%d note=\"signature or daemon refused: the "
                  "held call stays held\"",
                  id ? id : "-", r);
        return r;
    }
    if ((r = osm_jobs_by_approval(e->jobs, id, job_id)) < 0)
        return r;
    if (strcmp(decision, "approved") != 0)
        return osm_jobs_refuse(e->jobs, job_id, refusal_of(decision), decision);
    if (!job_matches(e, job_id, d)) {
        osm_jobs_refuse(e->jobs, job_id, OSM_JOB_FAILED, "the approval is for another call");
        return -EBADMSG;
    }
    et = exec_find_tool(e, osm_json_str(d, "tool", ""));
    r = osm_jobs_release(e->jobs, job_id, id, et && et->process);
    if (r == 0)
        log_info("job.released", "job=%s approval=%s", job_id, id);
    return r;
}

int osm_exec_reconcile(struct osm_exec *e)
{
    struct osm_exec_approver *a = &e->approver;
    json_t *held = NULL, *item;
    size_t i;
    int r, n = 0;

    if (!a->decision)
        return 0;
    if ((r = osm_jobs_held(e->jobs, &held)) < 0)
        return r;
    json_array_foreach(held, i, item)
    {
        const char *job_id = json_string_value(json_array_get(item, 0));
        const char *approval_id = json_string_value(json_array_get(item, 1));
        json_t *d = NULL;
        r = a->decision(a->ctx, approval_id, &d);
        if (r == -ENOENT) /* the daemon stopped before agentd knew of it: it never ran */
            r = osm_jobs_refuse(e->jobs, job_id, OSM_JOB_FAILED, "the approval was never opened");
        else if (r == 0)
            r = osm_exec_decided(e, d);
        json_decref(d);
        if (r == 0)
            n++;
        else if (r != -EAGAIN && r != -EALREADY)
            log_warn("approval.reconcile", "job=%s approval=%s error=%d", job_id, approval_id, r);
    }
    json_decref(held);
    return n;
}

/* ---- the job tools ---------------------------------------------------------------------- */

static const char *arg_id(const json_t *args)
{
    const char *id = json_string_value(json_object_get(args, "job_id"));

    return id ? id : json_string_value(json_object_get(args, "id"));
}

static json_t *job_error(int r, const char **ret_error)
{
    *ret_error = r == -ENOENT       ? "not_found"
                 : r == -EALREADY   ? "not_running"
                 : r == -EOPNOTSUPP ? "not_supported"
                                    : "job_failed";
    return json_pack("{s:s, s:s}", "error", *ret_error, "message", strerror(-r));
}

json_t *osm_exec_job_status(struct osm_exec_call *call, const char **ret_error)
{
    const char *id = arg_id(call->args);
    json_t *off = json_object_get(call->args, "offset"), *st = NULL;
    int r;

    if (!id)
        return job_error(-EINVAL, ret_error);
    r = osm_jobs_status(call->exec->jobs, id, json_is_integer(off) ? json_integer_value(off) : -1,
                        &st);
    return r < 0 ? job_error(r, ret_error) : st;
}

json_t *osm_exec_job_wait(struct osm_exec_call *call, const char **ret_error)
{
    const char *id = arg_id(call->args);
    json_t *t = json_object_get(call->args, "timeout_ms"), *st = NULL;
    int r;

    if (!id)
        return job_error(-EINVAL, ret_error);
    r = osm_jobs_wait(call->exec->jobs, id,
                      json_is_integer(t) ? json_integer_value(t) : OSM_EXEC_INLINE_WAIT_MS, &st);
    return r < 0 ? job_error(r, ret_error) : st;
}

/* A held job: cancel its approval first; if a decision won the race, apply it, and kill what
 * it started. */
static int kill_held(struct osm_exec *e, const char *job_id, const char *approval_id)
{
    struct osm_exec_approver *a = &e->approver;
    json_t *d = NULL;
    int r = a->cancel ? a->cancel(a->ctx, approval_id) : -ENOTCONN;

    if (r == 0 || r == -ENOENT) {
        /* agentd delivers the cancellation to its own executor at once: then it is done */
        r = osm_jobs_refuse(e->jobs, job_id, OSM_JOB_KILLED, "cancelled");
        return r == -EALREADY ? 0 : r;
    }
    if (r != -EALREADY)
        return r; /* agentd unreachable: the job stays held, the approval open */
    if ((r = a->decision(a->ctx, approval_id, &d)) == 0)
        r = osm_exec_decided(e, d);
    json_decref(d);
    if (r < 0 && r != -EALREADY)
        return r;
    r = osm_jobs_kill(e->jobs, job_id);
    return r == -EALREADY ? 0 : r;
}

json_t *osm_exec_job_kill(struct osm_exec_call *call, const char **ret_error)
{
    struct osm_exec *e = call->exec;
    const char *id = arg_id(call->args);
    char approval_id[OSM_EXEC_ID_LEN + 1];
    enum osm_job_status s;
    json_t *st = NULL;
    int r;

    if (!id)
        return job_error(-EINVAL, ret_error);
    if ((r = osm_jobs_state(e->jobs, id, &s, approval_id)) < 0)
        return job_error(r, ret_error);
    r = s == OSM_JOB_PENDING_APPROVAL ? kill_held(e, id, approval_id) : osm_jobs_kill(e->jobs, id);
    if (r < 0)
        return job_error(r, ret_error);
    r = osm_jobs_status(e->jobs, id, -1, &st);
    return r < 0 ? job_error(r, ret_error) : st;
}
