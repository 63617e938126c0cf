/* The transport-free half of the HTTP server: route matching, body checks, query helpers. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "http_server.h"
#include "json_util.h"

const char *osm_request_query(const struct osm_request *req, const char *key)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value;
    return NULL;
}

json_t *osm_request_query_int(struct osm_request *req, const char *key, int64_t def, int64_t min,
                              int64_t max, int64_t *ret)
{
    const char *s = osm_request_query(req, key);
    char *end;
    long long v;

    if (!s) {
        *ret = def;
        return NULL;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE || v < min || v > max)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", key),
                         "query parameter '%s' must be an integer in [%" PRId64 ", %" PRId64 "]",
                         key, min, max);
    *ret = v;
    return NULL;
}

json_t *osm_request_unpack(struct osm_request *req, const char *fmt, ...)
{
    json_error_t jerr;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = json_vunpack_ex(req->body, &jerr, 0, fmt, ap);
    va_end(ap);
    if (r == 0)
        return NULL;
    return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "reason", jerr.text),
                     "invalid request body: %s", jerr.text);
}

/* Matches path against pattern, capturing {x} segments into req->param (pointers into copy). */
static bool pattern_match(const char *pattern, char *path_copy, struct osm_request *req)
{
    const char *p = pattern;
    char *s = path_copy;

    req->n_params = 0;
    while (*p && *s) {
        if (*p == '{') {
            char *seg_end = strchr(s, '/');
            const char *pat_end = strchr(p, '}');
            if (!pat_end || seg_end == s || req->n_params == OSM_HTTP_MAX_PATH_PARAMS)
                return false;
            req->param[req->n_params++] = s;
            p = pat_end + 1;
            if (!seg_end) {
                s += strlen(s);
                break;
            }
            if (*p != '/')
                return false;
            *seg_end = '\0';
            s = seg_end + 1;
            p++;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

/* Finds the route for req; sets *ret_path_known when the path exists under another method. */
static const struct osm_route *find_route(const struct osm_http_server_config *cfg,
                                          struct osm_request *req, char *copy, size_t copy_len,
                                          bool *ret_path_known)
{
    *ret_path_known = false;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct osm_route *rt = &cfg->routes[i];
        memcpy(copy, req->path, copy_len);
        if (!pattern_match(rt->pattern, copy, req))
            continue;
        if (strcmp(rt->method, req->method) == 0)
            return rt;
        *ret_path_known = true;
    }
    return NULL;
}

static bool content_type_is_json(const char *ct)
{
    size_t n = strlen("application/json");

    return ct && strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

/* Parses the body for a route that takes one; returns an error envelope or NULL. */
static json_t *parse_body(const struct osm_route *rt, struct osm_request *req, const char *ct,
                          const char *body, size_t len, json_t **ret)
{
    char err[256];
    json_t *v;

    *ret = NULL;
    if (!(rt->flags & (OSM_ROUTE_BODY | OSM_ROUTE_BODY_OPTIONAL)))
        return NULL;
    if (len == 0 && (rt->flags & OSM_ROUTE_BODY_OPTIONAL))
        return NULL;
    if (!content_type_is_json(ct))
        return osm_error(req, 415, "unsupported_media_type", NULL,
                         "request body must be sent with Content-Type: application/json");
    if (len == 0)
        return osm_error(req, 400, "invalid_json", NULL, "request body is empty");
    v = osm_json_parse(body, len, err, sizeof(err));
    if (!v)
        return osm_error(req, 400, "invalid_json", NULL, "malformed JSON: %s", err);
    if (!json_is_object(v)) {
        json_decref(v);
        return osm_error(req, 422, "invalid_body", NULL, "request body must be a JSON object");
    }
    *ret = v;
    return NULL;
}

static json_t *route_request(const struct osm_http_server_config *cfg, struct osm_request *req,
                             const char *ct, const char *body, size_t len)
{
    size_t path_len = strlen(req->path) + 1;
    _cleanup_free_ char *copy = malloc(path_len);
    const struct osm_route *rt;
    json_t *err, *parsed, *resp;
    bool path_known;

    if (!copy)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    rt = find_route(cfg, req, copy, path_len, &path_known);
    if (!rt && path_known)
        return osm_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                         req->method, req->path);
    if (!rt)
        return osm_error(req, 404, "not_found", NULL, "no such endpoint: %s", req->path);
    if ((rt->flags & OSM_ROUTE_OPERATOR) && !req->operator)
        return osm_error(req, 403, "forbidden", NULL, "%s is answered only on the operator socket",
                         req->path);
    err = parse_body(rt, req, ct, body, len, &parsed);
    if (err)
        return err;
    req->body = parsed;
    req->userdata = cfg->userdata;
    resp = rt->handler(req);
    req->body = NULL;
    json_decref(parsed);
    return resp;
}

unsigned osm_http_route_flags(const struct osm_http_server_config *cfg, const char *method,
                              const char *path)
{
    struct osm_request req = {.method = method, .path = path};
    size_t path_len = strlen(path) + 1;
    _cleanup_free_ char *copy = malloc(path_len);
    const struct osm_route *rt;
    bool path_known;

    if (!copy)
        return 0;
    rt = find_route(cfg, &req, copy, path_len, &path_known);
    return rt ? rt->flags : 0;
}

int osm_http_serialize(struct osm_request *req, json_t *resp, char **ret_body, size_t *ret_len)
{
    char *out;

    if (!resp) /* every answer is JSON: a handler that built nothing gets an envelope */
        resp = osm_error(req, req->status >= 400 ? req->status : 500, "internal_error", NULL,
                         "the request could not be answered");
    out = resp ? json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(resp);
    if (!out)
        req->status = 500;
    *ret_body = out;
    *ret_len = out ? strlen(out) : 0;
    return req->status;
}

void osm_request_answer_text(struct osm_request *req, int status, char *text)
{
    free(req->text_);
    req->text_ = text;
    req->status = status;
}

int osm_http_dispatch(const struct osm_http_server_config *cfg, struct osm_request *req,
                      const char *content_type, const char *body, size_t body_len, char **ret_body,
                      size_t *ret_len)
{
    json_t *resp;

    req->status = 200;
    req->deferred_ = false;
    req->text_ = NULL;
    resp = route_request(cfg, req, content_type, body, body_len);
    if (req->deferred_) { /* the answer comes later, through osm_deferred_answer() */
        json_decref(resp);
        *ret_body = NULL;
        *ret_len = 0;
        return 0;
    }
    if (req->text_ && !resp) {
        *ret_body = TAKE_PTR(req->text_);
        *ret_len = strlen(*ret_body);
        return req->status;
    }
    free(TAKE_PTR(req->text_));
    return osm_http_serialize(req, resp, ret_body, ret_len);
}
