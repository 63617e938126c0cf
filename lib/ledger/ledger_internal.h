/* What the ledger's source files share and nothing outside lib/ledger sees: the handle, its
 * cached statements, SQL helpers, the hash and tree loaders. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>

#include "checkpoint.h"
#include "common/macro.h"
#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "ledger.h"
#include "merkle.h"

/* Statements prepared once per handle (SQLITE_PREPARE_PERSISTENT) and reused. */
enum ledger_stmt {
    STMT_BEGIN,
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_INSERT_EVENT,
    STMT_LEAVES,
    _STMT_MAX,
};

struct osm_ledger_signer {
    char name[OSM_NOTE_NAME_MAX + 1];
    uint8_t key_hash[OSM_NOTE_KEY_HASH_LEN];
    uint8_t pk[OSM_ED25519_PUBLIC_LEN];
    uint8_t sk[OSM_ED25519_SECRET_LEN];
};

/* The prune record: everything before `through` is gone but its chain head and tree survive. */
struct ledger_prune_state {
    int64_t through; /* 0 when never pruned */
    char last_hash[OSM_LEDGER_HASH_HEX_LEN + 1];
    struct osm_merkle_frontier frontier;
};

struct osm_ledger {
    sqlite3 *db;
    unsigned flags;
    bool has_tree_tables; /* checkpoints and ledger_prune exist (always with RDWR) */
    sqlite3_stmt *stmt[_STMT_MAX];
    struct osm_sha256 sha;

    /* Writer state (RDWR only), always what is committed on disk. */
    bool stale; /* a reload after a failed commit failed too: retry before appending */
    int64_t next_id;
    char last_hash[OSM_LEDGER_HASH_HEX_LEN + 1];
    struct osm_merkle_frontier tree; /* leaves 0 .. next_id - 2 */
    int tree_err;                    /* -EBADMSG when the stored tree is inconsistent */
    int64_t checkpoint_size;         /* newest checkpoint's tree size */
    int64_t indexed_through;         /* events_fts holds events up to this id; -1: not read */
};

/* ledger_db.c: -errno for a SQLite result code (0 for OK/ROW/DONE). */
int ledger_errno(int rc);
int ledger_exec(struct osm_ledger *l, const char *sql);
int ledger_prepare(struct osm_ledger *l, const char *sql, sqlite3_stmt **ret);
int ledger_stmt(struct osm_ledger *l, enum ledger_stmt which, sqlite3_stmt **ret);
int ledger_run(struct osm_ledger *l, enum ledger_stmt which);
int ledger_step_done(struct osm_ledger *l, sqlite3_stmt *st);
int ledger_query_int64(struct osm_ledger *l, const char *sql, int64_t dflt, int64_t *ret);
int ledger_table_exists(struct osm_ledger *l, const char *name);
void ledger_finalize_all(struct osm_ledger *l);
/* Ends a transaction opened by the caller: COMMIT when r >= 0, else ROLLBACK. Returns r or the
 * commit's error. */
int ledger_end(struct osm_ledger *l, int r);

static inline void ledger_resetp(sqlite3_stmt **st)
{
    if (*st) {
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
    }
}

/* Column i as text (never NULL) and its length. */
static inline const char *ledger_col(sqlite3_stmt *st, int i, size_t *ret_len)
{
    const char *s = (const char *)sqlite3_column_text(st, i);

    *ret_len = (size_t)sqlite3_column_bytes(st, i);
    return s ? s : "";
}

static inline void ledger_finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

/* ledger_hash.c */
bool ledger_payload_valid(const char *payload, size_t len);
/* The event hash with a reusable context (the hot path of append and verify). */
void ledger_hash_raw(struct osm_sha256 *h, int64_t id, const char *ts, size_t ts_len,
                     const char *type, size_t type_len, const char *actor, size_t actor_len,
                     const char *payload, size_t payload_len, const char *prev, size_t prev_len,
                     uint8_t ret[static OSM_SHA256_LEN]);

/* ledger_schema.c */
int ledger_schema_migrate(struct osm_ledger *l);

/* ledger_tree.c */
int ledger_prune_load(struct osm_ledger *l, struct ledger_prune_state *ret);
int ledger_leaf_from_hex(struct osm_sha256 *h, const char *hex, size_t len,
                         uint8_t ret[static OSM_MERKLE_HASH_LEN]);
/* Pushes the leaves of ids lo+1 .. hi onto f (hi = INT64_MAX: to the end). -EBADMSG on an id
 * gap or a malformed hash, -ENODATA when rows end before hi. */
int ledger_leaves_push(struct osm_ledger *l, int64_t lo, int64_t hi, struct osm_merkle_frontier *f);
/* Loads the frontier stored with the checkpoint of size and checks it reproduces its root:
 * -ENOENT when there is none, -EBADMSG when it does not. */
int ledger_checkpoint_frontier(struct osm_ledger *l, int64_t size, struct osm_merkle_frontier *f);

/* ledger_state.c */
/* The stored hash of event id: -EBADMSG when missing or not 64 characters. */
int ledger_event_hash(struct osm_ledger *l, int64_t id,
                      char ret[static OSM_LEDGER_HASH_HEX_LEN + 1]);
int ledger_state_load(struct osm_ledger *l);
