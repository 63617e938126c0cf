/* file_read, file_write, directory_list. Inside the agent workspace (relative paths, /workspace/…
 * as the sandbox sees it, or the workspace's host path) every path is resolved beneath the
 * workspace with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither ".." nor a symlink
 * the sandbox planted can lead out. Outside it the executor's policy has decided, but the state
 * dir (policy, ledger, keys, approvals), the run dir and /run/osmoda are refused here as well. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agentd-tools.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/utf8.h"
#include "sandbox/sandbox.h"
#include "tools/result.h"

#define DIR_LIST_DEPTH_MAX 32 /* directory levels a recursive listing descends */

struct target {
    int dir_fd; /* the directory holding name (workspace-resolved or canonical) */
    char name[NAME_MAX + 1];
    bool in_workspace;
    uid_t owner; /* files created in the workspace belong to its owner */
    gid_t group;
};

static void target_close(struct target *t)
{
    if (t->dir_fd >= 0)
        close(t->dir_fd);
    t->dir_fd = -1;
}

/* openat2 beneath dir; without openat2 (Linux < 5.6), a component walk that refuses symlinks
 * and "..". */
static int open_beneath(int dir, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .mode = mode,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dir, rel, &how, sizeof(how));
    char buf[PATH_MAX], *save, *comp, *next;
    int cur;

    if (fd >= 0 || errno != ENOSYS)
        return fd >= 0 ? (int)fd : -errno;
    if (strlen(rel) >= sizeof(buf))
        return -ENAMETOOLONG;
    snprintf(buf, sizeof(buf), "%s", rel);
    cur = dup(dir);
    for (comp = strtok_r(buf, "/", &save); cur >= 0 && comp; comp = next) {
        int nfd;
        next = strtok_r(NULL, "/", &save);
        if (strcmp(comp, "..") == 0) {
            close(cur);
            return -EXDEV;
        }
        nfd = openat(cur, comp,
                     next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                          : flags | O_NOFOLLOW | O_CLOEXEC,
                     mode);
        close(cur);
        if (nfd < 0)
            return -errno;
        cur = nfd;
    }
    return cur;
}

/* The path relative to the workspace, or NULL when path is outside it. */
static const char *workspace_rel(struct agentd *ad, const char *path)
{
    size_t n;

    if (path[0] != '/')
        return path;
    if (osm_path_is_under(path, OSM_SANDBOX_INSIDE_WORKSPACE)) {
        n = strlen(OSM_SANDBOX_INSIDE_WORKSPACE);
        return path[n] ? path + n + 1 : ".";
    }
    if (agentd_workspace(ad) && osm_path_is_under(path, agentd_workspace(ad))) {
        n = strlen(agentd_workspace(ad));
        while (n > 1 && agentd_workspace(ad)[n - 1] == '/')
            n--;
        return path[n] ? path + n + 1 : ".";
    }
    return NULL;
}

static int split(const char *path, char *dir, size_t dsize, char *name)
{
    const char *slash = strrchr(path, '/');
    size_t dlen;

    if (!slash) {
        snprintf(dir, dsize, ".");
        slash = path - 1;
    } else {
        dlen = (size_t)(slash - path);
        if (dlen >= dsize)
            return -ENAMETOOLONG;
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        if (dlen == 0)
            snprintf(dir, dsize, "/");
    }
    if (strlen(slash + 1) > NAME_MAX)
        return -ENAMETOOLONG;
    snprintf(name, NAME_MAX + 1, "%s", slash + 1);
    return 0;
}

static int fd_path(int fd, char *buf, size_t size)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static int ensure_dir(int ws, const char *prefix, uid_t uid, gid_t gid)
{
    char dir[PATH_MAX], name[NAME_MAX + 1];
    int fd = open_beneath(ws, prefix, O_PATH | O_DIRECTORY, 0), pfd, r;

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (fd != -ENOENT)
        return fd;
    if (split(prefix, dir, sizeof(dir), name) < 0)
        return -ENAMETOOLONG;
    pfd = open_beneath(ws, dir, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0)
        return pfd;
    r = mkdirat(pfd, name, 0755) < 0 && errno != EEXIST ? -errno : 0;
    if (r == 0 && geteuid() == 0)
        (void)fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
    close(pfd);
    return r;
}

/* mkdir -p of rel beneath the workspace, every step resolved beneath it. */
static int mkdirs_beneath(int ws, const char *rel, uid_t uid, gid_t gid)
{
    char buf[PATH_MAX];
    size_t len = strlen(rel);

    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, rel, len + 1);
    for (size_t i = 1; i <= len; i++) {
        char saved = buf[i];
        int r;
        if (saved != '/' && saved != '\0')
            continue;
        buf[i] = '\0';
        r = ensure_dir(ws, buf, uid, gid);
        buf[i] = saved;
        if (r < 0)
            return r;
    }
    return 0;
}

/* Finds the directory of path and its last name, refusing protected places. With create, the
 * missing directories are made. */
