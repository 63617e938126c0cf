/* The parts of osmoda-mcp-bridge and how they meet: one MCP protocol core (mcp-protocol.c) fed
 * by two transports (mcp-stdio.c, mcp-http.c); tools come from the shared registry and are
 * translated into daemon calls (mcp-tools.c); mcp-fixtures.c holds the conformance suite's
 * fixture tools, prompts and resources (off unless --conformance-fixtures). */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/limits.h"

#define MCP_PROTOCOL_LATEST "2025-11-25"
#define MCP_SERVER_NAME "osmoda-mcp-bridge"
#define MCP_SERVER_VERSION "0.1.0"

/* Limits of the bridge (the man page lists them). */
#define MCP_MESSAGE_MAX (1024 * 1024)       /* one JSON-RPC message, stdio line or HTTP body */
#define MCP_RESULT_MAX_MIN 1024             /* smallest --max-result-bytes */
#define MCP_SESSIONS_MAX 64                 /* live HTTP sessions; the oldest idle one goes */
#define MCP_SESSION_IDLE_S 3600             /* an HTTP session unused this long is dropped */
#define MCP_INFLIGHT_MAX 32                 /* requests handled at once on stdio */
#define MCP_CLIENT_REQUEST_TIMEOUT_MS 60000 /* sampling / elicitation answer wait */
#define MCP_PENDING_MAX 16                  /* server-to-client requests open per session */
#define MCP_JOB_POLL_MS 500                 /* job_wait slice between progress notifications */
#define MCP_JOB_WAIT_MAX_S 600              /* longest a tools/call follows a job */
#define MCP_ID_SCAN_MAX 1024          /* raw bytes of an id recovered from an oversized line */
#define MCP_CAPABILITY_TEXT_MAX 16384 /* a capability token given as JSON text */
#define MCP_SSE_EVENTS_MAX 256        /* SSE events an HTTP session keeps for replay */
#define MCP_SSE_BUFFER_MAX (4 * 1024 * 1024) /* bytes of those events */
#define MCP_SSE_STREAMS_MAX 32               /* SSE streams a session remembers for Last-Event-ID */
#define MCP_SSE_HOLD_MS                                                                            \
    30000                                    /* a resumable connection is closed after this; the   \
                                                client polls (--sse-hold-ms) */
#define MCP_SSE_HOLD_MS_MIN 100              /* smallest --sse-hold-ms */
#define MCP_SSE_RETRY_MS 1000                /* the retry field: wait before reconnecting */
#define MCP_SSE_RESUMABLE_SINCE "2025-11-25" /* priming events and polling from this revision */

/* JSON-RPC and MCP error codes. */
enum {
    MCP_ERR_PARSE = -32700,
    MCP_ERR_INVALID_REQUEST = -32600,
    MCP_ERR_METHOD_NOT_FOUND = -32601,
    MCP_ERR_INVALID_PARAMS = -32602,
    MCP_ERR_INTERNAL = -32603,
    MCP_ERR_RESOURCE_NOT_FOUND = -32002,
};

enum mcp_log_level {
    MCP_LOG_DEBUG,
    MCP_LOG_INFO,
    MCP_LOG_NOTICE,
    MCP_LOG_WARNING,
    MCP_LOG_ERROR,
    MCP_LOG_CRITICAL,
    MCP_LOG_ALERT,
    MCP_LOG_EMERGENCY,
};

enum mcp_msg_kind { MCP_MSG_INVALID, MCP_MSG_REQUEST, MCP_MSG_NOTIFICATION, MCP_MSG_RESPONSE };

/* A protocol error a handler answers with (JSON-RPC error object). */
struct mcp_error {
    int code;
    char message[256];
};

