/* osmoda-jobrun: runs one job detached from agentd so that it survives the client going away
 * and agentd restarting. It leaves its own session, creates the job's cgroups, starts bwrap
 * (which starts osmoda-sandbox-init) in them, copies the merged stdout/stderr to
 * <jobs-dir>/<id>.out, kills the job when it is silent for the activity timeout or on SIGTERM
 * (job_kill), and finally writes <id>.exit atomically. <id>.run names the runner (pid and start
 * time) and the cgroups while it runs.
 *
 * To its starter it reports one line on --ready-fd once the sandbox is confined ("ok PID") or
 * could not be set up ("error sandbox_unavailable MESSAGE"); in the second case the command did
 * not run. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "sandbox/sandbox.h"

#define SETUP_TIMEOUT_MS 30000
#define EXIT_GRACE_MS 2000
#define TAIL_MSG_MAX 400

enum cgroup_mode { CG_REQUIRED, CG_OPTIONAL, CG_OFF };

struct runner {
    const char *id, *jobs_dir, *cgroup_root;
    struct osm_sandbox_spec spec;
    const char *fs_read[OSM_SANDBOX_BINDS_MAX], *fs_write[OSM_SANDBOX_BINDS_MAX];
    const char *hide[8];
    const char *mask_files[OSM_SANDBOX_MASKS_MAX], *mask_dirs[OSM_SANDBOX_MASKS_MAX];
    struct osm_cgroup_limits lim;
    enum cgroup_mode cg_mode;
    int64_t activity_ms;
    int ready_fd;

    struct osm_cgroup cg;
    char *limits_error;
    char started_at[OSM_TS_LEN + 1];
    int64_t started_ms;
    pid_t child;
    int out_file;
    int64_t out_bytes;
    char tail[TAIL_MSG_MAX + 1];
    const char *kill_reason;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: osmoda-jobrun --id ID --jobs-dir DIR --ring 1|2 --workspace DIR "
            "--init PATH [--bwrap PATH] [--hide DIR]... [--mask-file P]... [--mask-dir P]... "
            "[--ro P]... [--rw P]... "
            "[--egress-socket PATH [--network]] [--activity-timeout S] [--memory-mb N] "
            "[--pids N] [--cpu-percent N] [--cgroups required|optional|off] "
            "[--cgroup-root DIR] [--ready-fd FD] -- COMMAND\n");
    return 2;
}

static int push(const char **arr, size_t *n, size_t max, const char *v)
{
    if (*n >= max)
        return -E2BIG;
    arr[(*n)++] = v;
    return 0;
}

static int parse_opt(struct runner *r, const char *a, const char *v)
{
    if (strcmp(a, "--id") == 0)
        r->id = v;
    else if (strcmp(a, "--jobs-dir") == 0)
        r->jobs_dir = v;
    else if (strcmp(a, "--ring") == 0)
        r->spec.ring = atoi(v);
    else if (strcmp(a, "--workspace") == 0)
        r->spec.workspace = v;
    else if (strcmp(a, "--init") == 0)
        r->spec.init = v;
    else if (strcmp(a, "--bwrap") == 0)
        r->spec.bwrap = v;
    else if (strcmp(a, "--egress-socket") == 0)
        r->spec.egress_socket = v;
    else if (strcmp(a, "--activity-timeout") == 0)
        r->activity_ms = atoll(v) * 1000;
    else if (strcmp(a, "--memory-mb") == 0)
        r->lim.memory_bytes = atoll(v) * 1024 * 1024;
    else if (strcmp(a, "--pids") == 0)
        r->lim.pids_max = atoll(v);
    else if (strcmp(a, "--cpu-percent") == 0)
        r->lim.cpu_percent = atoi(v);
    else if (strcmp(a, "--cgroup-root") == 0)
        r->cgroup_root = v;
    else if (strcmp(a, "--ready-fd") == 0)
        r->ready_fd = atoi(v);
    else if (strcmp(a, "--ro") == 0)
        return push(r->fs_read, &r->spec.n_fs_read, OSM_SANDBOX_BINDS_MAX, v);
    else if (strcmp(a, "--rw") == 0)
        return push(r->fs_write, &r->spec.n_fs_write, OSM_SANDBOX_BINDS_MAX, v);
    else if (strcmp(a, "--hide") == 0)
        return push(r->hide, &r->spec.n_hide, ELEMENTSOF(r->hide), v);
    else if (strcmp(a, "--mask-file") == 0)
        return v[0] == '/' ? push(r->mask_files, &r->spec.n_mask_files, OSM_SANDBOX_MASKS_MAX, v)
                           : -EINVAL;
    else if (strcmp(a, "--mask-dir") == 0)
        return v[0] == '/' ? push(r->mask_dirs, &r->spec.n_mask_dirs, OSM_SANDBOX_MASKS_MAX, v)
                           : -EINVAL;
    else if (strcmp(a, "--cgroups") == 0) {
        if (strcmp(v, "required") == 0)
            r->cg_mode = CG_REQUIRED;
        else if (strcmp(v, "optional") == 0)
            r->cg_mode = CG_OPTIONAL;
        else if (strcmp(v, "off") == 0)
            r->cg_mode = CG_OFF;
        else
            return -EINVAL;
    } else
        return -EINVAL;
    return 0;
}

static int parse(int argc, char **argv, struct runner *r)
{
    int i;

    r->ready_fd = -1;
    r->spec.workspace_fd = -1;
    r->spec.ready_fd = -1;
    r->activity_ms = OSM_JOB_ACTIVITY_TIMEOUT_S * 1000LL;
    r->lim = (struct osm_cgroup_limits){.memory_bytes = OSM_SANDBOX_MEMORY_MB * 1024LL * 1024,
                                        .pids_max = OSM_SANDBOX_PIDS_MAX,
                                        .cpu_percent = OSM_SANDBOX_CPU_PERCENT};
    r->spec.fs_read = r->fs_read;
    r->spec.fs_write = r->fs_write;
    r->spec.hide = r->hide;
    r->spec.mask_files = r->mask_files;
    r->spec.mask_dirs = r->mask_dirs;
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--network") == 0) {
            r->spec.network = true;
            continue;
        }
        if (i + 1 >= argc || parse_opt(r, argv[i], argv[i + 1]) < 0)
            return -EINVAL;
        i++;
    }
    if (i + 2 != argc || !r->id || !osm_filename_valid(r->id) || !r->jobs_dir || !r->spec.init ||
        (r->spec.ring != 1 && r->spec.ring != 2) || (r->spec.ring == 2 && !r->spec.workspace) ||
        (r->spec.egress_socket && r->spec.egress_socket[0] != '/') || r->activity_ms <= 0)
        return -EINVAL;
    r->spec.command = argv[i + 1];
    return 0;
}

static char *job_path(const struct runner *r, const char *ext)
{
    char *p = NULL;

    return asprintf(&p, "%s/%s.%s", r->jobs_dir, r->id, ext) < 0 ? NULL : p;
}

static json_t *cgroup_json(const struct runner *r)
{
    json_t *o = json_object();

    if (r->cg.memory)
        json_object_set_new(o, "memory", json_string(r->cg.memory));
    if (r->cg.pids)
        json_object_set_new(o, "pids", json_string(r->cg.pids));
    if (r->cg.cpu)
        json_object_set_new(o, "cpu", json_string(r->cg.cpu));
    if (r->cg.freezer)
        json_object_set_new(o, "freezer", json_string(r->cg.freezer));
    if (r->cg.unified)
        json_object_set_new(o, "unified", json_string(r->cg.unified));
    return o;
}

static int write_json(const struct runner *r, const char *ext, json_t *o)
{
    _cleanup_free_ char *path = job_path(r, ext);
    _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    int ret;

    json_decref(o);
    if (!path || !text)
        return -ENOMEM;
    ret = osm_replace_file(path, text, strlen(text), 0600);
    return ret;
}

static int write_run(const struct runner *r)
{
    uint64_t st = 0;

    (void)osm_proc_start_time(getpid(), &st);
    return write_json(
        r, "run",
        json_pack("{s:i, s:I, s:i, s:s, s:I, s:o, s:b, s:s?, s:I}", "runner_pid", (int)getpid(),
                  "runner_start", (json_int_t)st, "child_pid", (int)r->child, "started_at",
                  r->started_at, "started_ms", (json_int_t)r->started_ms, "cgroup", cgroup_json(r),
                  "limits_applied", r->cg.limits_applied, "limits_error", r->limits_error,
                  "activity_timeout_s", (json_int_t)(r->activity_ms / 1000)));
}

static void report(struct runner *r, const char *fmt, ...) OSM_PRINTF(2, 3);
static void report(struct runner *r, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    int n;

    if (r->ready_fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (n > (int)sizeof(line) - 2)
        n = sizeof(line) - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    (void)!write(r->ready_fd, line, (size_t)n);
    close(r->ready_fd);
    r->ready_fd = -1;
}

/* The last line of output, for the error message of a sandbox that failed to start. */
static void remember_tail(struct runner *r, const char *buf, size_t n)
{
    size_t old = strlen(r->tail), keep;

    if (n >= TAIL_MSG_MAX) {
        memcpy(r->tail, buf + n - TAIL_MSG_MAX, TAIL_MSG_MAX);
        r->tail[TAIL_MSG_MAX] = '\0';
        return;
    }
    keep = old + n > TAIL_MSG_MAX ? TAIL_MSG_MAX - n : old;
    memmove(r->tail, r->tail + old - keep, keep);
    memcpy(r->tail + keep, buf, n);
    r->tail[keep + n] = '\0';
}

