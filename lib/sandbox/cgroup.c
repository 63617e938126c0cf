/* Per-job cgroups: memory, pids and cpu limits on cgroup v1 (or v2 where the controllers live
 * there), and the unified hierarchy's cgroup.kill for killing a whole job. Groups are created
 * beside the caller's own cgroup, in <parent>/osmoda-jobs/<name>; the caller's group is never
 * modified. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "sandbox.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define JOBS_DIR "osmoda-jobs"
#define KILL_ROUNDS 20

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

static int read_str(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    ssize_t n;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static bool is_cgroup2(const char *path)
{
    struct statfs sf;

    return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
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

static int mkdir_job(const char *dir)
{
    char parent[PATH_MAX];
    char *slash;

    snprintf(parent, sizeof(parent), "%s", dir);
    slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
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
        snprintf(period, sizeof(period), "100000");
    snprintf(val, sizeof(val), "%lld", atoll(period) * lim->cpu_percent / 100);
    return write_str(dir, "cpu.cfs_quota_us", val);
}

static bool wanted(const char *ctrl, const struct osm_cgroup_limits *lim)
{
    if (strcmp(ctrl, "memory") == 0)
        return lim->memory_bytes > 0;
    if (strcmp(ctrl, "pids") == 0)
        return lim->pids_max > 0;
    return lim->cpu_percent > 0;
}

static char **slot(struct osm_cgroup *cg, const char *ctrl)
{
    return strcmp(ctrl, "memory") == 0 ? &cg->memory
           : strcmp(ctrl, "pids") == 0 ? &cg->pids
                                       : &cg->cpu;
}

static int create_v1(const char *root, const char *name, const struct osm_cgroup_limits *lim,
                     struct osm_cgroup *cg)
{
    static const char *const ctrls[] = {"memory", "pids", "cpu"};
    char mount[PATH_MAX], own[PATH_MAX];
    int first = 0;

    for (size_t i = 0; i < ELEMENTSOF(ctrls); i++) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!wanted(ctrls[i], lim))
            continue;
        r = v1_mount(root, ctrls[i], mount, sizeof(mount));
        if (r == 0)
            r = own_path(ctrls[i], own, sizeof(own));
        if (r == 0 && !(dir = job_dir(mount, own, name)))
            r = -ENOMEM;
        if (r == 0)
            r = mkdir_job(dir);
        if (r == 0)
            *slot(cg, ctrls[i]) = strdup(dir);
        if (r == 0)
            r = v1_limit(dir, ctrls[i], lim);
        if (r < 0 && first == 0)
            first = r;
    }
    return first;
}

static int create_v2_limits(const char *dir, const struct osm_cgroup_limits *lim)
{
    char parent[PATH_MAX], val[64];
    int r = 0;

    /* Enable the controllers for osmoda-jobs/ and its children (best effort: a parent that
     * does not delegate them makes the writes below fail, which is reported). */
    snprintf(parent, sizeof(parent), "%s", dir);
    *strrchr(parent, '/') = '\0';
    (void)write_str(parent, "cgroup.subtree_control", "+memory +pids +cpu");
    if (lim->memory_bytes > 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->memory_bytes);
        r = write_str(dir, "memory.max", val);
        if (r == 0)
            (void)write_str(dir, "memory.swap.max", "0");
    }
    if (r == 0 && lim->pids_max > 0) {
        snprintf(val, sizeof(val), "%lld", (long long)lim->pids_max);
        r = write_str(dir, "pids.max", val);
    }
    if (r == 0 && lim->cpu_percent > 0) {
        snprintf(val, sizeof(val), "%d 100000", lim->cpu_percent * 1000);
        r = write_str(dir, "cpu.max", val);
    }
    return r;
}

int osm_cgroup_create(const char *cgroup_root, const char *name,
                      const struct osm_cgroup_limits *lim, struct osm_cgroup *cg)
{
    const char *root = cgroup_root ? cgroup_root : "/sys/fs/cgroup";
    char unified[PATH_MAX], own[PATH_MAX];
    bool pure_v2 = is_cgroup2(root);
    int r = 0;

    memset(cg, 0, sizeof(*cg));
    if (!osm_filename_valid(name))
        return -EINVAL;
    snprintf(unified, sizeof(unified), pure_v2 ? "%s" : "%s/unified", root);
    if (is_cgroup2(unified) && own_path(NULL, own, sizeof(own)) == 0) {
        cg->unified = job_dir(unified, own, name);
        if (!cg->unified)
            return -ENOMEM;
        r = mkdir_job(cg->unified);
        if (r < 0) {
            free(cg->unified);
            cg->unified = NULL;
        }
    }
    if (pure_v2)
        r = cg->unified ? create_v2_limits(cg->unified, lim) : (r < 0 ? r : -ENOENT);
    else
        r = create_v1(root, name, lim, cg);
    cg->limits_applied = r == 0;
    return r;
}

int osm_cgroup_enter(const struct osm_cgroup *cg, pid_t pid)
{
    const char *dirs[] = {cg->memory, cg->pids, cg->cpu, cg->unified};
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
    const char *dirs[] = {cg->pids, cg->memory, cg->cpu, cg->unified};
    struct timespec ts = {0, 10 * 1000 * 1000};
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
        if (n == 0)
            break;
        total += n;
        nanosleep(&ts, NULL);
    }
    return total;
}

static long long field(const char *dir, const char *file, const char *key)
{
    char buf[4096], *p;
    size_t klen = strlen(key);

    if (!dir || read_str(dir, file, buf, sizeof(buf)) < 0)
        return 0;
    for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return atoll(p + klen + 1);
    return 0;
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
    free(cg->unified);
    memset(cg, 0, sizeof(*cg));
}

void osm_cgroup_destroy(struct osm_cgroup *cg)
{
    char *dirs[] = {cg->memory, cg->pids, cg->cpu, cg->unified};
    struct timespec ts = {0, 20 * 1000 * 1000};

    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        /* A killed group empties asynchronously. */
        for (int tries = 0; dirs[i] && tries < 50; tries++) {
            if (rmdir(dirs[i]) == 0 || errno != EBUSY)
                break;
            nanosleep(&ts, NULL);
        }
    }
    osm_cgroup_clear(cg);
}

int osm_cgroup_find(const char *cgroup_root, const char *name, struct osm_cgroup *cg)
{
    static const char *const ctrls[] = {"memory", "pids", "cpu"};
    const char *root = cgroup_root ? cgroup_root : "/sys/fs/cgroup";
    char mount[PATH_MAX], own[PATH_MAX];
    struct stat st;
    bool pure_v2 = is_cgroup2(root);

    memset(cg, 0, sizeof(*cg));
    if (!osm_filename_valid(name))
        return -EINVAL;
    snprintf(mount, sizeof(mount), pure_v2 ? "%s" : "%s/unified", root);
    if (own_path(NULL, own, sizeof(own)) == 0) {
        char *d = job_dir(mount, own, name);
        if (d && stat(d, &st) == 0)
            cg->unified = d;
        else
            free(d);
    }
    for (size_t i = 0; !pure_v2 && i < ELEMENTSOF(ctrls); i++) {
        char *d;
        if (v1_mount(root, ctrls[i], mount, sizeof(mount)) < 0 ||
            own_path(ctrls[i], own, sizeof(own)) < 0)
            continue;
        d = job_dir(mount, own, name);
        if (d && stat(d, &st) == 0)
            *slot(cg, ctrls[i]) = d;
        else
            free(d);
    }
    return cg->memory || cg->pids || cg->cpu || cg->unified ? 0 : -ENOENT;
}
