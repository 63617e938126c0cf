/* A driver that exposes keyd's chain code to the integration tests: reads one JSON request (or
 * an array of them) on stdin and prints the result (or an array of results) on stdout.
 *
 *   {"op": "address", "key": hex}                               -> {address}
 *   {"op": "address_parse", "text": str}                        -> {address} | error
 *   {"op": "personal_sign", "key": hex, "message_hex": hex}     -> {signature, address, digest}
 *   {"op": "typed_data", "key": hex, "typed_data": {...}}       -> {signature, address, digest}
 *   {"op": "tx", "key": hex, "tx": {type: 0|2, chainId, nonce, gasLimit, gasPrice |
 *     maxFeePerGas + maxPriorityFeePerGas, to?, value, data?}}  -> {raw, hash, unsigned_hash, from}
 *   {"op": "sol_transfer", "seed": hex, "to": b58, "lamports": n, "blockhash": b58}
 *                                                     -> {tx_base58, tx_base64, signature, from}
 *   {"op": "sol_sign", "seed": hex, "message_hex": hex}         -> {signature, address}
 *
 * Integers are JSON integers or decimal strings (for values above 2^63). Hex may carry "0x".
 * Signatures are 0x-hex r ‖ s ‖ v (v = 27/28) for Ethereum and base58 for Solana. A refused
 * request gives {"error": strerror-like code, "errno": n, "message"}. */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base58.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "eth.h"
#include "sol.h"

#define TOOL_INPUT_MAX (4 * 1024 * 1024)

static json_t *error_of(int r, const char *msg)
{
    return json_pack("{s:s, s:i, s:s}", "error", r == -EBADMSG ? "bad_checksum" : "invalid",
                     "errno", -r, "message", msg);
}

static const char *strip0x(const char *s)
{
    return (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
}

/* A malloc'd copy of the bytes of a hex member. */
static int get_hex(const json_t *req, const char *name, uint8_t **ret, size_t *ret_len)
{
    const char *s = json_string_value(json_object_get(req, name));
    size_t n;
    uint8_t *p;

    if (!s)
        return -EINVAL;
    s = strip0x(s);
    n = strlen(s);
    if (n % 2)
        return -EINVAL;
    p = malloc(n / 2 + 1);
    if (!p)
        return -ENOMEM;
    if (osm_hex_decode(s, n, p, n / 2) < 0) {
        free(p);
        return -EINVAL;
    }
    *ret = p;
    *ret_len = n / 2;
    return 0;
}

static int get_hex32(const json_t *req, const char *name, uint8_t out[static 32])
{
    _cleanup_free_ uint8_t *p = NULL;
    size_t n;
    int r = get_hex(req, name, &p, &n);

    if (r < 0)
        return r;
    if (n != 32)
        return -EINVAL;
    memcpy(out, p, 32);
    return 0;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 3);
    json_t *j;

    if (!s)
        return NULL;
    s[0] = '0';
    s[1] = 'x';
    osm_hex_encode(p, n, s + 2);
    j = json_string(s);
    free(s);
    return j;
}

/* A JSON integer or decimal string; a missing member is 0. */
static int get_u128(const json_t *obj, const char *name, unsigned __int128 *ret)
{
    const json_t *v = json_object_get(obj, name);
    unsigned __int128 x = 0;
    const char *s;

    if (!v) {
        *ret = 0;
        return 0;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -ERANGE;
        *ret = (unsigned __int128)json_integer_value(v);
        return 0;
    }
    s = json_string_value(v);
    if (!s || !*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        unsigned __int128 max = ~(unsigned __int128)0;

        if (x > max / 10 || (x == max / 10 && d > max % 10))
            return -ERANGE;
        x = x * 10 + d;
    }
    *ret = x;
    return 0;
}

static int get_u64(const json_t *obj, const char *name, uint64_t *ret)
{
    unsigned __int128 v;
    int r = get_u128(obj, name, &v);

    if (r < 0)
        return r;
    if (v > UINT64_MAX)
        return -ERANGE;
    *ret = (uint64_t)v;
    return 0;
}

static json_t *op_address(const json_t *req)
{
    uint8_t sk[32], addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];

    if (get_hex32(req, "key", sk) < 0 || eth_address_of_key(sk, addr) < 0)
        return error_of(-EINVAL, "bad key");
    eth_address_text(addr, text);
    return json_pack("{s:s}", "address", text);
}