/* Fills e and returns NULL, so handlers can `return mcp_fail(e, ...)`. */
json_t *mcp_fail(struct mcp_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The bridge's configuration, shared by every session (read-only after start). */
struct mcp_server {
    const char *run_dir;  /* where <daemon>-agent.sock live */
    bool fixtures;        /* register the conformance fixtures */
    size_t result_max;    /* byte cap of a tool result's text */
    long call_timeout_ms; /* daemon call timeout (0: OSM_HTTP_CLIENT_TIMEOUT_MS) */
    long sse_hold_ms;     /* HTTP: longest a resumable SSE connection is held (0: default) */
};

/* Where the messages a request emits on its way (notifications, server-to-client requests) go.
 * send lends msg; returns 0 or -errno (-ENOTCONN: nobody listens, e.g. a plain JSON answer).
 * close_stream (may be NULL) closes the connection carrying the request's event stream without
 * ending the stream: the client reconnects and resumes it (SSE polling). */
struct mcp_sink {
    int (*send)(void *ud, const json_t *msg);
    void *ud;
    int (*close_stream)(void *ud);
};

struct mcp_session;

/* One request being handled: what tools and fixtures may use while they run. */
struct mcp_call {
    struct mcp_session *session;
    const struct mcp_server *srv;
    const struct mcp_sink *sink;
    const json_t *id;             /* the request id (lent) */
    const json_t *progress_token; /* params._meta.progressToken or NULL (lent) */
    const json_t *meta;           /* params._meta or NULL (lent) */
};

/* ---- mcp-protocol.c: parsing, lifecycle, dispatch ---- */

/* Parses one message (bytes of a stdio line or an HTTP body). On success *ret_msg is a new
 * reference and 0 is returned; otherwise *ret_error is the JSON-RPC error response to send
 * (id null unless one could be read: over MCP_MESSAGE_MAX, the id the scan recovers) and
 * -EINVAL/-EBADMSG is returned. Batches are refused. */
int mcp_parse(const char *buf, size_t len, json_t **ret_msg, json_t **ret_error);

enum mcp_msg_kind mcp_message_kind(const json_t *msg);
/* {"jsonrpc":"2.0","id":id,"error":{code,message[,data]}} (new reference; id lent, may be NULL). */
json_t *mcp_error_response(const json_t *id, int code, const char *message, json_t *data);
json_t *mcp_result_response(const json_t *id, json_t *result);
/* True for a protocol revision the bridge speaks. */
bool mcp_protocol_supported(const char *version);

struct mcp_session *mcp_session_new(const struct mcp_server *srv);
struct mcp_session *mcp_session_ref(struct mcp_session *s);
void mcp_session_unref(struct mcp_session *s);
/* Wakes every waiter (pending client requests) and refuses new ones; the session stays
 * allocated until the last reference goes. */
void mcp_session_close(struct mcp_session *s);
bool mcp_session_initialized(struct mcp_session *s);

/* Handles one parsed message in session s. Returns the response to a request (new reference),
 * NULL for notifications and responses (a response is delivered to the waiting request). May
 * block for as long as the request runs; messages emitted meanwhile go to sink. */
json_t *mcp_session_handle(struct mcp_session *s, const json_t *msg, const struct mcp_sink *sink);

/* Helpers for handlers. notify steals params (may be NULL). */
int mcp_call_notify(struct mcp_call *c, const char *method, json_t *params);
int mcp_call_log(struct mcp_call *c, enum mcp_log_level level, const char *logger, json_t *data);
int mcp_call_progress(struct mcp_call *c, double progress, double total, const char *message);
/* Sends a request to the client (sampling/createMessage, elicitation/create) and waits for its
 * answer. params stolen. 0 with *ret_result (new reference); -ENOTCONN when the transport cannot
 * carry it, -ETIMEDOUT, -ECANCELED (session closed), -EPROTO with *ret_result = the error object.
 */
int mcp_call_request(struct mcp_call *c, const char *method, json_t *params, long timeout_ms,
                     json_t **ret_result);
/* The client's declared capability (e.g. "sampling"), lent, or NULL. */
const json_t *mcp_call_client_capability(struct mcp_call *c, const char *name);
/* Closes the connection that carries this request's event stream; the stream goes on and the
 * client resumes it with Last-Event-ID. 0, or -ENOTSUP where the transport cannot. */
int mcp_call_close_stream(struct mcp_call *c);
/* The revision negotiated at initialize ("" before), copied into ret. */
void mcp_session_protocol(struct mcp_session *s, char ret[static 16]);

/* ---- mcp-id-scan.c: the id of a message that is not parsed whole ---- */

/* An incremental scan for the top-level "id" member of a JSON object, fed in pieces of any
 * size. Fixed memory: ids whose raw token is longer than MCP_ID_SCAN_MAX are not recovered. */
struct mcp_id_scan {
    int state;
    bool escape, in_string;
    bool key_overflow, key_is_id, key_is_method;
    bool value_overflow, id_complete, has_method;
    unsigned n_ids; /* top-level "id" members seen (counts to 2) */
    size_t depth, key_len, value_len;
    char key[48]; /* raw bytes of the current key; longer keys are neither "id" nor "method" */
    char value[MCP_ID_SCAN_MAX];
};
void mcp_id_scan_init(struct mcp_id_scan *s);
void mcp_id_scan_feed(struct mcp_id_scan *s, const char *buf, size_t len);
/* The id (new reference: an integer or a string) when the bytes fed hold a request - a top-level
 * "method" member - with exactly one top-level "id" that is an integer or a string; else NULL. */
json_t *mcp_id_scan_result(const struct mcp_id_scan *s);
/* The same scan over one buffer. */
json_t *mcp_id_recover(const char *buf, size_t len);

/* ---- mcp-tools.c: registry tools → daemon calls ---- */

/* The registry's tools as MCP tool objects appended to array. */
int mcp_tools_list(json_t *array);
/* Runs tools/call for a registry tool. Returns the CallToolResult (new reference), or NULL with
 * e filled for a protocol error (unknown tool). */
json_t *mcp_tools_call(struct mcp_call *c, const char *name, const json_t *args,
                       struct mcp_error *e);
/* The socket a daemon's tools are sent to: $<DAEMON>_SOCKET or <run_dir>/<daemon>-agent.sock.
 * New string or NULL. */
char *mcp_tools_socket(const struct mcp_server *srv, const char *daemon);
/* A CallToolResult holding v as one capped JSON text item plus structuredContent. v lent. */
json_t *mcp_tool_result_json(const json_t *v, bool is_error, size_t cap);

/* ---- mcp-fixtures.c: the conformance suite's fixtures ---- */

int mcp_fixtures_tools(json_t *array);
/* NULL when name is not a fixture tool. */
json_t *mcp_fixtures_call(struct mcp_call *c, const char *name, const json_t *args);
json_t *mcp_fixtures_prompts(void);
json_t *mcp_fixtures_prompt_get(const char *name, const json_t *args, struct mcp_error *e);
json_t *mcp_fixtures_resources(void);
json_t *mcp_fixtures_resource_templates(void);
json_t *mcp_fixtures_resource_read(const char *uri, struct mcp_error *e);
json_t *mcp_fixtures_complete(const json_t *params);

/* ---- mcp-sse.c: resumable event streams of an HTTP session ---- */

struct mcp_sse_log;    /* one per session: its streams and the replay buffer */
struct mcp_sse_stream; /* one request's stream, or the session's GET stream */
struct mcp_sse_reader; /* one connection reading a stream */

#define MCP_SSE_END (-1)   /* mcp_sse_reader_read: the connection ends here */
#define MCP_SSE_ABORT (-2) /* events it needed were dropped: abort the connection */

/* A new log (one reference); hold_ms bounds how long a resumable connection is held (0:
 * MCP_SSE_HOLD_MS). */
struct mcp_sse_log *mcp_sse_log_new(long hold_ms);
struct mcp_sse_log *mcp_sse_log_ref(struct mcp_sse_log *l);
/* Ends every connection and refuses new streams (the session is gone). NULL-safe. */
void mcp_sse_log_close(struct mcp_sse_log *l);
void mcp_sse_log_unref(struct mcp_sse_log *l);

/* A new stream for a request (a reference for the caller). primed: the client speaks
 * MCP_SSE_RESUMABLE_SINCE or later, so its connections start with a priming event and may be
 * closed for polling. -EBUSY when MCP_SSE_STREAMS_MAX streams are still running, -ECANCELED
 * after close. */
int mcp_sse_stream_open(struct mcp_sse_log *l, bool primed, struct mcp_sse_stream **ret);
void mcp_sse_stream_unref(struct mcp_sse_stream *st);
uint64_t mcp_sse_stream_id(const struct mcp_sse_stream *st);
/* Buffers msg (lent) as the stream's next event; final ends the stream after it. Bounded by
 * MCP_SSE_EVENTS_MAX and MCP_SSE_BUFFER_MAX per session: the oldest events go first. */
int mcp_sse_stream_append(struct mcp_sse_stream *st, const json_t *msg, bool final);
/* Ends the connection now reading st, with a retry field: the client resumes. -ENOTSUP for a
 * stream that is not primed (its client could not resume it). */
int mcp_sse_stream_close_connection(struct mcp_sse_stream *st);

/* A connection reading st from its start (priming event first where primed). */
int mcp_sse_reader_open(struct mcp_sse_stream *st, struct mcp_sse_reader **ret);
/* A connection reading the session's GET stream (created on first use) from now on. */
int mcp_sse_reader_standalone(struct mcp_sse_log *l, bool primed, struct mcp_sse_reader **ret);
/* A connection resuming after event last_event_id: -EINVAL when it is not an id of ours,
 * -ENOENT when this session has no such event (any more), -ESTALE when events after it were
 * dropped from the buffer. A new reader of a stream ends the one it had. */
int mcp_sse_reader_resume(struct mcp_sse_log *l, const char *last_event_id,
                          struct mcp_sse_reader **ret);
/* Copies the next bytes of the stream into buf (blocking until there are some), or returns
 * MCP_SSE_END / MCP_SSE_ABORT. */
ssize_t mcp_sse_reader_read(struct mcp_sse_reader *r, char *buf, size_t max);
void mcp_sse_reader_free(struct mcp_sse_reader *r);

/* ---- transports ---- */

/* Serves MCP on in_fd/out_fd (newline-delimited JSON-RPC) until EOF. 0 or -errno. */
int mcp_stdio_run(const struct mcp_server *srv, int in_fd, int out_fd);

struct mcp_http_config {
    const char *tcp_addr; /* NULL: no TCP listener */
    uint16_t tcp_port;
    const char *socket_path; /* NULL: no unix socket */
    const char *token;       /* bearer token; NULL only with insecure_no_auth */
    bool insecure_no_auth;
};

struct mcp_http;
int mcp_http_start(const struct mcp_server *srv, const struct mcp_http_config *cfg,
                   struct mcp_http **ret);
void mcp_http_stop(struct mcp_http *h);
/* True when addr is a loopback address (127.0.0.0/8, ::1). */
bool mcp_addr_is_loopback(const char *addr);
/* True for Host header values naming this machine: localhost, 127.0.0.1, [::1], any port. */
bool mcp_host_allowed(const char *host);
/* True for Origin values http(s)://localhost|127.0.0.1|[::1][:port]. */
bool mcp_origin_allowed(const char *origin);
