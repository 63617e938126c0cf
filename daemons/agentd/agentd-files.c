/* file_read, file_write, directory_list, and what a held file call shows its approver.
 *
 * Every path is resolved once, with openat2 (lib/policy/resolve.h): beneath the agent workspace
 * (RESOLVE_BENEATH) for a relative path, /workspace/... or the workspace's host path, from the
 * root otherwise; magic links are refused and `..` and symlinks followed to their real target.
 * What was resolved is checked right here, at run time, whatever the executor decided before
 * (the call may have waited for an approval meanwhile): the policy judges this very target
 * (protected paths and secrets by path and identity; a host write needs a rule or an approval),
 * an approved call must still reach the target its approver saw, and the state dir, the run
 * dir and /run/osmoda are refused. The file is then used through the resolved fds (re-opened
 * through /proc/self/fd, or created below the resolved directory with O_EXCL | O_NOFOLLOW), so
 * nothing is looked up by name between the check and the use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-approvals.h"
#include "agentd-tools.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/utf8.h"
#include "policy/preview.h"
#include "sandbox/sandbox.h"
#include "tools/result.h"

#define DIR_LIST_DEPTH_MAX 32 /* directory levels a recursive listing descends */
#define FILE_CREATE_MODE 0644 /* a file file_write creates */
#define DIR_CREATE_MODE 0755  /* the directories it creates on the way */
#define PREVIEW_DIRS_MAX 64   /* directories to be created a preview names */

struct target {
    struct osm_resolved r;
    bool in_workspace;
    uid_t owner; /* what is created in the workspace belongs to its owner */
    gid_t group;
    char detail[256]; /* the policy's reason for a refusal */
};

static void target_clear(struct target *t)
{
    osm_resolved_clear(&t->r);
}

static const char *resolve_error(int r, bool in_workspace)
{
    switch (r) {
    case -EXDEV:
        return "path_escapes_workspace";
    case -ELOOP:
        return in_workspace ? "path_escapes_workspace" : "path_unresolvable";
    case -ENOENT:
        return "not_found";
    case -ENOTDIR:
        return "not_a_directory";
    case -EINVAL:
    case -ENAMETOOLONG:
        return "invalid_path";
    default:
        return "io_error";
    }
}

/* Resolves path into t (in the workspace or on the host), refusing agentd's own places. */
static int target_resolve(struct agentd *ad, const char *path, struct target *t,
                          const char **ret_error)
{
    const char *rel;
    int r;

    osm_resolved_init(&t->r);
    if (!path || !*path || strlen(path) >= PATH_MAX || strchr(path, '\n')) {
        *ret_error = "invalid_path";
        return -EINVAL;
    }
    rel = osm_policy_workspace_rel(agentd_workspace(ad), path);
    t->in_workspace = rel != NULL;
    if (rel) {
        const char *wsp = agentd_workspace(ad);
        _cleanup_close_ int ws = wsp ? open(wsp, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        struct stat st;
        if (ws < 0 || fstat(ws, &st) < 0) {
            *ret_error = "workspace_unavailable";
            return ws < 0 && !wsp ? -ENOENT : -errno;
        }
        t->owner = st.st_uid;
        t->group = st.st_gid;
        r = osm_resolve(ws, rel, OSM_RESOLVE_BENEATH, &t->r);
    } else {
        r = osm_resolve(AT_FDCWD, path, 0, &t->r);
    }
    if (r < 0) {
        *ret_error = resolve_error(r, t->in_workspace);
        return r;
    }
    if (agentd_path_protected(ad, t->r.path)) {
        target_clear(t);
        *ret_error = "protected_path";
        return -EPERM;
    }
    return 0;
}

/* The target an approver saw must be the one a released call reaches now: same canonical path,
 * and a file that was new then is still new (and an existing one still exists). A call an
 * allow-always grant let through was judged against its grant's path or prefix. */
static int check_approved_target(struct osm_exec_call *call, const struct target *t,
                                 const char **ret_error)
{
    json_auto_t *preview = call->approval_id && call->job_id
                               ? agentd_approval_preview(AGENTD_OF(call), call->approval_id)
                               : NULL;
    const char *seen = json_string_value(json_object_get(preview, "target_sha256"));
    const char *action = json_string_value(json_object_get(preview, "action"));
    char now[65];

    if (call->approval_id && !call->job_id)
        return 0;
    if (!seen) {
        *ret_error = "target_unverified";
        return -EPERM;
    }
    osm_preview_target_hash(t->r.path, now);
    if (strcmp(seen, now) != 0 || (action && (strcmp(action, "create") == 0) != (t->r.fd < 0))) {
        *ret_error = "target_changed";
        return -EPERM;
    }
    return 0;
}

/* The run-time decision on the resolved target (see the top of the file). */
static int target_check(struct osm_exec_call *call, struct target *t, const char **ret_error)
{
    struct osm_policy_query q = {.tool = call->tool->name,
                                 .cls = call->tool->cls,
                                 .ring = call->ring,
                                 .args = call->args,
                                 .workspace = agentd_workspace(AGENTD_OF(call))};
    struct osm_policy_verdict v;

    osm_exec_decide_resolved(call->exec, &q, "path", &t->r, &v);
    snprintf(t->detail, sizeof(t->detail), "%.60s%s%.180s", v.rule, v.detail[0] ? ": " : "",
             v.detail);
    if (v.decision == OSM_POLICY_DENY) {
        *ret_error = strcmp(v.rule, "secret") == 0      ? "secret"
                     : strcmp(v.rule, "protected") == 0 ? "protected_path"
                                                        : "denied";
        return -EPERM;
    }
    if (v.decision == OSM_POLICY_APPROVE && !call->approved) {
        *ret_error = "approval_required";
        return -EPERM;
    }
    if (v.decision == OSM_POLICY_APPROVE)
        return check_approved_target(call, t, ret_error);
    return 0;
}

static json_t *fail(const char *code, const char *path, int r, const struct target *t)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "error", code, "path", path ? path : "", "message",
                          strerror(r < 0 ? -r : r));

    if (o && t && t->detail[0])
        json_object_set_new(o, "detail", json_string(t->detail));
    return o;
}

