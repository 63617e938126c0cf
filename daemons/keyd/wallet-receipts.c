/* Receipts of wallet operations, kept in keyd.db. A receipt is written after its ledger event
 * (the authority) and off the signing path: a writer thread commits what is queued in one
 * transaction, so a burst of signatures shares one fsync and no signature waits for its
 * receipt's. Reading flushes first, and stopping drains the queue; only a crash in between
 * loses the newest receipts, never their events. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "wallets.h"

#define RECEIPTS_QUEUE_MAX 10000 /* beyond this, a receipt is written at once */

struct receipts {
    struct kstore *store;
    pthread_mutex_t lock;
    pthread_cond_t wake, written_cond;
    json_t *queue; /* [{wallet_id, action, ts, body}], under lock */
    uint64_t queued, written;
    bool stop;
    pthread_t thread;
};

static void stmt_done(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

static int insert_all(sqlite3 *db, void *ctx)
{
    __attribute__((cleanup(stmt_done))) sqlite3_stmt *st = NULL;
    size_t i;
    json_t *r;

    if (sqlite3_prepare_v2(db, "INSERT INTO receipts(wallet_id, ts, action, body) VALUES(?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    json_array_foreach((json_t *)ctx, i, r)
    {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(r, "wallet_id")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(r, "ts")), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(r, "action")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(r, "body")), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return -EIO;
    }
    return 0;
}

static void write_batch(struct receipts *rc, json_t *batch)
{
    int r = kstore_tx(rc->store, insert_all, batch);

    if (r < 0)
        log_warn("receipts.write",
                 "count=%zu error=%d note=\"receipts lost; their ledger events "
                 "stand\"",
                 json_array_size(batch), r);
}

static void *writer(void *arg)
{
    struct receipts *rc = arg;

    pthread_mutex_lock(&rc->lock);
    for (;;) {
        while (!rc->stop && json_array_size(rc->queue) == 0)
            pthread_cond_wait(&rc->wake, &rc->lock);
        if (json_array_size(rc->queue) == 0)
            break; /* stopping, and drained */
        json_t *batch = rc->queue;
        uint64_t upto = rc->queued;
        rc->queue = json_array();
        pthread_mutex_unlock(&rc->lock);
        write_batch(rc, batch);
        json_decref(batch);
        pthread_mutex_lock(&rc->lock);
        rc->written = upto;
        pthread_cond_broadcast(&rc->written_cond);
        if (!rc->queue) /* out of memory for a new queue: writes go synchronous */
            break;
    }
    pthread_mutex_unlock(&rc->lock);
    return NULL;
}

int receipts_start(struct kstore *s, struct receipts **ret)
{
    struct receipts *rc = calloc(1, sizeof(*rc));

    if (!rc || !(rc->queue = json_array())) {
        free(rc);
        return -ENOMEM;
    }
    rc->store = s;
    pthread_mutex_init(&rc->lock, NULL);
    pthread_cond_init(&rc->wake, NULL);
    pthread_cond_init(&rc->written_cond, NULL);
    if (pthread_create(&rc->thread, NULL, writer, rc) != 0) {
        json_decref(rc->queue);
        free(rc);
        return -EAGAIN;
    }
    pthread_setname_np(rc->thread, "keyd-receipts");
    *ret = rc;
    return 0;
}

void receipts_stop(struct receipts *rc)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->lock);
    rc->stop = true;
    pthread_cond_signal(&rc->wake);
    pthread_mutex_unlock(&rc->lock);
    pthread_join(rc->thread, NULL);
    json_decref(rc->queue);
    pthread_cond_destroy(&rc->wake);
    pthread_cond_destroy(&rc->written_cond);
    pthread_mutex_destroy(&rc->lock);
    free(rc);
}

/* Waits until every receipt queued before the call is in keyd.db. */
static void receipts_flush(struct receipts *rc)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->lock);
    uint64_t upto = rc->queued;
    while (rc->written < upto && rc->queue)
        pthread_cond_wait(&rc->written_cond, &rc->lock);
    pthread_mutex_unlock(&rc->lock);
}

int wallet_receipt_add(struct keyd *k, const char *wallet_id, const char *action,
                       const json_t *receipt)
{
    _cleanup_free_ char *body = json_dumps(receipt, JSON_COMPACT | JSON_SORT_KEYS);
    struct receipts *rc = k->receipts;
    char ts[OSM_TS_LEN + 1];
    json_t *row;
    int r = -ENOMEM;

    osm_now_ts(ts);
    row = body ? json_pack("{s:s, s:s, s:s, s:s}", "wallet_id", wallet_id, "action", action, "ts",
                           ts, "body", body)
               : NULL;
    if (!row)
        return -ENOMEM;
    if (rc) {
        pthread_mutex_lock(&rc->lock);
        if (rc->queue && json_array_size(rc->queue) < RECEIPTS_QUEUE_MAX &&
            json_array_append(rc->queue, row) == 0) {
            rc->queued++;
            pthread_cond_signal(&rc->wake);
            r = 0;
        }
        pthread_mutex_unlock(&rc->lock);
    }
    if (r < 0) { /* no writer (tests, fuzzing) or a full queue: at once */
        json_auto_t *one = json_array();
        r = one && json_array_append(one, row) == 0 ? kstore_tx(k->store, insert_all, one)
                                                    : -ENOMEM;
    }
    json_decref(row);
    return r;
}

struct read_ctx {
    const char *wallet_id;
    int64_t limit;
    json_t *out;
};

static int read_fn(sqlite3 *db, void *ctx)
{
    struct read_ctx *rc = ctx;
    __attribute__((cleanup(stmt_done))) sqlite3_stmt *st = NULL;
    int s;

    if (sqlite3_prepare_v2(db,
                           "SELECT id, wallet_id, ts, action, body FROM receipts WHERE ?1 IS NULL "
                           "OR wallet_id = ?1 ORDER BY id DESC LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, rc->wallet_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rc->limit);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *body = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        json_t *row =
            json_pack("{s:I, s:s, s:s, s:s, s:o?}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                      "wallet_id", (const char *)sqlite3_column_text(st, 1), "ts",
                      (const char *)sqlite3_column_text(st, 2), "action",
                      (const char *)sqlite3_column_text(st, 3), "receipt", body);
        if (json_array_append_new(rc->out, row) < 0)
            return -ENOMEM;
    }
    return s == SQLITE_DONE ? 0 : -EIO;
}

json_t *wallet_receipts(struct keyd *k, const char *wallet_id, int64_t limit, struct kerr *e)
{
    json_auto_t *a = json_array();
    struct read_ctx rc = {.wallet_id = wallet_id, .limit = limit, .out = a};
    struct wallet w;

    if (wallet_id && wallet_find(k, wallet_id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", wallet_id);
    receipts_flush(k->receipts);
    if (!a || kstore_read(k->store, read_fn, &rc) < 0)
        return kerr_set(e, 503, "store_failed", "keyd.db could not be read");
    return json_incref(a);
}
