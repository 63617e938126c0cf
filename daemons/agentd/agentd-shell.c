/* shell_exec and sandbox_exec: every command runs as a process job in the sandbox (ring 2 by
 * default; ring 1 only after approval) through the detached osmoda-jobrun. Fails closed: when
 * the sandbox cannot be set up the command does not run and the answer is sandbox_unavailable. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-sandbox.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "ipc/json_util.h"
#include "sandbox/sandbox.h"
#include "tools/registry.h"

#define RUNNER_READY_TIMEOUT_MS 35000 /* the runner's own set-up timeout is 30 s */
#define RUNNER_ARGV_MAX (64 + 4 * OSM_SANDBOX_BINDS_MAX + 2 * OSM_SANDBOX_MASKS_MAX)
#define READY_LINE_MAX 600

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

bool agentd_shell_is_process_tool(const char *tool)
{
    return strcmp(tool, "shell_exec") == 0 || strcmp(tool, "sandbox_exec") == 0 ||
           strcmp(tool, "run_command") == 0;
}

struct spawn_argv {
    const char *v[RUNNER_ARGV_MAX];
    char *owned[2 * OSM_SANDBOX_BINDS_MAX + OSM_SANDBOX_MASKS_MAX + 4];
    size_t n_masks;
    size_t n, n_owned;
};

static void push(struct spawn_argv *a, const char *s)
{
    if (a->n + 1 < RUNNER_ARGV_MAX)
        a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static const char *own(struct spawn_argv *a, char *s)
{
    if (s && a->n_owned < ELEMENTSOF(a->owned))
        a->owned[a->n_owned++] = s;
    else if (s) {
        free(s);
        return NULL;
    }
    return s;
}

static void spawn_argv_free(struct spawn_argv *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
}

static int ring_of(const json_t *args, int call_ring)
{
    json_t *r = json_object_get(args, "ring");

    if ((json_is_integer(r) && json_integer_value(r) == 1) ||
        (json_is_string(r) && strcmp(json_string_value(r), "ring1") == 0))
        return 1;
    return call_ring == 1 ? 1 : 2;
}

/* fs_read / fs_write of sandbox_exec: each must pass osModa's bind validation; an invalid one
 * is an error (osModa skipped it silently). */
static int add_binds(struct agentd *ad, struct spawn_argv *a, const json_t *args, const char *key,
                     const char *flag, char **ret_message)
{
    const char *forbidden[] = {ad->jobs->state_real, ad->jobs->run_real, "/run/osmoda",
                               ad->paths.state_dir, ad->paths.run_dir};
    json_t *list = json_object_get(args, key), *v;
    size_t i;

    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) > OSM_SANDBOX_BINDS_MAX)
        return -EINVAL;
    json_array_foreach(list, i, v)
    {
        char *canon = NULL, why[256] = "";
        int r = json_is_string(v) ? osm_sandbox_bind_check(json_string_value(v), forbidden,
                                                           ELEMENTSOF(forbidden), &canon)
                                  : -EINVAL;
        if (r == 0 && (r = agentd_files_check_bind(ad, key, canon, why, sizeof(why))) < 0) {
            free(canon);
            if (asprintf(ret_message, "%s[%zu] %s: %s", key, i, json_string_value(v),
                         r == -EPERM ? why : strerror(-r)) < 0)
                *ret_message = NULL;
            return r == -EPERM ? r : -EINVAL;
        }
        if (r < 0) {
            if (asprintf(ret_message, "%s[%zu] %s: %s", key, i,
                         json_is_string(v) ? json_string_value(v) : "(not a string)",
                         r == -EPERM ? "a protected path" : strerror(-r)) < 0)
                *ret_message = NULL;
            return r;
        }
        push(a, flag);
        push(a, own(a, canon));
    }
    return 0;
}

static int push_mask(const char *path, bool dir, void *userdata)
{
    struct spawn_argv *a = userdata;
    const char *copy;

    if (a->n_masks == OSM_SANDBOX_MASKS_MAX)
        return -E2BIG;
    if (!(copy = own(a, strdup(path))))
        return -ENOMEM;
    push(a, dir ? "--mask-dir" : "--mask-file");
    push(a, copy);
    a->n_masks++;
    return 0;
}

