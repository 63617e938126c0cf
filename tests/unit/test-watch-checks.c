/* Health checks and watchers of osmoda-watch: every validation rule of checks.h (accepted and
 * refused), the engine against real sockets, a tiny HTTP server and real programs, and the
 * escalation ladder against a service backend that is a table in this file. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks-internal.h"
#include "common/timeutil.h"
#include "ipc/http_server.h"
#include "svc-internal.h"
#include "watchers.h"

/* ---- parsing ---- */

static struct check *parse_ok(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    struct check *c = NULL;
    char err[256] = "";

    cr_assert(j, "%s", text);
    cr_assert_eq(check_parse(j, &c, err, sizeof(err)), 0, "%s: %s", text, err);
    json_decref(j);
    return c;
}

static void parse_bad(const char *text, const char *field)
{
    json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);
    struct check *c = NULL;
    char err[256] = "";

    cr_assert(j, "%s", text);
    cr_assert_eq(check_parse(j, &c, err, sizeof(err)), -EINVAL, "%s was accepted", text);
    cr_assert_null(c);
    cr_assert_eq(strncmp(err, field, strlen(field)), 0, "%s: '%s' does not name %s", text, err,
                 field);
    json_decref(j);
}

Test(check_parse, accepts_each_type_and_gives_it_back)
{
    const char *ok[] = {
        "{\"type\":\"systemd_unit\",\"unit\":\"nginx@a-1_b.service\"}",
        "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":65535}",
        "{\"type\":\"http_get\",\"url\":\"https://example.org/health\",\"expect_status\":204}",
        "{\"type\":\"command\",\"cmd\":\"/usr/bin/test\",\"args\":[\"-e\",\"/tmp/x y\"]}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct check *c = parse_ok(ok[i]);
        json_t *want = json_loads(ok[i], 0, NULL), *got = check_json(c);

        cr_assert(json_equal(want, got), "%s", ok[i]);
        json_decref(want);
        json_decref(got);
        check_free(c);
    }
}

Test(check_parse, args_default_to_none_and_unknown_keys_are_ignored)
{
    struct check *c = parse_ok("{\"type\":\"command\",\"cmd\":\"/bin/true\",\"x\":1}");
    json_t *j = check_json(c);

    cr_assert_str_eq(check_type(c), "command");
    cr_assert_eq(json_array_size(json_object_get(j, "args")), 0);
    cr_assert_null(json_object_get(j, "x"));
    json_decref(j);
    check_free(c);
}

Test(check_parse, refuses_what_osmoda_refuses)
{
    parse_bad("[]", "check");
    parse_bad("{}", "type");
    parse_bad("{\"type\":\"ping\"}", "type");
    parse_bad("{\"type\":7}", "type");
    parse_bad("{\"type\":\"systemd_unit\"}", "unit");
    parse_bad("{\"type\":\"systemd_unit\",\"unit\":\"\"}", "unit");
    parse_bad("{\"type\":\"systemd_unit\",\"unit\":\"a b\"}", "unit");
    parse_bad("{\"type\":\"systemd_unit\",\"unit\":\"a;reboot\"}", "unit");
    parse_bad("{\"type\":\"systemd_unit\",\"unit\":\"a:b\"}", "unit");
    parse_bad("{\"type\":\"tcp_port\",\"port\":80}", "host");
    parse_bad("{\"type\":\"tcp_port\",\"host\":\"h\"}", "port");
    parse_bad("{\"type\":\"tcp_port\",\"host\":\"h\",\"port\":0}", "port");
    parse_bad("{\"type\":\"tcp_port\",\"host\":\"h\",\"port\":65536}", "port");
    parse_bad("{\"type\":\"tcp_port\",\"host\":\"h\",\"port\":\"80\"}", "port");
    parse_bad("{\"type\":\"tcp_port\",\"host\":\"a b\",\"port\":80}", "host");
    parse_bad("{\"type\":\"http_get\",\"url\":\"ftp://h/\",\"expect_status\":200}", "url");
    parse_bad("{\"type\":\"http_get\",\"url\":\"file:///etc/passwd\",\"expect_status\":200}",
              "url");
    parse_bad("{\"type\":\"http_get\",\"url\":\"http://\",\"expect_status\":200}", "url");
    parse_bad("{\"type\":\"http_get\",\"url\":\"http://h/\"}", "expect_status");
    parse_bad("{\"type\":\"http_get\",\"url\":\"http://h/\",\"expect_status\":99}",
              "expect_status");
    parse_bad("{\"type\":\"http_get\",\"url\":\"http://h/\",\"expect_status\":600}",
              "expect_status");
    parse_bad("{\"type\":\"command\"}", "cmd");
    parse_bad("{\"type\":\"command\",\"cmd\":\"true\"}", "cmd");
    parse_bad("{\"type\":\"command\",\"cmd\":\"/usr/../bin/true\"}", "cmd");
    parse_bad("{\"type\":\"command\",\"cmd\":\"/bin/\"}", "cmd");
    parse_bad("{\"type\":\"command\",\"cmd\":\"/bin/true\",\"args\":\"-x\"}", "args");
    parse_bad("{\"type\":\"command\",\"cmd\":\"/bin/true\",\"args\":[1]}", "args[0]");
}

