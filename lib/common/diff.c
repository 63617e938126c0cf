/* Unified diff (contract in diff.h). The texts are split into lines, the common head and tail
 * are set aside, Myers' greedy search finds a shortest edit script for the middle (keeping each
 * round's frontier for the walk back), and the script is printed as hunks. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "macro.h"

enum op { OP_SAME = 'E', OP_DEL = 'D', OP_ADD = 'I' };

struct line {
    const char *s;
    size_t len;
    bool eol; /* ends with '\n' */
    uint64_t hash;
};

struct side {
    struct line *v;
    size_t n;
};

struct out {
    char *buf;
    size_t len, max; /* max counts the NUL */
    bool truncated;
};

static uint64_t fnv1a(const char *s, size_t len, bool eol)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (h ^ (eol ? 1 : 2)) * 1099511628211ULL;
}

static int split_lines(const char *text, size_t len, struct side *ret)
{
    size_t n = 0, i = 0;

    for (size_t k = 0; k < len; k++)
        n += text[k] == '\n';
    if (len > 0 && text[len - 1] != '\n')
        n++;
    if (n > OSM_DIFF_LINES_MAX)
        return -E2BIG;
    ret->n = n;
    ret->v = calloc(n + 1, sizeof(*ret->v));
    if (!ret->v)
        return -ENOMEM;
    for (size_t start = 0; start < len; i++) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        ret->v[i] = (struct line){text + start, end - start, nl != NULL, 0};
        ret->v[i].hash = fnv1a(ret->v[i].s, ret->v[i].len, ret->v[i].eol);
        start = nl ? end + 1 : len;
    }
    return 0;
}

static bool same(const struct line *a, const struct line *b)
{
    return a->hash == b->hash && a->len == b->len && a->eol == b->eol &&
           memcmp(a->s, b->s, a->len) == 0;
}

/* ---- Myers ------------------------------------------------------------------------------ */

/* The frontier of round d, for k in [-d-1, d+1]. */
struct trace {
    int32_t **v;
    size_t n;
};

static void trace_free(struct trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
}

/* The edit script of a[0..n) → b[0..m) appended to script (reversed). Returns the script
 * length, or -1 when the edit distance passes OSM_DIFF_EDIT_MAX, or -ENOMEM. */
static long myers(const struct line *a, long n, const struct line *b, long m, char *script)
{
    long max = n + m < OSM_DIFF_EDIT_MAX ? n + m : OSM_DIFF_EDIT_MAX, found = -1, len = 0;
    _cleanup_free_ int32_t *v = calloc((size_t)(2 * max + 3), sizeof(int32_t));
    struct trace t = {calloc((size_t)max + 1, sizeof(int32_t *)), 0};
    long x, y;

    if (!v || !t.v) {
        free(t.v);
        return -ENOMEM;
    }
#define V(k) v[(k) + max + 1]
    V(1) = 0;
    for (long d = 0; d <= max && found < 0; d++) {
        int32_t *copy = malloc((size_t)(2 * d + 3) * sizeof(int32_t));
        if (!copy) {
            trace_free(&t);
            return -ENOMEM;
        }
        memcpy(copy, &V(-d - 1), (size_t)(2 * d + 3) * sizeof(int32_t));
        t.v[t.n++] = copy;
        for (long k = -d; k <= d; k += 2) {
            x = (k == -d || (k != d && V(k - 1) < V(k + 1))) ? V(k + 1) : V(k - 1) + 1;
            y = x - k;
            while (x < n && y < m && same(&a[x], &b[y]))
                x++, y++;
            V(k) = (int32_t)x;
            if (x >= n && y >= m) {
                found = d;
                break;
            }
        }
    }
#undef V
    if (found < 0) {
        trace_free(&t);
        return -1;
    }
    x = n, y = m;
    for (long d = found; d >= 0; d--) {
        const int32_t *pv = t.v[d];
        long k = x - y, pk, px, py;
#define PV(kk) pv[(kk) + d + 1]
        pk = (k == -d || (k != d && PV(k - 1) < PV(k + 1))) ? k + 1 : k - 1;
        px = d > 0 ? PV(pk) : 0;
#undef PV
        py = px - pk;
        if (d == 0)
            px = py = 0;
        while (x > px && y > py)
            script[len++] = OP_SAME, x--, y--;
        if (d > 0)
            script[len++] = x == px ? OP_ADD : OP_DEL;
        x = px, y = py;
    }
    trace_free(&t);
    return len;
}

