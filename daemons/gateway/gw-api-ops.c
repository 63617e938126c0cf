/* The /api/v1 routes that ask the other daemons on their operator sockets: approvals (decided on
 * agentd's operator socket as agentctl decides them, naming the dashboard user), SafeSwitch
 * history and services from osmoda-watch, egress denials, keyd's wallets. A daemon's refusal
 * comes back with its status and code in the gateway's envelope; a daemon that does not run is
 * 503 service_unavailable naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "gw-api-internal.h"
#include "ipc/json_util.h"

#define LIST_MAX 500
#define APPROVAL_ID_MAX 64
#define APPROVAL_TTL_MAX (30 * 86400) /* agentd's AGENTD_APPROVAL_TTL_MAX_S */
#define REASON_MAX 500
#define UNIT_MAX 256 /* watch's unit names */
#define UNIT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._:-"

static const struct gw_daemon_info *daemon_info(const char *name)
{
    for (size_t i = 0; i < gw_n_daemons; i++)
        if (strcmp(gw_daemons[i].name, name) == 0)
            return &gw_daemons[i];
    return NULL;
}

/* The daemon's error envelope (or its status alone) as the gateway's. */
static void daemon_refused(struct gw_req *req, struct gw_resp *resp, const char *daemon,
                           const struct osm_http_reply *reply)
{
    const char *code = osm_json_str(reply->json, "error", NULL);
    const char *msg = osm_json_str(reply->json, "message", NULL);
    json_t *detail = json_object_get(reply->json, "detail");
    int status = reply->status >= 400 && reply->status < 600 ? (int)reply->status : 502;

    gw_error(req, resp, status,
             code            ? code
             : status == 502 ? "bad_gateway"
                             : "upstream_error",
             detail ? json_pack("{s:s, s:O}", "daemon", daemon, "detail", detail)
                    : json_pack("{s:s}", "daemon", daemon),
             "%s: %s", daemon, msg ? msg : "the daemon refused the request");
}

int gw_api_call(struct gw_req *req, struct gw_resp *resp, const char *daemon, const char *method,
                const char *path, const json_t *body, struct osm_http_reply *ret)
{
    const struct gw_daemon_info *d = daemon_info(daemon);
    int r;

    *ret = (struct osm_http_reply){0};
    r = d ? gw_daemon_call(req->gw, d->socket, method, path, body, ret) : -EINVAL;
    if (r == -ENOENT || r == -ECONNREFUSED || r == -EINVAL) {
        gw_error(req, resp, 503, "service_unavailable",
                 json_pack("{s:s, s:s}", "daemon", daemon, "socket", d ? d->socket : ""),
                 "%s is not running", daemon);
    } else if (r < 0) {
        gw_error(req, resp, 504, "gateway_timeout", json_pack("{s:s}", "daemon", daemon),
                 "%s did not answer: %s", daemon, strerror(-r));
    } else if (ret->status < 200 || ret->status >= 300 || !ret->json) {
        daemon_refused(req, resp, daemon, ret);
        r = -EPROTO;
    }
    if (r < 0)
        osm_http_reply_clear(ret);
    return r < 0 ? r : 0;
}

/* GET on a daemon, answered as {key: what it said}. */
static void forward_list(struct gw_req *req, struct gw_resp *resp, const char *daemon,
                         const char *path, const char *key)
{
    struct osm_http_reply reply;

    if (gw_api_call(req, resp, daemon, "GET", path, NULL, &reply) < 0)
        return;
    resp->json = json_pack("{s:O}", key, reply.json);
    osm_http_reply_clear(&reply);
}

/* The optional ?limit= of list routes, into path (base + "?limit=N"). */
static bool limited_path(struct gw_req *req, struct gw_resp *resp, const char *base, char *path,
                         size_t len)
{
    const char *s = gw_req_query(req, "limit");
    unsigned long n = 0;
    char *end = NULL;

    if (s)
        n = strtoul(s, &end, 10);
    if (s && (*s == '\0' || *s == '-' || *end != '\0' || n < 1 || n > LIST_MAX)) {
        gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", "limit"),
                 "limit must be an integer from 1 to %d", LIST_MAX);
        return false;
    }
    if (s)
        snprintf(path, len, "%s?limit=%lu", base, n);
    else
        snprintf(path, len, "%s", base);
    return true;
}

/* ---- approvals --------------------------------------------------------------------------- */

