/* The file integrity baseline on disk and the state of one file: content digest, mode, owner. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "fim-internal.h"

#define HEX_LEN (2 * OSM_SHA256_LEN)

static int hash_fd(int fd, char hex[static HEX_LEN + 1])
{
    _cleanup_free_ uint8_t *buf = malloc(FIM_HASH_CHUNK);
    struct osm_sha256 h = {0};
    uint8_t d[OSM_SHA256_LEN];
    ssize_t n;

    if (!buf || osm_sha256_init(&h) < 0)
        return -ENOMEM;
    while ((n = read(fd, buf, FIM_HASH_CHUNK)) > 0)
        osm_sha256_update(&h, buf, (size_t)n);
    osm_sha256_final(&h, d);
    osm_sha256_done(&h);
    if (n < 0)
        return -errno;
    osm_hex_encode(d, sizeof(d), hex);
    return 0;
}

static int hash_link(const char *path, char hex[static HEX_LEN + 1])
{
    char target[PATH_MAX + 8] = "symlink:";
    uint8_t d[OSM_SHA256_LEN];
    ssize_t n = readlink(path, target + 8, PATH_MAX - 1);

    if (n < 0)
        return -errno;
    if (osm_sha256(target, 8 + (size_t)n, d) < 0)
        return -ENOMEM;
    osm_hex_encode(d, sizeof(d), hex);
    return 0;
}

json_t *fim_state(const char *path)
{
    char hex[HEX_LEN + 1];
    struct stat st;
    int r;

    if (lstat(path, &st) < 0)
        return NULL;
    if (S_ISLNK(st.st_mode))
        r = hash_link(path, hex);
    else if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        r = fd < 0 ? -errno : hash_fd(fd, hex);
    } else
        return NULL;
    if (r < 0)
        return NULL;
    return json_pack("{s:s, s:i, s:i, s:i}", "sha256", hex, "mode", (int)(st.st_mode & 07777),
                     "uid", (int)st.st_uid, "gid", (int)st.st_gid);
}

bool fim_state_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    return json_equal((json_t *)a, (json_t *)b);
}

static void scan_dir(const char *dir, json_t *into, size_t *budget, bool *truncated)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            scan_dir(path, into, budget, truncated);
            continue;
        }
        if (*budget == 0) {
            *truncated = true;
            break;
        }
        json_t *s = fim_state(path);
        if (s) {
            json_object_set_new(into, path, s);
            (*budget)--;
        }
    }
    closedir(d);
}

void fim_scan_root(const char *root, json_t *into, size_t *budget, bool *truncated)
{
    struct stat st;
    json_t *s;

    if (lstat(root, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        scan_dir(root, into, budget, truncated);
        return;
    }
    if (*budget == 0) {
        *truncated = true;
        return;
    }
    if ((s = fim_state(root))) {
        json_object_set_new(into, root, s);
        (*budget)--;
    }
}

/* ---- the file --------------------------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

/* Decodes the escaped path of [s, end) into a new string; NULL when malformed. */
static char *unescape(const char *s, const char *end)
{
    char *out = malloc((size_t)(end - s) + 1), *o = out;

    if (!out)
        return NULL;
    for (; s < end; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        if (end - s >= 3 && strncmp(s, "%25", 3) == 0)
            *o++ = '%';
        else if (end - s >= 3 && strncmp(s, "%0A", 3) == 0)
            *o++ = '\n';
        else {
            free(out);
            return NULL;
        }
        s += 2;
    }
    *o = '\0';
    return out;
}

/* One line [s, end) into b; false when malformed. */
static bool parse_line(const char *s, const char *end, json_t *b)
{
    char hex[HEX_LEN + 1], *p;
    unsigned long mode, uid, gid;
    _cleanup_free_ char *path = NULL;
    char head[128];
    size_t hl;
    int used = 0;

    hl = (size_t)(end - s) < sizeof(head) - 1 ? (size_t)(end - s) : sizeof(head) - 1;
    memcpy(head, s, hl);
    head[hl] = '\0';
    if (hl < HEX_LEN + 1 || !is_hex(head, HEX_LEN) || head[HEX_LEN] != ' ')
        return false;
    memcpy(hex, head, HEX_LEN);
    hex[HEX_LEN] = '\0';
    if (sscanf(head + HEX_LEN + 1, "%lo %lu %lu %n", &mode, &uid, &gid, &used) != 3 || used == 0 ||
        mode > 07777 || uid > INT32_MAX || gid > INT32_MAX)
        return false;
    p = head + HEX_LEN + 1 + used;
    if (p[-1] != ' ' || (size_t)(p - head) >= hl)
        return false;
    path = unescape(s + (p - head), end);
    if (!path || path[0] != '/')
        return false;
    return json_object_set_new(b, path,
                               json_pack("{s:s, s:i, s:i, s:i}", "sha256", hex, "mode", (int)mode,
                                         "uid", (int)uid, "gid", (int)gid)) == 0;
}

json_t *fim_baseline_parse(const char *text, size_t len)
{
    json_t *b = json_object();
    const char *s = text, *end = text + len;

    while (b && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl || memchr(s, '\0', (size_t)(nl - s)) || !parse_line(s, nl, b)) {
            json_decref(b);
            return NULL;
        }
        s = nl + 1;
    }
    return b;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* path with '%' and '\n' escaped, appended to f. */
static void put_path(FILE *f, const char *path)
{
    for (const char *c = path; *c; c++)
        if (*c == '%')
            fputs("%25", f);
        else if (*c == '\n')
            fputs("%0A", f);
        else
            fputc(*c, f);
}

char *fim_baseline_format(const json_t *baseline)
{
    size_t n = json_object_size(baseline), i = 0, len = 0;
    _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(char *));
    char *text = NULL;
    const char *k;
    json_t *v;
    FILE *f;

    if (!keys || !(f = open_memstream(&text, &len)))
        return NULL;
    json_object_foreach((json_t *)baseline, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++) {
        v = json_object_get(baseline, keys[i]);
        fprintf(f, "%s %o %d %d ", json_string_value(json_object_get(v, "sha256")),
                (unsigned)json_integer_value(json_object_get(v, "mode")),
                (int)json_integer_value(json_object_get(v, "uid")),
                (int)json_integer_value(json_object_get(v, "gid")));
        put_path(f, keys[i]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
