/* osm_ledger_verify against every kind of tampering, and pruning (which must keep the rest
 * verifiable and provable, and tampering after it detectable). */
#include <errno.h>
#include <unistd.h>

#include "crypto/encoding.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "test-ledger-util.h"

static struct tl T;
static struct tl_problems P;

static void setup(void)
{
    tl_setup(&T);
}

static void teardown(void)
{
    tl_teardown(&T);
}

TestSuite(verify, .init = setup, .fini = teardown);
TestSuite(prune, .init = setup, .fini = teardown);

/* 10 events signed at 10, then 5 more signed at 15. */
static void build(void)
{
    tl_append(&T, 10);
    tl_checkpoint(&T);
    tl_append(&T, 5);
    tl_checkpoint(&T);
}

static struct osm_ledger_verify_report verify(void)
{
    /* A fresh read-only handle, as agentctl would use. */
    struct osm_ledger *mine = T.l;
    struct osm_ledger_verify_report rep;

    cr_assert_eq(osm_ledger_open(T.db, OSM_LEDGER_RDONLY, &T.l), 0);
    rep = tl_verify(&T, &P);
    osm_ledger_close(T.l);
    T.l = mine;
    return rep;
}

Test(verify, intact_ledger)
{
    struct osm_ledger_verify_report rep;

    build();
    rep = verify();
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.events, 15);
    cr_assert_eq(rep.checkpoints, 2);
    cr_assert_eq(rep.latest_tree_size, 15);
}

Test(verify, flipped_payload_byte)
{
    build();
    tl_sql(&T, "UPDATE events SET payload = replace(payload, '{', '[') WHERE id = 7");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_HASH_MISMATCH], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_HASH_MISMATCH], 7);
    cr_assert_eq(P.total, 1);
}

Test(verify, deleted_middle_row)
{
    build();
    tl_sql(&T, "DELETE FROM events WHERE id = 6");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_ID_GAP], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_ID_GAP], 7);
    cr_assert_eq(P.count[OSM_LEDGER_CHAIN_BREAK], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHAIN_BREAK], 7);
    cr_assert_eq(P.count[OSM_LEDGER_HASH_MISMATCH], 0);
}

Test(verify, swapped_payloads)
{
    build();
    tl_sql(&T, "CREATE TEMP TABLE keep AS SELECT payload FROM events WHERE id = 3;"
               "UPDATE events SET payload = (SELECT payload FROM events WHERE id = 4) WHERE id = 3;"
               "UPDATE events SET payload = (SELECT payload FROM keep) WHERE id = 4;");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_HASH_MISMATCH], 2);
    cr_assert_eq(P.first_id[OSM_LEDGER_HASH_MISMATCH], 3);
}

Test(verify, reordered_rows)
{
    build();
    tl_sql(&T, "UPDATE events SET id = 1000 WHERE id = 3;"
               "UPDATE events SET id = 3 WHERE id = 4;"
               "UPDATE events SET id = 4 WHERE id = 1000;");
    verify();
    cr_assert_geq(P.count[OSM_LEDGER_CHAIN_BREAK], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHAIN_BREAK], 3);
    cr_assert_eq(P.count[OSM_LEDGER_HASH_MISMATCH], 2);
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_MISMATCH], 2); /* leaves out of order */
}

Test(verify, tail_truncated_behind_checkpoint)
{
    struct osm_ledger_verify_report rep;

    build();
    tl_sql(&T, "DELETE FROM events WHERE id > 12; UPDATE sqlite_sequence SET seq = 12");
    rep = verify();
    cr_assert_eq(P.count[OSM_LEDGER_TRUNCATED], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_TRUNCATED], 15);
    cr_assert_eq(P.total, 1, "only the truncation: the rest of the chain is intact");
    cr_assert_eq(rep.checkpoints, 1);
}