Test(check_parse, refuses_every_shell_and_interpreter)
{
    const char *names[] = {"sh",  "bash",   "zsh",     "dash", "fish", "csh",  "tcsh",
                           "env", "python", "python3", "perl", "ruby", "node", "lua"};
    char text[256];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(text, sizeof(text), "{\"type\":\"command\",\"cmd\":\"/usr/bin/%s\"}", names[i]);
        parse_bad(text, "cmd");
    }
    struct check *c = parse_ok("{\"type\":\"command\",\"cmd\":\"/usr/bin/shx\"}");
    check_free(c);
}

Test(check_parse, refuses_every_shell_metacharacter_in_args)
{
    const char *bad[] = {"$", "`", "|", ";", "&",    "(",   ")",   "{",
                         "}", "<", ">", "!", "\\\\", "\\n", "\\r", "\\u0000"};
    char text[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"type\":\"command\",\"cmd\":\"/bin/echo\",\"args\":[\"ok\",\"a%sb\"]}", bad[i]);
        parse_bad(text, "args[1]");
    }
}

/* ---- a service backend that is a table ---- */

struct fake_svc {
    struct svc base;
    pthread_mutex_t lock;
    int up;       /* "web" is active */
    int restarts; /* of "web" */
    int slow_ms;  /* is_active of "slow" sleeps this long */
};

static int fake_is_active(struct svc *s, const char *unit)
{
    struct fake_svc *f = (struct fake_svc *)s;
    int r;

    if (strcmp(unit, "slow") == 0) {
        usleep((useconds_t)f->slow_ms * 1000);
        return 1;
    }
    if (strcmp(unit, "web") != 0)
        return -ENOENT;
    pthread_mutex_lock(&f->lock);
    r = f->up;
    pthread_mutex_unlock(&f->lock);
    return r;
}

