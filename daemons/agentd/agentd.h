/* agentd's shared state and the calls its parts use: recording ledger events (group commit),
 * read-only ledger handles, and the configuration. main() is in agentd.c; every other file is one
 * concern (agentd-<area>.c) and is also linked into the fuzz targets. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "daemon/daemon.h"
#include "exec/exec.h"
#include "ledger/ledger.h"

struct agentd_writer;
struct agentd_readers;
struct osm_ledger_signer;
struct agentd_approvals;
struct osm_exec;

#define AGENTD_AGENT_SOCKET "agentd-agent.sock"
#define AGENTD_DAEMONS_SOCKET "agentd-daemons.sock"
#define AGENTD_AGENT_GROUP "osmoda-agent"
#define AGENTD_DAEMONS_GROUP "osmoda-daemons"

struct agentd_config {
    const char *state_flag;          /* --state-dir */
    const char *socket_flag;         /* --socket */
    const char *agent_socket_flag;   /* --agent-socket, else beside --socket */
    const char *daemons_socket_flag; /* --daemons-socket, else beside --socket */
    int64_t approval_ttl;            /* --approval-ttl (seconds) of a pending tool-call approval */
    const char *backup_dir;   /* --backup-dir, else $OSMODA_BACKUP_DIR, else /var/backups/osmoda */
    int64_t checkpoint_every; /* --checkpoint-every (events) */
    int64_t checkpoint_interval;    /* --checkpoint-interval (seconds) */
    bool unsafe_no_fsync;           /* fuzzing only: synchronous=OFF */
    bool no_listen;                 /* fuzzing only: no socket */
    const char *workspace_flag;     /* --workspace, else <state>/workspace (agentd-tools.c) */
    bool sandbox_cgroups_optional;  /* --sandbox-cgroups=optional (else $OSMODA_SANDBOX_CGROUPS):
                                     run without cgroup limits when they cannot be set, and say
                                     so in the job record and result; default fail closed */
    int64_t job_activity_timeout_s; /* --job-activity-timeout (else $OSMODA_JOB_ACTIVITY_TIMEOUT,
                                       else OSM_JOB_ACTIVITY_TIMEOUT_S) */
    const char *rate_flags[OSM_EXEC_RATES_MAX]; /* --rate-limit TOOL=CALLS/SECONDS, repeated */
    size_t n_rate_flags;
};

struct agentd {
    struct agentd_config cfg;
    struct osm_daemon_paths paths;
    char *ledger_path;    /* <state>/ledger.db */
    char *checkpoint_log; /* <state>/ledger.checkpoints */
    char *backup_dir;
    struct osm_ledger_signer *signer;
    struct agentd_writer *writer;
    struct agentd_readers *readers;
    int64_t started_ms;      /* monotonic */
    pthread_t verify_thread; /* checks the whole chain once at start, in the background */
    bool verify_started;
    uint8_t sign_pk[32];                /* agentd's key: capability tokens and decisions */
    uint8_t *sign_sk;                   /* 64 bytes in locked memory (agentd-capability.c) */
    struct agentd_approvals *approvals; /* agentd-approvals.h */
    struct osm_exec *exec;              /* the tool executor (agentd-tools.c) */
};

/* Opens the ledger (verifying the tail since the last checkpoint), starts the writer thread and
 * records daemon.start. On failure everything opened so far is closed again. */
int agentd_init(struct agentd *ad, const struct agentd_config *cfg);
/* Stops the writer after draining it (final checkpoint) and closes everything. */
void agentd_shutdown(struct agentd *ad);
/* The tool layer (agentd-tools.c): the signing key, approvals, the executor with agentd's tools
 * and jobs (the workspace, <state>/jobs), and the reconciliation of held calls. Logs and returns
 * -errno: agentd does not start without it (no policy, no approvals → no tools). */