/* Every secret is masked in the job's sandbox; when they cannot all be, the job does not run. */
static int add_masks(struct agentd *ad, struct spawn_argv *a, char **ret_message)
{
    int r = agentd_files_masks(ad, push_mask, a);

    if (r < 0 && asprintf(ret_message, "the secrets cannot be masked in the sandbox: %s",
                          r == -E2BIG ? "too many of them" : strerror(-r)) < 0)
        *ret_message = NULL;
    return r < 0 ? -EHOSTDOWN : 0; /* the sandbox cannot be set up */
}

static int build_runner_argv(struct agentd *ad, struct spawn_argv *a, const char *id,
                             const json_t *args, int ring, bool network, int ready_fd,
                             char **ret_message)
{
    struct agentd_jobs *j = ad->jobs;
    char *s = NULL;
    int r;

    push(a, j->runner);
    push(a, "--id");
    push(a, id);
    push(a, "--jobs-dir");
    push(a, j->jobs_dir);
    push(a, "--ring");
    push(a, ring == 1 ? "1" : "2");
    push(a, "--workspace");
    push(a, ad->workspace);
    push(a, "--init");
    push(a, j->init);
    push(a, "--bwrap");
    push(a, j->bwrap);
    push(a, "--cgroups");
    push(a, j->cgroups_optional ? "optional" : "required");
    push(a, "--activity-timeout");
    push(a, own(a, asprintf(&s, "%lld", (long long)j->activity_s) < 0 ? NULL : s));
    push(a, "--ready-fd");
    push(a, own(a, asprintf(&s, "%d", ready_fd) < 0 ? NULL : s));
    if (ring == 1) {
        /* The host filesystem, minus what the agent must never reach. */
        const char *hide[] = {j->state_real, j->run_real, "/run/osmoda"};
        for (size_t i = 0; i < ELEMENTSOF(hide); i++)
            if (hide[i] && access(hide[i], F_OK) == 0) {
                push(a, "--hide");
                push(a, hide[i]);
            }
    } else {
        if ((r = add_binds(ad, a, args, "fs_read", "--ro", ret_message)) < 0 ||
            (r = add_binds(ad, a, args, "fs_write", "--rw", ret_message)) < 0)
            return r;
        if (network)
            push(a, "--network");
    }
    if ((r = add_masks(ad, a, ret_message)) < 0)
        return r;
    push(a, "--");
    push(a, json_string_value(json_object_get(args, "command")));
    return a->n + 1 < RUNNER_ARGV_MAX ? 0 : -E2BIG;
}

/* In the forked child of a threaded process: async-signal-safe calls only. */
static void exec_runner(const struct spawn_argv *a, int ready_w)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;

    if (dup2(ready_w, 3) < 0)
        _exit(127);
    syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC);
    sigaction(SIGPIPE, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(a->v[0], (char *const *)a->v);
    _exit(127);
}

/* Reads the runner's one line: "ok PID" or "error CODE MESSAGE". */
static int read_ready(int fd, char *line, size_t size)
{
    int64_t deadline = osm_monotonic_ms() + RUNNER_READY_TIMEOUT_MS;
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - osm_monotonic_ms();
        ssize_t n;
        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
        n = read(fd, line + len, size - 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    return len > 0 ? 0 : -EPIPE;
}

static int read_run_file(struct agentd *ad, const char *id, struct agentd_spawned *ret)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    json_t *o, *le;

    if (asprintf(&path, "%s/%s.run", ad->jobs->jobs_dir, id) < 0)
        return -ENOMEM;
    if (osm_read_file(path, 65536, &text, NULL) < 0 || !(o = json_loads(text, 0, NULL)))
        return -EIO;
    ret->runner_pid = (pid_t)json_integer_value(json_object_get(o, "runner_pid"));
    ret->runner_start = (uint64_t)json_integer_value(json_object_get(o, "runner_start"));
    ret->limits_applied = json_is_true(json_object_get(o, "limits_applied"));
    le = json_object_get(o, "limits_error");
    ret->limits_error = json_is_string(le) ? strdup(json_string_value(le)) : NULL;
    json_decref(o);
    return 0;
}

