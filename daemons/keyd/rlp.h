/* Recursive Length Prefix, Ethereum's serialisation (Yellow Paper appendix B): an encoder for
 * transactions and a strict decoder (canonical forms only) for tests and fuzzing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RLP_DEPTH_MAX 16
#define RLP_SIZE_MAX (16 * 1024 * 1024)

struct rlp_buf {
    uint8_t *data;
    size_t len, cap;
    size_t open[RLP_DEPTH_MAX]; /* where each open list's payload starts */
    size_t depth;
    int err; /* the first error (-ENOMEM, -E2BIG, -EINVAL for unbalanced lists) */
};

void rlp_init(struct rlp_buf *b);
void rlp_clear(struct rlp_buf *b);
void rlp_bytes(struct rlp_buf *b, const void *p, size_t n);
/* An unsigned integer: big-endian without leading zeros (0 is the empty string). */
void rlp_uint(struct rlp_buf *b, uint64_t v);
void rlp_uint128(struct rlp_buf *b, unsigned __int128 v);
void rlp_list_begin(struct rlp_buf *b);
void rlp_list_end(struct rlp_buf *b);
/* The encoding so far: 0 with *ret pointing into b (valid until the next call), or b->err. */
int rlp_result(const struct rlp_buf *b, const uint8_t **ret, size_t *ret_len);

/* One decoded item: a string (bytes) or a list (its payload, to walk with rlp_next). */
struct rlp_item {
    bool list;
    const uint8_t *p;
    size_t len;
};
/* Decodes the item at the start of buf: 0 with *ret and the bytes it took in *ret_used; -EINVAL
 * for a truncated or non-canonical encoding (a single byte < 0x80 written as a string of
 * length 1, a long form for a short length, leading zeros in a length). */
int rlp_decode(const uint8_t *buf, size_t len, struct rlp_item *ret, size_t *ret_used);
/* The next item of list, from *off (start at 0): 0, -ENOENT at the end, -EINVAL. */
int rlp_next(const struct rlp_item *list, size_t *off, struct rlp_item *ret);
/* An integer item (canonical: no leading zero byte): 0 or -EINVAL / -ERANGE. */
int rlp_item_uint(const struct rlp_item *it, unsigned __int128 *ret);
