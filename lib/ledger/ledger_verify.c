/* osm_ledger_verify: one pass over the events in id order, as osModa's agentctl (every problem
 * reported, the walk continuing from the stored hash), plus id gaps and the Merkle tree checked
 * against every signed checkpoint as the walk reaches its size. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "crypto/encoding.h"
#include "ledger_verify.h"

#define PUB_FILE_MAX 4096

void verify_problem(struct verify_ctx *v, enum osm_ledger_problem p, int64_t id, const char *a,
                    const char *b)
{
    v->rep->errors++;
    if (v->opts && v->opts->problem)
        v->opts->problem(v->opts->userdata, p, id, a, b);
}

static int key_load(struct verify_ctx *v)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    if (!v->opts || !v->opts->pub_path)
        return 0;
    r = osm_read_file(v->opts->pub_path, PUB_FILE_MAX, &text, &len);
    if (r >= 0)
        r = osm_note_verifier_parse(text, len, &v->key);
    v->have_key = r >= 0;
    return r;
}

static void check_id(struct verify_ctx *v, int64_t id, int64_t *expected)
{
    char a[24], b[24];

    if (id != *expected) {
        snprintf(a, sizeof(a), "%" PRId64, *expected);
        snprintf(b, sizeof(b), "%" PRId64, id);
        verify_problem(v, OSM_LEDGER_ID_GAP, id, a, b);
    }
    *expected = id + 1;
}

static void check_prev(struct verify_ctx *v, int64_t id, const char *prev, size_t len)
{
    if (len != v->prev_len || memcmp(prev, v->prev, len) != 0)
        verify_problem(v, OSM_LEDGER_CHAIN_BREAK, id, v->prev, prev);
}

/* Recomputes the hash, reports a mismatch, and returns the leaf to add to the tree: the stored
 * hash's, or the computed one's when the stored text is not a hash at all. */
static void check_hash(struct verify_ctx *v, sqlite3_stmt *st, int64_t id,
                       uint8_t leaf[static OSM_MERKLE_HASH_LEN])
{
    size_t ts_len, type_len, actor_len, payload_len, prev_len, hash_len;
    const char *ts = ledger_col(st, 1, &ts_len), *type = ledger_col(st, 2, &type_len);
    const char *actor = ledger_col(st, 3, &actor_len), *payload = ledger_col(st, 4, &payload_len);
    const char *prev = ledger_col(st, 5, &prev_len), *hash = ledger_col(st, 6, &hash_len);
    uint8_t digest[OSM_SHA256_LEN];
    char hex[OSM_LEDGER_HASH_HEX_LEN + 1];

    check_prev(v, id, prev, prev_len);
    ledger_hash_raw(&v->l->sha, id, ts, ts_len, type, type_len, actor, actor_len, payload,
                    payload_len, prev, prev_len, digest);
    osm_hex_encode(digest, sizeof(digest), hex);
    if (hash_len == OSM_LEDGER_HASH_HEX_LEN && memcmp(hash, hex, hash_len) == 0) {
        osm_merkle_leaf(&v->l->sha, digest, sizeof(digest), leaf);
    } else {
        verify_problem(v, OSM_LEDGER_HASH_MISMATCH, id, hex, hash);
        if (ledger_leaf_from_hex(&v->l->sha, hash, hash_len, leaf) < 0)
            osm_merkle_leaf(&v->l->sha, digest, sizeof(digest), leaf);
    }
    v->prev_len = hash_len < VERIFY_PREV_MAX ? hash_len : VERIFY_PREV_MAX;
    memcpy(v->prev, hash, v->prev_len);
    v->prev[v->prev_len] = '\0';
}

static int walk(struct verify_ctx *v)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    int64_t expected = v->prune.through + 1;
    int rc, r = ledger_prepare(v->l,
                               "SELECT id, ts, type, actor, payload, prev_hash, hash "
                               "FROM events WHERE id > ?1 ORDER BY id",
                               &st);

    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, v->prune.through);
    verify_cp_at_size(v);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t leaf[OSM_MERKLE_HASH_LEN];
        int64_t id = sqlite3_column_int64(st, 0);
        check_id(v, id, &expected);
        check_hash(v, st, id, leaf);
        osm_merkle_frontier_push(&v->l->sha, &v->tree, leaf);
        v->rep->events++;
        if (v->next_cp < v->n_cps && v->cps[v->next_cp].size == (int64_t)v->tree.size)
            verify_cp_at_size(v);
    }
    if (rc != SQLITE_DONE)
        return ledger_errno(rc);
    verify_cp_finish(v);
    return 0;
}

static int verify(struct verify_ctx *v)
{
    int r = ledger_prune_load(v->l, &v->prune);

    if (r < 0)
        return r;
    v->rep->pruned_through = v->prune.through;
    v->tree = v->prune.frontier;
    v->prev_len = OSM_LEDGER_HASH_HEX_LEN;
    memcpy(v->prev, v->prune.last_hash, sizeof(v->prune.last_hash));
    r = verify_cp_gather(v);
    return r < 0 ? r : walk(v);
}

int osm_ledger_verify(struct osm_ledger *l, const struct osm_ledger_verify_opts *opts,
                      struct osm_ledger_verify_report *ret)
{
    _cleanup_free_ struct verify_ctx *v = calloc(1, sizeof(*v));
    int r;

    *ret = (struct osm_ledger_verify_report){0};
    if (!v)
        return -ENOMEM;
    *v = (struct verify_ctx){.l = l, .opts = opts, .rep = ret};
    r = key_load(v);
    if (r >= 0)
        r = ledger_run(l, STMT_BEGIN);
    if (r >= 0)
        r = ledger_end(l, verify(v));
    verify_cp_free(v);
    return r;
}
