/* command: the program run without a shell (posix_spawn), stdin from /dev/null and its output
 * discarded, in a process group of its own with a small fixed environment; its exit seen
 * through a pidfd in the engine's epoll. At the time-out the whole group is killed, the check
 * fails at once, and the exit is reaped when it comes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks-internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static char *const command_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};

/* Signals a daemon may block or ignore: the child starts with them at their defaults. */
static const int default_signals[] = {SIGPIPE, SIGCHLD, SIGHUP,  SIGINT, SIGTERM,
                                      SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};

static int spawn_attrs(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa)
{
    sigset_t none, defaults;
    int r;

    sigemptyset(&none);
    sigemptyset(&defaults);
    for (size_t i = 0; i < sizeof(default_signals) / sizeof(default_signals[0]); i++)
        sigaddset(&defaults, default_signals[i]);
    if ((r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                POSIX_SPAWN_SETPGROUP)) ||
        (r = posix_spawnattr_setsigmask(attr, &none)) ||
        (r = posix_spawnattr_setsigdefault(attr, &defaults)) ||
        (r = posix_spawnattr_setpgroup(attr, 0)) ||
        (r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)) ||
        (r = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0)) ||
        (r = posix_spawn_file_actions_adddup2(fa, 1, 2)))
        return -r;
    return 0;
}

static int spawn(const struct check *c, pid_t *ret)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    int r;

    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    if ((r = spawn_attrs(&attr, &fa)) == 0)
        r = -posix_spawn(ret, c->argv[0], &fa, &attr, c->argv, command_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return r;
}

int check_command_start(struct check_job *j)
{
    pid_t pid;
    int fd, r;

    if ((r = spawn(j->check, &pid)) < 0)
        return r;
    j->pid = pid;
    if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0 ||
        (r = checks_epoll_add(j->e, fd, EPOLLIN, &j->src)) < 0) {
        r = fd < 0 ? -errno : r;
        if (fd >= 0)
            close(fd);
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        j->pid = 0;
        return r;
    }
    j->fd = fd;
    return 0;
}

void check_command_kill(struct check_job *j)
{
    if (j->pid <= 0)
        return;
    kill(-j->pid, SIGKILL); /* the group: what the program started goes too */
    syscall(SYS_pidfd_send_signal, j->fd, SIGKILL, NULL, 0);
}

/* 1 when the child was reaped (status in *si), 0 not yet, -errno. */
static int reap(struct check_job *j, int flags, siginfo_t *si)
{
    memset(si, 0, sizeof(*si));
    if (waitid((idtype_t)P_PIDFD, (id_t)j->fd, si, WEXITED | flags) < 0)
        return -errno;
    return si->si_pid != 0;
}

static void exited(struct check_job *j, int r, const siginfo_t *si)
{
    j->pid = 0;
    if (j->finished)
        checks_job_release(j);
    else if (r < 0)
        checks_job_finish(j, false, "exit status lost: %s", strerror(-r));
    else if (si->si_code == CLD_EXITED && si->si_status == 0)
        checks_job_finish(j, true, "exit 0");
    else if (si->si_code == CLD_EXITED)
        checks_job_finish(j, false, "exit %d", si->si_status);
    else
        checks_job_finish(j, false, "killed by signal %d", si->si_status);
}

void check_command_event(struct check_job *j, uint32_t events)
{
    siginfo_t si;
    int r = reap(j, WNOHANG, &si);

    if (r != 0)
        exited(j, r, &si);
}

void check_command_reap(struct check_job *j)
{
    siginfo_t si;

    exited(j, reap(j, 0, &si), &si);
}
