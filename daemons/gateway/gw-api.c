/* /health and the public /api/v1: the route table, the conventions every API call goes through
 * (rate limits per token and per address, Idempotency-Key on changes), the gateway's own
 * status, the OpenAPI document, and the part's lifetime. The ledger's routes are in
 * gw-api-ledger.c, those that ask the other daemons in gw-api-ops.c, /metrics in gw-metrics.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "crypto/sha256.h"
#include "drivers.h"
#include "gw-agents.h"
#include "gw-api-internal.h"
#include "gw-chat.h"
#include "gw-credstore.h"
#include "gw-idempotency.h"
#include "gw-ratelimit.h"

#ifndef OSMODA_VERSION
#define OSMODA_VERSION "0"
#endif

/* The embedded OpenAPI document (built from openapi.json). */
extern const char gw_openapi_doc[];
extern const size_t gw_openapi_doc_len;

/* ---- conventions ------------------------------------------------------------------------- */

static bool rate_ok(struct gw_api *a, struct gw_req *req, struct gw_resp *resp, bool write)
{
    unsigned per_min = write ? a->opt.write_per_min : a->opt.read_per_min, retry = 0;
    int64_t now = osm_monotonic_ms();
    char key[GW_RATE_KEY_MAX], value[16];
    bool limited = false;

    if (req->who.token_id[0]) {
        snprintf(key, sizeof(key), "t:%s:%c", req->who.token_id, write ? 'w' : 'r');
        limited = gw_rate_take(a->rate, key, per_min, now, &retry) < 0;
    }
    if (!limited) {
        snprintf(key, sizeof(key), "a:%s:%c", req->peer_addr, write ? 'w' : 'r');
        limited = gw_rate_take(a->rate, key, per_min, now, &retry) < 0;
    }
    if (!limited)
        return true;
    atomic_fetch_add(&a->counters.rate_limited, 1);
    snprintf(value, sizeof(value), "%u", retry);
    gw_error(req, resp, 429, "rate_limited",
             json_pack("{s:i, s:i}", "retry_after_s", (int)retry, "limit_per_min", (int)per_min),
             "too many %s requests: at most %u a minute per token and per address; retry in %u s",
             write ? "changing" : "reading", per_min, retry);
    gw_resp_header(resp, "Retry-After", value);
    return false;
}

static void replay(struct gw_api *a, struct gw_resp *resp, struct gw_idem_answer *ans)
{
    atomic_fetch_add(&a->counters.replayed, 1);
    resp->status = ans->status;
    resp->body = ans->body;
    resp->body_len = ans->body_len;
    resp->content_type = "application/json";
    gw_resp_header(resp, "Idempotent-Replayed", "true");
}

/* Runs a changing call once per Idempotency-Key; keeps the answer only when it succeeded. */
static void idempotent(struct gw_api *a, struct gw_req *req, struct gw_resp *resp,
                       gw_handler_fn impl, const char *key)
{
    struct gw_idem_answer ans = {0};
    uint8_t digest[32], body[32];
    int r;

    if (!gw_idem_key_valid(key)) {
        gw_error(req, resp, 400, "invalid_idempotency_key", NULL,
                 "Idempotency-Key must be %d to %d characters of [A-Za-z0-9_-]", GW_IDEM_KEY_MIN,
                 GW_IDEM_KEY_MAX);
        return;
    }
    gw_idem_digest(req->who.token_id, req->method, req->path, key, digest);
    osm_sha256(req->raw->body ? req->raw->body : "", req->raw->body_len, body);
    r = gw_idem_begin(a->idem, digest, body, time(NULL), &ans);
    if (r == GW_IDEM_REPLAY)
        return replay(a, resp, &ans);
    if (r == GW_IDEM_REUSED || r == GW_IDEM_IN_FLIGHT || r < 0) {
        if (r == GW_IDEM_REUSED)
            gw_error(req, resp, 409, "idempotency_key_reused", NULL,
                     "this Idempotency-Key was used with another body");
        else if (r == GW_IDEM_IN_FLIGHT)
            gw_error(req, resp, 409, "idempotency_key_in_flight", NULL,
                     "the first request with this Idempotency-Key is still running");
        else
            gw_error(req, resp, 503, "service_unavailable", NULL,
                     "every idempotency slot is taken by a running request");
        return;
    }
    impl(req, resp);
    if ((resp->status == 0 || (resp->status >= 200 && resp->status < 300)) && resp->json) {
        _cleanup_free_ char *text = json_dumps(resp->json, JSON_COMPACT);
        if (text && gw_idem_finish(a->idem, digest, resp->status ? resp->status : 200, text,
                                   strlen(text)) == 0) {
            json_decref(TAKE_PTR(resp->json));
            resp->body_len = strlen(text);
            resp->body = TAKE_PTR(text);
            resp->content_type = "application/json";
            return;
        }
    }
    gw_idem_abort(a->idem, digest);
}

