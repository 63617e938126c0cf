/* Ethereum keys, addresses and signatures that real chains and wallets accept: secp256k1 with
 * recovery (libsecp256k1), EIP-55 checksummed addresses, EIP-191 personal_sign, EIP-712 typed
 * data, EIP-155 legacy and EIP-1559 (type 2) transactions. Checked against ethers in the tests. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ADDR_LEN 20
#define ETH_ADDR_TEXT_LEN 42 /* "0x" + 40 hex digits */
#define ETH_SIG_LEN 65       /* r ‖ s ‖ v */
#define ETH_DATA_MAX (128 * 1024)
#define ETH_TYPED_DATA_MAX (256 * 1024) /* bytes of an EIP-712 document */

/* A private key is 32 bytes, valid when 0 < k < n. */
bool eth_key_valid(const uint8_t sk[static 32]);
/* The 20-byte address of a private key: 0 or -EINVAL. */
int eth_address_of_key(const uint8_t sk[static 32], uint8_t addr[static ETH_ADDR_LEN]);
/* EIP-55 text ("0x" + mixed-case hex, NUL-terminated). */
void eth_address_text(const uint8_t addr[static ETH_ADDR_LEN],
                      char out[static ETH_ADDR_TEXT_LEN + 1]);
/* Parses "0x" + 40 hex digits. All lower or all upper case is accepted as is; mixed case must be
 * the EIP-55 checksum (-EBADMSG otherwise: a typo in an address loses funds). -EINVAL malformed. */
int eth_address_parse(const char *s, uint8_t addr[static ETH_ADDR_LEN]);

/* Signs a 32-byte digest: r ‖ s ‖ recovery id (0/1; low-s, RFC 6979 nonces). 0 or -EINVAL. */
int eth_sign_digest(const uint8_t sk[static 32], const uint8_t digest[static 32],
                    uint8_t sig[static ETH_SIG_LEN]);
/* Recovers the signer's address (tests, and checking our own signatures before returning them). */
int eth_recover(const uint8_t digest[static 32], const uint8_t sig[static ETH_SIG_LEN],
                uint8_t addr[static ETH_ADDR_LEN]);

/* EIP-191 version 0x45: keccak256("\x19Ethereum Signed Message:\n" + decimal len + msg). */
int eth_personal_digest(const void *msg, size_t len, uint8_t out[static 32]);
/* personal_sign: the 65-byte signature with v = 27/28, as wallets return it. */
int eth_personal_sign(const uint8_t sk[static 32], const void *msg, size_t len,
                      uint8_t sig[static ETH_SIG_LEN]);

/* EIP-712: the digest keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(message)) of a typed
 * data document {types, primaryType, domain, message} (eth_signTypedData_v4 semantics: nested
 * structs, arrays of any type, bytes/string hashed, uintN/intN/bool/address/bytesN encoded).
 * -EINVAL with a message in err for a malformed or inconsistent document (unknown type, a
 * missing field, a value out of range, a cyclic type). */
int eth_typed_data_digest(const json_t *doc, uint8_t out[static 32], char *err, size_t errlen);

enum eth_tx_type { ETH_TX_LEGACY, ETH_TX_EIP1559 };

struct eth_tx {
    enum eth_tx_type type;
    uint64_t chain_id; /* EIP-155 replay protection: never 0 */
    uint64_t nonce;
    uint64_t gas_limit;
    unsigned __int128 gas_price;       /* legacy */
    unsigned __int128 max_fee_per_gas; /* 1559 */
    unsigned __int128 max_priority_fee_per_gas;
    bool has_to; /* false: contract creation */
    uint8_t to[ETH_ADDR_LEN];
    unsigned __int128 value; /* wei */
    const uint8_t *data;
    size_t data_len;
};

/* Signs tx: the raw transaction (legacy: RLP with v = chain_id * 2 + 35 + recovery id;
 * 1559: 0x02 ‖ RLP([... , accessList [], yParity, r, s])) in *ret_raw (malloc'd) and its hash
 * keccak256(raw). The unsigned hash is returned in unsigned_hash when not NULL.
 * -EINVAL for chain_id 0, max_priority_fee > max_fee, data over ETH_DATA_MAX. */
int eth_tx_sign(const struct eth_tx *tx, const uint8_t sk[static 32], uint8_t **ret_raw,
                size_t *ret_len, uint8_t hash[static 32], uint8_t unsigned_hash[32]);
