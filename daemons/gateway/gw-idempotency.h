/* Idempotency-Key on the API's mutating calls (osModa §10.8): a bounded in-memory table keyed
 * by SHA-256(token id | method | path | key), holding a hash of the request body and, once the
 * call succeeded, its status and answer, replayed byte for byte for GW_IDEMPOTENCY_TTL_S.
 * Failures are not kept (the reservation is dropped), so a failed call may be retried with the
 * same key. When the table is full, expired entries go first, then the oldest finished one. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GW_IDEM_KEY_MIN 16
#define GW_IDEM_KEY_MAX 128

struct gw_idem;

/* What a finished call answered (gw_idem_begin fills it on a replay; free body). */
struct gw_idem_answer {
    int status;
    char *body;
    size_t body_len;
};

enum gw_idem_result {
    GW_IDEM_NEW,       /* reserved: run the call, then gw_idem_finish or gw_idem_abort */
    GW_IDEM_REPLAY,    /* the same body succeeded before: answer with *ret */
    GW_IDEM_REUSED,    /* the key was used with another body: 409 */
    GW_IDEM_IN_FLIGHT, /* the first call with this key is still running: 409 */
};

int gw_idem_new(size_t max, unsigned ttl_s, struct gw_idem **ret);
void gw_idem_free(struct gw_idem *t);
/* True when key is 16..128 characters of [A-Za-z0-9_-]. */
int gw_idem_key_valid(const char *key);
/* The table key of one call. */
void gw_idem_digest(const char *token_id, const char *method, const char *path, const char *key,
                    uint8_t ret[static 32]);
/* Looks the call up at now: a result above, or -ENOMEM / -ENOSPC (every slot is running). */
int gw_idem_begin(struct gw_idem *t, const uint8_t key[static 32], const uint8_t body[static 32],
                  time_t now, struct gw_idem_answer *ret);
/* Stores the answer of a reserved call (copied). -ENOMEM drops the reservation. */
int gw_idem_finish(struct gw_idem *t, const uint8_t key[static 32], int status, const char *body,
                   size_t body_len);
/* Drops a reservation (the call failed). */
void gw_idem_abort(struct gw_idem *t, const uint8_t key[static 32]);
