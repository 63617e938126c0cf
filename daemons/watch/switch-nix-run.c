/* Running Nix's commands for the generation backends: argv without a shell, a deadline, the
 * tail of the output kept for the error, the whole process group killed at the deadline. The
 * child is waited for through its pidfd, so no SIGCHLD handling of the daemon is involved. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "switch-nix.h"

extern char **environ;

#define ENV_MAX 4096 /* variables passed on to a command */

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The daemon's environment plus NIX_CONFIG when it has none (new array of borrowed strings). */
static char **command_env(void)
{
    static char nix_config[] = "NIX_CONFIG=" SWITCH_NIX_CONFIG;
    size_t n = 0;
    char **env;

    while (environ && environ[n] && n < ENV_MAX)
        n++;
    if (!(env = calloc(n + 2, sizeof(*env))))
        return NULL;
    memcpy(env, environ, n * sizeof(*env));
    if (!getenv("NIX_CONFIG"))
        env[n++] = nix_config;
    env[n] = NULL;
    return env;
}

/* stdin /dev/null, stdout and stderr into out_w, nothing else inherited, a process group of
 * its own, default signal mask and dispositions. */
static int spawn(const char *const *argv, int out_w, pid_t *ret_pid)
{
    _cleanup_free_ char **env = command_env();
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    int r;

    if (!env)
        return -ENOMEM;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGCHLD);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, out_w, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    r = -posix_spawn(ret_pid, argv[0], &fa, &at, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return r;
}

/* Appends data, keeping only the last SWITCH_NIX_OUTPUT_MAX bytes. */
static void keep_tail(struct switch_nix_result *res, const char *data, size_t n)
{
    if (n >= SWITCH_NIX_OUTPUT_MAX) {
        memcpy(res->output, data + n - SWITCH_NIX_OUTPUT_MAX, SWITCH_NIX_OUTPUT_MAX);
        res->len = SWITCH_NIX_OUTPUT_MAX;
    } else {
        if (res->len + n > SWITCH_NIX_OUTPUT_MAX) {
            size_t drop = res->len + n - SWITCH_NIX_OUTPUT_MAX;
            memmove(res->output, res->output + drop, res->len - drop);
            res->len -= drop;
        }
        memcpy(res->output + res->len, data, n);
        res->len += n;
    }
    res->output[res->len] = '\0';
}

/* Reads what is there without blocking; false at end of file. */
static bool drain(int fd, struct switch_nix_result *res)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            keep_tail(res, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

static int reap(int pidfd, int *ret_status)
{
    siginfo_t si = {0};

    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
        if (errno != EINTR)
            return -errno;
    *ret_status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 0;
}

/* Waits for the child's end (its pidfd) while reading its output, until the deadline. A
 * descendant that keeps the pipe open does not hold us once the child itself has ended. */
static int wait_child(int pidfd, int out_r, pid_t pid, int timeout_s, struct switch_nix_result *res)
{
    int64_t deadline = osm_monotonic_ms() + (int64_t)timeout_s * 1000;
    bool open = true;

    for (;;) {
        struct pollfd p[2] = {{pidfd, POLLIN, 0}, {open ? out_r : -1, POLLIN, 0}};
        int64_t left = deadline - osm_monotonic_ms();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            reap(pidfd, &res->status);
            return -ETIMEDOUT;
        }
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            return -errno;
        if (p[1].revents)
            open = drain(out_r, res);
        if (p[0].revents) {
            drain(out_r, res);
            return reap(pidfd, &res->status);
        }
    }
}

int switch_nix_run(const char *const *argv, int timeout_s, struct switch_nix_result *res)
{
    _cleanup_close_ int out_r = -1, out_w = -1, pidfd = -1;
    int fds[2], r;
    pid_t pid;

    res->status = -1;
    res->len = 0;
    res->output[0] = '\0';
    if (!argv[0] || argv[0][0] != '/')
        return -EINVAL;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    out_r = fds[0];
    out_w = fds[1];
    if ((r = spawn(argv, out_w, &pid)) < 0)
        return r;
    close(TAKE_FD(out_w));
    if ((pidfd = pidfd_open_(pid)) < 0) {
        r = -errno;
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }
    return wait_child(pidfd, out_r, pid, timeout_s, res);
}

/* The last non-empty line of the output, within len bytes. */
static void last_line(const struct switch_nix_result *res, char *buf, size_t len)
{
    size_t end = res->len, start;

    while (end > 0 && (res->output[end - 1] == '\n' || res->output[end - 1] == '\r'))
        end--;
    start = end;
    while (start > 0 && res->output[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), res->output + start);
}

void switch_nix_run_error(const char *what, int r, const struct switch_nix_result *res, char *err,
                          size_t errlen)
{
    char line[512];

    if (r == -ETIMEDOUT)
        snprintf(err, errlen, "%s did not finish in time and was killed", what);
    else if (r < 0)
        snprintf(err, errlen, "%s could not run: %s", what, strerror(-r));
    else {
        last_line(res, line, sizeof(line));
        snprintf(err, errlen, "%s failed (exit %d)%s%s", what, res->status, *line ? ": " : "",
                 line);
    }
}

static int find_in(const char *dirs, const char *name, char *buf, size_t len)
{
    const char *p = dirs;

    while (p && *p) {
        size_t n = strcspn(p, ":");
        int w = snprintf(buf, len, "%.*s/%s", (int)n, p, name);
        if (n > 0 && p[0] == '/' && w > 0 && (size_t)w < len && access(buf, X_OK) == 0)
            return 0;
        p += n + (p[n] == ':');
    }
    return -ENOENT;
}

int switch_nix_find_tool(const char *name, char *buf, size_t len)
{
    if (find_in(getenv("PATH"), name, buf, len) == 0 ||
        find_in(SWITCH_NIX_BIN_FALLBACK, name, buf, len) == 0)
        return 0;
    buf[0] = '\0';
    return -ENOENT;
}
