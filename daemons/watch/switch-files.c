/* The files generation backend of SafeSwitch: config files replaced atomically, their previous
 * bytes, mode and owner kept in a content-addressed store, restored byte for byte on rollback.
 *
 * Paths are reached only through a directory opened with RESOLVE_NO_SYMLINKS, so a symlink
 * anywhere in a path is refused (at validation and again at every write): the file written is
 * the one that was checked. A file that did not exist is created 0644, owned by watch itself
 * (root in production, never the agent), and removed again by a rollback. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/diff.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "crypto/sha256.h"
#include "fim.h"
#include "svc.h"
#include "switch-internal.h"

#define NEW_FILE_MODE 0644

/* ---- durable writes, shared with the record store ---- */

static int fill_tmp(int fd, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
    int r = osm_write_all(fd, data, len);

    if (r == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    return r;
}

int switch_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                    uid_t uid, gid_t gid)
{
    static atomic_uint counter;
    char tmp[64];
    _cleanup_close_ int fd = -1;
    int r;

    snprintf(tmp, sizeof(tmp), ".osmoda-switch.%d.%u", (int)getpid(),
             atomic_fetch_add(&counter, 1));
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    r = fill_tmp(fd, data, len, mode, uid, gid);
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(dirfd, tmp, 0);
        return r;
    }
    return fsync(dirfd) < 0 ? -errno : 0;
}

