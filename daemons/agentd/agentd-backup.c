/* Backups of the state directory (osmoda-reference §1.1, fixing §14.2 items 11 and 16).
 *
 * create: a consistent snapshot in a staging directory (SQLite databases through the online
 * backup API, other files copied; secrets, *.tmp, caches and SQLite side files left out), packed
 * with tar (no shell, bounded time), recorded, then renamed into place; the newest
 * OSM_BACKUP_KEEP are kept.
 * restore: the archive is listed and refused if any member is absolute, climbs with "..", or is
 * not a plain file or directory; it is extracted into a staging directory under the state dir,
 * the event is recorded, and each file is renamed into place (running daemons keep their open
 * inode and see the restored file when they restart). The ledger and secrets are never touched. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "ipc/json_util.h"

#define BACKUP_PREFIX "backup-"
#define BACKUP_SUFFIX ".tar.gz"
#define BACKUP_STAMP_LEN 22 /* strlen("backup-20260101-120000") */
#define BACKUP_ID_MAX 64
#define WALK_DEPTH_MAX 32

/* One backup or restore at a time: names, pruning and the staging directories stay simple. */
static pthread_mutex_t backup_lock = PTHREAD_MUTEX_INITIALIZER;

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Secrets never go into a backup and are never replaced by a restore (osModa defect 11). */
static bool name_is_secret(const char *name)
{
    return has_suffix(name, ".key") || strcmp(name, ".credstore-key") == 0 ||
           strcmp(name, "gateway-token") == 0 || strcmp(name, "api-key") == 0;
}

/* The audit trail is append-only: a restore never replaces these (top level of the state dir). */
static bool name_is_ledger(const char *rel)
{
    static const char *const names[] = {
        OSM_LEDGER_DB_NAME,        OSM_LEDGER_DB_NAME "-wal",
        OSM_LEDGER_DB_NAME "-shm", OSM_LEDGER_DB_NAME "-journal",
        OSM_LEDGER_KEY_NAME,       OSM_LEDGER_PUB_NAME,
        OSM_LEDGER_CHECKPOINT_LOG,
    };

    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (strcmp(rel, names[i]) == 0)
            return true;
    return false;
}

/* Left out of a snapshot: temporaries, caches, SQLite side files (the snapshot has their data),
 * our own restore staging, secrets. */
static bool name_is_skipped(const char *name, bool is_dir)
{
    if (is_dir)
        return strcmp(name, "cache") == 0 || strncmp(name, ".restore-", 9) == 0;
    return has_suffix(name, ".tmp") || strstr(name, ".tmp.") || has_suffix(name, "-wal") ||
           has_suffix(name, "-shm") || has_suffix(name, "-journal") || name_is_secret(name);
}

static bool backup_id_valid(const char *id)
{
    size_t n = strlen(id);

    if (n <= strlen(BACKUP_PREFIX) || n > BACKUP_ID_MAX ||
        strncmp(id, BACKUP_PREFIX, strlen(BACKUP_PREFIX)) != 0)
        return false;
    for (const char *s = id; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* Orders ids oldest first: by their timestamp, then by the same-second suffix (-1, -2, ...). */
static int backup_id_cmp(const char *a, const char *b)
{
    int c = strncmp(a, b, BACKUP_STAMP_LEN);

    if (c != 0 || strlen(a) < BACKUP_STAMP_LEN || strlen(b) < BACKUP_STAMP_LEN)
        return c;
    long x = a[BACKUP_STAMP_LEN] == '-' ? strtol(a + BACKUP_STAMP_LEN + 1, NULL, 10) : 0;
    long y = b[BACKUP_STAMP_LEN] == '-' ? strtol(b + BACKUP_STAMP_LEN + 1, NULL, 10) : 0;
    return x < y ? -1 : x > y ? 1 : strcmp(a, b);
}

static int backup_json_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

    return backup_id_cmp(json_string_value(json_object_get(y, "backup_id")),
                         json_string_value(json_object_get(x, "backup_id")));
}

/* ---- the backup directory --------------------------------------------------------------- */

static json_t *backup_info(const char *dir, const char *file)
{
    _cleanup_free_ char *path = osm_path_join(dir, file);
    char ts[OSM_TS_LEN + 1];
    struct stat st;

    if (!path || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    osm_format_ts(st.st_mtim.tv_sec, (unsigned)(st.st_mtim.tv_nsec / 1000000), ts);
    return json_pack("{s:s%, s:s, s:I, s:s}", "backup_id", file,
                     strlen(file) - strlen(BACKUP_SUFFIX), "path", path, "size_bytes",
                     (json_int_t)st.st_size, "created_at", ts);
}

/* The backups in dir, newest first (new reference; empty if dir is missing). */
static json_t *backups_list(const char *dir)
{
    json_auto_t *list = json_array();
    DIR *d = opendir(dir);
    struct dirent *de;
    json_t **v;
    size_t n;

    while (d && (de = readdir(d))) {
        json_t *info;
        if (strncmp(de->d_name, BACKUP_PREFIX, strlen(BACKUP_PREFIX)) != 0 ||
            !has_suffix(de->d_name, BACKUP_SUFFIX))
            continue;
        info = backup_info(dir, de->d_name);
        if (info)
            json_array_append_new(list, info);
    }
    if (d)
        closedir(d);
    n = json_array_size(list);
    v = malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(list, i));
    qsort(v, n, sizeof(*v), backup_json_cmp);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, v[i]);
    free(v);
    return json_incref(list);
}

