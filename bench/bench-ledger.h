/* What the ledger peers (sqlite_raw, gen_ledger, verify_bare) share: osModa's v3 schema, the
 * pragmas agentd uses, the hash formula and the timestamp format — written out here on purpose,
 * without lib/ledger, so the peers measure bare SQLite + OpenSSL and nothing of ours. */
#pragma once

#include <inttypes.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BL_HASH_HEX 64
#define BL_TS_LEN 24

static const char bl_genesis[BL_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* osModa schema v3 (osmoda-reference §3). */
static const char bl_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " type TEXT NOT NULL, actor TEXT NOT NULL, payload TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open',"
    " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), resolved_at TEXT);"
    "CREATE TABLE IF NOT EXISTS incident_steps (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " incident_id TEXT NOT NULL REFERENCES incidents(id), step_number INTEGER NOT NULL,"
    " action TEXT NOT NULL, result TEXT NOT NULL, receipt_id TEXT,"
    " timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));"
    "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " version INTEGER NOT NULL);"
    "INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, 3);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(type, actor, payload,"
    " content=events, content_rowid=id, tokenize='porter unicode61');"
    "CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events BEGIN"
    " INSERT INTO events_fts(rowid, type, actor, payload)"
    " VALUES (new.id, new.type, new.actor, new.payload); END;";

static const char bl_insert_sql[] =
    "INSERT INTO events (id, ts, type, actor, payload, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static inline void bl_sqlite_finalizep(sqlite3_stmt **s)
{
    sqlite3_finalize(*s);
}

static inline void bl_sqlite_closep(sqlite3 **db)
{
    sqlite3_close_v2(*db);
}

/* Runs sql; on failure prints the SQLite message with what and returns -1. */
static inline int bl_exec(sqlite3 *db, const char *sql, const char *what)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    fprintf(stderr, "%s: %s\n", what, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return -1;
}

static inline void bl_hex(const unsigned char md[32], char out[static BL_HASH_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[BL_HASH_HEX] = 0;
}

/* SHA-256 with the digest fetched once and one reused context: OpenSSL 3's one-shot SHA256()
 * fetches the algorithm on every call, which would make the peers slower than they need be.
 * The tools are single-threaded; the two objects live until exit. */
static inline int bl_sha256(const void *p, size_t n, unsigned char out[32])
{
    static EVP_MD *alg;
    static EVP_MD_CTX *ctx;
    if (!ctx) {
        alg = EVP_MD_fetch(NULL, "SHA256", NULL);
        ctx = EVP_MD_CTX_new();
        if (!alg || !ctx)
            return -1;
    }
    if (EVP_DigestInit_ex2(ctx, alg, NULL) != 1 || EVP_DigestUpdate(ctx, p, n) != 1 ||
        EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        return -1;
    return 0;
}

static inline char *bl_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    p[n] = '|';
    return p + n + 1;
}

/* hash = hex SHA-256("<id>|<ts>|<type>|<actor>|<payload>|<prev_hash>"), using buf (cap bytes)
 * as scratch. Returns -1 when the joined string does not fit or OpenSSL fails. */
static inline int bl_hash(char *buf, size_t cap, int64_t id, const char *ts, size_t ts_len,
                          const char *type, size_t type_len, const char *actor, size_t actor_len,
                          const char *payload, size_t payload_len, const char *prev,
                          char out[static BL_HASH_HEX + 1])
{
    size_t need = 21 + 5 + ts_len + type_len + actor_len + payload_len + BL_HASH_HEX;
    if (need > cap)
        return -1;
    char *p = buf + snprintf(buf, cap, "%" PRId64 "|", id);
    p = bl_put(p, ts, ts_len);
    p = bl_put(p, type, type_len);
    p = bl_put(p, actor, actor_len);
    p = bl_put(p, payload, payload_len);
    memcpy(p, prev, BL_HASH_HEX);
    p += BL_HASH_HEX;
    unsigned char md[32];
    if (bl_sha256(buf, (size_t)(p - buf), md) < 0)
        return -1;
    bl_hex(md, out);
    return 0;
}

/* t (ms since the epoch) as 2026-01-01T00:00:00.000Z, as agentd writes it. */
static inline void bl_format_ts(int64_t ms, char out[static BL_TS_LEN + 1])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, BL_TS_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, BL_TS_LEN + 1 - n, ".%03dZ", (int)(ms % 1000));
}

static inline int64_t bl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double bl_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Binds one row to bl_insert_sql's statement, steps and resets it. */
static inline int bl_insert(sqlite3_stmt *st, int64_t id, const char *ts, const char *type,
                            const char *actor, const char *payload, size_t payload_len,
                            const char *prev, const char *hash)
{
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, payload, (int)payload_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, prev, BL_HASH_HEX, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, hash, BL_HASH_HEX, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? 0 : -1;
}
