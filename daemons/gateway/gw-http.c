/* The gateway's router over lib/ipc's raw server: request id, route match, JSON body,
 * authentication, the handler, then the answer with its headers. Every answer goes out through
 * send_answer, so none lacks the request id or the security headers. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "common/utf8.h"
#include "gw-api.h"
#include "gw-auth.h"
#include "gw-http.h"

#define ULID_LEN 26

static const struct {
    const struct gw_route *routes;
    const size_t *n;
} route_tables[] = {
    {gw_auth_routes, &gw_auth_n_routes},     {gw_chat_routes, &gw_chat_n_routes},
    {gw_config_routes, &gw_config_n_routes}, {gw_api_routes, &gw_api_n_routes},
    {gw_static_routes, &gw_static_n_routes},
};

/* ---- request ids ---------------------------------------------------------------------- */

/* A ULID: 48 bits of milliseconds and 80 random bits in Crockford's base32. */
static void ulid(char out[static ULID_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    struct timespec ts;
    uint8_t b[16];
    uint64_t ms;
    unsigned bits = 0, acc = 0;
    size_t o = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    randombytes_buf(b + 6, 10);
    /* 128 bits as 26 digits: the first digit carries the top 3 bits */
    acc = b[0] >> 5;
    out[o++] = alphabet[acc];
    acc = b[0] & 0x1f;
    bits = 5;
    for (size_t i = 1; i < sizeof(b); i++) {
        acc = (acc << 8) | b[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 0x1f];
            bits -= 5;
        }
    }
    out[o] = '\0';
}

static bool request_id_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 8 || n > GW_REQUEST_ID_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void request_id(struct gw_req *req)
{
    const char *given = osm_raw_header(req->raw, "X-Request-Id");
    char id[ULID_LEN + 1];

    if (given && request_id_valid(given)) {
        snprintf(req->request_id, sizeof(req->request_id), "%s", given);
        return;
    }
    ulid(id);
    snprintf(req->request_id, sizeof(req->request_id), "req_%s", id);
}

/* ---- helpers for handlers ---------------------------------------------------------------- */

int gw_resp_header(struct gw_resp *resp, const char *name, const char *value)
{
    size_t i = resp->n_headers;

    if (i == ELEMENTSOF(resp->headers) || strlen(name) >= sizeof(resp->headers[i].name) ||
        strlen(value) >= sizeof(resp->headers[i].value))
        return -E2BIG;
    strcpy(resp->headers[i].name, name);
    strcpy(resp->headers[i].value, value);
    resp->n_headers++;
    return 0;
}

const char *gw_req_header(const struct gw_req *req, const char *name)
{
    return req->raw ? osm_raw_header(req->raw, name) : NULL;
}

const char *gw_req_query(const struct gw_req *req, const char *key)
{
    return req->raw ? osm_raw_query(req->raw, key) : NULL;
}

void gw_error(struct gw_req *req, struct gw_resp *resp, int status, const char *code,
              json_t *detail, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_decref(resp->json);
    resp->status = status;
    resp->json = json_pack("{s:s, s:s, s:s, s:s}", "code", code, "message", msg, "request_id",
                           req->request_id, "error", code);
    if (resp->json && detail)
        json_object_set(resp->json, "detail", detail);
    json_decref(detail);
}

/* ---- routing ----------------------------------------------------------------------------- */

/* Matches path against pattern ("/a/{x}/b"); captures into req->param. */
static bool pattern_match(const char *pattern, const char *path, struct gw_req *req)
{
    const char *p = pattern, *s = path;

    req->n_params = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0 || req->n_params == ELEMENTSOF(req->param))
                return false;
            req->param[req->n_params++] = s; /* points into path; cut below */
            p = strchr(p, '}');
            if (!p)
                return false;
            p++;
            s += n;
            continue;
        }
        if (*p++ != *s++)
            return false;
    }
    return *p == '\0' && *s == '\0';
}

/* The route for method and path; *path_known when another method would match. */
static const struct gw_route *route_find(struct gw_req *req, bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < ELEMENTSOF(route_tables); t++)
        for (size_t i = 0; i < *route_tables[t].n; i++) {
            const struct gw_route *r = &route_tables[t].routes[i];
            if (!pattern_match(r->pattern, req->path, req))
                continue;
            if (strcmp(r->method, req->method) == 0)
                return r;
            *path_known = true;
        }
    return NULL;
}