/* Removes all but the newest keep backups (by id, as osModa by file name). */
static void backups_prune(const char *dir, size_t keep)
{
    json_auto_t *list = backups_list(dir);
    size_t i;
    json_t *b;

    json_array_foreach(list, i, b)
    {
        if (i < keep)
            continue;
        if (unlink(osm_json_str(b, "path", "")) == 0)
            log_info("backup.pruned", "backup_id=%s", osm_json_str(b, "backup_id", ""));
    }
}

json_t *agentd_backup_list(struct osm_request *req)
{
    json_t *list = backups_list(AGENTD(req)->backup_dir);

    return list ? list : osm_error_errno(req, -ENOMEM, "out of memory");
}

/* ---- walking a tree --------------------------------------------------------------------- */

/* Called for every entry under the walk's root with its path relative to it. Return 0 to go on
 * (and descend into a directory), 1 to skip it, < 0 to stop the walk. */
typedef int (*walk_fn)(void *ctx, const char *rel, const char *name, const struct stat *st);

static int walk(const char *root, const char *rel, int depth, walk_fn fn, void *ctx)
{
    _cleanup_free_ char *dir = *rel ? osm_path_join(root, rel) : strdup(root);
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (!dir)
        return -ENOMEM;
    if (depth > WALK_DEPTH_MAX)
        return -ELOOP;
    d = opendir(dir);
    if (!d)
        return -errno;
    while (r >= 0 && (de = readdir(d))) {
        _cleanup_free_ char *sub = NULL, *abs = NULL;
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = *rel ? osm_path_join(rel, de->d_name) : strdup(de->d_name);
        abs = sub ? osm_path_join(root, sub) : NULL;
        if (!abs) {
            r = -ENOMEM;
            break;
        }
        if (lstat(abs, &st) < 0)
            continue; /* gone meanwhile */
        r = fn(ctx, sub, de->d_name, &st);
        if (r == 0 && S_ISDIR(st.st_mode))
            r = walk(root, sub, depth + 1, fn, ctx);
        else if (r == 1)
            r = 0;
    }
    closedir(d);
    return r;
}

/* ---- create ----------------------------------------------------------------------------- */

struct snapshot {
    const char *src;
    const char *dst;
    size_t files;
};

static bool file_is_sqlite(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char head[16];

    return fd >= 0 && read(fd, head, sizeof(head)) == (ssize_t)sizeof(head) &&
           memcmp(head, "SQLite format 3", 16) == 0;
}

/* A consistent copy of a live SQLite database through the online backup API. */
static int sqlite_snapshot(const char *src, const char *dst, mode_t mode)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b;
    int r = SQLITE_ERROR;

    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(from, 5000);
        b = sqlite3_backup_init(to, "main", from, "main");
        if (b) {
            while ((r = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || r == SQLITE_LOCKED)
                sqlite3_sleep(50);
            sqlite3_backup_finish(b);
        }
    }
    sqlite3_close(from);
    sqlite3_close(to);
    if (r != SQLITE_DONE)
        return -EIO;
    return chmod(dst, mode) < 0 ? -errno : 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int out = -1;
    char buf[65536];
    ssize_t n;

    if (in < 0)
        return errno == ENOENT ? 0 : -errno;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        return -errno;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                return -errno;
            off += w > 0 ? w : 0;
        }
    return n < 0 ? -errno : 0;
}

