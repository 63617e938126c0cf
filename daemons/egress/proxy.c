/* The proxy's event loop (proxy.h): one thread, one epoll set holding the listeners, every
 * client and upstream socket, the resolver's eventfd and a wake-up eventfd for other threads
 * (reload, LOCKDOWN, stop). Timers sleep in epoll_wait's timeout (proxy-timer.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "proxy-internal.h"

static void conn_free(struct conn *c)
{
    acl_config_unref(c->cfg);
    free(c);
}

static void free_dead(struct proxy *p)
{
    while (p->dead) {
        struct conn *c = p->dead;

        p->dead = c->next;
        conn_free(c);
    }
}

/* Zombies the resolver has answered for are freed. */
static void free_answered_zombies(struct proxy *p)
{
    struct conn **pp = &p->zombies;

    while (*pp) {
        struct conn *c = *pp;

        if (c->resolving) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        conn_free(c);
    }
}

static void close_all(struct proxy *p)
{
    while (p->conns)
        conn_close(p->conns);
}

static void on_wake(struct proxy *p)
{
    uint64_t v;
    char err[256] = "";

    if (read(p->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("egress.proxy", "what=wake error=%d", errno);
    if (atomic_exchange(&p->close_all, false))
        close_all(p);
    if (atomic_exchange(&p->reconcile, false) && proxy_listen_sync(p, err, sizeof(err)) < 0)
        log_warn("egress.listen", "reason=\"%s\"", err);
}

/* osmoda-watch writes <state>/lockdown before it tells egress.sock: a lockdown file appearing
 * is a LOCKDOWN even when the request never arrives. */
static void on_lockdown_file(struct proxy *p)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    const char *name = strrchr(p->eg->lockdown_path, '/');
    bool seen = false;
    ssize_t n;

    while ((n = read(p->inotify_fd, buf, sizeof(buf))) > 0)
        for (char *q = buf; q < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)q;

            if (ev->len && name && strcmp(ev->name, name + 1) == 0)
                seen = true;
            q += sizeof(*ev) + ev->len;
        }
    if (seen && egress_lockdown_file_present(p->eg) && !atomic_load(&p->eg->lockdown)) {
        log_warn("egress.lockdown", "path=%s note=\"lockdown file appeared\"",
                 p->eg->lockdown_path);
        atomic_store(&p->eg->lockdown, true);
        close_all(p);
    }
}

static void dispatch(struct proxy *p, struct epoll_event *ev)
{
    struct ep_ref *ref = ev->data.ptr;

    switch (ref->kind) {
    case EP_WAKE:
        return on_wake(p);
    case EP_RESOLVER:
        resolver_drain(p->eg->resolver, conn_resolved, p);
        return free_answered_zombies(p);
    case EP_LOCKDOWN:
        return on_lockdown_file(p);
    case EP_LISTENER:
        return proxy_listen_accept(p, (struct listener *)ref);
    case EP_CLIENT:
    case EP_UPSTREAM: {
        struct side *s = (struct side *)ref;

        if (!s->c->closed)
            conn_event(s->c);
        return;
    }
    }
}

