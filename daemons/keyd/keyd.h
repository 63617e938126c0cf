/* osmoda-keyd: the vault and the ETH/SOL wallets behind a signing policy (DESIGN §2,
 * docs/keyd.md). Runs as its own user with no network; the operator reaches keyd.sock (0600),
 * the agent only keyd-agent.sock (POST /tools/call through lib/exec), where a send above the
 * threshold is held for a person through agentd's approvals.
 *
 * Parts: keccak.h rlp.h eth.h base58.h sol.h (chains, pure) · amount.h kpolicy.h (policy,
 * counters, nonce guard) · secmem.h vault.h (master key, secrets, sealing) · kstore.h (keyd.db)
 * · wallets.h (wallet records and keys) · keyd-api.c (routes) · keyd-tools.c (tools) ·
 * osmoda-keyd.c (main). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

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
    struct vault *vault;
    pthread_rwlock_t policy_lock;
    struct kpolicy *policy;
    atomic_bool lockdown;
};

/* Records a ledger event through agentd and waits until it is durable: 0 or -errno (then the
 * action must not happen). Payload lent. */
int keyd_emit(struct keyd *k, const char *type, const json_t *payload);