static int snapshot_entry(void *ctx, const char *rel, const char *name, const struct stat *st)
{
    struct snapshot *s = ctx;
    _cleanup_free_ char *from = osm_path_join(s->src, rel);
    _cleanup_free_ char *to = osm_path_join(s->dst, rel);
    mode_t mode = st->st_mode & 0777;

    if (!from || !to)
        return -ENOMEM;
    if (name_is_skipped(name, S_ISDIR(st->st_mode)))
        return 1;
    if (S_ISDIR(st->st_mode))
        return mkdir(to, 0700) < 0 ? -errno : 0;
    if (!S_ISREG(st->st_mode))
        return 1; /* sockets, fifos, devices and symlinks are not state */
    if (++s->files > OSM_BACKUP_FILES_MAX)
        return -E2BIG;
    return file_is_sqlite(from) ? sqlite_snapshot(from, to, mode) : copy_file(from, to, mode);
}

/* A fresh id for now: backup-YYYYmmdd-HHMMSS, with -N when that second is taken. */
static void backup_id_pick(const char *dir, time_t now, char ret[static BACKUP_ID_MAX + 1])
{
    struct tm tm;
    char stamp[32];

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), BACKUP_PREFIX "%Y%m%d-%H%M%S", &tm);
    snprintf(ret, BACKUP_ID_MAX + 1, "%s", stamp);
    for (int i = 1;; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s" BACKUP_SUFFIX, dir, ret);
        if (access(path, F_OK) < 0)
            return;
        snprintf(ret, BACKUP_ID_MAX + 1, "%s-%d", stamp, i);
    }
}

static int tar_run(const char *const argv[])
{
    const struct agentd_run_opts opts = {
        .timeout_s = OSM_BACKUP_TIMEOUT_S, .stdout_fd = -1, .out_max = OSM_CMD_OUTPUT_MAX};
    _cleanup_free_ char *out = NULL;

    return agentd_run(argv, &opts, &out);
}

/* Snapshot the state dir into staging and pack it into part. */
static int backup_pack(struct agentd *ad, const char *staging, const char *part)
{
    struct snapshot s = {.src = ad->paths.state_dir, .dst = staging};
    const char *const argv[] = {"tar",    "--create", "--gzip",      "--numeric-owner",
                                "--file", part,       "--directory", staging,
                                ".",      NULL};
    int r;

    if (mkdir(staging, 0700) < 0)
        return -errno;
    r = walk(s.src, "", 0, snapshot_entry, &s);
    if (r < 0)
        return r;
    return tar_run(argv);
}

/* Records backup.create for part and renames it to its final name; the new info or NULL. */
static json_t *backup_commit(struct osm_request *req, const char *id, const char *part,
                             const char *path)
{
    struct stat st;
    char ts[OSM_TS_LEN + 1];
    json_auto_t *payload = NULL;
    int r;

    if (chmod(part, 0600) < 0 || stat(part, &st) < 0)
        return osm_error_errno(req, -errno, "backup archive vanished");
    payload = json_pack("{s:s, s:s, s:I}", "backup_id", id, "path", path, "size_bytes",
                        (json_int_t)st.st_size);
    r = payload ? agentd_record(AGENTD(req), "backup.create", "agentd", payload, NULL, NULL, NULL)
                : -ENOMEM;
    if (r < 0)
        return agentd_record_error(req, r, "backup.create");
    if (rename(part, path) < 0)
        return osm_error_errno(req, -errno, "could not install the backup archive");
    osm_now_ts(ts);
    return json_pack("{s:s, s:s, s:I, s:s}", "backup_id", id, "path", path, "size_bytes",
                     (json_int_t)st.st_size, "created_at", ts);
}

static json_t *backup_create_locked(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    char id[BACKUP_ID_MAX + 1];
    _cleanup_free_ char *staging = NULL, *part = NULL, *path = NULL;
    json_t *resp;
    int r;

    r = osm_mkdir_p(ad->backup_dir, 0700);
    if (r < 0)
        return osm_error_errno(req, r, "could not create %s: %s", ad->backup_dir, strerror(-r));
    backup_id_pick(ad->backup_dir, time(NULL), id);
    if (asprintf(&staging, "%s/.staging-%s", ad->backup_dir, id) < 0 ||
        asprintf(&part, "%s/.%s" BACKUP_SUFFIX ".part", ad->backup_dir, id) < 0 ||
        asprintf(&path, "%s/%s" BACKUP_SUFFIX, ad->backup_dir, id) < 0)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    r = backup_pack(ad, staging, part);
    agentd_remove_tree(staging);
    if (r < 0) {
        unlink(part);
        log_error("backup.failed", "backup_id=%s error=%d", id, r);
        return osm_error_errno(req, r, "backup failed: %s", strerror(-r));
    }
    resp = backup_commit(req, id, part, path);
    unlink(part);
    backups_prune(ad->backup_dir, OSM_BACKUP_KEEP);
    return resp;
}