static int fake_restart(struct svc *s, const char *unit)
{
    struct fake_svc *f = (struct fake_svc *)s;

    if (strcmp(unit, "web") != 0)
        return -ENOENT;
    pthread_mutex_lock(&f->lock);
    f->restarts++;
    f->up = 1;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static void fake_free(struct svc *s)
{
}

static const struct svc_ops fake_ops = {
    .restart = fake_restart, .is_active = fake_is_active, .free = fake_free};

static struct fake_svc fake = {.base = {.ops = &fake_ops, .kind = SVC_BACKEND_PROCESS},
                               .lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the engine ---- */

struct result {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done, ok;
    int calls;
    char detail[CHECK_DETAIL_MAX];
};

static void on_done(void *userdata, bool ok, const char *detail)
{
    struct result *r = userdata;

    pthread_mutex_lock(&r->lock);
    r->done = true;
    r->calls++;
    r->ok = ok;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Runs one check to its end: ok, and its detail in detail. */
static bool run_one(struct checks *e, const char *text, char *detail)
{
    struct check *c = parse_ok(text);
    struct result r = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

    cr_assert_eq(checks_start(e, c, on_done, &r), 0);
    pthread_mutex_lock(&r.lock);
    while (!r.done)
        pthread_cond_wait(&r.cond, &r.lock);
    pthread_mutex_unlock(&r.lock);
    check_free(c);
    strcpy(detail, r.detail);
    return r.ok;
}

static struct checks *engine(void)
{
    struct checks *e = NULL;

    cr_assert_eq(checks_new(&fake.base, &e), 0);
    return e;
}

static int listener(int *ret_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 512), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

Test(checks_engine, tcp_to_a_listening_and_a_closed_port)
{
    struct checks *e = engine();
    char text[256], detail[CHECK_DETAIL_MAX];
    int port, fd = listener(&port);

    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}",
             port);
    cr_assert(run_one(e, text, detail), "%s", detail);
    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"localhost\",\"port\":%d}",
             port);
    cr_assert(run_one(e, text, detail), "a name: %s", detail);
    close(fd);
    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}",
             port);
    cr_assert_not(run_one(e, text, detail));
    cr_assert(strstr(detail, "refused"), "%s", detail);
    cr_assert_not(run_one(e,
                          "{\"type\":\"tcp_port\",\"host\":\"no-such-host.invalid\","
                          "\"port\":80}",
                          detail));
    cr_assert(strstr(detail, "resolve"), "%s", detail);
    checks_free(e);
}

/* A listener whose accept queue is full: a SYN to it is dropped, so a connect stays in progress
 * (the engine's epoll path) until the queue has room and the SYN is sent again. */
static int full_listener(int *ret_port, int *ret_queued)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), q;

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 0), 0); /* room for one */
    getsockname(fd, (struct sockaddr *)&a, &len);
    q = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(q, (struct sockaddr *)&a, sizeof(a)), 0);
    *ret_port = ntohs(a.sin_port);
    *ret_queued = q;
    return fd;
}

/* A socket of this host sending SYNs to port and not answered (SYN_SENT in /proc/net/tcp). */
static bool syn_sent_to(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    unsigned rport, state;
    bool found = false;

    cr_assert(f);
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, " %*d: %*x:%*x %*x:%x %x", &rport, &state) == 2 &&
                rport == (unsigned)port && state == 0x02;
    fclose(f);
    return found;
}

/* A local probe leaves its socket to the next (connect to AF_UNSPEC): a probe on such a socket
 * that does not complete at once sees neither the reset of the last connection nor its error. */
Test(checks_engine, tcp_handshake_that_does_not_complete_at_once)
{
    struct checks *e = engine();
    struct result r = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    char ok[256], text[256], detail[CHECK_DETAIL_MAX];
    int okport, okfd = listener(&okport), port, queued, fd = full_listener(&port, &queued), c;
    struct check *chk;

    snprintf(ok, sizeof(ok), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}", okport);
    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}",
             port);
    cr_assert(run_one(e, ok, detail), "%s", detail);
    e->timeout_ms[CHECK_TCP_PORT] = 300;
    cr_assert_not(run_one(e, text, detail));
    cr_assert_str_eq(detail, "timed out after 300 ms");
    cr_assert_not(syn_sent_to(port), "the timed-out socket is closed");
    /* in progress until the queue has room: then the SYN sent again connects */
    cr_assert(run_one(e, ok, detail), "%s", detail);
    e->timeout_ms[CHECK_TCP_PORT] = 20000;
    chk = parse_ok(text);
    cr_assert_eq(checks_start(e, chk, on_done, &r), 0);
    while (!syn_sent_to(port))
        usleep(10000);
    cr_assert((c = accept(fd, NULL, NULL)) >= 0);
    pthread_mutex_lock(&r.lock);
    while (!r.done)
        pthread_cond_wait(&r.cond, &r.lock);
    pthread_mutex_unlock(&r.lock);
    cr_assert(r.ok, "%s", r.detail);
    cr_assert_str_eq(r.detail, "connected");
    /* and the spare still serves a local probe */
    cr_assert(run_one(e, ok, detail), "%s", detail);
    check_free(chk);
    close(c);
    close(queued);
    close(fd);
    close(okfd);
    checks_free(e);
}

