/* Ethereum transactions: EIP-155 legacy (v = chain_id * 2 + 35 + recovery id) and EIP-1559
 * type 2 (0x02 ‖ RLP, yParity), signed over their unsigned hash, with the raw bytes and the
 * transaction hash a node would report. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eth.h"
#include "keccak.h"
#include "rlp.h"

#define TX_TYPE_EIP1559 0x02

static void rlp_clearp(struct rlp_buf *b)
{
    rlp_clear(b);
}

/* A 32-byte big-endian integer (r, s) as RLP writes integers: without leading zeros. */
static void rlp_be32(struct rlp_buf *b, const uint8_t v[static 32])
{
    size_t i = 0;

    while (i < 32 && v[i] == 0)
        i++;
    rlp_bytes(b, v + i, 32 - i);
}

static int check_tx(const struct eth_tx *tx)
{
    if (tx->chain_id == 0 || tx->data_len > ETH_DATA_MAX || (tx->data_len && !tx->data))
        return -EINVAL;
    if (tx->type == ETH_TX_EIP1559 && tx->max_priority_fee_per_gas > tx->max_fee_per_gas)
        return -EINVAL;
    if (tx->type != ETH_TX_LEGACY && tx->type != ETH_TX_EIP1559)
        return -EINVAL;
    return 0;
}

/* The fields both forms share after the fees: gasLimit (1559: after the fees), to, value, data. */
static void put_to_value_data(struct rlp_buf *b, const struct eth_tx *tx)
{
    rlp_bytes(b, tx->to, tx->has_to ? ETH_ADDR_LEN : 0);
    rlp_uint128(b, tx->value);
    rlp_bytes(b, tx->data, tx->data_len);
}

/* The legacy list up to data; the caller appends [chainId, 0, 0] or [v, r, s] and closes it. */
static void put_legacy_body(struct rlp_buf *b, const struct eth_tx *tx)
{
    rlp_list_begin(b);
    rlp_uint(b, tx->nonce);
    rlp_uint128(b, tx->gas_price);
    rlp_uint(b, tx->gas_limit);
    put_to_value_data(b, tx);
}

/* The 1559 list up to its (empty) access list. */
static void put_1559_body(struct rlp_buf *b, const struct eth_tx *tx)
{
    rlp_list_begin(b);
    rlp_uint(b, tx->chain_id);
    rlp_uint(b, tx->nonce);
    rlp_uint128(b, tx->max_priority_fee_per_gas);
    rlp_uint128(b, tx->max_fee_per_gas);
    rlp_uint(b, tx->gas_limit);
    put_to_value_data(b, tx);
    rlp_list_begin(b);
    rlp_list_end(b);
}

/* Hashes the encoding in b, after the type byte for 1559. */
static int hash_encoding(const struct rlp_buf *b, const struct eth_tx *tx, uint8_t out[32])
{
    static const uint8_t type2 = TX_TYPE_EIP1559;
    const uint8_t *p;
    size_t n;
    int r;

    r = rlp_result(b, &p, &n);
    if (r < 0)
        return r;
    const void *parts[] = {&type2, p};
    const size_t lens[] = {1, n};
    if (tx->type == ETH_TX_EIP1559)
        return keccak256_parts(parts, lens, 2, out);
    return keccak256(p, n, out);
}

static int unsigned_digest(const struct eth_tx *tx, uint8_t out[32])
{
    __attribute__((cleanup(rlp_clearp))) struct rlp_buf b;

    rlp_init(&b);
    if (tx->type == ETH_TX_LEGACY) {
        put_legacy_body(&b, tx);
        rlp_uint(&b, tx->chain_id);
        rlp_uint(&b, 0);
        rlp_uint(&b, 0);
    } else
        put_1559_body(&b, tx);
    rlp_list_end(&b);
    return hash_encoding(&b, tx, out);
}

/* The raw signed transaction (malloc'd, with the type byte for 1559). */
static int signed_raw(const struct eth_tx *tx, const uint8_t sig[static ETH_SIG_LEN], uint8_t **ret,
                      size_t *ret_len)
{
    __attribute__((cleanup(rlp_clearp))) struct rlp_buf b;
    size_t off = tx->type == ETH_TX_EIP1559 ? 1 : 0;
    const uint8_t *p;
    uint8_t *raw;
    size_t n;
    int r;

    rlp_init(&b);
    if (tx->type == ETH_TX_LEGACY) {
        put_legacy_body(&b, tx);
        rlp_uint128(&b, (unsigned __int128)tx->chain_id * 2 + 35 + sig[64]);
    } else {
        put_1559_body(&b, tx);
        rlp_uint(&b, sig[64]);
    }
    rlp_be32(&b, sig);
    rlp_be32(&b, sig + 32);
    rlp_list_end(&b);
    r = rlp_result(&b, &p, &n);
    if (r < 0)
        return r;
    raw = malloc(n + off);
    if (!raw)
        return -ENOMEM;
    raw[0] = TX_TYPE_EIP1559; /* overwritten by the list for legacy */
    memcpy(raw + off, p, n);
    *ret = raw;
    *ret_len = n + off;
    return 0;
}

int eth_tx_sign(const struct eth_tx *tx, const uint8_t sk[static 32], uint8_t **ret_raw,
                size_t *ret_len, uint8_t hash[static 32], uint8_t unsigned_hash[32])
{
    uint8_t digest[32], sig[ETH_SIG_LEN];
    uint8_t *raw = NULL;
    size_t len;
    int r;

    r = check_tx(tx);
    if (r < 0)
        return r;
    r = unsigned_digest(tx, digest);
    if (r < 0)
        return r;
    r = eth_sign_digest(sk, digest, sig);
    if (r < 0)
        return r;
    r = signed_raw(tx, sig, &raw, &len);
    if (r < 0)
        return r;
    r = keccak256(raw, len, hash);
    if (r < 0) {
        free(raw);
        return r;
    }
    if (unsigned_hash)
        memcpy(unsigned_hash, digest, 32);
    *ret_raw = raw;
    *ret_len = len;
    return 0;
}
