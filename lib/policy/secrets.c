/* Path sets (secrets, protected paths): entries, matching by path and by identity, expansion
 * for sandbox masks (contract in secrets.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/macro.h"
#include "secrets.h"

#define PASSWD_LINE_MAX 4096
#define MOUNTINFO_LINE_MAX (3 * PATH_MAX)
#define WALK_DEPTH_MAX 32

const struct osm_secret_default osm_secrets_defaults[] = {
    {"/etc/shadow", {NULL}},
    {"/etc/shadow-", {NULL}},
    {"/etc/gshadow", {NULL}},
    {"/etc/gshadow-", {NULL}},
    {"/etc/security/opasswd", {NULL}},
    {"/etc/ssh/ssh_host_*_key", {NULL}},
    {"/etc/ssl/private/", {NULL}},
    {"/root/.ssh/", {NULL}},
    {"~/.ssh/id_*", {"*.pub", NULL}},
    {"/proc/*/environ", {NULL}},
    {"/proc/*/task/*/environ", {NULL}},
    {"/proc/*/mem", {NULL}},
    {"/proc/*/task/*/mem", {NULL}},
    {"/proc/kcore", {NULL}},
    {"/dev/mem", {NULL}},
    {"/dev/kmem", {NULL}},
    {"/dev/port", {NULL}},
};
const size_t osm_secrets_n_defaults = ELEMENTSOF(osm_secrets_defaults);

struct entry {
    char *pattern; /* canonical, glob syntax */
    char *except[OSM_PATHSET_EXCEPT_MAX];
    size_t n_except;
    size_t depth;   /* names in pattern */
    bool pseudo_fs; /* under /proc or /dev: a sandbox mounts its own */
    bool proc;      /* under /proc: matched by path only */
};

struct osm_pathset {
    struct entry *entries;
    size_t n, cap;
    char *homes[OSM_PATHSET_HOMES_MAX];
    size_t n_homes;
};

int osm_pathset_new(struct osm_pathset **ret)
{
    *ret = calloc(1, sizeof(**ret));
    return *ret ? 0 : -ENOMEM;
}

static void entry_free(struct entry *e)
{
    free(e->pattern);
    for (size_t i = 0; i < e->n_except; i++)
        free(e->except[i]);
}

void osm_pathset_free(struct osm_pathset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->entries[i]);
    free(s->entries);
    for (size_t i = 0; i < s->n_homes; i++)
        free(s->homes[i]);
    free(s);
}

size_t osm_pathset_size(const struct osm_pathset *s)
{
    return s ? s->n : 0;
}

const char *osm_pathset_pattern(const struct osm_pathset *s, size_t i)
{
    return s && i < s->n ? s->entries[i].pattern : NULL;
}

/* ---- pattern text ----------------------------------------------------------------------- */

static bool is_meta(char c)
{
    return c == '*' || c == '?' || c == '[' || c == '\\';
}

/* Appends lit to out with glob characters escaped. */
static int append_escaped(char *out, size_t size, const char *lit, size_t len)
{
    size_t n = strlen(out);

    for (size_t i = 0; i < len; i++) {
        if (n + 3 > size)
            return -ENAMETOOLONG;
        if (is_meta(lit[i]))
            out[n++] = '\\';
        out[n++] = lit[i];
    }
    out[n] = '\0';
    return 0;
}

static int append_raw(char *out, size_t size, const char *text)
{
    size_t n = strlen(out), len = strlen(text);

    if (n + len + 1 > size)
        return -ENAMETOOLONG;
    memcpy(out + n, text, len + 1);
    return 0;
}

/* True when comp (glob syntax) has an unescaped wildcard; *lit gets it unescaped otherwise. */
static bool comp_literal(const char *comp, char *lit, size_t size)
{
    size_t n = 0;

    for (const char *c = comp; *c; c++) {
        if (*c == '*' || *c == '?' || *c == '[')
            return false;
        if (*c == '\\' && c[1])
            c++;
        if (n + 1 >= size)
            return false;
        lit[n++] = *c;
    }
    lit[n] = '\0';
    return true;
}

