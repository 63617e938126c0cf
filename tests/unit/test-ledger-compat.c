/* Compatibility with osModa: a ledger written the way osModa writes it (raw SQL, insert then
 * update, database-generated timestamps, hashes by OpenSSL directly) verifies and takes our
 * appends; and our appends verify under the same independent check. */
#include <openssl/evp.h>
#include <stdio.h>
#include <unistd.h>

#include "test-ledger-util.h"

static struct tl T;

static void setup(void)
{
    tl_setup(&T);
    osm_ledger_close(T.l);
    T.l = NULL;
    unlink(T.db);
}

static void teardown(void)
{
    tl_teardown(&T);
}

TestSuite(compat, .init = setup, .fini = teardown);

static const char osmoda_schema[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " type TEXT NOT NULL, actor TEXT NOT NULL, payload TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER);"
    "INSERT INTO schema_version VALUES (1, 3);"
    "CREATE VIRTUAL TABLE events_fts USING fts5(type, actor, payload, content=events,"
    " content_rowid=id, tokenize='porter unicode61');"
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN"
    " INSERT INTO events_fts (rowid, type, actor, payload)"
    " VALUES (new.id, new.type, new.actor, new.payload); END;";

/* SHA-256 hex of "<id>|<ts>|<type>|<actor>|<payload>|<prev>" with OpenSSL, no ledger code. */
static void independent_hash(sqlite3_int64 id, const char *ts, const char *type, const char *actor,
                             const char *payload, const char *prev, char out[65])
{
    char *msg = NULL;
    unsigned char d[32];
    int len = asprintf(&msg, "%lld|%s|%s|%s|%s|%s", (long long)id, ts, type, actor, payload, prev);

    cr_assert_gt(len, 0);
    cr_assert_eq(EVP_Digest(msg, (size_t)len, d, NULL, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    free(msg);
}

static void osmoda_append(sqlite3 *db, const char *type, const char *actor, const char *payload)
{
    sqlite3_stmt *st = NULL;
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    char ts[32], hash[65];
    sqlite3_int64 id;

    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "SELECT hash FROM events ORDER BY id DESC LIMIT 1", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(prev, sizeof(prev), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db,
                       "INSERT INTO events (type, actor, payload, prev_hash, hash) "
                       "VALUES (?1, ?2, ?3, ?4, '')",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, prev, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    id = sqlite3_last_insert_rowid(db);
    sqlite3_prepare_v2(db, "SELECT ts FROM events WHERE id = ?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(ts, sizeof(ts), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    independent_hash(id, ts, type, actor, payload, prev, hash);
    sqlite3_prepare_v2(db, "UPDATE events SET hash = ?1 WHERE id = ?2", -1, &st, NULL);
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
}

/* The independent verifier: count of rows whose chain link and hash check out. */
static int independent_verify(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    int good = 0;

    cr_assert_eq(sqlite3_open_v2(T.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_prepare_v2(db,
                       "SELECT id, ts, type, actor, payload, prev_hash, hash FROM events "
                       "ORDER BY id",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char hash[65];
        const char *c[7];
        for (int i = 1; i < 7; i++)
            c[i] = (const char *)sqlite3_column_text(st, i);
        independent_hash(sqlite3_column_int64(st, 0), c[1], c[2], c[3], c[4], c[5], hash);
        good += strcmp(c[5], prev) == 0 && strcmp(c[6], hash) == 0;
        snprintf(prev, sizeof(prev), "%s", c[6]);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return good;
}

static void write_osmoda_ledger(int n)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(T.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, osmoda_schema, NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        char payload[96];
        snprintf(payload, sizeof(payload),
                 "{\"content\":\"line %d | caf\xc3\xa9\",\"category\":\"wallet.sign\"}", i);
        osmoda_append(db, i % 2 ? "memory.ingest" : "daemon.start", "osmoda-keyd", payload);
    }
    sqlite3_close(db);
}

Test(compat, osmoda_written_ledger_verifies_and_accepts_appends)
{
    struct tl_problems pr;
    struct osm_ledger_verify_report rep;

    write_osmoda_ledger(20);
    cr_assert_eq(osm_ledger_open(T.db, OSM_LEDGER_RDONLY, &T.l), 0);
    rep = tl_verify(&T, &pr);
    cr_assert_eq(rep.events, 20);
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.checkpoints, 0);
    osm_ledger_close(T.l);

    tl_open(&T);
    tl_append(&T, 5);
    tl_checkpoint(&T);
    rep = tl_verify(&T, &pr);
    cr_assert_eq(rep.events, 25);
    cr_assert_eq(rep.errors, 0);
    cr_assert_eq(rep.checkpoints, 1);
    cr_assert_eq(independent_verify(), 25);
}

Test(compat, osmoda_writer_after_us_still_verifies)
{
    struct tl_problems pr;
    sqlite3 *db = NULL;

    write_osmoda_ledger(3);
    tl_open(&T);
    tl_append(&T, 3);
    osm_ledger_close(T.l);
    cr_assert_eq(sqlite3_open(T.db, &db), SQLITE_OK);
    osmoda_append(db, "memory.store", "agentd", "{\"summary\":\"after\"}");
    sqlite3_close(db);
    cr_assert_eq(independent_verify(), 7);
    tl_open(&T);
    cr_assert_eq(tl_verify(&T, &pr).errors, 0);
    tl_append(&T, 1);
    cr_assert_eq(tl_verify(&T, &pr).events, 8);
    cr_assert_eq(pr.total, 0);
}
