/* Paths resolved before a decision, and acted on through what was resolved (DESIGN §6).
 *
 * osm_resolve() asks the kernel (openat2 with RESOLVE_NO_MAGICLINKS) to walk a path: `..` and
 * ordinary symlinks are followed to their real target, while magic links (/proc/PID/root,
 * /proc/PID/cwd, /proc/PID/fd/N, /proc/PID/exe, /dev/stdin, ...) are refused. The result holds
 * an O_PATH fd of the file (when it exists) and of the directory that holds it, the canonical
 * path the kernel gives for that fd, and, for a file that does not exist yet, the names still
 * missing below the deepest existing directory. The caller checks that result (path and
 * identity, see secrets.h) and then opens or creates the file through the same fds
 * (osm_resolved_reopen, osm_resolved_create): nothing is looked up by name again, so there is
 * no window between the check and the open. Without openat2 (Linux < 5.6) everything fails
 * with -ENOSYS: there is no fallback that could be raced. lib/ code: -errno, no logging. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define OSM_RESOLVE_PASSES_MAX 8      /* re-walks after `..` under a missing name or a race */
#define OSM_RESOLVE_ANCESTORS_MAX 512 /* directory levels an identity walk climbs */

/* osm_resolve flags. */
enum {
    /* path is relative to dir_fd and may not leave it (RESOLVE_BENEATH): the agent workspace */
    OSM_RESOLVE_BENEATH = 1 << 0,
};

/* A file's identity: what a bind mount or a hard link of it shares. */
struct osm_file_id {
    dev_t dev;
    ino_t ino;
};

struct osm_resolved {
    char path[PATH_MAX];    /* canonical absolute path, missing names included */
    int fd;                 /* O_PATH of the file itself; -1 when it does not exist */
    int dir_fd;             /* O_PATH of the directory holding it (missing file: the deepest
                               existing directory; "/": "/" itself) */
    struct stat st;         /* of fd (zeroed when it does not exist) */
    struct stat dir_st;     /* of dir_fd */
    char missing[PATH_MAX]; /* names below dir_fd still to be created ("a/b/file"), "" */
    size_t n_missing;
};

/* Resolves path (absolute, or relative to dir_fd; AT_FDCWD allowed without BENEATH) into *ret.
 * Returns 0, or -EINVAL (empty or too long), -ELOOP (a magic link, a symlink loop, or a dangling
 * symlink where a name is missing), -EXDEV (BENEATH and the path leaves dir_fd), -ENOTDIR,
 * -EACCES, -ENOSYS (no openat2), -ENAMETOOLONG. On error *ret holds no fds. */
int osm_resolve(int dir_fd, const char *path, unsigned flags, struct osm_resolved *ret);
/* Closes the fds (safe on a zeroed or cleared struct with fds set to -1). */
void osm_resolved_clear(struct osm_resolved *r);
/* An empty result: fds -1. */
void osm_resolved_init(struct osm_resolved *r);

/* Opens the existing file through its O_PATH fd (/proc/self/fd/N) with flags (O_CLOEXEC and
 * O_NOCTTY added) and checks it is the same inode. -ENOENT when it did not exist, -ESTALE when
 * the inode differs. */
int osm_resolved_reopen(const struct osm_resolved *r, int flags);
/* Creates the missing directories (dir_mode, each opened with O_NOFOLLOW below the previous
 * one) and the file itself with O_CREAT | O_EXCL | O_NOFOLLOW | flags and file_mode (set with
 * fchmod, whatever the umask). uid/gid (-1: unchanged) become the owner of what was created.
 * -EEXIST when something appeared under a missing name meanwhile; -EINVAL when the file exists
 * (use osm_resolved_reopen). */
int osm_resolved_create(const struct osm_resolved *r, int flags, mode_t file_mode, mode_t dir_mode,
                        uid_t uid, gid_t gid);
/* The identities of the directory holding the target and of every directory above it, up to
 * the root (bind mounts climb to their mount point's parent), into ids (at most max). Returns
 * the count or -errno (-E2BIG past max). */
int osm_resolved_ancestors(const struct osm_resolved *r, struct osm_file_id *ids, size_t max);
/* True when r->path lies at or under dir (canonical). */
bool osm_resolved_under(const struct osm_resolved *r, const char *dir);
