/* bubblewrap command lines for ring 2 (its own network namespace, the egress socket bound in)
 * and ring 1, and the validation of extra bind paths. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "sandbox.h"

#define ARGV_MAX 1024

/* What ring 2 sees of /etc: names, DNS, TLS roots, the dynamic linker's cache, Debian's
 * alternatives symlinks. Never shadow, sudoers or osModa's own configuration. */
static const char *const etc_binds[] = {
    "/etc/resolv.conf",  "/etc/hosts",        "/etc/host.conf",       "/etc/nsswitch.conf",
    "/etc/gai.conf",     "/etc/ssl",          "/etc/ca-certificates", "/etc/passwd",
    "/etc/group",        "/etc/alternatives", "/etc/ld.so.cache",     "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/localtime",    "/etc/protocols",       "/etc/services",
    "/etc/mime.types",
};

/* Merged-/usr top-level names: a symlink on the host becomes the same symlink inside. */
static const char *const usr_links[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

/* osModa's forbidden bind roots (osmoda-reference §11). */
static const char *const bind_forbidden[] = {
    "/proc",       "/sys",        "/dev",         "/run",  "/boot",
    "/etc/shadow", "/etc/passwd", "/etc/sudoers", "/root", "/nix/store",
};

struct argv_buf {
    char **v;
    size_t n;
    int err;
};

static void add(struct argv_buf *a, const char *s)
{
    if (a->err)
        return;
    if (a->n + 1 >= ARGV_MAX) {
        a->err = -E2BIG;
        return;
    }
    a->v[a->n] = strdup(s);
    if (!a->v[a->n]) {
        a->err = -ENOMEM;
        return;
    }
    a->v[++a->n] = NULL;
}

static void add2(struct argv_buf *a, const char *x, const char *y)
{
    add(a, x);
    add(a, y);
}

static void add3(struct argv_buf *a, const char *x, const char *y, const char *z)
{
    add(a, x);
    add(a, y);
    add(a, z);
}

static void add_fd(struct argv_buf *a, const char *opt, int fd, const char *dest)
{
    char num[16];

    snprintf(num, sizeof(num), "%d", fd);
    add3(a, opt, num, dest);
}

static void add_system(struct argv_buf *a)
{
    char target[PATH_MAX];
    struct stat st;

    add3(a, "--ro-bind", "/usr", "/usr");
    for (size_t i = 0; i < ELEMENTSOF(usr_links); i++) {
        if (lstat(usr_links[i], &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(usr_links[i], target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            add3(a, "--symlink", target, usr_links[i]);
        } else if (S_ISDIR(st.st_mode)) {
            add3(a, "--ro-bind", usr_links[i], usr_links[i]);
        }
    }
    /* bwrap would make /etc 0700 on the way to its binds: unreadable for the sandbox uid */
    add2(a, "--perms", "0755");
    add2(a, "--dir", "/etc");
    for (size_t i = 0; i < ELEMENTSOF(etc_binds); i++)
        add3(a, "--ro-bind-try", etc_binds[i], etc_binds[i]);
    add3(a, "--ro-bind-try", "/nix/store", "/nix/store");
}

static int egress_port(const struct osm_sandbox_spec *s)
{
    return s->egress_port > 0 ? s->egress_port : OSM_SANDBOX_EGRESS_PORT;
}

static void add_env(struct argv_buf *a, const struct osm_sandbox_spec *s)
{
    add(a, "--clearenv");
    add3(a, "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    add3(a, "--setenv", "HOME", s->ring == 1 ? "/root" : OSM_SANDBOX_INSIDE_WORKSPACE);
    add3(a, "--setenv", "LANG", "C.UTF-8");
    add3(a, "--setenv", "TMPDIR", "/tmp");
    add3(a, "--setenv", "OSMODA_SANDBOX", s->ring == 1 ? "ring1" : "ring2");
    if (s->ring == 2 ? s->egress_socket != NULL : s->network) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", egress_port(s));
        add3(a, "--setenv", "HTTP_PROXY", url);
        add3(a, "--setenv", "HTTPS_PROXY", url);
        add3(a, "--setenv", "http_proxy", url);
        add3(a, "--setenv", "https_proxy", url);
    }
}

/* Whether ring 2 sees path: it lies under something bound into the sandbox. */
static bool ring2_exposes(const struct osm_sandbox_spec *s, const char *path)
{
    if (osm_path_is_under(path, "/usr") || osm_path_is_under(path, "/nix/store"))
        return true;
    for (size_t i = 0; i < ELEMENTSOF(etc_binds); i++)
        if (osm_path_is_under(path, etc_binds[i]))
            return true;
    for (size_t i = 0; i < ELEMENTSOF(usr_links); i++)
        if (osm_path_is_under(path, usr_links[i]))
            return true;
    for (size_t i = 0; i < s->n_fs_read; i++)
        if (osm_path_is_under(path, s->fs_read[i]))
            return true;
    for (size_t i = 0; i < s->n_fs_write; i++)
        if (osm_path_is_under(path, s->fs_write[i]))
            return true;
    return false;
}

/* Secrets out of sight: directories first, then the files not already under one of them. */
static void add_masks(struct argv_buf *a, const struct osm_sandbox_spec *s)
{
    for (size_t i = 0; i < s->n_mask_dirs; i++)
        if (s->ring == 1 || ring2_exposes(s, s->mask_dirs[i]))
            add2(a, "--tmpfs", s->mask_dirs[i]);
    for (size_t i = 0; i < s->n_mask_files; i++) {
        bool under_dir = false;
        for (size_t k = 0; k < s->n_mask_dirs && !under_dir; k++)
            under_dir = osm_path_is_under(s->mask_files[i], s->mask_dirs[k]);
        if (!under_dir && (s->ring == 1 || ring2_exposes(s, s->mask_files[i])))
            add3(a, "--ro-bind", "/dev/null", s->mask_files[i]);
    }
}

/* Ring 2 as root: bwrap keeps host root for the mounts (so it can bind a workspace below the
 * 0700 state dir through an fd) but no user namespace, only the capabilities the init needs to
 * drop to the sandbox uid; the init then runs the command as OSM_SANDBOX_UID. Unprivileged:
 * bwrap builds a user namespace and drops every capability itself. */
static void add_ring2(struct argv_buf *a, const struct osm_sandbox_spec *s, bool root)
{
    if (root) {
        add(a, "--unshare-ipc");
        add(a, "--unshare-pid");
        add(a, "--unshare-uts");
        add(a, "--unshare-cgroup-try");
        add(a, "--unshare-net");
        add(a, "--cap-drop");
        add(a, "ALL");
        add2(a, "--cap-add", "CAP_SETUID");
        add2(a, "--cap-add", "CAP_SETGID");
        add2(a, "--cap-add", "CAP_SETPCAP");
    } else {
        add(a, "--unshare-all");
        add2(a, "--cap-drop", "ALL");
    }
    add_system(a);
    add2(a, "--proc", "/proc");
    add2(a, "--dev", "/dev");
    add2(a, "--tmpfs", "/tmp");
    if (s->workspace_fd >= 0)
        add_fd(a, "--bind-fd", s->workspace_fd, OSM_SANDBOX_INSIDE_WORKSPACE);
    else
        add3(a, "--bind", s->workspace, OSM_SANDBOX_INSIDE_WORKSPACE);
    for (size_t i = 0; i < s->n_fs_read; i++)
        add3(a, "--ro-bind", s->fs_read[i], s->fs_read[i]);
    for (size_t i = 0; i < s->n_fs_write; i++)
        add3(a, "--bind", s->fs_write[i], s->fs_write[i]);
    add_masks(a, s);
    add3(a, "--ro-bind", s->init, OSM_SANDBOX_INSIDE_INIT);
    if (s->egress_socket) {
        /* required: bwrap fails when it is gone; otherwise the relay answers 503 */
        add2(a, "--perms", "0755");
        add2(a, "--dir", "/run");
        add3(a, s->network ? "--ro-bind" : "--ro-bind-try", s->egress_socket,
             OSM_SANDBOX_INSIDE_EGRESS);
    }
    if (!root)
        add2(a, "--chdir", OSM_SANDBOX_INSIDE_WORKSPACE);
}

/* Ring 1: the host's filesystem read-write, but a fresh /proc, /dev and pid namespace, the
 * state and run directories hidden under empty tmpfs, the secrets masked, and the init's
 * seccomp filter. */
static void add_ring1(struct argv_buf *a, const struct osm_sandbox_spec *s)
{
    add(a, "--unshare-ipc");
    add(a, "--unshare-pid");
    add(a, "--unshare-uts");
    add3(a, "--bind", "/", "/");
    add2(a, "--proc", "/proc");
    add2(a, "--dev", "/dev");
    for (size_t i = 0; i < s->n_hide; i++) {
        add2(a, "--tmpfs", s->hide[i]);
        /* the workspace usually lives in the hidden state dir: it stays the agent's */
        if (s->workspace && osm_path_is_under(s->workspace, s->hide[i]))
            add3(a, "--bind", s->workspace, s->workspace);
    }
    add_masks(a, s);
    add3(a, "--ro-bind", s->init, OSM_SANDBOX_INSIDE_INIT);
    if (s->workspace) {
        /* the workspace may live in a hidden directory (the state dir): bring it back */
        add3(a, "--bind", s->workspace, s->workspace);
        add2(a, "--chdir", s->workspace);
    }
}

int osm_sandbox_argv(const struct osm_sandbox_spec *s, char ***ret_argv)
{
    struct argv_buf a = {0};
    bool root = geteuid() == 0;
    char num[16];

    if (!s->command || !s->init || (s->ring != 1 && s->ring != 2) ||
        (s->ring == 2 && !s->workspace && s->workspace_fd < 0))
        return -EINVAL;
    if (strlen(s->command) > OSM_SANDBOX_COMMAND_MAX)
        return -E2BIG;
    a.v = calloc(ARGV_MAX, sizeof(char *));
    if (!a.v)
        return -ENOMEM;
    add(&a, s->bwrap ? s->bwrap : "/usr/bin/bwrap");
    add(&a, "--new-session");
    add(&a, "--die-with-parent");
    if (s->ring == 1)
        add_ring1(&a, s);
    else
        add_ring2(&a, s, root);
    add_env(&a, s);
    add2(&a, "--", OSM_SANDBOX_INSIDE_INIT);
    add2(&a, "--ring", s->ring == 1 ? "1" : "2");
    if (s->ready_fd >= 0) {
        snprintf(num, sizeof(num), "%d", s->ready_fd);
        add2(&a, "--ready-fd", num);
    }
    if (s->ring == 2) {
        if (root) {
            snprintf(num, sizeof(num), "%d", OSM_SANDBOX_UID);
            add2(&a, "--uid", num);
            add2(&a, "--chdir", OSM_SANDBOX_INSIDE_WORKSPACE);
        }
        for (size_t i = 0; i < s->n_fs_read; i++)
            add2(&a, "--ro", s->fs_read[i]);
        for (size_t i = 0; i < s->n_fs_write; i++)
            add2(&a, "--rw", s->fs_write[i]);
        if (s->egress_socket) {
            snprintf(num, sizeof(num), "%d", egress_port(s));
            add2(&a, "--egress-socket", OSM_SANDBOX_INSIDE_EGRESS);
            add2(&a, "--egress-port", num);
            add2(&a, "--tcp-port", num);
        }
    }
    add2(&a, "--", s->command);
    if (a.err) {
        osm_sandbox_argv_free(a.v);
        return a.err;
    }
    *ret_argv = a.v;
    return 0;
}

void osm_sandbox_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

char *osm_sandbox_egress_socket(const char *run_dir)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s/%s.sock", run_dir, OSM_SANDBOX_EGRESS_DIR,
                 OSM_SANDBOX_EGRESS_PRINCIPAL) < 0)
        return NULL;
    return p;
}

