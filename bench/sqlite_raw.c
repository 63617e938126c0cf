/* The raw SQLite peer of durable appends: a fresh ledger with osModa's schema (events, FTS5 and
 * its trigger) and agentd's pragmas (WAL, synchronous=FULL), rows as agentd writes them (ts,
 * chained SHA-256 hash), committed one per transaction or in batches. Prints rows/s as JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench-ledger.h"
#include "common/macro.h"

#define RAW_DEFAULT_PAYLOAD "{\"n\":1,\"note\":\"bench append payload\",\"ok\":true}"

struct raw_opts {
    const char *db;
    const char *payload;
    unsigned batch; /* rows per transaction */
    int64_t rows;   /* 0: run for duration */
    double duration;
};

struct raw_state {
    sqlite3 *db;
    sqlite3_stmt *insert;
    int64_t id;
    char prev[BL_HASH_HEX + 1];
    char scratch[16384];
};

static int open_fresh(const char *path, sqlite3 **ret)
{
    char side[4096];
    (void)unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    (void)unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    (void)unlink(side);
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_raw: %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
        return -EIO;
    }
    if (bl_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "sqlite_raw: pragmas") <
            0 ||
        bl_exec(db, bl_schema_sql, "sqlite_raw: schema") < 0)
        return -EIO;
    *ret = TAKE_PTR(db);
    return 0;
}

/* One transaction of n rows. */
static int append_batch(struct raw_state *s, const struct raw_opts *o, unsigned n)
{
    static const char type[] = "bench.append", actor[] = "bench";
    size_t plen = strlen(o->payload);
    if (bl_exec(s->db, "BEGIN IMMEDIATE", "sqlite_raw: begin") < 0)
        return -EIO;
    for (unsigned i = 0; i < n; i++) {
        char ts[BL_TS_LEN + 1], hash[BL_HASH_HEX + 1];
        bl_format_ts(bl_now_ms(), ts);
        int64_t id = s->id + 1;
        if (bl_hash(s->scratch, sizeof(s->scratch), id, ts, BL_TS_LEN, type, sizeof(type) - 1,
                    actor, sizeof(actor) - 1, o->payload, plen, s->prev, hash) < 0 ||
            bl_insert(s->insert, id, ts, type, actor, o->payload, plen, s->prev, hash) < 0) {
            fprintf(stderr, "sqlite_raw: insert: %s\n", sqlite3_errmsg(s->db));
            return -EIO;
        }
        s->id = id;
        memcpy(s->prev, hash, sizeof(hash));
    }
    return bl_exec(s->db, "COMMIT", "sqlite_raw: commit") < 0 ? -EIO : 0;
}

static int run(const struct raw_opts *o)
{
    _cleanup_free_ struct raw_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (open_fresh(o->db, &db) < 0)
        return -EIO;
    _cleanup_(bl_sqlite_finalizep) sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, bl_insert_sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    *s = (struct raw_state){.db = db, .insert = st};
    memcpy(s->prev, bl_genesis, sizeof(bl_genesis));
    double t0 = bl_mono_s(), t = t0;
    for (;;) {
        if (o->rows > 0 ? s->id >= o->rows : t - t0 >= o->duration)
            break;
        unsigned n = o->batch;
        if (o->rows > 0 && s->id + n > o->rows)
            n = (unsigned)(o->rows - s->id);
        if (append_batch(s, o, n) < 0)
            return -EIO;
        t = bl_mono_s();
    }
    double secs = t - t0;
    printf("{\"mode\":\"%s\",\"batch\":%u,\"rows\":%" PRId64
           ",\"seconds\":%.3f,\"rows_per_s\":%.1f}\n",
           o->batch == 1 ? "tx-per-row" : "batched", o->batch, s->id, secs,
           secs > 0 ? (double)s->id / secs : 0.0);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: sqlite_raw --db PATH [--batch ROWS_PER_TX] [--rows N | --duration SEC]\n"
          "                  [--payload JSON]\n"
          "Deletes and recreates PATH. Prints {\"mode\",\"batch\",\"rows\",\"seconds\","
          "\"rows_per_s\"}.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"db", required_argument, NULL, 'D'},
        {"batch", required_argument, NULL, 'b'},
        {"rows", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"payload", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct raw_opts o = {.payload = RAW_DEFAULT_PAYLOAD, .batch = 1, .duration = 3};
    int ch;
    while ((ch = getopt_long(argc, argv, "D:b:n:d:p:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'D':
            o.db = optarg;
            break;
        case 'b':
            o.batch = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o.rows = strtoll(optarg, NULL, 10);
            break;
        case 'd':
            o.duration = strtod(optarg, NULL);
            break;
        case 'p':
            o.payload = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o.db || o.batch < 1 || o.rows < 0 || (o.rows == 0 && o.duration <= 0)) {
        usage(stderr);
        return 2;
    }
    return run(&o) < 0 ? 1 : 0;
}
