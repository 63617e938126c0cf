/* Path sets: the secrets no tool may read, and the protected paths no tool may touch (DESIGN §6).
 *
 * An entry is an absolute glob (fnmatch(3) with FNM_PATHNAME: `*`, `?` and `[...]` never cross a
 * `/`), optionally with name exceptions (globs on the last name: "*.pub"). It covers every path
 * it matches and everything beneath such a path; a trailing `/` only says that the entry is a
 * directory. "~/" at the start stands for every home directory: /root, /home/\*, and each home
 * named in /etc/passwd. The literal leading part of an entry is made canonical when it is added
 * (symlinks of the existing part resolved), so it compares with the canonical paths osm_resolve
 * gives.
 *
 * A resolved target is checked by path and by identity: the entries are expanded (glob(3)) at
 * check time and the target's (st_dev, st_ino) and those of every directory above it compared
 * with what they name, so a bind mount or a hard link of a secret is caught; the names the
 * target has through the other mounts of its filesystem (/proc/self/mountinfo) are matched by
 * path, which catches a bind mount of something inside a secret directory; a hard-linked file
 * (st_nlink > 1) is looked for inside the directories the entries name; a device node is
 * compared by its device number (a copy of /dev/mem made with mknod); and a procfs file reached
 * anywhere but under /proc is refused, since procfs entries (/proc/PID/environ) are matched by
 * path only. In listing mode a directory that an entry names may itself be listed (names and
 * sizes only); what lies beneath it may not. lib/ code: -errno, no logging. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "resolve.h"

#define OSM_PATHSET_ENTRIES_MAX 4096 /* entries of one set, "~/" expansions included */
#define OSM_PATHSET_EXCEPT_MAX 8     /* name exceptions of one entry */
#define OSM_PATHSET_HOMES_MAX 256    /* home directories "~/" stands for */
#define OSM_SECRETS_FILE_MAX 128     /* entries of a policy file's "secrets" list */
#define OSM_PATHSET_WALK_MAX 20000   /* entries searched for a hard-linked file's other name */

struct osm_pathset;

/* osm_pathset_add flags. */
enum {
    /* the pattern is a literal path: glob characters are taken as themselves, except one
     * trailing '*' that makes it a prefix ("<state>/ledger.db*") */
    OSM_PATHSET_LITERAL = 1 << 0,
};

/* The built-in secrets, documented in docs/policy.md. */
struct osm_secret_default {
    const char *pattern;
    const char *except[OSM_PATHSET_EXCEPT_MAX]; /* NULL-terminated */
};
extern const struct osm_secret_default osm_secrets_defaults[];
extern const size_t osm_secrets_n_defaults;

int osm_pathset_new(struct osm_pathset **ret);
/* NULL-safe. */
void osm_pathset_free(struct osm_pathset *s);
/* The home directories "~/" stands for, beyond /root and /home/\*: the homes of passwd_path
 * (a passwd(5) file; NULL → /etc/passwd; a missing file adds none). Call before adding "~/". */
int osm_pathset_read_homes(struct osm_pathset *s, const char *passwd_path);
/* Adds an entry; except: n name globs. -EINVAL for a relative or malformed pattern, -E2BIG past
 * the limits, -ENOMEM. */
int osm_pathset_add(struct osm_pathset *s, const char *pattern, const char *const *except,
                    size_t n_except, unsigned flags);
/* Adds the built-in secrets. */
int osm_pathset_add_defaults(struct osm_pathset *s);
/* Adds a policy file's "secrets" value: an array of strings or {"path": "...", "except":
 * ["name glob", ...]} objects. -EINVAL with a message in err. */
int osm_pathset_add_json(struct osm_pathset *s, const json_t *list, char *err, size_t errlen);
size_t osm_pathset_size(const struct osm_pathset *s);
/* The i-th entry's pattern as stored (canonical). */
const char *osm_pathset_pattern(const struct osm_pathset *s, size_t i);

/* By path only: the entry that covers canonical (an absolute path without `.`, `..`, `//`),
 * or NULL. beneath_only: only what lies strictly beneath a matched path counts (listing). */
const char *osm_pathset_match(const struct osm_pathset *s, const char *canonical,
                              bool beneath_only);
/* Checks a resolved target by path and identity. 1 when covered (ret_why gets the entry, or a
 * reason such as "procfs outside /proc"; at most why_len bytes), 0 when not, -errno when it
 * could not be judged (the caller denies). listing: the target is a directory to be listed. */
int osm_pathset_check(const struct osm_pathset *s, const struct osm_resolved *r, bool listing,
                      char *ret_why, size_t why_len);
/* Calls fn for every existing path an entry names (glob-expanded, canonical, exceptions
 * applied, procfs and devtmpfs entries skipped: a sandbox mounts its own), with its stat.
 * Stops at fn's first non-zero return and returns it; else 0 or -errno. */
int osm_pathset_expand(const struct osm_pathset *s,
                       int (*fn)(const char *path, const struct stat *st, void *userdata),
                       void *userdata);
