/* daemons/egress/resolve.c and hosts.c: the hosts file wins over DNS, literals and hosts-file
 * names are answered without a thread, every accepted lookup is answered exactly once, a full
 * queue says -EAGAIN, a bad reload keeps the old file, the eventfd wakes a poll. No DNS server
 * is reachable here, so other names must fail quickly rather than hang (a hang is caught by
 * the suite's timeout; Criterion's own .timeout leaks under LeakSanitizer). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts.h"
#include "resolve-backend.h"
#include "resolve.h"

static char dir[] = "/tmp/test-egress-resolve-XXXXXX";
static char hosts_path[128];

static void write_hosts(const char *text)
{
    char tmp[160];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", hosts_path);
    f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, hosts_path), 0);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(hosts_path, sizeof(hosts_path), "%s/hosts", dir);
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    return inet_ntop(ss->ss_family, a, buf, (socklen_t)len);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static struct resolver *new_resolver(const char *hosts, unsigned threads)
{
    struct resolver *r = NULL;
    char err[256];

    if (hosts)
        write_hosts(hosts);
    cr_assert_eq(resolver_new(hosts ? hosts_path : NULL, threads, &r, err, sizeof(err)), 0, "%s",
                 err);
    return r;
}

static void expect_addrs(const struct resolve_result *res, const char *const *want, size_t n,
                         uint16_t port)
{
    char buf[INET6_ADDRSTRLEN];

    cr_assert_eq(res->error, 0, "error %d", res->error);
    cr_assert_eq(res->n, n);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(addr_text(&res->addrs[i], buf, sizeof(buf)), want[i]);
        cr_expect_eq(port_of(&res->addrs[i]), port);
    }
}

Test(resolve, hosts_file_wins_over_dns, .init = setup, .fini = teardown)
{
    struct resolver *r = new_resolver("# the tests' resolver\n"
                                      "10.9.9.9\tlocalhost  # /etc/hosts says 127.0.0.1\n"
                                      "\n"
                                      "192.0.2.1 Allowed.Test. alias.test\n"
                                      "2001:db8::1 allowed.test\n"
                                      "192.0.2.1 allowed.test\n"
                                      "192.0.2.2 allowed.test\n",
                                      1);
    struct resolve_result res;
    const char *const local[] = {"10.9.9.9"};
    const char *const allowed[] = {"192.0.2.1", "2001:db8::1", "192.0.2.2"};
    const char *const alias[] = {"192.0.2.1"};

    cr_expect_eq(resolver_lookup(r, "localhost", 80, &res), 0);
    expect_addrs(&res, local, 1, 80);
    cr_expect_eq(resolver_lookup(r, "allowed.test", 443, &res), 0);
    expect_addrs(&res, allowed, 3, 443); /* file order, the duplicate dropped */
    cr_expect_eq(resolver_lookup(r, "alias.test", 8443, &res), 0);
    expect_addrs(&res, alias, 1, 8443);
    resolver_free(r);
}

