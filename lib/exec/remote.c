/* A daemon's executor reaching agentd over its daemons socket (contract in remote.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/macro.h"
#include "crypto/encoding.h"
#include "ipc/http_client.h"
#include "remote.h"

#define CALL_TIMEOUT_MS 10000

struct osm_exec_remote {
    char *socket;
    sqlite3 *db;
    pthread_mutex_t db_lock; /* one connection: writes and reads take turns */
    uint8_t pk[32];
    struct osm_exec *exec;
    pthread_t waiter;
    bool waiter_started;
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t held; /* a call was held: the waiter has a new id to wait for */
    uint64_t n_held;
};

/* ---- calls to agentd -------------------------------------------------------------------- */

/* One call; 0 with the reply when agentd answered (any status), else -errno. */
static int call(struct osm_exec_remote *r, const char *method, const char *path, const json_t *body,
                struct osm_http_reply *reply)
{
    return osm_http_call(r->socket, method, path, body, CALL_TIMEOUT_MS, reply);
}

/* A status into -errno: 2xx 0, 404 -ENOENT, 409 -EALREADY, 422/400 -EINVAL, else -EIO. */
static int status_errno(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    return status == 404                    ? -ENOENT
           : status == 409                  ? -EALREADY
           : status == 422 || status == 400 ? -EINVAL
                                            : -EIO;
}

static int call_simple(struct osm_exec_remote *r, const char *method, const char *path,
                       const json_t *body, json_t **ret_json)
{
    struct osm_http_reply reply;
    int e = call(r, method, path, body, &reply);

    if (e < 0)
        return e;
    e = status_errno(reply.status);
    if (e == 0 && ret_json)
        *ret_json = json_incref(reply.json);
    if (e == 0 && reply.status == 202)
        e = -EAGAIN;
    osm_http_reply_clear(&reply);
    return e;
}

/* ---- the sink --------------------------------------------------------------------------- */

static int local_apply(struct osm_exec_remote *r, int (*apply)(sqlite3 *db, void *actx), void *actx)
{
    int e;

    pthread_mutex_lock(&r->db_lock);
    e = sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    if (e == 0)
        e = apply(r->db, actx);
    if (e == 0 && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        e = -EIO;
    if (e < 0)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&r->db_lock);
    return e;
}

/* The event first (if it cannot be recorded nothing changes), then the rows. A row change that
 * finds nothing to change (-EALREADY) after its event was recorded is harmless: the event says
 * what was attempted. */
static int sink_record(void *ctx, const char *type, const char *actor, const json_t *payload,
                       int (*apply)(sqlite3 *db, void *actx), void *actx, int64_t *ret_id)
{
    struct osm_exec_remote *r = ctx;
    json_auto_t *body =
        json_pack("{s:s, s:s, s:O}", "type", type, "actor", actor, "payload", payload);
    json_t *out = NULL;
    int e = body ? call_simple(r, "POST", "/events/append", body, &out) : -ENOMEM;

    if (e == 0 && ret_id)
        *ret_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    if (e == 0 && apply)
        e = local_apply(r, apply, actx);
    return e;
}

static int sink_read(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx)
{
    struct osm_exec_remote *r = ctx;
    int e;

    pthread_mutex_lock(&r->db_lock);
    e = fn(r->db, fctx);
    pthread_mutex_unlock(&r->db_lock);
    return e;
}

/* ---- the approver ----------------------------------------------------------------------- */

static int approver_open(void *ctx, const struct osm_approval_request *a)
{
    struct osm_exec_remote *r = ctx;
    json_auto_t *body = json_pack(
        "{s:s, s:s, s:O, s:s, s:s, s:I, s:s, s:s*, s:O*}", "id", a->id, "tool", a->tool,
        "arguments", a->arguments, "args_hash", a->args_hash, "job_id", a->job_id, "call_id",
        (json_int_t)a->call_id, "reason", a->reason, "path", a->path, "preview", a->preview);
    int e = body ? call_simple(r, "POST", "/approvals/open", body, NULL) : -ENOMEM;

    if (e == 0) {
        pthread_mutex_lock(&r->lock);
        r->n_held++;
        pthread_cond_broadcast(&r->held);
        pthread_mutex_unlock(&r->lock);
    }
    return e;
}

static int approver_grant(void *ctx, const char *tool, const char *args_hash, const char *path,
                          char ret_id[static OSM_EXEC_ID_LEN + 1])
{
    json_auto_t *body =
        json_pack("{s:s, s:s, s:s*}", "tool", tool, "args_hash", args_hash, "path", path);
    json_auto_t *out = NULL;
    const char *id;
    int e = body ? call_simple(ctx, "POST", "/approvals/grant", body, &out) : -ENOMEM;

    if (e < 0)
        return e;
    id = json_string_value(json_object_get(out, "approval_id"));
    if (!id)
        return -ENOENT;
    snprintf(ret_id, OSM_EXEC_ID_LEN + 1, "%s", id);
    return 0;
}

static int approver_cancel(void *ctx, const char *id)
{
    char path[96];

    snprintf(path, sizeof(path), "/approvals/%s/cancel", id);
    return call_simple(ctx, "POST", path, NULL, NULL);
}

static int approver_decision(void *ctx, const char *id, json_t **ret)
{
    char path[96];

    snprintf(path, sizeof(path), "/approvals/%s/decision", id);
    return call_simple(ctx, "GET", path, NULL, ret);
}

void osm_exec_remote_config(struct osm_exec_remote *r, struct osm_exec_config *cfg)
{
    cfg->sink = (struct osm_exec_sink){sink_record, sink_read, sink_read, r};
    cfg->approver = (struct osm_exec_approver){.open = approver_open,
                                               .grant = approver_grant,
                                               .cancel = approver_cancel,
                                               .decision = approver_decision,
                                               .ctx = r};
    memcpy(cfg->signer_pk, r->pk, sizeof(r->pk));
}

