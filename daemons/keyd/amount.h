/* Amounts as fixed-point integers in the chain's base unit — 18 decimals for ETH (wei), 9 for
 * SOL (lamports) — parsed once from the caller's decimal text, so the policy check and the
 * transaction builder see the same number (osModa checked "1" as 1 ETH and built it as 1 wei). */
#pragma once

#include <stddef.h>

typedef unsigned __int128 amount_t;

#define AMOUNT_ETH_DECIMALS 18
#define AMOUNT_SOL_DECIMALS 9
#define AMOUNT_TEXT_MAX 48

/* "1", "0.05", "1.000000000000000001": digits, one optional '.', at most `decimals` digits
 * after it. No sign, exponent, spaces, leading '.', or trailing '.'. 0 or -EINVAL (malformed,
 * too many decimals) / -ERANGE (over 2^128 - 1 base units). */
int amount_parse(const char *s, unsigned decimals, amount_t *ret);
/* A whole number of base units ("1000000000000000000" wei). */
int amount_parse_base(const char *s, amount_t *ret);
/* The decimal text of a in the main unit, trailing zeros removed ("0.05", "1"). */
void amount_format(amount_t a, unsigned decimals, char out[static AMOUNT_TEXT_MAX + 1]);
/* The base units as decimal text. */
void amount_format_base(amount_t a, char out[static AMOUNT_TEXT_MAX + 1]);
/* Decimals of a chain ("ethereum" 18, "solana" 9), or -EINVAL. */
int amount_decimals(const char *chain);
