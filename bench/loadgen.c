/* HTTP/1.1 keep-alive load generator over a unix socket: N client threads, one connection each
 * (reconnecting when the server closes), a fixed request count or a duration, and one JSON line
 * of results with latency percentiles. clients=1 gives sequential round trips. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"

#define LG_MAX_CLIENTS 1024
#define LG_RBUF 65536           /* response header block must fit */
#define LG_MAX_BODY (64u << 20) /* request body cap */
#define LG_MAX_SAMPLES (64u << 20)
#define LG_CONNECT_RETRIES 100
#define LG_IO_TIMEOUT_S 30
#define LG_MAX_HEADERS 8

struct lg_opts {
    const char *socket;
    const char *method;
    const char *path;
    char *body;
    size_t body_len;
    unsigned clients;
    uint64_t requests; /* 0: use duration */
    double duration;
    const char *headers[LG_MAX_HEADERS]; /* extra "Name: value" lines */
    size_t n_headers;
};

struct lg_conn {
    int fd;
    char buf[LG_RBUF];
    size_t len; /* bytes in buf */
    size_t pos; /* consumed */
};

struct lg_response {
    int status;
    bool close;
    bool chunked;
    int64_t content_length; /* -1: none */
};

struct lg_thread {
    pthread_t tid;
    const struct lg_opts *o;
    const char *req;
    size_t req_len;
    uint64_t *lat_ns;
    size_t n_lat, cap_lat;
    uint64_t done, errors;
    int setup_error;
};

static pthread_barrier_t start_barrier;
static atomic_uint_fast64_t issued;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int lg_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = LG_IO_TIMEOUT_S};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static void conn_close(struct lg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = c->pos = 0;
}

static int conn_reopen(struct lg_conn *c, const char *path)
{
    int fd = -ECONNREFUSED;
    conn_close(c);
    for (int i = 0; i < LG_CONNECT_RETRIES; i++) {
        fd = lg_connect(path);
        if (fd >= 0) {
            c->fd = fd;
            return 0;
        }
        usleep(10000);
    }
    return fd;
}

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

/* Reads more bytes into c->buf, compacting first. Returns bytes read, 0 on EOF, -errno. */
static ssize_t conn_fill(struct lg_conn *c)
{
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == sizeof(c->buf))
        return -EMSGSIZE;
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        c->len += (size_t)r;
        return r;
    }
}

/* Returns a pointer just past the next "\r\n" at c->pos, filling as needed; NULL on failure. */
static char *conn_line(struct lg_conn *c)
{
    for (;;) {
        char *s = c->buf + c->pos;
        char *e = memmem(s, c->len - c->pos, "\r\n", 2);
        if (e)
            return e + 2;
        if (conn_fill(c) <= 0)
            return NULL;
    }
}

static void parse_header(struct lg_response *r, const char *line, size_t n)
{
    static const char cl[] = "content-length:", conn[] = "connection:", te[] = "transfer-encoding:";
    char v[128];
    if (n >= sizeof(v))
        return;
    if (n > sizeof(cl) - 1 && strncasecmp(line, cl, sizeof(cl) - 1) == 0) {
        r->content_length = strtoll(line + sizeof(cl) - 1, NULL, 10);
    } else if (n > sizeof(conn) - 1 && strncasecmp(line, conn, sizeof(conn) - 1) == 0) {
        memcpy(v, line, n);
        v[n] = 0;
        r->close = strcasestr(v, "close") != NULL;
    } else if (n > sizeof(te) - 1 && strncasecmp(line, te, sizeof(te) - 1) == 0) {
        memcpy(v, line, n);
        v[n] = 0;
        r->chunked = strcasestr(v, "chunked") != NULL;
    }
}

