/* Where a chunked body ends, found byte by byte without changing it (the proxy forwards the
 * bytes as they are): chunk sizes in hex with optional extensions, the data, the last chunk and
 * the trailer fields. Strict, as the heads are: bare LF, control bytes, oversized sizes or lines
 * and folded trailer lines are errors. */
#include <errno.h>
#include <stdint.h>

#include "http-internal.h"
#include "httpparse.h"

enum {
    CH_SIZE0,         /* the first hex digit of a size */
    CH_SIZE,          /* more hex digits */
    CH_SIZE_WS,       /* whitespace after the size: ';' must follow */
    CH_EXT,           /* chunk extensions, up to CR */
    CH_SIZE_LF,       /* the LF of a size line */
    CH_DATA,          /* left bytes of data */
    CH_DATA_CR,       /* the CRLF after the data */
    CH_DATA_LF,       /* */
    CH_TRAILER0,      /* a trailer field's first byte, or the final CR */
    CH_TRAILER_NAME,  /* a trailer field's name, up to ':' */
    CH_TRAILER_VALUE, /* its value, up to CR */
    CH_TRAILER_LF,    /* the LF of a trailer line */
    CH_END_LF,        /* the final LF */
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool text_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One byte of a size line. */
static int size_byte(struct http_chunked *c, unsigned char b)
{
    int h = hexval(b);

    switch (c->state) {
    case CH_SIZE0:
        if (h < 0)
            return -EINVAL;
        c->left = (uint64_t)h;
        c->state = CH_SIZE;
        return 0;
    case CH_SIZE:
        if (h >= 0) {
            if (c->left > (UINT64_MAX >> 4))
                return -EINVAL;
            c->left = c->left << 4 | (uint64_t)h;
            return 0;
        }
        /* fall through */
    case CH_SIZE_WS:
        if (b == ' ' || b == '\t')
            c->state = CH_SIZE_WS;
        else if (b == ';')
            c->state = CH_EXT;
        else if (b == '\r' && c->state == CH_SIZE)
            c->state = CH_SIZE_LF;
        else
            return -EINVAL;
        return 0;
    case CH_EXT:
        if (b == '\r')
            c->state = CH_SIZE_LF;
        else if (!text_byte(b))
            return -EINVAL;
        return 0;
    default: /* CH_SIZE_LF */
        if (b != '\n')
            return -EINVAL;
        c->state = c->left ? CH_DATA : CH_TRAILER0;
        c->line = 0;
        return 0;
    }
}

/* One byte of the trailer section (its size counted in line, capped like a head). */
static int trailer_byte(struct http_chunked *c, unsigned char b)
{
    switch (c->state) {
    case CH_TRAILER0:
        if (b == '\r')
            c->state = CH_END_LF;
        else if (http_tchar(b))
            c->state = CH_TRAILER_NAME;
        else
            return -EINVAL; /* obs-fold or garbage */
        return 0;
    case CH_TRAILER_NAME:
        if (b == ':')
            c->state = CH_TRAILER_VALUE;
        else if (!http_tchar(b))
            return -EINVAL;
        return 0;
    case CH_TRAILER_VALUE:
        if (b == '\r')
            c->state = CH_TRAILER_LF;
        else if (!text_byte(b))
            return -EINVAL;
        return 0;
    case CH_TRAILER_LF:
        if (b != '\n')
            return -EINVAL;
        c->state = CH_TRAILER0;
        return 0;
    default: /* CH_END_LF */
        if (b != '\n')
            return -EINVAL;
        c->done = true;
        return 0;
    }
}

ssize_t http_chunked_feed(struct http_chunked *c, const char *buf, size_t len)
{
    size_t i = 0;
    int e;

    while (i < len && !c->done) {
        unsigned char b = (unsigned char)buf[i];
        if (c->state == CH_DATA) {
            size_t take = c->left < len - i ? (size_t)c->left : len - i;
            c->left -= take;
            i += take;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        if (c->state == CH_DATA_CR || c->state == CH_DATA_LF) {
            if (b != (c->state == CH_DATA_CR ? '\r' : '\n'))
                return -EINVAL;
            c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE0;
            c->line = 0;
            i++;
            continue;
        }
        if (++c->line > HTTP_HEAD_MAX)
            return -EINVAL; /* a size line or a trailer section longer than a head */
        e = c->state >= CH_TRAILER0 ? trailer_byte(c, b) : size_byte(c, b);
        if (e < 0)
            return e;
        i++;
    }
    return (ssize_t)i;
}
