/* Amounts: the decimal grammar, 18 and 9 decimals, overflow at 2^128 and the round trips. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "amount.h"

#define WEI_PER_ETH ((amount_t)1000000000000000000ULL)
#define MAX_TEXT "340282366920938463463374607431768211455"  /* 2^128 - 1 */
#define OVER_TEXT "340282366920938463463374607431768211456" /* 2^128 */

static amount_t parse_ok(const char *s, unsigned decimals)
{
    amount_t a = 12345;

    cr_assert_eq(amount_parse(s, decimals, &a), 0, "\"%s\" should parse", s);
    return a;
}

Test(amount, whole_and_fractional)
{
    cr_assert(parse_ok("0", 18) == 0);
    cr_assert(parse_ok("1", 18) == WEI_PER_ETH);
    cr_assert(parse_ok("0.05", 18) == WEI_PER_ETH / 20);
    cr_assert(parse_ok("1.5", 9) == 1500000000);
    cr_assert(parse_ok("007.10", 18) == 7 * WEI_PER_ETH + WEI_PER_ETH / 10);
    cr_assert(parse_ok("0.000000000000000001", 18) == 1);
    cr_assert(parse_ok("1.000000000000000001", 18) == WEI_PER_ETH + 1);
    cr_assert(parse_ok("0.000000001", 9) == 1);
}

Test(amount, refused_forms)
{
    static const char *const bad[] = {
        "",     "-1",  "+1",    " 1",  "1 ",  "1.", ".5",  "1,5", "1e18", "1E3",
        "0x10", "1..", "1.2.3", "nan", "inf", "١",  "1_0", "\t1", "1.-1", "..",
    };
    amount_t a = 99;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(amount_parse(bad[i], 18, &a), -EINVAL, "\"%s\" accepted", bad[i]);
        cr_assert(a == 99, "\"%s\" changed the output", bad[i]);
    }
    cr_assert_eq(amount_parse(NULL, 18, &a), -EINVAL);
}

Test(amount, decimals_limit)
{
    amount_t a;

    cr_assert_eq(amount_parse("0.123456789012345678", 18, &a), 0);
    cr_assert(a == (amount_t)123456789012345678ULL);
    cr_assert_eq(amount_parse("0.1234567890123456789", 18, &a), -EINVAL);
    cr_assert_eq(amount_parse("1.0000000000000000000", 18, &a), -EINVAL, "19 zeros");
    cr_assert_eq(amount_parse("0.000000001", 9, &a), 0);
    cr_assert_eq(amount_parse("0.0000000001", 9, &a), -EINVAL);
}

Test(amount, overflow_at_2_pow_128)
{
    amount_t a = 0;

    cr_assert_eq(amount_parse_base(MAX_TEXT, &a), 0);
    cr_assert(a == ~(amount_t)0);
    cr_assert_eq(amount_parse_base(OVER_TEXT, &a), -ERANGE);
    cr_assert_eq(amount_parse_base("1" MAX_TEXT, &a), -ERANGE);
    /* the largest whole ETH amount that fits, and one more */
    cr_assert_eq(amount_parse("340282366920000000000", 18, &a), 0);
    cr_assert_eq(amount_parse("340282366921000000000", 18, &a), -ERANGE);
    /* the scaling of a short fraction overflows too */
    cr_assert_eq(amount_parse("340282366920938463463.4", 18, &a), -ERANGE);
    /* leading zeros are not an overflow */
    cr_assert_eq(amount_parse_base("0000000000000000000000000000000000000000000001", &a), 0);
    cr_assert(a == 1);
}

Test(amount, base_units_are_integers)
{
    amount_t a;

    cr_assert_eq(amount_parse_base("1000000000000000000", &a), 0);
    cr_assert(a == WEI_PER_ETH);
    cr_assert_eq(amount_parse_base("1.0", &a), -EINVAL);
    cr_assert_eq(amount_parse_base("", &a), -EINVAL);
    cr_assert_eq(amount_parse_base("-1", &a), -EINVAL);
}

Test(amount, format)
{
    char out[AMOUNT_TEXT_MAX + 1];

    amount_format(0, 18, out);
    cr_assert_str_eq(out, "0");
    amount_format(WEI_PER_ETH, 18, out);
    cr_assert_str_eq(out, "1");
    amount_format(WEI_PER_ETH / 20, 18, out);
    cr_assert_str_eq(out, "0.05");
    amount_format(1, 18, out);
    cr_assert_str_eq(out, "0.000000000000000001");
    amount_format(WEI_PER_ETH * 12 + 1, 18, out);
    cr_assert_str_eq(out, "12.000000000000000001");
    amount_format(1500000000, 9, out);
    cr_assert_str_eq(out, "1.5");
    amount_format(~(amount_t)0, 18, out);
    cr_assert_str_eq(out, "340282366920938463463.374607431768211455");
    amount_format(~(amount_t)0, 0, out);
    cr_assert_str_eq(out, MAX_TEXT);
    amount_format_base(0, out);
    cr_assert_str_eq(out, "0");
    amount_format_base(~(amount_t)0, out);
    cr_assert_str_eq(out, MAX_TEXT);
}

Test(amount, round_trips)
{
    static const char *const texts[] = {"0",       "1",
                                        "0.05",    "0.000000000000000001",
                                        "123.456", "340282366920938463463.374607431768211455"};
    static const amount_t values[] = {
        0, 1, 9, 10, 999999999, 1000000000, WEI_PER_ETH - 1, ~(amount_t)0, (amount_t)1 << 100};
    char out[AMOUNT_TEXT_MAX + 1];
    amount_t a, b;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        cr_assert_eq(amount_parse(texts[i], 18, &a), 0);
        amount_format(a, 18, out);
        cr_assert_str_eq(out, texts[i]);
    }
    for (unsigned d = 0; d <= 18; d += 9)
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            amount_format(values[i], d, out);
            cr_assert_eq(amount_parse(out, d, &b), 0, "%s", out);
            cr_assert(b == values[i], "%s with %u decimals", out, d);
            amount_format_base(values[i], out);
            cr_assert_eq(amount_parse_base(out, &b), 0);
            cr_assert(b == values[i]);
        }
}

Test(amount, chain_decimals)
{
    cr_assert_eq(amount_decimals("ethereum"), 18);
    cr_assert_eq(amount_decimals("solana"), 9);
    cr_assert_eq(amount_decimals("bitcoin"), -EINVAL);
    cr_assert_eq(amount_decimals("Ethereum"), -EINVAL);
    cr_assert_eq(amount_decimals(NULL), -EINVAL);
}
