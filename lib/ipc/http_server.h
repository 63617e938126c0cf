/* The one HTTP/1.1 + JSON server of every osModa-C daemon (libmicrohttpd), on a unix socket
 * (0600, stale socket removed, umask 077) or a TCP address. Routes are a table; handlers get a
 * parsed request and return a new JSON reference; bad input never reaches them.
 *
 * A route server runs a few event threads (epoll) shared by all connections, so a handler must
 * not wait there: a route that may wait (a job, an approval, a slow command, an fsync) says so
 * with OSM_ROUTE_BLOCKING and runs on a thread of its own while its connection is suspended; a
 * handler that waits for someone else's work (a ledger commit) defers its answer instead. A raw
 * server (streaming) and a per_connection one keep one thread per connection, where a handler
 * may block. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/macro.h"

struct osm_request;

/* Returns a new reference (the response body; NULL means an empty 204/500 body). Sets
 * req->status for anything but 200. Errors come from osm_error(). */
typedef json_t *(*osm_handler_fn)(struct osm_request *req);

enum osm_route_flags {
    OSM_ROUTE_BODY = 1 << 0,          /* a JSON object body is required */
    OSM_ROUTE_BODY_OPTIONAL = 1 << 1, /* a JSON object body may be sent (empty body allowed) */
    OSM_ROUTE_OPERATOR = 1 << 2,      /* answered only on the operator socket */
    OSM_ROUTE_BLOCKING = 1 << 3,      /* the handler may wait: it runs on its own thread */
};

struct osm_route {
    const char *method;  /* "GET", "POST", "DELETE", ... */
    const char *pattern; /* "/incident/{id}/step": {x} matches one non-empty path segment */
    osm_handler_fn handler;
    unsigned flags;
};

struct osm_query_arg {
    const char *key;
    const char *value; /* "" for a bare key */
};

struct osm_request {
    const char *method;
    const char *path;
    const char *param[OSM_HTTP_MAX_PATH_PARAMS]; /* captured {x} segments in order */
    size_t n_params;
    struct osm_query_arg query[OSM_HTTP_MAX_QUERY_ARGS];
    size_t n_query;
    json_t *body;      /* lent; NULL when no body was sent */
    struct ucred peer; /* SO_PEERCRED of the caller; pid 0 when unknown (TCP) */
    bool operator;     /* request arrived on the operator socket */
    void *userdata;    /* the server's userdata */
    int status;        /* response status, 200 unless the handler changes it */
    void *conn_;       /* internal: the transport's state, for osm_request_defer() */
    bool deferred_;    /* internal: the handler deferred its answer */
    char *text_;       /* internal: an answer serialized by the handler */
};

/* For hot paths: answers with JSON text the handler built itself, skipping the encoder. Takes
 * text (NUL-terminated, valid JSON, e.g. from asprintf over values that need no escaping) and
 * sets status; the handler then returns NULL. */
void osm_request_answer_text(struct osm_request *req, int status, char *text);

struct osm_deferred;

/* Takes the answer out of the handler: the handler then returns NULL at once, and the answer is
 * sent when osm_deferred_answer() is called, from any thread. Returns NULL when the request
 * cannot wait this way (in-process dispatch, a raw or blocking handler's own thread): the handler
 * then answers inline as usual. */
struct osm_deferred *osm_request_defer(struct osm_request *req);
/* True when the handler may wait inline without delaying anyone else: it runs on its own thread
 * (blocking route, in-process dispatch), or no other connection shares its event thread. A
 * handler that would wait for someone else's work can then skip the hand-off of a deferred
 * answer, which costs two thread wake-ups. */
bool osm_request_may_wait(const struct osm_request *req);
/* Sends the answer of a deferred request, exactly once: status and body (stolen; NULL gives a
 * 500 envelope). Never blocks. */
void osm_deferred_answer(struct osm_deferred *d, int status, json_t *body);
/* The same with serialized JSON text (taken over), as for osm_request_answer_text(). */
void osm_deferred_answer_text(struct osm_deferred *d, int status, char *text);

/* The value of query argument key, or NULL. */
const char *osm_request_query(const struct osm_request *req, const char *key);
/* Parses query argument key as an integer in [min, max]; def when absent. On a bad value returns
 * an error envelope (new reference, status set) and leaves *ret untouched; NULL on success. */
json_t *osm_request_query_int(struct osm_request *req, const char *key, int64_t def, int64_t min,
                              int64_t max, int64_t *ret);
