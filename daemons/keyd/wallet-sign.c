/* Signing messages: EIP-191 personal_sign and EIP-712 typed data (Ethereum), and raw payloads
 * (a 32-byte Ethereum digest, any Solana bytes) under the stricter sign_raw permission, which
 * always waits for a person. Solana payloads are all raw: an Ed25519 signature over arbitrary
 * bytes could sign a transaction message, so keyd never tells the two apart by parsing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base58.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "eth.h"
#include "sol.h"
#include "wallets.h"

static const char *action_name(enum kp_action a)
{
    static const char *const names[] = {[KP_SEND] = "send",
                                        [KP_SIGN_MESSAGE] = "sign",
                                        [KP_SIGN_RAW] = "sign_raw",
                                        [KP_IMPORT] = "import",
                                        [KP_EXPORT] = "export"};

    return names[a];
}

static bool needs_person(enum kp_action a)
{
    return a == KP_SIGN_RAW || a == KP_IMPORT || a == KP_EXPORT;
}

bool wallet_gate(struct keyd *k, const struct keyd_caller *c, const struct kp_request *r,
                 const char **ret_decision, struct kerr *e)
{
    char reason[256] = "";
    enum kp_verdict v;

    pthread_rwlock_rdlock(&k->policy_lock);
    v = kpolicy_check(k->policy, r, reason, sizeof(reason));
    pthread_rwlock_unlock(&k->policy_lock);
    if (v == KP_DENY)
        return kerr_set(e, 403, "policy_denied", "the policy refuses this %s: %s",
                        action_name(r->action), reason),
               false;
    if ((v == KP_APPROVE || needs_person(r->action)) && !c->approved)
        return kerr_set(e, 403, "approval_required",
                        "this %s needs a person's approval%s%s: call it as a tool (it is held "
                        "for the operator) or from the operator socket",
                        action_name(r->action), reason[0] ? ": " : "", reason),
               false;
    *ret_decision = v == KP_ALLOW && !needs_person(r->action) ? "allow" : "approved";
    return wallet_ready(k, e);
}

int wallet_commit(struct keyd *k, const struct kp_request *r, const struct kp_nonce *n,
                  uint8_t **ret_prev, size_t *ret_prev_len, struct kerr *e)
{
    char reason[256] = "";
    int ret;

    pthread_rwlock_rdlock(&k->policy_lock);
    ret = kpolicy_commit(k->policy, k->store, r, n, keyd_now(), ret_prev, ret_prev_len, reason,
                         sizeof(reason));
    pthread_rwlock_unlock(&k->policy_lock);
    if (ret == -EDQUOT)
        kerr_set(e, 429, "limit_reached", "daily limit reached: %s", reason);
    else if (ret == -EEXIST)
        kerr_set(e, 409, "nonce_reused",
                 "nonce %llu was already signed for a different transaction from %s: refused "
                 "(double sign)",
                 n ? (unsigned long long)n->nonce : 0ULL, n ? n->from : "");
    else if (ret < 0)
        kerr_set(e, 503, "store_failed", "the counters could not be updated: %s", strerror(-ret));
    return ret;
}

/* Hex with or without 0x, at most max bytes: the byte count, or -EINVAL / -E2BIG. */
static ssize_t hex_payload(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex);

    if (n >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2, n -= 2;
    if (n % 2)
        return -EINVAL;
    if (n / 2 > max)
        return -E2BIG;
    return osm_hex_decode(hex, n, out, n / 2) < 0 ? -EINVAL : (ssize_t)(n / 2);
}

static json_t *signed_answer(struct keyd *k, const struct keyd_caller *c, const struct wallet *w,
                             const char *action, const char *decision, const uint8_t digest[32],
                             const char *sig_text, struct kerr *e)
{
    char ts[OSM_TS_LEN + 1], dhex[65];
    json_auto_t *ev = NULL, *out = NULL;

    osm_now_ts(ts);
    osm_hex_encode(digest, 32, dhex);
    ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "wallet_id", w->id, "action", action,
                   "chain", w->chain, "policy_decision", decision, "key_version", w->key_version,
                   "digest", dhex, "requested_by", c->who, "timestamp", ts);
    if (!ev || keyd_emit(k, "wallet.sign", ev) < 0)
        return kerr_set(e, 503, "not_recorded",
                        "the signature could not be recorded in the ledger: withheld");
    out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "wallet_id", w->id, "chain", w->chain,
                    "address", w->address, "signature", sig_text, "key_version", w->key_version,
                    "action", action, "policy_decision", decision);
    if (out) {
        json_object_set_new(out, "digest", json_sprintf("0x%s", dhex));
        wallet_receipt_add(k, w->id, action, out);
    }
    return json_incref(out);
}

static int sign_with_key(struct keyd *k, const struct wallet *w, bool eth_raw, bool typed,
                         const uint8_t *msg, size_t len, const uint8_t *digest, char *sig_text,
                         size_t cap)
{
    uint8_t sig[ETH_SIG_LEN], pk[SOL_PUBKEY_LEN];
    struct secbuf key = {0}, sk = {0};
    int r = wallet_key(k, w, &key);

    if (r < 0)
        return r;
    if (strcmp(w->chain, "solana") == 0) {
        if ((r = secbuf_alloc(&sk, SOL_SECRET_LEN)) == 0 &&
            (r = sol_keypair(key.p, pk, sk.p)) == 0 && (r = sol_sign(sk.p, msg, len, sig)) == 0)
            r = base58_encode(sig, SOL_SIG_LEN, sig_text, cap) < 0 ? -E2BIG : 0;
    } else if (!eth_raw && !typed) {
        r = eth_personal_sign(key.p, msg, len, sig);
    } else if ((r = eth_sign_digest(key.p, digest, sig)) == 0) {
        sig[64] += 27; /* v as wallets return it */
    }
    secbuf_free(&sk);
    secbuf_free(&key);
    if (r == 0 && strcmp(w->chain, "ethereum") == 0) {
        sig_text[0] = '0', sig_text[1] = 'x';
        osm_hex_encode(sig, ETH_SIG_LEN, sig_text + 2);
    }
    return r;
}

