/* Transactions: wallet_build_tx and wallet_send build a real signed transaction (EIP-155 legacy
 * or EIP-1559 for Ethereum, a System Program transfer for Solana) from the caller's decimal
 * amount, parsed once into base units: the policy checks and the builder signs the same number.
 * Ethereum nonces go through the replay guard, so a nonce signed for one transaction is never
 * signed for another. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base58.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "crypto/encoding.h"
#include "eth.h"
#include "keccak.h"
#include "sol.h"
#include "wallets.h"

#define TX_TEXT_MAX (2 * 1024 * 1024) /* hex of the largest transaction (ETH_DATA_MAX data) */

enum tx_kind { TX_ETH_LEGACY, TX_ETH_1559, TX_SOL_TRANSFER };

struct tx_plan {
    struct wallet w;
    enum tx_kind kind;
    char to[WALLET_ADDR_MAX + 1]; /* canonical text */
    amount_t amount;
    struct eth_tx eth;
    uint8_t *data; /* eth.data, owned */
    uint8_t sol_to[SOL_PUBKEY_LEN], blockhash[32];
};

static void plan_clear(struct tx_plan *p)
{
    free(p->data);
}

/* An unsigned integer given as a JSON integer or as decimal text (wei values exceed 2^63). */
static int param_uint(const json_t *params, const char *key, bool required, amount_t max,
                      amount_t *ret, struct kerr *e)
{
    const json_t *v = json_object_get(params, key);
    amount_t a;

    if (!v) {
        *ret = 0;
        return required
               ? kerr_set(e, 422, "invalid_chain_params", "chain_params.%s is required", key),
               -EINVAL : 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        a = (amount_t)json_integer_value(v);
    else if (!json_is_string(v) || amount_parse_base(json_string_value(v), &a) < 0)
        return kerr_set(e, 422, "invalid_chain_params",
                        "chain_params.%s must be a whole number (an integer or decimal text)", key),
               -EINVAL;
    if (a > max)
        return kerr_set(e, 422, "invalid_chain_params", "chain_params.%s is out of range", key),
               -ERANGE;
    *ret = a;
    return 0;
}

static int eth_data(const json_t *params, struct tx_plan *p, struct kerr *e)
{
    const char *hex = json_string_value(json_object_get(params, "data"));
    size_t n;

    if (!json_object_get(params, "data"))
        return 0;
    if (!hex)
        return kerr_set(e, 422, "invalid_chain_params", "chain_params.data must be hex text"),
               -EINVAL;
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    n = strlen(hex);
    if (n % 2 || n / 2 > ETH_DATA_MAX || !(p->data = malloc(n / 2 + 1)) ||
        osm_hex_decode(hex, n, p->data, n / 2) < 0)
        return kerr_set(e, 422, "invalid_chain_params",
                        "chain_params.data must be hex of at most %d bytes", ETH_DATA_MAX),
               -EINVAL;
    p->eth.data = p->data;
    p->eth.data_len = n / 2;
    return 0;
}

static int eth_params(const json_t *params, struct tx_plan *p, struct kerr *e)
{
    const amount_t u64 = UINT64_MAX, u128 = ~(amount_t)0;
    bool legacy = p->kind == TX_ETH_LEGACY;
    amount_t chain_id, nonce, gas;

    if (param_uint(params, "chain_id", true, u64, &chain_id, e) < 0 ||
        param_uint(params, "nonce", true, u64, &nonce, e) < 0 ||
        param_uint(params, "gas_limit", true, u64, &gas, e) < 0 ||
        param_uint(params, "gas_price", legacy, u128, &p->eth.gas_price, e) < 0 ||
        param_uint(params, "max_fee_per_gas", !legacy, u128, &p->eth.max_fee_per_gas, e) < 0 ||
        param_uint(params, "max_priority_fee_per_gas", !legacy, u128,
                   &p->eth.max_priority_fee_per_gas, e) < 0 ||
        eth_data(params, p, e) < 0)
        return -EINVAL;
    if (chain_id == 0 || gas == 0)
        return kerr_set(e, 422, "invalid_chain_params",
                        "chain_params.chain_id and gas_limit must be above 0"),
               -EINVAL;
    if (!legacy && p->eth.max_priority_fee_per_gas > p->eth.max_fee_per_gas)
        return kerr_set(e, 422, "invalid_chain_params",
                        "max_priority_fee_per_gas is above max_fee_per_gas"),
               -EINVAL;
    p->eth.type = legacy ? ETH_TX_LEGACY : ETH_TX_EIP1559;
    p->eth.chain_id = (uint64_t)chain_id;
    p->eth.nonce = (uint64_t)nonce;
    p->eth.gas_limit = (uint64_t)gas;
    p->eth.value = p->amount;
    return 0;
}

static int sol_params(const json_t *params, struct tx_plan *p, struct kerr *e)
{
    const char *bh = json_string_value(json_object_get(params, "recent_blockhash"));

    if (!bh || sol_blockhash_parse(bh, p->blockhash) < 0)
        return kerr_set(e, 422, "invalid_chain_params",
                        "chain_params.recent_blockhash must be a base58 blockhash (32 bytes)"),
               -EINVAL;
    if (p->amount == 0 || p->amount > UINT64_MAX)
        return kerr_set(e, 422, "invalid_amount", "a Solana transfer is of 1 to 2^64-1 lamports"),
               -EINVAL;
    return 0;
}

static int parse_to(const char *to, struct tx_plan *p, struct kerr *e)
{
    int r;

    if (strcmp(p->w.chain, "ethereum") == 0) {
        p->eth.has_to = true;
        if ((r = eth_address_parse(to, p->eth.to)) < 0)
            return kerr_set(e, 422, r == -EBADMSG ? "bad_checksum" : "invalid_address",
                            r == -EBADMSG ? "to has a wrong EIP-55 checksum (a typo?)"
                                          : "to must be 0x and 40 hex digits"),
                   r;
        eth_address_text(p->eth.to, p->to);
        return 0;
    }
    if (sol_address_parse(to, p->sol_to) < 0)
        return kerr_set(e, 422, "invalid_address", "to must be a base58 Solana address"), -EINVAL;
    sol_address_text(p->sol_to, p->to);
    if (strcmp(p->to, p->w.address) == 0)
        return kerr_set(e, 422, "invalid_address", "to is the wallet itself"), -EINVAL;
    return 0;
}

static int parse_kind(const char *type, const json_t *params, struct tx_plan *p, struct kerr *e)
{
    bool eth = strcmp(p->w.chain, "ethereum") == 0;

    if (!type)
        type = !eth ? "transfer" : json_object_get(params, "gas_price") ? "legacy" : "eip1559";
    if (eth && strcmp(type, "legacy") == 0)
        p->kind = TX_ETH_LEGACY;
    else if (eth && strcmp(type, "eip1559") == 0)
        p->kind = TX_ETH_1559;
    else if (!eth && strcmp(type, "transfer") == 0)
        p->kind = TX_SOL_TRANSFER;
    else
        return kerr_set(e, 422, "invalid_tx_type", "tx_type must be %s",
                        eth ? "\"legacy\" or \"eip1559\"" : "\"transfer\""),
               -EINVAL;
    return 0;
}

static int plan_parse(struct keyd *k, const json_t *body, bool send, struct tx_plan *p,
                      struct kerr *e)
{
    const char *id = NULL, *chain = NULL, *type = NULL, *to = NULL, *amount = NULL;
    json_t *params = NULL;
    json_error_t jerr;
    int r;

    if (json_unpack_ex((json_t *)body, &jerr, 0, "{s:s, s?s, s?s, s:s, s:s, s?o}", "wallet_id", &id,
                       "chain", &chain, "tx_type", &type, "to", &to, "amount", &amount,
                       "chain_params", &params) < 0)
        return kerr_set(e, 422, "invalid_arguments", "%s (wallet_id, to and amount are strings)",
                        jerr.text),
               -EINVAL;
    if (params && !json_is_object(params))
        return kerr_set(e, 422, "invalid_chain_params", "chain_params must be an object"), -EINVAL;
    if (wallet_find(k, id, &p->w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id), -ENOENT;
    if (chain && strcmp(chain, p->w.chain) != 0)
        return kerr_set(e, 422, "chain_mismatch", "wallet %s is a %s wallet", id, p->w.chain),
               -EINVAL;
    if ((r = amount_parse(amount, (unsigned)amount_decimals(p->w.chain), &p->amount)) < 0)
        return kerr_set(e, 422, "invalid_amount",
                        "amount must be decimal text in the chain's main unit (\"0.05\"), at "
                        "most %d decimals",
                        amount_decimals(p->w.chain)),
               r;
    if ((r = parse_kind(send ? NULL : type, params, p, e)) < 0 || (r = parse_to(to, p, e)) < 0)
        return r;
    /* without chain_params, json_object_get(NULL, ...) finds nothing: the checks say what */
    return p->kind == TX_SOL_TRANSFER ? sol_params(params, p, e) : eth_params(params, p, e);
}

static void plan_request(const struct tx_plan *p, struct kp_request *r)
{
    *r = (struct kp_request){.action = KP_SEND,
                             .chain = p->w.chain,
                             .wallet_id = p->w.id,
                             .to = p->to,
                             .amount = p->amount,
                             .key_version = p->w.key_version};
}

int wallet_tx_verdict(struct keyd *k, const json_t *body, bool send, char *reason, size_t len,
                      struct kerr *e)
{
    struct tx_plan p = {0};
    struct kp_request req;
    enum kp_verdict v;
    int r = plan_parse(k, body, send, &p, e);

    if (r < 0) {
        plan_clear(&p);
        return -1;
    }
    plan_request(&p, &req);
    pthread_rwlock_rdlock(&k->policy_lock);
    v = kpolicy_check(k->policy, &req, reason, len);
    pthread_rwlock_unlock(&k->policy_lock);
    plan_clear(&p);
    return (int)v;
}

/* ---- signing ---------------------------------------------------------------------------- */

struct signed_tx {
    uint8_t *raw;
    size_t len;
    uint8_t hash[32], unsigned_hash[32];
    uint8_t sig[SOL_SIG_LEN];
};

static int sign_plan(struct keyd *k, const struct tx_plan *p, struct signed_tx *s)
{
    uint8_t pk[SOL_PUBKEY_LEN];
    struct secbuf key = {0}, sk = {0};
    int r = wallet_key(k, &p->w, &key);

    if (r < 0)
        return r;
    if (p->kind != TX_SOL_TRANSFER)
        r = eth_tx_sign(&p->eth, key.p, &s->raw, &s->len, s->hash, s->unsigned_hash);
    else if ((r = secbuf_alloc(&sk, SOL_SECRET_LEN)) == 0 &&
             (r = sol_keypair(key.p, pk, sk.p)) == 0)
        r = sol_transfer_tx(sk.p, p->sol_to, (uint64_t)p->amount, p->blockhash, &s->raw, &s->len,
                            s->sig);
    secbuf_free(&sk);
    secbuf_free(&key);
    return r;
}

static const char *kind_name(enum tx_kind k)
{
    return k == TX_ETH_LEGACY ? "legacy" : k == TX_ETH_1559 ? "eip1559" : "transfer";
}

/* {signed_tx, tx_hash, ...} of s, the part of the answer that depends on the chain. */
static json_t *tx_texts(const struct tx_plan *p, const struct signed_tx *s)
{
    _cleanup_free_ char *text = malloc(2 * s->len + 3), *b64 = NULL;
    char hash[2 * SOL_SIG_LEN + 3];

    if (!text)
        return NULL;
    if (p->kind != TX_SOL_TRANSFER) {
        text[0] = '0', text[1] = 'x', hash[0] = '0', hash[1] = 'x';
        osm_hex_encode(s->raw, s->len, text + 2);
        osm_hex_encode(s->hash, 32, hash + 2);
        return json_pack("{s:s, s:s}", "signed_tx", text, "tx_hash", hash);
    }
    if (!(b64 = malloc(OSM_BASE64_LEN(s->len) + 1)) ||
        base58_encode(s->raw, s->len, text, 2 * s->len + 3) < 0 ||
        base58_encode(s->sig, SOL_SIG_LEN, hash, sizeof(hash)) < 0 ||
        osm_base64_encode(s->raw, s->len, b64, OSM_BASE64_LEN(s->len) + 1) < 0)
        return NULL;
    return json_pack("{s:s, s:s, s:s}", "signed_tx", text, "signed_tx_base64", b64, "tx_hash",
                     hash);
}

static json_t *tx_answer(const struct tx_plan *p, const struct signed_tx *s, const char *decision)
{
    char amount[AMOUNT_TEXT_MAX + 1], base[AMOUNT_TEXT_MAX + 1];
    json_t *out = tx_texts(p, s);

    if (!out)
        return NULL;
    amount_format(p->amount, (unsigned)amount_decimals(p->w.chain), amount);
    amount_format_base(p->amount, base);
    json_object_update_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}",
                                          "wallet_id", p->w.id, "chain", p->w.chain, "tx_type",
                                          kind_name(p->kind), "from", p->w.address, "to", p->to,
                                          "amount", amount, "amount_base", base, "key_version",
                                          p->w.key_version, "policy_decision", decision));
    if (p->kind != TX_SOL_TRANSFER)
        json_object_set_new(out, "nonce", json_integer((json_int_t)p->eth.nonce));
    return out;
}

