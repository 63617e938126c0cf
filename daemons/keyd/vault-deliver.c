/* Delivery of a secret to a service: a file under one of the delivery directories (resolved
 * beneath it with openat2, no symlinks; owner and mode set on a temporary file before the value
 * is written, then renamed into place), or a systemd credential in the credstore directory. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "vault-int.h"

#define DELIVER_MODE_MAX 0640
#define CREDENTIAL_MODE 0400

struct target {
    int dirfd; /* the directory the file goes in (O_PATH) */
    char base[NAME_MAX + 1];
    char to[PATH_MAX];
    uid_t uid;
    gid_t gid;
    mode_t mode;
};

static void target_close(struct target *t)
{
    if (t->dirfd >= 0)
        close(t->dirfd);
}

/* Refuses ".", "..", and empty components: the path is compared as written. */
static bool path_plain(const char *path)
{
    const char *p = path;

    if (path[0] != '/' || strlen(path) >= PATH_MAX)
        return false;
    while (*p == '/') {
        const char *end = strchrnul(p + 1, '/');
        size_t n = (size_t)(end - p - 1);

        if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
            return false;
        p = end;
    }
    return true;
}

/* The delivery directory path lies under: the rest of path after it, or NULL. */
static const char *under_deliver_dir(const struct vault *v, const char *path, const char **dir)
{
    for (size_t i = 0; v->deliver_dirs[i]; i++) {
        const char *d = v->deliver_dirs[i];
        size_t n = strlen(d);

        while (n > 1 && d[n - 1] == '/')
            n--;
        if (n > 0 && strncmp(path, d, n) == 0 && path[n] == '/') {
            *dir = d;
            return path + n + 1;
        }
    }
    return NULL;
}

static int open_beneath(int root, const char *rel)
{
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));

    if (fd < 0)
        return errno == ELOOP || errno == EXDEV ? -EPERM : -errno;
    return (int)fd;
}

/* Opens the directory of the file to deliver, beneath its delivery directory. */
static int resolve_file(const struct vault *v, const char *path, struct target *t)
{
    _cleanup_free_ char *rel = NULL;
    _cleanup_close_ int root = -1;
    const char *dir = NULL, *rest;
    char *slash;

    if (!path_plain(path))
        return -EINVAL;
    if (!(rest = under_deliver_dir(v, path, &dir)))
        return -EPERM;
    if (!(rel = strdup(rest)))
        return -ENOMEM;
    slash = strrchr(rel, '/');
    if (strlen(slash ? slash + 1 : rel) > NAME_MAX || !osm_filename_valid(slash ? slash + 1 : rel))
        return -EINVAL;
    strcpy(t->base, slash ? slash + 1 : rel);
    if ((root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (!slash) {
        t->dirfd = TAKE_FD(root);
        return 0;
    }
    *slash = '\0';
    if ((t->dirfd = open_beneath(root, rel)) < 0)
        return t->dirfd;
    return 0;
}

/* The file to replace, if any, must be a regular file (not a link, not a directory). */
static int check_existing(const struct target *t)
{
    struct stat st;

    if (fstatat(t->dirfd, t->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISLNK(st.st_mode))
        return -EPERM;
    return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

static int resolve_target(const struct vault *v, const char *name, const struct vault_delivery *d,
                          struct target *t)
{
    int r;

    t->dirfd = -1;
    if (d->path) {
        if ((d->mode & ~(mode_t)DELIVER_MODE_MAX) != 0)
            return -EINVAL;
        if ((r = resolve_file(v, d->path, t)) < 0)
            return r;
        snprintf(t->to, sizeof(t->to), "%s", d->path);
        t->uid = d->uid;
        t->gid = d->gid;
        t->mode = d->mode;
    } else {
        if (!v->credstore_dir)
            return -EOPNOTSUPP;
        if ((t->dirfd = open(v->credstore_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -errno;
        snprintf(t->base, sizeof(t->base), "%s", name);
        snprintf(t->to, sizeof(t->to), "%s/%s", v->credstore_dir, name);
        t->uid = geteuid(); /* keyd's own user: root where systemd reads the credstore */
        t->gid = getegid();
        t->mode = CREDENTIAL_MODE;
    }
    return check_existing(t);
}

/* Writes the value beside the target under a temporary name, owner and mode first, then
 * renames it over the target. */
static int write_target(void *ctx, const struct secbuf *value)
{
    struct target *t = ctx;
    _cleanup_close_ int fd = -1, dfd = -1;
    uint8_t rnd[8];
    char tmp[32], hex[2 * sizeof(rnd) + 1];
    int r;

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(tmp, sizeof(tmp), ".vault-%s", hex);
    fd = openat(t->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (fchown(fd, t->uid, t->gid) < 0 || fchmod(fd, t->mode) < 0)
        r = -errno;
    else if ((r = osm_write_all(fd, value->p, value->len)) == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(t->dirfd, tmp, t->dirfd, t->base) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(t->dirfd, tmp, 0);
        return r;
    }
    if ((dfd = openat(t->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
        fsync(dfd);
    return 0;
}

int vault_secret_deliver(struct vault *v, const char *name, int version,
                         const struct vault_delivery *d, const char *actor, json_t **ret)
{
    _cleanup_(target_close) struct target t = {.dirfd = -1};
    const char *how = d->path ? "file" : "credential";
    json_auto_t *ev = NULL;
    char mode[8];
    int r, got = 0;

    if (!vault_name_valid(name) || version < 0)
        return -EINVAL;
    if ((r = resolve_target(v, name, d, &t)) < 0)
        return r;
    if (!(ev = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "to", t.to, "how", how, "actor",
                         actor ? actor : "")))
        return -ENOMEM;
    struct vault_access a = {.name = name,
                             .version = version,
                             .reader = actor ? actor : "",
                             .how = how,
                             .type = "vault.deliver",
                             .payload = ev,
                             .deliver = write_target,
                             .deliver_ctx = &t};
    if ((r = vault_secret_access(v, &a, NULL, &got)) < 0)
        return r;
    snprintf(mode, sizeof(mode), "%04o", (unsigned)t.mode);
    if (ret && !(*ret = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "name", name, "version",
                                  got, "to", t.to, "how", how, "mode", mode, "uid", (int)t.uid,
                                  "gid", (int)t.gid)))
        return -ENOMEM;
    return 0;
}