static bool under_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Splits an absolute glob into names (in buf), refusing ".", ".." and an empty pattern. */
static int pattern_split(const char *pattern, char *buf, size_t size, char **comp, size_t *n)
{
    char *save = NULL, lit[PATH_MAX];

    if (pattern[0] != '/' || strlen(pattern) >= size)
        return -EINVAL;
    strcpy(buf, pattern);
    *n = 0;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (comp_literal(c, lit, sizeof(lit)) && (strcmp(lit, ".") == 0 || strcmp(lit, "..") == 0))
            return -EINVAL;
        if (*n == PATH_MAX / 2)
            return -ENAMETOOLONG;
        comp[(*n)++] = c;
    }
    return *n > 0 ? 0 : -EINVAL;
}

/* The pattern with its literal leading names made canonical (realpath of the longest existing
 * literal prefix; never under /proc, whose self links name agentd itself). */
static int pattern_canonical(const char *pattern, char *out, size_t size, size_t *ret_depth)
{
    char buf[PATH_MAX], lit[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
    char *comp[PATH_MAX / 2];
    size_t ends[PATH_MAX / 2];
    size_t n, n_lit = 0, k;
    int r;

    if ((r = pattern_split(pattern, buf, sizeof(buf), comp, &n)) < 0)
        return r;
    path[0] = '\0';
    for (; n_lit < n && comp_literal(comp[n_lit], lit, sizeof(lit)); n_lit++) {
        if (append_raw(path, sizeof(path), "/") < 0 || append_raw(path, sizeof(path), lit) < 0)
            return -ENAMETOOLONG;
        ends[n_lit] = strlen(path);
    }
    out[0] = '\0';
    for (k = n_lit; k > 0; k--) {
        path[ends[k - 1]] = '\0';
        if (under_dir(path, "/proc"))
            continue;
        if (realpath(path, real) && strcmp(real, "/") != 0) {
            if ((r = append_escaped(out, size, real, strlen(real))) < 0)
                return r;
            break;
        }
    }
    *ret_depth = 0;
    for (const char *c = out; *c; c++)
        *ret_depth += *c == '/';
    for (size_t i = k; i < n; i++) {
        if ((r = append_raw(out, size, "/")) < 0 || (r = append_raw(out, size, comp[i])) < 0)
            return r;
        (*ret_depth)++;
    }
    return 0;
}

/* A literal path (with an optional trailing '*') as a glob. */
static int literal_pattern(const char *path, char *out, size_t size)
{
    size_t len = strlen(path);
    bool prefix = len > 0 && path[len - 1] == '*';
    int r;

    out[0] = '\0';
    if ((r = append_escaped(out, size, path, len - prefix)) < 0)
        return r;
    return prefix ? append_raw(out, size, "*") : 0;
}

/* ---- adding ----------------------------------------------------------------------------- */

static int add_one(struct osm_pathset *s, const char *pattern, const char *const *except,
                   size_t n_except)
{
    char canon[PATH_MAX];
    struct entry e = {0};
    int r;

    if (n_except > OSM_PATHSET_EXCEPT_MAX)
        return -E2BIG;
    if (s->n == OSM_PATHSET_ENTRIES_MAX)
        return -E2BIG;
    if ((r = pattern_canonical(pattern, canon, sizeof(canon), &e.depth)) < 0)
        return r;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].pattern, canon) == 0 && s->entries[i].n_except == 0 &&
            n_except == 0)
            return 0; /* already there */
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        struct entry *grown = realloc(s->entries, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        s->entries = grown;
        s->cap = cap;
    }
    e.pattern = strdup(canon);
    e.proc = under_dir(canon, "/proc");
    e.pseudo_fs = e.proc || under_dir(canon, "/dev");
    for (size_t i = 0; e.pattern && i < n_except; i++) {
        if (!except[i] || !*except[i] || strchr(except[i], '/')) {
            entry_free(&e);
            return -EINVAL;
        }
        if (!(e.except[e.n_except++] = strdup(except[i])))
            break;
    }
    if (!e.pattern || (n_except && !e.except[n_except - 1])) {
        entry_free(&e);
        return -ENOMEM;
    }
    s->entries[s->n++] = e;
    return 0;
}

