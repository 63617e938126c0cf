/* Starting a process job: the argv of the detached osmoda-jobrun, its fork and exec, and the one
 * line it reports once the sandbox is confined ("ok PID") or could not be set up ("error CODE
 * MESSAGE"; then the command did not run). Fails closed: no runner, no init, no bwrap, an
 * invalid bind, a network that was asked for while osmoda-egress is not running → the command
 * does not run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "jobs-internal.h"
#include "sandbox/sandbox.h"

#define RUNNER_READY_TIMEOUT_MS 35000 /* the runner's own set-up timeout is 30 s */
#define RUNNER_ARGV_MAX (64 + 4 * OSM_SANDBOX_BINDS_MAX + 2 * OSM_SANDBOX_MASKS_MAX)
#define READY_LINE_MAX 600
#define RUN_FILE_MAX 65536

extern char **environ;

struct spawn_argv {
    const char *v[RUNNER_ARGV_MAX];
    char *owned[2 * OSM_SANDBOX_BINDS_MAX + OSM_SANDBOX_MASKS_MAX + 4];
    size_t n, n_owned, n_masks;
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

/* fs_read / fs_write of sandbox_exec: each must pass osModa's bind validation plus ours; an
 * invalid one is an error (osModa skipped it silently). */
static int add_binds(struct osm_jobs *j, struct spawn_argv *a, const json_t *list, const char *key,
                     const char *flag, char **ret_message)
{
    size_t n_forbidden = 0, i;
    json_t *v;

    while (j->protected_dirs[n_forbidden])
        n_forbidden++;
    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) > OSM_SANDBOX_BINDS_MAX)
        return -EINVAL;
    json_array_foreach(list, i, v)
    {
        char *canon = NULL, why[256] = "";
        int r = json_is_string(v) ? osm_sandbox_bind_check(json_string_value(v),
                                                           (const char *const *)j->protected_dirs,
                                                           n_forbidden, &canon)
                                  : -EINVAL;
        /* judged again now: the call may have waited for a person meanwhile */
        if (r == 0 && j->check_bind &&
            (r = j->check_bind(j->policy_ctx, key, canon, why, sizeof(why))) < 0) {
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

static void push_ring1(struct osm_jobs *j, struct spawn_argv *a)
{
    /* The host filesystem, minus what the agent must never reach. */
    for (size_t i = 0; j->protected_dirs[i]; i++)
        if (access(j->protected_dirs[i], F_OK) == 0) {
            push(a, "--hide");
            push(a, j->protected_dirs[i]);
        }
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

/* Every secret is masked in the job's sandbox (the sandbox decides which its ring can see); when
 * they cannot all be, the job does not run. */
static int push_masks(struct osm_jobs *j, struct spawn_argv *a, char **ret_message)
{
    int r = j->masks ? j->masks(j->policy_ctx, push_mask, a) : 0;

    if (r < 0 && asprintf(ret_message, "the secrets cannot be masked in the sandbox: %s",
                          r == -E2BIG ? "too many of them" : strerror(-r)) < 0)
        *ret_message = NULL;
    return r < 0 ? -EHOSTDOWN : 0;
}

static int build_argv(struct osm_jobs *j, struct spawn_argv *a, const char *id,
                      const struct osm_job_process *p, char **ret_message)
{
    char *s = NULL;
    int r;

    push(a, j->runner);
    push(a, "--id");
    push(a, id);
    push(a, "--jobs-dir");
    push(a, j->jobs_dir);
    push(a, "--ring");
    push(a, p->ring == 1 ? "1" : "2");
    push(a, "--workspace");
    push(a, j->workspace);
    push(a, "--init");
    push(a, j->init);
    push(a, "--bwrap");
    push(a, j->bwrap);
    push(a, "--cgroups");
    push(a, j->cgroups_optional ? "optional" : "required");
    push(a, "--activity-timeout");
    push(a, own(a, asprintf(&s, "%lld", (long long)j->activity_s) < 0 ? NULL : s));
    push(a, "--ready-fd");
    push(a, "3");
    if (p->ring == 1) {
        push_ring1(j, a);
    } else {
        if ((r = add_binds(j, a, p->fs_read, "fs_read", "--ro", ret_message)) < 0 ||
            (r = add_binds(j, a, p->fs_write, "fs_write", "--rw", ret_message)) < 0)
            return r;
        /* the one way out, when osmoda-egress serves the agent principal */
        if (j->egress_socket && osm_sandbox_egress_present(j->egress_socket)) {
            push(a, "--egress-socket");
            push(a, j->egress_socket);
            if (p->network)
                push(a, "--network");
        }
    }
    if ((r = push_masks(j, a, ret_message)) < 0)
        return r;
    push(a, "--");
    push(a, p->command);
    return a->n + 1 < RUNNER_ARGV_MAX ? 0 : -E2BIG;
}

/* Starts the runner in a session of its own (so it outlives this daemon) with posix_spawn,
 * which does not copy the daemon's memory as a fork would: stdio on /dev/null, the ready pipe
 * as fd 3, nothing else inherited, default signal mask and dispositions. */
static int spawn(const struct spawn_argv *a, int ready_w, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    int r;

    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGCHLD);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, ready_w, 3);
    posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    r = -posix_spawn(ret_pid, a->v[0], &fa, &at, (char *const *)a->v, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return r;
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

static int read_run_file(struct osm_jobs *j, const char *id, struct jobs_spawned *ret)
{
    json_t *o = jobs_file_json(j, id, "run"), *le;

    if (!o)
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

/* Checks what can be checked before anything runs. */
static int precheck(struct osm_jobs *j, const struct osm_job_process *p, bool approved,
                    const char **ret_error, char **ret_message)
{
    if (!p->command || !*p->command || strlen(p->command) > OSM_SANDBOX_COMMAND_MAX)
        return fail(ret_error, "invalid_arguments", ret_message, "command is missing or too long",
                    -EINVAL);
    if (p->ring == 1 && !approved)
        return fail(ret_error, "ring1_requires_approval", ret_message,
                    "ring 1 (host filesystem) runs only after an operator's approval", -EPERM);
    if (p->network && p->ring == 2 &&
        !(j->egress_socket && osm_sandbox_egress_present(j->egress_socket)))
        return fail(ret_error, "egress_unavailable", ret_message,
                    "osmoda-egress is not running: the sandbox's only way out is its proxy",
                    -EHOSTUNREACH);
    if (!j->runner || !j->init || access(j->bwrap, X_OK) < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message,
                    !j->runner ? "osmoda-jobrun not found"
                    : !j->init ? "osmoda-sandbox-init not found"
                               : "bubblewrap (bwrap) not found",
                    -ENOENT);
    return 0;
}

/* Starts the runner and reads its line. The runner stays our child: the monitor reaps it
 * through its pidfd when it ends. */
static int start_runner(struct spawn_argv *a, int ready[2], char *line, size_t size)
{
    pid_t pid;
    int r = spawn(a, ready[1], &pid);

    close(ready[1]);
    if (r == 0)
        r = read_ready(ready[0], line, size);
    close(ready[0]);
    return r;
}

int jobs_spawn_runner(struct osm_jobs *j, const char *id, const struct osm_job_process *p,
                      bool approved, struct jobs_spawned *ret, const char **ret_error,
                      char **ret_message)
{
    struct spawn_argv a = {0};
    char line[READY_LINE_MAX];
    int ready[2], r;

    *ret_message = NULL;
    if ((r = precheck(j, p, approved, ret_error, ret_message)) < 0)
        return r;
    if (pipe2(ready, O_CLOEXEC) < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message, "pipe failed", -errno);
    r = build_argv(j, &a, id, p, ret_message);
    if (r < 0) {
        close(ready[0]);
        close(ready[1]);
        spawn_argv_free(&a);
        return fail(ret_error,
                    r == -EHOSTDOWN ? "sandbox_unavailable"
                    : r == -E2BIG   ? "invalid_arguments"
                                    : "invalid_bind",
                    ret_message, "invalid arguments", r);
    }
    r = start_runner(&a, ready, line, sizeof(line));
    spawn_argv_free(&a);
    if (r < 0)
        return fail(ret_error, "sandbox_unavailable", ret_message, "the job runner did not report",
                    r);
    if (strncmp(line, "ok ", 3) != 0) {
        const char *msg = strncmp(line, "error ", 6) == 0 ? strchr(line + 6, ' ') : NULL;
        return fail(ret_error, "sandbox_unavailable", ret_message, msg ? msg + 1 : line,
                    -EHOSTDOWN);
    }
    r = read_run_file(j, id, ret);
    return r < 0 ? fail(ret_error, "sandbox_unavailable", ret_message, "no runner record", r) : 0;
}

char *jobs_find_program(const char *name)
{
    static const char *const dirs[] = {"/usr/libexec/osmoda", "/usr/local/libexec/osmoda",
                                       "/usr/lib/osmoda"};
    const char *env = getenv("OSMODA_LIBEXEC_DIR");
    char self[PATH_MAX], *p = NULL, *slash;
    ssize_t n;

    if (env && *env && asprintf(&p, "%s/%s", env, name) >= 0 && access(p, X_OK) == 0)
        return p;
    free(TAKE_PTR(p));
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (asprintf(&p, "%s/%s", self, name) >= 0 && access(p, X_OK) == 0)
                return p;
            free(TAKE_PTR(p));
            /* the build tree: daemons/<name>/ beside daemons/sandbox/ */
            if (asprintf(&p, "%s/../sandbox/%s", self, name) >= 0 && access(p, X_OK) == 0)
                return p;
            free(TAKE_PTR(p));
        }
    }
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        if (asprintf(&p, "%s/%s", dirs[i], name) >= 0 && access(p, X_OK) == 0)
            return p;
        free(TAKE_PTR(p));
    }
    return NULL;
}