static json_t *op_address_parse(const json_t *req)
{
    const char *s = json_string_value(json_object_get(req, "text"));
    uint8_t addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];
    int r = eth_address_parse(s, addr);

    if (r < 0)
        return error_of(r, "address refused");
    eth_address_text(addr, text);
    return json_pack("{s:s}", "address", text);
}

/* {signature, address, digest} of a digest signed with v = 27/28. */
static json_t *signed_digest(const uint8_t sk[static 32], const uint8_t digest[static 32])
{
    uint8_t sig[ETH_SIG_LEN], addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];

    if (eth_sign_digest(sk, digest, sig) < 0 || eth_address_of_key(sk, addr) < 0)
        return error_of(-EINVAL, "bad key");
    sig[64] += 27;
    eth_address_text(addr, text);
    return json_pack("{s:o, s:s, s:o}", "signature", hex_json(sig, sizeof(sig)), "address", text,
                     "digest", hex_json(digest, 32));
}

static json_t *op_personal_sign(const json_t *req)
{
    _cleanup_free_ uint8_t *msg = NULL;
    uint8_t sk[32], digest[32], sig[ETH_SIG_LEN];
    size_t n;
    json_t *res;

    if (get_hex32(req, "key", sk) < 0 || get_hex(req, "message_hex", &msg, &n) < 0)
        return error_of(-EINVAL, "key and message_hex are required");
    if (eth_personal_digest(msg, n, digest) < 0)
        return error_of(-EIO, "digest failed");
    res = signed_digest(sk, digest);
    /* eth_personal_sign must agree with the digest path */
    if (eth_personal_sign(sk, msg, n, sig) < 0 || !json_is_object(res))
        return res;
    json_object_set_new(res, "personal_sign", hex_json(sig, sizeof(sig)));
    return res;
}

static json_t *op_typed_data(const json_t *req)
{
    uint8_t sk[32], digest[32];
    char err[256] = "";
    int r;

    if (get_hex32(req, "key", sk) < 0)
        return error_of(-EINVAL, "key is required");
    r = eth_typed_data_digest(json_object_get(req, "typed_data"), digest, err, sizeof(err));
    if (r < 0)
        return error_of(r, err);
    return signed_digest(sk, digest);
}

static int parse_tx(const json_t *j, struct eth_tx *tx, uint8_t **data)
{
    const char *to = json_string_value(json_object_get(j, "to"));
    size_t n = 0;
    int r = 0;

    memset(tx, 0, sizeof(*tx));
    *data = NULL;
    tx->type = json_integer_value(json_object_get(j, "type")) == 2 ? ETH_TX_EIP1559 : ETH_TX_LEGACY;
    r = r ?: get_u64(j, "chainId", &tx->chain_id);
    r = r ?: get_u64(j, "nonce", &tx->nonce);
    r = r ?: get_u64(j, "gasLimit", &tx->gas_limit);
    r = r ?: get_u128(j, "gasPrice", &tx->gas_price);
    r = r ?: get_u128(j, "maxFeePerGas", &tx->max_fee_per_gas);
    r = r ?: get_u128(j, "maxPriorityFeePerGas", &tx->max_priority_fee_per_gas);
    r = r ?: get_u128(j, "value", &tx->value);
    if (r < 0)
        return r;
    if (to) {
        r = eth_address_parse(to, tx->to);
        if (r < 0)
            return r;
        tx->has_to = true;
    }
    if (json_object_get(j, "data")) {
        r = get_hex(j, "data", data, &n);
        if (r < 0)
            return r;
    }
    tx->data = *data;
    tx->data_len = n;
    return 0;
}

static json_t *op_tx(const json_t *req)
{
    _cleanup_free_ uint8_t *data = NULL, *raw = NULL;
    uint8_t sk[32], hash[32], uhash[32], addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];
    struct eth_tx tx;
    size_t len;
    int r;

    if (get_hex32(req, "key", sk) < 0 || eth_address_of_key(sk, addr) < 0)
        return error_of(-EINVAL, "bad key");
    r = parse_tx(json_object_get(req, "tx"), &tx, &data);
    if (r < 0)
        return error_of(r, "bad tx");
    r = eth_tx_sign(&tx, sk, &raw, &len, hash, uhash);
    if (r < 0)
        return error_of(r, "tx refused");
    eth_address_text(addr, text);
    return json_pack("{s:o, s:o, s:o, s:s}", "raw", hex_json(raw, len), "hash", hex_json(hash, 32),
                     "unsigned_hash", hex_json(uhash, 32), "from", text);
}

