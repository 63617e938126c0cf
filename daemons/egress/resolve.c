/* Name resolution off the event loop: literals and hosts-file names are answered at once,
 * other names by a few threads running getaddrinfo; every answer waits in a list and an eventfd
 * wakes the proxy to collect it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hosts.h"
#include "resolve-backend.h"
#include "resolve.h"

#define RESOLVE_THREAD_STACK (512 * 1024) /* getaddrinfo's NSS modules want some room */

struct lookup {
    struct lookup *next;
    char host[254];
    uint16_t port;
    struct resolve_result res;
};

struct resolver {
    pthread_mutex_t lock; /* guards everything below but the threads and the fd */
    pthread_cond_t cond;  /* a lookup was queued, or stop */
    struct lookup *queue, **queue_tail;
    size_t queued;
    struct lookup *done, **done_tail;
    bool stop;
    struct hosts *hosts; /* replaced whole on reload */
    char *hosts_path;
    int efd;
    pthread_t threads[RESOLVE_THREADS];
    unsigned n_threads;
    resolver_lookup_fn lookup; /* getaddrinfo, or a test's */
};

static int system_lookup(const char *host, const struct addrinfo *hints, struct addrinfo **ret)
{
    return getaddrinfo(host, NULL, hints, ret);
}

void resolver_set_lookup_fn(struct resolver *r, resolver_lookup_fn fn)
{
    pthread_mutex_lock(&r->lock);
    r->lookup = fn ? fn : system_lookup;
    pthread_mutex_unlock(&r->lock);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* An address literal: answered with itself. */
static bool answer_literal(const char *host, uint16_t port, struct resolve_result *res)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&res->addrs[0];
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&res->addrs[0];

    memset(&res->addrs[0], 0, sizeof(res->addrs[0]));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return false;
    set_port(&res->addrs[0], port);
    res->n = 1;
    res->error = 0;
    return true;
}

/* The hosts file's answer, if it names host. */
static bool answer_hosts(struct resolver *r, const char *host, uint16_t port,
                         struct resolve_result *res)
{
    bool found;

    pthread_mutex_lock(&r->lock);
    found = hosts_find(r->hosts, host, res->addrs, RESOLVE_ADDRS_MAX, &res->n);
    pthread_mutex_unlock(&r->lock);
    if (!found)
        return false;
    for (size_t i = 0; i < res->n; i++)
        set_port(&res->addrs[i], port);
    res->error = 0;
    return true;
}

static int eai_errno(int e)
{
    switch (e) {
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return errno > 0 ? -errno : -EIO;
    default:
        return -EIO;
    }
}

/* getaddrinfo, its addresses in its order, duplicates dropped. */
static void answer_dns(resolver_lookup_fn lookup, const char *host, uint16_t port,
                       struct resolve_result *res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int e = lookup(host, &hints, &ai);

    res->n = 0;
    res->error = e ? eai_errno(e) : 0;
    for (struct addrinfo *p = ai; p && res->n < RESOLVE_ADDRS_MAX; p = p->ai_next) {
        bool dup = false;
        if ((p->ai_family != AF_INET && p->ai_family != AF_INET6) ||
            p->ai_addrlen > sizeof(res->addrs[0]))
            continue;
        for (size_t i = 0; i < res->n && !dup; i++)
            dup = memcmp(&res->addrs[i], p->ai_addr, p->ai_addrlen) == 0;
        if (dup)
            continue;
        memset(&res->addrs[res->n], 0, sizeof(res->addrs[0]));
        memcpy(&res->addrs[res->n], p->ai_addr, p->ai_addrlen);
        set_port(&res->addrs[res->n++], port);
    }
    if (ai)
        freeaddrinfo(ai);
    if (!res->error && res->n == 0)
        res->error = -ENOENT;
}

static void finish(struct resolver *r, struct lookup *l)
{
    uint64_t one = 1;
    bool was_empty;

    pthread_mutex_lock(&r->lock);
    was_empty = !r->done;
    l->next = NULL;
    *r->done_tail = l;
    r->done_tail = &l->next;
    pthread_mutex_unlock(&r->lock);
    if (was_empty && write(r->efd, &one, sizeof(one)) < 0) {
        /* the counter is already non-zero (EAGAIN only at its maximum): readable anyway */
    }
}

