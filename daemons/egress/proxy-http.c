/* Plain-HTTP forwarding: one request at a time on a client connection, each decided on its own;
 * the head rewritten for the upstream (origin-form, no hop-by-hop headers), bodies passed as
 * they are, and the response's framing (length, chunked, until close) followed so that the
 * connection can be kept alive for the next request. The upstream connection is kept for the
 * next request to the same host and port. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addrcheck.h"
#include "proxy-internal.h"

#define FORWARD_HEAD_MAX (HTTP_HEAD_MAX + 512) /* a rewritten head: Host may be added */

void forward_free(struct conn *c)
{
    free(c->fwd);
    c->fwd = NULL;
}

int forward_prepare(struct conn *c, const struct http_request *req)
{
    struct forward *f = c->fwd;
    ssize_t n;

    if (!f && !(f = c->fwd = calloc(1, sizeof(*f))))
        return -ENOMEM;
    buf_free(&c->out);
    if (buf_alloc(&c->out, FORWARD_HEAD_MAX) < 0)
        return -ENOMEM;
    if ((n = http_forward_head(req, c->out.data, FORWARD_HEAD_MAX)) < 0)
        return (int)n;
    c->out.len = (size_t)n;
    c->out.off = 0;
    f->req_left = req->chunked ? -1 : req->content_length > 0 ? req->content_length : 0;
    f->req_pending = 0;
    memset(&f->req_chunks, 0, sizeof(f->req_chunks));
    f->req_done = f->req_left == 0;
    f->head_request = strcmp(req->method, "HEAD") == 0;
    f->req_keep_alive = req->keep_alive;
    f->resp_head = f->resp_last = f->resp_done = false;
    f->resp_pending = 0;
    memset(&f->resp_chunks, 0, sizeof(f->resp_chunks));
    return 0;
}

/* A kept upstream connection that the upstream has not closed (nor sent anything on) since. */
static bool upstream_idle_open(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && errno == EAGAIN;
}

/* The upstream connection of the last request serves this one when it was dialled for the same
 * host and port and its address passes this request's check. */
bool forward_can_reuse(const struct conn *c)
{
    const struct forward *f = c->fwd;
    const struct sockaddr *sa;

    if (!f || c->upstream.fd < 0 || f->up_port != c->port || strcmp(f->up_host, c->host) != 0)
        return false;
    if (!upstream_idle_open(c->upstream.fd))
        return false;
    sa = (const struct sockaddr *)&f->up_addr;
    return (c->rule && acl_rule_names_addr(c->rule, sa)) || !addrcheck_internal(sa) ||
           c->pr->mode == ACL_REPORT;
}

void forward_begin(struct conn *c)
{
    struct forward *f = c->fwd;

    snprintf(f->up_host, sizeof(f->up_host), "%s", c->host);
    f->up_port = c->port;
    if (buf_alloc(&c->resp, PROXY_BUF_SIZE) < 0)
        return conn_fail(c, 503, "out of memory");
    c->state = CONN_FORWARD;
    conn_touch(c);
    timer_set(c->p, c, conn_deadline(c));
    forward_pump(c);
}

static ssize_t send_counted(struct conn *c, int fd, const char *data, size_t len, bool up)
{
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

    if (n > 0) {
        *(up ? &c->up : &c->down) += (uint64_t)n;
        stat_add(up ? &c->p->st.bytes_up : &c->p->st.bytes_down, (uint64_t)n);
        conn_touch(c);
    }
    return n;
}

/* How many of the len bytes at data belong to the body still to come. */
static ssize_t frame_body(int64_t *left, struct http_chunked *ch, const char *data, size_t len,
                          bool *ret_last)
{
    ssize_t k;

    if (*left == -2) /* until close */
        return (ssize_t)len;
    if (*left == -1) {
        k = http_chunked_feed(ch, data, len);
        *ret_last = k >= 0 && ch->done;
        return k;
    }
    k = (ssize_t)((uint64_t)*left < len ? (size_t)*left : len);
    *left -= k;
    *ret_last = *left == 0;
    return k;
}