static json_t *sign_common(struct keyd *k, const struct keyd_caller *c, const struct wallet *w,
                           enum kp_action action, bool typed, const uint8_t *msg, size_t len,
                           const uint8_t digest[32], struct kerr *e)
{
    struct kp_request req = {
        .action = action, .chain = w->chain, .wallet_id = w->id, .key_version = w->key_version};
    const char *decision = NULL;
    char sig_text[2 * ETH_SIG_LEN + 8];
    int r;

    if (!wallet_gate(k, c, &req, &decision, e) || wallet_commit(k, &req, NULL, NULL, NULL, e) < 0)
        return NULL;
    r = sign_with_key(k, w, action == KP_SIGN_RAW, typed, msg, len, digest, sig_text,
                      sizeof(sig_text));
    if (r < 0)
        return kerr_set(e, r == -EACCES ? 503 : 500, r == -EACCES ? "vault_locked" : "sign_failed",
                        "the signature could not be made (%s)", strerror(-r));
    return signed_answer(k, c, w,
                         typed                   ? "sign_typed_data"
                         : action == KP_SIGN_RAW ? "sign_raw"
                                                 : "sign",
                         decision, digest, sig_text, e);
}

json_t *wallet_sign(struct keyd *k, const struct keyd_caller *c, const char *id,
                    const char *payload_hex, bool raw, struct kerr *e)
{
    static uint8_t none[1];
    _cleanup_free_ uint8_t *msg = malloc(WALLET_PAYLOAD_MAX);
    uint8_t digest[32];
    struct wallet w;
    bool eth;
    ssize_t n;

    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id);
    if (!msg)
        return kerr_set(e, 503, "no_memory", "out of memory");
    if ((n = hex_payload(payload_hex, msg, WALLET_PAYLOAD_MAX)) < 0)
        return kerr_set(e, n == -E2BIG ? 413 : 422, "invalid_payload",
                        n == -E2BIG ? "payload is over %d bytes"
                                    : "payload must be hex (%d bytes "
                                      "at most)",
                        WALLET_PAYLOAD_MAX);
    eth = strcmp(w.chain, "ethereum") == 0;
    if (eth && raw && n != 32)
        return kerr_set(e, 422, "invalid_payload",
                        "a raw Ethereum signature is of a 32-byte "
                        "digest");
    if (eth && raw)
        memcpy(digest, msg, 32);
    else if (eth)
        eth_personal_digest(n ? msg : none, (size_t)n, digest);
    else
        osm_sha256(msg, (size_t)n, digest);
    return sign_common(k, c, &w, eth && !raw ? KP_SIGN_MESSAGE : KP_SIGN_RAW, false, n ? msg : none,
                       (size_t)n, digest, e);
}

json_t *wallet_sign_typed(struct keyd *k, const struct keyd_caller *c, const char *id,
                          const json_t *typed_data, struct kerr *e)
{
    json_auto_t *parsed = NULL;
    uint8_t digest[32];
    char err[256] = "";
    struct wallet w;
    size_t size;

    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id);
    if (strcmp(w.chain, "ethereum") != 0)
        return kerr_set(e, 422, "invalid_chain",
                        "typed data (EIP-712) is signed by Ethereum "
                        "wallets");
    if (json_is_string(typed_data)) {
        parsed = json_loads(json_string_value(typed_data), JSON_REJECT_DUPLICATES, NULL);
        typed_data = parsed;
    }
    if (!json_is_object(typed_data))
        return kerr_set(e, 422, "invalid_typed_data", "typed_data must be an EIP-712 document");
    size = json_dumpb(typed_data, NULL, 0, JSON_COMPACT);
    if (size > ETH_TYPED_DATA_MAX)
        return kerr_set(e, 413, "too_large", "typed_data is over %d bytes", ETH_TYPED_DATA_MAX);
    if (eth_typed_data_digest(typed_data, digest, err, sizeof(err)) < 0)
        return kerr_set(e, 422, "invalid_typed_data", "%s", err[0] ? err : "not EIP-712");
    return sign_common(k, c, &w, KP_SIGN_MESSAGE, true, NULL, 0, digest, e);
}

int wallet_sign_verdict(struct keyd *k, const char *id, bool raw, bool typed, char *reason,
                        size_t len, struct kerr *e)
{
    struct kp_request req = {.wallet_id = id};
    struct wallet w;
    enum kp_verdict v;

    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id), -1;
    req.chain = w.chain;
    req.key_version = w.key_version;
    req.action =
        strcmp(w.chain, "ethereum") == 0 && (!raw || typed) ? KP_SIGN_MESSAGE : KP_SIGN_RAW;
    pthread_rwlock_rdlock(&k->policy_lock);
    v = kpolicy_check(k->policy, &req, reason, len);
    pthread_rwlock_unlock(&k->policy_lock);
    return v == KP_ALLOW && needs_person(req.action) ? KP_APPROVE : (int)v;
}
