/* The ledger store: osModa's hash vectors, names, appends with group commit and side effects,
 * reopen, schema and migration, checkpoints and proofs through the handle. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/encoding.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "test-ledger-util.h"

static struct tl T;

static void setup(void)
{
    tl_setup(&T);
}

static void teardown(void)
{
    tl_teardown(&T);
}

TestSuite(ledger, .init = setup, .fini = teardown);

static int64_t query_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    cr_assert_eq(sqlite3_prepare_v2(osm_ledger_sqlite(T.l), sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

Test(ledger, osmoda_hash_vectors)
{
    char h1[65], h2[65];
    const char *p1 = "{\"socket\":\"/run/osmoda/agentd.sock\",\"state_dir\":\"/var/lib/osmoda\"}";
    const char *p2 = "{\"category\":null,\"detail\":null,\"summary\":\"hello\",\"tags\":null}";

    osm_ledger_hash(1, "2026-01-01T00:00:00.000Z", "daemon.start", "agentd", p1, strlen(p1),
                    osm_ledger_genesis, h1);
    cr_assert_str_eq(h1, "b1d3eaed4794a7abdd1e15765c2cdd0e20d909e46ef1edc7b4b2453bb179535c");
    osm_ledger_hash(2, "2026-01-01T00:00:01.500Z", "memory.store", "agentd", p2, strlen(p2), h1,
                    h2);
    cr_assert_str_eq(h2, "54c0b6ad3f29a7c46f6f62c78991809b80d0e023579330e9a6061d6a0f2e82a4");
}

Test(ledger, name_validation)
{
    char longest[OSM_LEDGER_NAME_MAX + 2];

    cr_assert(osm_ledger_name_valid("daemon.start"));
    cr_assert(osm_ledger_name_valid("a"));
    cr_assert(osm_ledger_name_valid("mesh:peer-1_x.9"));
    memset(longest, 'a', sizeof(longest));
    longest[OSM_LEDGER_NAME_MAX] = '\0';
    cr_assert(osm_ledger_name_valid(longest));
    longest[OSM_LEDGER_NAME_MAX] = 'a';
    longest[OSM_LEDGER_NAME_MAX + 1] = '\0';
    cr_assert_not(osm_ledger_name_valid(longest));
    cr_assert_not(osm_ledger_name_valid(""));
    cr_assert_not(osm_ledger_name_valid(NULL));
    cr_assert_not(osm_ledger_name_valid("Daemon"));
    cr_assert_not(osm_ledger_name_valid("a b"));
    cr_assert_not(osm_ledger_name_valid("a|b"));
    cr_assert_not(osm_ledger_name_valid("a/b"));
    cr_assert_not(osm_ledger_name_valid("caf\xc3\xa9"));
}

Test(ledger, append_then_verify_roundtrip)
{
    struct tl_problems pr;
    struct osm_ledger_verify_report rep;
    int64_t count, last;

    tl_append(&T, 10);
    cr_assert_eq(osm_ledger_stats(T.l, &count, &last), 0);
    cr_assert_eq(count, 10);
    cr_assert_eq(last, 10);
    rep = tl_verify(&T, &pr);
    cr_assert_eq(rep.events, 10);
    cr_assert_eq(rep.errors, 0);
    /* Our ts is exactly what SQLite's strftime would have written. */
    cr_assert_eq(query_int("SELECT count(*) FROM events "
                           "WHERE ts = strftime('%Y-%m-%dT%H:%M:%fZ', ts) AND length(ts) = 24"),
                 10);
    cr_assert_eq(query_int("SELECT count(*) FROM events e JOIN events p ON p.id = e.id - 1 "
                           "WHERE e.prev_hash = p.hash"),
                 9);
    cr_assert_eq(query_int("SELECT count(*) FROM events WHERE id = 1 AND prev_hash = "
                           "'0000000000000000000000000000000000000000000000000000000000000000'"),
                 1);
    /* Search indexing is off the commit path: nothing until the writer indexes. */
    cr_assert_eq(query_int("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'tester'"), 0);
    cr_assert_eq(osm_ledger_index_lag(T.l), 10);
    cr_assert_eq(osm_ledger_index(T.l, 4), 4);
    cr_assert_eq(osm_ledger_index_lag(T.l), 6);
    cr_assert_eq(osm_ledger_index(T.l, INT64_MAX), 6);
    cr_assert_eq(osm_ledger_index(T.l, INT64_MAX), 0);
    cr_assert_eq(query_int("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'tester'"), 10);
    cr_assert_eq(query_int("SELECT indexed_through FROM fts_state"), 10);
}

