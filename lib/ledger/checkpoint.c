/* Checkpoint bodies and the checkpoint log. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "crypto/encoding.h"

#define ROOT_B64_LEN OSM_BASE64_LEN(OSM_MERKLE_HASH_LEN)
#define SIZE_DIGITS_MAX 19 /* INT64_MAX */

int osm_checkpoint_format(const char *origin, int64_t size,
                          const uint8_t root[static OSM_MERKLE_HASH_LEN], char **ret_body)
{
    char b64[ROOT_B64_LEN + 1];

    if (size < 0 || !osm_note_name_valid(origin, strlen(origin)))
        return -EINVAL;
    osm_base64_encode(root, OSM_MERKLE_HASH_LEN, b64, sizeof(b64));
    if (asprintf(ret_body, "%s\n%lld\n%s\n", origin, (long long)size, b64) < 0)
        return -ENOMEM;
    return 0;
}

/* The line at *pos (without "\n"); advances *pos past it. -EBADMSG if unterminated. */
static int next_line(const char *s, size_t len, size_t *pos, const char **ret, size_t *ret_len)
{
    const char *nl = memchr(s + *pos, '\n', len - *pos);

    if (*pos >= len || !nl)
        return -EBADMSG;
    *ret = s + *pos;
    *ret_len = (size_t)(nl - s) - *pos;
    *pos += *ret_len + 1;
    return 0;
}

/* A canonical decimal tree size: no sign, no leading zeros. */
static int size_parse(const char *p, size_t n, int64_t *ret)
{
    int64_t v = 0;

    if (n == 0 || n > SIZE_DIGITS_MAX || (n > 1 && p[0] == '0'))
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - (p[i] - '0')) / 10)
            return -EBADMSG;
        v = v * 10 + (p[i] - '0');
    }
    *ret = v;
    return 0;
}

int osm_checkpoint_parse(const char *note, size_t len, struct osm_checkpoint *ret)
{
    const char *line;
    size_t pos = 0, n, body_len, root_len;

    if (osm_note_body_len(note, len, &body_len) < 0)
        return -EBADMSG;
    if (next_line(note, body_len, &pos, &line, &n) < 0 || n == 0 || n > OSM_NOTE_NAME_MAX)
        return -EBADMSG;
    memcpy(ret->origin, line, n);
    ret->origin[n] = '\0';
    if (next_line(note, body_len, &pos, &line, &n) < 0 || size_parse(line, n, &ret->size) < 0)
        return -EBADMSG;
    if (next_line(note, body_len, &pos, &line, &n) < 0 ||
        osm_base64_decode(line, n, ret->root, sizeof(ret->root), &root_len) < 0 ||
        root_len != OSM_MERKLE_HASH_LEN)
        return -EBADMSG;
    return 0;
}

static bool is_sig_line(const char *p, size_t n)
{
    size_t plen = sizeof(OSM_NOTE_SIG_PREFIX) - 1;

    return n >= plen && memcmp(p, OSM_NOTE_SIG_PREFIX, plen) == 0;
}

int osm_checkpoint_log_split(const char *data, size_t len,
                             int (*fn)(void *ud, const char *note, size_t len, size_t offset),
                             void *ud)
{
    size_t start = 0, pos = 0;
    bool blank = false, in_sigs = false;

    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) + 1 : len, n = end - pos - (nl ? 1 : 0);
        bool sig = is_sig_line(data + pos, n);

        if (in_sigs && !sig) {
            int r = fn(ud, data + start, pos - start, start);
            if (r < 0)
                return r;
            start = pos;
            blank = in_sigs = false;
        }
        if (n == 0)
            blank = true;
        else if (sig && blank)
            in_sigs = true;
        pos = end;
    }
    return start < len ? fn(ud, data + start, len - start, start) : 0;
}
