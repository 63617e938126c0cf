/* Per-job cgroups: memory, pids and cpu limits on cgroup v1 (or v2 where the controllers live
 * there), the unified hierarchy's cgroup.kill and cgroup.freeze for killing or freezing a whole
 * job (the v1 freezer where no unified hierarchy is mounted). Groups are created beside the
 * caller's own cgroup, in <parent>/osmoda-jobs/<name>; the caller's group is never modified. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "sandbox.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define DEFAULT_ROOT "/sys/fs/cgroup"
#define JOBS_DIR "osmoda-jobs"
#define KILL_ROUNDS 20                       /* SIGKILL sweeps of the listed pids */
#define KILL_ROUND_NS (10 * 1000 * 1000)     /* between two sweeps */
#define RMDIR_TRIES 50                       /* a killed group empties asynchronously ... */
#define RMDIR_WAIT_NS (20 * 1000 * 1000)     /* ... so rmdir is retried this often */
#define V1_FREEZER_POLL_NS (5 * 1000 * 1000) /* freezer.state has no change notification */
#define CPU_PERIOD_US 100000                 /* cpu.max period (the kernel's default) */
#define EVENTS_MAX 512                       /* bytes of cgroup.events / freezer.state read */

/* The limit controllers, in the order they are enabled and written; bit i of a mask is
 * limit_ctrls[i]. */
static const char *const limit_ctrls[] = {"memory", "pids", "cpu"};

struct layout {
    char root[PATH_MAX];    /* without a trailing slash */
    char unified[PATH_MAX]; /* the cgroup2 hierarchy ("" when there is none) */
    bool v2;                /* the limits live on unified */
};

static int write_str(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    size_t len = strlen(val);

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, val, len) != (ssize_t)len)
        return -errno;
    return 0;
}