static int record_tx(struct keyd *k, const struct keyd_caller *c, const json_t *answer, bool send,
                     bool repeat)
{
    static const char *const keep[] = {"wallet_id", "chain",           "tx_type", "to",
                                       "amount",    "amount_base",     "tx_hash", "key_version",
                                       "nonce",     "policy_decision", "from"};
    json_auto_t *ev = json_object();
    char ts[OSM_TS_LEN + 1];

    if (!ev)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(keep); i++)
        if (json_object_get(answer, keep[i]))
            json_object_set(ev, keep[i], json_object_get(answer, keep[i]));
    osm_now_ts(ts);
    json_object_set_new(ev, "action", json_string(send ? "send" : "build_tx"));
    json_object_set_new(ev, "requested_by", json_string(c->who));
    json_object_set_new(ev, "timestamp", json_string(ts));
    if (repeat)
        json_object_set_new(ev, "repeat", json_true());
    return keyd_emit(k, send ? "wallet.send" : "wallet.build_tx", ev);
}

/* The replay guard's answer 1: the same transaction was signed before; its bytes are given
 * back (Ethereum signatures are deterministic, so they are the same) and nothing is counted. */
static int take_previous(struct signed_tx *s, uint8_t *prev, size_t prev_len)
{
    free(s->raw);
    s->raw = prev;
    s->len = prev_len;
    return keccak256(prev, prev_len, s->hash);
}

