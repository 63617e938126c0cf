/* The HTTP server and client over a real unix socket: permissions, stale sockets, body cap,
 * peer credentials, query arguments, keep-alive reuse; blocking routes on their own threads,
 * deferred answers, and a stop that waits for both. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/errors.h"
#include "ipc/http_client.h"
#include "ipc/http_server.h"

static json_t *whoami(struct osm_request *req)
{
    return json_pack("{s:i, s:i, s:s?}", "pid", (int)req->peer.pid, "uid", (int)req->peer.uid, "q",
                     osm_request_query(req, "q"));
}

static json_t *echo(struct osm_request *req)
{
    return json_incref(req->body);
}

/* A gate the blocking and deferred handlers wait behind until the test opens it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int entered; /* handlers that reached the gate */
    bool open;
    struct osm_deferred *deferred[8];
    int n_deferred;
    bool inline_answer; /* osm_request_defer() returned NULL */
} gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void gate_reset(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = 0;
    gate.open = false;
    gate.n_deferred = 0;
    gate.inline_answer = false;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_wait_entered(int n)
{
    pthread_mutex_lock(&gate.mu);
    while (gate.entered < n)
        pthread_cond_wait(&gate.cond, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits behind the gate: on the server's event threads this would stall them. */
static json_t *slow(struct osm_request *req)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered++;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    return json_pack("{s:b}", "slow", 1);
}

/* Hands its answer to the test, which sends it from another thread. */
static json_t *later(struct osm_request *req)
{
    struct osm_deferred *d = osm_request_defer(req);

    pthread_mutex_lock(&gate.mu);
    if (d)
        gate.deferred[gate.n_deferred++] = d;
    else
        gate.inline_answer = true;
    gate.entered++;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mu);
    if (!d) {
        req->status = 202;
        return json_pack("{s:b}", "inline", 1);
    }
    return NULL;
}

static json_t *may_wait(struct osm_request *req)
{
    return json_pack("{s:b}", "may_wait", osm_request_may_wait(req));
}

static json_t *text(struct osm_request *req)
{
    osm_request_answer_text(req, 201, strdup("{\"pre\":\"serialized\"}"));
    return NULL;
}

static json_t *tid(struct osm_request *req)
{
    return json_pack("{s:i}", "tid", (int)gettid());
}

static const struct osm_route routes[] = {
    {"GET", "/tid", tid, OSM_ROUTE_BLOCKING},
    {"GET", "/text", text, 0},
    {"GET", "/maywait", may_wait, 0},
    {"GET", "/whoami", whoami, 0},
    {"POST", "/echo", echo, OSM_ROUTE_BODY},
    {"GET", "/slow", slow, OSM_ROUTE_BLOCKING},
    {"GET", "/later", later, 0},
};

static char dir[64], sock[128];
static struct osm_http_server *server;

static void start(void)
{
    struct osm_http_server_config cfg = {
        .routes = routes, .n_routes = ELEMENTSOF(routes), .body_max = 1024};

    gate_reset();

    strcpy(dir, "/tmp/osm-http-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/t.sock", dir);
    cr_assert_eq(osm_http_server_start_unix(&cfg, sock, 0600, &server), 0);
}

static void stop(void)
{
    osm_http_server_stop(server);
    rmdir(dir);
}

TestSuite(http, .init = start, .fini = stop);

Test(http, socket_is_private)
{
    struct stat st;

    cr_assert_eq(stat(sock, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(http, reports_peer_credentials_and_query)
{
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call(sock, "GET", "/whoami?q=a%20b", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "pid")), getpid());
    cr_assert_eq(json_integer_value(json_object_get(r.json, "uid")), (int)getuid());
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "q")), "a b");
    osm_http_reply_clear(&r);
}

Test(http, echoes_json_body)
{
    json_t *body = json_pack("{s:s, s:i}", "k", "v\u00e9", "n", 3);
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call(sock, "POST", "/echo", body, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(json_equal(r.json, body));
    json_decref(body);
    osm_http_reply_clear(&r);
}

Test(http, oversized_body_is_413_and_server_stays_up)
{
    char big[4096];
    json_t *body;
    struct osm_http_reply r;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    body = json_pack("{s:s}", "k", big);
    cr_assert_eq(osm_http_call(sock, "POST", "/echo", body, 0, &r), 0);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "too_large");
    osm_http_reply_clear(&r);
    json_decref(body);
    cr_assert_eq(osm_http_call(sock, "GET", "/whoami", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    osm_http_reply_clear(&r);
}

Test(http, refuses_second_server_on_live_socket)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = ELEMENTSOF(routes)};
    struct osm_http_server *other = NULL;

    cr_assert_eq(osm_http_server_start_unix(&cfg, sock, 0600, &other), -EADDRINUSE);
}

Test(http, missing_socket_is_enoent)
{
    struct osm_http_reply r;

    cr_assert_eq(osm_http_call("/nonexistent/x.sock", "GET", "/", NULL, 0, &r), -ENOENT);
}