static int fail(const char **ret_error, const char *code, char **ret_message, const char *msg,
                int r)
{
    *ret_error = code;
    if (msg && !*ret_message)
        *ret_message = strdup(msg);
    return r;
}

int agentd_shell_spawn(struct agentd *ad, const char *id, const char *tool, const json_t *args,
                       int call_ring, bool approved, struct agentd_spawned *ret,
                       const char **ret_error, char **ret_message)
{
    struct agentd_jobs *j = ad->jobs;
    struct spawn_argv a = {0};
    const char *command = json_string_value(json_object_get(args, "command"));
    bool network = json_is_true(json_object_get(args, "network"));
    int ring = ring_of(args, call_ring), ready[2], r, status;
    char line[READY_LINE_MAX];
    pid_t pid;

    *ret_message = NULL;
    if (!command || !*command || strlen(command) > OSM_SANDBOX_COMMAND_MAX)
        return fail(ret_error, "invalid_arguments", ret_message, "command is missing or too long",
                    -EINVAL);
    if (ring == 1 && !approved)
        return fail(ret_error, "ring1_requires_approval", ret_message,
                    "ring 1 (host filesystem) runs only after an operator's approval", -EPERM);
    if (network && !approved)
        return fail(ret_error, "egress_not_granted", ret_message,
                    "network egress needs an operator's approval", -EPERM);
    if (!j->runner || !j->init || access(j->bwrap, X_OK) < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message,
                    !j->runner ? "osmoda-jobrun not found"
                    : !j->init ? "osmoda-sandbox-init not found"
                               : "bubblewrap (bwrap) not found",
                    -ENOENT);
    if (pipe2(ready, O_CLOEXEC) < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message, "pipe failed", -errno);
    r = build_runner_argv(ad, &a, id, args, ring, network, 3, ret_message);
    if (r < 0) {
        close(ready[0]);
        close(ready[1]);
        spawn_argv_free(&a);
        return fail(ret_error,
                    r == -EHOSTDOWN                               ? "sandbox_unavailable"
                    : r == -EINVAL || r == -EPERM || r == -ENOENT ? "invalid_bind"
                                                                  : "invalid_arguments",
                    ret_message, "invalid arguments", r);
    }
    pid = fork();
    if (pid == 0)
        exec_runner(&a, ready[1]);
    close(ready[1]);
    spawn_argv_free(&a);
    if (pid < 0) {
        close(ready[0]);
        return fail(ret_error, "sandbox_unavailable", ret_message, "fork failed", -errno);
    }
    /* The runner forks itself away at once; reap the first process. */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r = read_ready(ready[0], line, sizeof(line));
    close(ready[0]);
    if (r < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message, "the job runner did not report",
                    r);
    if (strncmp(line, "ok ", 3) != 0) {
        const char *msg = strncmp(line, "error ", 6) == 0 ? strchr(line + 6, ' ') : NULL;
        return fail(ret_error, "sandbox_unavailable", ret_message, msg ? msg + 1 : line,
                    -EHOSTDOWN);
    }
    r = read_run_file(ad, id, ret);
    if (r < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message, "no runner record", r);
    log_info("job.spawn", "id=%s tool=%s ring=%d runner=%d limits=%s", id, tool, ring,
             (int)ret->runner_pid, ret->limits_applied ? "applied" : "NOT-applied");
    return 0;
}

/* ---- the tools -------------------------------------------------------------------------- */

/* Starts the job and waits up to wait_ms: a finished command answers with its exit status and
 * output; a longer one answers with the running job's handle (it is not killed: only the
 * activity timeout or job_kill end it). */