json_t *agentd_backup_create(struct osm_request *req)
{
    json_t *resp;

    pthread_mutex_lock(&backup_lock);
    resp = backup_create_locked(req);
    pthread_mutex_unlock(&backup_lock);
    return resp;
}

/* ---- restore ---------------------------------------------------------------------------- */

/* True when a member name of the archive may be extracted: relative, no ".." component. */
static bool member_name_safe(const char *name)
{
    const char *s = name;

    if (*name == '/')
        return false;
    while (*s) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n;
        s += *s == '/';
    }
    return true;
}

/* Lists the archive twice: names (safe paths) and types (plain files and directories only). */
static int archive_check(const char *path)
{
    const char *const names[] = {"tar", "--list", "--gzip", "--file", path, NULL};
    const char *const types[] = {"tar", "--list", "--verbose", "--gzip", "--file", path, NULL};
    const struct agentd_run_opts opts = {
        .timeout_s = OSM_BACKUP_TIMEOUT_S, .stdout_fd = -1, .out_max = OSM_CMD_OUTPUT_MAX};
    _cleanup_free_ char *list = NULL, *verbose = NULL;
    size_t members = 0;
    int r;

    r = agentd_run(names, &opts, &list);
    if (r == 0)
        r = agentd_run(types, &opts, &verbose);
    if (r < 0)
        return r == -ECHILD ? -EBADMSG : r;
    for (char *save = NULL, *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (!member_name_safe(l) || ++members > OSM_BACKUP_FILES_MAX)
            return -EINVAL;
    for (char *save = NULL, *l = strtok_r(verbose, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (l[0] != '-' && l[0] != 'd')
            return -EINVAL;
    return 0;
}

struct restore {
    json_t *files; /* relative paths of the regular files extracted */
};

static int restore_entry(void *ctx, const char *rel, const char *name, const struct stat *st)
{
    struct restore *rs = ctx;

    if (S_ISDIR(st->st_mode))
        return 0;
    if (!S_ISREG(st->st_mode))
        return -EINVAL; /* listing said otherwise: refuse */
    return json_array_append_new(rs->files, json_string(rel)) < 0 ? -ENOMEM : 0;
}

/* Where the state dir's files are inside the extracted tree: our archives hold them at the top,
 * osModa's under the state dir's own path (var/lib/osmoda/...). New string. */
static char *restore_root(const char *staging, const char *state_dir)
{
    _cleanup_free_ char *nested = osm_path_join(staging, state_dir + (*state_dir == '/'));
    struct stat st;

    if (nested && lstat(nested, &st) == 0 && S_ISDIR(st.st_mode))
        return TAKE_PTR(nested);
    return strdup(staging);
}

/* Extracts path into staging and fills files; -EINVAL for an archive we refuse. */
static int restore_extract(const char *path, const char *staging, const char *state_dir,
                           char **ret_root, json_t *files)
{
    const char *const argv[] = {"tar",    "--extract", "--gzip",      "--no-same-owner",
                                "--file", path,        "--directory", staging,
                                NULL};
    struct restore rs = {.files = files};
    int r;

    r = archive_check(path);
    if (r == 0)
        r = tar_run(argv);
    if (r < 0)
        return r == -ECHILD ? -EBADMSG : r;
    *ret_root = restore_root(staging, state_dir);
    if (!*ret_root)
        return -ENOMEM;
    return walk(*ret_root, "", 0, restore_entry, &rs);
}

static bool rel_is_kept(const char *rel)
{
    const char *base = strrchr(rel, '/');

    return name_is_ledger(rel) || name_is_secret(base ? base + 1 : rel);
}

/* Moves one restored file into place; a database's stale -wal/-shm go first. */
static int restore_move(const char *root, const char *state_dir, const char *rel)
{
    _cleanup_free_ char *from = osm_path_join(root, rel), *to = osm_path_join(state_dir, rel);
    _cleanup_free_ char *parent = NULL, *wal = NULL, *shm = NULL;
    char *slash;
    int r;

    if (!from || !to || !(parent = strdup(to)))
        return -ENOMEM;
    slash = strrchr(parent, '/');
    *slash = '\0';
    r = osm_mkdir_p(parent, 0700);
    if (r < 0)
        return r;
    if (file_is_sqlite(from) && asprintf(&wal, "%s-wal", to) >= 0 &&
        asprintf(&shm, "%s-shm", to) >= 0) {
        unlink(wal);
        unlink(shm);
    }
    return rename(from, to) < 0 ? -errno : 0;
}

static json_t *abs_paths(const char *state_dir, const json_t *rels)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    json_array_foreach(rels, i, v)
        json_array_append_new(out, json_sprintf("%s/%s", state_dir, json_string_value(v)));
    return out;
}

/* Records backup.restore (fail closed), then moves the files. */
static json_t *restore_apply(struct osm_request *req, const char *id, const char *path,
                             const char *root, const json_t *files)
{
    const char *state = AGENTD(req)->paths.state_dir;
    json_auto_t *restored = json_array(), *kept = json_array(), *payload = NULL;
    size_t i;
    json_t *f;
    int r;

    json_array_foreach(files, i, f)
        json_array_append(rel_is_kept(json_string_value(f)) ? kept : restored, f);
    payload = json_pack("{s:s, s:s, s:o, s:o}", "backup_id", id, "path", path, "restored",
                        abs_paths(state, restored), "kept", abs_paths(state, kept));
    r = payload ? agentd_record(AGENTD(req), "backup.restore", "agentd", payload, NULL, NULL, NULL)
                : -ENOMEM;
    if (r < 0)
        return agentd_record_error(req, r, "backup.restore");
    json_array_foreach(restored, i, f)
    {
        r = restore_move(root, state, json_string_value(f));
        if (r < 0) {
            log_error("backup.restore_failed", "file=%s error=%d", json_string_value(f), r);
            return osm_error_errno(req, r, "could not restore %s: %s", json_string_value(f),
                                   strerror(-r));
        }
    }
    log_info("backup.restored", "backup_id=%s files=%zu", id, json_array_size(restored));
    return json_pack("{s:s, s:s, s:O, s:O}", "restored_from", id, "status", "restored", "restored",
                     json_object_get(payload, "restored"), "kept",
                     json_object_get(payload, "kept"));
}

static json_t *backup_restore_locked(struct osm_request *req, const char *id, const char *path)
{
    struct agentd *ad = AGENTD(req);
    _cleanup_free_ char *staging = NULL, *root = NULL;
    json_auto_t *files = json_array();
    json_t *resp;
    int r;

    if (asprintf(&staging, "%s/.restore-XXXXXX", ad->paths.state_dir) < 0 || !files)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    if (!mkdtemp(staging))
        return osm_error_errno(req, -errno, "could not create a staging directory");
    r = restore_extract(path, staging, ad->paths.state_dir, &root, files);
    if (r == -EINVAL || r == -EBADMSG)
        resp = osm_error(req, 422, "invalid_backup", NULL,
                         "backup %s is not a plain archive of files (absolute, '..', link or "
                         "device members are refused)",
                         id);
    else if (r < 0)
        resp = osm_error_errno(req, r, "could not extract %s: %s", id, strerror(-r));
    else
        resp = restore_apply(req, id, path, root, files);
    agentd_remove_tree(staging);
    return resp;
}

json_t *agentd_backup_restore(struct osm_request *req)
{
    json_t *backup_id, *err;
    const struct agentd_field fields[] = {{"backup_id", AGENTD_FIELD_STRING, true, &backup_id}};
    _cleanup_free_ char *path = NULL;
    const char *id;
    struct stat st;
    json_t *resp;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    id = json_string_value(backup_id);
    if (!backup_id_valid(id))
        return agentd_field_error(req, "backup_id",
                                  "must be a backup name (backup-[A-Za-z0-9_-]+, at most 64 "
                                  "characters)");
    if (asprintf(&path, "%s/%s" BACKUP_SUFFIX, AGENTD(req)->backup_dir, id) < 0)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return osm_error(req, 404, "not_found", NULL, "backup not found: %s", id);
    pthread_mutex_lock(&backup_lock);
    resp = backup_restore_locked(req, id, path);
    pthread_mutex_unlock(&backup_lock);
    return resp;
}
