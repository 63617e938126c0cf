/* Process backend: the supervisor thread. It waits in epoll on every child's pidfd, output
 * pipes and notify socket, and on an eventfd the API rings; its only time-out is the nearest
 * deadline (a restart due, a SIGKILL due), so a crash is handled as soon as the kernel reports
 * it and nothing is polled. It is the only thread that forks (a child's parent-death signal
 * follows the thread that forked it) and the only one that frees a forgotten service. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "svc-process-internal.h"

#define EVENTS_MAX 64

int proc_watch_fd(struct proc_backend *b, int fd, struct proc_watch *w)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};

    return fd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

void proc_unwatch_fd(struct proc_backend *b, int *fd)
{
    if (*fd < 0)
        return;
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

void proc_wake(struct proc_backend *b)
{
    uint64_t one = 1;

    if (write(b->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("svc.wake", "errno=%d", errno);
}

/* The main process exited: reap it, read what it left in the pipes, end its group. */
static void on_pidfd(struct proc_backend *b, struct proc_svc *p)
{
    siginfo_t si = {0};

    /* a zombie still holds its pid, so the group is ended before the reap frees the number */
    if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno != ECHILD)
            return;
        /* reaped by someone else: its status is lost, but it is gone all the same */
        memset(&si, 0, sizeof(si));
        si.si_pid = p->pid;
        si.si_code = CLD_EXITED;
        si.si_status = 255;
    } else if (si.si_pid == 0)
        return;
    else {
        kill(-p->pid, SIGKILL); /* what is left of its process group (ESRCH when nothing) */
        waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
    }
    if (p->out.fd >= 0)
        proc_log_drain(b, p, &p->out, SIZE_MAX);
    if (p->err.fd >= 0)
        proc_log_drain(b, p, &p->err, SIZE_MAX);
    proc_unwatch_fd(b, &p->out.fd);
    proc_unwatch_fd(b, &p->err.fd);
    proc_unwatch_fd(b, &p->pidfd);
    proc_on_exit(b, p, si.si_code, si.si_status);
}

static void on_event(struct proc_backend *b, struct proc_watch *w)
{
    struct proc_svc *p = w->svc;
    uint64_t n;

    if (w->kind == PW_WAKE) {
        if (read(b->wakefd, &n, sizeof(n)) < 0)
            log_debug("svc.wake", "errno=%d", errno);
        return;
    }
    if (p->removed)
        return;
    switch (w->kind) {
    case PW_PIDFD:
        if (p->pidfd >= 0)
            on_pidfd(b, p);
        break;
    case PW_STDOUT:
        if (p->out.fd >= 0)
            proc_log_drain(b, p, &p->out, SVC_LOG_READ_BUDGET);
        break;
    case PW_STDERR:
        if (p->err.fd >= 0)
            proc_log_drain(b, p, &p->err, SVC_LOG_READ_BUDGET);
        break;
    case PW_NOTIFY:
        if (p->notify_fd >= 0 && proc_notify_read(p))
            proc_on_ready(b, p);
        break;
    case PW_WAKE:
        break;
    }
}

/* Due restarts and kills; returns the epoll time-out until the next deadline (-1: none). */
static int run_deadlines(struct proc_backend *b)
{
    int64_t now = osm_monotonic_ms(), next = INT64_MAX;

    for (size_t i = 0; i < b->n_svcs; i++) {
        struct proc_svc *p = b->svcs[i];
        if (p->removed)
            continue;
        if (p->kill_at_ms && p->kill_at_ms <= now) {
            p->kill_at_ms = 0;
            if (p->pid > 0)
                kill(-p->pid, SIGKILL);
        }
        if (p->spawn_at_ms && p->spawn_at_ms <= now && p->pid == 0) {
            p->spawn_at_ms = 0;
            proc_spawn_now(b, p);
        }
        if (p->kill_at_ms && p->kill_at_ms < next)
            next = p->kill_at_ms;
        if (p->spawn_at_ms && p->spawn_at_ms < next)
            next = p->spawn_at_ms;
    }
    if (next == INT64_MAX)
        return -1;
    now = osm_monotonic_ms();
    return next <= now ? 0 : next - now > 3600000 ? 3600000 : (int)(next - now);
}

/* Frees the services the API forgot; their fds are already out of epoll. */
static void reap_removed(struct proc_backend *b)
{
    size_t j = 0;

    for (size_t i = 0; i < b->n_svcs; i++) {
        struct proc_svc *p = b->svcs[i];
        if (p->removed && p->pid == 0 && p->waiters == 0) {
            proc_unwatch_fd(b, &p->notify_fd);
            proc_log_close(p);
            proc_svc_free(p);
        } else
            b->svcs[j++] = p;
    }
    b->n_svcs = j;
}

static void *loop_main(void *arg)
{
    struct proc_backend *b = arg;
    struct epoll_event evs[EVENTS_MAX];
    int timeout;

    pthread_setname_np(pthread_self(), "svc-process");
    pthread_mutex_lock(&b->lock);
    for (;;) {
        timeout = run_deadlines(b);
        reap_removed(b);
        if (b->quit)
            break;
        pthread_mutex_unlock(&b->lock);
        int n = epoll_wait(b->epfd, evs, EVENTS_MAX, timeout);
        pthread_mutex_lock(&b->lock);
        for (int i = 0; i < n; i++)
            on_event(b, evs[i].data.ptr);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int proc_loop_start(struct proc_backend *b)
{
    int r;

    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->epfd < 0 || b->wakefd < 0)
        return -errno;
    b->w_wake = (struct proc_watch){.kind = PW_WAKE};
    if ((r = proc_watch_fd(b, b->wakefd, &b->w_wake)) < 0)
        return r;
    if ((r = pthread_create(&b->thread, NULL, loop_main, b)) != 0)
        return -r;
    b->thread_started = true;
    return 0;
}

void proc_loop_stop(struct proc_backend *b)
{
    if (b->thread_started) {
        pthread_mutex_lock(&b->lock);
        b->quit = true;
        proc_wake(b);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
        b->thread_started = false;
    }
    if (b->epfd >= 0)
        close(b->epfd);
    if (b->wakefd >= 0)
        close(b->wakefd);
    b->epfd = b->wakefd = -1;
}
