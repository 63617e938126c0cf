/* CONNECT tunnels: after the upstream answered the dial, "200 Connection established", then the
 * bytes both ways through a pipe per direction with splice (no copy through user space); a copy
 * loop only where splice cannot be used (no pipe to be had, or a socket splice refuses). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy-internal.h"

#define TUNNEL_PIPE_SIZE (1 << 16) /* a pipe's default size, what a tunnel starts with */
#define TUNNEL_PIPE_BULK (1 << 20) /* a direction that fills its pipe gets one this large */
#define TUNNEL_COPY_BUF 16384      /* the copy loop's buffer per direction */

static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

static void flow_close_pipe(struct flow *f)
{
    if (f->rd >= 0)
        close(f->rd);
    if (f->wr >= 0)
        close(f->wr);
    f->rd = f->wr = -1;
}

static void flow_free(struct flow *f)
{
    flow_close_pipe(f);
    free(f->copy);
    *f = (struct flow){.rd = -1, .wr = -1};
}

void tunnel_free(struct conn *c)
{
    flow_free(&c->fup);
    flow_free(&c->fdown);
}

/* Switches an empty flow to the copy loop. */
static int flow_to_copy(struct flow *f)
{
    if (!f->copy && !(f->copy = malloc(TUNNEL_COPY_BUF)))
        return -ENOMEM;
    flow_close_pipe(f);
    return 0;
}

/* Puts bytes into an empty flow (the first ones a direction carries: the 200 line, or what the
 * client sent right behind its CONNECT head). */
static int flow_preload(struct flow *f, const char *data, size_t len)
{
    ssize_t n;

    if (len == 0)
        return 0;
    if (!f->copy) {
        n = write(f->wr, data, len); /* an empty pipe holds a page at least: len is small */
        if (n == (ssize_t)len) {
            f->len = len;
            return 0;
        }
        if (n > 0)
            return -EIO;
        if (flow_to_copy(f) < 0)
            return -ENOMEM;
    }
    if (len > TUNNEL_COPY_BUF)
        return -E2BIG;
    memcpy(f->copy, data, len);
    f->len = len;
    f->off = 0;
    return 0;
}

static int flow_open(struct flow *f)
{
    int fds[2];

    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return flow_to_copy(f);
    f->rd = fds[0];
    f->wr = fds[1];
    f->cap = TUNNEL_PIPE_SIZE;
    return 0;
}

int tunnel_start(struct conn *c)
{
    int r;

    if ((r = flow_open(&c->fup)) < 0 || (r = flow_open(&c->fdown)) < 0)
        return r;
    c->up = c->in.len - c->in.off;
    if ((r = flow_preload(&c->fup, c->in.data + c->in.off, c->in.len - c->in.off)) < 0 ||
        (r = flow_preload(&c->fdown, established, sizeof(established) - 1)) < 0)
        return r;
    stat_add(&c->p->st.bytes_up, c->up);
    buf_free(&c->in);
    buf_free(&c->out);
    c->state = CONN_TUNNEL;
    stat_add(&c->p->st.tunnels, 1);
    conn_touch(c);
    timer_set(c->p, c, conn_deadline(c));
    tunnel_pump(c);
    return 0;
}

/* A bulk transfer: fewer, larger splices. Only directions that fill their pipe pay for a large
 * one (the kernel's per-user pipe budget is shared by every tunnel); refused, it stays small. */
static void flow_grow(struct flow *f)
{
    int r = fcntl(f->wr, F_SETPIPE_SZ, TUNNEL_PIPE_BULK);

    f->grown = true; /* asked once, granted or not */
    if (r > 0)
        f->cap = (size_t)r;
}

static ssize_t flow_send(struct flow *f, int dst)
{
    if (f->copy)
        return send(dst, f->copy + f->off, f->len, MSG_NOSIGNAL);
    return splice(f->rd, NULL, dst, NULL, f->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static ssize_t flow_recv(struct flow *f, int src)
{
    if (f->copy)
        return read(src, f->copy, TUNNEL_COPY_BUF);
    return splice(src, NULL, f->wr, NULL, f->cap, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

/* Moves what src has to dst until one of them would block. The source is read only while the
 * flow is empty, so EAGAIN on a read means the source is drained. 0, or -errno (the tunnel
 * ends). */
static int flow_pump(struct conn *c, struct flow *f, int src, int dst, uint64_t *count,
                     atomic_uint_fast64_t *stat)
{
    ssize_t n;

    for (;;) {
        if (f->len > 0) {
            n = flow_send(f, dst);
            if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
            f->len -= (size_t)n;
            f->off = f->len ? f->off + (size_t)n : 0;
            continue;
        }
        if (f->eof) {
            if (!f->shut)
                shutdown(dst, SHUT_WR);
            f->shut = true;
            return 0;
        }
        n = flow_recv(f, src);
        if (n < 0 && errno == EINVAL && !f->copy) {
            if (flow_to_copy(f) < 0)
                return -ENOMEM;
            continue;
        }
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        if (n == 0) {
            f->eof = true;
            continue;
        }
        f->len = (size_t)n;
        if (!f->copy && !f->grown && f->len == f->cap)
            flow_grow(f);
        *count += (uint64_t)n;
        stat_add(stat, (uint64_t)n);
        conn_touch(c);
    }
}

void tunnel_pump(struct conn *c)
{
    int r1 = flow_pump(c, &c->fup, c->client.fd, c->upstream.fd, &c->up, &c->p->st.bytes_up);
    int r2 = flow_pump(c, &c->fdown, c->upstream.fd, c->client.fd, &c->down, &c->p->st.bytes_down);

    if (r1 < 0 || r2 < 0 || (c->fup.shut && c->fdown.shut))
        conn_close(c);
}