Test(checks_engine, command_exit_status_and_time_out)
{
    struct checks *e = engine();
    char detail[CHECK_DETAIL_MAX];

    cr_assert(run_one(e, "{\"type\":\"command\",\"cmd\":\"/bin/true\"}", detail), "%s", detail);
    cr_assert_not(run_one(e, "{\"type\":\"command\",\"cmd\":\"/bin/false\"}", detail));
    cr_assert_str_eq(detail, "exit 1");
    cr_assert_not(run_one(e, "{\"type\":\"command\",\"cmd\":\"/no/such/program\"}", detail));
    e->timeout_ms[CHECK_COMMAND] = 300;
    cr_assert_not(
        run_one(e, "{\"type\":\"command\",\"cmd\":\"/bin/sleep\",\"args\":[\"60\"]}", detail));
    cr_assert_str_eq(detail, "timed out after 300 ms");
    checks_free(e);
}

/* A tiny HTTP server: GET /ok answers 200, anything else 500. */
static void *http_serve(void *arg)
{
    int lfd = *(int *)arg;
    char buf[2048];

    for (;;) {
        int c = accept(lfd, NULL, NULL);
        ssize_t n;
        const char *ans;

        if (c < 0)
            return NULL;
        n = read(c, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        ans = strncmp(buf, "GET /ok ", 8) == 0
                  ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                  : "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops";
        (void)!write(c, ans, strlen(ans));
        close(c);
    }
}

Test(checks_engine, http_status_against_expect_status)
{
    struct checks *e = engine();
    char text[256], detail[CHECK_DETAIL_MAX];
    int port, fd = listener(&port);
    pthread_t t;

    pthread_create(&t, NULL, http_serve, &fd);
    snprintf(text, sizeof(text),
             "{\"type\":\"http_get\",\"url\":\"http://127.0.0.1:%d/ok\",\"expect_status\":200}",
             port);
    cr_assert(run_one(e, text, detail), "%s", detail);
    cr_assert_str_eq(detail, "status 200");
    snprintf(text, sizeof(text),
             "{\"type\":\"http_get\",\"url\":\"http://127.0.0.1:%d/bad\",\"expect_status\":200}",
             port);
    cr_assert_not(run_one(e, text, detail));
    cr_assert_str_eq(detail, "status 500");
    snprintf(text, sizeof(text),
             "{\"type\":\"http_get\",\"url\":\"http://127.0.0.1:%d/bad\",\"expect_status\":500}",
             port);
    cr_assert(run_one(e, text, detail), "%s", detail);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    pthread_join(t, NULL);
    cr_assert_not(run_one(e, text, detail)); /* nobody listens now */
    checks_free(e);
}

Test(checks_engine, systemd_unit_through_the_backend_on_a_worker)
{
    struct checks *e = engine();
    char detail[CHECK_DETAIL_MAX];

    fake.up = 1;
    cr_assert(run_one(e, "{\"type\":\"systemd_unit\",\"unit\":\"web\"}", detail), "%s", detail);
    fake.up = 0;
    cr_assert_not(run_one(e, "{\"type\":\"systemd_unit\",\"unit\":\"web\"}", detail));
    cr_assert_not(run_one(e, "{\"type\":\"systemd_unit\",\"unit\":\"other\"}", detail));
    cr_assert(strstr(detail, "no unit"), "%s", detail);
    e->timeout_ms[CHECK_SYSTEMD_UNIT] = 100;
    fake.slow_ms = 1000;
    cr_assert_not(run_one(e, "{\"type\":\"systemd_unit\",\"unit\":\"slow\"}", detail));
    cr_assert_str_eq(detail, "timed out after 100 ms");
    checks_free(e); /* waits for the worker still in the slow call */
}

Test(checks_engine, many_at_once_each_with_its_result)
{
    enum { N = 60 };
    struct checks *e = engine();
    struct check *cs[3 * N];
    char text[256], detail[CHECK_DETAIL_MAX];
    int port, fd = listener(&port);

    e->timeout_ms[CHECK_COMMAND] = 500;
    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}",
             port);
    for (int i = 0; i < N; i++) {
        cs[i] = parse_ok(text);
        cs[N + i] = parse_ok("{\"type\":\"command\",\"cmd\":\"/bin/true\"}");
        cs[2 * N + i] = parse_ok("{\"type\":\"command\",\"cmd\":\"/bin/sleep\",\"args\":[\"60\"]}");
    }
    cr_assert(checks_run_all(e, cs, 2 * N, detail, sizeof(detail)), "%s", detail);
    /* the sleepers all time out together: one time-out, not N of them in a row */
    cr_assert_not(checks_run_all(e, cs, 3 * N, detail, sizeof(detail)));
    snprintf(text, sizeof(text), "check %d (command): timed out after 500 ms", 2 * N);
    cr_assert_str_eq(detail, text);
    for (int i = 0; i < 3 * N; i++)
        check_free(cs[i]);
    close(fd);
    checks_free(e);
}

