/* The records of SafeSwitch sessions: <data_dir>/switches/<id>.json, each written durably (temp,
 * fsync, rename, fsync of the directory) before the step it describes is taken. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "ipc/json_util.h"
#include "switch-internal.h"

int switch_store_save(const char *dir, const struct switch_session *s)
{
    json_auto_t *j = switch_session_json(s, true);
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int dfd = -1;
    char name[SWITCH_ID_LEN + 6];

    if (!j || !(text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)))
        return -ENOMEM;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    snprintf(name, sizeof(name), "%s.json", s->id);
    return switch_write_at(dfd, name, text, strlen(text), 0600, (uid_t)-1, (gid_t)-1);
}

int switch_store_remove(const char *dir, const char *id)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char name[SWITCH_ID_LEN + 6];

    if (dfd < 0)
        return -errno;
    snprintf(name, sizeof(name), "%s.json", id);
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return -errno;
    return fsync(dfd) < 0 ? -errno : 0;
}

static bool record_name(const char *n)
{
    size_t len = strlen(n);

    return len == SWITCH_ID_LEN + 5 && strcmp(n + SWITCH_ID_LEN, ".json") == 0 &&
           strspn(n, "0123456789abcdef-") == SWITCH_ID_LEN;
}

static int load_one(const char *dir, const char *name, struct switch_session **ret)
{
    _cleanup_free_ char *path = osm_path_join(dir, name), *data = NULL;
    json_auto_t *j = NULL;
    char err[128];
    size_t len;
    int r;

    if (!path)
        return -ENOMEM;
    if ((r = osm_read_file(path, SWITCH_RECORD_MAX_BYTES, &data, &len)) < 0)
        return r;
    if (!(j = osm_json_parse(data, len, err, sizeof(err))))
        return -EINVAL;
    return switch_session_from_json(j, ret);
}

static int by_start(const void *a, const void *b)
{
    const struct switch_session *x = *(struct switch_session *const *)a;
    const struct switch_session *y = *(struct switch_session *const *)b;

    return x->started_ms < y->started_ms ? -1 : x->started_ms > y->started_ms;
}

static int collect(const char *dir, struct switch_session ***ret, size_t *ret_n)
{
    DIR *d = opendir(dir);
    struct switch_session **v = NULL, *s;
    size_t n = 0, cap = 0;
    struct dirent *de;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        int r;
        if (!record_name(de->d_name))
            continue;
        if ((r = load_one(dir, de->d_name, &s)) < 0) {
            log_warn("switch.load", "record=%s error=%d reason=\"%s\" note=skipped", de->d_name, r,
                     strerror(-r));
            continue;
        }
        if (n == cap) {
            struct switch_session **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (!nv) {
                switch_session_free(s);
                break;
            }
            v = nv;
        }
        v[n++] = s;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), by_start);
    *ret = v;
    *ret_n = n;
    return 0;
}

int switch_store_load(const char *dir, int (*fn)(void *ctx, struct switch_session *s), void *ctx)
{
    struct switch_session **v = NULL;
    size_t n = 0, first;
    int r = collect(dir, &v, &n);

    if (r < 0)
        return r;
    /* the oldest finished records past the cap stay on disk but are not loaded */
    first = n > SWITCH_RECORDS_MAX ? n - SWITCH_RECORDS_MAX : 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = i >= first || v[i]->phase < SWITCH_COMMITTED;
        if (keep && r == 0)
            r = fn(ctx, v[i]);
        else
            switch_session_free(v[i]);
    }
    free(v);
    return r;
}
