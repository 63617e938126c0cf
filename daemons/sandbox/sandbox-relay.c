/* The egress relay of a ring-2 sandbox: 127.0.0.1:PORT inside the sandbox's network namespace
 * → osmoda-egress's agent socket (see sandbox-relay.h). Edge-triggered epoll: every event on
 * either side of a connection pumps both directions until a read or a write would block, so
 * each direction always waits on an armed edge. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "sandbox-relay.h"
#include "sandbox/sandbox.h"

#define EVENTS_MAX 64
#define LISTEN_BACKLOG 64

/* Bytes read from fd[side] and not yet written to the other side. */
struct half {
    char buf[OSM_SANDBOX_RELAY_BUF];
    size_t off, len;
    bool eof;  /* fd[side] said end of file */
    bool shut; /* ... and the other side was told (shutdown SHUT_WR) */
};

struct conn;
struct end {
    struct conn *c;
};

struct conn {
    int fd[2]; /* 0: the sandbox's client, 1: the egress socket */
    struct half half[2];
    struct end end; /* epoll's data for both fds */
    bool dead;
    struct conn *next_dead;
};

struct relay {
    int epfd, listen_fd;
    const char *socket_path;
    size_t n_conns;
    struct conn *dead; /* closed during this batch of events, freed after it */
};

int sandbox_relay_listen(int port, int *ret_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd;

    if (port < 0 || port > 65535)
        return -EINVAL;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

/* A non-blocking connection to the egress socket: -errno when it is missing, refuses, or its
 * backlog is full (EAGAIN: never wait for it here). */
static int dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

static void conn_close(struct relay *rl, struct conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    close(c->fd[0]);
    close(c->fd[1]);
    c->next_dead = rl->dead;
    rl->dead = c;
    rl->n_conns--;
}

/* Moves bytes from fd[from] to the other side until one of them would block. 0, or -errno to
 * close the connection. */
static int pump_half(struct conn *c, int from)
{
    struct half *h = &c->half[from];
    int to = 1 - from;
    ssize_t n;

    for (;;) {
        if (h->len == 0 && !h->eof) {
            n = read(c->fd[from], h->buf, sizeof(h->buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            h->off = 0;
            h->len = (size_t)n;
            h->eof = n == 0;
        }
        if (h->len > 0) {
            n = send(c->fd[to], h->buf + h->off, h->len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            h->off += (size_t)n;
            h->len -= (size_t)n;
            continue;
        }
        if (h->eof) {
            if (!h->shut && shutdown(c->fd[to], SHUT_WR) < 0 && errno != ENOTCONN)
                return -errno;
            h->shut = true;
            return 0;
        }
    }
}

static void pump(struct relay *rl, struct conn *c)
{
    if (c->dead)
        return;
    if (pump_half(c, 0) < 0 || pump_half(c, 1) < 0 || (c->half[0].shut && c->half[1].shut))
        conn_close(rl, c);
}

static int watch_fd(struct relay *rl, int fd, void *ptr, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};

    return epoll_ctl(rl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* A client the relay cannot serve: a best-effort 503 (the socket is fresh, its buffer empty). */
static void refuse(int fd)
{
    (void)!send(fd, SANDBOX_RELAY_UNAVAILABLE, sizeof(SANDBOX_RELAY_UNAVAILABLE) - 1, MSG_NOSIGNAL);
    close(fd);
}

static void join(struct relay *rl, int client)
{
    struct conn *c;
    int up;

    if (rl->n_conns >= OSM_SANDBOX_RELAY_CONNS_MAX) {
        close(client);
        return;
    }
    up = dial(rl->socket_path);
    if (up < 0) {
        refuse(client);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(up);
        close(client);
        return;
    }
    c->fd[0] = client;
    c->fd[1] = up;
    c->end.c = c;
    rl->n_conns++;
    if (watch_fd(rl, client, &c->end, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0 ||
        watch_fd(rl, up, &c->end, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        conn_close(rl, c);
        return;
    }
    pump(rl, c);
}

static void accept_all(struct relay *rl)
{
    for (;;) {
        int fd = accept4(rl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a client gone before it was accepted */
        join(rl, fd);
    }
}

static void free_dead(struct relay *rl)
{
    while (rl->dead) {
        struct conn *c = rl->dead;
        rl->dead = c->next_dead;
        free(c);
    }
}

int sandbox_relay_run(int listen_fd, const char *socket_path)
{
    struct relay rl = {.listen_fd = listen_fd, .socket_path = socket_path};
    struct epoll_event ev[EVENTS_MAX];
    int r = 0;

    rl.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rl.epfd < 0)
        return -errno;
    if ((r = watch_fd(&rl, listen_fd, NULL, EPOLLIN)) < 0)
        goto out;
    for (;;) {
        int n = epoll_wait(rl.epfd, ev, EVENTS_MAX, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            struct end *e = ev[i].data.ptr;
            if (e)
                pump(&rl, e->c);
            else
                accept_all(&rl);
        }
        free_dead(&rl);
    }
out:
    close(rl.epfd);
    return r;
}

/* In the child: listen_fd becomes fd 3 and the ready pipe fd 4; nothing else stays open but
 * stdio, which goes to /dev/null (the job's output pipe must close with the command). */
static int keep_only(int listen_fd, int ready_w)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10), w = fcntl(ready_w, F_DUPFD_CLOEXEC, 10);

    if (devnull < 0 || l < 0 || w < 0)
        return -EBADF;
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        dup3(l, 3, O_CLOEXEC) < 0 || dup3(w, 4, O_CLOEXEC) < 0)
        return -errno;
    return close_range(5, ~0U, 0) < 0 ? -errno : 0;
}

static int confine(long uid)
{
    int r;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (uid >= 0 && geteuid() == 0 && (r = osm_sandbox_drop_uid((uid_t)uid)) < 0)
        return r;
    if ((r = osm_landlock_deny_all()) < 0)
        return r;
    return osm_seccomp_apply();
}

static _Noreturn void child(int listen_fd, const char *socket_path, long uid, pid_t parent,
                            int ready_w)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(1);
    (void)prctl(PR_SET_NAME, "egress-relay");
    if (keep_only(listen_fd, ready_w) < 0 || confine(uid) < 0 || write(4, "1", 1) != 1)
        _exit(1);
    close(4);
    _exit(sandbox_relay_run(3, socket_path) < 0 ? 1 : 0);
}

int sandbox_relay_spawn(int listen_fd, const char *socket_path, long uid, pid_t *ret_pid)
{
    pid_t parent = getpid(), pid;
    int ready[2];
    char c;
    ssize_t n;

    if (pipe2(ready, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return -errno;
    }
    if (pid == 0) {
        close(ready[0]);
        child(listen_fd, socket_path, uid, parent, ready[1]);
    }
    close(ready[1]);
    do
        n = read(ready[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -EPERM;
    }
    *ret_pid = pid;
    return 0;
}