Test(checks_engine, a_burst_started_at_once_each_with_its_own_result)
{
    struct checks *e = engine();
    struct result r[3];
    struct check *c[3];
    struct check_start s[3];
    char text[256];
    int port, fd = listener(&port);

    snprintf(text, sizeof(text), "{\"type\":\"tcp_port\",\"host\":\"127.0.0.1\",\"port\":%d}",
             port);
    c[0] = parse_ok(text);
    c[1] = parse_ok("{\"type\":\"command\",\"cmd\":\"/bin/false\"}");
    c[2] = parse_ok("{\"type\":\"command\",\"cmd\":\"/bin/true\"}");
    for (int i = 0; i < 3; i++) {
        r[i] = (struct result){.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
        s[i] = (struct check_start){c[i], &r[i]};
    }
    /* a burst with a hole is refused whole */
    s[1].check = NULL;
    cr_assert_eq(checks_start_many(e, s, 3, on_done), -EINVAL);
    s[1].check = c[1];
    cr_assert_eq(checks_start_many(e, s, 0, on_done), 0);
    cr_assert_eq(checks_start_many(e, s, 3, on_done), 0);
    for (int i = 0; i < 3; i++) {
        pthread_mutex_lock(&r[i].lock);
        while (!r[i].done)
            pthread_cond_wait(&r[i].cond, &r[i].lock);
        pthread_mutex_unlock(&r[i].lock);
        cr_assert_eq(r[i].ok, i != 1, "check %d: %s", i, r[i].detail);
    }
    cr_assert_str_eq(r[1].detail, "exit 1");
    checks_free(e);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r[i].calls, 1, "check %d: done %d times", i, r[i].calls);
        check_free(c[i]);
    }
    close(fd);
}

Test(checks_engine, run_all_of_none_passes)
{
    struct checks *e = engine();
    char detail[64] = "";

    cr_assert(checks_run_all(e, NULL, 0, detail, sizeof(detail)));
    checks_free(e);
}

/* ---- the ladder ---- */

struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *events; /* [[type, payload], ...] */
};

