/* daemons/egress/http*.c: request heads (CONNECT, absolute http:// targets, the refusals a
 * smuggler or a confused client meets), incremental feeding at every split point, response
 * heads and where their bodies end, the chunked decoder at every split, and the head sent
 * upstream without hop-by-hop headers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"

static ssize_t req(const char *s, struct http_request *r)
{
    return http_parse_request(s, strlen(s), r);
}

static void req_fails(const char *s, ssize_t want)
{
    struct http_request r;
    ssize_t got = req(s, &r);

    cr_expect_eq(got, want, "%s: got %zd, want %zd", s, got, want);
}

Test(http_request, connect)
{
    struct http_request r;
    const char *s = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                    "User-Agent: curl\r\n\r\n";

    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect(r.is_connect);
    cr_expect_str_eq(r.method, "CONNECT");
    cr_expect_str_eq(r.host, "example.com");
    cr_expect_eq(r.port, 443);
    cr_expect_eq(r.minor, 1);
    cr_expect_eq(r.n_headers, 2);
    cr_expect_eq(r.content_length, -1);
    cr_expect(r.keep_alive);

    s = "CONNECT [::1]:8443 HTTP/1.0\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect_str_eq(r.host, "[::1]");
    cr_expect_eq(r.port, 8443);
    cr_expect_eq(r.minor, 0);
    cr_expect(!r.keep_alive);

    s = "CONNECT 10.0.0.5:22 HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s), "a Host without port takes CONNECT's");
    cr_expect_str_eq(r.host, "10.0.0.5");

    req_fails("CONNECT example.com HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT example.com: HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT example.com:0 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT example.com:+443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT example.com:443/x HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT ::1:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT [::1%25lo]:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT []:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT :443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443 HTTP/1.1\r\nHost: b.com:443\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:444\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -EINVAL);
}

Test(http_request, absolute_targets)
{
    struct http_request r;
    const char *s = "GET http://Example.com/a/b?c=d HTTP/1.1\r\nHost: example.COM\r\n"
                    "Accept: */*\r\n\r\n";

    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect(!r.is_connect);
    cr_expect_str_eq(r.host, "Example.com");
    cr_expect_eq(r.port, 80);
    cr_expect_eq(r.path_len, strlen("/a/b?c=d"));
    cr_expect(strncmp(r.path, "/a/b?c=d", r.path_len) == 0);

    s = "POST http://example.com:8080 HTTP/1.1\r\nHost: example.com:8080\r\n"
        "Content-Length: 12\r\nExpect: 100-continue\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect_eq(r.port, 8080);
    cr_expect_eq(r.path_len, 1);
    cr_expect_eq(r.path[0], '/');
    cr_expect_eq(r.content_length, 12);
    cr_expect(r.expect_continue);

    s = "GET HTTP://[2001:db8::1]:81/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect_str_eq(r.host, "[2001:db8::1]");
    cr_expect_eq(r.port, 81);
    cr_expect(r.keep_alive, "1.0 with keep-alive");

    s = "GET http://a.com/ HTTP/1.1\r\nConnection: close\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect(!r.keep_alive);

    s = "POST http://a.com/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    cr_assert_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect(r.chunked);

    req_fails("GET /index.html HTTP/1.1\r\nHost: a.com\r\n\r\n", -ENOTSUP);
    req_fails("OPTIONS * HTTP/1.1\r\n\r\n", -ENOTSUP);
    req_fails("GET https://a.com/ HTTP/1.1\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("GET ftp://a.com/ HTTP/1.1\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("GET a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http:///x HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://u:p@a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com:/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/#frag HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a%2ecom/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.1\r\nHost: b.com\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.1\r\nHost: a.com:8080\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com:8080/ HTTP/1.1\r\nHost: a.com\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nHost: a.com\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.1\r\nHost:\r\n\r\n", -EINVAL);
    req_fails("PRI http://a.com/ HTTP/1.1\r\n\r\n", -ENOTSUP);
}