/* ---- the decision waiter ---------------------------------------------------------------- */

/* The approval ids of the jobs held here. */
static json_t *held_ids(struct osm_exec_remote *r)
{
    json_t *held = NULL, *ids = json_array(), *item;
    size_t i;

    if (ids && osm_jobs_held(osm_exec_jobs(r->exec), &held) == 0)
        json_array_foreach(held, i, item) json_array_append(ids, json_array_get(item, 1));
    json_decref(held);
    return ids;
}

/* Sleeps until a call is held after seen, stop, or seconds pass (0: no limit). */
static void wait_held(struct osm_exec_remote *r, uint64_t seen, int seconds)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&r->lock);
    while (r->n_held == seen && !atomic_load(&r->stopping))
        if (seconds ? pthread_cond_timedwait(&r->held, &r->lock, &until) == ETIMEDOUT
                    : pthread_cond_wait(&r->held, &r->lock) != 0)
            break;
    pthread_mutex_unlock(&r->lock);
}

/* One wait on agentd for the decisions of ids; applies those that came. -errno when agentd did
 * not answer, -EPROTO when decisions came and none could be applied (then the caller backs
 * off instead of asking again at once). */
static int wait_once(struct osm_exec_remote *r, json_t *ids)
{
    json_auto_t *body = json_pack("{s:O, s:i}", "ids", ids, "wait_s", OSM_EXEC_REMOTE_WAIT_S);
    struct osm_http_reply reply;
    size_t i;
    json_t *d;
    int e, applied = 0;

    if (!body)
        return -ENOMEM;
    e = osm_http_call_cancellable(r->socket, "POST", "/approvals/wait", body,
                                  (OSM_EXEC_REMOTE_WAIT_S + 10) * 1000L, &r->stopping, &reply);
    if (e < 0)
        return e;
    e = status_errno(reply.status);
    if (e == 0)
        json_array_foreach(reply.json, i, d) applied += osm_exec_decided(r->exec, d) == 0;
    if (e == 0 && json_array_size(reply.json) > 0 && applied == 0)
        e = -EPROTO;
    osm_http_reply_clear(&reply);
    return e;
}

static void *waiter_main(void *arg)
{
    struct osm_exec_remote *r = arg;
    int backoff = 1;

    pthread_setname_np(pthread_self(), "exec-waiter");
    while (!atomic_load(&r->stopping)) {
        uint64_t seen;
        json_t *ids;
        int e;

        pthread_mutex_lock(&r->lock);
        seen = r->n_held;
        pthread_mutex_unlock(&r->lock);
        ids = held_ids(r);
        if (json_array_size(ids) == 0) {
            json_decref(ids);
            wait_held(r, seen, 0);
            continue;
        }
        e = wait_once(r, ids);
        json_decref(ids);
        if (e == 0 || e == -ECANCELED) {
            backoff = 1;
            continue;
        }
        /* agentd is away: after it is back, every held call is checked again */
        wait_held(r, seen, backoff);
        backoff =
            backoff * 2 > OSM_EXEC_REMOTE_RETRY_MAX_S ? OSM_EXEC_REMOTE_RETRY_MAX_S : backoff * 2;
        if (!atomic_load(&r->stopping))
            (void)osm_exec_reconcile(r->exec);
    }
    return NULL;
}

int osm_exec_remote_start(struct osm_exec_remote *r, struct osm_exec *e)
{
    int n;

    r->exec = e;
    n = osm_exec_reconcile(e);
    if (n < 0)
        return n;
    n = -pthread_create(&r->waiter, NULL, waiter_main, r);
    r->waiter_started = n == 0;
    return n;
}

void osm_exec_remote_stop(struct osm_exec_remote *r)
{
    if (!r || !r->waiter_started)
        return;
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->stopping, true);
    pthread_cond_broadcast(&r->held);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->waiter, NULL);
    r->waiter_started = false;
}

/* ---- opening ---------------------------------------------------------------------------- */

static int fetch_key(struct osm_exec_remote *r)
{
    json_auto_t *out = NULL;
    const char *hex;
    int e = call_simple(r, "GET", "/approvals/key", NULL, &out);

    if (e < 0)
        return e;
    hex = json_string_value(json_object_get(out, "public_key"));
    if (!hex || strlen(hex) != 64)
        return -EPROTO;
    return osm_hex_decode(hex, 64, r->pk, sizeof(r->pk));
}

static int open_db(struct osm_exec_remote *r, const char *path)
{
    mode_t old = umask(077);
    int e = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

    umask(old);
    if (e != SQLITE_OK)
        return -EIO;
    sqlite3_busy_timeout(r->db, 5000);
    return sqlite3_exec(r->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                        NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

int osm_exec_remote_new(const char *daemons_socket, const char *db_path,
                        struct osm_exec_remote **ret)
{
    struct osm_exec_remote *r = calloc(1, sizeof(*r));
    pthread_condattr_t ca;
    int e;

    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->db_lock, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->held, &ca);
    pthread_condattr_destroy(&ca);
    r->socket = strdup(daemons_socket);
    e = r->socket ? open_db(r, db_path) : -ENOMEM;
    if (e == 0)
        e = fetch_key(r);
    if (e < 0) {
        osm_exec_remote_free(r);
        return e;
    }
    *ret = r;
    return 0;
}

void osm_exec_remote_free(struct osm_exec_remote *r)
{
    if (!r)
        return;
    osm_exec_remote_stop(r);
    sqlite3_close(r->db);
    free(r->socket);
    pthread_mutex_destroy(&r->db_lock);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->held);
    free(r);
}