static int resolve(struct agentd *ad, const char *path, bool create, struct target *t,
                   const char **ret_error)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *rel;
    int r;

    t->dir_fd = -1;
    if (!path || !*path || strlen(path) >= PATH_MAX || strchr(path, '\n')) {
        *ret_error = "invalid_path";
        return -EINVAL;
    }
    rel = workspace_rel(ad, path);
    if (rel) {
        _cleanup_close_ int ws = open(agentd_workspace(ad), O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (ws < 0 || fstat(ws, &st) < 0) {
            *ret_error = "workspace_unavailable";
            return -errno;
        }
        t->in_workspace = true;
        t->owner = st.st_uid;
        t->group = st.st_gid;
        if ((r = split(rel, dir, sizeof(dir), t->name)) < 0 ||
            (create && strcmp(dir, ".") != 0 &&
             (r = mkdirs_beneath(ws, dir, st.st_uid, st.st_gid)) < 0) ||
            (r = open_beneath(ws, dir, O_PATH | O_DIRECTORY, 0)) < 0) {
            *ret_error = r == -EXDEV || r == -ELOOP ? "path_escapes_workspace"
                         : r == -ENOENT             ? "not_found"
                                                    : "io_error";
            return r;
        }
        t->dir_fd = r;
        return 0;
    }
    if ((r = split(path, dir, sizeof(dir), t->name)) < 0) {
        *ret_error = "invalid_path";
        return r;
    }
    if (agentd_path_protected(ad, path)) {
        *ret_error = "protected_path";
        return -EPERM;
    }
    if (create && osm_mkdir_p(dir, 0755) < 0 && errno != EEXIST) {
        *ret_error = "io_error";
        return -errno;
    }
    t->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t->dir_fd < 0) {
        *ret_error = errno == ENOENT ? "not_found" : "io_error";
        return -errno;
    }
    /* What the directory really is, after symlinks. */
    if ((r = fd_path(t->dir_fd, real, sizeof(real))) < 0 || agentd_path_protected(ad, real)) {
        target_close(t);
        *ret_error = "protected_path";
        return r < 0 ? r : -EPERM;
    }
    return 0;
}

/* Opens the target's file. Outside the workspace a final symlink is followed for reading and
 * the file actually opened is checked again. */
static int open_target(struct agentd *ad, struct target *t, int flags, mode_t mode,
                       const char **ret_error)
{
    char real[PATH_MAX];
    int fd;

    if (t->in_workspace)
        fd = open_beneath(t->dir_fd, t->name[0] ? t->name : ".", flags, mode);
    else
        fd = openat(t->dir_fd, t->name[0] ? t->name : ".",
                    flags | O_CLOEXEC | ((flags & O_ACCMODE) != O_RDONLY ? O_NOFOLLOW : 0), mode);
    if (fd < 0 && !t->in_workspace)
        fd = -errno;
    if (fd < 0) {
        *ret_error = fd == -EXDEV || (fd == -ELOOP && t->in_workspace) ? "path_escapes_workspace"
                     : fd == -ELOOP                                    ? "symlink_refused"
                     : fd == -ENOENT                                   ? "not_found"
                     : fd == -EISDIR                                   ? "is_a_directory"
                                                                       : "io_error";
        return fd;
    }
    if (!t->in_workspace &&
        (fd_path(fd, real, sizeof(real)) < 0 || agentd_path_protected(ad, real))) {
        close(fd);
        *ret_error = "protected_path";
        return -EPERM;
    }
    return fd;
}

static json_t *fail(const char *code, const char *path, int r)
{
    return json_pack("{s:s, s:s, s:s}", "error", code, "path", path ? path : "", "message",
                     strerror(r < 0 ? -r : r));
}

static json_t *file_read(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    json_t *ml = json_object_get(call->args, "maxLines");
    int64_t max_lines = json_is_integer(ml) ? json_integer_value(ml) : OSM_FILE_READ_MAX_LINES;
    struct target t = {.dir_fd = -1};
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    size_t len = 0, cut, lines = 0;
    struct stat st;
    ssize_t n;
    int r;

    if ((r = resolve(AGENTD_OF(call), path, false, &t, ret_error)) < 0)
        return fail(*ret_error ? *ret_error : "io_error", path, r);
    fd = open_target(AGENTD_OF(call), &t, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, ret_error);
    target_close(&t);
    if (fd < 0)
        return fail(*ret_error, path, fd);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *ret_error = S_ISDIR(st.st_mode) ? "is_a_directory" : "not_a_regular_file";
        return fail(*ret_error, path, EINVAL);
    }
    buf = malloc(OSM_FILE_READ_MAX_BYTES + 1);
    if (!buf) {
        *ret_error = "io_error";
        return NULL;
    }
    while (len < OSM_FILE_READ_MAX_BYTES &&
           (n = read(fd, buf + len, OSM_FILE_READ_MAX_BYTES - len)) > 0)
        len += (size_t)n;
    for (cut = 0; cut < len && (int64_t)lines < max_lines; cut++)
        if (buf[cut] == '\n')
            lines++;
    if (cut > 0 && buf[cut - 1] != '\n')
        lines++;
    osm_utf8_scrub(buf, cut);
    return json_pack("{s:s, s:s%, s:I, s:I, s:b, s:b}", "path", path, "content", buf, cut, "lines",
                     (json_int_t)lines, "size", (json_int_t)st.st_size, "truncated",
                     cut < len || len < (size_t)st.st_size, "in_workspace", t.in_workspace);
}