Test(http_request, request_line_refusals)
{
    req_fails("GET http://a.com/ HTTP/2.0\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("GET http://a.com/ HTTP/1.2\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("GET http://a.com/ HTTP/0.9\r\n\r\n", -EPROTONOSUPPORT);
    req_fails("GET http://a.com/ HTTP/1.1 \r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ http/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/11\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/\r\n\r\n", -EINVAL);
    req_fails("GET  http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails(" GET http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("G(T http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("VERYLONGMETHODNAME http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET\thttp://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/\xff HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("\r\nGET http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", -EINVAL); /* a TLS hello */
    /* garbage is refused as soon as its line ends, without waiting for the rest */
    req_fails("GARBAGE\r\n", -EINVAL);
    req_fails("GET / HTTP/1.1\r\nHost: a", -ENOTSUP);
}

Test(http_request, header_refusals)
{
#define H(x) "GET http://a.com/ HTTP/1.1\r\n" x "\r\n"
    req_fails(H("Host: a.com\nX: y\r\n"), -EINVAL);       /* bare LF */
    req_fails(H("X: a\rb\r\n"), -EINVAL);                 /* bare CR */
    req_fails("GET http://a.com/ HTTP/1.1\n\n", -EINVAL); /* LF-only head */
    req_fails(H("X : y\r\n"), -EINVAL);                   /* space before colon */
    req_fails(H("X\t: y\r\n"), -EINVAL);                  /* tab before colon */
    req_fails(H("X: y\r\n folded\r\n"), -EINVAL);         /* obs-fold */
    req_fails(H("X: y\r\n\tfolded\r\n"), -EINVAL);        /* obs-fold */
    req_fails(H(": y\r\n"), -EINVAL);                     /* no name */
    req_fails(H("X y\r\n"), -EINVAL);                     /* no colon */
    req_fails(H("X: a\x01z\r\n"), -EINVAL);               /* control byte */
    req_fails(H("X: a\x7fz\r\n"), -EINVAL);               /* DEL */
    req_fails(H("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), -EINVAL);
    req_fails(H("Content-Length: 5\r\nContent-Length: 6\r\n"), -EINVAL);
    req_fails(H("Content-Length: 5, 6\r\n"), -EINVAL);
    req_fails(H("Content-Length: -1\r\n"), -EINVAL);
    req_fails(H("Content-Length: +5\r\n"), -EINVAL);
    req_fails(H("Content-Length: 0x10\r\n"), -EINVAL);
    req_fails(H("Content-Length: \r\n"), -EINVAL);
    req_fails(H("Content-Length: 99999999999999999999\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: gzip\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: chunked, gzip\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: chunked, chunked\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: xchunked\r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: \r\n"), -EINVAL);
    req_fails(H("Transfer-Encoding: chunked;x=1\r\n"), -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EINVAL);
#undef H
    struct http_request r;
    const char *same =
        "POST http://a.com/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
    cr_expect_eq(req(same, &r), (ssize_t)strlen(same), "identical Content-Length values agree");
    cr_expect_eq(r.content_length, 5);
}

Test(http_request, nul_byte)
{
    struct http_request r;
    const char s[] = "GET http://a.com/ HTTP/1.1\r\nX: a\0b\r\n\r\n";

    cr_expect_eq(http_parse_request(s, sizeof(s) - 1, &r), -EINVAL);
}

Test(http_request, sizes)
{
    struct http_request r;
    size_t cap = HTTP_HEAD_MAX + 64;
    char *big = malloc(cap);
    size_t n;

    /* a head over HTTP_HEAD_MAX without its end: -E2BIG at HTTP_HEAD_MAX bytes */
    n = (size_t)snprintf(big, cap, "GET http://a.com/ HTTP/1.1\r\nX: ");
    memset(big + n, 'a', cap - n);
    cr_expect_eq(http_parse_request(big, HTTP_HEAD_MAX - 1, &r), 0);
    cr_expect_eq(http_parse_request(big, HTTP_HEAD_MAX, &r), -E2BIG);
    cr_expect_eq(http_parse_request(big, cap, &r), -E2BIG);
    /* a head ending just past the cap */
    memcpy(big + HTTP_HEAD_MAX - 2, "\r\n\r\n", 4);
    cr_expect_eq(http_parse_request(big, HTTP_HEAD_MAX + 2, &r), -E2BIG);
    /* one ending exactly at the cap is fine */
    memcpy(big + HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    cr_expect_eq(http_parse_request(big, HTTP_HEAD_MAX + 2, &r), HTTP_HEAD_MAX);
    /* HTTP_HEADERS_MAX headers are fine, one more is -E2BIG */
    n = (size_t)snprintf(big, cap, "GET http://a.com/ HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_HEADERS_MAX; i++)
        n += (size_t)snprintf(big + n, cap - n, "X%d: y\r\n", i);
    memcpy(big + n, "\r\n", 3);
    cr_expect_eq(http_parse_request(big, n + 2, &r), (ssize_t)(n + 2));
    cr_expect_eq(r.n_headers, HTTP_HEADERS_MAX);
    n += (size_t)snprintf(big + n, cap - n, "Xlast: y\r\n\r\n");
    cr_expect_eq(http_parse_request(big, n, &r), -E2BIG);
    cr_expect_eq(http_parse_request(big, n - 2, &r), -E2BIG, "refused before the head ends");
    free(big);
}

static const char *const valid_heads[] = {
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: "
    "Keep-Alive\r\n\r\n",
    "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    "POST http://[::1]:8080/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
};

Test(http_request, every_split_point_waits_for_the_end)
{
    for (size_t h = 0; h < sizeof(valid_heads) / sizeof(valid_heads[0]); h++) {
        const char *s = valid_heads[h];
        size_t len = strlen(s);
        struct http_request r;
        for (size_t i = 0; i < len; i++)
            cr_expect_eq(http_parse_request(s, i, &r), 0, "head %zu split at %zu", h, i);
        cr_expect_eq(http_parse_request(s, len, &r), (ssize_t)len);
    }
}

Test(http_request, bytes_after_the_head_are_not_part_of_it)
{
    struct http_request r;
    const char *s = "POST http://a.com/ HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET ";
    const char *end = strstr(s, "body");

    cr_expect_eq(req(s, &r), end - s);
}

static ssize_t resp(const char *s, bool head, struct http_response *r)
{
    return http_parse_response(s, strlen(s), head, r);
}

Test(http_response, framing)
{
    struct http_response r;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";

    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.content_length, 10);
    cr_expect(r.keep_alive);
    cr_expect(!r.no_body);
    cr_expect(!r.until_close);

    s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect(r.chunked);
    cr_expect(r.keep_alive);

    s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect(r.until_close);
    cr_expect(!r.keep_alive, "a close-delimited body ends the connection");

    s = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n";
    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect(!r.keep_alive);
    s = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n";
    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect(r.keep_alive);
    s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n";
    cr_assert_eq(resp(s, false, &r), (ssize_t)strlen(s));
    cr_expect(!r.keep_alive);

    const char *no_body[] = {"HTTP/1.1 204 No Content\r\n\r\n",
                             "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
                             "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\n\r\n"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(resp(no_body[i], false, &r), (ssize_t)strlen(no_body[i]));
        cr_expect(r.no_body, "%s", no_body[i]);
        cr_expect(!r.until_close);
        cr_expect(r.keep_alive);
    }
    s = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
    cr_assert_eq(resp(s, true, &r), (ssize_t)strlen(s));
    cr_expect(r.no_body, "the answer to HEAD");
    s = "HTTP/1.1 200 OK\r\n\r\n";
    cr_assert_eq(resp(s, true, &r), (ssize_t)strlen(s));
    cr_expect(r.no_body && !r.until_close && r.keep_alive);
    s = "HTTP/1.1 404\r\n\r\n";
    cr_expect_eq(resp(s, false, &r), (ssize_t)strlen(s), "an empty reason without its space");
    cr_expect_eq(r.status, 404);
}

Test(http_response, refusals)
{
    struct http_response r;
    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(resp(bad[i], false, &r), -EINVAL, "accepted: %s", bad[i]);
    cr_expect_eq(resp("HTTP/2.0 200 OK\r\n\r\n", false, &r), -EPROTONOSUPPORT);
    cr_expect_eq(resp("HTTP/1.1 200 OK\r\nContent-Le", false, &r), 0);
}

Test(http_response, every_split_point_waits_for_the_end)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nServer: x\r\n\r\n";
    size_t len = strlen(s);
    struct http_response r;

    for (size_t i = 0; i < len; i++)
        cr_expect_eq(http_parse_response(s, i, false, &r), 0, "split at %zu", i);
    cr_expect_eq(http_parse_response(s, len, false, &r), (ssize_t)len);
}

/* Feeds s in pieces of at most step bytes; returns the body length found, or the error. */
static ssize_t chunked_in_steps(const char *s, size_t len, size_t step, bool *done)
{
    struct http_chunked c = {0};
    size_t pos = 0;

    while (pos < len && !c.done) {
        size_t n = len - pos < step ? len - pos : step;
        ssize_t k = http_chunked_feed(&c, s + pos, n);
        if (k < 0)
            return k;
        cr_assert_leq((size_t)k, n);
        if (!c.done)
            cr_assert_eq((size_t)k, n, "consumed less than given before the end");
        pos += (size_t)k;
    }
    *done = c.done;
    return (ssize_t)pos;
}

static const char *const good_bodies[] = {
    "0\r\n\r\n",
    "5\r\nhello\r\n0\r\n\r\n",
    "5;name=val\r\nhello\r\nA ; x=\"q\"\r\n0123456789\r\n0\r\n\r\n",
    "3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
    "000010\r\n0123456789abcdef\r\n0;last\r\n\r\n",
    "e\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n", /* data that looks like line ends */
};

Test(http_chunked, valid_bodies_at_every_split)
{
    for (size_t b = 0; b < sizeof(good_bodies) / sizeof(good_bodies[0]); b++) {
        char buf[256];
        size_t len = strlen(good_bodies[b]);
        snprintf(buf, sizeof(buf), "%sNEXT", good_bodies[b]);
        for (size_t step = 1; step <= len + 4; step++) {
            bool done = false;
            ssize_t got = chunked_in_steps(buf, len + 4, step, &done);
            cr_expect_eq(got, (ssize_t)len, "body %zu step %zu: %zd", b, step, got);
            cr_expect(done);
        }
    }
}

Test(http_chunked, split_into_two_at_every_byte)
{
    const char *s = "5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n";
    size_t len = strlen(s);

    for (size_t cut = 0; cut <= len; cut++) {
        struct http_chunked c = {0};
        ssize_t a = http_chunked_feed(&c, s, cut);
        cr_assert_eq(a, (ssize_t)cut);
        cr_expect_eq(c.done, cut == len);
        ssize_t b = http_chunked_feed(&c, s + cut, len - cut);
        cr_assert_eq(b, (ssize_t)(len - cut));
        cr_expect(c.done);
        cr_expect_eq(http_chunked_feed(&c, "x", 1), 0, "nothing after the end");
    }
}

Test(http_chunked, refusals)
{
    const char *bad[] = {
        "\r\n",
        "x\r\n",
        "-5\r\n",
        "5\nhello\r\n",
        "5\r\nhelloX\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5 \r\nhello",
        "5\t5\r\n",
        "5;a\x01\r\n",
        "5;a\nb\r\n",
        "11111111111111111\r\n",
        "0\r\n folded: x\r\n\r\n",
        "0\r\nNo colon\r\n\r\n",
        "0\r\nX: a\x7f\r\n\r\n",
        "0\r\nX: y\n\r\n",
        "0\r\n\rX",
        "+5\r\n",
        "0x5\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_chunked c = {0};
        cr_expect_eq(http_chunked_feed(&c, bad[i], strlen(bad[i])), -EINVAL, "accepted %zu", i);
    }
    /* the largest size is fine; the sizes and trailers are capped like a head */
    struct http_chunked c = {0};
    cr_expect_eq(http_chunked_feed(&c, "ffffffffffffffff\r\n", 18), 18);
    cr_expect_eq(c.left, UINT64_MAX);
    char *big = malloc(HTTP_HEAD_MAX + 16);
    memcpy(big, "1;", 2);
    memset(big + 2, 'e', HTTP_HEAD_MAX + 14);
    memset(&c, 0, sizeof(c));
    cr_expect_eq(http_chunked_feed(&c, big, HTTP_HEAD_MAX + 16), -EINVAL);
    free(big);
}

static void forward(const char *in, const char *want)
{
    struct http_request r;
    char out[1024];
    ssize_t n;

    cr_assert_gt(req(in, &r), 0, "%s", in);
    n = http_forward_head(&r, out, sizeof(out));
    cr_assert_geq(n, 0);
    out[n] = '\0';
    cr_expect_str_eq(out, want);
    cr_expect_eq(http_forward_head(&r, out, (size_t)n), (ssize_t)n, "exactly enough room");
    cr_expect_eq(http_forward_head(&r, out, (size_t)n - 1), -E2BIG);
}

Test(http_forward, strips_hop_by_hop)
{
    forward("GET http://a.com/x HTTP/1.1\r\nHost: a.com\r\nAccept: */*\r\n"
            "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nKeep-Alive: 5\r\n"
            "TE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nConnection: Upgrade, X-Secret\r\n"
            "X-Secret: s\r\nx-secret: t\r\nX-Kept: k\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a.com\r\nAccept: */*\r\nX-Kept: k\r\n\r\n");
    forward("POST http://[::1]:8080/p?q HTTP/1.0\r\nContent-Length: 2\r\n\r\n",
            "POST /p?q HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n");
    forward("GET http://a.com HTTP/1.1\r\nConnection: close, keep-alive\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n");
}

Test(http_forward, connect_has_no_upstream_head)
{
    struct http_request r;
    char out[256];

    cr_assert_gt(req("CONNECT a.com:443 HTTP/1.1\r\n\r\n", &r), 0);
    cr_expect_eq(http_forward_head(&r, out, sizeof(out)), -EINVAL);
}

Test(http_header, lookup)
{
    struct http_request r;
    size_t n = 0;
    const char *v;

    cr_assert_gt(req("GET http://a.com/ HTTP/1.1\r\nX-A:   one  \r\nx-a: two\r\n\r\n", &r), 0);
    v = http_header_get(r.headers, r.n_headers, "X-a", &n);
    cr_assert_not_null(v);
    cr_expect_eq(n, 3);
    cr_expect(strncmp(v, "one", 3) == 0);
    cr_expect_null(http_header_get(r.headers, r.n_headers, "X", &n));
}

Test(http_request, edges)
{
    struct http_request r;
    const char *s = "GET http://a.com/ HTTP/1.1\r\nX: caf\xc3\xa9 \x80\r\nY:\r\nZ:\t v \t\r\n\r\n";
    size_t n;
    const char *v;

    cr_assert_eq(req(s, &r), (ssize_t)strlen(s), "obs-text and empty values are fine");
    v = http_header_get(r.headers, r.n_headers, "Y", &n);
    cr_expect(v && n == 0);
    v = http_header_get(r.headers, r.n_headers, "Z", &n);
    cr_expect(v && n == 1 && v[0] == 'v');
    s = "CONNECT a.com:443 HTTP/1.1\r\nHost: A.COM.:443\r\n\r\n";
    cr_expect_eq(req(s, &r), (ssize_t)strlen(s));
    s = "POST http://a.com/ HTTP/1.1\r\nContent-Length: 0\r\nConnection: keep-alive, "
        "Upgrade\r\n\r\n";
    cr_expect_eq(req(s, &r), (ssize_t)strlen(s));
    cr_expect_eq(r.content_length, 0);
    req_fails("CONNECT a.com:0443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:0443\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com:443:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT [::1]x:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT [::1]]:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("CONNECT a.com\\:443 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com\\@b.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com?x=1 HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http:a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET 1http://a.com/ HTTP/1.1\r\n\r\n", -EINVAL);
    req_fails("GET http://a.com/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: "
              "chunked\r\n\r\n",
              -EINVAL);
}
