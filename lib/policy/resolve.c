/* Path resolution with openat2 and acting through the resolved fds (contract in resolve.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "resolve.h"

#define COMPONENTS_MAX (PATH_MAX / 2)
#define EAGAIN_RETRIES 4 /* openat2 answers EAGAIN when a rename raced a `..` walk */

/* One pass over a path: its components, and what the walk found. */
struct walk {
    char buf[PATH_MAX];
    char *comp[COMPONENTS_MAX];
    size_t n;
    bool absolute;
};

void osm_resolved_init(struct osm_resolved *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->dir_fd = -1;
}

void osm_resolved_clear(struct osm_resolved *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->dir_fd >= 0)
        close(r->dir_fd);
    r->fd = -1;
    r->dir_fd = -1;
}

static int open_how(int dir_fd, const char *path, uint64_t oflags, uint64_t resolve)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC | oflags, .resolve = resolve};

    for (int i = 0; i < EAGAIN_RETRIES; i++) {
        long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != EAGAIN)
            return -errno;
    }
    return -EAGAIN;
}

/* The kernel's name for fd: absolute, or -EINVAL (unreachable, not a path). */
static int fd_path(int fd, char *buf, size_t size)
{
    char link[32];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, size - 1);
    if (n < 0)
        return -errno;
    if ((size_t)n >= size - 1)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return buf[0] == '/' ? 0 : -EINVAL;
}

