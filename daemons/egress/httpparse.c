/* HTTP/1.x request and response heads as a proxy meets them: one pass that finds where the head
 * ends and refuses stray bytes, then the start line, the header lines and the framing headers,
 * strictly (see httpparse.h). Nothing is allocated; everything points into the caller's buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http-internal.h"
#include "httpparse.h"

bool http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ieq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && strncasecmp(a, b, an) == 0;
}

/* Finds the end of the head (the blank line), refusing control bytes, a CR not followed by LF,
 * a bare LF and more lines than a head may have. Returns the head's length, 0 when more bytes
 * are needed, or -errno. ret_line1: the length of the first line once its CRLF has arrived. */
ssize_t http_head_scan(const char *buf, size_t len, size_t *ret_line1)
{
    size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, start = 0, lines = 0;

    *ret_line1 = SIZE_MAX;
    for (size_t i = 0; i < limit; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (i + 1 == limit)
                break;
            if (buf[i + 1] != '\n')
                return -EINVAL;
            if (i == start && lines > 0)
                return (ssize_t)(i + 2);
            if (lines == 0)
                *ret_line1 = i;
            if (++lines > HTTP_HEADERS_MAX + 1)
                return -E2BIG;
            start = ++i + 1;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return -EINVAL; /* NUL, a bare LF, other control bytes */
        }
    }
    return len >= HTTP_HEAD_MAX ? -E2BIG : 0;
}

/* "HTTP/1.0" or "HTTP/1.1"; another HTTP/d.d is -EPROTONOSUPPORT, anything else -EINVAL. */
int http_parse_version(const char *v, size_t n, int *ret_minor)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -EINVAL;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return -EPROTONOSUPPORT;
    *ret_minor = v[7] - '0';
    return 0;
}

/* One header line (without CRLF) into h. */
static int parse_header_line(const char *l, size_t n, struct http_header *h)
{
    size_t i = 0, vs, ve;

    if (n == 0 || l[0] == ' ' || l[0] == '\t')
        return -EINVAL; /* obs-fold */
    while (i < n && http_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ':')
        return -EINVAL; /* no name, no colon, or whitespace before the colon */
    vs = i + 1;
    ve = n;
    while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
        vs++;
    while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
        ve--;
    *h = (struct http_header){.name = l, .name_len = i, .value = l + vs, .value_len = ve - vs};
    return 0;
}

/* The header lines between the start line and the blank line. */
int http_parse_header_lines(const char *buf, size_t from, size_t end, struct http_header *hs,
                            size_t *ret_n)
{
    size_t pos = from, n = 0;
    int e;

    while (pos + 2 < end) {
        const char *eol = memchr(buf + pos, '\r', end - pos);
        if (n >= HTTP_HEADERS_MAX)
            return -E2BIG;
        if ((e = parse_header_line(buf + pos, (size_t)(eol - (buf + pos)), &hs[n])) < 0)
            return e;
        n++;
        pos = (size_t)(eol - buf) + 2;
    }
    *ret_n = n;
    return 0;
}

const char *http_header_get(const struct http_header *h, size_t n, const char *name,
                            size_t *ret_len)
{
    for (size_t i = 0; i < n; i++)
        if (ieq(h[i].name, h[i].name_len, name)) {
            if (ret_len)
                *ret_len = h[i].value_len;
            return h[i].value;
        }
    return NULL;
}

bool http_list_next(const char **p, const char *end, const char **ret_item, size_t *ret_len)
{
    const char *s = *p, *e;

    while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
        s++;
    if (s >= end)
        return false;
    e = memchr(s, ',', (size_t)(end - s));
    if (!e)
        e = end;
    *p = e;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *ret_item = s;
    *ret_len = (size_t)(e - s);
    return true;
}

static int content_length(const char *v, size_t n, int64_t *cl)
{
    int64_t x = 0;

    if (n == 0 || n > 18)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        x = x * 10 + (v[i] - '0');
    }
    if (*cl >= 0 && *cl != x)
        return -EINVAL; /* differing values: which one the next hop believes is a gamble */
    *cl = x;
    return 0;
}

/* Transfer-Encoding: a list whose last coding is chunked, and chunked only once. */
static int transfer_encoding(const char *v, size_t n, struct http_framing *f)
{
    const char *p = v, *item;
    size_t len;
    bool any = false;

    while (http_list_next(&p, v + n, &item, &len)) {
        size_t tl = 0;
        while (tl < len && http_tchar((unsigned char)item[tl]))
            tl++;
        if (tl == 0 || f->chunked)
            return -EINVAL; /* not a coding, or a coding after chunked */
        f->chunked = ieq(item, tl, "chunked");
        if (f->chunked && tl != len)
            return -EINVAL;
        any = true;
    }
    f->te = true;
    return any ? 0 : -EINVAL;
}

static void connection(const char *v, size_t n, struct http_framing *f)
{
    const char *p = v, *item;
    size_t len;

    while (http_list_next(&p, v + n, &item, &len)) {
        if (ieq(item, len, "close"))
            f->close = true;
        else if (ieq(item, len, "keep-alive"))
            f->keep_alive = true;
    }
}

int http_framing_parse(const struct http_header *hs, size_t n, struct http_framing *f)
{
    int e;

    *f = (struct http_framing){.content_length = -1};
    for (size_t i = 0; i < n; i++) {
        const struct http_header *h = &hs[i];
        if (ieq(h->name, h->name_len, "Content-Length"))
            e = content_length(h->value, h->value_len, &f->content_length);
        else if (ieq(h->name, h->name_len, "Transfer-Encoding"))
            e = f->chunked ? -EINVAL : transfer_encoding(h->value, h->value_len, f);
        else if (ieq(h->name, h->name_len, "Connection"))
            e = (connection(h->value, h->value_len, f), 0);
        else
            e = 0;
        if (e < 0)
            return e;
    }
    if (f->te && !f->chunked)
        return -EINVAL; /* the body would end only at close: refused */
    if (f->te && f->content_length >= 0)
        return -EINVAL; /* both: the classic smuggling setup */
    return 0;
}

/* The status line "HTTP/1.x NNN reason". */
static int parse_status_line(const char *l, size_t n, struct http_response *r)
{
    int e;

    if (n < 12 || l[8] != ' ' || (n > 12 && l[12] != ' '))
        return -EINVAL;
    if ((e = http_parse_version(l, 8, &r->minor)) < 0)
        return e;
    if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
        return -EINVAL;
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return 0;
}

ssize_t http_parse_response(const char *buf, size_t len, bool head_request,
                            struct http_response *ret)
{
    struct http_framing f;
    size_t line1;
    ssize_t end = http_head_scan(buf, len, &line1);
    int e;

    if (end <= 0)
        return end;
    *ret = (struct http_response){.content_length = -1};
    if ((e = parse_status_line(buf, line1, ret)) < 0 ||
        (e = http_parse_header_lines(buf, line1 + 2, (size_t)end, ret->headers, &ret->n_headers)) <
            0 ||
        (e = http_framing_parse(ret->headers, ret->n_headers, &f)) < 0)
        return e;
    ret->content_length = f.content_length;
    ret->chunked = f.chunked;
    ret->no_body = head_request || ret->status < 200 || ret->status == 204 || ret->status == 304;
    ret->until_close = !ret->no_body && !ret->chunked && ret->content_length < 0;
    ret->keep_alive = !ret->until_close && !f.close && (ret->minor == 1 || f.keep_alive);
    return end;
}