/* "~/rest" for /root, /home/\* and each home read from passwd. */
static int add_homes(struct osm_pathset *s, const char *rest, const char *const *except,
                     size_t n_except)
{
    char pattern[PATH_MAX];
    int r;

    if (!*rest)
        return -EINVAL;
    for (size_t i = 0; i < s->n_homes + 2; i++) {
        pattern[0] = '\0';
        if (i == 0)
            r = append_raw(pattern, sizeof(pattern), "/root");
        else if (i == 1)
            r = append_raw(pattern, sizeof(pattern), "/home/*");
        else
            r = append_escaped(pattern, sizeof(pattern), s->homes[i - 2], strlen(s->homes[i - 2]));
        if (r < 0 || (r = append_raw(pattern, sizeof(pattern), "/")) < 0 ||
            (r = append_raw(pattern, sizeof(pattern), rest)) < 0 ||
            (r = add_one(s, pattern, except, n_except)) < 0)
            return r;
    }
    return 0;
}

int osm_pathset_add(struct osm_pathset *s, const char *pattern, const char *const *except,
                    size_t n_except, unsigned flags)
{
    char glob_text[PATH_MAX];
    int r;

    if (!pattern || strlen(pattern) >= PATH_MAX)
        return -EINVAL;
    if (flags & OSM_PATHSET_LITERAL) {
        if ((r = literal_pattern(pattern, glob_text, sizeof(glob_text))) < 0)
            return r;
        return add_one(s, glob_text, except, n_except);
    }
    if (strncmp(pattern, "~/", 2) == 0)
        return add_homes(s, pattern + 2, except, n_except);
    return add_one(s, pattern, except, n_except);
}

int osm_pathset_add_defaults(struct osm_pathset *s)
{
    for (size_t i = 0; i < osm_secrets_n_defaults; i++) {
        const struct osm_secret_default *d = &osm_secrets_defaults[i];
        size_t n = 0;
        int r;
        while (n < OSM_PATHSET_EXCEPT_MAX && d->except[n])
            n++;
        if ((r = osm_pathset_add(s, d->pattern, d->except, n, 0)) < 0)
            return r;
    }
    return 0;
}

static bool home_known(const struct osm_pathset *s, const char *home)
{
    for (size_t i = 0; i < s->n_homes; i++)
        if (strcmp(s->homes[i], home) == 0)
            return true;
    return strcmp(home, "/root") == 0;
}

int osm_pathset_read_homes(struct osm_pathset *s, const char *passwd_path)
{
    _cleanup_fclose_ FILE *f = fopen(passwd_path ? passwd_path : "/etc/passwd", "re");
    char line[PASSWD_LINE_MAX];

    if (!f)
        return errno == ENOENT ? 0 : -errno;
    while (fgets(line, sizeof(line), f)) {
        char *field = line, *home = NULL;
        for (int i = 0; i < 5 && field; i++)
            field = strchr(field, ':') ? strchr(field, ':') + 1 : NULL;
        if (!field)
            continue;
        home = field;
        home[strcspn(home, ":\n")] = '\0';
        while (strlen(home) > 1 && home[strlen(home) - 1] == '/')
            home[strlen(home) - 1] = '\0';
        /* /home/\* covers the usual homes; "/" adds nothing a secret entry should name */
        if (home[0] != '/' || strcmp(home, "/") == 0 || under_dir(home, "/home") ||
            strstr(home, "/./") || strstr(home, "/../") || home_known(s, home))
            continue;
        if (s->n_homes == OSM_PATHSET_HOMES_MAX)
            return -E2BIG;
        if (!(s->homes[s->n_homes] = strdup(home)))
            return -ENOMEM;
        s->n_homes++;
    }
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) OSM_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* One item of "secrets": a string or {"path", "except"?, "comment"?}. */
static int add_json_item(struct osm_pathset *s, const json_t *item, size_t i, char *err,
                         size_t errlen)
{
    const char *path = json_string_value(item), *except[OSM_PATHSET_EXCEPT_MAX];
    json_t *list = NULL, *v;
    json_error_t jerr;
    size_t n = 0, k;
    int r;

    if (!path && json_unpack_ex((json_t *)item, &jerr, JSON_STRICT, "{s:s, s?o, s?s}", "path",
                                &path, "except", &list, "comment", &(const char *){NULL}) < 0)
        return fail(err, errlen, "secrets[%zu]: a path string or {\"path\", \"except\"}: %s", i,
                    jerr.text);
    if (list && (!json_is_array(list) || json_array_size(list) > OSM_PATHSET_EXCEPT_MAX))
        return fail(err, errlen, "secrets[%zu].except must be an array of at most %d names", i,
                    OSM_PATHSET_EXCEPT_MAX);
    json_array_foreach(list, k, v)
    {
        if (!json_is_string(v) || !*json_string_value(v) || strchr(json_string_value(v), '/'))
            return fail(err, errlen, "secrets[%zu].except[%zu] must be a file name glob", i, k);
        except[n++] = json_string_value(v);
    }
    if (path[0] != '/' && strncmp(path, "~/", 2) != 0)
        return fail(err, errlen, "secrets[%zu]: %s is not an absolute path or ~/...", i, path);
    r = osm_pathset_add(s, path, except, n, 0);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return fail(err, errlen, "secrets[%zu]: %s: %s", i, path,
                    r == -E2BIG ? "too many entries" : "not a valid path glob (no . or ..)");
    return 0;
}

