/* Recursive Length Prefix (Yellow Paper appendix B): a growing encoder whose lists get their
 * headers when they close, and a strict decoder that accepts only the canonical encoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rlp.h"

#define RLP_SHORT_MAX 55 /* payloads up to this length have a one-byte header */

void rlp_init(struct rlp_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void rlp_clear(struct rlp_buf *b)
{
    free(b->data);
    rlp_init(b);
}

static void set_err(struct rlp_buf *b, int err)
{
    if (!b->err)
        b->err = err;
}

/* Makes room for n more bytes: 0, or records the error. */
static int reserve(struct rlp_buf *b, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (b->err)
        return b->err;
    if (n > RLP_SIZE_MAX || b->len + n > RLP_SIZE_MAX) {
        set_err(b, -E2BIG);
        return b->err;
    }
    if (b->len + n <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        set_err(b, -ENOMEM);
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/* The header of a payload of len bytes: base 0x80 for strings, 0xc0 for lists. */
static size_t header(uint8_t base, size_t len, uint8_t out[9])
{
    size_t n = 0;

    if (len <= RLP_SHORT_MAX) {
        out[0] = (uint8_t)(base + len);
        return 1;
    }
    for (size_t v = len; v; v >>= 8)
        n++;
    out[0] = (uint8_t)(base + RLP_SHORT_MAX + n);
    for (size_t i = 0; i < n; i++)
        out[n - i] = (uint8_t)(len >> (8 * i));
    return n + 1;
}

void rlp_bytes(struct rlp_buf *b, const void *p, size_t n)
{
    uint8_t h[9];
    size_t hl;

    if (n == 1 && ((const uint8_t *)p)[0] < 0x80) {
        if (reserve(b, 1) == 0)
            b->data[b->len++] = ((const uint8_t *)p)[0];
        return;
    }
    hl = header(0x80, n, h);
    if (reserve(b, hl + n) != 0)
        return;
    memcpy(b->data + b->len, h, hl);
    if (n)
        memcpy(b->data + b->len + hl, p, n);
    b->len += hl + n;
}

void rlp_uint128(struct rlp_buf *b, unsigned __int128 v)
{
    uint8_t be[16];
    size_t n = 0;

    for (unsigned __int128 t = v; t; t >>= 8)
        n++;
    for (size_t i = 0; i < n; i++)
        be[n - 1 - i] = (uint8_t)(v >> (8 * i));
    rlp_bytes(b, be, n);
}

void rlp_uint(struct rlp_buf *b, uint64_t v)
{
    rlp_uint128(b, v);
}

void rlp_list_begin(struct rlp_buf *b)
{
    if (b->err)
        return;
    if (b->depth >= RLP_DEPTH_MAX) {
        set_err(b, -E2BIG);
        return;
    }
    b->open[b->depth++] = b->len;
}

void rlp_list_end(struct rlp_buf *b)
{
    uint8_t h[9];
    size_t start, hl;

    if (b->err)
        return;
    if (b->depth == 0) {
        set_err(b, -EINVAL);
        return;
    }
    start = b->open[--b->depth];
    hl = header(0xc0, b->len - start, h);
    if (reserve(b, hl) != 0)
        return;
    memmove(b->data + start + hl, b->data + start, b->len - start);
    memcpy(b->data + start, h, hl);
    b->len += hl;
}

int rlp_result(const struct rlp_buf *b, const uint8_t **ret, size_t *ret_len)
{
    static const uint8_t empty[1];

    if (b->err)
        return b->err;
    if (b->depth)
        return -EINVAL;
    *ret = b->data ? b->data : empty;
    *ret_len = b->len;
    return 0;
}

/* A long-form length of n bytes: canonical (no leading zero, above RLP_SHORT_MAX) and within
 * avail. */
static int long_length(const uint8_t *p, size_t n, size_t avail, size_t *ret)
{
    size_t v = 0;

    if (n > avail || p[0] == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (v > (SIZE_MAX >> 8))
            return -EINVAL;
        v = (v << 8) | p[i];
    }
    if (v <= RLP_SHORT_MAX)
        return -EINVAL;
    *ret = v;
    return 0;
}

int rlp_decode(const uint8_t *buf, size_t len, struct rlp_item *ret, size_t *ret_used)
{
    size_t hl = 1, n;
    uint8_t b0;
    int r;

    if (len == 0)
        return -EINVAL;
    b0 = buf[0];
    ret->list = b0 >= 0xc0;
    if (b0 < 0x80) {
        ret->p = buf;
        ret->len = 1;
        *ret_used = 1;
        return 0;
    }
    if (b0 <= 0xb7 || (b0 >= 0xc0 && b0 <= 0xf7))
        n = b0 - (ret->list ? 0xc0 : 0x80);
    else {
        size_t ll = b0 - (ret->list ? 0xf7 : 0xb7);

        r = long_length(buf + 1, ll, len - 1, &n);
        if (r < 0)
            return r;
        hl += ll;
    }
    if (n > len - hl)
        return -EINVAL;
    if (!ret->list && n == 1 && buf[hl] < 0x80)
        return -EINVAL; /* a single low byte is its own encoding */
    ret->p = buf + hl;
    ret->len = n;
    *ret_used = hl + n;
    return 0;
}

int rlp_next(const struct rlp_item *list, size_t *off, struct rlp_item *ret)
{
    size_t used;
    int r;

    if (!list->list)
        return -EINVAL;
    if (*off >= list->len)
        return -ENOENT;
    r = rlp_decode(list->p + *off, list->len - *off, ret, &used);
    if (r < 0)
        return r;
    *off += used;
    return 0;
}

int rlp_item_uint(const struct rlp_item *it, unsigned __int128 *ret)
{
    unsigned __int128 v = 0;

    if (it->list)
        return -EINVAL;
    if (it->len > 0 && it->p[0] == 0)
        return -EINVAL;
    if (it->len > sizeof(v))
        return -ERANGE;
    for (size_t i = 0; i < it->len; i++)
        v = (v << 8) | it->p[i];
    *ret = v;
    return 0;
}