Test(ledger, entry_outputs_match_stored_row)
{
    struct osm_ledger_entry e = {
        .type = "memory.store", .actor = "agentd", .payload = "{\"summary\":\"h\\u00e9 | x\"}"};
    char hash[65];

    e.payload_len = strlen(e.payload);
    tl_append(&T, 2);
    cr_assert_eq(osm_ledger_append(T.l, &e, 1), 0);
    cr_assert_eq(e.id, 3);
    {
        sqlite3_stmt *st = NULL;
        sqlite3_prepare_v2(osm_ledger_sqlite(T.l),
                           "SELECT ts, prev_hash, hash FROM events WHERE id = 3", -1, &st, NULL);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), e.ts);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 2), e.hash);
        osm_ledger_hash(3, e.ts, e.type, e.actor, e.payload, e.payload_len,
                        (const char *)sqlite3_column_text(st, 1), hash);
        cr_assert_str_eq(hash, e.hash);
        sqlite3_finalize(st);
    }
}

Test(ledger, invalid_entries_fail_alone)
{
    struct osm_ledger_entry e[6] = {
        {.type = "ok.one", .actor = "a", .payload = "1", .payload_len = 1},
        {.type = "Bad", .actor = "a", .payload = "2", .payload_len = 1},
        {.type = "ok.two", .actor = "a", .payload = "3", .payload_len = 1},
        {.type = "ok", .actor = "a", .payload = "\xff", .payload_len = 1},
        {.type = "ok", .actor = "a", .payload = "a\0b", .payload_len = 3},
        {.type = "ok.three", .actor = "a b", .payload = "x", .payload_len = 1},
    };
    struct tl_problems pr;

    cr_assert_eq(osm_ledger_append(T.l, e, 6), 0);
    cr_assert_eq(e[0].result, 0);
    cr_assert_eq(e[0].id, 1);
    cr_assert_eq(e[1].result, -EINVAL);
    cr_assert_eq(e[2].result, 0);
    cr_assert_eq(e[2].id, 2);
    cr_assert_eq(e[3].result, -EINVAL);
    cr_assert_eq(e[4].result, -EINVAL);
    cr_assert_eq(e[5].result, -EINVAL);
    cr_assert_eq(query_int("SELECT count(*) FROM events"), 2);
    cr_assert_eq(tl_verify(&T, &pr).errors, 0);
}

struct incident {
    const char *id;
    int fail;
};