static void replace_note(int64_t size, const char *note)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    cr_assert_eq(sqlite3_open(T.db, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "UPDATE checkpoints SET note = ?1 WHERE tree_size = ?2", -1, &st, NULL);
    sqlite3_bind_text(st, 1, note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, size);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    cr_assert_eq(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The attacker's signature over the same body, under the same key name. */
static char *resign(const char *note)
{
    char name[OSM_NOTE_NAME_MAX + 1], *skey = NULL, *out = NULL;
    uint8_t seed[32], pk[32], sk[64], kh[4];
    struct osm_checkpoint cp;
    size_t body_len;

    cr_assert_eq(osm_checkpoint_parse(note, strlen(note), &cp), 0);
    cr_assert_eq(osm_note_body_len(note, strlen(note), &body_len), 0);
    osm_ed25519_seed_random(seed);
    cr_assert_eq(osm_note_signer_format(cp.origin, seed, &skey), 0);
    cr_assert_eq(osm_note_signer_parse(skey, strlen(skey), name, seed), 0);
    osm_ed25519_keypair(seed, pk, sk);
    osm_note_key_hash(name, pk, kh);
    cr_assert_eq(osm_note_sign(note, body_len, name, kh, sk, &out), 0);
    free(skey);
    return out;
}

Test(verify, checkpoint_resigned_with_another_key)
{
    char *note = NULL, *forged;
    int64_t size;

    build();
    cr_assert_eq(osm_ledger_latest_checkpoint(T.l, &size, &note), 0);
    forged = resign(note);
    replace_note(size, forged);
    unlink(T.log); /* the attacker also controls the log file here */
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_BAD_SIG], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHECKPOINT_BAD_SIG], 15);
    cr_assert_eq(P.total, 1);
    free(note);
    free(forged);
}

/* Rewrites payload of event `id` and recomputes every hash from there: a consistent chain. */
static void rewrite_chain_from(int64_t id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    char prev[65];

    cr_assert_eq(sqlite3_open(T.db, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE id = ?1", -1, &sel, NULL);
    sqlite3_bind_int64(sel, 1, id - 1);
    cr_assert_eq(sqlite3_step(sel), SQLITE_ROW);
    memcpy(prev, sqlite3_column_text(sel, 0), 65);
    sqlite3_finalize(sel);
    sqlite3_exec(db, "UPDATE events SET payload = '{\"forged\":true}' WHERE id = 3", NULL, NULL,
                 NULL);
    sqlite3_prepare_v2(db,
                       "SELECT id, ts, type, actor, payload FROM events WHERE id >= ?1 "
                       "ORDER BY id",
                       -1, &sel, NULL);
    sqlite3_prepare_v2(db, "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE id = ?3", -1, &upd,
                       NULL);
    sqlite3_bind_int64(sel, 1, id);
    while (sqlite3_step(sel) == SQLITE_ROW) {
        char hash[65];
        const char *payload = (const char *)sqlite3_column_text(sel, 4);
        osm_ledger_hash(sqlite3_column_int64(sel, 0), (const char *)sqlite3_column_text(sel, 1),
                        (const char *)sqlite3_column_text(sel, 2),
                        (const char *)sqlite3_column_text(sel, 3), payload, strlen(payload), prev,
                        hash);
        sqlite3_bind_text(upd, 1, prev, 64, SQLITE_TRANSIENT);
        sqlite3_bind_text(upd, 2, hash, 64, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 3, sqlite3_column_int64(sel, 0));
        cr_assert_eq(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        memcpy(prev, hash, 65);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sqlite3_close(db);
}

Test(verify, rewritten_chain_caught_by_checkpoint_log)
{
    struct osm_ledger_verify_report rep;

    build();
    rewrite_chain_from(3);
    tl_sql(&T, "DELETE FROM checkpoints");
    rep = verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHAIN_BREAK] + P.count[OSM_LEDGER_HASH_MISMATCH], 0,
                 "the forged chain is self-consistent");
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_LOG_MISMATCH], 2);
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_MISMATCH], 2);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHECKPOINT_MISMATCH], 10);
    cr_assert_eq(rep.checkpoints, 2);
}

Test(verify, rewritten_chain_caught_by_table_without_log)
{
    build();
    rewrite_chain_from(3);
    unlink(T.log);
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_MISMATCH], 2);
    cr_assert_eq(P.total, 2);
}

Test(verify, log_and_table_disagree)
{
    char *note = NULL, *forged;
    int64_t size;

    build();
    cr_assert_eq(osm_ledger_latest_checkpoint(T.l, &size, &note), 0);
    forged = resign(note);
    replace_note(size, forged); /* the log keeps the genuine note */
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_LOG_MISMATCH], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHECKPOINT_LOG_MISMATCH], 15);
    free(note);
    free(forged);
}

Test(verify, garbage_log_is_reported_not_fatal)
{
    struct osm_ledger_verify_report rep;
    const char *junk = "\xff\xfegarbage\n\n\xe2\x80\x94 x y\n";

    build();
    cr_assert_eq(osm_append_file_sync(T.log, junk, strlen(junk), 0644), 0);
    rep = verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_LOG_MISMATCH], 1);
    cr_assert_eq(rep.checkpoints, 2);
}

