/* keyd's signing policy (<data>/policy.json, keyd's own file, 0600): per-chain limits, an
 * allowlist of destinations, a threshold above which a send waits for a person, the permission
 * to sign arbitrary payloads (off by default, stricter than signing a transaction), import and
 * export (off by default), and the lowest key version allowed to sign.
 *
 *   {"chains": {
 *      "ethereum": {"max_per_tx": "0.5", "max_per_day": "1.0", "max_sends_per_day": 10,
 *                   "approval_above": "0.1", "allowed_destinations": ["0x..."],
 *                   "min_key_version": 1},
 *      "solana":   {...}},
 *    "messages_per_day": 100,   personal_sign and EIP-712 signatures, all chains
 *    "sign_raw": false,         arbitrary payloads and digests (always held for a person)
 *    "allow_import": false, "allow_export": false}
 * Amounts are decimal text in the chain's main unit, parsed with amount.h into base units, the
 * same units the transaction builder uses. A missing file gives osModa's defaults (ETH 1.0 a day
 * and 10 sends, SOL 10.0 a day and 20 sends, 100 message signatures a day) with
 * approval_above ETH 0.1 / SOL 1.0; osModa's {"rules": [...]} format is read too (documented in
 * docs/keyd-policy.md). The day is the UTC date.
 *
 * The agent cannot change any of it: no tool writes this file, and it lies in keyd's state,
 * which no tool reaches. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "amount.h"
#include "kstore.h"

enum kp_action {
    KP_SEND,         /* wallet_send, wallet_build_tx */
    KP_SIGN_MESSAGE, /* personal_sign, EIP-712 */
    KP_SIGN_RAW,     /* an arbitrary payload or digest */
    KP_IMPORT,
    KP_EXPORT,
};

enum kp_verdict { KP_ALLOW, KP_APPROVE, KP_DENY };

struct kp_request {
    enum kp_action action;
    const char *chain; /* "ethereum" | "solana" */
    const char *wallet_id;
    const char *to;  /* canonical address text (EIP-55 / base58), sends only; an Ethereum
                      * allowlist entry matches it in either case */
    amount_t amount; /* base units, sends only */
    int key_version; /* the signing key's version */
};

/* A transaction's replay guard entry: (chain, from, nonce) → what was signed. */
struct kp_nonce {
    const char *chain_key; /* "ethereum:<chain_id>" */
    const char *from;      /* the signer's address */
    uint64_t nonce;
    const uint8_t *unsigned_hash; /* 32 bytes: what the signature covers */
    const uint8_t *raw;           /* the signed transaction */
    size_t raw_len;
};

struct kpolicy;

/* Missing file: the defaults. A bad file: -EINVAL with the reason in err (keyd keeps the old
 * policy on reload, refuses to start on first load). The file must be owned by keyd's user and
 * not writable by others (-EPERM). */
int kpolicy_load(const char *path, struct kpolicy **ret, char *err, size_t errlen);
void kpolicy_free(struct kpolicy *p);
json_t *kpolicy_json(const struct kpolicy *p); /* the policy in force, amounts as text */
bool kpolicy_import_allowed(const struct kpolicy *p);
bool kpolicy_export_allowed(const struct kpolicy *p);

/* The checks that need no counters: permission, key version, per-transaction limit, allowlist,
 * and the threshold (→ KP_APPROVE: the call must have been approved by a person). reason gets
 * why, for the caller and the ledger. */
enum kp_verdict kpolicy_check(const struct kpolicy *p, const struct kp_request *r, char *reason,
                              size_t len);

/* Creates the counter and nonce tables. */
int kpolicy_store_init(struct kstore *s);
/* In one keyd.db transaction: checks r against the daily limits of the UTC day of now, counts
 * it, and for a transaction records n. Returns 0 when counted; 1 when n is the same transaction
 * signed before (*ret_prev gets that raw transaction, malloc'd; nothing counted again);
 * -EDQUOT daily limit reached (reason); -EEXIST the nonce was used for another transaction
 * (a double sign refused); -errno. */
int kpolicy_commit(const struct kpolicy *p, struct kstore *s, const struct kp_request *r,
                   const struct kp_nonce *n, time_t now, uint8_t **ret_prev, size_t *ret_prev_len,
                   char *reason, size_t len);
/* Today's counters per chain and the limits beside them (GET /policy, /health). */
json_t *kpolicy_usage(const struct kpolicy *p, struct kstore *s, time_t now);
