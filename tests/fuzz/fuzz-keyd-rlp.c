/* libFuzzer target: keyd's RLP decoder on arbitrary bytes. Whatever it accepts must be
 * canonical, so walking the decoded items and encoding them again with the encoder must give
 * back exactly the bytes the decoder consumed; nothing may read past the input. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rlp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

/* Re-encodes it into b: 0, or -EINVAL when a nested item does not decode. */
static int reencode(const struct rlp_item *it, struct rlp_buf *b, unsigned depth)
{
    struct rlp_item sub;
    size_t off = 0;
    int r;

    if (!it->list) {
        rlp_bytes(b, it->p, it->len);
        return 0;
    }
    if (depth >= RLP_DEPTH_MAX)
        return -E2BIG;
    rlp_list_begin(b);
    while ((r = rlp_next(it, &off, &sub)) == 0) {
        assert(off <= it->len);
        r = reencode(&sub, b, depth + 1);
        if (r < 0)
            return r;
    }
    if (r != -ENOENT)
        return r;
    rlp_list_end(b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rlp_item it;
    struct rlp_buf b;
    const uint8_t *p;
    unsigned __int128 v;
    size_t used, n;

    if (rlp_decode(data, size, &it, &used) < 0)
        return 0;
    assert(used >= 1 && used <= size);
    assert(it.p >= data && it.p + it.len <= data + used);
    if (!it.list && rlp_item_uint(&it, &v) == 0) {
        rlp_init(&b);
        rlp_uint128(&b, v);
        assert(rlp_result(&b, &p, &n) == 0 && n == used && memcmp(p, data, n) == 0);
        rlp_clear(&b);
    }
    rlp_init(&b);
    if (reencode(&it, &b, 0) == 0) {
        assert(rlp_result(&b, &p, &n) == 0);
        assert(n == used && memcmp(p, data, n) == 0);
    }
    rlp_clear(&b);
    return 0;
}