/* Resolves and checks the call's path; the tools' common start. */
static int target_open(struct osm_exec_call *call, const char *path, struct target *t,
                       const char **ret_error)
{
    int r;

    t->detail[0] = '\0';
    if ((r = target_resolve(AGENTD_OF(call), path, t, ret_error)) < 0)
        return r;
    if ((r = target_check(call, t, ret_error)) < 0)
        target_clear(t);
    return r;
}

static json_t *file_read(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    json_t *ml = json_object_get(call->args, "maxLines");
    int64_t max_lines = json_is_integer(ml) ? json_integer_value(ml) : OSM_FILE_READ_MAX_LINES;
    struct target t = {0};
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    size_t len = 0, cut, lines = 0;
    struct stat st;
    ssize_t n;
    int r;

    if ((r = target_open(call, path, &t, ret_error)) < 0)
        return fail(*ret_error, path, r, &t);
    st = t.r.st;
    if (t.r.fd < 0 || !S_ISREG(st.st_mode)) {
        r = t.r.fd < 0 ? ENOENT : EINVAL;
        *ret_error = t.r.fd < 0            ? "not_found"
                     : S_ISDIR(st.st_mode) ? "is_a_directory"
                                           : "not_a_regular_file";
        target_clear(&t);
        return fail(*ret_error, path, r, NULL);
    }
    fd = osm_resolved_reopen(&t.r, O_RDONLY | O_NONBLOCK);
    target_clear(&t);
    if (fd < 0) {
        *ret_error = "io_error";
        return fail(*ret_error, path, fd, NULL);
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

/* Opens the target for writing: the existing regular file through its fd, or a new one below
 * the resolved directory (workspace files belong to the workspace's owner). */
static int open_for_write(const struct target *t, bool append, const char **ret_error)
{
    uid_t uid = t->in_workspace ? t->owner : (uid_t)-1;
    gid_t gid = t->in_workspace ? t->group : (gid_t)-1;
    int fd;

    if (t->r.fd >= 0 && !S_ISREG(t->r.st.st_mode)) {
        *ret_error = S_ISDIR(t->r.st.st_mode) ? "is_a_directory" : "not_a_regular_file";
        return -EINVAL;
    }
    if (t->r.fd >= 0)
        fd = osm_resolved_reopen(&t->r, O_WRONLY | (append ? O_APPEND : O_TRUNC));
    else
        fd = osm_resolved_create(&t->r, O_WRONLY, FILE_CREATE_MODE, DIR_CREATE_MODE, uid, gid);
    if (fd >= 0 && t->r.fd >= 0 && t->in_workspace && geteuid() == 0)
        (void)fchown(fd, t->owner, t->group);
    if (fd < 0)
        *ret_error = fd == -EEXIST || fd == -ELOOP || fd == -ENOTDIR || fd == -ESTALE
                         ? "target_changed"
                         : "io_error";
    return fd;
}

/* The content, then fsync: file_write answers only once it is on disk. */
static int write_synced(int fd, const char *data, size_t len)
{
    int r = osm_write_all(fd, data, len);

    return r < 0 ? r : fsync(fd) < 0 ? -errno : 0;
}

static json_t *file_write(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    json_t *cj = json_object_get(call->args, "content");
    bool append = json_is_true(json_object_get(call->args, "append"));
    struct target t = {0};
    const char *content = json_string_value(cj);
    size_t len = json_string_length(cj);
    _cleanup_close_ int fd = -1;
    int r;

    if (!content) {
        *ret_error = "invalid_arguments";
        return fail(*ret_error, path, EINVAL, NULL);
    }
    if (len > OSM_FILE_WRITE_MAX_BYTES) {
        *ret_error = "too_large";
        return fail(*ret_error, path, EFBIG, NULL);
    }
    if ((r = target_open(call, path, &t, ret_error)) < 0)
        return fail(*ret_error, path, r, &t);
    fd = open_for_write(&t, append, ret_error);
    target_clear(&t);
    if (fd < 0)
        return fail(*ret_error, path, fd, NULL);
    if ((r = write_synced(fd, content, len)) < 0) {
        *ret_error = "io_error";
        return fail(*ret_error, path, r, NULL);
    }
    return json_pack("{s:s, s:I, s:b, s:b}", "path", path, "bytes_written", (json_int_t)len,
                     "appended", append, "in_workspace", t.in_workspace);
}

static const char *type_of(mode_t m)
{
    return S_ISDIR(m) ? "directory" : S_ISREG(m) ? "file" : S_ISLNK(m) ? "symlink" : "other";
}

struct listing {
    struct agentd *ad;
    bool recursive;
    json_t *list;
    size_t seen;
};

/* Lists dir_fd (whose canonical path is base) into l->list; prefix names entries of
 * subdirectories. Never follows symlinks, never descends into agentd's own places. */
static int list_dir(struct listing *l, int dir_fd, const char *base, const char *prefix, int depth)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    while ((e = readdir(d)) && l->seen < OSM_DIR_LIST_SCAN_MAX) {
        char name[PATH_MAX], sub_base[PATH_MAX], sub_prefix[PATH_MAX];
        struct stat st;
        int sub;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (snprintf(name, sizeof(name), "%s%s", prefix, e->d_name) >= (int)sizeof(name))
            continue;
        l->seen++;
        json_array_append_new(l->list,
                              json_pack("{s:s, s:s, s:I}", "name", name, "type",
                                        type_of(st.st_mode), "size", (json_int_t)st.st_size));
        if (!l->recursive || depth >= DIR_LIST_DEPTH_MAX || !S_ISDIR(st.st_mode) ||
            snprintf(sub_base, sizeof(sub_base), "%s/%s", strcmp(base, "/") ? base : "",
                     e->d_name) >= (int)sizeof(sub_base) ||
            agentd_path_protected(l->ad, sub_base) ||
            snprintf(sub_prefix, sizeof(sub_prefix), "%s/", name) >= (int)sizeof(sub_prefix))
            continue;
        sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        list_dir(l, sub, sub_base, sub_prefix, depth + 1);
        close(sub);
    }
    closedir(d);
    return 0;
}

static json_t *directory_list(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "path"));
    json_t *off = json_object_get(call->args, "offset"),
           *lim = json_object_get(call->args, "limit");
    const char *grep = json_string_value(json_object_get(call->args, "grep"));
    struct listing l = {.ad = AGENTD_OF(call),
                        .recursive = json_is_true(json_object_get(call->args, "recursive"))};
    struct target t = {0};
    char base[PATH_MAX];
    _cleanup_close_ int fd = -1;
    json_t *page;
    int r;

    if ((r = target_open(call, path, &t, ret_error)) < 0)
        return fail(*ret_error, path, r, &t);
    if (t.r.fd < 0 || !S_ISDIR(t.r.st.st_mode)) {
        r = t.r.fd < 0 ? ENOENT : ENOTDIR;
        *ret_error = t.r.fd < 0 ? "not_found" : "not_a_directory";
        target_clear(&t);
        return fail(*ret_error, path, r, NULL);
    }
    snprintf(base, sizeof(base), "%s", t.r.path);
    fd = osm_resolved_reopen(&t.r, O_RDONLY | O_DIRECTORY);
    target_clear(&t);
    l.list = json_array();
    if (fd < 0 || !l.list || list_dir(&l, fd, base, "", 0) < 0) {
        json_decref(l.list);
        *ret_error = "io_error";
        return fail(*ret_error, path, fd < 0 ? fd : errno, NULL);
    }
    page = osm_result_page(l.list, json_is_integer(off) ? json_integer_value(off) : 0,
                           json_is_integer(lim) ? json_integer_value(lim) : OSM_DIR_LIST_DEFAULT,
                           grep);
    json_decref(l.list);
    if (page) {
        json_object_set_new(page, "path", json_string(path));
        json_object_set_new(page, "scan_truncated", json_boolean(l.seen >= OSM_DIR_LIST_SCAN_MAX));
    }
    return page;
}

