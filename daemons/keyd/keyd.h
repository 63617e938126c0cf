/* osmoda-keyd: the vault and the ETH/SOL wallets behind a signing policy (DESIGN §2,
 * docs/keyd.md). Runs as its own user with no network; the operator reaches keyd.sock (0600),
 * the agent only keyd-agent.sock (POST /tools/call through lib/exec), where a send above the
 * threshold is held for a person through agentd's approvals.
 *
 * Parts: keccak.h rlp.h eth.h base58.h sol.h (chains, pure) · amount.h kpolicy.h (policy,
 * counters, nonce guard) · secmem.h vault.h (master key, secrets, sealing) · kstore.h (keyd.db)
 * · wallets.h (wallet records and keys, signing, transactions) · keyd-api.c (routes) · keyd-tools.c
 * (tools) · osmoda-keyd.c (main). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "kpolicy.h"
#include "kstore.h"
#include "vault.h"

struct keyd {
    const char *run_dir, *state_dir;
    char *data_dir;       /* <state>/keyd */
    char *policy_path;    /* <data>/policy.json */
    char *daemons_socket; /* agentd's, for events */
    char *lockdown_path;  /* <state>/lockdown */
    struct kstore *store;
    struct receipts *receipts; /* the receipts' writer (wallets.h), or NULL: written at once */
    struct vault *vault;
    pthread_rwlock_t policy_lock;
    struct kpolicy *policy;
    bool policy_loaded; /* from the file (false: the built-in defaults) */
    atomic_bool lockdown;
};

/* Records a ledger event through agentd and waits until it is durable: 0 or -errno (then the
 * action must not happen). Payload lent. */
int keyd_emit(struct keyd *k, const char *type, const json_t *payload);
/* The wall clock the daily limits count by (UTC). */
time_t keyd_now(void);
/* True while in LOCKDOWN (the flag, or <state>/lockdown present): nothing signs. */
bool keyd_locked_down(struct keyd *k);
/* LOCKDOWN: locks the vault (the master key zeroed) and refuses signing until keyd_unlock. */
void keyd_lockdown(struct keyd *k, const char *who);
/* Lifts keyd's lockdown: -EBUSY while <state>/lockdown exists; then the credential or key file
 * is read again (a passphrase vault waits for the operator's unlock). */
int keyd_unlock(struct keyd *k, const char *who);
/* GET /health: {status, wallet_count, policy_loaded, vault, lockdown} (new reference). */
json_t *keyd_health(struct keyd *k);
