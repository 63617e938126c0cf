/* The bare unix-socket HTTP peer: a thread per connection that reads each request up to the
 * blank line (plus any Content-Length body) and writes one fixed, minimal 200 response. What
 * GET /health on agentd is compared with: the same transport with no HTTP library, routing,
 * JSON or work behind it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"

#define ECHO_BUF 65536 /* request header block must fit */
#define ECHO_BACKLOG 1024

static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 16\r\n"
                               "\r\n"
                               "{\"status\":\"ok\"}\n";

struct echo_conn {
    int fd;
    char buf[ECHO_BUF];
    size_t len;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Content-Length of the header block [s, s+n), 0 when absent. */
static uint64_t content_length(const char *s, size_t n)
{
    static const char key[] = "\r\ncontent-length:";
    for (size_t i = 0; i + sizeof(key) - 1 < n; i++)
        if (strncasecmp(s + i, key, sizeof(key) - 1) == 0)
            return strtoull(s + i + sizeof(key) - 1, NULL, 10);
    return 0;
}

/* Serves requests until the peer closes or misbehaves. */
static void serve(struct echo_conn *c)
{
    uint64_t skip = 0; /* body bytes still to discard */
    for (;;) {
        if (skip > 0 && c->len > 0) {
            size_t take = c->len < skip ? c->len : (size_t)skip;
            memmove(c->buf, c->buf + take, c->len - take);
            c->len -= take;
            skip -= take;
        }
        char *end = skip ? NULL : memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end + 4 - c->buf);
            skip = content_length(c->buf, head);
            memmove(c->buf, c->buf + head, c->len - head);
            c->len -= head;
            if (write_all(c->fd, response, sizeof(response) - 1) < 0)
                return;
            continue;
        }
        if (c->len == sizeof(c->buf))
            return;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        c->len += (size_t)r;
    }
}

static void *conn_main(void *arg)
{
    _cleanup_free_ struct echo_conn *c = arg;
    serve(c);
    close(c->fd);
    return NULL;
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void)unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, ECHO_BACKLOG) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static int spawn(int cfd)
{
    struct echo_conn *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fd = cfd;
    c->len = 0;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    pthread_t t;
    int r = pthread_create(&t, &a, conn_main, c);
    pthread_attr_destroy(&a);
    if (r != 0) {
        free(c);
        return -r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--socket") != 0) {
        fputs("usage: echo_server --socket PATH\n", stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(argv[2]);
    if (lfd < 0) {
        fprintf(stderr, "echo_server: %s: %s\n", argv[2], strerror(-lfd));
        return 1;
    }
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
            return 1;
        }
        if (spawn(cfd) < 0)
            close(cfd);
    }
}
