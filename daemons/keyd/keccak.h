/* Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256), from Botan's C
 * API ("Keccak-1600(256)"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KECCAK256_LEN 32

/* 0 or -EIO (Botan failed). */
int keccak256(const void *data, size_t len, uint8_t out[static KECCAK256_LEN]);
/* Over the concatenation of n parts (EIP-191, EIP-712 and transaction hashes). */
int keccak256_parts(const void *const *parts, const size_t *lens, size_t n,
                    uint8_t out[static KECCAK256_LEN]);
