/* libFuzzer target: osmoda-egress's HTTP parsers on a client's or an upstream's bytes. The first
 * byte picks the parser (request head, response head, chunked body). Beyond not crashing: a
 * complete head is complete only at its end (every shorter prefix needs more bytes or is refused
 * the same way), the head sent upstream is itself a well-formed head, and the chunked decoder
 * finds the same end whatever the pieces the body arrives in. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http-internal.h"
#include "httpparse.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void request(const char *buf, size_t len)
{
    static char out[2 * HTTP_HEAD_MAX];
    struct http_request r;
    ssize_t n = http_parse_request(buf, len, &r), k;
    size_t line1, lines;

    assert(n <= (ssize_t)len && n <= HTTP_HEAD_MAX);
    if (n <= 0)
        return;
    assert(http_parse_request(buf, (size_t)n - 1, &r) == 0);
    assert(http_parse_request(buf, (size_t)n, &r) == n);
    assert(r.n_headers <= HTTP_HEADERS_MAX && r.port != 0 && r.host[0]);
    k = http_forward_head(&r, out, sizeof(out));
    if (r.is_connect) {
        assert(k == -EINVAL);
        return;
    }
    assert(k > 0);
    /* what goes upstream is one complete head, with nothing after it (it may be a little over
     * our own limits: one Host and one Connection line more, a longer Host) */
    lines = 0;
    for (ssize_t i = 0; i + 1 < k; i++)
        lines += out[i] == '\r' && out[i + 1] == '\n';
    if (k > HTTP_HEAD_MAX || lines - 1 > HTTP_HEADERS_MAX + 1)
        assert(http_head_scan(out, (size_t)k, &line1) == -E2BIG);
    else
        assert(http_head_scan(out, (size_t)k, &line1) == k);
}

static void response(const char *buf, size_t len, bool head)
{
    struct http_response r;
    ssize_t n = http_parse_response(buf, len, head, &r);

    assert(n <= (ssize_t)len && n <= HTTP_HEAD_MAX);
    if (n <= 0)
        return;
    assert(http_parse_response(buf, (size_t)n - 1, head, &r) == 0);
    assert(http_parse_response(buf, (size_t)n, head, &r) == n);
    assert(r.status >= 100 && r.status <= 599);
    assert(!(r.chunked && r.content_length >= 0));
    assert(!(r.until_close && (r.no_body || r.keep_alive)));
}

/* The decoder over the whole input, then over pieces whose sizes come from the input. */
static void chunked(const char *buf, size_t len)
{
    struct http_chunked whole = {0}, parts = {0};
    ssize_t a = http_chunked_feed(&whole, buf, len);
    size_t pos = 0, step = 1;
    ssize_t b = 0;

    assert(a <= (ssize_t)len);
    assert(a < 0 || whole.done || (size_t)a == len);
    while (pos < len && !parts.done) {
        size_t n = len - pos < step ? len - pos : step;
        b = http_chunked_feed(&parts, buf + pos, n);
        if (b < 0)
            break;
        pos += (size_t)b;
        step = (step * 7 + (unsigned char)buf[pos % len]) % 23 + 1;
    }
    if (a < 0) {
        assert(b < 0);
        return;
    }
    assert(b >= 0 && pos == (size_t)a && parts.done == whole.done);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;

    if (size < 1)
        return 0;
    /* a copy of exactly the bytes, so ASan sees any read past them */
    buf = malloc(size - 1 ? size - 1 : 1);
    assert(buf);
    memcpy(buf, data + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        request(buf, size - 1);
        break;
    case 1:
        response(buf, size - 1, false);
        break;
    case 2:
        response(buf, size - 1, true);
        break;
    default:
        chunked(buf, size - 1);
    }
    free(buf);
    return 0;
}