/* Every API call: the part is ready, the rate limit, then the call (once per key). */
static void api_run(struct gw_req *req, struct gw_resp *resp, gw_handler_fn impl, bool write)
{
    struct gw_api *a = req->gw->api;
    const char *key = write ? gw_req_header(req, "Idempotency-Key") : NULL;

    if (!a) {
        gw_error(req, resp, 503, "service_unavailable", NULL, "the API is starting");
        return;
    }
    if (!rate_ok(a, req, resp, write))
        return;
    if (key)
        idempotent(a, req, resp, impl, key);
    else
        impl(req, resp);
}

/* ---- the gateway's own state ------------------------------------------------------------- */

static json_t *health_agents(struct gateway *gw)
{
    json_auto_t *doc = gw->agents ? gw_agents_json(gw->agents) : NULL;
    json_t *out = json_array(), *ag;
    size_t i;

    json_array_foreach(json_object_get(doc, "agents"), i, ag) json_array_append_new(
        out, json_pack("{s:O?, s:O?, s:O?, s:b}", "id", json_object_get(ag, "id"), "runtime",
                       json_object_get(ag, "runtime"), "model", json_object_get(ag, "model"),
                       "enabled", json_is_true(json_object_get(ag, "enabled"))));
    return out;
}

static json_t *health_drivers(void)
{
    json_t *out = json_array();

    for (size_t i = 0; i < gw_n_drivers; i++)
        json_array_append_new(out, json_string(gw_drivers[i]->name));
    return out;
}

static json_int_t health_credentials(struct gateway *gw)
{
    json_auto_t *list = gw->creds ? gw_credstore_list(gw->creds) : NULL;

    return (json_int_t)json_array_size(json_object_get(list, "credentials"));
}

static json_int_t health_sessions(struct gateway *gw)
{
    json_auto_t *st = gw->chat ? gw_chat_stats(gw->chat) : NULL;

    return json_integer_value(json_object_get(st, "sessions"));
}

/* The parts that are not running (failed to open), so that a 0 or [] is not read as "none". */
static json_t *health_unavailable(struct gateway *gw)
{
    json_t *out = json_array();

    if (!gw->chat)
        json_array_append_new(out, json_string("chat"));
    if (!gw->agents)
        json_array_append_new(out, json_string("agents"));
    if (!gw->creds)
        json_array_append_new(out, json_string("credentials"));
    return out;
}

/* GET /health, /api/health (public, osModa's shape §10.7). */
static void health_impl(struct gw_req *req, struct gw_resp *resp)
{
    struct gateway *gw = req->gw;

    resp->json =
        json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:o}", "status", "ok", "runtime", "modular",
                  "drivers", health_drivers(), "agents", health_agents(gw), "credentials_count",
                  health_credentials(gw), "uptime", (json_int_t)(time(NULL) - gw->started_at),
                  "sessions", health_sessions(gw), "unavailable", health_unavailable(gw));
}