static const char *last_line(struct runner *r)
{
    char *end = r->tail + strlen(r->tail), *p;

    while (end > r->tail && (end[-1] == '\n' || end[-1] == ' '))
        *--end = '\0';
    p = strrchr(r->tail, '\n');
    return p ? p + 1 : r->tail;
}

static void copy_output(struct runner *r, const char *buf, size_t n)
{
    if (r->out_bytes < OSM_JOB_OUT_FILE_MAX) {
        size_t room = (size_t)(OSM_JOB_OUT_FILE_MAX - r->out_bytes);
        size_t w = n < room ? n : room;
        (void)!write(r->out_file, buf, w);
    }
    r->out_bytes += (int64_t)n;
    remember_tail(r, buf, n);
}

static void kill_job(struct runner *r, const char *reason)
{
    if (!r->kill_reason)
        r->kill_reason = reason;
    (void)osm_cgroup_kill(&r->cg);
    if (r->child > 0) {
        kill(-r->child, SIGKILL);
        kill(r->child, SIGKILL);
    }
}

static void child_exec(struct runner *r, int out_w, int ready_w, int ws_fd)
{
    _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char **argv = NULL;
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(OSM_SANDBOX_EXIT_SETUP);
    if (osm_cgroup_enter(&r->cg, 0) < 0 && r->cg_mode == CG_REQUIRED)
        _exit(OSM_SANDBOX_EXIT_SETUP);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
        _exit(OSM_SANDBOX_EXIT_SETUP);
    r->spec.ready_fd = ready_w;
    r->spec.workspace_fd = ws_fd;
    if (osm_sandbox_argv(&r->spec, &argv) < 0) {
        fprintf(stderr, "osmoda-jobrun: sandbox_unavailable: cannot build the bwrap command\n");
        _exit(OSM_SANDBOX_EXIT_SETUP);
    }
    execv(argv[0], argv);
    fprintf(stderr, "osmoda-jobrun: sandbox_unavailable: exec %s: %s\n", argv[0], strerror(errno));
    _exit(OSM_SANDBOX_EXIT_SETUP);
}