static void *proxy_loop(void *arg)
{
    struct proxy *p = arg;
    struct epoll_event evs[PROXY_EPOLL_EVENTS];

    while (!atomic_load(&p->stop)) {
        int n = epoll_wait(p->epfd, evs, PROXY_EPOLL_EVENTS, timer_wait_ms(p, osm_monotonic_ms()));

        if (n < 0 && errno != EINTR) {
            log_error("egress.proxy", "what=epoll_wait error=%d reason=\"%s\"", errno,
                      strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            dispatch(p, &evs[i]);
        timer_run(p, osm_monotonic_ms());
        free_dead(p);
    }
    close_all(p);
    free_dead(p);
    return NULL;
}

static int ep_add(struct proxy *p, int fd, struct ep_ref *ref, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = ref};

    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int watch_lockdown(struct proxy *p)
{
    if (!p->eg->lockdown_path || !p->eg->state_dir)
        return 0;
    p->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (p->inotify_fd < 0 ||
        inotify_add_watch(p->inotify_fd, p->eg->state_dir, IN_CREATE | IN_MOVED_TO) < 0)
        return -errno;
    return ep_add(p, p->inotify_fd, &p->lockdown_ref, EPOLLIN);
}

int proxy_new(struct egress *eg, struct proxy **ret, char *err, size_t errlen)
{
    struct proxy *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    p->eg = eg;
    p->wake_ref.kind = EP_WAKE;
    p->resolver_ref.kind = EP_RESOLVER;
    p->lockdown_ref.kind = EP_LOCKDOWN;
    p->inotify_fd = -1;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (p->epfd < 0 || p->wakefd < 0 || p->spare_fd < 0) {
        r = -errno;
        snprintf(err, errlen, "epoll: %s", strerror(-r));
    } else if ((r = ep_add(p, p->wakefd, &p->wake_ref, EPOLLIN)) < 0 ||
               (r = ep_add(p, resolver_fd(eg->resolver), &p->resolver_ref, EPOLLIN | EPOLLET)) <
                   0) {
        snprintf(err, errlen, "epoll: %s", strerror(-r));
    } else if ((r = watch_lockdown(p)) < 0) {
        snprintf(err, errlen, "inotify on %s: %s", eg->state_dir, strerror(-r));
    } else {
        r = proxy_listen_sync(p, err, errlen);
    }
    if (r < 0) {
        proxy_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

int proxy_start(struct proxy *p)
{
    int r = pthread_create(&p->thread, NULL, proxy_loop, p);

    if (r != 0)
        return -r;
    pthread_setname_np(p->thread, "egress-proxy");
    p->running = true;
    return 0;
}

static void wake(struct proxy *p)
{
    uint64_t one = 1;

    if (write(p->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("egress.proxy", "what=wake error=%d", errno);
}

void proxy_stop(struct proxy *p)
{
    if (!p || !p->running)
        return;
    atomic_store(&p->stop, true);
    wake(p);
    pthread_join(p->thread, NULL);
    p->running = false;
}

void proxy_free(struct proxy *p)
{
    if (!p)
        return;
    proxy_stop(p);
    close_all(p);
    free_dead(p);
    while (p->zombies) { /* the resolver is stopped after us: nobody answers for these now */
        struct conn *c = p->zombies;

        p->zombies = c->next;
        conn_free(c);
    }
    proxy_listen_close_all(p);
    for (size_t i = 0; i < p->n_counts; i++)
        free(p->counts[i]);
    free(p->counts);
    free(p->heap);
    if (p->wakefd >= 0)
        close(p->wakefd);
    if (p->spare_fd >= 0)
        close(p->spare_fd);
    if (p->inotify_fd >= 0)
        close(p->inotify_fd);
    if (p->epfd >= 0)
        close(p->epfd);
    free(p);
}

void proxy_config_changed(struct proxy *p)
{
    atomic_store(&p->reconcile, true);
    wake(p);
}

void proxy_close_all(struct proxy *p)
{
    atomic_store(&p->close_all, true);
    wake(p);
}

void proxy_get_stats(struct proxy *p, struct proxy_stats *ret)
{
    *ret = (struct proxy_stats){
        .accepted = atomic_load(&p->st.accepted),
        .active = atomic_load(&p->st.active),
        .tunnels = atomic_load(&p->st.tunnels),
        .allowed = atomic_load(&p->st.allowed),
        .denied = atomic_load(&p->st.denied),
        .would_deny = atomic_load(&p->st.would_deny),
        .bytes_up = atomic_load(&p->st.bytes_up),
        .bytes_down = atomic_load(&p->st.bytes_down),
        .refused_limit = atomic_load(&p->st.refused_limit),
        .refused_ledger = atomic_load(&p->st.refused_ledger),
        .refused_lockdown = atomic_load(&p->st.refused_lockdown),
        .timeouts = atomic_load(&p->st.timeouts),
    };
}
