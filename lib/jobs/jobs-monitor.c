/* The monitor: one thread waiting in epoll on the pidfd of every running job's runner, on an
 * inotify watch of the jobs directory, and on an eventfd that wakes it to stop. A runner writes
 * its .exit record (renamed into place) before it cleans up its cgroups and ends: the record
 * finishes the job as soon as it appears. A readable pidfd means the runner ended: it is reaped,
 * and a job it left without a record is failed as lost, with what is left of it killed. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "jobs-internal.h"
#include "sandbox/sandbox.h"

#define MONITOR_EVENTS 32

struct watched {
    char id[OSM_JOB_ID_LEN + 1];
    int pidfd;
    struct watched *prev, *next;
};

struct jobs_monitor {
    int epfd;
    int wake_fd;
    int inotify_fd;
    pthread_t thread;
    pthread_mutex_t lock; /* the list */
    struct watched *head;
};

static void watched_free(struct jobs_monitor *m, struct watched *w)
{
    pthread_mutex_lock(&m->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        m->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&m->lock);
    epoll_ctl(m->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
    close(w->pidfd);
    free(w);
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The runner is gone: finish from its record, or fail the job as lost. */
static void runner_ended(struct osm_jobs *j, const char *id)
{
    if (jobs_finish_from_exit(j, id) != -EAGAIN)
        return;
    jobs_kill_orphans(j, id);
    (void)jobs_finish(j, id, osm_job_status_name(OSM_JOB_FAILED), NULL, "runner_lost",
                      "the job runner ended without recording an exit status", NULL);
}

void jobs_monitor_watch(struct osm_jobs *j, const char *id, pid_t pid, uint64_t start_time)
{
    struct watched *w = calloc(1, sizeof(*w));
    struct epoll_event ev = {.events = EPOLLIN};
    uint64_t st = 0;

    if (!w) {
        runner_ended(j, id); /* cannot watch it: settle it now if it has ended */
        return;
    }
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->pidfd = pid > 0 ? pidfd_open_(pid) : -1;
    /* The pidfd names the process we opened; if that is not the runner any more (its pid was
     * reused, or it is gone), the runner has ended. */
    if (w->pidfd < 0 || osm_proc_start_time(pid, &st) < 0 || st != start_time) {
        if (w->pidfd >= 0)
            close(w->pidfd);
        free(w);
        runner_ended(j, id);
        return;
    }
    ev.data.ptr = w;
    if (!j->monitor) {
        close(w->pidfd);
        free(w);
        return;
    }
    pthread_mutex_lock(&j->monitor->lock);
    w->next = j->monitor->head;
    if (w->next)
        w->next->prev = w;
    j->monitor->head = w;
    pthread_mutex_unlock(&j->monitor->lock);
    if (epoll_ctl(j->monitor->epfd, EPOLL_CTL_ADD, w->pidfd, &ev) < 0)
        watched_free(j->monitor, w);
}

/* The runner is our child when this daemon started it: reap it (a runner left by a previous run
 * was adopted by init, which reaps it). */
static void reap(int pidfd)
{
    siginfo_t si;

    (void)waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
}

/* Exit records that appeared in the jobs directory: finish their jobs. */
static void exit_records(struct osm_jobs *j, int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            size_t len = ev->len ? strlen(ev->name) : 0;
            char id[OSM_JOB_ID_LEN + 1];
            if (len == OSM_JOB_ID_LEN + 5 && strcmp(ev->name + OSM_JOB_ID_LEN, ".exit") == 0) {
                memcpy(id, ev->name, OSM_JOB_ID_LEN);
                id[OSM_JOB_ID_LEN] = '\0';
                (void)jobs_finish_from_exit(j, id);
            }
            p += sizeof(*ev) + ev->len;
        }
}

static void *monitor_main(void *arg)
{
    struct osm_jobs *j = arg;
    struct jobs_monitor *m = j->monitor;
    struct epoll_event evs[MONITOR_EVENTS];

    pthread_setname_np(pthread_self(), "job-monitor");
    for (;;) {
        int n = epoll_wait(m->epfd, evs, MONITOR_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            struct watched *w = evs[i].data.ptr;
            char id[OSM_JOB_ID_LEN + 1];
            if (!w)
                return NULL; /* the stop event */
            if (w == (struct watched *)&m->inotify_fd) {
                exit_records(j, m->inotify_fd);
                continue;
            }
            memcpy(id, w->id, sizeof(id));
            reap(w->pidfd);
            watched_free(m, w);
            runner_ended(j, id);
        }
    }
    return NULL;
}

int jobs_monitor_start(struct osm_jobs *j)
{
    struct jobs_monitor *m = calloc(1, sizeof(*m));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int r;

    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (m->epfd < 0 || m->wake_fd < 0 || m->inotify_fd < 0 ||
        inotify_add_watch(m->inotify_fd, j->jobs_dir, IN_MOVED_TO) < 0 ||
        epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wake_fd, &ev) < 0 ||
        epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->inotify_fd,
                  &(struct epoll_event){.events = EPOLLIN, .data.ptr = &m->inotify_fd}) < 0) {
        r = -errno;
        goto fail;
    }
    j->monitor = m;
    r = -pthread_create(&m->thread, NULL, monitor_main, j);
    if (r == 0)
        return 0;
    j->monitor = NULL;
fail:
    if (m->epfd >= 0)
        close(m->epfd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    if (m->inotify_fd >= 0)
        close(m->inotify_fd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return r;
}

void jobs_monitor_stop(struct osm_jobs *j)
{
    struct jobs_monitor *m = j->monitor;
    uint64_t one = 1;

    if (!m)
        return;
    (void)!write(m->wake_fd, &one, sizeof(one));
    pthread_join(m->thread, NULL);
    j->monitor = NULL;
    /* The runners still watched go on; a restart re-attaches to them. */
    while (m->head)
        watched_free(m, m->head);
    pthread_mutex_destroy(&m->lock);
    close(m->epfd);
    close(m->wake_fd);
    close(m->inotify_fd);
    free(m);
}
