/* The proxy's timers: a binary heap of connections by deadline, so that epoll_wait sleeps until
 * the earliest one. Deadlines move lazily: a byte in a tunnel only updates active_ms, and when
 * the heap's top comes due its real deadline is computed again (conn_deadline) before it is
 * treated as expired. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "proxy-internal.h"

#define HEAP_NONE SIZE_MAX

static void heap_swap(struct proxy *p, size_t a, size_t b)
{
    struct conn *t = p->heap[a];

    p->heap[a] = p->heap[b];
    p->heap[b] = t;
    p->heap[a]->heap_idx = a;
    p->heap[b]->heap_idx = b;
}

static void heap_up(struct proxy *p, size_t i)
{
    while (i > 0 && p->heap[(i - 1) / 2]->deadline_ms > p->heap[i]->deadline_ms) {
        heap_swap(p, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct proxy *p, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < p->heap_len && p->heap[l]->deadline_ms < p->heap[m]->deadline_ms)
            m = l;
        if (r < p->heap_len && p->heap[r]->deadline_ms < p->heap[m]->deadline_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(p, i, m);
        i = m;
    }
}

/* The heap grows as connections are admitted; a failed growth leaves the connection without a
 * timer, so admission makes room first (conn_admit checks heap_cap through timer_set). */
static int heap_reserve(struct proxy *p)
{
    size_t cap;
    struct conn **h;

    if (p->heap_len < p->heap_cap)
        return 0;
    cap = p->heap_cap ? p->heap_cap * 2 : 64;
    h = realloc(p->heap, cap * sizeof(*h));
    if (!h)
        return -ENOMEM;
    p->heap = h;
    p->heap_cap = cap;
    return 0;
}

void timer_set(struct proxy *p, struct conn *c, int64_t at_ms)
{
    int64_t old = c->deadline_ms;

    c->deadline_ms = at_ms;
    if (c->heap_idx == HEAP_NONE || c->heap_idx >= p->heap_len || p->heap[c->heap_idx] != c) {
        if (heap_reserve(p) < 0)
            return; /* checked at admission: cannot happen for an admitted connection */
        c->heap_idx = p->heap_len;
        p->heap[p->heap_len++] = c;
        heap_up(p, c->heap_idx);
    } else if (at_ms < old) {
        heap_up(p, c->heap_idx);
    } else {
        heap_down(p, c->heap_idx);
    }
}

void timer_del(struct proxy *p, struct conn *c)
{
    size_t i = c->heap_idx;

    if (i == HEAP_NONE || i >= p->heap_len || p->heap[i] != c)
        return;
    c->heap_idx = HEAP_NONE;
    if (i != --p->heap_len) {
        p->heap[i] = p->heap[p->heap_len];
        p->heap[i]->heap_idx = i;
        heap_down(p, i);
        heap_up(p, i);
    }
}

int timer_wait_ms(struct proxy *p, int64_t now)
{
    int64_t d;

    if (p->heap_len == 0)
        return -1;
    d = p->heap[0]->deadline_ms - now;
    return d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

void timer_run(struct proxy *p, int64_t now)
{
    while (p->heap_len > 0 && p->heap[0]->deadline_ms <= now) {
        struct conn *c = p->heap[0];
        int64_t real = conn_deadline(c);

        if (real > now) {
            timer_set(p, c, real);
            continue;
        }
        timer_del(p, c);
        conn_timeout(c);
    }
}
