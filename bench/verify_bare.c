/* The bare verify loop: opens a ledger read-only, walks events ORDER BY id, checks each prev_hash
 * against the previous stored hash and recomputes SHA-256 of the pipe-joined fields — nothing
 * else. The peer of `agentctl verify-ledger`. Prints {"rows","mismatches","seconds"}; exit 1 when
 * any row does not verify. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bench-ledger.h"
#include "common/macro.h"

#define VB_MAX_ROW (16u << 20) /* joined-field cap per row */

struct vb_buf {
    char *p;
    size_t cap;
};

static int buf_reserve(struct vb_buf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    if (n > VB_MAX_ROW)
        return -EFBIG;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

#define COL(i) ((const char *)sqlite3_column_text(st, (i)))
#define LEN(i) ((size_t)sqlite3_column_bytes(st, (i)))

/* Checks the current row; returns 1 when it verifies, 0 when not, -errno on failure. */
static int check_row(sqlite3_stmt *st, struct vb_buf *b, const char *expected_prev, bool verbose)
{
    int64_t id = sqlite3_column_int64(st, 0);
    const char *prev = COL(5), *stored = COL(6);
    if (!prev || !stored || LEN(5) != BL_HASH_HEX || LEN(6) != BL_HASH_HEX)
        return 0;
    size_t need = 21 + 5 + LEN(1) + LEN(2) + LEN(3) + LEN(4) + BL_HASH_HEX;
    int r = buf_reserve(b, need);
    if (r < 0)
        return r;
    char hash[BL_HASH_HEX + 1];
    if (bl_hash(b->p, b->cap, id, COL(1), LEN(1), COL(2), LEN(2), COL(3), LEN(3), COL(4), LEN(4),
                prev, hash) < 0)
        return -EIO;
    bool ok_prev = memcmp(prev, expected_prev, BL_HASH_HEX) == 0;
    bool ok_hash = memcmp(hash, stored, BL_HASH_HEX) == 0;
    if (verbose && !ok_prev)
        fprintf(stderr, "chain break at #%" PRId64 "\n", id);
    if (verbose && !ok_hash)
        fprintf(stderr, "hash mismatch at #%" PRId64 "\n", id);
    return ok_prev && ok_hash;
}

static int walk(sqlite3 *db, int64_t *ret_rows, int64_t *ret_bad)
{
    _cleanup_(bl_sqlite_finalizep) sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, ts, type, actor, payload, prev_hash, hash"
                           " FROM events ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    struct vb_buf b = {0};
    char expected[BL_HASH_HEX + 1];
    memcpy(expected, bl_genesis, sizeof(expected));
    int64_t rows = 0, bad = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int ok = check_row(st, &b, expected, bad < 10);
        if (ok < 0) {
            free(b.p);
            return ok;
        }
        rows++;
        bad += !ok;
        if (LEN(6) == BL_HASH_HEX) /* continue with the stored hash, as agentctl does */
            memcpy(expected, COL(6), BL_HASH_HEX);
    }
    free(b.p);
    if (r != SQLITE_DONE)
        return -EIO;
    *ret_rows = rows;
    *ret_bad = bad;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fputs("usage: verify_bare LEDGER.db\n", stderr);
        return 2;
    }
    double t0 = bl_mono_s();
    _cleanup_(bl_sqlite_closep) sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "verify_bare: %s: %s\n", argv[1], db ? sqlite3_errmsg(db) : "no memory");
        return 1;
    }
    int64_t rows = 0, bad = 0;
    if (walk(db, &rows, &bad) < 0) {
        fprintf(stderr, "verify_bare: %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    double secs = bl_mono_s() - t0;
    printf("{\"rows\":%" PRId64 ",\"mismatches\":%" PRId64 ",\"seconds\":%.3f}\n", rows, bad, secs);
    return bad ? 1 : 0;
}
