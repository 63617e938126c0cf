/* The egress benchmark's load generator and its upstream, one binary:
 *   proxy_load upstream --port P
 *       a TCP server on 127.0.0.1:P, a thread per connection: a first byte 'B' is answered with
 *       an endless stream of bytes (bulk), anything else is echoed (round trips).
 *   proxy_load connect --target 127.0.0.1:P [--proxy 127.0.0.1:X] --clients N --duration S
 *       new tunnels per second: each client connects, sends "CONNECT target", reads the 200
 *       head, does one echo round trip through the tunnel and closes. Without --proxy it
 *       connects to the target directly (the baseline of the added latency).
 *   proxy_load bulk --target ... [--proxy ...] --bytes N
 *       MB/s through one tunnel: reads N bytes of the bulk stream.
 * Prints one JSON line: {"clients","tunnels","errors","seconds","rate","p50_us","p99_us"} or
 * {"bytes","seconds","mb_s"}. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PL_MAX_CLIENTS 256
#define PL_SAMPLES_PER_CLIENT (1u << 20)
#define PL_BUF (256 * 1024)
#define PL_IO_TIMEOUT_S 10

struct pl_opts {
    struct sockaddr_in target, proxy;
    char target_text[64];
    bool via_proxy;
    unsigned clients;
    double duration;
    uint64_t bytes;
    int port;
};

struct pl_client {
    const struct pl_opts *o;
    pthread_t thread;
    uint64_t tunnels, errors;
    uint32_t *samples; /* microseconds per tunnel */
    size_t n_samples;
};

static atomic_bool stop_flag;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct sockaddr_in *ret)
{
    char host[64];
    const char *colon = strrchr(s, ':');

    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *ret =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    return inet_pton(AF_INET, host, &ret->sin_addr) == 1 ? 0 : -EINVAL;
}

static int dial(const struct sockaddr_in *a)
{
    struct timeval tv = {.tv_sec = PL_IO_TIMEOUT_S};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads a response head up to the blank line, byte by byte (nothing of the tunnel is read past
 * it); 0 when its status is 200. */
static int read_head(int fd)
{
    char buf[4096];
    size_t n = 0;

    while (n < sizeof(buf) - 1) {
        if (recv(fd, buf + n, 1, 0) != 1)
            return -1;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0 ? 0 : -1;
        }
    }
    return -1;
}

