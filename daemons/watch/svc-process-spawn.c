/* Process backend: starting a child. Everything the child needs is prepared before fork (only
 * async-signal-safe calls after it): its own session and process group, stdin from /dev/null,
 * stdout and stderr into pipes the supervisor reads, a clean environment with NOTIFY_SOCKET for
 * notify services, an unprivileged user for dynamic_user services when we are root, and
 * SIGKILL as its parent-death signal so that it does not outlive watch. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "svc-process-internal.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int proc_run_user(const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return -ENOENT;
    if (pw.pw_uid == 0)
        return -EPERM; /* an unprivileged user, never root */
    *ret_uid = pw.pw_uid;
    *ret_gid = pw.pw_gid;
    return 0;
}

/* ---- notify socket ---------------------------------------------------------------------- */

int proc_notify_open(struct proc_backend *b, struct proc_svc *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int one = 1, n;
    _cleanup_close_ int fd = -1;

    if (p->notify_fd >= 0)
        return 0;
    n = snprintf(p->notify_addr, sizeof(p->notify_addr), "@osmoda-watch/%d/%p/%s", (int)getpid(),
                 (void *)p, p->name);
    if (n < 0 || (size_t)n >= sizeof(p->notify_addr))
        return -ENAMETOOLONG;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    memcpy(sa.sun_path + 1, p->notify_addr + 1, (size_t)n - 1); /* sun_path[0] = 0: abstract */
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) <
            0)
        return -errno;
    p->notify_fd = TAKE_FD(fd);
    return proc_watch_fd(b, p->notify_fd, &p->w_notify);
}

bool proc_notify_ready(const char *msg, size_t len)
{
    const char *end = msg + len;

    for (const char *line = msg; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)((nl ? nl : end) - line);
        if (n == 7 && memcmp(line, "READY=1", 7) == 0)
            return true;
        line += n + 1;
    }
    return false;
}

/* The sender is the service: its main process or one in its process group. */
static bool sender_is_service(const struct proc_svc *p, const struct ucred *cred)
{
    pid_t pgid;

    if (!cred || p->pid <= 0)
        return false;
    if (cred->pid == p->pid)
        return true;
    pgid = getpgid(cred->pid);
    return pgid == p->pid;
}

bool proc_notify_read(struct proc_svc *p)
{
    char msg[SVC_NOTIFY_MSG_MAX];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    bool ready = false;

    for (;;) {
        struct iovec iov = {msg, sizeof(msg)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl)};
        const struct ucred *cred = NULL;
        ssize_t n = recvmsg(p->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0)
            break;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
                cred = (const struct ucred *)CMSG_DATA(c);
            else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) /* not wanted */
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                    close(((int *)CMSG_DATA(c))[i]);
        }
        if ((size_t)n <= sizeof(msg) && !(mh.msg_flags & MSG_TRUNC) && sender_is_service(p, cred) &&
            proc_notify_ready(msg, (size_t)n))
            ready = true;
    }
    return ready;
}

/* ---- the child -------------------------------------------------------------------------- */

struct child_plan {
    char *const *argv;
    char **envp;
    const char *cwd;
    int devnull, out, err;
    bool set_user;
    uid_t uid;
    gid_t gid;
    pid_t parent;
};

/* Async-signal-safe only: runs between fork and exec. */
static __attribute__((noreturn)) void child_exec(const struct child_plan *c)
{
    sigset_t none;

    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0 || dup2(c->devnull, 0) < 0 || dup2(c->out, 1) < 0 || dup2(c->err, 2) < 0)
        _exit(126);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    if (chdir(c->cwd) < 0)
        _exit(126);
    if (c->set_user && (setgroups(1, &c->gid) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
                        setresuid(c->uid, c->uid, c->uid) < 0))
        _exit(126);
    /* after the user change, which clears it; and the parent may already be gone */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != c->parent)
        _exit(126);
    execve(c->argv[0], c->argv, c->envp);
    _exit(127);
}

/* The service's environment, a default PATH unless it has one, and our NOTIFY_SOCKET for notify
 * services (never its own). Borrowed strings. */
static char **child_env(const struct proc_svc *p, char *notify_env)
{
    size_t n = 0, i = 0;
    bool has_path = false;
    char **envp;

    while (p->env && p->env[n])
        n++;
    if (!(envp = calloc(n + 3, sizeof(*envp))))
        return NULL;
    for (size_t k = 0; k < n; k++) {
        if (strncmp(p->env[k], "NOTIFY_SOCKET=", 14) == 0)
            continue;
        has_path |= strncmp(p->env[k], "PATH=", 5) == 0;
        envp[i++] = p->env[k];
    }
    if (!has_path)
        envp[i++] = DEFAULT_PATH;
    if (notify_env)
        envp[i++] = notify_env;
    envp[i] = NULL;
    return envp;
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static int spawn_fork(struct proc_backend *b, struct proc_svc *p, struct child_plan *c)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, r = 0;
    pid_t pid;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        r = -errno;
        goto fail;
    }
    c->out = out[1];
    c->err = err[1];
    pid = fork();
    if (pid < 0) {
        r = -errno;
        goto fail;
    }
    if (pid == 0)
        child_exec(c);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->out = (struct proc_stream){.fd = out[0], .priority = 6};
    p->err = (struct proc_stream){.fd = err[0], .priority = 3};
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0)
        return -errno; /* the caller kills the group */
    if ((r = proc_watch_fd(b, p->pidfd, &p->w_pid)) < 0 ||
        (r = proc_watch_fd(b, p->out.fd, &p->w_out)) < 0 ||
        (r = proc_watch_fd(b, p->err.fd, &p->w_err)) < 0)
        return r;
    return 0;
fail:
    close_pair(out);
    close_pair(err);
    return r;
}

int proc_spawn(struct proc_backend *b, struct proc_svc *p)
{
    _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    _cleanup_free_ char **envp = NULL;
    _cleanup_free_ char *notify_env = NULL;
    struct child_plan c = {.argv = p->argv,
                           .cwd = p->working_dir ? p->working_dir : "/",
                           .devnull = devnull,
                           .parent = getpid()};
    int r;

    if (devnull < 0)
        return -errno;
    if (p->dynamic_user && geteuid() == 0) {
        if (!b->run_user_known)
            return -EPERM; /* never root: no unprivileged user to run as */
        c.set_user = true;
        c.uid = b->run_uid;
        c.gid = b->run_gid;
    }
    if (p->notify && ((r = proc_notify_open(b, p)) < 0 ||
                      asprintf(&notify_env, "NOTIFY_SOCKET=%s", p->notify_addr) < 0))
        return r < 0 ? r : -ENOMEM;
    if (!(envp = child_env(p, notify_env)))
        return -ENOMEM;
    c.envp = envp;
    return spawn_fork(b, p, &c);
}