/* ---- what the approver sees ------------------------------------------------------------- */

/* The directories osm_resolved_create would make, outermost first (heap strings in dirs). */
static size_t create_dirs(const struct target *t, char **dirs, size_t max)
{
    size_t len = strlen(t->r.path) - strlen(t->r.missing), n = 0;

    for (const char *c = t->r.missing; *c && n < max; c++)
        if (*c == '/') {
            size_t end = len + (size_t)(c - t->r.missing);
            dirs[n] = strndup(t->r.path, end);
            if (dirs[n])
                n++;
        }
    return n;
}

static json_t *write_preview(const struct target *t, const json_t *args)
{
    json_t *cj = json_object_get(args, "content");
    char *dirs[PREVIEW_DIRS_MAX];
    struct osm_preview_input in = {
        .target = t->r.path,
        .fd = -1,
        .st = t->r.st,
        .uid = t->in_workspace ? t->owner : geteuid(),
        .gid = t->in_workspace                                            ? t->group
               : (t->r.n_missing == 1 && (t->r.dir_st.st_mode & S_ISGID)) ? t->r.dir_st.st_gid
                                                                          : getegid(),
        .mode = FILE_CREATE_MODE,
        .create_dirs = (const char *const *)dirs,
        .content = json_string_value(cj),
        .len = json_string_length(cj),
        .append = json_is_true(json_object_get(args, "append")),
    };
    json_t *preview = NULL;
    int r;

    if (!in.content)
        return json_pack("{s:s}", "error", "invalid_arguments");
    in.n_create_dirs = create_dirs(t, dirs, ELEMENTSOF(dirs));
    if (t->r.fd >= 0 && S_ISREG(t->r.st.st_mode))
        in.fd = osm_resolved_reopen(&t->r, O_RDONLY | O_NONBLOCK);
    else if (t->r.fd >= 0)
        in.fd = dup(t->r.fd); /* not read: the preview says it is not a regular file */
    r = t->r.fd >= 0 && in.fd < 0 ? in.fd : osm_preview_build(&in, &preview);
    if (in.fd >= 0)
        close(in.fd);
    for (size_t i = 0; i < in.n_create_dirs; i++)
        free(dirs[i]);
    if (r < 0)
        return json_pack("{s:s, s:s}", "error", "io_error", "message", strerror(-r));
    return preview;
}