void gw_api_ops_approvals(struct gw_req *req, struct gw_resp *resp)
{
    forward_list(req, resp, "agentd", "/approval/pending", "approvals");
}

static bool approval_id_ok(struct gw_req *req, struct gw_resp *resp)
{
    const char *id = req->param[0];
    size_t n = strlen(id);

    if (n >= 1 && n <= APPROVAL_ID_MAX &&
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n)
        return true;
    gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", "id"),
             "an approval id is 1-%d characters of [A-Za-z0-9_-]", APPROVAL_ID_MAX);
    return false;
}

/* The optional JSON object body of a decision (NULL with resp set when it is not one). */
static json_t *decision_body(struct gw_req *req, struct gw_resp *resp)
{
    char err[160];
    json_t *body;

    if (!req->raw || req->raw->body_len == 0)
        return json_object();
    body = osm_json_parse(req->raw->body, req->raw->body_len, err, sizeof(err));
    if (!json_is_object(body)) {
        json_decref(body);
        gw_error(req, resp, 400, "validation_failed", NULL, "the body must be a JSON object%s%s",
                 body ? "" : ": ", body ? "" : err);
        return NULL;
    }
    return body;
}

/* {mode?: "once"|"always", ttl_s?: 1..30 days} into agentd's {mode, ttl_secs}. */
static int approve_fields(struct gw_req *req, struct gw_resp *resp, const json_t *in, json_t *out)
{
    const char *mode = NULL;
    json_int_t ttl = 0;
    json_error_t e;

    if (json_unpack_ex((json_t *)in, &e, JSON_STRICT, "{s?s, s?I}", "mode", &mode, "ttl_s", &ttl) <
        0) {
        gw_error(req, resp, 400, "validation_failed", NULL,
                 "the body is {mode?: \"once\"|\"always\", ttl_s?: seconds}: %s", e.text);
        return -EINVAL;
    }
    if (mode && strcmp(mode, "once") != 0 && strcmp(mode, "always") != 0) {
        gw_error(req, resp, 422, "invalid_field", json_pack("{s:s}", "field", "mode"),
                 "mode must be \"once\" or \"always\"");
        return -EINVAL;
    }
    if (json_object_get(in, "ttl_s") &&
        (ttl < 1 || ttl > APPROVAL_TTL_MAX || !mode || strcmp(mode, "always") != 0)) {
        gw_error(req, resp, 422, "invalid_field", json_pack("{s:s}", "field", "ttl_s"),
                 "ttl_s is 1 to %d seconds, with mode \"always\"", APPROVAL_TTL_MAX);
        return -EINVAL;
    }
    if (mode)
        json_object_set_new(out, "mode", json_string(mode));
    if (ttl)
        json_object_set_new(out, "ttl_secs", json_integer(ttl));
    return 0;
}

static int deny_fields(struct gw_req *req, struct gw_resp *resp, const json_t *in, json_t *out)
{
    const char *reason = NULL;
    json_error_t e;

    if (json_unpack_ex((json_t *)in, &e, JSON_STRICT, "{s?s}", "reason", &reason) < 0) {
        gw_error(req, resp, 400, "validation_failed", NULL, "the body is {reason?: text}: %s",
                 e.text);
        return -EINVAL;
    }
    if (reason && strlen(reason) > REASON_MAX) {
        gw_error(req, resp, 422, "invalid_field", json_pack("{s:s}", "field", "reason"),
                 "reason is at most %d bytes", REASON_MAX);
        return -EINVAL;
    }
    if (reason)
        json_object_set_new(out, "reason", json_string(reason));
    return 0;
}

/* Decides on agentd's operator socket: agentd names the gateway's uid as the decider and
 * records the dashboard user the gateway authenticated beside it (on_behalf_of). */
static void decide(struct gw_req *req, struct gw_resp *resp, bool approve)
{
    json_auto_t *in = NULL, *out = json_object();
    struct osm_http_reply reply;
    char path[128];
    int r;

    if (!approval_id_ok(req, resp) || !(in = decision_body(req, resp)))
        return;
    r = approve ? approve_fields(req, resp, in, out) : deny_fields(req, resp, in, out);
    if (r < 0)
        return;
    json_object_set_new(out, "on_behalf_of", json_string(req->who.user));
    snprintf(path, sizeof(path), "/approval/%s/%s", req->param[0], approve ? "approve" : "deny");
    if (gw_api_call(req, resp, "agentd", "POST", path, out, &reply) < 0)
        return;
    resp->json = json_pack("{s:O, s:s}", "approval", reply.json, "decided_for", req->who.user);
    osm_http_reply_clear(&reply);
}