Test(verify, missing_pub_key_is_an_error)
{
    struct osm_ledger_verify_report rep;
    struct osm_ledger_verify_opts o = {.pub_path = "/nonexistent/ledger.pub"};

    build();
    cr_assert_eq(osm_ledger_verify(T.l, &o, &rep), -ENOENT);
}

Test(prune, prune_then_verify_append_and_prove)
{
    struct osm_ledger_verify_report rep;
    uint8_t *proof = NULL, root[32], old_root[32];
    size_t n;

    build();
    cr_assert_eq(osm_ledger_prune(T.l, 7), -ENOENT); /* not a checkpoint size */
    cr_assert_eq(osm_ledger_prune(T.l, 10), 0);
    cr_assert_eq(osm_ledger_prune(T.l, 10), 0);
    rep = verify();
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.events, 5);
    cr_assert_eq(rep.pruned_through, 10);
    cr_assert_eq(rep.checkpoints, 2);
    cr_assert_eq(osm_ledger_prune(T.l, 5), -ERANGE);
    tl_sql(&T, "SELECT 1"); /* raw access still fine */
    {
        int64_t count, last;
        cr_assert_eq(osm_ledger_stats(T.l, &count, &last), 0);
        cr_assert_eq(count, 5);
        cr_assert_eq(last, 15);
    }
    cr_assert_eq(osm_ledger_prove_inclusion(T.l, 12, 15, &proof, &n, root), 0);
    free(proof);
    cr_assert_eq(osm_ledger_prove_inclusion(T.l, 3, 15, &proof, &n, root), -ENODATA);
    cr_assert_eq(osm_ledger_prove_consistency(T.l, 10, 15, &proof, &n, old_root, root), 0);
    cr_assert(osm_merkle_verify_consistency(10, 15, proof, n, old_root, root));
    free(proof);
    tl_reopen(&T);
    tl_append(&T, 4);
    tl_checkpoint(&T);
    rep = verify();
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.events, 9);
    cr_assert_eq(rep.checkpoints, 3);
}

Test(prune, fts_rows_go_with_the_events)
{
    sqlite3_stmt *st = NULL;

    build();
    cr_assert_eq(osm_ledger_index(T.l, 10),
                 10); /* indexed rows leave the index with their events */
    cr_assert_eq(osm_ledger_prune(T.l, 15), 0);
    sqlite3_prepare_v2(osm_ledger_sqlite(T.l),
                       "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'tester'", -1, &st,
                       NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    tl_append(&T, 2); /* the chain goes on from the pruned head */
    cr_assert_eq(verify().errors, 0);
    cr_assert_eq(verify().events, 2);
    cr_assert_gt(osm_ledger_index(T.l, INT64_MAX),
                 0); /* the rest, and no pruned row, get indexed */
    sqlite3_prepare_v2(osm_ledger_sqlite(T.l),
                       "SELECT count(*) FROM events_fts WHERE "
                       "events_fts MATCH 'tester'",
                       -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
}

Test(prune, tampering_after_prune_detected)
{
    build();
    cr_assert_eq(osm_ledger_prune(T.l, 10), 0);
    tl_sql(&T, "UPDATE events SET payload = 'x' WHERE id = 13");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_HASH_MISMATCH], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_HASH_MISMATCH], 13);
}

Test(prune, forged_prune_record_detected)
{
    build();
    cr_assert_eq(osm_ledger_prune(T.l, 10), 0);
    tl_sql(&T, "UPDATE ledger_prune SET last_hash = "
               "'1111111111111111111111111111111111111111111111111111111111111111'");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHAIN_BREAK], 1);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHAIN_BREAK], 11);
    tl_sql(&T, "UPDATE ledger_prune SET frontier = zeroblob(64)");
    verify();
    cr_assert_eq(P.count[OSM_LEDGER_CHECKPOINT_MISMATCH], 2);
    cr_assert_eq(P.first_id[OSM_LEDGER_CHECKPOINT_MISMATCH], 10);
}

Test(verify, writer_refuses_to_sign_an_inconsistent_tree)
{
    char *note = NULL;

    build();
    tl_sql(&T, "DELETE FROM events WHERE id > 12; UPDATE sqlite_sequence SET seq = 12");
    tl_reopen(&T);
    tl_append(&T, 1); /* the chain itself goes on */
    cr_assert_eq(osm_ledger_checkpoint(T.l, T.signer, T.log, &note), -EBADMSG);
    cr_assert_null(note);
}