int switch_sha256_hex(const void *data, size_t len, char out[static 65])
{
    uint8_t d[OSM_SHA256_LEN];
    int r = osm_sha256(data, len, d);

    if (r < 0)
        return r;
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* ---- paths ---- */

static bool path_normalised(const char *p)
{
    size_t n = strlen(p);

    if (p[0] != '/' || n < 2 || n >= PATH_MAX || p[n - 1] == '/')
        return false;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
        return false;
    return !(n >= 2 && strcmp(p + n - 2, "/.") == 0) && !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

static bool under_dir(const char *path, const char *dir)
{
    char real[PATH_MAX];
    const char *d = realpath(dir, real) ? real : dir;
    size_t n = strlen(d);

    while (n > 1 && d[n - 1] == '/')
        n--;
    if (n == 1 && d[0] == '/')
        return true;
    return strncmp(path, d, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static const char *protected_by(const struct switch_env *env, const char *path)
{
    for (const char *const *d = env->protected_dirs; d && *d; d++)
        if (under_dir(path, *d))
            return *d;
    return NULL;
}

/* The directory of path, opened without following any symlink; *ret_base points into path. */
static int open_parent(const char *path, const char **ret_base)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    long fd;

    if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    fd = syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
    if (fd < 0)
        return -errno;
    *ret_base = slash + 1;
    return (int)fd;
}

/* 1 a regular file, 0 absent, or -errno (-ELOOP a symlink, -EINVAL anything else). */
static int target_kind(int dirfd, const char *base, struct stat *st)
{
    if (fstatat(dirfd, base, st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISLNK(st->st_mode))
        return -ELOOP;
    return S_ISREG(st->st_mode) ? 1 : -EINVAL;
}

static int check_path(const struct switch_env *env, const char *path, char *err, size_t errlen)
{
    _cleanup_close_ int dirfd = -1;
    const char *base, *prot;
    struct stat st;
    int r;

    if (!path_normalised(path))
        return snprintf(err, errlen, "files: \"%s\" is not an absolute, normalised path", path),
               -EINVAL;
    if ((prot = protected_by(env, path)))
        return snprintf(err, errlen, "files: \"%s\" is inside %s, which no switch may change", path,
                        prot),
               -EPERM;
    if ((dirfd = open_parent(path, &base)) < 0)
        return snprintf(err, errlen, "files: the directory of \"%s\": %s%s", path, strerror(-dirfd),
                        dirfd == -ELOOP ? " (symlinks are refused)" : ""),
               dirfd == -ENOENT ? -ENOENT : -EINVAL;
    r = target_kind(dirfd, base, &st);
    if (r == -ELOOP)
        return snprintf(err, errlen, "files: \"%s\" is a symlink (refused)", path), -EINVAL;
    if (r < 0)
        return snprintf(err, errlen, "files: \"%s\" is not a regular file", path), -EINVAL;
    return 0;
}

/* ---- validate ---- */

static int check_restart(const struct switch_env *env, const json_t *restart, char *err,
                         size_t errlen)
{
    size_t i;
    json_t *v;

    if (!restart)
        return 0;
    if (!json_is_array(restart) || json_array_size(restart) > SWITCH_RESTART_MAX)
        return snprintf(err, errlen, "restart: an array of at most %d service names",
                        SWITCH_RESTART_MAX),
               -EINVAL;
    json_array_foreach(restart, i, v)
    {
        json_t *st = NULL;
        int r;

        if (!json_is_string(v) || !svc_name_valid(json_string_value(v)))
            return snprintf(err, errlen, "restart[%zu]: not a valid service name", i), -EINVAL;
        if (!env->svc)
            return snprintf(err, errlen, "restart: no service backend"), -EINVAL;
        r = svc_status(env->svc, json_string_value(v), &st);
        json_decref(st);
        if (r < 0)
            return snprintf(err, errlen, "restart[%zu]: service \"%s\": %s", i,
                            json_string_value(v), r == -ENOENT ? "unknown" : strerror(-r)),
                   -EINVAL;
    }
    return 0;
}

static int unpack_plan(const json_t *plan, json_t **files, json_t **restart, char *err,
                       size_t errlen)
{
    json_error_t e;
    const char *backend = NULL, *desc = NULL;

    *restart = NULL;
    if (json_unpack_ex((json_t *)plan, &e, JSON_STRICT, "{s:s, s:o, s?:o, s?:s}", "backend",
                       &backend, "files", files, "restart", restart, "description", &desc) < 0)
        return snprintf(err, errlen, "plan: %s", e.text), -EINVAL;
    if (!json_is_object(*files) || json_object_size(*files) == 0 ||
        json_object_size(*files) > SWITCH_FILES_MAX)
        return snprintf(err, errlen, "files: an object of 1 to %d paths", SWITCH_FILES_MAX),
               -EINVAL;
    return 0;
}

static int files_validate(const struct switch_env *env, const json_t *plan, char *target,
                          size_t target_len, char *err, size_t errlen)
{
    json_t *files, *restart, *content;
    const char *path;
    size_t off = 0;
    int r;

    if ((r = unpack_plan(plan, &files, &restart, err, errlen)) < 0)
        return r;
    json_object_foreach((json_t *)files, path, content)
    {
        size_t n = strlen(path) + 1;

        if (!json_is_string(content) || json_string_length(content) > SWITCH_FILE_MAX_BYTES)
            return snprintf(err, errlen, "files[\"%s\"]: a string of at most %d bytes", path,
                            SWITCH_FILE_MAX_BYTES),
                   -EINVAL;
        if ((r = check_path(env, path, err, errlen)) < 0)
            return r == -EPERM ? -EPERM : -EINVAL;
        if (target) {
            if (off + n + 1 > target_len)
                return snprintf(err, errlen, "files: too many paths"), -EINVAL;
            memcpy(target + off, path, n);
            off += n;
            target[off] = '\0';
        }
    }
    return check_restart(env, restart, err, errlen);
}

/* ---- prepare: the snapshot ---- */

static int read_current(int dirfd, const char *base, struct stat *st, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int r;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, st) < 0)
        return -errno;
    if (!S_ISREG(st->st_mode))
        return -EINVAL;
    r = osm_read_fd(fd, SWITCH_FILE_MAX_BYTES, ret, ret_len);
    return r < 0 ? r : 1;
}

static int store_put(const char *store_dir, const char *sha, const char *data, size_t len)
{
    _cleanup_close_ int dfd = -1;
    int r;

    if ((r = osm_mkdir_p(store_dir, 0700)) < 0)
        return r;
    dfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    if (faccessat(dfd, sha, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    return switch_write_at(dfd, sha, data, len, 0600, (uid_t)-1, (gid_t)-1);
}

static void count_lines(const char *a, size_t alen, const char *b, size_t blen, json_t *entry)
{
    _cleanup_free_ char *d = NULL;
    bool cut = false;
    json_int_t add = 0, del = 0;
    int line = 0;

    if (memchr(a, 0, alen) || memchr(b, 0, blen)) { /* lines mean nothing in binary data */
        json_object_set_new(entry, "binary", json_true());
        return;
    }
    if (osm_diff_unified(a, alen, b, blen, "a", "b", 2 * (alen + blen) + 65536, &d, &cut) < 0) {
        json_object_set_new(entry, "lines_unknown", json_true());
        return;
    }
    for (const char *p = d; p && *p; line++) {
        const char *nl = strchr(p, '\n');
        if (line >= 2 && *p == '+')
            add++;
        else if (line >= 2 && *p == '-')
            del++;
        p = nl ? nl + 1 : NULL;
    }
    json_object_set_new(entry, "lines_added", json_integer(add));
    json_object_set_new(entry, "lines_removed", json_integer(del));
    if (cut)
        json_object_set_new(entry, "lines_approximate", json_true());
}

static json_t *snapshot_entry(const char *path, int exists, const struct stat *st, const char *sha)
{
    json_t *e = json_pack("{s:s, s:b}", "path", path, "existed", exists > 0);

    if (e && exists > 0) {
        json_object_set_new(e, "sha256", json_string(sha));
        json_object_set_new(e, "size", json_integer((json_int_t)st->st_size));
        json_object_set_new(e, "mode", json_integer(st->st_mode & 07777));
        json_object_set_new(e, "uid", json_integer(st->st_uid));
        json_object_set_new(e, "gid", json_integer(st->st_gid));
    }
    return e;
}

static int snapshot_one(const struct switch_env *env, const char *path, const json_t *content,
                        json_t **ret, char *err, size_t errlen)
{
    _cleanup_close_ int dirfd = -1;
    _cleanup_free_ char *data = NULL;
    const char *base;
    char sha[65] = "", new_sha[65];
    struct stat st;
    size_t len = 0;
    int exists, r;

    if ((dirfd = open_parent(path, &base)) < 0)
        return snprintf(err, errlen, "%s: %s", path, strerror(-dirfd)), dirfd;
    exists = read_current(dirfd, base, &st, &data, &len);
    if (exists < 0)
        return snprintf(err, errlen, "%s: cannot snapshot: %s", path, strerror(-exists)), exists;
    if (exists && ((r = switch_sha256_hex(data, len, sha)) < 0 ||
                   (r = store_put(env->store_dir, sha, data, len)) < 0))
        return snprintf(err, errlen, "%s: cannot store the snapshot: %s", path, strerror(-r)), r;
    if ((r = switch_sha256_hex(json_string_value(content), json_string_length(content), new_sha)) <
        0)
        return r;
    if (!(*ret = snapshot_entry(path, exists, &st, sha)))
        return -ENOMEM;
    json_object_set_new(*ret, "new_sha256", json_string(new_sha));
    count_lines(data ? data : "", len, json_string_value(content), json_string_length(content),
                *ret);
    return 0;
}

static int files_prepare(const struct switch_env *env, const json_t *plan, json_t **ret_record,
                         char *err, size_t errlen)
{
    json_auto_t *rec = json_object(), *list = json_array();
    json_t *files = json_object_get(plan, "files"), *content;
    const char *path;
    int r;

    if (!rec || !list)
        return -ENOMEM;
    json_object_foreach(files, path, content)
    {
        json_t *e = NULL;
        if ((r = snapshot_one(env, path, content, &e, err, errlen)) < 0)
            return r;
        json_array_append_new(list, e);
    }
    json_object_set(rec, "files", list);
    *ret_record = json_incref(rec);
    return 0;
}

/* ---- apply and rollback ---- */

static const json_t *record_entry(const json_t *record, const char *path)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(record, "files"), i,
                       e) if (strcmp(json_string_value(json_object_get(e, "path")) ?: "", path) ==
                              0) return e;
    return NULL;
}

static void owner_of(const json_t *e, mode_t *mode, uid_t *uid, gid_t *gid)
{
    if (e && json_is_true(json_object_get(e, "existed"))) {
        *mode = (mode_t)json_integer_value(json_object_get(e, "mode"));
        *uid = (uid_t)json_integer_value(json_object_get(e, "uid"));
        *gid = (gid_t)json_integer_value(json_object_get(e, "gid"));
    } else {
        *mode = NEW_FILE_MODE;
        *uid = geteuid();
        *gid = getegid();
    }
}

static int write_path(const char *path, const char *data, size_t len, mode_t mode, uid_t uid,
                      gid_t gid)
{
    _cleanup_close_ int dirfd = -1;
    const char *base;
    struct stat st;
    int r;

    if ((dirfd = open_parent(path, &base)) < 0)
        return dirfd;
    if ((r = target_kind(dirfd, base, &st)) < 0)
        return r;
    return switch_write_at(dirfd, base, data, len, mode, uid, gid);
}

static int restart_all(const struct switch_env *env, const json_t *plan, char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    int r, first = 0;

    json_array_foreach(json_object_get(plan, "restart"), i, v)
    {
        r = env->svc ? svc_reload_or_restart(env->svc, json_string_value(v)) : -ENOTCONN;
        if (r < 0 && first == 0) {
            snprintf(err, errlen, "restart %s: %s", json_string_value(v), strerror(-r));
            first = r;
        }
    }
    return first;
}

static int files_apply(const struct switch_env *env, const json_t *plan, json_t *record, char *err,
                       size_t errlen)
{
    json_t *content;
    const char *path;
    int r;

    json_object_foreach(json_object_get(plan, "files"), path, content)
    {
        const json_t *e = record_entry(record, path);
        mode_t mode;
        uid_t uid;
        gid_t gid;

        if (!e)
            return snprintf(err, errlen, "%s: not in the snapshot", path), -EINVAL;
        owner_of(e, &mode, &uid, &gid);
        fim_expect(env->fim, path, json_string_value(json_object_get(e, "new_sha256")));
        r = write_path(path, json_string_value(content), json_string_length(content), mode, uid,
                       gid);
        if (r < 0)
            return snprintf(err, errlen, "%s: %s", path, strerror(-r)), r;
    }
    return restart_all(env, plan, err, errlen);
}

static int store_get(const char *store_dir, const char *sha, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *p = osm_path_join(store_dir, sha);
    _cleanup_close_ int fd = -1;
    char got[65];
    int r;

    if (!p)
        return -ENOMEM;
    if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return -errno;
    if ((r = osm_read_fd(fd, SWITCH_FILE_MAX_BYTES, ret, ret_len)) < 0)
        return r;
    if ((r = switch_sha256_hex(*ret, *ret_len, got)) < 0 || strcmp(got, sha) != 0) {
        free(TAKE_PTR(*ret));
        return r < 0 ? r : -EBADMSG; /* the snapshot was altered: never write it back */
    }
    return 0;
}

/* True when path already holds exactly what e recorded. */
static bool already_restored(const char *path, const json_t *e, mode_t mode, uid_t uid, gid_t gid)
{
    _cleanup_close_ int dirfd = -1;
    _cleanup_free_ char *data = NULL;
    const char *base;
    struct stat st;
    size_t len = 0;
    char sha[65];

    if ((dirfd = open_parent(path, &base)) < 0 || read_current(dirfd, base, &st, &data, &len) != 1)
        return false;
    return (st.st_mode & 07777) == mode && st.st_uid == uid && st.st_gid == gid &&
           switch_sha256_hex(data, len, sha) == 0 &&
           strcmp(sha, json_string_value(json_object_get(e, "sha256"))) == 0;
}

static int remove_path(const char *path)
{
    _cleanup_close_ int dirfd = -1;
    const char *base;
    struct stat st;
    int r;

    if ((dirfd = open_parent(path, &base)) < 0)
        return dirfd == -ENOENT ? 0 : dirfd;
    if ((r = target_kind(dirfd, base, &st)) <= 0)
        return r;
    if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT)
        return -errno;
    return fsync(dirfd) < 0 ? -errno : 0;
}

static int restore_one(const struct switch_env *env, const json_t *e)
{
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *sha = json_string_value(json_object_get(e, "sha256"));
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    int r;

    if (!path)
        return -EINVAL;
    if (!json_is_true(json_object_get(e, "existed"))) {
        fim_expect(env->fim, path, NULL);
        return remove_path(path);
    }
    owner_of(e, &mode, &uid, &gid);
    if (!sha)
        return -EINVAL;
    if (already_restored(path, e, mode, uid, gid))
        return 0;
    if ((r = store_get(env->store_dir, sha, &data, &len)) < 0)
        return r;
    fim_expect(env->fim, path, sha);
    return write_path(path, data, len, mode, uid, gid);
}

static int files_rollback(const struct switch_env *env, const json_t *plan, json_t *record,
                          char *err, size_t errlen)
{
    size_t i;
    json_t *e;
    int r, first = 0;

    /* every file is restored even when one fails: as much of the old state as possible */
    json_array_foreach(json_object_get(record, "files"), i, e)
    {
        if ((r = restore_one(env, e)) < 0 && first == 0) {
            snprintf(err, errlen, "restore %s: %s",
                     json_string_value(json_object_get(e, "path")) ?: "?",
                     r == -EBADMSG ? "the snapshot does not match its hash" : strerror(-r));
            first = r;
        }
    }
    r = restart_all(env, plan, first ? NULL : err, first ? 0 : errlen);
    return first ? first : r;
}

static json_t *files_summary(const json_t *plan, const json_t *record)
{
    json_t *files = json_array(), *restart, *e;
    size_t i;

    json_array_foreach(json_object_get(record, "files"), i, e)
    {
        json_t *s = json_pack("{s:O, s:O, s:O, s:b}", "path", json_object_get(e, "path"),
                              "old_sha256", json_object_get(e, "sha256") ?: json_null(),
                              "new_sha256", json_object_get(e, "new_sha256") ?: json_null(),
                              "created", !json_is_true(json_object_get(e, "existed")));
        const char *keys[] = {"lines_added", "lines_removed", "lines_approximate", "binary"};
        for (size_t k = 0; s && k < ELEMENTSOF(keys); k++)
            if (json_object_get(e, keys[k]))
                json_object_set(s, keys[k], json_object_get(e, keys[k]));
        json_array_append_new(files, s);
    }
    restart = json_object_get(plan, "restart");
    return json_pack("{s:o, s:o}", "files", files, "restart",
                     restart ? json_incref(restart) : json_array());
}

const struct switch_backend switch_backend_files = {
    .name = "files",
    .validate = files_validate,
    .prepare = files_prepare,
    .apply = files_apply,
    .rollback = files_rollback,
    .summary = files_summary,
};