static int read_fd(int fd, char *buf, size_t size)
{
    ssize_t n;

    if (lseek(fd, 0, SEEK_SET) < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static int read_str(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return read_fd(fd, buf, size);
}

static bool is_cgroup2(const char *path)
{
    struct statfs sf;

    return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The value of "key N" in a flat keyed file such as cgroup.events, or -1. */
static long long keyed(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return atoll(p + klen + 1);
    return -1;
}

/* path without its last component, into buf; false when it has none. */
static bool parent_of(const char *path, char *buf, size_t size)
{
    char *slash;

    if (snprintf(buf, size, "%s", path) >= (int)size)
        return false;
    slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return false;
    *slash = '\0';
    return true;
}

/* The caller's path on the hierarchy holding controller (NULL = the v2 "0::" line). */
static int own_path(const char *controller, char *buf, size_t size)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024];

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *tok, *save;
        if (!c2)
            continue;
        *c2 = '\0';
        line[strcspn(line, "\n")] = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        if (!controller) {
            if (c1[1] == '\0') {
                snprintf(buf, size, "%s", c2 + 1);
                return 0;
            }
            continue;
        }
        for (tok = strtok_r(c1 + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (strcmp(tok, controller) == 0) {
                snprintf(buf, size, "%s", c2 + 1);
                return 0;
            }
    }
    return -ENOENT;
}

/* <mount>/<dirname(own)>/osmoda-jobs/<name> */
static char *job_dir(const char *mount, const char *own, const char *name)
{
    char parent[PATH_MAX];
    char *slash, *out = NULL;

    snprintf(parent, sizeof(parent), "%s", own);
    slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    if (asprintf(&out, "%s%s/%s/%s", mount, parent, JOBS_DIR, name) < 0)
        return NULL;
    return out;
}

/* The directory of controller's v1 hierarchy (it may be co-mounted: cpu,cpuacct). */
static int v1_mount(const char *root, const char *controller, char *buf, size_t size)
{
    static const char *const combos[] = {"cpu,cpuacct", "cpuacct,cpu"};
    struct stat st;

    snprintf(buf, size, "%s/%s", root, controller);
    if (stat(buf, &st) == 0 && !is_cgroup2(buf))
        return 0;
    if (strcmp(controller, "cpu") == 0)
        for (size_t i = 0; i < ELEMENTSOF(combos); i++) {
            snprintf(buf, size, "%s/%s", root, combos[i]);
            if (stat(buf, &st) == 0)
                return 0;
        }
    return -ENOENT;
}

static void resolve(const struct osm_cgroup_root *r, struct layout *l)
{
    const char *root = r && r->path ? r->path : DEFAULT_ROOT;
    enum osm_cgroup_layout kind = r ? r->layout : OSM_CGROUP_DETECT;
    size_t n;

    snprintf(l->root, sizeof(l->root), "%s", root);
    n = strlen(l->root);
    while (n > 1 && l->root[n - 1] == '/')
        l->root[--n] = '\0';
    l->v2 = kind == OSM_CGROUP_V2 || (kind == OSM_CGROUP_DETECT && is_cgroup2(l->root));
    if (l->v2)
        snprintf(l->unified, sizeof(l->unified), "%s", l->root);
    else if (snprintf(l->unified, sizeof(l->unified), "%s/unified", l->root) >=
                 (int)sizeof(l->unified) ||
             !is_cgroup2(l->unified))
        l->unified[0] = '\0';
}

/* The caller's path on the unified hierarchy: root->own, else the "0::" line. */
static int unified_own(const struct osm_cgroup_root *root, char *buf, size_t size)
{
    if (!root || !root->own)
        return own_path(NULL, buf, size);
    if (root->own[0] != '/' || strstr(root->own, "/../") ||
        (strlen(root->own) >= 3 && strcmp(root->own + strlen(root->own) - 3, "/..") == 0) ||
        snprintf(buf, size, "%s", root->own) >= (int)size)
        return -EINVAL;
    return 0;
}

static int mkdir_job(const char *dir)
{
    char parent[PATH_MAX];

    if (!parent_of(dir, parent, sizeof(parent)))
        return -EINVAL;
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Creates <mount>/<parent of own>/osmoda-jobs/<name>; *ret gets the path (new string). */
static int make_group(const char *mount, const char *own, const char *name, char **ret)
{
    _cleanup_free_ char *dir = job_dir(mount, own, name);
    int r;

    if (!dir)
        return -ENOMEM;
    r = mkdir_job(dir);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(dir);
    return 0;
}

static unsigned wanted(const struct osm_cgroup_limits *lim)
{
    return (lim->memory_bytes > 0 ? 1u : 0) | (lim->pids_max > 0 ? 2u : 0) |
           (lim->cpu_percent > 0 ? 4u : 0);
}

static int v1_limit(const char *dir, const char *ctrl, const struct osm_cgroup_limits *lim)
{
    char val[64], period[64];

    if (strcmp(ctrl, "memory") == 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->memory_bytes);
        /* memsw only exists with swap accounting; then swap counts against the limit too. */
        int r = write_str(dir, "memory.limit_in_bytes", val);
        if (r == 0)
            (void)write_str(dir, "memory.memsw.limit_in_bytes", val);
        return r;
    }
    if (strcmp(ctrl, "pids") == 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->pids_max);
        return write_str(dir, "pids.max", val);
    }
    if (read_str(dir, "cpu.cfs_period_us", period, sizeof(period)) < 0)
        snprintf(period, sizeof(period), "%d", CPU_PERIOD_US);
    snprintf(val, sizeof(val), "%lld", atoll(period) * lim->cpu_percent / 100);
    return write_str(dir, "cpu.cfs_quota_us", val);
}

static char **slot(struct osm_cgroup *cg, const char *ctrl)
{
    return strcmp(ctrl, "memory") == 0 ? &cg->memory
           : strcmp(ctrl, "pids") == 0 ? &cg->pids
           : strcmp(ctrl, "cpu") == 0  ? &cg->cpu
                                       : &cg->freezer;
}

/* One v1 group for ctrl; *slot(cg, ctrl) gets its path. */
static int create_v1_group(const char *root, const char *ctrl, const char *name,
                           struct osm_cgroup *cg)
{
    char mount[PATH_MAX], own[PATH_MAX];
    int r = v1_mount(root, ctrl, mount, sizeof(mount));

    if (r == 0)
        r = own_path(ctrl, own, sizeof(own));
    if (r == 0)
        r = make_group(mount, own, name, slot(cg, ctrl));
    return r;
}

static int create_v1(const char *root, const char *name, const struct osm_cgroup_limits *lim,
                     struct osm_cgroup *cg)
{
    unsigned want = wanted(lim);
    int first = 0;

    for (size_t i = 0; i < ELEMENTSOF(limit_ctrls); i++) {
        int r;

        if (!(want & (1u << i)))
            continue;
        r = create_v1_group(root, limit_ctrls[i], name, cg);
        if (r == 0)
            r = v1_limit(*slot(cg, limit_ctrls[i]), limit_ctrls[i], lim);
        if (r < 0 && first == 0)
            first = r;
    }
    return first;
}

/* The controllers of mask that dir/cgroup.controllers does not list, in *ret_missing. */
static int missing_controllers(const char *dir, unsigned mask, unsigned *ret_missing)
{
    char buf[EVENTS_MAX], *tok, *save;
    unsigned have = 0;
    int r = read_str(dir, "cgroup.controllers", buf, sizeof(buf));

    if (r < 0)
        return r;
    for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
        for (size_t i = 0; i < ELEMENTSOF(limit_ctrls); i++)
            if (strcmp(tok, limit_ctrls[i]) == 0)
                have |= 1u << i;
    *ret_missing = mask & ~have;
    return 0;
}

/* Writes "+memory +pids +cpu" (the controllers of mask) to dir/cgroup.subtree_control. */
static int subtree_enable(const char *dir, unsigned mask)
{
    char val[64] = "";
    int r;

    for (size_t i = 0; i < ELEMENTSOF(limit_ctrls); i++)
        if (mask & (1u << i)) {
            size_t n = strlen(val);
            snprintf(val + n, sizeof(val) - n, "%s+%s", n ? " " : "", limit_ctrls[i]);
        }
    r = write_str(dir, "cgroup.subtree_control", val);
    /* The kernel says ENOENT for a controller its parent does not offer. */
    return r == -ENOENT ? -EOPNOTSUPP : r;
}

/* Makes the controllers of mask available in dir: those it lacks are enabled in its parent's
 * subtree_control, going up as far as needed but never above root. -EOPNOTSUPP when even
 * root lacks one (it is bound to v1 or not built). */
static int make_available(const char *root, const char *dir, unsigned mask)
{
    char parent[PATH_MAX];
    unsigned missing;
    int r = missing_controllers(dir, mask, &missing);

    if (r < 0 || missing == 0)
        return r;
    if (strlen(dir) <= strlen(root) || !parent_of(dir, parent, sizeof(parent)) ||
        strlen(parent) < strlen(root))
        return -EOPNOTSUPP;
    r = make_available(root, parent, missing);
    return r < 0 ? r : subtree_enable(parent, missing);
}

static int create_v2_limits(const char *root, const char *dir, const struct osm_cgroup_limits *lim)
{
    char jobs[PATH_MAX], val[64];
    unsigned want = wanted(lim);
    int r;

    if (want == 0)
        return 0;
    if (!parent_of(dir, jobs, sizeof(jobs)))
        return -EINVAL;
    r = make_available(root, jobs, want);
    if (r == 0)
        r = subtree_enable(jobs, want);
    if (r == 0 && lim->memory_bytes > 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->memory_bytes);
        r = write_str(dir, "memory.max", val);
        if (r == 0)
            (void)write_str(dir, "memory.swap.max", "0"); /* absent without swap accounting */
    }
    if (r == 0 && lim->pids_max > 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->pids_max);
        r = write_str(dir, "pids.max", val);
    }
    if (r == 0 && lim->cpu_percent > 0) {
        snprintf(val, sizeof(val), "%lld %d", (long long)CPU_PERIOD_US * lim->cpu_percent / 100,
                 CPU_PERIOD_US);
        r = write_str(dir, "cpu.max", val);
    }
    return r;
}

