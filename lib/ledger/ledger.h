/* The osModa-compatible ledger store (osmoda-reference §3) plus what osModa lacks: validated
 * names, group commit with per-entry side effects, an RFC 6962 Merkle tree over event hashes,
 * signed checkpoints, proofs and pruning behind a checkpoint.
 *
 * Table events(id, ts, type, actor, payload, prev_hash, hash), schema_version 3, FTS5 events_fts,
 * hash = lowercase hex SHA-256("<id>|<ts>|<type>|<actor>|<payload>|<prev_hash>"), genesis prev_hash
 * = 64 '0'. Ledgers written by osModa verify and can be appended to unchanged.
 *
 * Threading: one struct osm_ledger per thread. agentd owns exactly one writable handle (its
 * writer thread) and any number of read-only handles. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/timeutil.h"

#define OSM_LEDGER_HASH_HEX_LEN 64
#define OSM_LEDGER_SCHEMA_VERSION 3
#define OSM_LEDGER_DB_NAME "ledger.db"
#define OSM_LEDGER_KEY_NAME "ledger.key"               /* Ed25519 seed, 0600, agentd only */
#define OSM_LEDGER_PUB_NAME "ledger.pub"               /* signed-note verifier key, 0644 */
#define OSM_LEDGER_CHECKPOINT_LOG "ledger.checkpoints" /* append-only, outside the database */

extern const char osm_ledger_genesis[OSM_LEDGER_HASH_HEX_LEN + 1];

/* True for 1..OSM_LEDGER_NAME_MAX chars of [a-z0-9_.:-] (event type and actor). */
bool osm_ledger_name_valid(const char *s);

/* The osModa v2+ hash of one event. */
void osm_ledger_hash(int64_t id, const char *ts, const char *type, const char *actor,
                     const char *payload, size_t payload_len, const char *prev_hash,
                     char ret_hex[static OSM_LEDGER_HASH_HEX_LEN + 1]);

enum osm_ledger_flags {
    OSM_LEDGER_RDONLY = 0,   /* read only; -ENOENT if the file is missing (never creates it) */
    OSM_LEDGER_RDWR = 1,     /* create if missing, migrate the schema, prepare for appends */
    OSM_LEDGER_NO_FSYNC = 2, /* synchronous=OFF: fuzzing and unit tests only */
};

struct osm_ledger;

/* Opens path. With RDWR: WAL, synchronous=FULL, schema v3 created or migrated (v1 rehash,
 * FTS backfill as osModa), plus our own tables (checkpoints, prune record). Returns -errno or
 * -EIO with the SQLite message available from osm_ledger_errmsg(): on -EIO *ret is still set
 * (when SQLite got far enough to have a message) and the caller closes it. */
int osm_ledger_open(const char *path, unsigned flags, struct osm_ledger **ret);
/* NULL-safe. Does a WAL checkpoint(TRUNCATE) on a writable handle. */
void osm_ledger_close(struct osm_ledger *l);
/* The last SQLite error text of this handle (lent). */
const char *osm_ledger_errmsg(struct osm_ledger *l);
/* The SQLite connection (lent), for the other tables in ledger.db (incidents, approvals) and for
 * read queries. Never write to events through it. */
sqlite3 *osm_ledger_sqlite(struct osm_ledger *l);

/* One event to append. apply, when set, runs inside the same transaction (in a savepoint) before
 * the event row is inserted, with the writer's connection: the side effect and its record commit
 * together or not at all. A negative return from apply fails this entry only. */
struct osm_ledger_entry {
    const char *type;
    const char *actor;
    const char *payload;
    size_t payload_len;
    int (*apply)(sqlite3 *db, void *ctx);
    void *apply_ctx;
    /* out */
    int result; /* 0, or -errno for this entry (-EINVAL invalid name, apply's error) */
    int64_t id;
    char ts[OSM_TS_LEN + 1];
    char hash[OSM_LEDGER_HASH_HEX_LEN + 1];
};

/* Appends entries in one transaction (group commit). Entries with invalid type/actor or failing
 * apply get result < 0 and leave nothing behind; the others are durable when this returns 0.
 * If the commit itself fails, every entry gets the error, nothing is written, and the handle's
 * cached chain state is reloaded from disk. */
int osm_ledger_append(struct osm_ledger *l, struct osm_ledger_entry *entries, size_t n);

/* Full-text search (events_fts) is indexed off the commit path: appended events become
 * searchable once the writer runs osm_ledger_index (when idle, and before a search). Indexes up
 * to max_rows events; returns how many, or -errno. */
int osm_ledger_index(struct osm_ledger *l, int64_t max_rows);
/* Events appended but not yet indexed (writable handle; 0 otherwise). */
int64_t osm_ledger_index_lag(struct osm_ledger *l);

