/* Signing checkpoints of the ledger's Merkle tree: stored in the checkpoints table and appended
 * to the log file outside the database. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "crypto/encoding.h"
#include "ledger_internal.h"

int64_t osm_ledger_unsigned_events(struct osm_ledger *l)
{
    return (int64_t)l->tree.size - l->checkpoint_size;
}

/* The signed note for the current tree. */
static int note_make(struct osm_ledger *l, const struct osm_ledger_signer *s,
                     const uint8_t root[static OSM_MERKLE_HASH_LEN], char **ret_note)
{
    _cleanup_free_ char *body = NULL;
    int r = osm_checkpoint_format(s->name, (int64_t)l->tree.size, root, &body);

    return r < 0 ? r : osm_note_sign(body, strlen(body), s->name, s->key_hash, s->sk, ret_note);
}

static int checkpoint_insert(struct osm_ledger *l, const uint8_t root[static OSM_MERKLE_HASH_LEN],
                             const char *note)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    char ts[OSM_TS_LEN + 1], hex[2 * OSM_MERKLE_HASH_LEN + 1];
    int r = ledger_prepare(l,
                           "INSERT INTO checkpoints (tree_size, ts, root_hash, note, frontier) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                           &st);

    if (r < 0)
        return r;
    osm_now_ts(ts);
    osm_hex_encode(root, OSM_MERKLE_HASH_LEN, hex);
    sqlite3_bind_int64(st, 1, (int64_t)l->tree.size);
    sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, l->tree.node, (int)osm_merkle_frontier_blob_len(&l->tree),
                      SQLITE_STATIC);
    r = ledger_run(l, STMT_BEGIN_IMMEDIATE);
    if (r >= 0)
        r = ledger_end(l, ledger_step_done(l, st));
    return r;
}

int osm_ledger_checkpoint(struct osm_ledger *l, const struct osm_ledger_signer *s,
                          const char *log_path, char **ret_note)
{
    _cleanup_free_ char *note = NULL;
    uint8_t root[OSM_MERKLE_HASH_LEN];
    int r;

    if (ret_note)
        *ret_note = NULL;
    if (!(l->flags & OSM_LEDGER_RDWR))
        return -EROFS;
    if (l->tree_err < 0 || l->stale)
        return l->tree_err < 0 ? l->tree_err : -EIO;
    if ((int64_t)l->tree.size == l->checkpoint_size)
        return 0;
    osm_merkle_frontier_root(&l->sha, &l->tree, root);
    r = note_make(l, s, root, &note);
    if (r >= 0)
        r = checkpoint_insert(l, root, note);
    if (r < 0)
        return r;
    l->checkpoint_size = (int64_t)l->tree.size;
    if (log_path)
        r = osm_append_file_sync(log_path, note, strlen(note), 0644);
    if (r >= 0 && ret_note)
        *ret_note = TAKE_PTR(note);
    return r;
}

int osm_ledger_latest_checkpoint(struct osm_ledger *l, int64_t *ret_size, char **ret_note)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    int rc, r;

    if (!l->has_tree_tables)
        return -ENOENT;
    r = ledger_prepare(l,
                       "SELECT tree_size, note FROM checkpoints "
                       "ORDER BY tree_size DESC LIMIT 1",
                       &st);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? -ENOENT : ledger_errno(rc);
    if (ret_note) {
        size_t len;
        *ret_note = strdup(ledger_col(st, 1, &len));
        if (!*ret_note)
            return -ENOMEM;
    }
    if (ret_size)
        *ret_size = sqlite3_column_int64(st, 0);
    return 0;
}