/* The whole script: common head, the middle (minimal or a block), common tail. */
static int edit_script(const struct side *a, const struct side *b, char **ret, size_t *ret_len)
{
    size_t head = 0, tail = 0, len = 0;
    long n, m, mid;
    char *s = malloc(a->n + b->n + 1);

    if (!s)
        return -ENOMEM;
    while (head < a->n && head < b->n && same(&a->v[head], &b->v[head]))
        head++;
    while (tail < a->n - head && tail < b->n - head &&
           same(&a->v[a->n - 1 - tail], &b->v[b->n - 1 - tail]))
        tail++;
    n = (long)(a->n - head - tail);
    m = (long)(b->n - head - tail);
    memset(s, OP_SAME, head);
    len = head;
    mid = myers(a->v + head, n, b->v + head, m, s + len);
    if (mid == -ENOMEM) {
        free(s);
        return -ENOMEM;
    }
    if (mid >= 0) {
        for (long i = 0; i < mid / 2; i++) { /* it was written backwards */
            char c = s[len + (size_t)i];
            s[len + (size_t)i] = s[len + (size_t)(mid - 1 - i)];
            s[len + (size_t)(mid - 1 - i)] = c;
        }
        len += (size_t)mid;
    } else {
        memset(s + len, OP_DEL, (size_t)n);
        memset(s + len + (size_t)n, OP_ADD, (size_t)m);
        len += (size_t)(n + m);
    }
    memset(s + len, OP_SAME, tail);
    len += tail;
    *ret = s;
    *ret_len = len;
    return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

/* Appends one whole line (or nothing, once the cap is reached). */
static void out_line(struct out *o, char mark, const char *s, size_t len, bool eol)
{
    static const char no_eol[] = "\n\\ No newline at end of file\n";
    size_t need = (mark ? 1 : 0) + len + (eol ? 1 : sizeof(no_eol) - 1);

    if (o->truncated || o->len + need + 1 > o->max) {
        o->truncated = true;
        return;
    }
    if (mark)
        o->buf[o->len++] = mark;
    memcpy(o->buf + o->len, s, len);
    o->len += len;
    if (eol)
        o->buf[o->len++] = '\n';
    else {
        memcpy(o->buf + o->len, no_eol, sizeof(no_eol) - 1);
        o->len += sizeof(no_eol) - 1;
    }
    o->buf[o->len] = '\0';
}

static void out_text(struct out *o, const char *text)
{
    out_line(o, 0, text, strlen(text), true);
}

/* A hunk's range as GNU diff writes it: "start,count", "start" for one line, and for none the
 * line before. */
static void range(char *buf, size_t size, size_t first, size_t count)
{
    if (count == 1)
        snprintf(buf, size, "%zu", first + 1);
    else
        snprintf(buf, size, "%zu,%zu", count ? first + 1 : first, count);
}

/* One hunk: script[from, to) starting at old line i, new line j (0-based). */
static void hunk(struct out *o, const char *script, size_t from, size_t to, const struct side *a,
                 size_t i, const struct side *b, size_t j)
{
    size_t n_old = 0, n_new = 0;
    char header[96], old_range[40], new_range[40];

    for (size_t p = from; p < to; p++) {
        n_old += script[p] != OP_ADD;
        n_new += script[p] != OP_DEL;
    }
    range(old_range, sizeof(old_range), i, n_old);
    range(new_range, sizeof(new_range), j, n_new);
    snprintf(header, sizeof(header), "@@ -%s +%s @@", old_range, new_range);
    out_text(o, header);
    for (size_t p = from; p < to; p++) {
        const struct line *l = script[p] == OP_ADD ? &b->v[j] : &a->v[i];
        out_line(o,
                 script[p] == OP_SAME  ? ' '
                 : script[p] == OP_DEL ? '-'
                                       : '+',
                 l->s, l->len, l->eol);
        i += script[p] != OP_ADD;
        j += script[p] != OP_DEL;
    }
}

static void hunks(struct out *o, const char *script, size_t len, const struct side *a,
                  const struct side *b)
{
    size_t p = 0, i = 0, j = 0;

    while (p < len && !o->truncated) {
        size_t change = p, start, end, last;
        while (change < len && script[change] == OP_SAME)
            change++;
        if (change == len)
            return;
        start = change > p + OSM_DIFF_CONTEXT ? change - OSM_DIFF_CONTEXT : p;
        i += start - p; /* everything skipped was unchanged */
        j += start - p;
        last = change;
        for (size_t q = change; q < len; q++) {
            if (script[q] != OP_SAME) {
                last = q;
                continue;
            }
            if (q - last > 2 * OSM_DIFF_CONTEXT)
                break;
        }
        end = last + 1 + OSM_DIFF_CONTEXT < len ? last + 1 + OSM_DIFF_CONTEXT : len;
        hunk(o, script, start, end, a, i, b, j);
        for (size_t q = start; q < end; q++) {
            i += script[q] != OP_ADD;
            j += script[q] != OP_DEL;
        }
        p = end;
    }
}

int osm_diff_unified(const char *old_text, size_t old_len, const char *new_text, size_t new_len,
                     const char *old_label, const char *new_label, size_t out_max, char **ret,
                     bool *ret_truncated)
{
    struct side a = {0}, b = {0};
    _cleanup_free_ char *script = NULL;
    struct out o = {.max = out_max};
    size_t len = 0;
    char header[2 * 4096];
    int r;

    *ret = NULL;
    *ret_truncated = false;
    if (out_max == 0)
        return -EINVAL;
    if ((r = split_lines(old_text, old_len, &a)) < 0 ||
        (r = split_lines(new_text, new_len, &b)) < 0 || (r = edit_script(&a, &b, &script, &len)))
        goto done;
    o.buf = calloc(1, out_max);
    if (!o.buf) {
        r = -ENOMEM;
        goto done;
    }
    if (memchr(script, OP_DEL, len) || memchr(script, OP_ADD, len)) {
        snprintf(header, sizeof(header), "--- %.4000s\n+++ %.4000s", old_label, new_label);
        out_text(&o, header);
        hunks(&o, script, len, &a, &b);
    }
    *ret = o.buf;
    *ret_truncated = o.truncated;
done:
    free(a.v);
    free(b.v);
    return r;
}