/* What a held file call would touch, for its approver (osm_exec_preview_fn): for file_write the
 * diff or head, owner, group and mode (lib/policy/preview.h), for file_read and directory_list
 * the resolved target; {"error"} when it cannot be resolved. */
static json_t *preview(const struct osm_exec_call *call)
{
    struct agentd *ad = AGENTD_OF(call);
    const char *tool = call->tool->name;
    const json_t *args = call->args;
    const char *path = json_string_value(json_object_get(args, "path"));
    bool write = strcmp(tool, "file_write") == 0;
    const char *error = NULL;
    struct target t = {0};
    json_t *preview;

    if (!write && strcmp(tool, "file_read") != 0 && strcmp(tool, "directory_list") != 0)
        return NULL;
    if (target_resolve(ad, path, &t, &error) < 0)
        return json_pack("{s:s}", "error", error ? error : "workspace_unavailable");
    if (write)
        preview = write_preview(&t, args);
    else {
        char hash[65];
        bool cut;
        _cleanup_free_ char *shown =
            osm_preview_escape(t.r.path, strlen(t.r.path), 4 * PATH_MAX, &cut);
        osm_preview_target_hash(t.r.path, hash);
        preview = json_pack("{s:s?, s:s, s:s}", "target", shown, "target_sha256", hash, "action",
                            strcmp(tool, "file_read") == 0 ? "read" : "list");
    }
    target_clear(&t);
    return preview;
}

const struct agentd_handler agentd_file_handlers[] = {
    {"file_read", file_read, preview, false},
    {"file_write", file_write, preview, false},
    {"directory_list", directory_list, preview, false},
};
const size_t agentd_n_file_handlers = ELEMENTSOF(agentd_file_handlers);
