/* The ledger through /api/v1, read as agentctl reads it: agentd's database opened read-only (a
 * handle per connection thread), the same chain and checkpoint check as `agentctl
 * verify-ledger`, and inclusion proofs from agentd, which holds the Merkle tree. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/limits.h"
#include "common/macro.h"
#include "gw-api-internal.h"

#define EVENTS_DEFAULT 50
#define EVENTS_MAX 500

/* ---- the handle -------------------------------------------------------------------------- */

int gw_api_ledger(struct gw_api *a, struct osm_ledger **ret)
{
    struct osm_ledger *l = pthread_getspecific(a->ledger_key);
    int r;

    if (!l) {
        r = osm_ledger_open(a->ledger_path, OSM_LEDGER_RDONLY, &l);
        if (r < 0) {
            osm_ledger_close(l);
            return r;
        }
        if ((r = pthread_setspecific(a->ledger_key, l)) != 0) {
            osm_ledger_close(l);
            return -r;
        }
    }
    *ret = l;
    return 0;
}

void gw_api_ledger_reset(struct gw_api *a)
{
    struct osm_ledger *l = pthread_getspecific(a->ledger_key);

    pthread_setspecific(a->ledger_key, NULL);
    osm_ledger_close(l);
}

static void ledger_error(struct gw_req *req, struct gw_resp *resp, int r)
{
    if (r == -ENOENT)
        gw_error(req, resp, 503, "service_unavailable", NULL,
                 "there is no ledger yet: agentd has not run with this state directory");
    else
        gw_error(req, resp, 500, "internal_error", NULL, "cannot read the ledger: %s",
                 strerror(-r));
}

/* ---- GET /api/v1/events -------------------------------------------------------------------- */

static const char events_sql[] =
    "SELECT id, ts, type, actor, payload, prev_hash, hash FROM events"
    " WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR id < ?3)"
    " ORDER BY id DESC LIMIT ?4";

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t ? (const char *)t : "";
}

static json_t *event_json(sqlite3_stmt *s)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s#, s:s, s:s}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "ts", col(s, 1), "type", col(s, 2),
                     "actor", col(s, 3), "payload", col(s, 4), (int)sqlite3_column_bytes(s, 4),
                     "prev_hash", col(s, 5), "hash", col(s, 6));
}

/* A query integer in [min, max] (def when absent): false with resp set otherwise. */
static bool query_int(struct gw_req *req, struct gw_resp *resp, const char *key, int64_t def,
                      int64_t min, int64_t max, int64_t *ret)
{
    const char *s = gw_req_query(req, key);
    char *end;
    long long v;

    *ret = def;
    if (!s)
        return true;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < min || v > max) {
        gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", key),
                 "%s must be an integer from %" PRId64 " to %" PRId64, key, min, max);
        return false;
    }
    *ret = v;
    return true;
}

static bool query_name(struct gw_req *req, struct gw_resp *resp, const char *key, const char **ret)
{
    *ret = gw_req_query(req, key);
    if (!*ret || osm_ledger_name_valid(*ret))
        return true;
    gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", key),
             "%s must be 1-%d characters of [a-z0-9_.:-]", key, OSM_LEDGER_NAME_MAX);
    return false;
}