int osm_pathset_add_json(struct osm_pathset *s, const json_t *list, char *err, size_t errlen)
{
    size_t i;
    json_t *item;
    int r;

    if (!json_is_array(list) || json_array_size(list) > OSM_SECRETS_FILE_MAX)
        return fail(err, errlen, "secrets must be an array of at most %d entries",
                    OSM_SECRETS_FILE_MAX);
    json_array_foreach(list, i,
                       item) if ((r = add_json_item(s, item, i, err, errlen)) < 0) return r;
    return 0;
}

/* ---- matching --------------------------------------------------------------------------- */

static bool excepted(const struct entry *e, const char *path)
{
    const char *name = strrchr(path, '/');

    name = name ? name + 1 : path;
    for (size_t i = 0; i < e->n_except; i++)
        if (fnmatch(e->except[i], name, FNM_PATHNAME) == 0)
            return true;
    return false;
}

const char *osm_pathset_match(const struct osm_pathset *s, const char *canonical, bool beneath_only)
{
    char prefix[PATH_MAX];
    size_t depth = 0, len = strlen(canonical);

    if (!s || canonical[0] != '/' || len >= sizeof(prefix))
        return NULL;
    for (const char *c = canonical; *c; c++)
        depth += *c == '/' && c[1] && c[1] != '/';
    for (size_t i = 0; i < s->n; i++) {
        const struct entry *e = &s->entries[i];
        size_t seen = 0, cut = len;
        if (e->depth > depth || (beneath_only && e->depth == depth))
            continue;
        for (size_t k = 0; k < len; k++)
            if (canonical[k] == '/' && seen++ == e->depth) {
                cut = k;
                break;
            }
        memcpy(prefix, canonical, cut);
        prefix[cut] = '\0';
        if (fnmatch(e->pattern, prefix, FNM_PATHNAME) == 0 && !excepted(e, prefix))
            return e->pattern;
    }
    return NULL;
}

struct id_check {
    const struct osm_resolved *r;
    bool listing;
    struct osm_file_id ancestors[OSM_RESOLVE_ANCESTORS_MAX];
    size_t n_ancestors;
};

/* Whether one expanded path (with its stat) covers the target. */
static bool id_covers(const struct id_check *c, const struct stat *st)
{
    const struct stat *own = c->r->fd >= 0 ? &c->r->st : NULL;

    if (own && st->st_dev == own->st_dev && st->st_ino == own->st_ino &&
        !(c->listing && S_ISDIR(own->st_mode)))
        return true;
    if (own && (S_ISCHR(own->st_mode) || S_ISBLK(own->st_mode)) &&
        (st->st_mode & S_IFMT) == (own->st_mode & S_IFMT) && st->st_rdev == own->st_rdev)
        return true;
    if (S_ISDIR(st->st_mode))
        for (size_t i = 0; i < c->n_ancestors; i++)
            if (c->ancestors[i].dev == st->st_dev && c->ancestors[i].ino == st->st_ino)
                return true;
    return false;
}