json_t *wallet_build_tx(struct keyd *k, const struct keyd_caller *c, const json_t *body, bool send,
                        struct kerr *e)
{
    struct tx_plan p = {0};
    struct signed_tx s = {0};
    struct kp_request req;
    const char *decision = NULL;
    char chain_key[48];
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    json_t *out = NULL;
    int r;

    if (plan_parse(k, body, send, &p, e) < 0)
        goto done;
    plan_request(&p, &req);
    if (!wallet_gate(k, c, &req, &decision, e))
        goto done;
    if ((r = sign_plan(k, &p, &s)) < 0) {
        kerr_set(e, r == -EACCES ? 503 : 422, r == -EACCES ? "vault_locked" : "invalid_tx",
                 "the transaction could not be signed (%s)", strerror(-r));
        goto done;
    }
    snprintf(chain_key, sizeof(chain_key), "ethereum:%" PRIu64, p.eth.chain_id);
    struct kp_nonce n = {.chain_key = chain_key,
                         .from = p.w.address,
                         .nonce = p.eth.nonce,
                         .unsigned_hash = s.unsigned_hash,
                         .raw = s.raw,
                         .raw_len = s.len};
    r = wallet_commit(k, &req, p.kind == TX_SOL_TRANSFER ? NULL : &n, &prev, &prev_len, e);
    if (r < 0 || (r == 1 && take_previous(&s, prev, prev_len) < 0))
        goto done;
    out = tx_answer(&p, &s, decision);
    if (!out || record_tx(k, c, out, send, r == 1) < 0) {
        json_decref(TAKE_PTR(out));
        kerr_set(e, 503, "not_recorded",
                 "the transaction could not be recorded in the ledger: withheld");
        goto done;
    }
    wallet_receipt_add(k, p.w.id, send ? "send" : "build_tx", out);
done:
    free(s.raw);
    plan_clear(&p);
    return out;
}