int osm_cgroup_create_at(const struct osm_cgroup_root *root, const char *name,
                         const struct osm_cgroup_limits *lim, struct osm_cgroup *cg)
{
    struct layout l;
    char own[PATH_MAX];
    int r = -ENOENT;

    memset(cg, 0, sizeof(*cg));
    if (!osm_filename_valid(name))
        return -EINVAL;
    resolve(root, &l);
    if (l.unified[0]) {
        r = unified_own(root, own, sizeof(own));
        if (r == 0)
            r = make_group(l.unified, own, name, &cg->unified);
    }
    if (l.v2) {
        if (r == 0)
            r = create_v2_limits(l.root, cg->unified, lim);
    } else {
        r = create_v1(l.root, name, lim, cg);
        /* Without a unified group the v1 freezer is what FREEZE can use (best effort: no
         * limit depends on it). */
        if (!cg->unified)
            (void)create_v1_group(l.root, "freezer", name, cg);
    }
    cg->limits_applied = r == 0;
    return r;
}

int osm_cgroup_create(const char *cgroup_root, const char *name,
                      const struct osm_cgroup_limits *lim, struct osm_cgroup *cg)
{
    struct osm_cgroup_root root = {.path = cgroup_root, .layout = OSM_CGROUP_DETECT};

    return osm_cgroup_create_at(&root, name, lim, cg);
}

