/* The sandbox's egress relay (daemons/sandbox/sandbox-relay.c), spawned for real and confined
 * as osmoda-sandbox-init spawns it, between a TCP client of the test and a unix-socket echo
 * server of the test standing in for osmoda-egress. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemons/sandbox/sandbox-relay.h"
#include "sandbox/sandbox.h"

#define BULK (3 * 1024 * 1024)
#define CLIENTS 40

struct fixture {
    char dir[64], path[96];
    int unix_fd, listen_fd, port;
    pid_t relay;
    pthread_t server;
};

/* Echoes every connection back until the peer's end of file, then closes: one thread per
 * connection (the test's side only). */
static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
out:
    close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    struct fixture *f = arg;
    int fd;

    while ((fd = accept(f->unix_fd, NULL, NULL)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void start(struct fixture *f, bool serve)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct sockaddr_in in;
    socklen_t len = sizeof(in);

    snprintf(f->dir, sizeof(f->dir), "/tmp/relay-test-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
    if (serve) {
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        f->unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        cr_assert_eq(bind(f->unix_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        cr_assert_eq(listen(f->unix_fd, 64), 0);
        pthread_create(&f->server, NULL, echo_server, f);
    }
    cr_assert_eq(sandbox_relay_listen(0, &f->listen_fd), 0);
    cr_assert_eq(getsockname(f->listen_fd, (struct sockaddr *)&in, &len), 0);
    f->port = ntohs(in.sin_port);
    cr_assert_eq(sandbox_relay_spawn(f->listen_fd, f->path, -1, &f->relay), 0);
    close(f->listen_fd); /* the relay keeps its own */
}

static void stop(struct fixture *f)
{
    kill(f->relay, SIGKILL);
    waitpid(f->relay, NULL, 0);
    unlink(f->path);
    rmdir(f->dir);
}

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

struct writer {
    int fd;
    const char *data;
    size_t len;
};

/* Writes everything, then half-closes: the echo only ends after the relay passed the end of
 * file on. */
static void *write_all(void *arg)
{
    struct writer *w = arg;

    for (size_t off = 0; off < w->len;) {
        ssize_t n = write(w->fd, w->data + off, w->len - off);
        if (n <= 0)
            return NULL;
        off += (size_t)n;
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;

    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

Test(sandbox_relay, carries_bulk_both_ways_and_passes_end_of_file_on, .timeout = 60)
{
    struct fixture f = {0};
    char *out = malloc(BULK), *in = malloc(BULK + 1);
    struct writer w;
    pthread_t t;
    int fd;

    start(&f, true);
    for (size_t i = 0; i < BULK; i++)
        out[i] = (char)(i * 7 + i / 4096);
    fd = dial(f.port);
    w = (struct writer){fd, out, BULK};
    pthread_create(&t, NULL, write_all, &w);
    cr_assert_eq(read_all(fd, in, BULK + 1), BULK); /* then end of file: the echo closed */
    pthread_join(t, NULL);
    cr_assert(memcmp(in, out, BULK) == 0, "the bytes came back changed");
    close(fd);
    stop(&f);
    free(out);
    free(in);
}

Test(sandbox_relay, many_connections_at_once_stay_apart, .timeout = 60)
{
    struct fixture f = {0};
    int fds[CLIENTS];
    char msg[64], got[64];

    start(&f, true);
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = dial(f.port);
    for (int i = CLIENTS - 1; i >= 0; i--) {
        int n = snprintf(msg, sizeof(msg), "connection %d", i);
        cr_assert_eq(write(fds[i], msg, (size_t)n), n);
        shutdown(fds[i], SHUT_WR);
    }
    for (int i = 0; i < CLIENTS; i++) {
        int n = snprintf(msg, sizeof(msg), "connection %d", i);
        size_t r = read_all(fds[i], got, sizeof(got));
        cr_assert_eq(r, (size_t)n);
        cr_assert(memcmp(got, msg, (size_t)n) == 0);
        close(fds[i]);
    }
    stop(&f);
}

Test(sandbox_relay, egress_down_gets_a_503_and_the_relay_stays, .timeout = 60)
{
    struct fixture f = {0};
    char buf[512];

    start(&f, false); /* nothing listens on the socket path */
    for (int round = 0; round < 2; round++) {
        int fd = dial(f.port);
        size_t n = read_all(fd, buf, sizeof(buf) - 1);
        buf[n] = '\0';
        cr_assert(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "got: %s", buf);
        cr_assert_not_null(strstr(buf, "egress_unavailable"));
        close(fd);
    }
    cr_assert_eq(waitpid(f.relay, NULL, WNOHANG), 0, "the relay died");
    stop(&f);
}

static bool status_has(pid_t pid, const char *line)
{
    char path[64], buf[4096];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    fp = fopen(path, "re");
    if (!fp)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, line) != NULL;
}

Test(sandbox_relay, confined_before_spawn_returns_and_dies_with_its_parent, .timeout = 60)
{
    struct fixture f = {0};
    int pipefd[2];
    pid_t mid, relay = 0;
    int pidfd;

    start(&f, true);
    cr_assert(status_has(f.relay, "NoNewPrivs:\t1"));
    cr_assert(status_has(f.relay, "Seccomp:\t2"));
    stop(&f);

    /* a relay spawned by a process that then dies goes with it */
    cr_assert_eq(pipe(pipefd), 0);
    mid = fork();
    if (mid == 0) {
        int fd;
        pid_t p;
        if (sandbox_relay_listen(0, &fd) < 0 || sandbox_relay_spawn(fd, "/nonexistent", -1, &p))
            _exit(1);
        (void)!write(pipefd[1], &p, sizeof(p));
        _exit(0);
    }
    close(pipefd[1]);
    cr_assert_eq(read(pipefd[0], &relay, sizeof(relay)), (ssize_t)sizeof(relay));
    pidfd = (int)syscall(SYS_pidfd_open, relay, 0);
    waitpid(mid, NULL, 0);
    if (pidfd >= 0) { /* else it is gone already */
        struct pollfd p = {pidfd, POLLIN, 0};
        cr_assert_eq(poll(&p, 1, 20000), 1, "the relay outlived its parent");
        close(pidfd);
    }
}