Test(resolve, literals)
{
    struct resolver *r = NULL;
    struct resolve_result res;
    const char *const v4[] = {"127.0.0.1"}, *const v6[] = {"::ffff:10.0.0.1"};

    cr_assert_eq(resolver_new(NULL, 1, &r, NULL, 0), 0);
    cr_expect_eq(resolver_lookup(r, "127.0.0.1", 22, &res), 0);
    expect_addrs(&res, v4, 1, 22);
    cr_expect_eq(resolver_lookup(r, "::ffff:10.0.0.1", 23, &res), 0);
    expect_addrs(&res, v6, 1, 23);
    cr_expect_eq(resolver_lookup(r, "", 23, &res), -EINVAL);
    resolver_free(r);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

struct answers {
    int count[64];
    struct resolve_result last[64];
    size_t total;
};

static void collect(const struct resolve_result *res, void *ud)
{
    struct answers *a = ud;
    size_t i = (size_t)(uintptr_t)res->cookie;

    cr_assert_lt(i, 64);
    a->count[i]++;
    a->last[i] = *res;
    a->total++;
}

Test(resolve, answered_without_a_thread, .init = setup, .fini = teardown)
{
    struct resolver *r = new_resolver("192.0.2.7 pinned.test\n", 1);
    struct answers a = {0};

    cr_expect(!readable(resolver_fd(r), 0));
    cr_assert_eq(resolver_submit(r, "192.0.2.9", 443, (void *)(uintptr_t)1), 0);
    cr_assert_eq(resolver_submit(r, "pinned.test", 443, (void *)(uintptr_t)2), 0);
    /* readable right away: the answers were ready when submit returned */
    cr_expect(readable(resolver_fd(r), 0));
    resolver_drain(r, collect, &a);
    cr_expect_eq(a.count[1], 1);
    cr_expect_eq(a.count[2], 1);
    cr_expect_eq(a.last[2].n, 1);
    cr_expect(!readable(resolver_fd(r), 0), "drained: the eventfd is reset");
    resolver_free(r);
}

Test(resolve, every_cookie_answered_once, .init = setup, .fini = teardown)
{
    struct resolver *r = new_resolver("192.0.2.7 pinned.test\n", 2);
    static const char *const names[] = {"pinned.test", "192.0.2.1", "nonexistent.invalid",
                                        "also-missing.invalid", "::1"};
    struct answers a = {0};
    size_t n = 20; /* a few real DNS queries: they fail, quickly unless the server is flooded */

    for (size_t i = 0; i < n; i++)
        cr_assert_eq(resolver_submit(r, names[i % 5], 443, (void *)(uintptr_t)i), 0);
    while (a.total < n) {
        cr_assert(readable(resolver_fd(r), 20000), "no wake with %zu of %zu answered", a.total, n);
        resolver_drain(r, collect, &a);
    }
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(a.count[i], 1, "cookie %zu answered %d times", i, a.count[i]);
        if (i % 5 >= 2 && i % 5 <= 3)
            cr_expect(a.last[i].error == -ENOENT || a.last[i].error == -EAGAIN,
                      "a name nobody knows: %d", a.last[i].error);
        else
            cr_expect_eq(a.last[i].error, 0);
    }
    cr_expect(!readable(resolver_fd(r), 0));
    resolver_free(r);
}

Test(resolve, unknown_names_fail_quickly)
{
    struct resolver *r = NULL;
    struct resolve_result res;
    int e;

    cr_assert_eq(resolver_new(NULL, 1, &r, NULL, 0), 0);
    e = resolver_lookup(r, "nonexistent.invalid", 443, &res);
    cr_expect(e == -ENOENT || e == -EAGAIN, "got %d", e);
    cr_expect_eq(res.n, 0);
    resolver_free(r);
}

/* A lookup that blocks until the test releases it: the one stand-in of these tests, since a DNS
 * server cannot be made slow on purpose (and must not be flooded to fill the queue). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_entered;
static bool gate_open;

static int gated_lookup(const char *host, const struct addrinfo *hints, struct addrinfo **ret)
{
    pthread_mutex_lock(&gate_lock);
    gate_entered++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    *ret = NULL;
    return EAI_NONAME;
}

static void gate_wait_entered(int n)
{
    pthread_mutex_lock(&gate_lock);
    while (gate_entered < n)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static void count_only_or_literal(const struct resolve_result *res, void *ud)
{
    cr_expect_eq(res->error, res->cookie ? 0 : -ENOENT);
    (*(size_t *)ud)++;
}

/* One thread, held inside its lookup: RESOLVE_QUEUE_MAX more lookups wait, the next is refused
 * with -EAGAIN (a literal is still answered: it needs no thread); once released, every
 * accepted lookup is answered once. */
Test(resolve, full_queue)
{
    struct resolver *r = NULL;
    size_t answered = 0, literal = 0;
    char name[64];

    cr_assert_eq(resolver_new(NULL, 1, &r, NULL, 0), 0);
    resolver_set_lookup_fn(r, gated_lookup);
    cr_assert_eq(resolver_submit(r, "first.test", 443, NULL), 0);
    gate_wait_entered(1);
    for (size_t i = 0; i < RESOLVE_QUEUE_MAX; i++) {
        snprintf(name, sizeof(name), "n%zu.test", i);
        cr_assert_eq(resolver_submit(r, name, 443, NULL), 0, "lookup %zu refused", i);
    }
    cr_expect_eq(resolver_submit(r, "one-more.test", 443, NULL), -EAGAIN);
    cr_expect_eq(resolver_submit(r, "one-more.test", 443, NULL), -EAGAIN);
    cr_expect_eq(resolver_submit(r, "192.0.2.1", 443, &literal), 0);
    gate_release();
    while (answered < RESOLVE_QUEUE_MAX + 2) {
        cr_assert(readable(resolver_fd(r), 30000));
        resolver_drain(r, count_only_or_literal, &answered);
    }
    cr_expect_eq(answered, RESOLVE_QUEUE_MAX + 2);
    cr_expect(!readable(resolver_fd(r), 0));
    resolver_free(r);
}

