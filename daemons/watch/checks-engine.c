/* The check engine: one event thread runs every check in flight through one epoll set — TCP
 * connects and curl's sockets as they become ready, commands through their pidfds — with one
 * deadline list per check type (every check of a type has the same time-out, so start order is
 * deadline order). What blocks (getaddrinfo, svc_is_active) goes to a few workers and comes back
 * through a completion queue. No thread per check, no polling: the thread sleeps in epoll_wait
 * until an fd is ready or the earliest deadline. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "checks-internal.h"
#include "common/timeutil.h"

static const int timeouts_ms[CHECK_KINDS] = {CHECK_UNIT_TIMEOUT_MS, CHECK_TCP_TIMEOUT_MS,
                                             CHECK_HTTP_TIMEOUT_MS, CHECK_COMMAND_TIMEOUT_MS};

static void wake(struct checks *e)
{
    uint64_t one = 1;

    (void)!write(e->wakefd, &one, sizeof(one));
}

int checks_epoll_add(struct checks *e, int fd, uint32_t events, struct check_src *src)
{
    struct epoll_event ev = {.events = events, .data.ptr = src};

    return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void checks_epoll_del(struct checks *e, int fd)
{
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void active_link(struct checks *e, struct check_job *j)
{
    j->prev = e->active_tail[j->kind];
    j->next = NULL;
    if (j->prev)
        j->prev->next = j;
    else
        e->active[j->kind] = j;
    e->active_tail[j->kind] = j;
}

static void active_unlink(struct checks *e, struct check_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        e->active[j->kind] = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        e->active_tail[j->kind] = j->prev;
    j->prev = j->next = NULL;
}

void checks_job_release(struct check_job *j)
{
    if (j->finished && j->kind == CHECK_COMMAND) { /* off the reaping list */
        if (j->prev)
            j->prev->next = j->next;
        else if (j->e->reaping == j)
            j->e->reaping = j->next;
        if (j->next)
            j->next->prev = j->prev;
    }
    switch (j->kind) {
    case CHECK_TCP_PORT:
        check_tcp_release(j);
        break;
    case CHECK_HTTP_GET:
        check_http_release(j);
        break;
    default:
        if (j->fd >= 0) {
            checks_epoll_del(j->e, j->fd); /* before close: see check_tcp_event */
            close(j->fd);
        }
        break;
    }
    free(j);
}

/* Calls done once; the job is freed now, or when its worker or its killed child is through. */
void checks_job_finish(struct check_job *j, bool ok, const char *fmt, ...)
{
    va_list ap;

    if (j->finished)
        return;
    va_start(ap, fmt);
    vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
    va_end(ap);
    j->finished = true;
    active_unlink(j->e, j);
    j->done(j->userdata, ok, j->detail);
    if (j->pid > 0) { /* killed: stays until its exit is reaped */
        j->next = j->e->reaping;
        if (j->next)
            j->next->prev = j;
        j->e->reaping = j;
    } else if (!j->in_worker) {
        checks_job_release(j);
    }
}

static int job_start(struct check_job *j)
{
    switch (j->kind) {
    case CHECK_SYSTEMD_UNIT:
        if (!j->e->svc)
            return -EOPNOTSUPP;
        snprintf(j->name, sizeof(j->name), "%s", j->check->unit);
        checks_to_worker(j);
        return 0;
    case CHECK_TCP_PORT:
        return check_tcp_start(j);
    case CHECK_HTTP_GET:
        return check_http_start(j);
    case CHECK_COMMAND:
        return check_command_start(j);
    default:
        return -EINVAL;
    }
}

static void start_one(struct checks *e, struct check_job *j)
{
    int r;

    j->deadline_ms = osm_monotonic_ms() + j->timeout_ms;
    active_link(e, j);
    if ((r = job_start(j)) < 0)
        checks_job_finish(j, false, "%s", r == -EOPNOTSUPP ? "no service backend" : strerror(-r));
}

static void worked_one(struct check_job *j)
{
    j->in_worker = false;
    if (j->finished)
        checks_job_release(j);
    else if (j->kind == CHECK_SYSTEMD_UNIT)
        check_unit_done(j);
    else
        check_tcp_resolved(j);
}

static void expire(struct checks *e, int64_t now)
{
    for (int k = 0; k < CHECK_KINDS; k++)
        while (e->active[k] && e->active[k]->deadline_ms <= now) {
            struct check_job *j = e->active[k];

            if (j->kind == CHECK_COMMAND)
                check_command_kill(j);
            else if (j->kind == CHECK_TCP_PORT)
                check_tcp_close(j);
            checks_job_finish(j, false, "timed out after %d ms", j->timeout_ms);
        }
}