static json_t *b58_json(const uint8_t *p, size_t n)
{
    size_t cap = n * 2 + 2;
    _cleanup_free_ char *s = malloc(cap);

    if (!s || base58_encode(p, n, s, cap) < 0)
        return NULL;
    return json_string(s);
}

static int sol_key(const json_t *req, uint8_t pk[static 32], uint8_t sk[static 64])
{
    uint8_t seed[32];

    if (get_hex32(req, "seed", seed) < 0)
        return -EINVAL;
    return sol_keypair(seed, pk, sk);
}

static json_t *op_sol_transfer(const json_t *req)
{
    _cleanup_free_ uint8_t *tx = NULL;
    _cleanup_free_ char *b64 = NULL;
    uint8_t pk[32], sk[64], to[32], bh[32], sig[SOL_SIG_LEN];
    char from[SOL_ADDR_TEXT_MAX + 1];
    uint64_t lamports;
    size_t len;
    int r;

    if (sol_key(req, pk, sk) < 0)
        return error_of(-EINVAL, "seed is required");
    if (sol_address_parse(json_string_value(json_object_get(req, "to")), to) < 0 ||
        sol_blockhash_parse(json_string_value(json_object_get(req, "blockhash")), bh) < 0 ||
        get_u64(req, "lamports", &lamports) < 0)
        return error_of(-EINVAL, "to, blockhash and lamports are required");
    r = sol_transfer_tx(sk, to, lamports, bh, &tx, &len, sig);
    sodium_memzero(sk, sizeof(sk));
    if (r < 0)
        return error_of(r, "transfer refused");
    b64 = malloc(OSM_BASE64_LEN(len) + 1);
    if (!b64 || osm_base64_encode(tx, len, b64, OSM_BASE64_LEN(len) + 1) < 0)
        return error_of(-ENOMEM, "base64");
    sol_address_text(pk, from);
    return json_pack("{s:o, s:s, s:o, s:s}", "tx_base58", b58_json(tx, len), "tx_base64", b64,
                     "signature", b58_json(sig, sizeof(sig)), "from", from);
}

static json_t *op_sol_sign(const json_t *req)
{
    _cleanup_free_ uint8_t *msg = NULL;
    uint8_t pk[32], sk[64], sig[SOL_SIG_LEN];
    char addr[SOL_ADDR_TEXT_MAX + 1];
    size_t n;

    if (sol_key(req, pk, sk) < 0 || get_hex(req, "message_hex", &msg, &n) < 0)
        return error_of(-EINVAL, "seed and message_hex are required");
    if (sol_sign(sk, msg, n, sig) < 0)
        return error_of(-EINVAL, "sign failed");
    sodium_memzero(sk, sizeof(sk));
    sol_address_text(pk, addr);
    return json_pack("{s:o, s:s}", "signature", hex_json(sig, sizeof(sig)), "address", addr);
}

static const struct {
    const char *name;
    json_t *(*run)(const json_t *req);
} ops[] = {
    {"address", op_address},
    {"address_parse", op_address_parse},
    {"personal_sign", op_personal_sign},
    {"typed_data", op_typed_data},
    {"tx", op_tx},
    {"sol_transfer", op_sol_transfer},
    {"sol_sign", op_sol_sign},
};

static json_t *run_one(const json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));

    for (size_t i = 0; op && i < ELEMENTSOF(ops); i++)
        if (strcmp(op, ops[i].name) == 0)
            return ops[i].run(req);
    return error_of(-EINVAL, "unknown op");
}

int main(void)
{
    json_error_t jerr;
    json_t *req, *res;

    if (sodium_init() < 0)
        return 1;
    req = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        fprintf(stderr, "keyd-chain-tool: %s\n", jerr.text);
        return 2;
    }
    if (json_is_array(req)) {
        size_t i;
        json_t *it;

        res = json_array();
        json_array_foreach(req, i, it) json_array_append_new(res, run_one(it));
    } else
        res = run_one(req);
    json_dumpf(res, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(res);
    json_decref(req);
    return 0;
}
