/* Base58 with the Bitcoin alphabet (no 0, O, I, l): leading zero bytes are written as '1', the
 * rest as a big number in base 58. Quadratic, which is fine for keys, signatures and
 * transactions of a few hundred bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base58.h"

static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

ssize_t base58_encode(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t zeros = 0, size, len = 0, o = 0;
    uint8_t *digits; /* base-58 digits, least significant first */

    while (zeros < n && p[zeros] == 0)
        zeros++;
    size = (n - zeros) * 138 / 100 + 1; /* log(256) / log(58) */
    digits = calloc(size, 1);
    if (!digits)
        return -ENOMEM;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = p[i];

        for (size_t j = 0; j < len || carry; j++) {
            carry += (unsigned)digits[j] * 256;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
            if (j + 1 > len)
                len = j + 1;
        }
    }
    if (zeros + len + 1 > cap) {
        free(digits);
        return -E2BIG;
    }
    for (size_t i = 0; i < zeros; i++)
        out[o++] = '1';
    for (size_t i = len; i > 0; i--)
        out[o++] = alphabet[digits[i - 1]];
    out[o] = '\0';
    free(digits);
    return (ssize_t)o;
}

static int digit_value(char c)
{
    const char *hit = c ? strchr(alphabet, c) : NULL;

    return hit ? (int)(hit - alphabet) : -1;
}

ssize_t base58_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t zeros = 0, len = 0; /* len: bytes of the number, least significant first in out */

    if (!s || !*s)
        return -EINVAL;
    while (s[zeros] == '1')
        zeros++;
    for (const char *c = s + zeros; *c; c++) {
        int d = digit_value(*c);
        unsigned carry;

        if (d < 0)
            return -EINVAL;
        carry = (unsigned)d;
        for (size_t j = 0; j < len || carry; j++) {
            if (j >= cap)
                return -E2BIG;
            if (j < len)
                carry += (unsigned)out[j] * 58;
            out[j] = (uint8_t)(carry & 0xff);
            carry >>= 8;
            if (j + 1 > len)
                len = j + 1;
        }
    }
    if (zeros + len > cap)
        return -E2BIG;
    /* big-endian, after the leading zeros */
    for (size_t i = 0; i < len / 2; i++) {
        uint8_t t = out[i];

        out[i] = out[len - 1 - i];
        out[len - 1 - i] = t;
    }
    memmove(out + zeros, out, len);
    memset(out, 0, zeros);
    return (ssize_t)(zeros + len);
}
