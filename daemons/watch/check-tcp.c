/* tcp_port: a non-blocking connect, asked again at once (a local handshake is through by then)
 * and otherwise watched by the engine's epoll. A numeric address is used as it is; a name is
 * resolved by a worker (getaddrinfo blocks) and each address is tried in turn until one
 * connects, all within the check's one time-out. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks-internal.h"

static int *spare_of(struct checks *e, int family)
{
    return &e->tcp_spare[family == AF_INET6];
}

/* An unconnected non-blocking socket of family: the spare, or a new one. */
static int tcp_socket(struct checks *e, int family)
{
    /* closed with a reset: no FIN exchange and no TIME_WAIT left behind per probe (1,000 probes
     * a second would otherwise hold tens of thousands of local ports) */
    static const struct linger reset = {.l_onoff = 1, .l_linger = 0};
    int *spare = spare_of(e, family), fd = *spare;

    if (fd >= 0) {
        *spare = -1;
        return fd;
    }
    if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    return fd;
}

/* Ends a connection that was made within the call and keeps its socket as the spare: a connect
 * to AF_UNSPEC resets the connection (as close with SO_LINGER 0 does) and leaves the socket
 * unconnected, ready for the next probe, which then costs no socket(), setsockopt() or close()
 * and no file allocated and freed: a third of a local probe's cost. Never a socket that was in
 * the epoll set. */
static void tcp_recycle(struct checks *e, int family, int fd)
{
    static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    int *spare = spare_of(e, family);

    if (*spare < 0 && connect(fd, &unspec, sizeof(unspec)) == 0)
        *spare = fd;
    else
        close(fd);
}

static int tcp_connect(struct check_job *j, const struct sockaddr *sa, socklen_t len)
{
    int fd = tcp_socket(j->e, sa->sa_family), r;

    if (fd < 0)
        return fd;
    /* A connect to this host (loopback) is through the handshake by the time the call returns,
     * EINPROGRESS notwithstanding: asking again answers at once (0, or the refusal) and saves
     * the epoll registration, the wake-up, the SO_ERROR read and the removal. EALREADY: still
     * in progress, the engine's epoll sees it through. */
    if (connect(fd, sa, len) == 0 ||
        (errno == EINPROGRESS && (connect(fd, sa, len) == 0 || errno == EISCONN))) {
        tcp_recycle(j->e, sa->sa_family, fd);
        checks_job_finish(j, true, "connected");
        return 0;
    }
    if (errno != EINPROGRESS && errno != EALREADY) {
        r = -errno;
        close(fd);
        return r;
    }
    if ((r = checks_epoll_add(j->e, fd, EPOLLOUT, &j->src)) < 0) {
        close(fd);
        return r;
    }
    j->fd = fd;
    return 0;
}

/* Tries the addresses left; finishes the job when none remains. */
static void try_next(struct check_job *j, int last_error)
{
    while (j->ai_next) {
        struct addrinfo *ai = j->ai_next;
        int r;

        j->ai_next = ai->ai_next;
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)j->port);
        else if (ai->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)j->port);
        else
            continue;
        if ((r = tcp_connect(j, ai->ai_addr, ai->ai_addrlen)) == 0)
            return;
        last_error = -r;
    }
    checks_job_finish(j, false, "%s", strerror(last_error));
}

int check_tcp_start(struct check_job *j)
{
    const char *host = j->check->host;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    j->port = j->check->port;
    in4.sin_port = in6.sin6_port = htons((uint16_t)j->port);
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1)
        return tcp_connect(j, (struct sockaddr *)&in4, sizeof(in4));
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1)
        return tcp_connect(j, (struct sockaddr *)&in6, sizeof(in6));
    snprintf(j->name, sizeof(j->name), "%s", host);
    checks_to_worker(j);
    return 0;
}

void check_tcp_resolve(struct check_job *j)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};

    j->worker_result = getaddrinfo(j->name, NULL, &hints, &j->ai);
}

void check_tcp_resolved(struct check_job *j)
{
    if (j->worker_result != 0) {
        checks_job_finish(j, false, "cannot resolve %s: %s", j->name,
                          gai_strerror(j->worker_result));
        return;
    }
    j->ai_next = j->ai;
    try_next(j, EHOSTUNREACH);
}

void check_tcp_event(struct check_job *j, uint32_t events)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    /* out of the set first: a child being spawned may briefly hold a copy of the socket, and
     * close alone would leave it registered */
    checks_epoll_del(j->e, j->fd);
    close(j->fd);
    j->fd = -1;
    if (err == 0)
        checks_job_finish(j, true, "connected");
    else
        try_next(j, err);
}

void check_tcp_close(struct check_job *j)
{
    if (j->fd < 0)
        return;
    checks_epoll_del(j->e, j->fd);
    close(j->fd);
    j->fd = -1;
}

void check_tcp_release(struct check_job *j)
{
    check_tcp_close(j);
    if (j->ai)
        freeaddrinfo(j->ai);
}

void check_tcp_free(struct checks *e)
{
    for (size_t i = 0; i < sizeof(e->tcp_spare) / sizeof(e->tcp_spare[0]); i++)
        if (e->tcp_spare[i] >= 0)
            close(e->tcp_spare[i]);
}