static json_t *file_write(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    json_t *cj = json_object_get(call->args, "content");
    bool append = json_is_true(json_object_get(call->args, "append"));
    struct target t = {.dir_fd = -1};
    const char *content = json_string_value(cj);
    size_t len = json_string_length(cj), done = 0;
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    if (!content) {
        *ret_error = "invalid_arguments";
        return fail(*ret_error, path, EINVAL);
    }
    if (len > OSM_FILE_WRITE_MAX_BYTES) {
        *ret_error = "too_large";
        return fail(*ret_error, path, EFBIG);
    }
    if ((r = resolve(AGENTD_OF(call), path, true, &t, ret_error)) < 0)
        return fail(*ret_error ? *ret_error : "io_error", path, r);
    fd = open_target(AGENTD_OF(call), &t, O_WRONLY | O_CREAT | O_NOCTTY | (append ? O_APPEND : O_TRUNC),
                     0644, ret_error);
    if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        target_close(&t);
        *ret_error = "not_a_regular_file";
        return fail(*ret_error, path, EINVAL);
    }
    if (fd >= 0 && t.in_workspace && geteuid() == 0)
        (void)fchown(fd, t.owner, t.group);
    target_close(&t);
    if (fd < 0)
        return fail(*ret_error, path, fd);
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *ret_error = "io_error";
            return fail(*ret_error, path, errno);
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0) {
        *ret_error = "io_error";
        return fail(*ret_error, path, errno);
    }
    return json_pack("{s:s, s:I, s:b, s:b}", "path", path, "bytes_written", (json_int_t)len,
                     "appended", append, "in_workspace", t.in_workspace);
}

static const char *type_of(mode_t m)
{
    return S_ISDIR(m) ? "directory" : S_ISREG(m) ? "file" : S_ISLNK(m) ? "symlink" : "other";
}

/* Lists dir_fd into list; prefix names entries of subdirectories. Never follows symlinks. */
static int list_dir(int dir_fd, const char *prefix, int depth, bool recursive, json_t *list,
                    size_t *seen)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    while ((e = readdir(d)) && *seen < OSM_DIR_LIST_SCAN_MAX) {
        char name[PATH_MAX];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (snprintf(name, sizeof(name), "%s%s", prefix, e->d_name) >= (int)sizeof(name))
            continue;
        (*seen)++;
        json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "name", name, "type",
                                              type_of(st.st_mode), "size", (json_int_t)st.st_size));
        if (recursive && depth < DIR_LIST_DEPTH_MAX && S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            char sub_prefix[PATH_MAX];
            if (sub < 0)
                continue;
            if (snprintf(sub_prefix, sizeof(sub_prefix), "%s/", name) < (int)sizeof(sub_prefix))
                list_dir(sub, sub_prefix, depth + 1, true, list, seen);
            close(sub);
        }
    }
    closedir(d);
    return 0;
}

static json_t *directory_list(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    bool recursive = json_is_true(json_object_get(call->args, "recursive"));
    json_t *off = json_object_get(call->args, "offset"),
           *lim = json_object_get(call->args, "limit");
    const char *grep = json_string_value(json_object_get(call->args, "grep"));
    struct target t = {.dir_fd = -1};
    _cleanup_close_ int fd = -1;
    json_t *list, *page;
    size_t seen = 0;
    int r;

    if ((r = resolve(AGENTD_OF(call), path, false, &t, ret_error)) < 0)
        return fail(*ret_error ? *ret_error : "io_error", path, r);
    fd = open_target(AGENTD_OF(call), &t, O_RDONLY | O_DIRECTORY, 0, ret_error);
    target_close(&t);
    if (fd < 0)
        return fail(*ret_error, path, fd);
    list = json_array();
    if (!list || list_dir(fd, "", 0, recursive, list, &seen) < 0) {
        json_decref(list);
        *ret_error = "io_error";
        return fail(*ret_error, path, errno);
    }
    page = osm_result_page(list, json_is_integer(off) ? json_integer_value(off) : 0,
                           json_is_integer(lim) ? json_integer_value(lim) : OSM_DIR_LIST_DEFAULT,
                           grep);
    json_decref(list);
    if (page) {
        json_object_set_new(page, "path", json_string(path));
        json_object_set_new(page, "scan_truncated", json_boolean(seen >= OSM_DIR_LIST_SCAN_MAX));
    }
    return page;
}

const struct agentd_handler agentd_file_handlers[] = {
    {"file_read", file_read, NULL, false},
    {"file_write", file_write, NULL, false},
    {"directory_list", directory_list, NULL, false},
};
const size_t agentd_n_file_handlers = ELEMENTSOF(agentd_file_handlers);
