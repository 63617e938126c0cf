/* HTTP/1.x heads as a proxy meets them: the request line and headers of a client (untrusted),
 * the response head of an upstream (for plain-HTTP keep-alive: where the body ends), and the
 * chunked body decoder. Pure, no allocation: everything points into the caller's buffer.
 * Fuzzed (tests/fuzz/fuzz-egress-http.c).
 *
 * Strict where leniency has been exploited (request smuggling, header injection): a bare LF,
 * a NUL or other control byte, whitespace before a colon, obs-fold continuation lines, both
 * Content-Length and Transfer-Encoding, differing Content-Length values, a Transfer-Encoding
 * other than "chunked" last, and an absolute target whose host disagrees with the Host header
 * are errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_HEAD_MAX 16384 /* bytes of one head, request or response */
#define HTTP_HEADERS_MAX 64
#define HTTP_METHOD_MAX 16

struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding whitespace */
    size_t value_len;
};

struct http_request {
    char method[HTTP_METHOD_MAX + 1];
    bool is_connect;
    int minor; /* HTTP/1.minor: 0 or 1 */
    /* CONNECT host:port, or the absolute-form target http://host[:port]/path?query. An
     * origin-form target ("/x") is refused: a proxy is asked with the absolute form. */
    char host[254];   /* as written (normalise with acl_host_normalize) */
    uint16_t port;    /* CONNECT's port; 80 when an http:// target has none */
    const char *path; /* origin-form to send upstream ("/" when the target had none) */
    size_t path_len;
    struct http_header headers[HTTP_HEADERS_MAX];
    size_t n_headers;
    int64_t content_length; /* -1: none */
    bool chunked;
    bool keep_alive; /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
    bool expect_continue;
};

/* Parses the request head at buf. Returns its length (through the blank line) when complete,
 * 0 when more bytes are needed (and len < HTTP_HEAD_MAX), or: -E2BIG head over HTTP_HEAD_MAX
 * or over HTTP_HEADERS_MAX headers (431), -EINVAL malformed (400), -EPROTONOSUPPORT a scheme
 * other than http:// or a version other than HTTP/1.0 and 1.1 (505 / 400), -ENOTSUP an
 * origin-form target or a method a proxy does not forward (e.g. PRI; 400). */
ssize_t http_parse_request(const char *buf, size_t len, struct http_request *ret);

struct http_response {
    int status;
    int minor;
    struct http_header headers[HTTP_HEADERS_MAX];
    size_t n_headers;
    int64_t content_length; /* -1: none */
    bool chunked;
    bool keep_alive;
    bool no_body;     /* 1xx, 204, 304, or the answer to HEAD */
    bool until_close; /* the body ends when the upstream closes */
};

/* Parses an upstream's response head; head_request: the request was HEAD. Same returns as
 * http_parse_request (-EINVAL for anything malformed: the connection is then closed). */
ssize_t http_parse_response(const char *buf, size_t len, bool head_request,
                            struct http_response *ret);

/* Finds the end of a chunked body in a byte stream without changing it (the proxy forwards
 * the bytes as they are). */
struct http_chunked {
    int state; /* internal */
    uint64_t left;
    size_t line; /* bytes of the current size or trailer line */
    bool done;
};
/* Consumes up to len bytes; returns how many belong to the body (done set when it ended;
 * bytes after that belong to the next message), or -EINVAL for a malformed body. */
ssize_t http_chunked_feed(struct http_chunked *c, const char *buf, size_t len);

/* The request head as sent upstream: "METHOD path HTTP/1.1", the headers without the hop-by-hop
 * ones (Connection and those it names, Proxy-Connection, Proxy-Authorization, Keep-Alive, TE,
 * Trailer, Upgrade), Host set to the target's authority. Returns the length written or -E2BIG
 * when out is too small. */
ssize_t http_forward_head(const struct http_request *r, char *out, size_t cap);

/* Case-insensitive header lookup: the first value or NULL (*ret_len set). */
const char *http_header_get(const struct http_header *h, size_t n, const char *name,
                            size_t *ret_len);
