/* Amounts: decimal text <-> fixed-point base units (wei, lamports), parsed once so that the
 * policy check and the transaction builder see the same integer. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "amount.h"

#define AMOUNT_MAX (~(amount_t)0)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* acc = acc * 10 + d, or -ERANGE past 2^128 - 1. */
static int push_digit(amount_t *acc, unsigned d)
{
    if (*acc > (AMOUNT_MAX - d) / 10)
        return -ERANGE;
    *acc = *acc * 10 + d;
    return 0;
}

/* The syntax alone: digits, then optionally '.' and 1..decimals digits. Returns the number of
 * fraction digits, or -EINVAL. */
static int check_syntax(const char *s, unsigned decimals)
{
    const char *p = s, *dot;
    size_t frac;

    while (is_digit(*p))
        p++;
    if (p == s)
        return -EINVAL; /* empty, sign, space or leading '.' */
    if (*p == '\0')
        return 0;
    if (*p != '.')
        return -EINVAL;
    dot = p++;
    while (is_digit(*p))
        p++;
    frac = (size_t)(p - dot - 1);
    if (*p != '\0' || frac == 0 || frac > decimals)
        return -EINVAL;
    return (int)frac;
}

int amount_parse(const char *s, unsigned decimals, amount_t *ret)
{
    amount_t acc = 0;
    int frac, r;

    if (!s || (frac = check_syntax(s, decimals)) < 0)
        return -EINVAL;
    for (const char *p = s; *p; p++)
        if (*p != '.' && (r = push_digit(&acc, (unsigned)(*p - '0'))) < 0)
            return r;
    for (unsigned i = (unsigned)frac; i < decimals; i++)
        if ((r = push_digit(&acc, 0)) < 0)
            return r;
    *ret = acc;
    return 0;
}

int amount_parse_base(const char *s, amount_t *ret)
{
    return amount_parse(s, 0, ret);
}

/* Writes the decimal digits of a (at least min_digits, zero-padded) backwards ending at end;
 * returns the first character. */
static char *digits_backwards(amount_t a, unsigned min_digits, char *end)
{
    char *p = end;
    unsigned n = 0;

    *p = '\0';
    do {
        *--p = (char)('0' + (unsigned)(a % 10));
        a /= 10;
        n++;
    } while (a > 0 || n < min_digits);
    return p;
}

void amount_format_base(amount_t a, char out[static AMOUNT_TEXT_MAX + 1])
{
    char buf[AMOUNT_TEXT_MAX + 1];
    const char *digits = digits_backwards(a, 1, buf + AMOUNT_TEXT_MAX);

    memcpy(out, digits, strlen(digits) + 1);
}

void amount_format(amount_t a, unsigned decimals, char out[static AMOUNT_TEXT_MAX + 1])
{
    char buf[AMOUNT_TEXT_MAX + 1], *digits, *dot;
    size_t len, int_len;

    /* all digits with at least decimals + 1 of them, then the point placed decimals from the
     * end and trailing fraction zeros dropped */
    if (decimals > AMOUNT_TEXT_MAX - 2)
        decimals = AMOUNT_TEXT_MAX - 2;
    digits = digits_backwards(a, decimals + 1, buf + AMOUNT_TEXT_MAX);
    len = strlen(digits);
    int_len = len - decimals;
    memcpy(out, digits, int_len);
    dot = out + int_len;
    *dot = '.';
    memcpy(dot + 1, digits + int_len, decimals);
    len = int_len + 1 + decimals;
    while (len > int_len + 1 && out[len - 1] == '0')
        len--;
    if (len == int_len + 1)
        len = int_len; /* no fraction left: no point either */
    out[len] = '\0';
}

int amount_decimals(const char *chain)
{
    if (!chain)
        return -EINVAL;
    if (strcmp(chain, "ethereum") == 0)
        return AMOUNT_ETH_DECIMALS;
    if (strcmp(chain, "solana") == 0)
        return AMOUNT_SOL_DECIMALS;
    return -EINVAL;
}