static int setup_cgroups(struct runner *r)
{
    int ret;

    if (r->cg_mode == CG_OFF) {
        r->limits_error = strdup("cgroups disabled");
        return 0;
    }
    ret = osm_cgroup_create(r->cgroup_root, r->id, &r->lim, &r->cg);
    if (ret == 0)
        return 0;
    if (asprintf(&r->limits_error, "cgroup limits not applied: %s", strerror(-ret)) < 0)
        r->limits_error = NULL;
    return r->cg_mode == CG_OPTIONAL ? 0 : ret;
}

static int spawn(struct runner *r, int *ret_out, int *ret_ready)
{
    int out[2], ready[2];
    _cleanup_close_ int ws_fd = -1;

    if (pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    if (pipe(ready) < 0) {
        close(out[0]);
        close(out[1]);
        return -errno;
    }
    fcntl(ready[0], F_SETFD, FD_CLOEXEC);
    /* As root the workspace (below the 0700 state dir) is handed to bwrap as an fd. */
    if (r->spec.ring == 2 && geteuid() == 0)
        ws_fd = open(r->spec.workspace, O_PATH | O_DIRECTORY);
    r->child = fork();
    if (r->child == 0) {
        close(out[0]);
        close(ready[0]);
        child_exec(r, out[1], ready[1], ws_fd);
    }
    close(out[1]);
    close(ready[1]);
    if (r->child < 0) {
        close(out[0]);
        close(ready[0]);
        return -errno;
    }
    *ret_out = out[0];
    *ret_ready = ready[0];
    return 0;
}

static json_t *exit_record(struct runner *r, int status, const char *error)
{
    char ended[OSM_TS_LEN + 1];
    json_t *o;

    osm_now_ts(ended);
    o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b, s:b, s:b}", "id", r->id, "started_at",
                  r->started_at, "ended_at", ended, "duration_ms",
                  (json_int_t)(osm_monotonic_ms() - r->started_ms), "output_bytes",
                  (json_int_t)r->out_bytes, "output_truncated", r->out_bytes > OSM_JOB_OUT_FILE_MAX,
                  "limits_applied", r->cg.limits_applied, "oom_killed",
                  osm_cgroup_oom_killed(&r->cg), "pids_limit_hit", osm_cgroup_pids_hit(&r->cg));
    if (!o)
        return NULL;
    if (r->limits_error)
        json_object_set_new(o, "limits_error", json_string(r->limits_error));
    if (error) {
        json_object_set_new(o, "status", json_string("failed"));
        json_object_set_new(o, "error", json_string(error));
        json_object_set_new(o, "message", json_string(last_line(r)));
        json_object_set_new(o, "exit_code", json_null());
    } else {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        json_object_set_new(o, "status", json_string(r->kill_reason ? "killed" : "exited"));
        json_object_set_new(o, "exit_code", json_integer(code));
        if (r->kill_reason)
            json_object_set_new(o, "reason", json_string(r->kill_reason));
    }
    return o;
}