static int next_timeout(struct checks *e, int64_t now)
{
    int64_t next = e->curl_deadline_ms;

    for (int k = 0; k < CHECK_KINDS; k++)
        if (e->active[k] && (next < 0 || e->active[k]->deadline_ms < next))
            next = e->active[k]->deadline_ms;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

static void dispatch(struct checks *e, const struct epoll_event *ev)
{
    struct check_src *src = ev->data.ptr;
    uint64_t n;

    if (ev->data.u64 & 1) { /* a curl socket: fd << 1 | 1 */
        check_http_event(e, (int)(ev->data.u64 >> 1), ev->events);
        return;
    }
    if (src->kind == SRC_WAKE) {
        (void)!read(e->wakefd, &n, sizeof(n));
        return;
    }
    struct check_job *j = (struct check_job *)src;
    if (j->kind == CHECK_TCP_PORT)
        check_tcp_event(j, ev->events);
    else
        check_command_event(j, ev->events);
}

/* Takes the start and completion queues; false once the engine is stopping. */
static bool take_queues(struct checks *e)
{
    struct check_job *starts, *done;
    bool stopping;

    pthread_mutex_lock(&e->lock);
    starts = e->starts;
    done = e->completions;
    e->starts = NULL;
    e->starts_tail = &e->starts;
    e->completions = NULL;
    stopping = e->stopping;
    pthread_mutex_unlock(&e->lock);
    for (struct check_job *j = done, *next; j; j = next) {
        next = j->qnext;
        worked_one(j);
    }
    for (struct check_job *j = starts, *next; j; j = next) {
        next = j->qnext;
        if (stopping) {
            j->done(j->userdata, false, "cancelled");
            free(j);
        } else {
            start_one(e, j);
        }
    }
    return !stopping;
}

static void cancel_all(struct checks *e)
{
    for (int k = 0; k < CHECK_KINDS; k++)
        while (e->active[k]) {
            struct check_job *j = e->active[k];

            if (j->kind == CHECK_COMMAND)
                check_command_kill(j);
            checks_job_finish(j, false, "cancelled");
        }
    while (e->reaping)
        check_command_reap(e->reaping);
}

static void *engine_main(void *arg)
{
    struct checks *e = arg;
    struct epoll_event evs[CHECKS_EPOLL_BATCH];

    pthread_setname_np(pthread_self(), "watch-checks");
    for (;;) {
        int n = epoll_wait(e->epfd, evs, CHECKS_EPOLL_BATCH, next_timeout(e, osm_monotonic_ms()));

        for (int i = 0; i < n; i++)
            dispatch(e, &evs[i]);
        if (!take_queues(e))
            break;
        expire(e, osm_monotonic_ms());
        check_http_timer(e);
    }
    cancel_all(e);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct checks *e = arg;

    pthread_setname_np(pthread_self(), "check-worker");
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (!e->stopping && !e->work)
            pthread_cond_wait(&e->work_cond, &e->lock);
        if (e->stopping)
            break;
        struct check_job *j = e->work;
        if (!(e->work = j->qnext))
            e->work_tail = &e->work;
        pthread_mutex_unlock(&e->lock);
        if (j->kind == CHECK_SYSTEMD_UNIT)
            check_unit_run(j);
        else
            check_tcp_resolve(j);
        pthread_mutex_lock(&e->lock);
        j->qnext = e->completions;
        e->completions = j;
        wake(e);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

void checks_to_worker(struct check_job *j)
{
    struct checks *e = j->e;

    j->in_worker = true;
    j->qnext = NULL;
    pthread_mutex_lock(&e->lock);
    *e->work_tail = j;
    e->work_tail = &j->qnext;
    pthread_cond_signal(&e->work_cond);
    pthread_mutex_unlock(&e->lock);
}

static struct check_job *job_new(struct checks *e, const struct check *c, check_done_fn done,
                                 void *userdata)
{
    struct check_job *j = malloc(sizeof(*j));

    if (j)
        *j = (struct check_job){.src = {SRC_JOB},
                                .e = e,
                                .kind = c->kind,
                                .done = done,
                                .userdata = userdata,
                                .timeout_ms = e->timeout_ms[c->kind],
                                .fd = -1,
                                .check = c};
    return j;
}

/* Frees jobs that never reached the engine. */
static void jobs_drop(struct check_job *j)
{
    for (struct check_job *next; j; j = next) {
        next = j->qnext;
        free(j);
    }
}

int checks_start_many(struct checks *e, const struct check_start *s, size_t n, check_done_fn done)
{
    struct check_job *head = NULL, **tail = &head;
    bool was_empty;

    if (!e || (n && !s) || !done)
        return -EINVAL;
    for (size_t i = 0; i < n; i++, tail = &(*tail)->qnext)
        if (!s[i].check || !(*tail = job_new(e, s[i].check, done, s[i].userdata))) {
            jobs_drop(head);
            return s[i].check ? -ENOMEM : -EINVAL;
        }
    if (!head)
        return 0;
    pthread_mutex_lock(&e->lock);
    if (e->stopping) {
        pthread_mutex_unlock(&e->lock);
        jobs_drop(head);
        return -ESHUTDOWN;
    }
    was_empty = !e->starts;
    *e->starts_tail = head;
    e->starts_tail = tail;
    pthread_mutex_unlock(&e->lock);
    if (was_empty)
        wake(e);
    return 0;
}

int checks_start(struct checks *e, const struct check *c, check_done_fn done, void *userdata)
{
    struct check_start s = {c, userdata};

    return checks_start_many(e, &s, 1, done);
}

static int engine_init(struct checks *e, struct svc *svc)
{
    int r;

    e->svc = svc;
    memcpy(e->timeout_ms, timeouts_ms, sizeof(e->timeout_ms));
    e->epfd = e->wakefd = -1;
    e->curl_deadline_ms = -1;
    e->tcp_spare[0] = e->tcp_spare[1] = -1;
    e->starts_tail = &e->starts;
    e->work_tail = &e->work;
    e->wake_src.kind = SRC_WAKE;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->work_cond, NULL);
    if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return -errno;
    if ((r = checks_epoll_add(e, e->wakefd, EPOLLIN, &e->wake_src)) < 0)
        return r;
    return check_http_init(e);
}

int checks_new(struct svc *svc, struct checks **ret)
{
    struct checks *e = calloc(1, sizeof(*e));
    int r;

    if (!e)
        return -ENOMEM;
    if ((r = engine_init(e, svc)) < 0)
        goto fail;
    for (; e->n_workers < CHECKS_WORKERS; e->n_workers++)
        if ((r = -pthread_create(&e->workers[e->n_workers], NULL, worker_main, e)) < 0)
            goto fail;
    if ((r = -pthread_create(&e->thread, NULL, engine_main, e)) < 0)
        goto fail;
    *ret = e;
    return 0;
fail:
    e->thread = 0;
    checks_free(e);
    return r;
}

static void free_queue(struct check_job *j)
{
    for (struct check_job *next; j; j = next) {
        next = j->qnext;
        checks_job_release(j);
    }
}

void checks_free(struct checks *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->work_cond);
    pthread_mutex_unlock(&e->lock);
    if (e->thread) {
        wake(e);
        pthread_join(e->thread, NULL);
    }
    for (size_t i = 0; i < e->n_workers; i++)
        pthread_join(e->workers[i], NULL);
    /* every job left is finished: queued for a worker that stopped, or back from one */
    free_queue(e->work);
    free_queue(e->completions);
    check_http_free(e);
    check_tcp_free(e);
    if (e->wakefd >= 0)
        close(e->wakefd);
    if (e->epfd >= 0)
        close(e->epfd);
    pthread_cond_destroy(&e->work_cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

struct run_slot {
    struct run_all *ra;
    bool ok;
    char detail[CHECK_DETAIL_MAX];
};

struct run_all {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t left;
};

static void run_all_done(void *userdata, bool ok, const char *detail)
{
    struct run_slot *s = userdata;
    struct run_all *ra = s->ra;

    pthread_mutex_lock(&ra->lock);
    s->ok = ok;
    snprintf(s->detail, sizeof(s->detail), "%s", detail);
    if (--ra->left == 0)
        pthread_cond_signal(&ra->cond);
    pthread_mutex_unlock(&ra->lock);
}

static bool run_all_report(struct check *const *cs, const struct run_slot *slots, size_t n,
                           char *detail, size_t detail_len)
{
    for (size_t i = 0; i < n; i++)
        if (!slots[i].ok) {
            if (detail && detail_len)
                snprintf(detail, detail_len, "check %zu (%s): %s", i, check_type(cs[i]),
                         slots[i].detail);
            return false;
        }
    return true;
}

bool checks_run_all(struct checks *e, struct check *const *cs, size_t n, char *detail,
                    size_t detail_len)
{
    struct run_all ra = {.left = n};
    struct run_slot *slots = calloc(n ? n : 1, sizeof(*slots));
    bool ok;
    int r;

    if (!slots) {
        snprintf(detail, detail_len, "out of memory");
        return false;
    }
    pthread_mutex_init(&ra.lock, NULL);
    pthread_cond_init(&ra.cond, NULL);
    for (size_t i = 0; i < n; i++) {
        slots[i].ra = &ra;
        if ((r = checks_start(e, cs[i], run_all_done, &slots[i])) < 0) {
            snprintf(slots[i].detail, sizeof(slots[i].detail), "%s", strerror(-r));
            pthread_mutex_lock(&ra.lock);
            ra.left--;
            pthread_mutex_unlock(&ra.lock);
        }
    }
    pthread_mutex_lock(&ra.lock);
    while (ra.left > 0)
        pthread_cond_wait(&ra.cond, &ra.lock);
    pthread_mutex_unlock(&ra.lock);
    ok = run_all_report(cs, slots, n, detail, detail_len);
    pthread_cond_destroy(&ra.cond);
    pthread_mutex_destroy(&ra.lock);
    free(slots);
    return ok;
}