int agentd_tools_init(struct agentd *ad);
/* Running jobs go on under their runners. NULL-safe parts. */
void agentd_tools_shutdown(struct agentd *ad);
/* SIGHUP: the policy again; a bad file keeps the old one (logged). */
int agentd_tools_reload(struct agentd *ad);
/* agentd-capability.c: loads <state>/capability.key (an Ed25519 seed, hex, 0600), creating it on
 * first start; refuses a key file others can read (-EPERM). */
int agentd_capability_load(struct agentd *ad);
void agentd_capability_free(struct agentd *ad);
/* Signs msg with agentd's key: hex into sig (129 bytes). */
int agentd_sign(struct agentd *ad, const void *msg, size_t len, char sig[static 129]);
/* The calling daemon's name from its credentials (agentd-daemons.c). */
int agentd_daemon_name(const struct ucred *peer, char *buf, size_t len);

/* What agentd_record reports about a durable event. */
struct agentd_recorded {
    int64_t id;
    char ts[OSM_TS_LEN + 1];
    char hash[OSM_LEDGER_HASH_HEX_LEN + 1];
};

/* Appends one event and returns only when it is durable (or failed). payload is lent and is
 * stored as compact JSON with sorted keys (osModa's serde order). apply, when set, runs in the
 * same transaction before the event row (see osm_ledger_entry): use it for rows in other tables
 * of ledger.db so the change and its record commit together. ret may be NULL.
 * Returns 0, -EINVAL (invalid type/actor), apply's error, -EAGAIN (queue full), -ESHUTDOWN, -EIO.
 */
int agentd_record(struct agentd *ad, const char *type, const char *actor, const json_t *payload,
                  int (*apply)(sqlite3 *db, void *ctx), void *apply_ctx,
                  struct agentd_recorded *ret);
/* Same with an already serialized payload (stored byte for byte). */
int agentd_record_raw(struct agentd *ad, const char *type, const char *actor, const char *payload,
                      int (*apply)(sqlite3 *db, void *ctx), void *apply_ctx,
                      struct agentd_recorded *ret);
/* Called once an asynchronous append is durable (r == 0, rec filled) or failed (r < 0), on the
 * thread that committed it; must not block. */
typedef void (*agentd_recorded_fn)(void *ctx, int r, const struct agentd_recorded *rec);
/* Queues one event and returns at once: 0 when queued (done(ctx, ...) follows exactly once),
 * else -EINVAL (invalid type/actor), -ENOMEM, -EAGAIN (queue full) or -ESHUTDOWN, and done is
 * never called. The strings are copied; payload is stored byte for byte (serialize it with
 * osm_json_dumps_sorted, as agentd_record does). */
int agentd_record_async(struct agentd *ad, const char *type, const char *actor, const char *payload,
                        size_t payload_len, agentd_recorded_fn done, void *ctx);
/* Brings full-text search up to date with every event recorded so far (recall calls it first;
 * otherwise the writer indexes when idle). */
int agentd_index_now(struct agentd *ad);
/* Runs fn on the writer thread with the writable ledger, between batches (prune). */
int agentd_writer_task(struct agentd *ad, int (*fn)(struct osm_ledger *l, void *ctx), void *ctx);

/* A read-only ledger handle from a small pool; hand it back with agentd_reader_close. */
struct agentd_reader {
    struct agentd *ad;
    struct osm_ledger *ledger;
};
int agentd_reader_open(struct agentd *ad, struct agentd_reader *ret);
void agentd_reader_close(struct agentd_reader *r);
#define _cleanup_reader_ _cleanup_(agentd_reader_close)
static inline sqlite3 *agentd_reader_db(struct agentd_reader *r)
{
    return osm_ledger_sqlite(r->ledger);
}

/* Internal to the writer/readers files. */
int agentd_writer_start(struct agentd *ad, struct osm_ledger *ledger);
void agentd_writer_stop(struct agentd *ad);
int agentd_readers_new(struct agentd *ad);
void agentd_readers_free(struct agentd *ad);
