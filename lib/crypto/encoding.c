/* Hex by hand (it sits in the ledger's hot loop); base64 from libsodium. */
#include <errno.h>
#include <sodium.h>

#include "encoding.h"

void osm_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

/* Digit value + 1, 0 for anything else: a table, because a branch per character is slow. */
static const uint8_t hex_table[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int osm_hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len)
{
    if (in_len != 2 * out_len)
        return -EINVAL;
    for (size_t i = 0; i < out_len; i++) {
        unsigned hi = hex_table[(unsigned char)in[2 * i]];
        unsigned lo = hex_table[(unsigned char)in[2 * i + 1]];
        if (hi == 0 || lo == 0)
            return -EINVAL;
        out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    return 0;
}

int osm_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_size)
{
    if (out_size <= OSM_BASE64_LEN(len))
        return -ENOBUFS;
    sodium_bin2base64(out, out_size, in, len, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int osm_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_max, size_t *ret_len)
{
    size_t n = 0;

    if (sodium_base642bin(out, out_max, in, in_len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -EINVAL;
    if (ret_len)
        *ret_len = n;
    return 0;
}