Test(http_stale, removes_stale_socket_but_not_other_files)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = ELEMENTSOF(routes)};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct osm_http_server *s = NULL;
    char d[] = "/tmp/osm-stale-XXXXXX", path[128];
    int fd;

    cr_assert_not_null(mkdtemp(d));
    snprintf(path, sizeof(path), "%s/s.sock", d);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* a socket file nobody listens on */
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &s), 0);
    osm_http_server_stop(s);
    cr_assert_eq(access(path, F_OK), -1, "socket removed on stop");

    FILE *f = fopen(path, "w");
    fputs("not a socket", f);
    fclose(f);
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &s), -EEXIST);
    cr_assert_eq(access(path, F_OK), 0, "a regular file is never removed");
    unlink(path);
    rmdir(d);
}

struct call {
    pthread_t thread;
    const char *path;
    const char *sock;
    int r;
    struct osm_http_reply reply;
};

static void *call_main(void *arg)
{
    struct call *c = arg;

    c->r = osm_http_call(c->sock, "GET", c->path, NULL, 0, &c->reply);
    return NULL;
}

static void call_start(struct call *c, const char *sock_path, const char *path)
{
    c->sock = sock_path;
    c->path = path;
    cr_assert_eq(pthread_create(&c->thread, NULL, call_main, c), 0);
}

static void call_expect(struct call *c, long status)
{
    pthread_join(c->thread, NULL);
    cr_assert_eq(c->r, 0);
    cr_assert_eq(c->reply.status, status, "%s answered %ld", c->path, c->reply.status);
    osm_http_reply_clear(&c->reply);
}

/* More blocking requests than the server has event threads wait at once, and the server still
 * answers others meanwhile: each runs on its own thread. */
Test(http, blocking_routes_do_not_stall_the_event_threads)
{
    struct call c[OSM_HTTP_POOL_THREADS_MAX + 2];
    struct osm_http_reply r;
    size_t n = ELEMENTSOF(c);

    for (size_t i = 0; i < n; i++)
        call_start(&c[i], sock, "/slow");
    gate_wait_entered((int)n);
    cr_assert_eq(osm_http_call(sock, "GET", "/whoami", NULL, 10000, &r), 0);
    cr_assert_eq(r.status, 200);
    osm_http_reply_clear(&r);
    gate_open();
    for (size_t i = 0; i < n; i++)
        call_expect(&c[i], 200);
}

/* A deferred request is answered from another thread, with its status and body; the server
 * keeps answering while it waits. */
Test(http, deferred_answer_comes_from_another_thread)
{
    struct call c[OSM_HTTP_POOL_THREADS_MAX + 2];
    struct osm_http_reply r;
    size_t n = ELEMENTSOF(c);

    for (size_t i = 0; i < n; i++)
        call_start(&c[i], sock, "/later");
    gate_wait_entered((int)n);
    cr_assert_not(gate.inline_answer);
    cr_assert_eq(osm_http_call(sock, "GET", "/whoami", NULL, 10000, &r), 0);
    cr_assert_eq(r.status, 200);
    osm_http_reply_clear(&r);
    for (int i = 0; i < gate.n_deferred; i++)
        osm_deferred_answer(gate.deferred[i], 201, json_pack("{s:i}", "n", i));
    for (size_t i = 0; i < n; i++) {
        pthread_join(c[i].thread, NULL);
        cr_assert_eq(c[i].r, 0);
        cr_assert_eq(c[i].reply.status, 201);
        cr_assert(json_is_integer(json_object_get(c[i].reply.json, "n")));
        osm_http_reply_clear(&c[i].reply);
    }
}

/* A deferred answer without a body still gets a JSON envelope. */
Test(http, deferred_answer_without_body_is_an_envelope)
{
    struct call c;

    call_start(&c, sock, "/later");
    gate_wait_entered(1);
    osm_deferred_answer(gate.deferred[0], 503, NULL);
    pthread_join(c.thread, NULL);
    cr_assert_eq(c.r, 0);
    cr_assert_eq(c.reply.status, 503);
    cr_assert_str_eq(json_string_value(json_object_get(c.reply.json, "error")), "internal_error");
    osm_http_reply_clear(&c.reply);
}

/* In-process dispatch (the tool executor, fuzzing) cannot suspend: the handler answers inline. */
Test(http_dispatch, defer_without_a_connection_answers_inline)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = ELEMENTSOF(routes)};
    struct osm_request req = {.method = "GET", .path = "/later"};
    char *out = NULL;
    size_t len;

    gate_reset();
    cr_assert_eq(osm_http_dispatch(&cfg, &req, NULL, "", 0, &out, &len), 202);
    cr_assert(gate.inline_answer);
    cr_assert_str_eq(out, "{\"inline\":true}");
    free(out);
}

struct stopper {
    pthread_t thread;
    struct osm_http_server *s;
};

static void *stop_main(void *arg)
{
    struct stopper *st = arg;

    osm_http_server_stop(st->s);
    return NULL;
}