static int apply_incident(sqlite3 *db, void *ctx)
{
    struct incident *inc = ctx;
    sqlite3_stmt *st = NULL;
    int rc;

    sqlite3_prepare_v2(db, "INSERT INTO incidents (id, name) VALUES (?1, 'n')", -1, &st, NULL);
    sqlite3_bind_text(st, 1, inc->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    return inc->fail ? -EBADE : 0; /* a failure after the side effect must undo it */
}

Test(ledger, group_commit_failing_apply_leaves_only_that_entry_out)
{
    struct incident inc[4] = {{"i1", 0}, {"i2", 1}, {"i3", 0}, {"i1", 0}};
    struct osm_ledger_entry e[4];
    struct tl_problems pr;

    for (int i = 0; i < 4; i++)
        e[i] = (struct osm_ledger_entry){.type = "incident.create",
                                         .actor = "agentd",
                                         .payload = inc[i].id,
                                         .payload_len = 2,
                                         .apply = apply_incident,
                                         .apply_ctx = &inc[i]};
    cr_assert_eq(osm_ledger_append(T.l, e, 4), 0);
    cr_assert_eq(e[0].result, 0);
    cr_assert_eq(e[1].result, -EBADE);
    cr_assert_eq(e[2].result, 0);
    cr_assert_eq(e[3].result, -EIO); /* duplicate incident id */
    cr_assert_eq(e[0].id, 1);
    cr_assert_eq(e[2].id, 2);
    cr_assert_eq(query_int("SELECT count(*) FROM incidents"), 2);
    cr_assert_eq(query_int("SELECT count(*) FROM incidents WHERE id = 'i2'"), 0);
    cr_assert_eq(query_int("SELECT count(*) FROM events WHERE payload = 'i3' AND id = 2"), 1);
    cr_assert_eq(tl_verify(&T, &pr).errors, 0);
}

static int apply_dangling(sqlite3 *db, void *ctx)
{
    return sqlite3_exec(db, "INSERT INTO child (p) VALUES (99)", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

Test(ledger, failed_commit_fails_all_and_reloads_state)
{
    struct osm_ledger_entry e[3] = {
        {.type = "a", .actor = "x", .payload = "1", .payload_len = 1},
        {.type = "b", .actor = "x", .payload = "2", .payload_len = 1, .apply = apply_dangling},
        {.type = "c", .actor = "x", .payload = "3", .payload_len = 1},
    };
    struct tl_problems pr;

    tl_append(&T, 3);
    cr_assert_eq(sqlite3_exec(osm_ledger_sqlite(T.l),
                              "PRAGMA foreign_keys = ON;"
                              "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                              "CREATE TABLE child (p INTEGER REFERENCES parent(id) "
                              "DEFERRABLE INITIALLY DEFERRED);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_lt(osm_ledger_append(T.l, e, 3), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_lt(e[i].result, 0);
        cr_assert_eq(e[i].id, 0);
    }
    cr_assert_eq(query_int("SELECT count(*) FROM events"), 3);
    tl_append(&T, 1);
    cr_assert_eq(query_int("SELECT max(id) FROM events"), 4);
    cr_assert_eq(tl_verify(&T, &pr).errors, 0);
    tl_checkpoint(&T);
    cr_assert_eq(tl_verify(&T, &pr).checkpoints, 1);
    cr_assert_eq(pr.total, 0);
}

Test(ledger, chain_continues_after_reopen)
{
    struct tl_problems pr;
    struct osm_ledger_verify_report rep;

    tl_append(&T, 5);
    tl_checkpoint(&T);
    tl_append(&T, 2);
    tl_reopen(&T);
    cr_assert_eq(osm_ledger_unsigned_events(T.l), 2);
    tl_append(&T, 5);
    tl_checkpoint(&T);
    rep = tl_verify(&T, &pr);
    cr_assert_eq(rep.events, 12);
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.checkpoints, 2);
    cr_assert_eq(rep.latest_tree_size, 12);
    cr_assert_eq(query_int("SELECT count(*) FROM events e JOIN events p ON p.id = e.id - 1 "
                           "WHERE e.prev_hash = p.hash"),
                 11);
}

Test(ledger, read_only_never_creates_and_refuses_writes)
{
    struct osm_ledger *ro = NULL;
    char *missing = osm_path_join(T.dir, "missing.db");
    struct osm_ledger_entry e = {.type = "a", .actor = "b", .payload = "", .payload_len = 0};

    cr_assert_eq(osm_ledger_open(missing, OSM_LEDGER_RDONLY, &ro), -ENOENT);
    cr_assert_null(ro);
    cr_assert_eq(access(missing, F_OK), -1);
    tl_append(&T, 1);
    cr_assert_eq(osm_ledger_open(T.db, OSM_LEDGER_RDONLY, &ro), 0);
    cr_assert_eq(osm_ledger_append(ro, &e, 1), -EROFS);
    cr_assert_eq(osm_ledger_checkpoint(ro, T.signer, T.log, NULL), -EROFS);
    cr_assert_eq(osm_ledger_prune(ro, 1), -EROFS);
    osm_ledger_close(ro);
    free(missing);
}

Test(ledger, schema_is_osmoda_v3)
{
    cr_assert_eq(query_int("SELECT version FROM schema_version WHERE id = 1"), 3);
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_master WHERE name IN ('events', "
                           "'incidents', 'incident_steps', 'schema_version', 'events_fts', "
                           "'fts_state', 'events_fts_delete', 'checkpoints', "
                           "'ledger_prune')"),
                 9);
    /* osModa's insert trigger is replaced by indexing off the commit path */
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_master WHERE name = 'events_fts_insert'"),
                 0);
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_master WHERE name = 'events' AND "
                           "sql LIKE '%AUTOINCREMENT%'"),
                 1);
    cr_assert_neq(sqlite3_exec(osm_ledger_sqlite(T.l),
                               "INSERT INTO schema_version (id, version) VALUES (2, 3)", NULL, NULL,
                               NULL),
                  SQLITE_OK);
}

Test(ledger, v1_database_is_rehashed_and_indexed)
{
    struct tl_problems pr;

    osm_ledger_close(T.l);
    T.l = NULL;
    unlink(T.db);
    tl_sql(&T,
           "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, "
           "type TEXT NOT NULL, actor TEXT NOT NULL, payload TEXT NOT NULL, "
           "prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
           "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER);"
           "INSERT INTO schema_version VALUES (1, 1);"
           "INSERT INTO events (ts, type, actor, payload, prev_hash, hash) VALUES "
           "('2026-01-01T00:00:00.000Z', 'daemon.start', 'agentd', 'legacy one', 'x', 'y'),"
           "('2026-01-01T00:00:01.000Z', 'memory.store', 'agentd', 'legacy two', 'y', 'z');");
    tl_open(&T);
    cr_assert_eq(query_int("SELECT version FROM schema_version"), 3);
    cr_assert_eq(tl_verify(&T, &pr).errors, 0);
    cr_assert_eq(query_int("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'legacy'"), 2);
    tl_append(&T, 1);
    cr_assert_eq(tl_verify(&T, &pr).events, 3);
    cr_assert_eq(pr.total, 0);
}