static int split(const char *path, struct walk *w)
{
    char *save = NULL;

    if (strlen(path) >= sizeof(w->buf))
        return -ENAMETOOLONG;
    strcpy(w->buf, path);
    w->absolute = path[0] == '/';
    w->n = 0;
    for (char *c = strtok_r(w->buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (w->n == COMPONENTS_MAX)
            return -ENAMETOOLONG;
        w->comp[w->n++] = c;
    }
    return 0;
}

/* Components [from, to) as a path; with lead, "/" first for an absolute one ("." for none). */
static int join(const struct walk *w, size_t from, size_t to, bool lead, char *out, size_t size)
{
    size_t len = 0;

    out[0] = '\0';
    if (lead && w->absolute)
        out[len++] = '/';
    for (size_t i = from; i < to; i++) {
        int n = snprintf(out + len, size - len, "%s%s", len && out[len - 1] != '/' ? "/" : "",
                         w->comp[i]);
        if (n < 0 || (size_t)n >= size - len)
            return -ENAMETOOLONG;
        len += (size_t)n;
    }
    if (len == 0)
        snprintf(out, size, ".");
    return 0;
}

/* Removes "." and cancels ".." against a missing name before it; true when it changed
 * anything (the rest must then be walked again). Leading ".." stay for the kernel. */
static bool normalise_missing(struct walk *w, size_t from)
{
    size_t out = from, kept_dotdot = from;
    bool changed = false;

    for (size_t i = from; i < w->n; i++) {
        const char *c = w->comp[i];
        if (strcmp(c, ".") == 0) {
            changed = true;
        } else if (strcmp(c, "..") == 0) {
            changed = true;
            if (out > kept_dotdot)
                out--;
            else
                w->comp[out++] = w->comp[i], kept_dotdot = out;
        } else {
            w->comp[out++] = w->comp[i];
        }
    }
    w->n = out;
    return changed;
}

/* Fills ret for an existing target fd (taken). -EAGAIN when its parent changed meanwhile. */
static int fill_existing(int fd, struct osm_resolved *ret)
{
    char parent[PATH_MAX];
    struct stat chk;
    char *slash;
    int r;

    ret->fd = fd;
    if (fstat(fd, &ret->st) < 0)
        return -errno;
    if ((r = fd_path(fd, ret->path, sizeof(ret->path))) < 0)
        return r;
    if (ret->st.st_nlink == 0 && !S_ISDIR(ret->st.st_mode))
        return -ENOENT; /* unlinked meanwhile */
    snprintf(parent, sizeof(parent), "%s", ret->path);
    slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    r = open_how(AT_FDCWD, parent, O_DIRECTORY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (r < 0)
        return r == -ELOOP || r == -ENOENT ? -EAGAIN : r;
    ret->dir_fd = r;
    if (fstat(ret->dir_fd, &ret->dir_st) < 0)
        return -errno;
    if (strcmp(ret->path, "/") == 0)
        return 0;
    if (fstatat(ret->dir_fd, strrchr(ret->path, '/') + 1, &chk, AT_SYMLINK_NOFOLLOW) < 0 ||
        chk.st_dev != ret->st.st_dev || chk.st_ino != ret->st.st_ino)
        return -EAGAIN;
    return 0;
}

/* Fills ret for a target missing below dir_fd (taken), names w->comp[from..]. */
static int fill_missing(int dir_fd, struct walk *w, size_t from, struct osm_resolved *ret)
{
    char base[PATH_MAX];
    struct stat st;
    size_t len;
    int r;

    ret->dir_fd = dir_fd;
    if (fstat(dir_fd, &ret->dir_st) < 0)
        return -errno;
    if (fstatat(dir_fd, w->comp[from], &st, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISLNK(st.st_mode) ? -ELOOP : -EAGAIN; /* a dangling symlink, or a race */
    if (errno != ENOENT)
        return -errno;
    if ((r = fd_path(dir_fd, base, sizeof(base))) < 0)
        return r;
    if ((r = join(w, from, w->n, false, ret->missing, sizeof(ret->missing))) < 0)
        return r;
    ret->n_missing = w->n - from;
    len = strlen(base);
    if ((size_t)snprintf(ret->path, sizeof(ret->path), "%s%s%s", base,
                         len > 1 && base[len - 1] != '/' ? "/" : (len == 1 ? "" : "/"),
                         ret->missing) >= sizeof(ret->path))
        return -ENAMETOOLONG;
    return 0;
}

/* One walk of path. *next gets the path to walk again (and 1 is returned) when the missing
 * part held `.` or `..`, or a race was seen. */
static int resolve_pass(int dir_fd, const char *path, uint64_t resolve, struct osm_resolved *ret,
                        char *next, size_t next_size)
{
    struct walk w;
    char prefix[PATH_MAX];
    size_t k;
    int fd = -ENOENT, r;

    if ((r = split(path, &w)) < 0)
        return r;
    for (k = w.n + 1; k-- > 0;) {
        if ((r = join(&w, 0, k, true, prefix, sizeof(prefix))) < 0)
            return r;
        fd = open_how(dir_fd, prefix, k == w.n ? 0 : O_DIRECTORY, resolve);
        if (fd != -ENOENT)
            break;
    }
    if (fd < 0)
        return fd;
    if (k == w.n)
        r = fill_existing(fd, ret);
    else if (normalise_missing(&w, k)) {
        close(fd);
        r = join(&w, 0, w.n, true, next, next_size);
        return r < 0 ? r : 1;
    } else
        r = fill_missing(fd, &w, k, ret);
    if (r == -EAGAIN) {
        osm_resolved_clear(ret);
        snprintf(next, next_size, "%s", path);
        return 1;
    }
    return r;
}

int osm_resolve(int dir_fd, const char *path, unsigned flags, struct osm_resolved *ret)
{
    uint64_t resolve = RESOLVE_NO_MAGICLINKS | (flags & OSM_RESOLVE_BENEATH ? RESOLVE_BENEATH : 0);
    char cur[PATH_MAX], next[PATH_MAX];
    int r;

    osm_resolved_init(ret);
    if (!path || !*path)
        return -EINVAL;
    if (strlen(path) >= sizeof(cur))
        return -ENAMETOOLONG;
    strcpy(cur, path);
    for (int pass = 0; pass < OSM_RESOLVE_PASSES_MAX; pass++) {
        r = resolve_pass(dir_fd, cur, resolve, ret, next, sizeof(next));
        if (r <= 0) {
            if (r < 0)
                osm_resolved_clear(ret);
            return r;
        }
        osm_resolved_clear(ret);
        osm_resolved_init(ret);
        memcpy(cur, next, sizeof(cur));
    }
    return -ELOOP;
}

int osm_resolved_reopen(const struct osm_resolved *r, int flags)
{
    char link[32];
    struct stat st;
    int fd;

    if (r->fd < 0)
        return -ENOENT;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", r->fd);
    fd = open(link, (flags & ~O_CREAT) | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || st.st_dev != r->st.st_dev || st.st_ino != r->st.st_ino) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

/* mkdir name below dir (fine when a real directory is already there) and open it, never
 * through a symlink. Returns the new directory fd or -errno. */
static int make_dir(int dir, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    bool made = mkdirat(dir, name, mode) == 0;
    int fd;

    if (!made && errno != EEXIST)
        return -errno;
    fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (made && (fchmod(fd, mode) < 0 ||
                 ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0))) {
        close(fd);
        return -errno;
    }
    return fd;
}

int osm_resolved_create(const struct osm_resolved *r, int flags, mode_t file_mode, mode_t dir_mode,
                        uid_t uid, gid_t gid)
{
    char names[PATH_MAX], *save = NULL, *name, *next;
    _cleanup_close_ int cur = -1;
    int fd;

    if (r->fd >= 0 || r->n_missing == 0 || r->dir_fd < 0)
        return -EINVAL;
    snprintf(names, sizeof(names), "%s", r->missing);
    cur = dup(r->dir_fd);
    if (cur < 0)
        return -errno;
    for (name = strtok_r(names, "/", &save); name; name = next) {
        next = strtok_r(NULL, "/", &save);
        if (!next)
            break;
        fd = make_dir(cur, name, dir_mode, uid, gid);
        if (fd < 0)
            return fd;
        close(cur);
        cur = fd;
    }
    if (!name)
        return -EINVAL;
    fd = openat(cur, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, file_mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, file_mode) < 0 ||
        ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int osm_resolved_ancestors(const struct osm_resolved *r, struct osm_file_id *ids, size_t max)
{
    _cleanup_close_ int cur = -1;
    struct stat st = r->dir_st;
    size_t n = 0;

    if (r->dir_fd < 0)
        return -EINVAL;
    cur = dup(r->dir_fd);
    if (cur < 0)
        return -errno;
    for (;;) {
        struct stat up;
        int fd;
        if (n == max || n == OSM_RESOLVE_ANCESTORS_MAX)
            return -E2BIG;
        ids[n++] = (struct osm_file_id){st.st_dev, st.st_ino};
        fd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        if (fstat(fd, &up) < 0) {
            close(fd);
            return -errno;
        }
        close(cur);
        cur = fd;
        if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
            return (int)n;
        st = up;
    }
}

bool osm_resolved_under(const struct osm_resolved *r, const char *dir)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return true;
    return strncmp(r->path, dir, n) == 0 && (r->path[n] == '\0' || r->path[n] == '/');
}
