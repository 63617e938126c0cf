/* The gateway's HTTP layer, over lib/ipc's raw server (TCP, one thread per connection, headers
 * in and out): a route table with the authentication each route needs, the request id every
 * answer carries, the error envelope, JSON bodies, static files and the WebSocket upgrade.
 *
 * Every answer has X-Request-Id (the client's when it sent a valid one, [A-Za-z0-9_-]{8,64},
 * else "req_" + a new ULID). Every error is {code, message, detail?, request_id, error} (error:
 * osModa's alias of code) with the right status. Security headers on every answer:
 * X-Content-Type-Options nosniff, Referrer-Policy no-referrer, X-Frame-Options DENY, and a
 * Content-Security-Policy without inline script on HTML. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"
#include "ipc/http_server.h"

#define GW_BODY_MAX (256 * 1024) /* osModa's /config body limit */
#define GW_REQUEST_ID_MAX 64

enum gw_route_flags {
    GW_PUBLIC = 1 << 0,    /* no authentication (/health, the login page, static files) */
    GW_MUTATING = 1 << 1,  /* a change: CSRF-checked for cookie sessions; Idempotency-Key honoured
                              on /api/v1 */
    GW_JSON_BODY = 1 << 2, /* a JSON object body is required (400 otherwise) */
};

/* Who is asking, as gw_auth_check found. */
struct gw_who {
    bool bearer;       /* Authorization: Bearer <token> */
    bool session;      /* the dashboard's session cookie */
    char user[64];     /* "operator" (bearer) or the session's user name */
    char token_id[17]; /* first 16 hex of SHA-256(token): per-token limits */
};

struct gw_req {
    struct gateway *gw;
    struct osm_raw_request *raw;
    const char *method, *path;
    const char *param[4]; /* {x} captures of the route pattern */
    size_t n_params;
    json_t *body; /* parsed JSON object (GW_JSON_BODY), else NULL */
    struct gw_who who;
    char request_id[GW_REQUEST_ID_MAX + 1];
    char peer_addr[64]; /* the TCP peer, for per-address rate limits */
};

/* What a handler returns: a JSON answer (the common case) or raw bytes. */
struct gw_resp {
    int status;   /* 200 unless set */
    json_t *json; /* owned; serialised as the body */
    char *body;   /* owned raw body (static files, /metrics, OpenAPI), when json is NULL */
    size_t body_len;
    const char *content_type; /* static string for raw bodies */
    struct {
        char name[48];
        char value[320];
    } headers[8];
    size_t n_headers;
    /* WebSocket: set by the /ws handler to take over the connection after 101 */
    void (*upgrade)(void *cls, int fd, const char *extra, size_t extra_len);
    void *upgrade_cls;
};

typedef void (*gw_handler_fn)(struct gw_req *req, struct gw_resp *resp);

struct gw_route {
    const char *method;
    const char *pattern; /* "/config/credentials/{id}/test" */
    gw_handler_fn handler;
    unsigned flags;
};

/* Sets an error answer: status, the envelope with code and message (detail stolen, may be NULL). */
void gw_error(struct gw_req *req, struct gw_resp *resp, int status, const char *code,
              json_t *detail, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Adds a response header (-E2BIG when full). */
int gw_resp_header(struct gw_resp *resp, const char *name, const char *value);
/* A request header, or NULL. */
const char *gw_req_header(const struct gw_req *req, const char *name);
/* A query argument, or NULL. */
const char *gw_req_query(const struct gw_req *req, const char *key);

/* The route tables of the parts; the server tries them in this order. */
extern const struct gw_route gw_auth_routes[], gw_chat_routes[], gw_config_routes[],
    gw_api_routes[], gw_static_routes[];
extern const size_t gw_auth_n_routes, gw_chat_n_routes, gw_config_n_routes, gw_api_n_routes,
    gw_static_n_routes;

/* Serves the gateway on addr:port. */
int gw_http_start(struct gateway *gw, const char *addr, uint16_t port,
                  struct osm_http_server **ret);
/* The transport-free core (fuzzing, tests): one request through routing, auth and the handler. */
void gw_http_handle(struct gateway *gw, struct osm_raw_request *raw, struct osm_raw_response *out);