static int record(void *ctx, const char *type, const json_t *payload)
{
    struct recorder *r = ctx;

    pthread_mutex_lock(&r->lock);
    json_array_append_new(r->events, json_pack("[s, O]", type, payload));
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static size_t count(struct recorder *r, const char *type)
{
    size_t i, n = 0;
    json_t *e;

    json_array_foreach(r->events, i,
                       e) if (strcmp(json_string_value(json_array_get(e, 0)), type) == 0) n++;
    return n;
}

/* Waits until type has been recorded n times; false after a generous bound. */
static bool await(struct recorder *r, const char *type, size_t n)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&r->lock);
    while (count(r, type) < n)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0)
            break;
    ok = count(r, type) >= n;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static json_t *add(struct watch *w, const char *body)
{
    struct osm_request req = {.method = "POST", .userdata = w, .status = 200};
    json_t *ans;

    req.body = json_loads(body, 0, NULL);
    ans = watchers_route_add(&req);
    json_decref(req.body);
    cr_assert_eq(req.status, 200, "%s", json_dumps(ans, 0));
    return ans;
}

Test(watchers, restart_brings_back_a_service_that_went_down)
{
    struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, json_array()};
    char dir[] = "/tmp/test-watchers-XXXXXX";
    struct watch w = {.data_dir = mkdtemp(dir),
                      .check_interval_s = 1,
                      .events = {record, &rec},
                      .svc = &fake.base};
    json_t *ans;

    fake.up = 0;
    fake.restarts = 0;
    cr_assert_eq(checks_new(&fake.base, &w.checks), 0);
    cr_assert_eq(watchers_open(&w, &w.watchers), 0);
    ans = add(&w, "{\"name\":\"web\",\"check\":{\"type\":\"systemd_unit\",\"unit\":\"web\"},"
                  "\"actions\":[{\"type\":\"restart_service\",\"unit\":\"web\"},"
                  "{\"type\":\"notify\",\"message\":\"web\"}]}");
    json_decref(ans);
    cr_assert(await(&rec, "watch.recovered", 1));
    cr_assert_eq(fake.restarts, 1);
    cr_assert_eq(count(&rec, "watch.escalation"), 1);
    cr_assert_eq(count(&rec, "service.restart"), 1);
    cr_assert_eq(count(&rec, "watch.check.failed"), 1);
    /* recorded in order: add, failed, escalation, restart, result, recovered */
    const char *order[] = {"watcher.add",     "watch.check.failed",  "watch.escalation",
                           "service.restart", "watch.action.result", "watch.recovered"};
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(json_string_value(json_array_get(json_array_get(rec.events, i), 0)),
                         order[i]);
    watchers_free(w.watchers);
    checks_free(w.checks);
    json_decref(rec.events);
    char path[64];
    snprintf(path, sizeof(path), "%s/watchers.json", dir);
    unlink(path);
    rmdir(dir);
}

Test(watchers, a_failing_check_moves_up_the_ladder_never_repeating_a_step)
{
    struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, json_array()};
    char dir[] = "/tmp/test-watchers-XXXXXX";
    struct watch w = {.data_dir = mkdtemp(dir),
                      .check_interval_s = 1,
                      .events = {record, &rec},
                      .svc = &fake.base};
    const char *want[] = {"restart_service", "rollback_generation"};
    size_t i, k = 0;
    json_t *e;

    cr_assert_eq(checks_new(&fake.base, &w.checks), 0);
    cr_assert_eq(watchers_open(&w, &w.watchers), 0);
    json_decref(add(&w, "{\"name\":\"x\",\"check\":{\"type\":\"command\",\"cmd\":\"/bin/false\"},"
                        "\"actions\":[{\"type\":\"restart_service\",\"unit\":\"gone\"},"
                        "{\"type\":\"rollback_generation\"}]}"));
    cr_assert(await(&rec, "watch.exhausted", 1));
    cr_assert_eq(count(&rec, "watch.escalation"), 2);
    json_array_foreach(rec.events, i, e)
    {
        json_t *p = json_array_get(e, 1);

        if (strcmp(json_string_value(json_array_get(e, 0)), "watch.escalation") == 0)
            cr_assert_str_eq(json_string_value(json_object_get(p, "action")), want[k++]);
    }
    watchers_free(w.watchers);
    checks_free(w.checks);
    json_decref(rec.events);
    char path[64];
    snprintf(path, sizeof(path), "%s/watchers.json", dir);
    unlink(path);
    rmdir(dir);
}