/* Stopping the server lets a blocking and a deferred request finish and be answered first. */
Test(http_stop, stop_waits_for_blocking_and_deferred_requests)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = ELEMENTSOF(routes)};
    char d[] = "/tmp/osm-stop-XXXXXX", path[128];
    struct call slow_call, later_call;
    struct stopper st;

    gate_reset();
    cr_assert_not_null(mkdtemp(d));
    snprintf(path, sizeof(path), "%s/s.sock", d);
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &st.s), 0);
    call_start(&slow_call, path, "/slow");
    call_start(&later_call, path, "/later");
    gate_wait_entered(2);
    cr_assert_eq(pthread_create(&st.thread, NULL, stop_main, &st), 0);
    gate_open();
    osm_deferred_answer(gate.deferred[0], 200, json_object());
    call_expect(&slow_call, 200);
    call_expect(&later_call, 200);
    pthread_join(st.thread, NULL);
    cr_assert_eq(access(path, F_OK), -1, "socket removed on stop");
    rmdir(d);
}

/* One raw keep-alive connection: sends GET path and returns whether the answer says may_wait. */
static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(sa.sun_path, path);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static bool raw_may_wait(int fd)
{
    static const char req[] = "GET /maywait HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[1024];
    size_t len = 0;
    ssize_t n;

    cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    while (!memmem(buf, len, "}", 1) && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    cr_assert(strstr(buf, "200 OK"), "%s", buf);
    return strstr(buf, "\"may_wait\":true") != NULL;
}

/* A handler may wait inline when its connection is alone on its event thread, and not when more
 * connections than event threads are open (two of them then share a thread). */
Test(http, may_wait_only_when_alone_on_the_event_thread)
{
    int fd[OSM_HTTP_POOL_THREADS_MAX + 1];
    size_t n = ELEMENTSOF(fd), waiting = 0;

    fd[0] = raw_connect(sock);
    cr_assert(raw_may_wait(fd[0]), "a lone connection may wait");
    for (size_t i = 1; i < n; i++) {
        fd[i] = raw_connect(sock);
        raw_may_wait(fd[i]); /* accepted by now */
    }
    for (size_t i = 0; i < n; i++)
        waiting += raw_may_wait(fd[i]);
    cr_assert_lt(waiting, n, "some connections share an event thread");
    for (size_t i = 0; i < n; i++)
        close(fd[i]);
}

Test(http_dispatch, in_process_dispatch_may_wait)
{
    struct osm_http_server_config cfg = {.routes = routes, .n_routes = ELEMENTSOF(routes)};
    struct osm_request req = {.method = "GET", .path = "/maywait"};
    char *out = NULL;
    size_t len;

    cr_assert_eq(osm_http_dispatch(&cfg, &req, NULL, "", 0, &out, &len), 200);
    cr_assert_str_eq(out, "{\"may_wait\":true}");
    free(out);
}

/* A handler's own JSON text is sent as it is, with its status. */
Test(http, answer_text_is_sent_as_is)
{
    struct osm_http_reply r;
    struct call c;

    cr_assert_eq(osm_http_call(sock, "GET", "/text", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "{\"pre\":\"serialized\"}");
    osm_http_reply_clear(&r);
    call_start(&c, sock, "/later");
    gate_wait_entered(1);
    osm_deferred_answer_text(gate.deferred[0], 202, strdup("[1,2]"));
    pthread_join(c.thread, NULL);
    cr_assert_eq(c.r, 0);
    cr_assert_eq(c.reply.status, 202);
    cr_assert_str_eq(c.reply.body, "[1,2]");
    osm_http_reply_clear(&c.reply);
}

static int blocking_tid(void)
{
    struct osm_http_reply r;
    int t;

    cr_assert_eq(osm_http_call(sock, "GET", "/tid", NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    t = (int)json_integer_value(json_object_get(r.json, "tid"));
    osm_http_reply_clear(&r);
    return t;
}

/* A blocking request runs off the event threads, on a worker that the next one reuses. */
Test(http, blocking_workers_are_reused)
{
    int first = blocking_tid();

    cr_assert_neq(first, 0);
    cr_assert_neq(first, getpid());
    cr_assert_eq(blocking_tid(), first, "the idle worker took the second request");
}

/* A per-connection server gives every connection its own thread: handlers may always wait. */
Test(http_per_connection, handlers_may_wait_on_their_own_thread)
{
    struct osm_http_server_config cfg = {
        .routes = routes, .n_routes = ELEMENTSOF(routes), .per_connection = true};
    char d[] = "/tmp/osm-tpc-XXXXXX", path[128];
    int fd[OSM_HTTP_POOL_THREADS_MAX + 1];
    struct osm_http_server *s;

    cr_assert_not_null(mkdtemp(d));
    snprintf(path, sizeof(path), "%s/s.sock", d);
    cr_assert_eq(osm_http_server_start_unix(&cfg, path, 0600, &s), 0);
    for (size_t i = 0; i < ELEMENTSOF(fd); i++)
        fd[i] = raw_connect(path);
    for (size_t i = 0; i < ELEMENTSOF(fd); i++)
        cr_assert(raw_may_wait(fd[i]));
    for (size_t i = 0; i < ELEMENTSOF(fd); i++)
        close(fd[i]);
    osm_http_server_stop(s);
    rmdir(d);
}