Test(resolve, free_with_lookups_pending)
{
    struct resolver *r = NULL;

    cr_assert_eq(resolver_new(NULL, 2, &r, NULL, 0), 0);
    resolver_set_lookup_fn(r, gated_lookup);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(resolver_submit(r, i % 2 ? "x.test" : "10.0.0.1", 80, NULL), 0);
    gate_wait_entered(2);
    gate_release();
    resolver_free(r); /* drops what waits; leaks or a hang are the failure */
}

Test(resolve, reload_keeps_the_old_file_on_error, .init = setup, .fini = teardown)
{
    struct resolver *r = new_resolver("192.0.2.1 a.test\n", 1);
    struct resolve_result res;
    const char *const one[] = {"192.0.2.1"}, *const two[] = {"192.0.2.2"};
    char err[256];

    write_hosts("192.0.2.2 a.test\nnot-an-address b.test\n");
    cr_expect_eq(resolver_reload(r, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, hosts_path) && strstr(err, "line 2"), "%s", err);
    cr_expect_eq(resolver_lookup(r, "a.test", 443, &res), 0);
    expect_addrs(&res, one, 1, 443);

    cr_assert_eq(unlink(hosts_path), 0);
    cr_expect_eq(resolver_reload(r, err, sizeof(err)), -ENOENT);
    cr_expect_eq(resolver_lookup(r, "a.test", 443, &res), 0);
    expect_addrs(&res, one, 1, 443);

    write_hosts("192.0.2.2 a.test\n");
    cr_expect_eq(resolver_reload(r, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(resolver_lookup(r, "a.test", 443, &res), 0);
    expect_addrs(&res, two, 1, 443);
    resolver_free(r);
}

static void hosts_refused(const char *text, const char *want)
{
    struct hosts *h = NULL;
    char err[256] = "";

    cr_expect_eq(hosts_parse(text, strlen(text), &h, err, sizeof(err)), -EINVAL, "accepted %s",
                 text);
    cr_expect(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
    hosts_free(h);
}

Test(resolve, bad_hosts_files, .init = setup, .fini = teardown)
{
    struct resolver *r = NULL;
    char err[256];

    hosts_refused("10.0.0.1\n", "line 1: an address without a name");
    hosts_refused("10.0.0.1 ok.test\n300.0.0.1 x.test\n", "line 2");
    hosts_refused("10.0.0.1 bad_name.test\n", "line 1");
    hosts_refused("10.0.0.1 10.0.0.2\n", "line 1");
    hosts_refused("fe80::1%lo x.test\n", "line 1");
    hosts_refused("10.0.0.1 x.test\n\n10.0.0.1 *.test\n", "line 3");
    const char nul[] = "10.0.0.1 x\0.test\n";
    struct hosts *h = NULL;
    cr_expect_eq(hosts_parse(nul, sizeof(nul) - 1, &h, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "NUL"), "%s", err);
    write_hosts("10.0.0.1 ok.test\nbroken\n");
    cr_expect_eq(resolver_new(hosts_path, 1, &r, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "line 2"), "%s", err);
    cr_expect_eq(resolver_new("/nonexistent/hosts", 1, &r, err, sizeof(err)), -ENOENT);
}

Test(resolve, hosts_find)
{
    const char *text = "192.0.2.1 b.test\n192.0.2.2 a.test b.test c.test\n::1 b.test\n";
    struct sockaddr_storage addrs[2];
    struct hosts *h = NULL;
    size_t n = 9;

    cr_assert_eq(hosts_parse(text, strlen(text), &h, NULL, 0), 0);
    cr_expect(hosts_find(h, "b.test", addrs, 2, &n));
    cr_expect_eq(n, 2, "capped at max");
    cr_expect(hosts_find(h, "c.test", addrs, 2, &n));
    cr_expect_eq(n, 1);
    cr_expect(!hosts_find(h, "d.test", addrs, 2, &n));
    cr_expect(!hosts_find(h, "0.test", addrs, 2, &n));
    cr_expect(!hosts_find(NULL, "a.test", addrs, 2, &n));
    hosts_free(h);
}
