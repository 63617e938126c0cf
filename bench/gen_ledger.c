/* Generates a valid ledger of N events for the verify benchmark, quickly: osModa's v3 schema
 * (events, FTS5 and its trigger), a correct hash chain, varied event types and payloads, raw
 * inserts in big transactions with synchronous=OFF, left in WAL mode as agentd would leave it. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench-ledger.h"
#include "common/macro.h"

#define GEN_TX_ROWS 50000
#define GEN_BASE_MS 1767225600000LL /* 2026-01-01T00:00:00.000Z */

struct gen_kind {
    const char *type;
    const char *actor;
    const char *pre, *post; /* payload = pre + event number + post */
};

static const struct gen_kind kinds[] = {
    {"memory.ingest", "osmoda-watch",
     "{\"category\":\"watch.watcher.escalation\",\"content\":\"{\\\"watcher\\\":\\\"disk-",
     "\\\",\\\"state\\\":\\\"degraded\\\"}\",\"metadata\":null,\"source\":\"osmoda-watch\","
     "\"tags\":[\"watch\",\"disk\"]}"},
    {"memory.ingest", "osmoda-mesh", "{\"category\":\"mesh.health_report\",\"content\":\"peer ",
     " healthy, rtt 12ms\",\"metadata\":null,\"source\":\"osmoda-mesh\",\"tags\":[\"mesh\"]}"},
    {"system.query", "agentd",
     "{\"args\":{\"limit\":", ",\"sort\":\"cpu\"},\"query\":\"processes\"}"},
    {"memory.store", "agentd",
     "{\"category\":\"note\",\"detail\":null,\"summary\":\"routine memory maintenance ",
     "\",\"tags\":null}"},
    {"sandbox.exec", "agent", "{\"command\":\"ls -la /tmp/job-",
     "\",\"network\":false,\"ring\":\"ring2\"}"},
    {"bench.append", "bench", "{\"n\":", ",\"note\":\"bench append payload\",\"ok\":true}"},
};

static int open_new(const char *path, bool fts, sqlite3 **ret)
{
    char side[4096];
    (void)unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    (void)unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    (void)unlink(side);
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        return -EIO;
    if (bl_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;",
                "gen_ledger: pragmas") < 0 ||
        bl_exec(db, bl_schema_sql, "gen_ledger: schema") < 0)
        return -EIO;
    if (!fts && bl_exec(db, "DROP TRIGGER events_fts_insert", "gen_ledger: trigger") < 0)
        return -EIO;
    *ret = TAKE_PTR(db);
    return 0;
}

static int insert_all(sqlite3 *db, sqlite3_stmt *st, int64_t n)
{
    static char scratch[8192];
    char prev[BL_HASH_HEX + 1], hash[BL_HASH_HEX + 1], ts[BL_TS_LEN + 1], payload[1024];
    memcpy(prev, bl_genesis, sizeof(prev));
    for (int64_t id = 1; id <= n; id++) {
        if ((id - 1) % GEN_TX_ROWS == 0 && bl_exec(db, "BEGIN", "gen_ledger: begin") < 0)
            return -EIO;
        const struct gen_kind *k = &kinds[(id * 7) % ELEMENTSOF(kinds)];
        int plen = snprintf(payload, sizeof(payload), "%s%" PRId64 "%s", k->pre, id, k->post);
        bl_format_ts(GEN_BASE_MS + id * 137, ts);
        if (bl_hash(scratch, sizeof(scratch), id, ts, BL_TS_LEN, k->type, strlen(k->type), k->actor,
                    strlen(k->actor), payload, (size_t)plen, prev, hash) < 0 ||
            bl_insert(st, id, ts, k->type, k->actor, payload, (size_t)plen, prev, hash) < 0) {
            fprintf(stderr, "gen_ledger: insert: %s\n", sqlite3_errmsg(db));
            return -EIO;
        }
        memcpy(prev, hash, sizeof(prev));
        if ((id % GEN_TX_ROWS == 0 || id == n) && bl_exec(db, "COMMIT", "gen_ledger: commit") < 0)
            return -EIO;
    }
    return 0;
}

static int generate(const char *path, int64_t n, bool fts)
{
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (open_new(path, fts, &db) < 0) {
        fprintf(stderr, "gen_ledger: %s: cannot create\n", path);
        return -EIO;
    }
    _cleanup_(bl_sqlite_finalizep) sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, bl_insert_sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (insert_all(db, st, n) < 0)
        return -EIO;
    if (!fts)
        (void)bl_exec(db, bl_schema_sql, "gen_ledger: trigger"); /* put the trigger back */
    return bl_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", "gen_ledger: checkpoint");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"db", required_argument, NULL, 'D'},
        {"events", required_argument, NULL, 'n'},
        {"no-fts", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *path = NULL;
    int64_t n = 1000000;
    bool fts = true;
    int ch;
    while ((ch = getopt_long(argc, argv, "D:n:Fh", lo, NULL)) != -1) {
        switch (ch) {
        case 'D':
            path = optarg;
            break;
        case 'n':
            n = strtoll(optarg, NULL, 10);
            break;
        case 'F':
            fts = false;
            break;
        default:
            fputs("usage: gen_ledger --db PATH [--events N (1000000)] [--no-fts]\n"
                  "--no-fts leaves events_fts empty (faster; verify does not read it).\n",
                  ch == 'h' ? stdout : stderr);
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!path || n < 1) {
        fputs("usage: gen_ledger --db PATH [--events N]\n", stderr);
        return 2;
    }
    double t0 = bl_mono_s();
    if (generate(path, n, fts) < 0)
        return 1;
    printf("{\"events\":%" PRId64 ",\"fts\":%s,\"seconds\":%.3f}\n", n, fts ? "true" : "false",
           bl_mono_s() - t0);
    return 0;
}
