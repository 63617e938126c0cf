/* The monitor: one thread waiting in epoll on the pidfd of every running job's runner (a
 * detached process, not our child, so SIGCHLD never comes) and on an eventfd that wakes it to
 * stop. A readable pidfd means the runner ended: its .exit record finishes the job, or, when it
 * left none, the job is failed as lost and what is left of it is killed. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
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

static void *monitor_main(void *arg)
{
    struct osm_jobs *j = arg;
    struct jobs_monitor *m = j->monitor;
    struct epoll_event evs[MONITOR_EVENTS];

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
            memcpy(id, w->id, sizeof(id));
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
    if (m->epfd < 0 || m->wake_fd < 0 || epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wake_fd, &ev) < 0) {
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
    free(m);
}