/* json_unpack_ex on the request body; NULL on success, else a 422 envelope naming the field.
 * Unknown keys are accepted, as serde does for osModa's clients. */
json_t *osm_request_unpack(struct osm_request *req, const char *fmt, ...);

/* Raw requests (MCP's Streamable HTTP): the handler sees the headers and the unparsed body and
 * builds the whole response itself, possibly as a stream (server-sent events). */
struct osm_raw_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated, body_len bytes (capped at body_max: 413 before) */
    size_t body_len;
    struct ucred peer;  /* as in struct osm_request */
    char peer_addr[64]; /* the TCP peer's numeric address, "" on a unix socket */
    void *userdata;
    void *conn_; /* internal: the connection, for osm_raw_header() */
};

#define OSM_RAW_MAX_HEADERS 12

/* Blocking producer of a streamed body: returns the bytes written into buf (at most max, > 0),
 * or -1 at the end of the stream, -2 to abort the connection. It may block (one thread per
 * connection). */
typedef ssize_t (*osm_stream_read_fn)(void *cls, uint64_t pos, char *buf, size_t max);

struct osm_raw_response {
    int status; /* 0 means 500 */
    char *body; /* owned by the response (freed after sending) */
    size_t body_len;
    const char *content_type; /* static string; NULL: application/json */
    struct {
        char name[48];
        char value[208];
    } headers[OSM_RAW_MAX_HEADERS];
    size_t n_headers;
    osm_stream_read_fn stream; /* when set, the body is streamed (chunked) instead of body */
    void (*stream_free)(void *cls);
    void *stream_cls;
    /* A protocol upgrade (WebSocket): with status 101 and the Upgrade header set, the answer is
     * sent and the connection handed over: upgrade gets a socket of its own (it closes it) and
     * the bytes the client sent past the request. Called on the connection's thread, which
     * then ends. */
    void (*upgrade)(void *cls, int fd, const char *extra, size_t extra_len);
    void *upgrade_cls;
};

typedef void (*osm_raw_handler_fn)(struct osm_raw_request *req, struct osm_raw_response *resp);

/* The value of request header name (case-insensitive), or NULL. */
const char *osm_raw_header(const struct osm_raw_request *req, const char *name);
/* The value of query argument key (decoded), or NULL. */
const char *osm_raw_query(const struct osm_raw_request *req, const char *key);
/* Adds a response header; -E2BIG when the table or a field is full. */
int osm_raw_response_header(struct osm_raw_response *resp, const char *name, const char *value);

struct osm_http_server_config {
    const struct osm_route *routes;
    size_t n_routes;
    osm_raw_handler_fn raw; /* when set, every request goes to it and routes are unused */
    void *userdata;
    size_t body_max;          /* 0 = OSM_BODY_MAX */
    unsigned max_connections; /* 0 = OSM_HTTP_MAX_CONNECTIONS */
    bool operator;            /* this listener is the operator socket */
    bool per_connection;      /* one thread per connection instead of event threads: for a
                                 socket whose requests nearly all block (each then runs on its
                                 connection's thread, with no hand-off) */
};

struct osm_http_server;

/* Creates the socket (umask 077, removes a stale socket, chmod mode) and serves it on its own
 * threads: one event thread per CPU for routes (see the top of this file), one thread
 * per connection for a raw handler. */
int osm_http_server_start_unix(const struct osm_http_server_config *cfg, const char *path,
                               mode_t mode, struct osm_http_server **ret);
/* Same on addr:port (numeric IPv4/IPv6). */
int osm_http_server_start_tcp(const struct osm_http_server_config *cfg, const char *addr,
                              uint16_t port, struct osm_http_server **ret);
/* Stops accepting, lets running requests finish (blocking and deferred ones included), removes
 * the unix socket. NULL-safe. */
void osm_http_server_stop(struct osm_http_server *s);

/* The transport-free core used by the server and by fuzz targets: routes and validates one
 * request and produces the serialized response body (new string) and its status. */
int osm_http_dispatch(const struct osm_http_server_config *cfg, struct osm_request *req,
                      const char *content_type, const char *body, size_t body_len, char **ret_body,
                      size_t *ret_len);
/* For the transport: the flags of the route that answers method and path (0 when none). */
unsigned osm_http_route_flags(const struct osm_http_server_config *cfg, const char *method,
                              const char *path);
/* For the transport: serializes a handler's answer (resp stolen; NULL gives an envelope) into
 * a new string; returns the status, 500 when nothing could be built. */
int osm_http_serialize(struct osm_request *req, json_t *resp, char **ret_body, size_t *ret_len);
