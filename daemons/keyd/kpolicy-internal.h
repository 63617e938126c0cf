/* What kpolicy.c (the file, the checks) and kpolicy-store.c (counters, nonce guard) share. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kpolicy.h"

#define KP_CHAINS 2
#define KP_NO_LIMIT (~(amount_t)0) /* an amount limit written as null */
#define KP_NO_COUNT INT64_MAX      /* a count limit written as null */
#define KP_ALLOWLIST_MAX 1024      /* destinations per chain */
#define KP_FILE_MAX (1024 * 1024)  /* bytes of policy.json */
#define KP_DAY_LEN 10              /* "YYYY-MM-DD" */

struct kp_chain_policy {
    const char *name;
    unsigned decimals;
    amount_t max_per_tx, max_per_day, approval_above;
    int64_t max_sends_per_day;
    int64_t min_key_version;
    bool has_allowlist; /* false: any destination; true: only allowed[] (none when empty) */
    char **allowed;     /* canonical comparison form: lower-case for Ethereum */
    size_t n_allowed;
};

struct kpolicy {
    struct kp_chain_policy chains[KP_CHAINS];
    int64_t messages_per_day;
    bool sign_raw, allow_import, allow_export;
};

/* The chain's part of p, or NULL for an unknown chain. */
const struct kp_chain_policy *kpolicy_chain(const struct kpolicy *p, const char *chain);
/* The UTC date of now as "YYYY-MM-DD": 0 or -EINVAL. */
int kpolicy_day(time_t now, char out[static KP_DAY_LEN + 1]);
