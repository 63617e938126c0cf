/* The request head a forward proxy sends upstream: origin-form, HTTP/1.1, Host set to the
 * target, and no hop-by-hop header (RFC 9110 §7.6.1), including those Connection names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http-internal.h"
#include "httpparse.h"

static const char *const hop_by_hop[] = {
    "Connection",
    "Proxy-Connection",
    "Proxy-Authorization",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Upgrade",
    "Host", /* replaced by the target's authority */
};

struct writer {
    char *out;
    size_t len, cap;
    bool full;
};

static void put(struct writer *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

static void puts_(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static bool named_in(const char *name, size_t n, const char *list, size_t list_len)
{
    const char *p = list, *item;
    size_t len;

    while (http_list_next(&p, list + list_len, &item, &len))
        if (len == n && strncasecmp(item, name, n) == 0)
            return true;
    return false;
}

static bool is_hop_by_hop(const struct http_request *r, const struct http_header *h)
{
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
        if (h->name_len == strlen(hop_by_hop[i]) &&
            strncasecmp(h->name, hop_by_hop[i], h->name_len) == 0)
            return true;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *c = &r->headers[i];
        if (c->name_len == 10 && strncasecmp(c->name, "Connection", 10) == 0 &&
            named_in(h->name, h->name_len, c->value, c->value_len))
            return true;
    }
    return false;
}

ssize_t http_forward_head(const struct http_request *r, char *out, size_t cap)
{
    struct writer w = {.out = out, .cap = cap};
    char port[8];

    if (r->is_connect || !r->path)
        return -EINVAL;
    puts_(&w, r->method);
    put(&w, " ", 1);
    put(&w, r->path, r->path_len);
    puts_(&w, " HTTP/1.1\r\nHost: ");
    puts_(&w, r->host);
    if (r->port != 80) {
        snprintf(port, sizeof(port), ":%u", r->port);
        puts_(&w, port);
    }
    put(&w, "\r\n", 2);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (is_hop_by_hop(r, h))
            continue;
        put(&w, h->name, h->name_len);
        put(&w, ": ", 2);
        put(&w, h->value, h->value_len);
        put(&w, "\r\n", 2);
    }
    if (!r->keep_alive)
        puts_(&w, "Connection: close\r\n"); /* the client ends after this exchange */
    put(&w, "\r\n", 2);
    return w.full ? -E2BIG : (ssize_t)w.len;
}
