/* Solana: Ed25519 keys (libsodium), base58 addresses, and legacy System Program transfer
 * transactions with a recent blockhash given by the caller (keyd has no network). Checked
 * against @solana/web3.js in the tests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SOL_PUBKEY_LEN 32
#define SOL_SECRET_LEN 64 /* libsodium's secret key: seed ‖ public key */
#define SOL_SIG_LEN 64
#define SOL_ADDR_TEXT_MAX 44

/* The key pair of a 32-byte seed. */
int sol_keypair(const uint8_t seed[static 32], uint8_t pk[static SOL_PUBKEY_LEN],
                uint8_t sk[static SOL_SECRET_LEN]);
/* The base58 address (NUL-terminated). */
void sol_address_text(const uint8_t pk[static SOL_PUBKEY_LEN],
                      char out[static SOL_ADDR_TEXT_MAX + 1]);
/* Parses a base58 address that decodes to exactly 32 bytes: 0 or -EINVAL. */
int sol_address_parse(const char *s, uint8_t pk[static SOL_PUBKEY_LEN]);
/* Parses a base58 blockhash (32 bytes). */
int sol_blockhash_parse(const char *s, uint8_t hash[static 32]);

/* A legacy transaction with one System Program transfer of lamports from the key's account to
 * `to`: header [1, 0, 1], accounts [from, to, 11111111111111111111111111111111], the recent
 * blockhash, instruction (program 2, accounts [0, 1], data u32 LE 2 ‖ u64 LE lamports);
 * wire form shortvec(1) ‖ signature ‖ message. *ret (malloc'd) is the wire bytes; sig is the
 * signature (its base58 is the transaction id). -EINVAL when from equals to or lamports is 0. */
int sol_transfer_tx(const uint8_t sk[static SOL_SECRET_LEN],
                    const uint8_t to[static SOL_PUBKEY_LEN], uint64_t lamports,
                    const uint8_t blockhash[static 32], uint8_t **ret, size_t *ret_len,
                    uint8_t sig[static SOL_SIG_LEN]);
/* Ed25519 over msg (arbitrary bytes: only under the stricter sign_raw permission). */
int sol_sign(const uint8_t sk[static SOL_SECRET_LEN], const void *msg, size_t len,
             uint8_t sig[static SOL_SIG_LEN]);