static json_t *ledger_summary(struct gw_api *a)
{
    int64_t events = 0, last = 0, cp = 0;
    char ts[OSM_TS_LEN + 1];
    int r = gw_api_ledger_summary(a, &events, &last, &cp);

    if (r < 0)
        return json_pack("{s:b, s:s}", "readable", false, "error",
                         r == -ENOENT ? "no ledger yet" : strerror(-r));
    if (cp > 0)
        osm_format_ts((time_t)cp, 0, ts);
    return json_pack("{s:b, s:I, s:I, s:s?}", "readable", true, "events", (json_int_t)events,
                     "last_id", (json_int_t)last, "last_checkpoint_at", cp > 0 ? ts : NULL);
}

/* GET /api/v1/status: version, uptime, which daemons answer, the ledger's size. */
static void status_impl(struct gw_req *req, struct gw_resp *resp)
{
    struct gateway *gw = req->gw;
    json_auto_t *health = gw_daemons_health(gw);
    json_t *daemons = json_array(), *d;
    char started[OSM_TS_LEN + 1];
    size_t i;

    json_array_foreach(health, i, d)
        json_array_append_new(daemons, json_pack("{s:O, s:O}", "name", json_object_get(d, "name"),
                                                 "up", json_object_get(d, "up")));
    osm_format_ts(gw->started_at, 0, started);
    resp->json =
        json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:o*}", "name", "osmoda-gateway", "version",
                  OSMODA_VERSION, "uptime_s", (json_int_t)(time(NULL) - gw->started_at),
                  "started_at", started, "daemons", daemons, "ledger", ledger_summary(gw->api),
                  "llm", gw->llm ? gw_llmproxy_stats(gw->llm) : NULL);
}

/* GET /api/v1/health: every daemon's /health as the gateway sees it. */
static void daemons_impl(struct gw_req *req, struct gw_resp *resp)
{
    json_t *health = gw_daemons_health(req->gw), *d;
    bool all = true;
    size_t i;

    json_array_foreach(health, i, d) all = all && json_is_true(json_object_get(d, "up"));
    resp->json = json_pack("{s:b, s:o}", "ok", all, "daemons", health);
}

/* GET /api/v1/openapi.json */
static void openapi_impl(struct gw_req *req, struct gw_resp *resp)
{
    (void)req;
    resp->body = malloc(gw_openapi_doc_len);
    if (!resp->body) {
        gw_error(req, resp, 500, "internal_error", NULL, "out of memory");
        return;
    }
    memcpy(resp->body, gw_openapi_doc, gw_openapi_doc_len);
    resp->body_len = gw_openapi_doc_len;
    resp->content_type = "application/json";
}

/* ---- routes ------------------------------------------------------------------------------ */

/* A route's handler: the conventions, then impl. */
#define API_READ(name, impl)                                                                       \
    static void name(struct gw_req *req, struct gw_resp *resp)                                     \
    {                                                                                              \
        api_run(req, resp, impl, false);                                                           \
    }
#define API_WRITE(name, impl)                                                                      \
    static void name(struct gw_req *req, struct gw_resp *resp)                                     \
    {                                                                                              \
        api_run(req, resp, impl, true);                                                            \
    }

API_READ(health, health_impl)
API_READ(status, status_impl)
API_READ(daemons, daemons_impl)
API_READ(openapi, openapi_impl)
API_READ(events, gw_api_ledger_handler_events)
API_READ(events_verify, gw_api_ledger_handler_verify)
API_READ(event_proof, gw_api_ledger_handler_proof)
API_READ(approvals, gw_api_ops_approvals)
API_WRITE(approve, gw_api_ops_approve)
API_WRITE(deny, gw_api_ops_deny)
API_READ(switches, gw_api_ops_switches)
API_READ(services, gw_api_ops_services)
API_WRITE(emergency, gw_api_ops_emergency)
API_READ(denials, gw_api_ops_denials)
API_READ(wallets, gw_api_ops_wallets)
API_READ(metrics, gw_metrics_handler)