static json_t *run_and_wait(struct agentd_call *call, int64_t wait_ms, const char **ret_error)
{
    char id[AGENTD_JOB_ID_LEN + 1];
    json_t *st = NULL, *err;
    int r;

    r = agentd_job_create(call, false, id);
    if (r < 0) {
        *ret_error = "job_failed";
        return json_pack("{s:s, s:s}", "error", "job_failed", "message", strerror(-r));
    }
    r = agentd_job_wait(call->ad, id, wait_ms, &st);
    if (r < 0) {
        *ret_error = "job_failed";
        return json_pack("{s:s, s:s, s:s}", "error", "job_failed", "message", strerror(-r),
                         "job_id", id);
    }
    err = json_object_get(st, "error");
    if (json_is_string(err) &&
        strcmp(json_string_value(json_object_get(st, "status")), "failed") == 0) {
        /* ret_error must be static: map the known codes. */
        const char *e = json_string_value(err);
        *ret_error = strcmp(e, "invalid_bind") == 0              ? "invalid_bind"
                     : strcmp(e, "egress_not_granted") == 0      ? "egress_not_granted"
                     : strcmp(e, "ring1_requires_approval") == 0 ? "ring1_requires_approval"
                     : strcmp(e, "invalid_arguments") == 0       ? "invalid_arguments"
                                                                 : "sandbox_unavailable";
    }
    return st;
}

json_t *agentd_shell_run_command(struct agentd_call *call, const char *command, bool network,
                                 int64_t wait_ms, const char **ret_error)
{
    json_auto_t *args = json_pack("{s:s, s:b}", "command", command, "network", network);
    struct agentd_call derived = *call;

    if (!args) {
        *ret_error = "invalid_arguments";
        return NULL;
    }
    /* A shell_exec job: its record shows the exact command; tool.call keeps the real tool. */
    derived.tool = osm_tool_find("shell_exec", NULL);
    derived.args = args;
    return run_and_wait(&derived, wait_ms, ret_error);
}

json_t *agentd_tool_shell_exec(struct agentd_call *call, const char **ret_error)
{
    json_t *t = json_object_get(call->args, "timeout"), *st;
    int64_t ms = json_is_integer(t) ? json_integer_value(t) : OSM_SHELL_TIMEOUT_DEFAULT_MS;

    if (ms > OSM_SHELL_TIMEOUT_MAX_MS)
        ms = OSM_SHELL_TIMEOUT_MAX_MS;
    st = run_and_wait(call, ms, ret_error);
    if (st && json_object_get(st, "output"))
        json_object_set(st, "stdout", json_object_get(st, "output"));
    return st;
}

json_t *agentd_tool_sandbox_exec(struct agentd_call *call, const char **ret_error)
{
    json_t *t = json_object_get(call->args, "timeout_secs"), *st;
    int64_t ms = json_is_integer(t) ? json_integer_value(t) * 1000 : 60000;

    if (ms > OSM_SHELL_TIMEOUT_MAX_MS)
        ms = OSM_SHELL_TIMEOUT_MAX_MS;
    st = run_and_wait(call, ms, ret_error);
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
    const struct osm_tool *tool = osm_tool_find("sandbox_exec", NULL);
    char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];
    struct agentd_call call = {
        .ad = AGENTD(req), .tool = tool, .args = req->body, .approved = true, .peer = req->peer};
    const char *error = NULL;
    json_t *payload, *st;
    int r;

    if (osm_tool_validate(tool, req->body, field, sizeof(field), reason, sizeof(reason)) < 0)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", field), "%s: %s",
                         field, reason);
    call.ring = ring_of(req->body, 2);
    payload = json_pack("{s:O, s:b, s:s}", "command", json_object_get(req->body, "command"),
                        "network", json_is_true(json_object_get(req->body, "network")), "ring",
                        call.ring == 1 ? "ring1" : "ring2");
    r = agentd_record(call.ad, "sandbox.exec", "operator", payload, NULL, NULL, NULL);
    json_decref(payload);
    if (r < 0)
        return osm_error_errno(req, r, "the run could not be recorded, nothing ran");
    st = agentd_tool_sandbox_exec(&call, &error);
    if (error)
        return osm_error(req, 503, error, st, "the sandbox did not run the command");
    json_t *out = osmoda_sandbox_answer(st, call.ring);
    json_decref(st);
    return out;
}
