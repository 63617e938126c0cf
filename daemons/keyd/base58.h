/* Base58 (the Bitcoin alphabet), as Solana writes addresses, signatures and blockhashes. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes the text of p[0..n) and a NUL into out: its length, or -E2BIG when cap is too small. */
ssize_t base58_encode(const uint8_t *p, size_t n, char *out, size_t cap);
/* Decodes s: the byte count, -EINVAL for a character outside the alphabet or an empty string,
 * -E2BIG when out is too small. */
ssize_t base58_decode(const char *s, uint8_t *out, size_t cap);