int osm_cgroup_enter(const struct osm_cgroup *cg, pid_t pid)
{
    const char *dirs[] = {cg->memory, cg->pids, cg->cpu, cg->freezer, cg->unified};
    char num[32];
    int first = 0;

    snprintf(num, sizeof(num), "%d", pid > 0 ? (int)pid : (int)getpid());
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        int r;
        if (!dirs[i])
            continue;
        r = write_str(dirs[i], "cgroup.procs", num);
        if (r < 0 && first == 0)
            first = r;
    }
    return first;
}

/* Waits until dir/cgroup.events says "frozen <want>" or deadline (monotonic ms) passes; the
 * kernel signals every change of the file as POLLPRI. */
static int wait_v2(const char *dir, bool want, int64_t deadline)
{
    char path[PATH_MAX], buf[EVENTS_MAX];
    _cleanup_close_ int fd = -1;

    if (snprintf(path, sizeof(path), "%s/cgroup.events", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLPRI};
        int64_t left;
        int r = read_fd(fd, buf, sizeof(buf)); /* re-arms the notification */

        if (r < 0)
            return r;
        if (keyed(buf, "frozen") == (want ? 1 : 0))
            return 0;
        left = deadline - osm_monotonic_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
            return -errno;
    }
}

/* Waits until dir/freezer.state reads FROZEN or THAWED (v1 has no notification: a short
 * paced poll, bounded by deadline). */
static int wait_v1(const char *dir, bool want, int64_t deadline)
{
    const char *state = want ? "FROZEN" : "THAWED";
    struct timespec ts = {0, V1_FREEZER_POLL_NS};
    char buf[EVENTS_MAX];

    for (;;) {
        int r = read_str(dir, "freezer.state", buf, sizeof(buf));
        if (r < 0)
            return r;
        if (strncmp(buf, state, strlen(state)) == 0)
            return 0;
        if (osm_monotonic_ms() >= deadline)
            return -ETIMEDOUT;
        nanosleep(&ts, NULL);
    }
}

static int set_frozen(const struct osm_cgroup *cg, bool on, int timeout_ms)
{
    int64_t deadline = osm_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int r = 0;

    if (!cg->unified && !cg->freezer)
        return -EOPNOTSUPP;
    /* Both requests first, so the two hierarchies freeze at the same time. */
    if (cg->unified)
        r = write_str(cg->unified, "cgroup.freeze", on ? "1" : "0");
    if (r == 0 && cg->freezer)
        r = write_str(cg->freezer, "freezer.state", on ? "FROZEN" : "THAWED");
    if (r < 0 || timeout_ms <= 0)
        return r;
    if (cg->unified)
        r = wait_v2(cg->unified, on, deadline);
    if (r == 0 && cg->freezer)
        r = wait_v1(cg->freezer, on, deadline);
    return r;
}

int osm_cgroup_freeze(const struct osm_cgroup *cg, int timeout_ms)
{
    return set_frozen(cg, true, timeout_ms);
}

int osm_cgroup_thaw(const struct osm_cgroup *cg, int timeout_ms)
{
    return set_frozen(cg, false, timeout_ms);
}

static int kill_listed(const char *dir)
{
    char path[PATH_MAX], line[64];
    _cleanup_fclose_ FILE *f = NULL;
    int n = 0;

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    while (fgets(line, sizeof(line), f)) {
        pid_t p = (pid_t)atoi(line);
        if (p > 0 && kill(p, SIGKILL) == 0)
            n++;
    }
    return n;
}