/* Copies the captured segments out of the path (so each is NUL-terminated). */
static int params_own(struct gw_req *req, char *buf, size_t len)
{
    size_t used = 0;

    for (size_t i = 0; i < req->n_params; i++) {
        size_t n = strcspn(req->param[i], "/");
        if (used + n + 1 > len)
            return -E2BIG;
        memcpy(buf + used, req->param[i], n);
        buf[used + n] = '\0';
        req->param[i] = buf + used;
        used += n + 1;
    }
    return 0;
}

static bool parse_body(struct gw_req *req, struct gw_resp *resp)
{
    json_error_t e;

    if (!osm_utf8_valid(req->raw->body, req->raw->body_len)) {
        gw_error(req, resp, 400, "validation_failed", NULL, "the body is not valid UTF-8");
        return false;
    }
    req->body = json_loadb(req->raw->body, req->raw->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!req->body) {
        gw_error(req, resp, 400, "validation_failed", NULL, "the body is not JSON: %s", e.text);
        return false;
    }
    if (!json_is_object(req->body)) {
        gw_error(req, resp, 400, "validation_failed", NULL, "the body must be a JSON object");
        return false;
    }
    return true;
}

/* ---- answers ----------------------------------------------------------------------------- */

static void add_out_header(struct osm_raw_response *out, const char *name, const char *value)
{
    (void)osm_raw_response_header(out, name, value);
}

static void send_answer(struct gw_req *req, struct gw_resp *resp, struct osm_raw_response *out)
{
    out->status = resp->status ? resp->status : 200;
    if (resp->upgrade && out->status == 101) {
        out->upgrade = resp->upgrade;
        out->upgrade_cls = resp->upgrade_cls;
    } else if (resp->json) {
        out->body = json_dumps(resp->json, JSON_COMPACT);
        out->body_len = out->body ? strlen(out->body) : 0;
        out->content_type = "application/json";
        if (!out->body)
            out->status = 500;
    } else if (resp->body) {
        out->body = TAKE_PTR(resp->body);
        out->body_len = resp->body_len;
        out->content_type = resp->content_type ? resp->content_type : "application/octet-stream";
    }
    add_out_header(out, "X-Request-Id", req->request_id);
    if (out->status != 101) {
        add_out_header(out, "X-Content-Type-Options", "nosniff");
        add_out_header(out, "Referrer-Policy", "no-referrer");
        add_out_header(out, "X-Frame-Options", "DENY");
        add_out_header(out, "Cache-Control", "no-store");
    }
    for (size_t i = 0; i < resp->n_headers; i++)
        add_out_header(out, resp->headers[i].name, resp->headers[i].value);
    json_decref(resp->json);
    free(resp->body);
}

void gw_http_handle(struct gateway *gw, struct osm_raw_request *raw, struct osm_raw_response *out)
{
    char params[OSM_HTTP_PATH_MAX + 8];
    struct gw_req req = {.gw = gw, .raw = raw, .method = raw->method, .path = raw->path};
    struct gw_resp resp = {0};
    const struct gw_route *route;
    bool path_known;

    snprintf(req.peer_addr, sizeof(req.peer_addr), "%s", raw->peer_addr);
    request_id(&req);
    route = route_find(&req, &path_known);
    if (!route)
        gw_error(&req, &resp, path_known ? 405 : 404,
                 path_known ? "method_not_allowed" : "not_found", NULL,
                 path_known ? "%s is not allowed on this path" : "no such endpoint: %s",
                 path_known ? req.method : req.path);
    else if (params_own(&req, params, sizeof(params)) < 0)
        gw_error(&req, &resp, 414, "uri_too_long", NULL, "the path is too long");
    else if (((route->flags & GW_PUBLIC) || gw_auth_check(gw->auth, &req, &resp, route->flags)) &&
             (!(route->flags & GW_JSON_BODY) || parse_body(&req, &resp)))
        route->handler(&req, &resp);
    send_answer(&req, &resp, out);
    gw_api_count(gw->api, out->status);
    json_decref(req.body);
}

static void on_raw(struct osm_raw_request *raw, struct osm_raw_response *out)
{
    gw_http_handle(raw->userdata, raw, out);
}

int gw_http_start(struct gateway *gw, const char *addr, uint16_t port, struct osm_http_server **ret)
{
    struct osm_http_server_config cfg = {.raw = on_raw, .userdata = gw, .body_max = GW_BODY_MAX};

    return osm_http_server_start_tcp(&cfg, addr, port, ret);
}