/* Parses the status line and headers. 0, or -EPROTO / -EIO. */
static int read_head(struct lg_conn *c, struct lg_response *r)
{
    *r = (struct lg_response){.content_length = -1};
    char *end = conn_line(c);
    if (!end)
        return -EIO;
    const char *s = c->buf + c->pos;
    if (end - s < 14 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
        return -EPROTO;
    r->status = atoi(s + 9);
    r->close = s[7] == '0'; /* HTTP/1.0 closes unless told otherwise; close enough here */
    c->pos = (size_t)(end - c->buf);
    for (;;) {
        end = conn_line(c);
        if (!end)
            return -EIO;
        s = c->buf + c->pos;
        size_t n = (size_t)(end - s) - 2;
        c->pos = (size_t)(end - c->buf);
        if (n == 0)
            return 0;
        parse_header(r, s, n);
    }
}

/* Discards n body bytes. */
static int skip_bytes(struct lg_conn *c, uint64_t n)
{
    while (n > 0) {
        if (c->pos == c->len && conn_fill(c) <= 0)
            return -EIO;
        size_t have = c->len - c->pos;
        size_t take = have < n ? have : (size_t)n;
        c->pos += take;
        n -= take;
    }
    return 0;
}

static int skip_chunked(struct lg_conn *c)
{
    for (;;) {
        char *end = conn_line(c);
        if (!end)
            return -EIO;
        uint64_t n = strtoull(c->buf + c->pos, NULL, 16);
        c->pos = (size_t)(end - c->buf);
        if (n == 0)
            break;
        if (skip_bytes(c, n + 2) < 0)
            return -EIO;
    }
    for (;;) { /* trailers up to the empty line */
        char *end = conn_line(c);
        if (!end)
            return -EIO;
        bool empty = end - (c->buf + c->pos) == 2;
        c->pos = (size_t)(end - c->buf);
        if (empty)
            return 0;
    }
}

/* One request/response on c. Returns the HTTP status, or -errno (the connection is then dead). */
static int round_trip(struct lg_conn *c, const char *req, size_t req_len, bool *ret_close)
{
    struct lg_response r;
    int k = write_all(c->fd, req, req_len);
    if (k < 0)
        return k;
    k = read_head(c, &r);
    if (k < 0)
        return k;
    bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    if (r.chunked)
        k = skip_chunked(c);
    else if (r.content_length >= 0)
        k = skip_bytes(c, (uint64_t)r.content_length);
    else if (!no_body)
        return -EPROTO; /* body delimited by close: not supported for keep-alive benchmarking */
    if (k < 0)
        return k;
    *ret_close = r.close;
    return r.status;
}

static int record(struct lg_thread *t, uint64_t ns)
{
    if (t->n_lat == t->cap_lat) {
        size_t cap = t->cap_lat ? t->cap_lat * 2 : 4096;
        if (cap > LG_MAX_SAMPLES)
            return -ENOBUFS;
        uint64_t *p = realloc(t->lat_ns, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        t->lat_ns = p;
        t->cap_lat = cap;
    }
    t->lat_ns[t->n_lat++] = ns;
    return 0;
}

static bool more_work(const struct lg_opts *o, uint64_t deadline)
{
    if (o->requests > 0)
        return atomic_fetch_add(&issued, 1) < o->requests;
    return now_ns() < deadline;
}

static void *client_main(void *arg)
{
    struct lg_thread *t = arg;
    const struct lg_opts *o = t->o;
    _cleanup_free_ struct lg_conn *c = calloc(1, sizeof(*c));
    if (c) {
        c->fd = -1;
        t->setup_error = conn_reopen(c, o->socket);
    } else {
        t->setup_error = -ENOMEM;
    }
    pthread_barrier_wait(&start_barrier);
    if (t->setup_error < 0)
        return NULL;
    uint64_t deadline = now_ns() + (uint64_t)(o->duration * 1e9);
    while (more_work(o, deadline)) {
        bool close_after = false;
        uint64_t t0 = now_ns();
        int st = round_trip(c, t->req, t->req_len, &close_after);
        uint64_t dt = now_ns() - t0;
        t->done++;
        if (st >= 200 && st < 300) {
            if (record(t, dt) < 0)
                break;
        } else {
            t->errors++;
        }
        if ((st < 0 || close_after) && conn_reopen(c, o->socket) < 0)
            break;
    }
    conn_close(c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

static char *build_request(const struct lg_opts *o, size_t *ret_len)
{
    char *req = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&req, &len);
    if (!f)
        return NULL;
    fprintf(f, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: osmoda-loadgen\r\n", o->method,
            o->path);
    if (o->body)
        fprintf(f, "Content-Type: application/json\r\nContent-Length: %zu\r\n", o->body_len);
    for (size_t i = 0; i < o->n_headers; i++)
        fprintf(f, "%s\r\n", o->headers[i]);
    fputs("\r\n", f);
    if (o->body)
        fwrite(o->body, 1, o->body_len, f);
    if (fclose(f) != 0) {
        free(req);
        return NULL;
    }
    *ret_len = len;
    return req;
}

static int report(struct lg_thread *ts, const struct lg_opts *o, double secs)
{
    uint64_t done = 0, errors = 0;
    size_t n = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        done += ts[i].done;
        errors += ts[i].errors;
        n += ts[i].n_lat;
    }
    _cleanup_free_ uint64_t *all = malloc((n ? n : 1) * sizeof(*all));
    if (!all)
        return -ENOMEM;
    size_t k = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        memcpy(all + k, ts[i].lat_ns, ts[i].n_lat * sizeof(*all));
        k += ts[i].n_lat;
    }
    qsort(all, n, sizeof(*all), cmp_u64);
    printf("{\"clients\":%u,\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
           o->clients, done, errors, secs, secs > 0 ? (double)(done - errors) / secs : 0.0,
           pct_us(all, n, 0.50), pct_us(all, n, 0.99));
    return 0;
}

static int run(const struct lg_opts *o)
{
    _cleanup_free_ struct lg_thread *ts = calloc(o->clients, sizeof(*ts));
    size_t req_len = 0;
    _cleanup_free_ char *req = build_request(o, &req_len);
    if (!ts || !req)
        return -ENOMEM;
    pthread_barrier_init(&start_barrier, NULL, o->clients + 1);
    for (unsigned i = 0; i < o->clients; i++) {
        ts[i] = (struct lg_thread){.o = o, .req = req, .req_len = req_len};
        if (pthread_create(&ts[i].tid, NULL, client_main, &ts[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start thread %u\n", i);
            exit(1); /* the barrier would never open */
        }
    }
    pthread_barrier_wait(&start_barrier);
    uint64_t t0 = now_ns();
    int setup = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        pthread_join(ts[i].tid, NULL);
        if (ts[i].setup_error < 0)
            setup = ts[i].setup_error;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start_barrier);
    int r = setup < 0 ? setup : report(ts, o, secs);
    for (unsigned i = 0; i < o->clients; i++)
        free(ts[i].lat_ns);
    return r;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    _cleanup_free_ char *b = malloc(LG_MAX_BODY);
    if (!b)
        return -ENOMEM;
    size_t n = fread(b, 1, LG_MAX_BODY, f);
    if (ferror(f))
        return -EIO;
    if (!feof(f))
        return -EFBIG;
    *ret = TAKE_PTR(b);
    *ret_len = n;
    return 0;
}

static void usage(FILE *f)
{
    fputs(
        "usage: loadgen --socket PATH [--clients N] [--requests N | --duration SEC]\n"
        "               [--method M] [--path P] [--body JSON | --body-file FILE]\n"
        "               [--header 'Name: value']...\n"
        "Prints {\"clients\",\"requests\",\"errors\",\"seconds\",\"rps\",\"p50_us\",\"p99_us\"};\n"
        "rps counts 2xx answers; latencies are of 2xx answers.\n",
        f);
}

static int parse_args(int argc, char **argv, struct lg_opts *o)
{
    static const struct option lo[] = {
        {"socket", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"requests", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"method", required_argument, NULL, 'm'},
        {"path", required_argument, NULL, 'p'},
        {"body", required_argument, NULL, 'b'},
        {"body-file", required_argument, NULL, 'f'},
        {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:n:d:m:p:b:f:H:h", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->socket = optarg;
            break;
        case 'c':
            o->clients = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o->requests = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            o->duration = strtod(optarg, NULL);
            break;
        case 'm':
            o->method = optarg;
            break;
        case 'p':
            o->path = optarg;
            break;
        case 'b':
            free(o->body);
            o->body = strdup(optarg);
            o->body_len = strlen(optarg);
            break;
        case 'f':
            free(o->body);
            o->body = NULL;
            if (read_file(optarg, &o->body, &o->body_len) < 0) {
                fprintf(stderr, "loadgen: cannot read %s\n", optarg);
                return -EINVAL;
            }
            break;
        case 'H':
            if (o->n_headers == LG_MAX_HEADERS)
                return -EINVAL;
            o->headers[o->n_headers++] = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -EINVAL;
        }
    }
    if (!o->socket || o->clients < 1 || o->clients > LG_MAX_CLIENTS ||
        (o->requests == 0 && o->duration <= 0))
        return -EINVAL;
    return 0;
}

int main(int argc, char **argv)
{
    struct lg_opts o = {.method = "GET", .path = "/", .clients = 1, .duration = 0};
    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    int r = run(&o);
    free(o.body);
    if (r < 0) {
        fprintf(stderr, "loadgen: %s: %s\n", o.socket, strerror(-r));
        return 1;
    }
    return 0;
}
