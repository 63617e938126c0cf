/* A client's request head, as a forward proxy takes it: CONNECT host:port or an absolute
 * http:// target, checked against the Host header; and the head sent upstream without the
 * hop-by-hop headers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http-internal.h"
#include "httpparse.h"

static bool ieq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && strncasecmp(a, b, an) == 0;
}

static bool reg_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static bool v6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.';
}

/* A port of 1..65535 without sign or leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *ret)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || s[0] == '0')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

/* host[:port] or [v6][:port], no userinfo, no percent-encoding. default_port 0: the port is
 * required. host gets the host as written (brackets kept). */
static int parse_authority(const char *s, size_t n, uint16_t default_port, char host[static 254],
                           uint16_t *ret_port)
{
    size_t hl = 0;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return -EINVAL;
        hl = (size_t)(close - s) + 1;
        for (size_t i = 1; i + 1 < hl; i++)
            if (!v6_char(s[i]))
                return -EINVAL;
    } else {
        while (hl < n && reg_name_char(s[hl]))
            hl++;
    }
    if (hl == 0 || hl > 253 || (hl < n && s[hl] != ':'))
        return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (hl == n) {
        *ret_port = default_port;
        return default_port ? 0 : -EINVAL;
    }
    return parse_port(s + hl + 1, n - hl - 1, ret_port);
}

/* http://authority[/path][?query] (scheme case-insensitive); other schemes -EPROTONOSUPPORT. */
static int parse_absolute(const char *t, size_t n, struct http_request *r)
{
    static const char root[] = "/";
    const char *sep = n > 3 ? memmem(t, n, "://", 3) : NULL;
    size_t sl, al = 0;

    if (!sep || sep == t)
        return -EINVAL;
    sl = (size_t)(sep - t);
    for (size_t i = 0; i < sl; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (i > 0 && ((t[i] >= '0' && t[i] <= '9') || strchr("+.-", t[i])))))
            return -EINVAL;
    if (!ieq(t, sl, "http"))
        return -EPROTONOSUPPORT; /* https:// in a GET: the client wanted CONNECT */
    t += sl + 3;
    n -= sl + 3;
    while (al < n && t[al] != '/' && t[al] != '?' && t[al] != '#')
        al++;
    if (memchr(t, '#', n) || (al < n && t[al] != '/'))
        return -EINVAL; /* a fragment, or a query without a path */
    r->path = al < n ? t + al : root;
    r->path_len = al < n ? n - al : 1;
    return parse_authority(t, al, 80, r->host, &r->port);
}

static int parse_target(const char *t, size_t n, struct http_request *r)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return -EINVAL;
    if (r->is_connect)
        return parse_authority(t, n, 0, r->host, &r->port);
    if (t[0] == '/' || (n == 1 && t[0] == '*'))
        return -ENOTSUP; /* origin-form: not a proxy request */
    return parse_absolute(t, n, r);
}

/* "METHOD SP target SP HTTP/1.x" */
static int parse_request_line(const char *l, size_t n, struct http_request *r)
{
    const char *sp1 = memchr(l, ' ', n), *sp2, *v;
    size_t ml;
    int e;

    if (!sp1 || sp1 == l)
        return -EINVAL;
    ml = (size_t)(sp1 - l);
    sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
    if (!sp2 || sp2 == sp1 + 1 || ml > HTTP_METHOD_MAX)
        return -EINVAL;
    for (size_t i = 0; i < ml; i++)
        if (!http_tchar((unsigned char)l[i]))
            return -EINVAL;
    v = sp2 + 1;
    if ((e = http_parse_version(v, (size_t)(l + n - v), &r->minor)) < 0)
        return e;
    memcpy(r->method, l, ml);
    r->method[ml] = '\0';
    if (strcmp(r->method, "PRI") == 0)
        return -ENOTSUP; /* the HTTP/2 preface */
    r->is_connect = strcmp(r->method, "CONNECT") == 0;
    return parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), r);
}

static bool same_host(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);

    if (al > 1 && a[al - 1] == '.')
        al--;
    if (bl > 1 && b[bl - 1] == '.')
        bl--;
    return al == bl && strncasecmp(a, b, al) == 0;
}

/* The Host header, when there is one, must name the target: one Host, same host, same port. */
static int check_host(const struct http_request *r)
{
    const struct http_header *host = NULL;
    char h[254];
    uint16_t port;

    for (size_t i = 0; i < r->n_headers; i++)
        if (ieq(r->headers[i].name, r->headers[i].name_len, "Host")) {
            if (host)
                return -EINVAL;
            host = &r->headers[i];
        }
    if (!host)
        return 0;
    if (parse_authority(host->value, host->value_len, r->is_connect ? r->port : 80, h, &port) < 0)
        return -EINVAL;
    return same_host(h, r->host) && port == r->port ? 0 : -EINVAL;
}

static int request_framing(struct http_request *r)
{
    struct http_framing f;
    size_t n;
    const char *expect;
    int e = http_framing_parse(r->headers, r->n_headers, &f);

    if (e < 0)
        return e;
    if (f.te && r->minor == 0)
        return -EINVAL; /* chunked did not exist in 1.0 */
    if (r->is_connect && (f.te || f.content_length > 0))
        return -EINVAL; /* a CONNECT has no body: those bytes would be tunnel data */
    r->content_length = f.content_length;
    r->chunked = f.chunked;
    r->keep_alive = !f.close && (r->minor == 1 || f.keep_alive);
    expect = http_header_get(r->headers, r->n_headers, "Expect", &n);
    r->expect_continue = expect && ieq(expect, n, "100-continue");
    return 0;
}

ssize_t http_parse_request(const char *buf, size_t len, struct http_request *ret)
{
    size_t line1;
    ssize_t end = http_head_scan(buf, len, &line1);
    int e;

    if (end < 0)
        return end;
    *ret = (struct http_request){.content_length = -1};
    if (line1 != SIZE_MAX && (e = parse_request_line(buf, line1, ret)) < 0)
        return e; /* a bad request line is refused before the rest of the head arrives */
    if (end == 0)
        return 0;
    if ((e = http_parse_header_lines(buf, line1 + 2, (size_t)end, ret->headers, &ret->n_headers)) <
            0 ||
        (e = check_host(ret)) < 0 || (e = request_framing(ret)) < 0)
        return e;
    return end;
}