int osm_cgroup_kill(const struct osm_cgroup *cg)
{
    const char *dirs[] = {cg->pids, cg->memory, cg->cpu, cg->freezer, cg->unified};
    struct timespec ts = {0, KILL_ROUND_NS};
    int total = 0;

    if (cg->unified && write_str(cg->unified, "cgroup.kill", "1") == 0)
        total = 1;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int n = 0;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
            int r = dirs[i] ? kill_listed(dirs[i]) : 0;
            if (r > 0)
                n += r;
        }
        /* A task frozen by the v1 freezer keeps its SIGKILL pending until thawed (v2's
         * freezer lets fatal signals through). */
        if (round == 0 && cg->freezer)
            (void)write_str(cg->freezer, "freezer.state", "THAWED");
        if (n == 0)
            break;
        total += n;
        nanosleep(&ts, NULL);
    }
    return total;
}

static long long field(const char *dir, const char *file, const char *key)
{
    char buf[4096];
    long long v;

    if (!dir || read_str(dir, file, buf, sizeof(buf)) < 0)
        return 0;
    v = keyed(buf, key);
    return v > 0 ? v : 0;
}

bool osm_cgroup_oom_killed(const struct osm_cgroup *cg)
{
    return field(cg->memory, "memory.oom_control", "oom_kill") > 0 ||
           field(cg->memory, "memory.events", "oom_kill") > 0 ||
           (!cg->memory && field(cg->unified, "memory.events", "oom_kill") > 0);
}

bool osm_cgroup_pids_hit(const struct osm_cgroup *cg)
{
    return field(cg->pids, "pids.events", "max") > 0 ||
           (!cg->pids && field(cg->unified, "pids.events", "max") > 0);
}

void osm_cgroup_clear(struct osm_cgroup *cg)
{
    free(cg->memory);
    free(cg->pids);
    free(cg->cpu);
    free(cg->freezer);
    free(cg->unified);
    memset(cg, 0, sizeof(*cg));
}

void osm_cgroup_destroy(struct osm_cgroup *cg)
{
    char *dirs[] = {cg->memory, cg->pids, cg->cpu, cg->freezer, cg->unified};
    struct timespec ts = {0, RMDIR_WAIT_NS};

    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        for (int tries = 0; dirs[i] && tries < RMDIR_TRIES; tries++) {
            if (rmdir(dirs[i]) == 0 || errno != EBUSY)
                break;
            nanosleep(&ts, NULL);
        }
    }
    osm_cgroup_clear(cg);
}

/* *ret = <mount>/<parent of own>/osmoda-jobs/<name> when that directory exists. */
static void find_group(const char *mount, const char *own, const char *name, char **ret)
{
    char *d = job_dir(mount, own, name);
    struct stat st;

    if (d && stat(d, &st) == 0)
        *ret = d;
    else
        free(d);
}

int osm_cgroup_find_at(const struct osm_cgroup_root *root, const char *name, struct osm_cgroup *cg)
{
    static const char *const ctrls[] = {"memory", "pids", "cpu", "freezer"};
    char mount[PATH_MAX], own[PATH_MAX];
    struct layout l;

    memset(cg, 0, sizeof(*cg));
    if (!osm_filename_valid(name))
        return -EINVAL;
    resolve(root, &l);
    if (l.unified[0] && unified_own(root, own, sizeof(own)) == 0)
        find_group(l.unified, own, name, &cg->unified);
    for (size_t i = 0; !l.v2 && i < ELEMENTSOF(ctrls); i++)
        if (v1_mount(l.root, ctrls[i], mount, sizeof(mount)) == 0 &&
            own_path(ctrls[i], own, sizeof(own)) == 0)
            find_group(mount, own, name, slot(cg, ctrls[i]));
    return cg->memory || cg->pids || cg->cpu || cg->freezer || cg->unified ? 0 : -ENOENT;
}

int osm_cgroup_find(const char *cgroup_root, const char *name, struct osm_cgroup *cg)
{
    struct osm_cgroup_root root = {.path = cgroup_root, .layout = OSM_CGROUP_DETECT};

    return osm_cgroup_find_at(&root, name, cg);
}