/* Connects (through the proxy when asked) to the target: the tunnel's fd, or -1. */
static int open_tunnel(const struct pl_opts *o)
{
    char req[256];
    int fd = dial(o->via_proxy ? &o->proxy : &o->target);

    if (fd < 0 || !o->via_proxy)
        return fd;
    snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", o->target_text,
             o->target_text);
    if (write_all(fd, req, strlen(req)) < 0 || read_head(fd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One tunnel: open, one echo round trip, close. */
static int one_tunnel(const struct pl_opts *o)
{
    char c = 'e';
    int fd = open_tunnel(o), r = -1;

    if (fd >= 0 && write_all(fd, &c, 1) == 0 && recv(fd, &c, 1, 0) == 1 && c == 'e')
        r = 0;
    if (fd >= 0)
        close(fd);
    return r;
}

static void *client_main(void *arg)
{
    struct pl_client *c = arg;
    double t0;

    while (!atomic_load(&stop_flag)) {
        t0 = now_s();
        if (one_tunnel(c->o) < 0) {
            c->errors++;
            continue;
        }
        c->tunnels++;
        if (c->n_samples < PL_SAMPLES_PER_CLIENT)
            c->samples[c->n_samples++] = (uint32_t)((now_s() - t0) * 1e6);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static int run_connect(const struct pl_opts *o)
{
    struct pl_client *cl = calloc(o->clients, sizeof(*cl));
    uint64_t tunnels = 0, errors = 0;
    uint32_t *all;
    size_t n = 0;
    double t0 = now_s(), secs;

    for (unsigned i = 0; i < o->clients; i++) {
        cl[i].o = o;
        cl[i].samples = malloc(PL_SAMPLES_PER_CLIENT * sizeof(uint32_t));
        pthread_create(&cl[i].thread, NULL, client_main, &cl[i]);
    }
    while (now_s() - t0 < o->duration)
        usleep(10000);
    atomic_store(&stop_flag, true);
    for (unsigned i = 0; i < o->clients; i++) {
        pthread_join(cl[i].thread, NULL);
        tunnels += cl[i].tunnels;
        errors += cl[i].errors;
        n += cl[i].n_samples;
    }
    secs = now_s() - t0;
    all = malloc((n ? n : 1) * sizeof(*all));
    n = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        memcpy(all + n, cl[i].samples, cl[i].n_samples * sizeof(*all));
        n += cl[i].n_samples;
        free(cl[i].samples);
    }
    qsort(all, n, sizeof(*all), cmp_u32);
    printf("{\"clients\":%u,\"tunnels\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rate\":%.1f,"
           "\"p50_us\":%u,\"p99_us\":%u}\n",
           o->clients, (unsigned long long)tunnels, (unsigned long long)errors, secs,
           (double)tunnels / secs, n ? all[n / 2] : 0, n ? all[n * 99 / 100] : 0);
    free(all);
    free(cl);
    return tunnels ? 0 : 1;
}

static int run_bulk(const struct pl_opts *o)
{
    static char buf[PL_BUF];
    uint64_t got = 0;
    double t0 = now_s(), secs;
    int fd = open_tunnel(o);
    ssize_t k;

    if (fd < 0 || write_all(fd, "B", 1) < 0)
        return 1;
    while (got < o->bytes && (k = recv(fd, buf, sizeof(buf), 0)) > 0)
        got += (uint64_t)k;
    secs = now_s() - t0;
    close(fd);
    printf("{\"bytes\":%llu,\"seconds\":%.3f,\"mb_s\":%.1f}\n", (unsigned long long)got, secs,
           (double)got / secs / 1e6);
    return got >= o->bytes ? 0 : 1;
}

/* The upstream: echo, or an endless stream after a first 'B'. */
static void *upstream_conn(void *arg)
{
    static char buf[PL_BUF];
    char in[4096];
    int fd = (int)(intptr_t)arg;
    ssize_t k = recv(fd, in, sizeof(in), 0);

    if (k > 0 && in[0] == 'B') {
        while (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0)
            ;
    } else {
        while (k > 0 && write_all(fd, in, (size_t)k) == 0)
            k = recv(fd, in, sizeof(in), 0);
    }
    close(fd);
    return NULL;
}

static int run_upstream(const struct pl_opts *o)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;
    pthread_attr_t attr;
    pthread_t t;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
        perror("upstream");
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (;;) {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&t, &attr, upstream_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: proxy_load upstream --port P | connect|bulk --target A:P "
                    "[--proxy A:P] [--clients N] [--duration S] [--bytes N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"target", 1, 0, 't'},
                                         {"proxy", 1, 0, 'x'},
                                         {"clients", 1, 0, 'c'},
                                         {"duration", 1, 0, 'd'},
                                         {"bytes", 1, 0, 'b'},
                                         {"port", 1, 0, 'p'},
                                         {0, 0, 0, 0}};
    struct pl_opts o = {.clients = 1, .duration = 3, .bytes = 1u << 30};
    const char *mode = argc > 1 ? argv[1] : "";
    int c;

    signal(SIGPIPE, SIG_IGN);
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't' && (parse_addr(optarg, &o.target) < 0 ||
                         snprintf(o.target_text, sizeof(o.target_text), "%s", optarg) < 0))
            return usage();
        if (c == 'x' && parse_addr(optarg, &o.proxy) < 0)
            return usage();
        o.via_proxy |= c == 'x';
        if (c == 'c')
            o.clients = (unsigned)atoi(optarg);
        if (c == 'd')
            o.duration = atof(optarg);
        if (c == 'b')
            o.bytes = strtoull(optarg, NULL, 10);
        if (c == 'p')
            o.port = atoi(optarg);
        if (c == '?')
            return usage();
    }
    if (o.clients < 1 || o.clients > PL_MAX_CLIENTS)
        return usage();
    if (strcmp(mode, "upstream") == 0)
        return o.port > 0 ? run_upstream(&o) : usage();
    if (!o.target.sin_port)
        return usage();
    if (strcmp(mode, "connect") == 0)
        return run_connect(&o);
    if (strcmp(mode, "bulk") == 0)
        return run_bulk(&o);
    return usage();
}