static int events_query(struct osm_ledger *l, const char *type, const char *actor, int64_t before,
                        int64_t limit, json_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (sqlite3_prepare_v2(osm_ledger_sqlite(l), events_sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    if (type)
        sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
    if (actor)
        sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
    if (before)
        sqlite3_bind_int64(s, 3, before);
    sqlite3_bind_int64(s, 4, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (json_array_append_new(out, event_json(s)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

void gw_api_ledger_handler_events(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_api *a = req->gw->api;
    const char *type, *actor;
    int64_t limit, before;
    struct osm_ledger *l;
    json_t *list;
    size_t n;
    int r;

    if (!query_int(req, resp, "limit", EVENTS_DEFAULT, 1, EVENTS_MAX, &limit) ||
        !query_int(req, resp, "before", 0, 1, INT64_MAX, &before) ||
        !query_name(req, resp, "type", &type) || !query_name(req, resp, "actor", &actor))
        return;
    if ((r = gw_api_ledger(a, &l)) < 0)
        return ledger_error(req, resp, r);
    if (!(list = json_array()))
        return ledger_error(req, resp, -ENOMEM);
    if ((r = events_query(l, type, actor, before, limit, list)) < 0) {
        json_decref(list);
        gw_api_ledger_reset(a);
        return ledger_error(req, resp, r);
    }
    n = json_array_size(list);
    resp->json = json_pack(
        "{s:o, s:o}", "events", list, "next_before",
        (int64_t)n == limit
            ? json_integer(json_integer_value(json_object_get(json_array_get(list, n - 1), "id")))
            : json_null());
}

/* ---- GET /api/v1/events/verify ----------------------------------------------------------- */

/* The problem kinds as agentctl verify-ledger --json names them. */
static const char *const problem_kinds[] = {
    [OSM_LEDGER_CHAIN_BREAK] = "chain_break",
    [OSM_LEDGER_HASH_MISMATCH] = "hash_mismatch",
    [OSM_LEDGER_ID_GAP] = "id_gap",
    [OSM_LEDGER_CHECKPOINT_BAD_SIG] = "checkpoint_bad_signature",
    [OSM_LEDGER_CHECKPOINT_MISMATCH] = "checkpoint_mismatch",
    [OSM_LEDGER_TRUNCATED] = "truncated",
    [OSM_LEDGER_CHECKPOINT_LOG_MISMATCH] = "checkpoint_log_mismatch",
};

#define PROBLEMS_SHOWN 100 /* problems listed; the count is in errors */

static void on_problem(void *ud, enum osm_ledger_problem p, int64_t id, const char *a,
                       const char *b)
{
    json_t *problems = ud;
    const char *kind =
        (size_t)p < ELEMENTSOF(problem_kinds) && problem_kinds[p] ? problem_kinds[p] : "unknown";

    if (json_array_size(problems) < PROBLEMS_SHOWN)
        json_array_append_new(problems,
                              json_pack("{s:s, s:I, s:s, s:s}", "kind", kind, "id", (json_int_t)id,
                                        "a", a ? a : "", "b", b ? b : ""));
}

void gw_api_ledger_handler_verify(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_api *a = req->gw->api;
    const char *state = req->gw->state_dir;
    _cleanup_free_ char *pub = osm_path_join(state, OSM_LEDGER_PUB_NAME);
    _cleanup_free_ char *log = osm_path_join(state, OSM_LEDGER_CHECKPOINT_LOG);
    json_t *problems = json_array();
    struct osm_ledger_verify_report rep = {0};
    struct osm_ledger_verify_opts opts = {.problem = on_problem, .userdata = problems};
    struct osm_ledger *l;
    bool no_key, ok;
    int r;

    if (!pub || !log || !problems) {
        json_decref(problems);
        return ledger_error(req, resp, -ENOMEM);
    }
    no_key = access(pub, F_OK) < 0 && errno == ENOENT;
    opts.pub_path = no_key ? NULL : pub;
    opts.checkpoint_log = log;
    if ((r = gw_api_ledger(a, &l)) < 0 || (r = osm_ledger_verify(l, &opts, &rep)) < 0) {
        json_decref(problems);
        if (r != -ENOENT)
            gw_api_ledger_reset(a);
        return ledger_error(req, resp, r);
    }
    /* checkpoints whose signatures cannot be checked fail the check, as in agentctl */
    ok = rep.errors == 0 && !(no_key && rep.latest_tree_size > 0);
    resp->json = json_pack(
        "{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "ok", ok, "signatures_checked", !no_key,
        "events", (json_int_t)rep.events, "errors", (json_int_t)rep.errors, "checkpoints",
        (json_int_t)rep.checkpoints, "latest_tree_size", (json_int_t)rep.latest_tree_size,
        "pruned_through", (json_int_t)rep.pruned_through, "problems", problems);
}

/* ---- GET /api/v1/events/{id}/proof ------------------------------------------------------- */

void gw_api_ledger_handler_proof(struct gw_req *req, struct gw_resp *resp)
{
    struct osm_http_reply proof = {0}, cp = {0};
    char path[96], *end;
    long long id;

    errno = 0;
    id = strtoll(req->param[0], &end, 10);
    if (*end != '\0' || errno || id < 1) {
        gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", "id"),
                 "the event id must be a positive integer");
        return;
    }
    snprintf(path, sizeof(path), "/ledger/proof/inclusion?id=%lld", id);
    if (gw_api_call(req, resp, "agentd", "GET", path, NULL, &proof) < 0)
        return;
    if (gw_api_call(req, resp, "agentd", "GET", "/ledger/checkpoint", NULL, &cp) == 0) {
        resp->json = json_pack("{s:O, s:O}", "proof", proof.json, "checkpoint", cp.json);
        if (!resp->json)
            gw_error(req, resp, 500, "internal_error", NULL, "out of memory");
    }
    osm_http_reply_clear(&proof);
    osm_http_reply_clear(&cp);
}

/* ---- summaries for /api/v1/status and /metrics ------------------------------------------- */

static int one_int(struct osm_ledger *l, const char *sql, int64_t *ret)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (sqlite3_prepare_v2(osm_ledger_sqlite(l), sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    rc = sqlite3_step(s);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int gw_api_ledger_summary(struct gw_api *a, int64_t *ret_events, int64_t *ret_last_id,
                          int64_t *ret_checkpoint_s)
{
    struct osm_ledger *l;
    int r;

    if ((r = gw_api_ledger(a, &l)) < 0)
        return r;
    if ((r = osm_ledger_stats(l, ret_events, ret_last_id)) < 0 ||
        (r = one_int(l,
                     "SELECT CAST(strftime('%s', ts) AS INTEGER) FROM checkpoints"
                     " ORDER BY tree_size DESC LIMIT 1",
                     ret_checkpoint_s)) < 0)
        gw_api_ledger_reset(a);
    return r;
}

/* ---- the tally of decisions and switch outcomes ------------------------------------------ */

static const char tally_sql[] =
    "SELECT id, type, CASE WHEN type = 'tool.call' AND json_valid(payload)"
    " THEN json_extract(payload, '$.decision') END FROM events WHERE id > ?1 AND id <= ?2"
    " AND type IN ('tool.call', 'switch.committed', 'switch.rolled_back',"
    " 'switch.rollback_failed') ORDER BY id";

/* Adds one row to the counts of t (a batch, added to the tally once it is complete). */
static void tally_row(struct gw_tally *t, sqlite3_stmt *s)
{
    static const char *const decisions[] = {"allow", "approve", "deny"};
    static const char *const outcomes[] = {"switch.committed", "switch.rolled_back",
                                           "switch.rollback_failed"};
    const char *type = col(s, 1), *decision = col(s, 2);
    size_t i;

    if (strcmp(type, "tool.call") == 0) {
        for (i = 0; i < ELEMENTSOF(decisions) && strcmp(decision, decisions[i]) != 0; i++)
            ;
        t->decisions[i]++;
        return;
    }
    for (i = 0; i < ELEMENTSOF(outcomes); i++)
        if (strcmp(type, outcomes[i]) == 0)
            t->switches[i]++;
}

int gw_api_tally_update(struct gw_api *a)
{
    struct gw_tally *t = &a->tally, batch = {0};
    struct osm_ledger *l;
    sqlite3_stmt *s = NULL;
    int64_t last;
    int r, rc;

    if ((r = gw_api_ledger(a, &l)) < 0)
        return r;
    pthread_mutex_lock(&t->lock);
    if (one_int(l, "SELECT COALESCE(MAX(id), 0) FROM events", &last) < 0 ||
        sqlite3_prepare_v2(osm_ledger_sqlite(l), tally_sql, -1, &s, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&t->lock);
        gw_api_ledger_reset(a);
        return -EIO;
    }
    sqlite3_bind_int64(s, 1, t->through_id);
    sqlite3_bind_int64(s, 2, last);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        tally_row(&batch, s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) {
        for (size_t i = 0; i < ELEMENTSOF(t->decisions); i++)
            t->decisions[i] += batch.decisions[i];
        for (size_t i = 0; i < ELEMENTSOF(t->switches); i++)
            t->switches[i] += batch.switches[i];
        t->through_id = last;
    }
    pthread_mutex_unlock(&t->lock);
    return rc == SQLITE_DONE ? 0 : -EIO;
}