static int signal_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Copies output and waits for the confinement byte, the child's exit, a kill or a timeout.
 * Returns the wait status of the child. */
static int supervise(struct runner *r, int out_fd, int ready_fd, int sig_fd, bool *ret_ready)
{
    int64_t last = osm_monotonic_ms(), exited_at = 0;
    int status = 0;
    bool out_open = true, exited = false;
    char buf[65536];

    while (out_open || !exited) {
        struct pollfd p[3] = {
            {out_open ? out_fd : -1, POLLIN, 0}, {ready_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
        int64_t now = osm_monotonic_ms(), deadline;
        struct signalfd_siginfo si;

        if (!*ret_ready && ready_fd >= 0)
            deadline = last + SETUP_TIMEOUT_MS;
        else
            deadline = last + r->activity_ms;
        if (exited)
            deadline = exited_at + EXIT_GRACE_MS;
        if (now >= deadline) {
            if (exited)
                break;
            kill_job(r, *ret_ready ? "activity_timeout" : "setup_timeout");
            last = now; /* give the kill time to land */
            continue;
        }
        if (poll(p, 3, (int)(deadline - now)) < 0 && errno != EINTR)
            return -errno;
        if (p[0].revents) {
            ssize_t n = read(out_fd, buf, sizeof(buf));
            if (n > 0) {
                copy_output(r, buf, (size_t)n);
                last = osm_monotonic_ms();
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                out_open = false;
            }
        }
        if (p[1].revents) {
            char c;
            if (read(ready_fd, &c, 1) == 1) {
                *ret_ready = true;
                report(r, "ok %d", (int)r->child);
            }
            close(ready_fd);
            ready_fd = -1;
            last = osm_monotonic_ms();
        }
        while (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                kill_job(r, "job_kill");
        }
        if (!exited && waitpid(r->child, &status, WNOHANG) == r->child) {
            exited = true;
            exited_at = osm_monotonic_ms();
        }
    }
    if (ready_fd >= 0)
        close(ready_fd);
    if (!exited) {
        kill_job(r, r->kill_reason ? r->kill_reason : "killed");
        waitpid(r->child, &status, 0);
    }
    return status;
}

/* Leaves the starter's session (a starter that spawned us in a new session, with stdio on
 * /dev/null, already did that) so that the job outlives it. */
static int daemonize(void)
{
    pid_t pid;
    int fd;

    if (getsid(0) == getpid())
        return 0;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0); /* the starter reaps this one; the runner is re-parented */
    if (setsid() < 0)
        return -errno;
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    return 0;
}

static int run(struct runner *r)
{
    _cleanup_free_ char *out_path = job_path(r, "out");
    _cleanup_close_ int sig_fd = -1;
    int out_fd = -1, ready_fd = -1, status, ret;
    bool ready = false;

    if (!out_path)
        return -ENOMEM;
    r->out_file = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->out_file < 0)
        return -errno;
    sig_fd = signal_fd();
    osm_now_ts(r->started_at);
    r->started_ms = osm_monotonic_ms();
    ret = setup_cgroups(r);
    if (ret < 0) {
        snprintf(r->tail, sizeof(r->tail), "cgroups: %s (memory/pids/cpu limits cannot be set)",
                 strerror(-ret));
        report(r, "error sandbox_unavailable %s", r->tail);
        write_json(r, "exit", exit_record(r, 0, "sandbox_unavailable"));
        osm_cgroup_destroy(&r->cg);
        return 0;
    }
    ret = spawn(r, &out_fd, &ready_fd);
    if (ret < 0) {
        snprintf(r->tail, sizeof(r->tail), "fork: %s", strerror(-ret));
        report(r, "error sandbox_unavailable %s", r->tail);
        write_json(r, "exit", exit_record(r, 0, "sandbox_unavailable"));
        osm_cgroup_destroy(&r->cg);
        return 0;
    }
    write_run(r);
    status = supervise(r, out_fd, ready_fd, sig_fd, &ready);
    close(out_fd);
    if (!ready) {
        report(r, "error sandbox_unavailable %s", last_line(r));
        write_json(r, "exit", exit_record(r, status, "sandbox_unavailable"));
    } else {
        write_json(r, "exit", exit_record(r, status, NULL));
    }
    (void)osm_cgroup_kill(&r->cg);
    osm_cgroup_destroy(&r->cg);
    return 0;
}

int main(int argc, char **argv)
{
    struct runner r = {0};
    int ret;

    if (parse(argc, argv, &r) < 0)
        return usage();
    if (r.ready_fd >= 0)
        fcntl(r.ready_fd, F_SETFD, FD_CLOEXEC);
    if (daemonize() < 0)
        return 1;
    ret = run(&r);
    if (ret < 0)
        report(&r, "error sandbox_unavailable runner: %s", strerror(-ret));
    osm_cgroup_clear(&r.cg);
    free(r.limits_error);
    return ret < 0 ? 1 : 0;
}
