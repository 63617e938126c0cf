/* Opening and closing a ledger, its error text and counts. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ledger_internal.h"

#define BUSY_TIMEOUT_MS 5000
#define MMAP_SIZE "268435456" /* reads through mmap: verification scans the whole table */

static int open_db(struct osm_ledger *l, const char *path)
{
    int mode = l->flags & OSM_LEDGER_RDWR ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                          : SQLITE_OPEN_READONLY;
    struct stat st;
    int rc;

    if (!(l->flags & OSM_LEDGER_RDWR) && stat(path, &st) < 0)
        return -errno;
    rc = sqlite3_open_v2(path, &l->db, mode | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return l->db ? -EIO : -ENOMEM;
    sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
    /* Reading through mmap speeds up whole-ledger walks (verify); the long-lived writer gains
     * nothing from it and would keep every page it touched resident. */
    if (l->flags & OSM_LEDGER_RDWR)
        return 0;
    return ledger_exec(l, "PRAGMA mmap_size = " MMAP_SIZE);
}

static int open_writable(struct osm_ledger *l)
{
    int r = ledger_exec(l, "PRAGMA journal_mode = WAL");

    if (r >= 0)
        r = ledger_exec(l, l->flags & OSM_LEDGER_NO_FSYNC ? "PRAGMA synchronous = OFF"
                                                          : "PRAGMA synchronous = FULL");
    if (r >= 0)
        r = ledger_schema_migrate(l);
    if (r >= 0)
        r = ledger_state_load(l);
    return r;
}

static int open_tables(struct osm_ledger *l)
{
    int a = ledger_table_exists(l, "checkpoints"), b = ledger_table_exists(l, "ledger_prune");

    if (a < 0 || b < 0)
        return a < 0 ? a : b;
    l->has_tree_tables = a && b;
    return 0;
}

int osm_ledger_open(const char *path, unsigned flags, struct osm_ledger **ret)
{
    struct osm_ledger *l = calloc(1, sizeof(*l));
    int r;

    *ret = NULL;
    if (!l)
        return -ENOMEM;
    l->flags = flags;
    l->indexed_through = -1;
    r = osm_sha256_init(&l->sha);
    if (r >= 0)
        r = open_db(l, path);
    if (r >= 0 && (flags & OSM_LEDGER_RDWR))
        r = open_writable(l);
    if (r >= 0)
        r = open_tables(l);
    if (r >= 0 || (r == -EIO && l->db)) {
        *ret = l;
        return r;
    }
    osm_ledger_close(l);
    return r;
}

void osm_ledger_close(struct osm_ledger *l)
{
    if (!l)
        return;
    ledger_finalize_all(l);
    if (l->db && (l->flags & OSM_LEDGER_RDWR))
        sqlite3_wal_checkpoint_v2(l->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close_v2(l->db);
    osm_sha256_done(&l->sha);
    free(l);
}

const char *osm_ledger_errmsg(struct osm_ledger *l)
{
    return l && l->db ? sqlite3_errmsg(l->db) : "out of memory";
}

sqlite3 *osm_ledger_sqlite(struct osm_ledger *l)
{
    return l->db;
}

int osm_ledger_stats(struct osm_ledger *l, int64_t *ret_count, int64_t *ret_last_id)
{
    int r = ledger_run(l, STMT_BEGIN);

    if (r < 0)
        return r;
    r = ledger_query_int64(l, "SELECT count(*) FROM events", 0, ret_count);
    if (r >= 0)
        r = ledger_query_int64(l, "SELECT max(id) FROM events", 0, ret_last_id);
    return ledger_end(l, r);
}
