/* Solana: Ed25519 key pairs from libsodium, base58 addresses, and the legacy wire form of a
 * single System Program transfer, signed by the sender as the only signer and fee payer. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base58.h"
#include "sol.h"

#define SOL_SYSTEM_TRANSFER 2 /* the System Program's instruction index for Transfer */
#define SOL_TRANSFER_DATA_LEN 12
#define SOL_ACCOUNTS 3
/* header 3 + keys (1 + 3 * 32) + blockhash 32 + instructions (1 + 1 + 1 + 2 + 1 + 12) */
#define SOL_TRANSFER_MSG_LEN (3 + 1 + SOL_ACCOUNTS * 32 + 32 + 1 + 1 + 1 + 2 + 1 + 12)

int sol_keypair(const uint8_t seed[static 32], uint8_t pk[static SOL_PUBKEY_LEN],
                uint8_t sk[static SOL_SECRET_LEN])
{
    return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -EINVAL;
}

void sol_address_text(const uint8_t pk[static SOL_PUBKEY_LEN],
                      char out[static SOL_ADDR_TEXT_MAX + 1])
{
    /* 32 bytes never need more than 44 characters */
    if (base58_encode(pk, SOL_PUBKEY_LEN, out, SOL_ADDR_TEXT_MAX + 1) < 0)
        out[0] = '\0';
}

/* Exactly 32 bytes from at most SOL_ADDR_TEXT_MAX characters. */
static int parse32(const char *s, uint8_t out[static 32])
{
    uint8_t buf[32];
    ssize_t n;

    if (!s || strnlen(s, SOL_ADDR_TEXT_MAX + 1) > SOL_ADDR_TEXT_MAX)
        return -EINVAL;
    n = base58_decode(s, buf, sizeof(buf));
    if (n != 32)
        return -EINVAL;
    memcpy(out, buf, 32);
    return 0;
}

int sol_address_parse(const char *s, uint8_t pk[static SOL_PUBKEY_LEN])
{
    return parse32(s, pk);
}

int sol_blockhash_parse(const char *s, uint8_t hash[static 32])
{
    return parse32(s, hash);
}

/* The message of the transfer: 150 bytes into m. */
static void transfer_message(const uint8_t from[static 32], const uint8_t to[static 32],
                             uint64_t lamports, const uint8_t blockhash[static 32],
                             uint8_t m[static SOL_TRANSFER_MSG_LEN])
{
    size_t o = 0;

    m[o++] = 1; /* required signatures */
    m[o++] = 0; /* read-only signed accounts */
    m[o++] = 1; /* read-only unsigned accounts: the System Program */
    m[o++] = SOL_ACCOUNTS;
    memcpy(m + o, from, 32);
    memcpy(m + o + 32, to, 32);
    memset(m + o + 64, 0, 32); /* 11111111111111111111111111111111 */
    o += SOL_ACCOUNTS * 32;
    memcpy(m + o, blockhash, 32);
    o += 32;
    m[o++] = 1; /* one instruction */
    m[o++] = 2; /* program: account 2 */
    m[o++] = 2; /* accounts [0, 1] */
    m[o++] = 0;
    m[o++] = 1;
    m[o++] = SOL_TRANSFER_DATA_LEN;
    for (size_t i = 0; i < 4; i++)
        m[o++] = (uint8_t)(SOL_SYSTEM_TRANSFER >> (8 * i));
    for (size_t i = 0; i < 8; i++)
        m[o++] = (uint8_t)(lamports >> (8 * i));
}

int sol_transfer_tx(const uint8_t sk[static SOL_SECRET_LEN],
                    const uint8_t to[static SOL_PUBKEY_LEN], uint64_t lamports,
                    const uint8_t blockhash[static 32], uint8_t **ret, size_t *ret_len,
                    uint8_t sig[static SOL_SIG_LEN])
{
    static const uint8_t system_program[32];
    const uint8_t *from = sk + 32;
    size_t len = 1 + SOL_SIG_LEN + SOL_TRANSFER_MSG_LEN;
    uint8_t *tx;
    int r;

    /* the account keys must be distinct: not to oneself, not to the System Program */
    if (lamports == 0 || memcmp(from, to, 32) == 0 || memcmp(to, system_program, 32) == 0)
        return -EINVAL;
    tx = malloc(len);
    if (!tx)
        return -ENOMEM;
    tx[0] = 1; /* shortvec: one signature */
    transfer_message(from, to, lamports, blockhash, tx + 1 + SOL_SIG_LEN);
    r = sol_sign(sk, tx + 1 + SOL_SIG_LEN, SOL_TRANSFER_MSG_LEN, tx + 1);
    if (r < 0) {
        free(tx);
        return r;
    }
    memcpy(sig, tx + 1, SOL_SIG_LEN);
    *ret = tx;
    *ret_len = len;
    return 0;
}

int sol_sign(const uint8_t sk[static SOL_SECRET_LEN], const void *msg, size_t len,
             uint8_t sig[static SOL_SIG_LEN])
{
    if (len > 0 && !msg)
        return -EINVAL;
    return crypto_sign_detached(sig, NULL, msg, len, sk) == 0 ? 0 : -EINVAL;
}
