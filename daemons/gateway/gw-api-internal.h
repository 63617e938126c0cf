/* What the files of the API part share: the part's state, the ledger reads and the calls to
 * the other daemons with their errors turned into the gateway's envelope. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gw-api.h"
#include "gw-daemons.h"
#include "ledger/ledger.h"

struct gw_rate;
struct gw_idem;
struct gw_cef;

/* Answers by class (1xx..5xx) and the API's own refusals, for /metrics. */
struct gw_counters {
    atomic_uint_fast64_t by_class[6];
    atomic_uint_fast64_t rate_limited, replayed;
};

/* Tool calls by decision and SafeSwitch outcomes, counted from the ledger incrementally. */
struct gw_tally {
    pthread_mutex_t lock;
    int64_t through_id;    /* events up to this id are counted */
    uint64_t decisions[4]; /* allow, approve, deny, other */
    uint64_t switches[3];  /* committed, rolled_back, rollback_failed */
};

struct gw_api {
    struct gateway *gw;
    struct gw_api_options opt;
    struct gw_rate *rate;
    struct gw_idem *idem;
    struct gw_cef *cef;
    char *ledger_path;        /* <state>/ledger.db */
    pthread_key_t ledger_key; /* a read-only ledger handle per connection thread */
    struct gw_counters counters;
    struct gw_tally tally;
};

/* ---- gw-api-ledger.c ---------------------------------------------------------------------- */

/* This thread's read-only handle on the ledger (lent): -ENOENT when agentd never wrote one. */
int gw_api_ledger(struct gw_api *a, struct osm_ledger **ret);
/* Drops this thread's handle after an error, so the next call reopens the file. */
void gw_api_ledger_reset(struct gw_api *a);
/* The destructor of a thread's handle (pthread key). */
void gw_api_reader_free(void *p);
void gw_api_ledger_handler_events(struct gw_req *req, struct gw_resp *resp);
void gw_api_ledger_handler_verify(struct gw_req *req, struct gw_resp *resp);
void gw_api_ledger_handler_proof(struct gw_req *req, struct gw_resp *resp);
/* The Unix time of the newest checkpoint (0 when none), and the events count. */
int gw_api_ledger_summary(struct gw_api *a, int64_t *ret_events, int64_t *ret_last_id,
                          int64_t *ret_checkpoint_s);
/* Brings a->tally up to the newest event. */
int gw_api_tally_update(struct gw_api *a);

/* ---- gw-api-ops.c ------------------------------------------------------------------------- */

void gw_api_ops_approvals(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_approve(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_deny(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_switches(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_services(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_emergency(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_denials(struct gw_req *req, struct gw_resp *resp);
void gw_api_ops_wallets(struct gw_req *req, struct gw_resp *resp);
/* method path on a daemon's socket; sets resp to the error on failure (503 when it does not
 * run, its own status and code when it refused): 0 with the reply (clear it), or -errno. */
int gw_api_call(struct gw_req *req, struct gw_resp *resp, const char *daemon, const char *method,
                const char *path, const json_t *body, struct osm_http_reply *ret);

/* ---- gw-metrics.c ------------------------------------------------------------------------- */

void gw_metrics_handler(struct gw_req *req, struct gw_resp *resp);

/* ---- gw-cef.c ----------------------------------------------------------------------------- */

/* Follows the ledger from its newest event and sends each new one as a CEF line to the
 * datagram socket: 0 or -errno. */
int gw_cef_start(const char *state_dir, const char *socket_path, struct gw_cef **ret);
void gw_cef_stop(struct gw_cef *c);
/* The CEF line of one event (new string; NULL on allocation failure). */
char *gw_cef_line(int64_t id, const char *ts, const char *type, const char *actor,
                  const char *payload, const char *hash, int *ret_severity);
