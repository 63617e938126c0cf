/* shell_exec and sandbox_exec: every command runs as a process job in the sandbox (ring 2 by
 * default; ring 1 only after approval) under the detached osmoda-jobrun (lib/jobs). Fails
 * closed: when the sandbox cannot be set up the command does not run and the answer is
 * sandbox_unavailable. Also osModa's operator route POST /sandbox/exec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd-tools.h"
#include "agentd.h"
#include "ipc/json_util.h"
#include "sandbox/sandbox.h"
#include "tools/registry.h"

static int ring_of(const json_t *args, int call_ring)
{
    json_t *r = json_object_get(args, "ring");

    if ((json_is_integer(r) && json_integer_value(r) == 1) ||
        (json_is_string(r) && strcmp(json_string_value(r), "ring1") == 0))
        return 1;
    return call_ring == 1 ? 1 : 2;
}

/* The process a shell tool's arguments describe. */
static struct osm_job_process process_of(const struct osm_exec_call *call)
{
    return (struct osm_job_process){.command =
                                        json_string_value(json_object_get(call->args, "command")),
                                    .ring = ring_of(call->args, call->ring),
                                    .network = json_is_true(json_object_get(call->args, "network")),
                                    .fs_read = json_object_get(call->args, "fs_read"),
                                    .fs_write = json_object_get(call->args, "fs_write")};
}

/* ---- the tools -------------------------------------------------------------------------- */

json_t *agentd_shell_run_command(struct osm_exec_call *call, const char *command, bool network,
                                 int64_t wait_ms, const char **ret_error)
{
    struct osm_job_process p = {.command = command, .ring = 2, .network = network};

    return osm_exec_run_process(call, &p, wait_ms, ret_error);
}

static json_t *shell_exec(struct osm_exec_call *call, const char **ret_error)
{
    json_t *t = json_object_get(call->args, "timeout"), *st;
    int64_t ms = json_is_integer(t) ? json_integer_value(t) : OSM_SHELL_TIMEOUT_DEFAULT_MS;
    struct osm_job_process p = process_of(call);

    if (ms > OSM_SHELL_TIMEOUT_MAX_MS)
        ms = OSM_SHELL_TIMEOUT_MAX_MS;
    p.fs_read = p.fs_write = NULL;
    st = osm_exec_run_process(call, &p, ms, ret_error);
    if (st && json_object_get(st, "output"))
        json_object_set(st, "stdout", json_object_get(st, "output"));
    return st;
}

static json_t *sandbox_exec(struct osm_exec_call *call, const char **ret_error)
{
    json_t *t = json_object_get(call->args, "timeout_secs"), *st;
    int64_t ms = json_is_integer(t) ? json_integer_value(t) * 1000 : 60000;
    struct osm_job_process p = process_of(call);

    if (ms > OSM_SHELL_TIMEOUT_MAX_MS)
        ms = OSM_SHELL_TIMEOUT_MAX_MS;
    st = osm_exec_run_process(call, &p, ms, ret_error);
    if (st && json_object_get(st, "output")) {
        /* osModa's fields: stdout and stderr (merged here, so stderr is empty). */
        json_object_set(st, "stdout", json_object_get(st, "output"));
        json_object_set_new(st, "stderr", json_string(""));
    }
    return st;
}

/* ---- POST /sandbox/exec (operator socket, osModa §1.1) ---------------------------------- */

/* osModa's answer: {exit_code, stdout, stderr, ring, timed_out}; exit_code -1 on a timeout. */
static json_t *osmoda_sandbox_answer(const json_t *st, int ring)
{
    bool running = strcmp(osm_json_str(st, "status", ""), "running") == 0;
    const json_t *code = json_object_get(st, "exit_code");

    return json_pack("{s:I, s:s, s:s, s:s, s:b, s:O?}", "exit_code",
                     (json_int_t)(json_is_integer(code) ? json_integer_value(code) : -1), "stdout",
                     osm_json_str(st, "stdout", ""), "stderr", "", "ring",
                     ring == 1 ? "ring1" : "ring2", "timed_out", running, "job_id",
                     json_object_get(st, "id"));
}

/* The operator's own sandboxed run: the operator is the approver, so ring 1 and egress are
 * allowed here; the run is recorded (sandbox.exec, as osModa) before it starts. */
json_t *agentd_sandbox_exec_route(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    const struct osm_tool *tool = osm_tool_find("sandbox_exec", NULL);
    char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];
    struct osm_exec_call call = {.exec = ad->exec,
                                 .tool = tool,
                                 .args = req->body,
                                 .approved = true,
                                 .peer = req->peer,
                                 .userdata = ad};
    const char *error = NULL;
    json_t *payload, *st;
    int r;

    if (osm_tool_validate(tool, req->body, field, sizeof(field), reason, sizeof(reason)) < 0)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", field), "%s: %s",
                         field, reason);
    if (!ad->exec)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    call.ring = ring_of(req->body, 2);
    payload = json_pack("{s:O, s:b, s:s}", "command", json_object_get(req->body, "command"),
                        "network", json_is_true(json_object_get(req->body, "network")), "ring",
                        call.ring == 1 ? "ring1" : "ring2");
    r = agentd_record(ad, "sandbox.exec", "operator", payload, NULL, NULL, NULL);
    json_decref(payload);
    if (r < 0)
        return osm_error_errno(req, r, "the run could not be recorded, nothing ran");
    st = sandbox_exec(&call, &error);
    if (error)
        return osm_error(req, 503, error, st, "the sandbox did not run the command");
    json_t *out = osmoda_sandbox_answer(st, call.ring);
    json_decref(st);
    return out;
}

const struct agentd_handler agentd_shell_handlers[] = {
    {"shell_exec", shell_exec, NULL, true},
    {"sandbox_exec", sandbox_exec, NULL, true},
};
const size_t agentd_n_shell_handlers = ELEMENTSOF(agentd_shell_handlers);
