/* The raw SQLite peer of durable appends: a fresh ledger with osModa's schema and agentd's
 * pragmas (WAL, synchronous=FULL), rows as agentd writes them (ts, chained SHA-256 hash),
 * committed one per transaction or in batches. Prints rows/s as JSON. osModa's FTS5 insert
 * trigger is dropped: agentd indexes search off the commit path, so the peer is the bare insert
 * loop with nothing else in the transaction. */
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
    double warmup; /* untimed appends first, so the WAL has wrapped as in a running agentd */
    bool append;   /* continue the chain in an existing db instead of recreating it */
};

struct raw_state {
    sqlite3 *db;
    sqlite3_stmt *insert;
    int64_t id;
    char prev[BL_HASH_HEX + 1];
    char scratch[16384];
};

static void remove_db(const char *path)
{
    char side[4096];
    (void)unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    (void)unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    (void)unlink(side);
}

static int open_db(const char *path, bool fresh, sqlite3 **ret)
{
    if (fresh)
        remove_db(path);
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_raw: %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
        return -EIO;
    }
    if (bl_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "sqlite_raw: pragmas") <
            0 ||
        bl_exec(db, bl_schema_sql, "sqlite_raw: schema") < 0 ||
        bl_exec(db, "DROP TRIGGER IF EXISTS events_fts_insert;", "sqlite_raw: trigger") < 0)
        return -EIO;
    /* Keep the WAL file across runs (--append), as a long-running writer keeps it: a WAL
     * recreated on every open would make each round pay for growing a new file. */
    int persist = 1;
    (void)sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    *ret = TAKE_PTR(db);
    return 0;
}

/* Loads the id and hash of the newest row (genesis when empty). */
static int load_tip(struct raw_state *s)
{
    _cleanup_(bl_sqlite_finalizep) sqlite3_stmt *st = NULL;
    memcpy(s->prev, bl_genesis, sizeof(bl_genesis));
    if (sqlite3_prepare_v2(s->db, "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return -EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == BL_HASH_HEX) {
        s->id = sqlite3_column_int64(st, 0);
        memcpy(s->prev, sqlite3_column_text(st, 1), BL_HASH_HEX);
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
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

/* Appends until rows (if > 0) or seconds have passed; returns rows written or -EIO. */
static int64_t append_for(struct raw_state *s, const struct raw_opts *o, int64_t rows,
                          double seconds, double *ret_secs)
{
    int64_t start = s->id;
    double t0 = bl_mono_s(), t = t0;
    while (rows > 0 ? s->id - start < rows : t - t0 < seconds) {
        unsigned n = o->batch;
        if (rows > 0 && s->id - start + n > rows)
            n = (unsigned)(rows - (s->id - start));
        if (append_batch(s, o, n) < 0)
            return -EIO;
        t = bl_mono_s();
    }
    *ret_secs = t - t0;
    return s->id - start;
}

static int run(const struct raw_opts *o)
{
    _cleanup_free_ struct raw_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (open_db(o->db, !o->append, &db) < 0)
        return -EIO;
    _cleanup_(bl_sqlite_finalizep) sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, bl_insert_sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    *s = (struct raw_state){.db = db, .insert = st};
    if (load_tip(s) < 0)
        return -EIO;
    double secs = 0;
    if (o->warmup > 0 && append_for(s, o, 0, o->warmup, &secs) < 0)
        return -EIO;
    int64_t n = append_for(s, o, o->rows, o->duration, &secs);
    if (n < 0)
        return -EIO;
    printf("{\"mode\":\"%s\",\"batch\":%u,\"rows\":%" PRId64
           ",\"seconds\":%.3f,\"rows_per_s\":%.1f}\n",
           o->batch == 1 ? "tx-per-row" : "batched", o->batch, n, secs,
           secs > 0 ? (double)n / secs : 0.0);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: sqlite_raw --db PATH [--batch ROWS_PER_TX] [--rows N | --duration SEC]\n"
          "                  [--warmup SEC] [--append] [--payload JSON]\n"
          "Deletes and recreates PATH unless --append (continue its chain). Prints "
          "{\"mode\",\"batch\",\"rows\",\"seconds\","
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
        {"warmup", required_argument, NULL, 'w'},
        {"append", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct raw_opts o = {.payload = RAW_DEFAULT_PAYLOAD, .batch = 1, .duration = 3};
    int ch;
    while ((ch = getopt_long(argc, argv, "D:b:n:d:p:w:ah", lo, NULL)) != -1) {
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
        case 'w':
            o.warmup = strtod(optarg, NULL);
            break;
        case 'a':
            o.append = true;
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