void gw_api_ops_approve(struct gw_req *req, struct gw_resp *resp)
{
    decide(req, resp, true);
}

void gw_api_ops_deny(struct gw_req *req, struct gw_resp *resp)
{
    decide(req, resp, false);
}

/* ---- watch, egress, keyd ----------------------------------------------------------------- */

void gw_api_ops_switches(struct gw_req *req, struct gw_resp *resp)
{
    char path[64];

    if (limited_path(req, resp, "/switch/list", path, sizeof(path)))
        forward_list(req, resp, "watch", path, "switches");
}

/* One unit's status (?unit=), or what watch supervises: its services (apps) and watchers. */
void gw_api_ops_services(struct gw_req *req, struct gw_resp *resp)
{
    const char *unit = gw_req_query(req, "unit");
    struct osm_http_reply apps, watchers;
    char path[320];
    size_t n = unit ? strlen(unit) : 0;

    if (unit && (n < 1 || n > UNIT_MAX || strspn(unit, UNIT_CHARS) != n)) {
        gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", "unit"),
                 "unit is 1-%d characters of [A-Za-z0-9@._:-]", UNIT_MAX);
        return;
    }
    if (unit) {
        snprintf(path, sizeof(path), "/service/status?unit=%s", unit);
        forward_list(req, resp, "watch", path, "service");
        return;
    }
    if (gw_api_call(req, resp, "watch", "GET", "/app/list", NULL, &apps) < 0)
        return;
    if (gw_api_call(req, resp, "watch", "GET", "/watcher/list", NULL, &watchers) == 0) {
        resp->json = json_pack("{s:O, s:O}", "services", apps.json, "watchers", watchers.json);
        if (!resp->json)
            gw_error(req, resp, 500, "internal_error", NULL, "out of memory");
        osm_http_reply_clear(&watchers);
    }
    osm_http_reply_clear(&apps);
}

void gw_api_ops_denials(struct gw_req *req, struct gw_resp *resp)
{
    char path[64];

    if (limited_path(req, resp, "/denials", path, sizeof(path)))
        forward_list(req, resp, "egress", path, "denials");
}

void gw_api_ops_wallets(struct gw_req *req, struct gw_resp *resp)
{
    forward_list(req, resp, "keyd", "/wallet/list", "wallets");
}

/* STOP, FREEZE, THAW and LOCKDOWN from the dashboard's emergency bar, on watch's operator
 * socket (watch records them, naming the gateway's uid; the dashboard user goes in the reason).
 * Lifting a lockdown is root's alone, through agentctl on the host: it is not offered here. */
void gw_api_ops_emergency(struct gw_req *req, struct gw_resp *resp)
{
    static const char *const actions[] = {"stop", "freeze", "thaw", "lockdown"};
    const char *action = req->param[0];
    const json_t *why = req->body ? json_object_get(req->body, "reason") : NULL;
    struct osm_http_reply reply;
    json_auto_t *body = NULL;
    char path[64], reason[1200];
    bool known = false;

    for (size_t i = 0; i < ELEMENTSOF(actions); i++)
        known = known || strcmp(action, actions[i]) == 0;
    if (!known) {
        gw_error(req, resp, 404, "not_found", NULL,
                 "no emergency action %s: stop, freeze, thaw or lockdown", action);
        return;
    }
    if (why && (!json_is_string(why) || json_string_length(why) > 1024)) {
        gw_error(req, resp, 400, "validation_failed", json_pack("{s:s}", "field", "reason"),
                 "reason is a string of at most 1024 characters");
        return;
    }
    snprintf(reason, sizeof(reason), "%s (dashboard: %s)", why ? json_string_value(why) : action,
             req->who.user);
    body = strcmp(action, "lockdown") == 0 ? json_pack("{s:s}", "reason", reason) : json_object();
    snprintf(path, sizeof(path), "/emergency/%s", action);
    if (gw_api_call(req, resp, "watch", "POST", path, body, &reply) < 0)
        return;
    resp->json = json_incref(reply.json);
    osm_http_reply_clear(&reply);
}
