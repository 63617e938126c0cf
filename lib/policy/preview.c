/* The preview of a held host write (contract in preview.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diff.h"
#include "common/macro.h"
#include "common/utf8.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "preview.h"

#define ESCAPE_MAX 12 /* bytes one character can become ("\u202e") */

/* ---- escaping --------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 character at s (at most n bytes) and its code point; 0 when
 * the bytes are not one. */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned *ret_cp)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    unsigned cp = len == 1 ? s[0] : len == 2 ? s[0] & 0x1fu : len == 3 ? s[0] & 0x0fu : s[0] & 7u;

    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    *ret_cp = cp;
    return len;
}

/* Characters that would act on the terminal or reorder the text around them. */
static bool shown_escaped(unsigned cp)
{
    return (cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* One line (without its '\n') escaped into out (room for OSM_PREVIEW_LINE_MAX * ESCAPE_MAX +
 * 32 bytes); returns the bytes written. */
static size_t escape_line(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len && i < OSM_PREVIEW_LINE_MAX) {
        unsigned cp = 0;
        size_t n = utf8_char((const unsigned char *)s + i, len - i, &cp);
        if (n == 0)
            o += (size_t)sprintf(out + o, "\\x%02x", (unsigned char)s[i]), n = 1;
        else if (shown_escaped(cp))
            o += (size_t)sprintf(out + o, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
        else
            memcpy(out + o, s + i, n), o += n;
        i += n;
    }
    if (i < len)
        o += (size_t)sprintf(out + o, "…[+%zu bytes]", len - i);
    return o;
}

char *osm_preview_escape(const char *s, size_t len, size_t max, bool *ret_truncated)
{
    _cleanup_free_ char *line = malloc(OSM_PREVIEW_LINE_MAX * ESCAPE_MAX + 64);
    char *out = calloc(1, max + 1);
    size_t o = 0;

    *ret_truncated = false;
    if (!out || !line) {
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t n = escape_line(s + i, end - i, line);
        if (o + n + (nl ? 1 : 0) > max) {
            *ret_truncated = true;
            break;
        }
        memcpy(out + o, line, n);
        o += n;
        if (nl)
            out[o++] = '\n';
        i = nl ? end + 1 : len;
    }
    out[o] = '\0';
    return out;
}

/* ---- building --------------------------------------------------------------------------- */

/* Reads up to max + 1 bytes of fd from its start. */
static int read_current(int fd, size_t max, char **ret, size_t *ret_len)
{
    char *buf = malloc(max + 1);
    size_t len = 0;

    if (!buf)
        return -ENOMEM;
    while (len < max + 1) {
        ssize_t n = pread(fd, buf + len, max + 1 - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

static void sha256_hex(const char *s, size_t len, char out[static 2 * OSM_SHA256_LEN + 1])
{
    uint8_t h[OSM_SHA256_LEN];

    if (osm_sha256(s, len, h) < 0)
        snprintf(out, 2 * OSM_SHA256_LEN + 1, "unavailable");
    else
        osm_hex_encode(h, sizeof(h), out);
}

/* The first lines of text as shown; sets truncated when some are left out. */
static int set_head(json_t *o, const char *text, size_t len, bool *truncated)
{
    size_t cut = 0, lines = 0;
    bool cut_short;
    char *head;

    while (cut < len && lines < OSM_PREVIEW_HEAD_LINES) {
        const char *nl = memchr(text + cut, '\n', len - cut);
        cut = nl ? (size_t)(nl - text) + 1 : len;
        lines++;
    }
    head = osm_preview_escape(text, cut, OSM_PREVIEW_HEAD_MAX, &cut_short);
    if (!head)
        return -ENOMEM;
    *truncated |= cut_short || cut < len;
    json_object_set_new(o, "head", json_string(head));
    free(head);
    return 0;
}

static int set_diff(json_t *o, const struct osm_preview_input *in, const char *old, size_t old_len,
                    bool *truncated)
{
    _cleanup_free_ char *joined = NULL, *raw = NULL, *label = NULL, *shown = NULL;
    const char *text = in->content;
    size_t text_len = in->len;
    bool raw_cut = false, shown_cut = false;
    int r;

    if (in->append) {
        joined = malloc(old_len + in->len + 1);
        if (!joined)
            return -ENOMEM;
        memcpy(joined, old, old_len);
        memcpy(joined + old_len, in->content, in->len);
        text = joined;
        text_len = old_len + in->len;
    }
    if (asprintf(&label, "%s (proposed)", in->target) < 0)
        return -ENOMEM;
    r = osm_diff_unified(old, old_len, text, text_len, in->target, label, OSM_PREVIEW_RAW_DIFF_MAX,
                         &raw, &raw_cut);
    if (r == -E2BIG) { /* too many lines to compare: show the head instead */
        json_object_set_new(o, "summary", json_string("too many lines for a diff"));
        return set_head(o, in->content, in->len, truncated);
    }
    if (r < 0)
        return r;
    shown = osm_preview_escape(raw, strlen(raw), OSM_PREVIEW_DIFF_MAX, &shown_cut);
    if (!shown)
        return -ENOMEM;
    *truncated |= raw_cut || shown_cut;
    json_object_set_new(o, "diff", json_string(shown));
    json_object_set_new(o, "identical", json_boolean(!raw[0]));
    return 0;
}

static int set_summary(json_t *o, const struct osm_preview_input *in, const char *old,
                       size_t old_len, bool old_whole, bool *truncated)
{
    char new_hex[2 * OSM_SHA256_LEN + 1], old_hex[2 * OSM_SHA256_LEN + 1];
    char text[512];

    sha256_hex(in->content, in->len, new_hex);
    if (in->fd >= 0 && old_whole) {
        sha256_hex(old, old_len, old_hex);
        snprintf(text, sizeof(text),
                 "%s %zu bytes (sha256 %s) to the current %zu bytes (sha256 %s)",
                 in->append ? "appends" : "writes", in->len, new_hex, old_len, old_hex);
    } else if (in->fd >= 0) {
        snprintf(text, sizeof(text),
                 "%s %zu bytes (sha256 %s); the current file of %lld bytes is too large to compare",
                 in->append ? "appends" : "writes", in->len, new_hex, (long long)in->st.st_size);
    } else {
        snprintf(text, sizeof(text), "creates %zu bytes (sha256 %s)", in->len, new_hex);
    }
    json_object_set_new(o, "summary", json_string(text));
    if (osm_utf8_valid(in->content, in->len))
        return set_head(o, in->content, in->len, truncated);
    return 0;
}

void osm_preview_target_hash(const char *path, char ret[static 65])
{
    sha256_hex(path, strlen(path), ret);
}

/* A path as shown: escaped, on one line. New reference. */
static json_t *shown_path(const char *path)
{
    bool cut;
    char *esc = osm_preview_escape(path, strlen(path), 4 * PATH_MAX, &cut);
    json_t *s;

    if (!esc)
        return NULL;
    for (char *c = esc; *c; c++)
        if (*c == '\n')
            *c = '?'; /* escaped text has no other newline: a path shows as one line */
    s = json_string(esc);
    free(esc);
    return s;
}

/* {"target", "target_sha256"}. New reference. */
static json_t *target_json(const char *target)
{
    char hash[2 * OSM_SHA256_LEN + 1];

    osm_preview_target_hash(target, hash);
    return json_pack("{s:o, s:s}", "target", shown_path(target), "target_sha256", hash);
}

static json_t *header(const struct osm_preview_input *in)
{
    bool exists = in->fd >= 0;
    mode_t mode = exists ? in->st.st_mode & 07777 : in->mode & 07777;
    char mode_text[16];
    json_t *o, *dirs;

    snprintf(mode_text, sizeof(mode_text), "%04o", (unsigned)mode);
    o = target_json(in->target);
    if (o && json_object_update_new(
                 o, json_pack("{s:s, s:I, s:I, s:s, s:I}", "action",
                              !exists      ? "create"
                              : in->append ? "append"
                                           : "replace",
                              "uid", (json_int_t)(exists ? in->st.st_uid : in->uid), "gid",
                              (json_int_t)(exists ? in->st.st_gid : in->gid), "mode", mode_text,
                              "size_after",
                              (json_int_t)((exists && in->append ? (size_t)in->st.st_size : 0) +
                                           in->len))) < 0) {
        json_decref(o);
        return NULL;
    }
    if (o && exists)
        json_object_set_new(o, "size_before", json_integer((json_int_t)in->st.st_size));
    if (o && in->n_create_dirs) {
        dirs = json_array();
        for (size_t i = 0; dirs && i < in->n_create_dirs; i++)
            json_array_append_new(dirs, shown_path(in->create_dirs[i]));
        json_object_set_new(o, "create_dirs", dirs);
    }
    return o;
}

int osm_preview_build(const struct osm_preview_input *in, json_t **ret)
{
    _cleanup_free_ char *old = NULL;
    size_t old_len = 0;
    bool truncated = false, whole, binary;
    json_t *o;
    int r;

    if (in->fd >= 0 && !S_ISREG(in->st.st_mode)) {
        *ret = target_json(in->target);
        if (*ret)
            json_object_set_new(*ret, "error", json_string("not_a_regular_file"));
        return *ret ? 0 : -ENOMEM;
    }
    if (in->fd >= 0 && (r = read_current(in->fd, OSM_PREVIEW_OLD_MAX, &old, &old_len)) < 0)
        return r;
    whole = old_len <= OSM_PREVIEW_OLD_MAX;
    binary = !osm_utf8_valid(in->content, in->len) || (old && !osm_utf8_valid(old, old_len));
    o = header(in);
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "binary", json_boolean(binary));
    if (binary || !whole)
        r = set_summary(o, in, old, old_len, whole, &truncated);
    else if (in->fd >= 0)
        r = set_diff(o, in, old ? old : "", old_len, &truncated);
    else
        r = set_head(o, in->content, in->len, &truncated);
    json_object_set_new(o, "truncated", json_boolean(truncated));
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *ret = o;
    return 0;
}