/* The request head, then its body, to the upstream. 0 (done or would block) or -errno. */
static int send_request(struct conn *c)
{
    struct forward *f = c->fwd;
    bool last = false;
    ssize_t n;

    while (c->out.off < c->out.len) {
        n = send_counted(c, c->upstream.fd, c->out.data + c->out.off, c->out.len - c->out.off,
                         true);
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        c->out.off += (size_t)n;
    }
    while (!f->req_done) {
        if (f->req_pending > 0) {
            n = send_counted(c, c->upstream.fd, c->in.data + c->in.off, f->req_pending, true);
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            c->in.off += (size_t)n;
            f->req_pending -= (size_t)n;
            f->req_done = f->req_pending == 0 && (f->req_left == 0 || f->req_chunks.done);
            continue;
        }
        if (c->in.off == c->in.len) {
            c->in.off = c->in.len = 0;
            n = read(c->client.fd, c->in.data, HTTP_HEAD_MAX);
            if (n == 0)
                return -EPIPE;
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            c->in.len = (size_t)n;
            continue;
        }
        n = frame_body(&f->req_left, &f->req_chunks, c->in.data + c->in.off, c->in.len - c->in.off,
                       &last);
        if (n < 0 || (n == 0 && !last))
            return -EINVAL;
        f->req_pending = (size_t)n;
        f->req_done = n == 0 && last;
    }
    return 0;
}

/* A response head at c->resp: how its body is framed. 0 when more bytes are needed. */
static int parse_head(struct conn *c)
{
    struct forward *f = c->fwd;
    struct http_response hr;
    ssize_t k = http_parse_response(c->resp.data + c->resp.off, c->resp.len - c->resp.off,
                                    f->head_request, &hr);

    if (k <= 0)
        return k == 0 && c->resp.len - c->resp.off >= PROXY_BUF_SIZE ? -E2BIG : (int)k;
    f->resp_pending = (size_t)k;
    if (hr.status >= 100 && hr.status < 200 && hr.status != 101)
        return 0; /* an interim answer: the real head follows */
    f->resp_head = true;
    f->resp_keep_alive = hr.keep_alive && !hr.until_close;
    f->resp_left = hr.no_body ? 0 : hr.chunked ? -1 : hr.until_close ? -2 : hr.content_length;
    f->resp_last = f->resp_left == 0;
    return 0;
}

/* The upstream's response to the client, as it is. 0 (done or would block) or -errno. */
static int relay_response(struct conn *c)
{
    struct forward *f = c->fwd;
    ssize_t n;
    int r;

    while (!f->resp_done) {
        if (f->resp_pending > 0) {
            n = send_counted(c, c->client.fd, c->resp.data + c->resp.off, f->resp_pending, false);
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            c->resp.off += (size_t)n;
            f->resp_pending -= (size_t)n;
            continue;
        }
        if (f->resp_last) {
            f->resp_done = true;
            break;
        }
        if (c->resp.off < c->resp.len) {
            bool last = false;

            if (!f->resp_head) {
                if ((r = parse_head(c)) < 0)
                    return r;
                if (f->resp_pending > 0 || f->resp_head)
                    continue;
            } else {
                n = frame_body(&f->resp_left, &f->resp_chunks, c->resp.data + c->resp.off,
                               c->resp.len - c->resp.off, &last);
                if (n < 0)
                    return -EINVAL;
                f->resp_pending = (size_t)n;
                f->resp_last = last;
                continue;
            }
        }
        if (c->resp.off > 0) {
            memmove(c->resp.data, c->resp.data + c->resp.off, c->resp.len - c->resp.off);
            c->resp.len -= c->resp.off;
            c->resp.off = 0;
        }
        n = read(c->upstream.fd, c->resp.data + c->resp.len, PROXY_BUF_SIZE - c->resp.len);
        if (n == 0 && f->resp_head && f->resp_left == -2) {
            f->resp_done = true;
            break;
        }
        if (n == 0)
            return -EPIPE;
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        c->resp.len += (size_t)n;
    }
    return 0;
}

static void forward_done(struct conn *c)
{
    struct forward *f = c->fwd;

    /* bytes past the response: the upstream is not to be trusted with another request */
    if (!f->resp_keep_alive || c->resp.len > c->resp.off)
        conn_close_upstream(c);
    c->resp.off = c->resp.len = 0;
    if (!f->req_keep_alive || !f->resp_keep_alive)
        return conn_close(c);
    conn_next_request(c);
}

void forward_pump(struct conn *c)
{
    struct forward *f = c->fwd;
    int r = send_request(c);

    if (r == 0)
        r = relay_response(c);
    if (r < 0) {
        if (c->down == 0)
            return conn_fail(c, 502,
                             r == -EPIPE && !f->req_done ? "client closed during the request body"
                                                         : "upstream failed before answering");
        return conn_close(c);
    }
    if (f->req_done && f->resp_done)
        forward_done(c);
}