/* Number of events and id of the newest (0 when empty); pruned events are not counted. */
int osm_ledger_stats(struct osm_ledger *l, int64_t *ret_count, int64_t *ret_last_id);

/* ---- Merkle tree and checkpoints -------------------------------------------------------- */

/* Leaves are the events' 32-byte hashes in id order; leaf index = id - 1. */
struct osm_ledger_signer; /* an Ed25519 key plus its signed-note key name */

/* Loads <state_dir>/ledger.key, creating it (0600) and ledger.pub (0644) on first use. The key
 * name is "<hostname>/osmoda-ledger" when created. Refuses a key file others can read (-EPERM). */
int osm_ledger_signer_load(const char *state_dir, struct osm_ledger_signer **ret);
void osm_ledger_signer_free(struct osm_ledger_signer *s);

/* Events appended since the newest checkpoint (writable handle). */
int64_t osm_ledger_unsigned_events(struct osm_ledger *l);

/* Signs a checkpoint of the current tree (C2SP tlog-checkpoint in signed-note form, origin =
 * key name), stores it in the checkpoints table and appends it to log_path with fsync.
 * No-op returning 0 when the tree has not grown. ret_note (optional) gets a copy. */
int osm_ledger_checkpoint(struct osm_ledger *l, const struct osm_ledger_signer *s,
                          const char *log_path, char **ret_note);

/* The newest checkpoint: tree size, note text (new string). -ENOENT when none. */
int osm_ledger_latest_checkpoint(struct osm_ledger *l, int64_t *ret_size, char **ret_note);

/* Inclusion proof of leaf (id - 1) in the tree of tree_size (0 = newest checkpoint's size).
 * Hashes are 32 raw bytes each; *ret_path is a new array of ret_n * 32 bytes. */
int osm_ledger_prove_inclusion(struct osm_ledger *l, int64_t id, int64_t tree_size,
                               uint8_t **ret_path, size_t *ret_n, uint8_t ret_root[32]);
/* Consistency proof between two tree sizes (RFC 6962 §2.1.2); new_size 0 = newest checkpoint's.
 * Both proofs: -ERANGE for a tree larger than the ledger, -ENODATA when a subtree they need
 * was pruned and is not in the prune record. */
int osm_ledger_prove_consistency(struct osm_ledger *l, int64_t old_size, int64_t new_size,
                                 uint8_t **ret_proof, size_t *ret_n, uint8_t ret_old_root[32],
                                 uint8_t ret_new_root[32]);

/* Deletes events 1..through_id where through_id is the size of a stored checkpoint; keeps what
 * verification needs (last hash, Merkle frontier) so the remaining suffix still verifies. */
int osm_ledger_prune(struct osm_ledger *l, int64_t through_id);

/* ---- Verification ----------------------------------------------------------------------- */

enum osm_ledger_problem {
    OSM_LEDGER_CHAIN_BREAK,             /* a: expected prev_hash, b: stored prev_hash */
    OSM_LEDGER_HASH_MISMATCH,           /* a: computed, b: stored */
    OSM_LEDGER_ID_GAP,                  /* a: expected id, b: found id (decimal strings) */
    OSM_LEDGER_CHECKPOINT_BAD_SIG,      /* a: key name, b: reason */
    OSM_LEDGER_CHECKPOINT_MISMATCH,     /* a: signed root, b: computed root (base64) */
    OSM_LEDGER_TRUNCATED,               /* a: checkpoint tree size, b: events present */
    OSM_LEDGER_CHECKPOINT_LOG_MISMATCH, /* log file and database disagree: a/b describe */
};

struct osm_ledger_verify_opts {
    const char *pub_path;       /* verifier key (ledger.pub); NULL skips signature checks */
    const char *checkpoint_log; /* ledger.checkpoints; NULL or missing: database table only */
    /* Called once per problem, in id order; id is the event id or tree size. */
    void (*problem)(void *ud, enum osm_ledger_problem p, int64_t id, const char *a, const char *b);
    void *userdata;
};

struct osm_ledger_verify_report {
    int64_t events;           /* rows walked */
    int64_t errors;           /* problems reported */
    int64_t checkpoints;      /* checkpoints whose signature and root were checked */
    int64_t latest_tree_size; /* 0 when there is none */
    int64_t pruned_through;   /* 0 when never pruned */
};

/* Walks every event in id order as osModa's agentctl (reporting all problems, continuing with
 * the stored hash), then checks every checkpoint found in the log and the table. Returns 0 when
 * the walk ran (report->errors says whether it is intact), -errno if it could not run. */
int osm_ledger_verify(struct osm_ledger *l, const struct osm_ledger_verify_opts *opts,
                      struct osm_ledger_verify_report *ret);