Test(ledger, checkpoint_is_noop_until_tree_grows)
{
    char *note = NULL, *latest = NULL;
    int64_t size;

    cr_assert_eq(osm_ledger_latest_checkpoint(T.l, &size, NULL), -ENOENT);
    tl_append(&T, 3);
    cr_assert_eq(osm_ledger_unsigned_events(T.l), 3);
    cr_assert_eq(osm_ledger_checkpoint(T.l, T.signer, T.log, &note), 0);
    cr_assert_not_null(note);
    cr_assert_eq(osm_ledger_unsigned_events(T.l), 0);
    cr_assert_eq(osm_ledger_checkpoint(T.l, T.signer, T.log, &latest), 0);
    cr_assert_null(latest);
    cr_assert_eq(osm_ledger_latest_checkpoint(T.l, &size, &latest), 0);
    cr_assert_eq(size, 3);
    cr_assert_str_eq(latest, note);
    cr_assert_eq(query_int("SELECT count(*) FROM checkpoints"), 1);
    free(note);
    free(latest);
}

static void root_of_note(const char *note, uint8_t root[32], int64_t *size)
{
    struct osm_checkpoint cp;

    cr_assert_eq(osm_checkpoint_parse(note, strlen(note), &cp), 0);
    memcpy(root, cp.root, 32);
    *size = cp.size;
}

static void leaf_of(struct osm_ledger *l, int64_t id, uint8_t leaf[32])
{
    sqlite3_stmt *st = NULL;
    struct osm_sha256 h = {0};
    uint8_t raw[32];

    sqlite3_prepare_v2(osm_ledger_sqlite(l), "SELECT hash FROM events WHERE id = ?1", -1, &st,
                       NULL);
    sqlite3_bind_int64(st, 1, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(osm_hex_decode((const char *)sqlite3_column_text(st, 0), 64, raw, 32), 0);
    sqlite3_finalize(st);
    osm_sha256_init(&h);
    osm_merkle_leaf(&h, raw, 32, leaf);
    osm_sha256_done(&h);
}

static void check_all_inclusions(struct osm_ledger *l, int64_t size, const uint8_t root[32])
{
    for (int64_t id = 1; id <= size; id++) {
        uint8_t *path = NULL, got_root[32], leaf[32];
        size_t n;
        cr_assert_eq(osm_ledger_prove_inclusion(l, id, size, &path, &n, got_root), 0, "id %ld",
                     (long)id);
        cr_assert_arr_eq(got_root, root, 32);
        leaf_of(l, id, leaf);
        cr_assert(
            osm_merkle_verify_inclusion((uint64_t)id - 1, (uint64_t)size, leaf, path, n, root),
            "id %ld", (long)id);
        free(path);
    }
}

Test(ledger, proofs_match_signed_checkpoints)
{
    char *n1 = NULL, *n2 = NULL;
    uint8_t r1[32], r2[32], a[32], b[32], *proof = NULL;
    int64_t s1, s2;
    size_t n;
    struct osm_ledger *ro = NULL;

    tl_append(&T, 11);
    cr_assert_eq(osm_ledger_checkpoint(T.l, T.signer, T.log, &n1), 0);
    tl_append(&T, 26);
    cr_assert_eq(osm_ledger_checkpoint(T.l, T.signer, T.log, &n2), 0);
    root_of_note(n1, r1, &s1);
    root_of_note(n2, r2, &s2);
    cr_assert_eq(s1, 11);
    cr_assert_eq(s2, 37);
    check_all_inclusions(T.l, s1, r1);
    check_all_inclusions(T.l, s2, r2);
    cr_assert_eq(osm_ledger_prove_consistency(T.l, s1, s2, &proof, &n, a, b), 0);
    cr_assert_arr_eq(a, r1, 32);
    cr_assert_arr_eq(b, r2, 32);
    cr_assert(osm_merkle_verify_consistency(11, 37, proof, n, r1, r2));
    free(proof);
    /* Read-only handles compute the same from the rows alone; size 0 = newest checkpoint. */
    cr_assert_eq(osm_ledger_open(T.db, OSM_LEDGER_RDONLY, &ro), 0);
    check_all_inclusions(ro, s2, r2);
    cr_assert_eq(osm_ledger_prove_inclusion(ro, 5, 0, &proof, &n, a), 0);
    cr_assert_arr_eq(a, r2, 32);
    free(proof);
    cr_assert_eq(osm_ledger_prove_inclusion(ro, 38, 37, &proof, &n, a), -EINVAL);
    cr_assert_eq(osm_ledger_prove_inclusion(ro, 1, 38, &proof, &n, a), -ERANGE);
    osm_ledger_close(ro);
    free(n1);
    free(n2);
}
