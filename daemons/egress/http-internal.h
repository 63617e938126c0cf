/* What the HTTP head parsers share between their files (httpparse.c, http-request.c,
 * http-forward.c): the scan for the end of a head, the lines, the framing headers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "httpparse.h"

/* What the framing headers say: Content-Length (-1 none), Transfer-Encoding ending in chunked,
 * and the Connection options. */
struct http_framing {
    int64_t content_length;
    bool te, chunked;
    bool close, keep_alive;
};

/* The head's length through the blank line, 0 when more bytes are needed, or -errno for a
 * control byte, a CR without LF, a bare LF or too many lines. ret_line1: the first line's length
 * once its CRLF arrived, SIZE_MAX before. */
ssize_t http_head_scan(const char *buf, size_t len, size_t *ret_line1);
/* "HTTP/1.0" / "HTTP/1.1" (n bytes at v): 0; another HTTP/d.d -EPROTONOSUPPORT; else -EINVAL. */
int http_parse_version(const char *v, size_t n, int *ret_minor);
/* The header lines of buf[from, end) (end: the head's length, blank line included). */
int http_parse_header_lines(const char *buf, size_t from, size_t end, struct http_header *hs,
                            size_t *ret_n);
/* Content-Length, Transfer-Encoding and Connection, refusing ambiguous framing. */
int http_framing_parse(const struct http_header *hs, size_t n, struct http_framing *f);
/* RFC 9110 token characters. */
bool http_tchar(unsigned char c);
/* The next element of a comma-separated list in [*p, end), whitespace trimmed; false at the end. */
bool http_list_next(const char **p, const char *end, const char **ret_item, size_t *ret_len);