static int check_entry(const struct entry *e, const struct id_check *c)
{
    glob_t g = {0};
    int r = glob(e->pattern, GLOB_NOSORT, NULL, &g), hit = 0;

    if (r == GLOB_NOMATCH || r == GLOB_ABORTED)
        return 0;
    if (r != 0)
        return -ENOMEM;
    for (size_t i = 0; i < g.gl_pathc && !hit; i++) {
        struct stat st;
        if (!excepted(e, g.gl_pathv[i]) && stat(g.gl_pathv[i], &st) == 0)
            hit = id_covers(c, &st);
    }
    globfree(&g);
    return hit;
}

/* A hard-linked file may be a second name of a file inside a secret directory: the
 * directories the entries name are walked (never through symlinks) for its inode. 1 when
 * found, 0, -E2BIG past OSM_PATHSET_WALK_MAX entries. */
static int walk_for(int dir_fd, const struct stat *own, int depth, size_t *seen)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    int hit = 0;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0; /* unreadable: nothing found there */
    }
    while (hit == 0 && (e = readdir(d))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++*seen > OSM_PATHSET_WALK_MAX) {
            hit = -E2BIG;
            break;
        }
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (st.st_dev == own->st_dev && st.st_ino == own->st_ino)
            hit = 1;
        else if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX) {
            int sub = openat(dirfd(d), e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                hit = walk_for(sub, own, depth + 1, seen);
                close(sub);
            }
        }
    }
    closedir(d);
    return hit;
}