const struct gw_route gw_api_routes[] = {
    {"GET", "/health", health, GW_PUBLIC},
    {"GET", "/api/health", health, GW_PUBLIC},
    {"GET", "/api/v1/openapi.json", openapi, GW_PUBLIC},
    {"GET", "/api/v1/status", status, 0},
    {"GET", "/api/v1/health", daemons, 0},
    {"GET", "/api/v1/events", events, 0},
    {"GET", "/api/v1/events/verify", events_verify, 0},
    {"GET", "/api/v1/events/{id}/proof", event_proof, 0},
    {"GET", "/api/v1/approvals", approvals, 0},
    {"POST", "/api/v1/approvals/{id}/approve", approve, GW_MUTATING},
    {"POST", "/api/v1/approvals/{id}/deny", deny, GW_MUTATING},
    {"GET", "/api/v1/switches", switches, 0},
    {"GET", "/api/v1/services", services, 0},
    {"POST", "/api/v1/emergency/{action}", emergency, GW_MUTATING | GW_JSON_BODY},
    {"GET", "/api/v1/egress/denials", denials, 0},
    {"GET", "/api/v1/wallets", wallets, 0},
    {"GET", "/metrics", metrics, 0},
};
const size_t gw_api_n_routes = ELEMENTSOF(gw_api_routes);

/* ---- lifetime ---------------------------------------------------------------------------- */

void gw_api_count(struct gw_api *a, int status)
{
    int c = status / 100;

    if (a)
        atomic_fetch_add(&a->counters.by_class[c >= 1 && c <= 5 ? c : 0], 1);
}

int gw_api_new(struct gateway *gw, const struct gw_api_options *opt, struct gw_api **ret)
{
    struct gw_api *a = calloc(1, sizeof(*a));
    int r;

    if (!a)
        return -ENOMEM;
    a->gw = gw;
    a->opt = opt ? *opt : (struct gw_api_options){0};
    if (!a->opt.read_per_min)
        a->opt.read_per_min = GW_RATE_READ_PER_MIN;
    if (!a->opt.write_per_min)
        a->opt.write_per_min = GW_RATE_WRITE_PER_MIN;
    if (!a->opt.syslog_socket)
        a->opt.syslog_socket = GW_SYSLOG_SOCKET;
    /* SQLite's allocation statistics take a global mutex per allocation: the connection
     * threads reading the ledger would queue on it (a no-op once SQLite is initialised) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    pthread_mutex_init(&a->tally.lock, NULL);
    if ((r = -pthread_key_create(&a->ledger_key, gw_api_reader_free)) < 0) {
        pthread_mutex_destroy(&a->tally.lock);
        free(a);
        return r;
    }
    a->ledger_path = osm_path_join(gw->state_dir, OSM_LEDGER_DB_NAME);
    if (!a->ledger_path || (r = gw_rate_new(&a->rate)) < 0 ||
        (r = gw_idem_new(GW_IDEMPOTENCY_MAX, GW_IDEMPOTENCY_TTL_S, &a->idem)) < 0 ||
        (a->opt.syslog_cef &&
         (r = gw_cef_start(gw->state_dir, a->opt.syslog_socket, &a->cef)) < 0)) {
        gw_api_free(a);
        return r < 0 ? r : -ENOMEM;
    }
    *ret = a;
    return 0;
}

void gw_api_free(struct gw_api *a)
{
    if (!a)
        return;
    gw_cef_stop(a->cef);
    gw_api_ledger_reset(a); /* the main thread's handle; the others' go with their threads */
    pthread_key_delete(a->ledger_key);
    gw_idem_free(a->idem);
    gw_rate_free(a->rate);
    pthread_mutex_destroy(&a->tally.lock);
    free(a->ledger_path);
    free(a);
}