static void *worker(void *arg)
{
    struct resolver *r = arg;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct lookup *l;
        while (!r->queue && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stop)
            break;
        l = r->queue;
        r->queue = l->next;
        if (!r->queue)
            r->queue_tail = &r->queue;
        r->queued--;
        resolver_lookup_fn lookup = r->lookup;
        pthread_mutex_unlock(&r->lock);
        answer_dns(lookup, l->host, l->port, &l->res);
        finish(r, l);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static int start_threads(struct resolver *r, unsigned n)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int e = 0;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, RESOLVE_THREAD_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the main thread */
    for (; r->n_threads < n; r->n_threads++)
        if ((e = pthread_create(&r->threads[r->n_threads], &attr, worker, r)) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -e;
}

int resolver_new(const char *hosts_file, unsigned threads, struct resolver **ret, char *err,
                 size_t errlen)
{
    struct resolver *r = calloc(1, sizeof(*r));
    int e = -ENOMEM;

    if (err && errlen)
        err[0] = '\0';
    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->queue_tail = &r->queue;
    r->done_tail = &r->done;
    r->lookup = system_lookup;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        e = -errno;
        goto fail;
    }
    if (hosts_file && !(r->hosts_path = strdup(hosts_file))) {
        e = -ENOMEM;
        goto fail;
    }
    if (hosts_file && (e = hosts_load(hosts_file, &r->hosts, err, errlen)) < 0)
        goto fail;
    if (threads == 0 || threads > RESOLVE_THREADS)
        threads = RESOLVE_THREADS;
    if ((e = start_threads(r, threads)) < 0)
        goto fail;
    *ret = r;
    return 0;
fail:
    resolver_free(r);
    return e;
}

int resolver_reload(struct resolver *r, char *err, size_t errlen)
{
    struct hosts *h, *old;
    int e;

    if (err && errlen)
        err[0] = '\0';
    if (!r->hosts_path)
        return 0;
    if ((e = hosts_load(r->hosts_path, &h, err, errlen)) < 0)
        return e;
    pthread_mutex_lock(&r->lock);
    old = r->hosts;
    r->hosts = h;
    pthread_mutex_unlock(&r->lock);
    hosts_free(old);
    return 0;
}

static void free_list(struct lookup *l)
{
    while (l) {
        struct lookup *next = l->next;
        free(l);
        l = next;
    }
}

void resolver_free(struct resolver *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    free_list(r->queue);
    free_list(r->done);
    hosts_free(r->hosts);
    free(r->hosts_path);
    if (r->efd >= 0)
        close(r->efd);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int resolver_fd(const struct resolver *r)
{
    return r->efd;
}

int resolver_submit(struct resolver *r, const char *host, uint16_t port, void *cookie)
{
    size_t len = host ? strlen(host) : 0;
    struct lookup *l;

    if (len == 0 || len > 253)
        return -EINVAL;
    if (!(l = calloc(1, sizeof(*l))))
        return -ENOMEM;
    memcpy(l->host, host, len + 1);
    l->port = port;
    l->res.cookie = cookie;
    if (answer_literal(host, port, &l->res) || answer_hosts(r, host, port, &l->res)) {
        finish(r, l);
        return 0;
    }
    pthread_mutex_lock(&r->lock);
    if (r->queued >= RESOLVE_QUEUE_MAX) { /* literals and pinned names were still answered */
        pthread_mutex_unlock(&r->lock);
        free(l);
        return -EAGAIN;
    }
    *r->queue_tail = l;
    r->queue_tail = &l->next;
    r->queued++;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void resolver_drain(struct resolver *r, void (*fn)(const struct resolve_result *res, void *ud),
                    void *ud)
{
    uint64_t n;
    struct lookup *l;

    if (read(r->efd, &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing signalled, but the list is looked at anyway */
    }
    pthread_mutex_lock(&r->lock);
    l = r->done;
    r->done = NULL;
    r->done_tail = &r->done;
    pthread_mutex_unlock(&r->lock);
    while (l) {
        struct lookup *next = l->next;
        fn(&l->res, ud);
        free(l);
        l = next;
    }
}

int resolver_lookup(struct resolver *r, const char *host, uint16_t port, struct resolve_result *ret)
{
    size_t len = host ? strlen(host) : 0;

    memset(ret, 0, sizeof(*ret));
    if (len == 0 || len > 253)
        return -EINVAL;
    if (!answer_literal(host, port, ret) && !answer_hosts(r, host, port, ret)) {
        pthread_mutex_lock(&r->lock);
        resolver_lookup_fn lookup = r->lookup;
        pthread_mutex_unlock(&r->lock);
        answer_dns(lookup, host, port, ret);
    }
    return ret->error;
}