static int walk_entry(const struct entry *e, const struct stat *own, size_t *seen, char *ret_why,
                      size_t why_len)
{
    glob_t g = {0};
    int r = glob(e->pattern, GLOB_NOSORT | GLOB_ONLYDIR, NULL, &g), hit = 0;

    if (r == GLOB_NOMATCH || r == GLOB_ABORTED)
        return 0;
    if (r != 0)
        return -ENOMEM;
    for (size_t i = 0; i < g.gl_pathc && hit == 0; i++) {
        int fd = open(g.gl_pathv[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if ((hit = walk_for(fd, own, 0, seen)) == 1)
            snprintf(ret_why, why_len, "%s (a hard link of a file in it)", e->pattern);
        close(fd);
    }
    globfree(&g);
    return hit;
}

/* "\040" and the other octal escapes of mountinfo, in place. */
static void unescape_octal(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else
            *o++ = *s;
    }
    *o = '\0';
}

struct mount_line {
    unsigned long id;
    char dev[32];
    char root[PATH_MAX];
    char point[PATH_MAX];
};

static bool parse_mount(char *line, struct mount_line *m)
{
    char *save = NULL, *f[5];

    for (int i = 0; i < 5; i++)
        if (!(f[i] = strtok_r(i ? NULL : line, " ", &save)))
            return false;
    m->id = strtoul(f[0], NULL, 10);
    snprintf(m->dev, sizeof(m->dev), "%s", f[2]);
    unescape_octal(f[3]);
    unescape_octal(f[4]);
    snprintf(m->root, sizeof(m->root), "%s", f[3]);
    snprintf(m->point, sizeof(m->point), "%s", f[4]);
    return true;
}

/* The tail of path below prefix ("" for prefix itself, NULL when not under it). */
static const char *below(const char *path, const char *prefix)
{
    size_t n = strcmp(prefix, "/") == 0 ? 0 : strlen(prefix);

    if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return NULL;
    return path + n;
}

/* The other names r->path has through the other mounts of its filesystem (a bind mount of a
 * directory, or of one file, inside a secret directory): each is matched by path. */
static int other_names(const struct osm_pathset *s, const struct osm_resolved *r, bool listing,
                       char *ret_why, size_t why_len)
{
    _cleanup_fclose_ FILE *f = NULL;
    _cleanup_free_ char *line = malloc(MOUNTINFO_LINE_MAX);
    _cleanup_free_ struct mount_line *own = calloc(2, sizeof(*own));
    struct mount_line *m = own ? own + 1 : NULL;
    struct statx stx;
    const char *tail, *rest, *hit;
    char name[PATH_MAX];
    bool found = false;

    if (!line || !own)
        return -ENOMEM;
    if (statx(r->fd >= 0 ? r->fd : r->dir_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
        return -errno;
    if (!(stx.stx_mask & STATX_MNT_ID))
        return -EOPNOTSUPP; /* Linux < 5.8: cannot be judged, so the caller denies */
    if (!(f = fopen("/proc/self/mountinfo", "re")))
        return -errno;
    while (!found && fgets(line, MOUNTINFO_LINE_MAX, f))
        found = parse_mount(line, own) && own->id == stx.stx_mnt_id;
    if (!found || !(tail = below(r->path, own->point)))
        return 0;
    rewind(f);
    while (fgets(line, MOUNTINFO_LINE_MAX, f)) {
        if (!parse_mount(line, m) || m->id == own->id || strcmp(m->dev, own->dev) != 0 ||
            !(rest = below(own->root, m->root)))
            continue;
        if ((size_t)snprintf(name, sizeof(name), "%s%s%s", strcmp(m->point, "/") ? m->point : "",
                             rest, tail) >= sizeof(name))
            continue;
        if ((hit = osm_pathset_match(s, name[0] ? name : "/", listing))) {
            snprintf(ret_why, why_len, "%s (the same file through another mount)", hit);
            return 1;
        }
    }
    return 0;
}

int osm_pathset_check(const struct osm_pathset *s, const struct osm_resolved *r, bool listing,
                      char *ret_why, size_t why_len)
{
    struct id_check *c;
    const char *hit = osm_pathset_match(s, r->path, listing);
    struct statfs fs;
    int n, res = 0;

    if (hit) {
        snprintf(ret_why, why_len, "%s", hit);
        return 1;
    }
    if (fstatfs(r->fd >= 0 ? r->fd : r->dir_fd, &fs) < 0)
        return -errno;
    if (fs.f_type == PROC_SUPER_MAGIC && !under_dir(r->path, "/proc")) {
        snprintf(ret_why, why_len, "procfs outside /proc");
        return 1;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->r = r;
    c->listing = listing;
    n = osm_resolved_ancestors(r, c->ancestors, ELEMENTSOF(c->ancestors));
    if (n < 0) {
        free(c);
        return n;
    }
    c->n_ancestors = (size_t)n;
    for (size_t i = 0; i < s->n && res == 0; i++)
        if (!s->entries[i].proc && (res = check_entry(&s->entries[i], c)) == 1)
            snprintf(ret_why, why_len, "%s (the same file or directory)", s->entries[i].pattern);
    free(c);
    if (res == 0)
        res = other_names(s, r, listing, ret_why, why_len);
    if (res == 0 && r->fd >= 0 && !S_ISDIR(r->st.st_mode) && r->st.st_nlink > 1) {
        size_t seen = 0;
        for (size_t i = 0; i < s->n && res == 0; i++)
            if (!s->entries[i].pseudo_fs)
                res = walk_entry(&s->entries[i], &r->st, &seen, ret_why, why_len);
    }
    return res;
}

int osm_pathset_expand(const struct osm_pathset *s,
                       int (*fn)(const char *path, const struct stat *st, void *userdata),
                       void *userdata)
{
    for (size_t i = 0; s && i < s->n; i++) {
        const struct entry *e = &s->entries[i];
        glob_t g = {0};
        int r;
        if (e->pseudo_fs)
            continue;
        r = glob(e->pattern, GLOB_NOSORT, NULL, &g);
        if (r == GLOB_NOMATCH || r == GLOB_ABORTED)
            continue;
        if (r != 0)
            return -ENOMEM;
        for (size_t k = 0; k < g.gl_pathc && r == 0; k++) {
            char real[PATH_MAX];
            struct stat st;
            if (excepted(e, g.gl_pathv[k]) || !realpath(g.gl_pathv[k], real) ||
                under_dir(real, "/proc") || under_dir(real, "/dev") || stat(real, &st) < 0)
                continue;
            r = fn(real, &st, userdata);
        }
        globfree(&g);
        if (r != 0)
            return r;
    }
    return 0;
}
