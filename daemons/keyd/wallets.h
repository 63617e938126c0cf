/* Wallets: records in keyd.db (id, chain, label, address, key version, sealed keys, created_at),
 * their keys (fresh from randombytes, sealed by the vault, opened only to sign), and what is
 * done with them: messages, typed data and transactions signed behind the policy, receipts.
 * The routes (keyd-api.c) and the tools (keyd-tools.c) call the same functions here, each with
 * the caller it serves, so the agent's path and the operator's differ only in who approved. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "amount.h"
#include "keyd.h"
#include "kpolicy.h"
#include "secmem.h"

#define WALLET_ID_LEN 36 /* uuid v4 text */
#define WALLET_LABEL_MAX 128
#define WALLET_ADDR_MAX 64
#define WALLET_PAYLOAD_MAX (64 * 1024) /* bytes of a message to sign */
#define WALLET_RECEIPTS_MAX 1000       /* a page of receipts */
#define WALLET_COUNT_MAX 10000

/* Who asks: the ledger's name for them and whether a person stands behind the call (the
 * operator's socket, or an agent's call an operator approved on agentd). */
struct keyd_caller {
    const char *who; /* "operator:<uid>" / "agent:<uid>" */
    bool approved;
};

/* Why a request failed, for the error envelope (routes) or the tool error (tools). */
struct kerr {
    int status;       /* HTTP status */
    const char *code; /* short static code: "not_found", "policy_denied", ... */
    char message[256];
};

/* Fills e and returns NULL, so a function can `return kerr_set(...)`. */
void *kerr_set(struct kerr *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

struct wallet {
    char id[WALLET_ID_LEN + 1];
    char chain[16];
    char label[WALLET_LABEL_MAX + 1];
    char address[WALLET_ADDR_MAX + 1];
    int key_version;
    char created_at[32];
};

/* Creates the wallet, key and receipt tables. */
int wallets_init(struct kstore *s);
/* 0, -ENOENT. */
int wallet_find(struct keyd *k, const char *id, struct wallet *ret);
/* Opens the wallet's current key into out (32 bytes: the ETH key or the Ed25519 seed).
 * -EACCES locked, -EBADMSG damaged. */
int wallet_key(struct keyd *k, const struct wallet *w, struct secbuf *out);
/* False with e filled (423 lockdown, 503 vault locked) when no key may be used now. */
bool wallet_ready(struct keyd *k, struct kerr *e);
/* The policy's checks before a key is used (kpolicy_check under the policy lock, and the rule
 * that raw signing, import and export always need a person): false with e filled when the call
 * may not go on; decision gets "allow" or "approved" for the ledger. */
bool wallet_gate(struct keyd *k, const struct keyd_caller *c, const struct kp_request *r,
                 const char **ret_decision, struct kerr *e);
/* Counts r against the daily limits and records n (kpolicy_commit): 0, 1 when n is the same
 * transaction signed before (*ret_prev, malloc'd), or -errno with e filled (429 limit, 409
 * nonce reused). */
int wallet_commit(struct keyd *k, const struct kp_request *r, const struct kp_nonce *n,
                  uint8_t **ret_prev, size_t *ret_prev_len, struct kerr *e);
/* Number of wallets, or -errno. */
int wallet_count(struct keyd *k);

/* Each returns its result (new reference) or NULL with e filled. */
json_t *wallet_create(struct keyd *k, const struct keyd_caller *c, const char *chain,
                      const char *label, struct kerr *e);
json_t *wallet_list(struct keyd *k, struct kerr *e);
json_t *wallet_delete(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e);
/* A new key (and address) for the wallet as version n + 1; older versions stay sealed. */
json_t *wallet_rotate(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e);
/* Import a 32-byte key (hex) or export the current one: only when the policy allows it and a
 * person approved the call. */
json_t *wallet_import(struct keyd *k, const struct keyd_caller *c, const char *chain,
                      const char *label, const char *key_hex, struct kerr *e);
json_t *wallet_export(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e);

/* Receipts kept in keyd.db, newest first (wallet-receipts.c): queued after their ledger event
 * and written by a thread of their own (receipts_start; without one, at once). */
struct receipts;
int receipts_start(struct kstore *s, struct receipts **ret);
void receipts_stop(struct receipts *rc); /* writes what is queued; NULL-safe */
int wallet_receipt_add(struct keyd *k, const char *wallet_id, const char *action,
                       const json_t *receipt);
json_t *wallet_receipts(struct keyd *k, const char *wallet_id, int64_t limit, struct kerr *e);

/* Signing (wallet-sign.c). payload_hex: "0x"-prefixed or bare hex. raw: a 32-byte digest
 * (Ethereum) or arbitrary bytes (Solana: every payload is raw), under sign_raw only. */
json_t *wallet_sign(struct keyd *k, const struct keyd_caller *c, const char *id,
                    const char *payload_hex, bool raw, struct kerr *e);
json_t *wallet_sign_typed(struct keyd *k, const struct keyd_caller *c, const char *id,
                          const json_t *typed_data, struct kerr *e);
/* The policy's view of a sign call before it runs (the tool's decide): KP_* or -1 with e. */
int wallet_sign_verdict(struct keyd *k, const char *id, bool raw, bool typed, char *reason,
                        size_t len, struct kerr *e);

/* Transactions (wallet-tx.c): body {wallet_id, chain?, tx_type?, to, amount, chain_params}.
 * send: wallet_send (the chain's default type, chain optional). */
json_t *wallet_build_tx(struct keyd *k, const struct keyd_caller *c, const json_t *body, bool send,
                        struct kerr *e);
/* The policy's view of a transaction before it runs: KP_* or -1 with e (bad input). */
int wallet_tx_verdict(struct keyd *k, const json_t *body, bool send, char *reason, size_t len,
                      struct kerr *e);