bool osm_sandbox_egress_present(const char *path)
{
    struct stat st;

    return path && stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

bool osm_path_is_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (n == 1 && prefix[0] == '/')
        return path[0] == '/';
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
            return true;
    return false;
}

/* Forbidden when the path is below a forbidden root or would expose one (is above it). */
static bool clashes(const char *path, const char *forbidden)
{
    char canon[PATH_MAX];
    const char *f = forbidden;

    if (realpath(forbidden, canon))
        f = canon;
    return osm_path_is_under(path, f) || osm_path_is_under(f, path) ||
           osm_path_is_under(path, forbidden) || osm_path_is_under(forbidden, path);
}

int osm_sandbox_bind_check(const char *path, const char *const *forbidden, size_t n_forbidden,
                           char **ret)
{
    _cleanup_free_ char *canon = NULL;

    if (!path || path[0] != '/' || strlen(path) >= PATH_MAX || has_dotdot(path) ||
        strchr(path, '\n'))
        return -EINVAL;
    canon = realpath(path, NULL);
    if (!canon)
        return errno == ENOENT ? -ENOENT : -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(bind_forbidden); i++)
        if (clashes(canon, bind_forbidden[i]) || clashes(path, bind_forbidden[i]))
            return -EPERM;
    for (size_t i = 0; i < n_forbidden; i++)
        if (forbidden[i] && (clashes(canon, forbidden[i]) || clashes(path, forbidden[i])))
            return -EPERM;
    *ret = TAKE_PTR(canon);
    return 0;
}

int osm_proc_start_time(pid_t pid, uint64_t *ret)
{
    char path[64], buf[1024], *p;
    _cleanup_fclose_ FILE *f = NULL;
    int field = 2;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? -ESRCH : -errno;
    if (!fgets(buf, sizeof(buf), f))
        return -EIO;
    p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    if (!p)
        return -EIO;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22)
        return -EIO;
    *ret = strtoull(p, NULL, 10);
    return 0;
}
