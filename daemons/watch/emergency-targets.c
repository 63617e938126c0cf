/* The agent's processes and cgroups for the emergency controls: which groups there are and how
 * each can be frozen, the processes in them and of the agent user, and ending them all
 * (SIGTERM, a grace period awaited on pidfds, then SIGKILL / cgroup.kill). */
#include <dirent.h>
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
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "emergency-internal.h"
#include "sandbox/sandbox.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define CGROUP_DEPTH_MAX 16 /* nested groups walked below an agent cgroup */

static const char *const method_names[] = {
    [EM_CGROUP2] = "cgroup2", [EM_FREEZER] = "freezer", [EM_SIGSTOP] = "sigstop"};

const char *em_method_name(enum em_method m)
{
    return method_names[m];
}

int em_method_parse(const char *s, enum em_method *ret)
{
    for (size_t i = 0; s && i < ELEMENTSOF(method_names); i++)
        if (strcmp(s, method_names[i]) == 0) {
            *ret = (enum em_method)i;
            return 0;
        }
    return -EINVAL;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

unsigned long long em_proc_start(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    _cleanup_fclose_ FILE *f = NULL;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "re")))
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    /* after the command's closing parenthesis: state is field 3, starttime field 22 */
    if (!(p = strrchr(buf, ')')))
        return 0;
    p++;
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (p)
        start = strtoull(p + 1, NULL, 10);
    return start;
}

static bool has_file(const char *dir, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static enum em_method group_method(const char *path)
{
    struct statfs sf;

    if (statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC &&
        has_file(path, "cgroup.freeze"))
        return EM_CGROUP2;
    return has_file(path, "freezer.state") ? EM_FREEZER : EM_SIGSTOP;
}

static bool listed(const struct em_targets *t, pid_t pid)
{
    for (size_t i = 0; i < t->n_procs; i++)
        if (t->procs[i].pid == pid)
            return true;
    return false;
}

static int add_proc(struct em_targets *t, pid_t pid, bool in_group)
{
    unsigned long long start;

    if (pid <= 1 || pid == getpid() || listed(t, pid))
        return 0;
    if (t->n_procs >= EMERGENCY_PIDS_MAX) {
        t->truncated = true;
        return 0;
    }
    if (!t->procs && !(t->procs = calloc(EMERGENCY_PIDS_MAX, sizeof(*t->procs))))
        return -ENOMEM;
    if ((start = em_proc_start(pid)) == 0)
        return 0; /* gone already */
    t->procs[t->n_procs++] = (struct em_proc){.pid = pid, .start = start, .in_group = in_group};
    return 0;
}

/* The processes of dir and its descendants; *self set when watch is among them. */
static int walk_group(struct em_targets *t, const char *dir, bool in_group, bool *self, int depth)
{
    char path[PATH_MAX], line[32];
    _cleanup_fclose_ FILE *f = NULL;
    DIR *d;
    struct dirent *e;
    int r = 0;

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    if ((f = fopen(path, "re")))
        while (r == 0 && fgets(line, sizeof(line), f)) {
            pid_t pid = (pid_t)atoi(line);
            if (pid == getpid())
                *self = true;
            r = add_proc(t, pid, in_group);
        }
    if (r < 0 || depth >= CGROUP_DEPTH_MAX || !(d = opendir(dir)))
        return r;
    while (r == 0 && (e = readdir(d)))
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
                r = walk_group(t, path, in_group, self, depth + 1);
        }
    closedir(d);
    return r;
}

static int add_group(struct em_targets *t, const char *path)
{
    struct em_group g = {.method = group_method(path)};
    size_t first = t->n_procs;
    struct em_group *grown;
    bool self = false;
    int r;

    if (!(g.path = strdup(path)))
        return -ENOMEM;
    r = walk_group(t, path, g.method != EM_SIGSTOP, &self, 0);
    if (self) /* freezing or killing this group would take watch with it */
        for (g.method = EM_SIGSTOP; first < t->n_procs; first++)
            t->procs[first].in_group = false;
    grown = realloc(t->groups, (t->n_groups + 1) * sizeof(*grown));
    if (r < 0 || !grown) {
        free(g.path);
        return r < 0 ? r : -ENOMEM;
    }
    t->groups = grown;
    t->groups[t->n_groups++] = g;
    return 0;
}

static int add_user_procs(struct em_targets *t, uid_t uid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int r = 0;

    if (!d)
        return -errno;
    while (r == 0 && (e = readdir(d))) {
        char path[64];
        struct stat st;
        pid_t pid = (pid_t)atoi(e->d_name);

        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        if (stat(path, &st) == 0 && st.st_uid == uid)
            r = add_proc(t, pid, false);
    }
    closedir(d);
    return r;
}

int em_targets_collect(const char *const *cgroups, bool have_uid, uid_t uid, struct em_targets *t)
{
    int r = 0;

    memset(t, 0, sizeof(*t));
    for (size_t i = 0; r == 0 && cgroups && cgroups[i]; i++)
        if (access(cgroups[i], F_OK) == 0)
            r = add_group(t, cgroups[i]);
    if (r == 0 && have_uid && uid != 0)
        r = add_user_procs(t, uid);
    if (r < 0)
        em_targets_clear(t);
    return r;
}

void em_targets_clear(struct em_targets *t)
{
    for (size_t i = 0; i < t->n_groups; i++)
        free(t->groups[i].path);
    free(t->groups);
    free(t->procs);
    memset(t, 0, sizeof(*t));
}

char *em_targets_methods(const struct em_targets *t)
{
    bool used[ELEMENTSOF(method_names)] = {false};
    char buf[64] = "";

    for (size_t i = 0; i < t->n_groups; i++)
        used[t->groups[i].method] = true;
    for (size_t i = 0; i < t->n_procs; i++)
        if (!t->procs[i].in_group)
            used[EM_SIGSTOP] = true;
    for (size_t i = 0; i < ELEMENTSOF(method_names); i++)
        if (used[i]) {
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", method_names[i]);
        }
    return strdup(buf[0] ? buf : "none");
}

json_t *em_pids_json(const struct em_proc *p, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(p[i].pid));
    return a;
}

json_t *em_groups_json(const struct em_group *g, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:s}", "path", g[i].path, "method", em_method_name(g[i].method)));
    return a;
}

static struct osm_cgroup group_cg(const struct em_group *g)
{
    struct osm_cgroup cg = {0};

    if (g->method == EM_CGROUP2)
        cg.unified = g->path;
    else if (g->method == EM_FREEZER)
        cg.freezer = g->path;
    return cg;
}

int em_group_freeze(const struct em_group *g, bool on)
{
    struct osm_cgroup cg = group_cg(g);

    if (g->method == EM_SIGSTOP)
        return -EOPNOTSUPP;
    return on ? osm_cgroup_freeze(&cg, EMERGENCY_FREEZE_TIMEOUT_MS)
              : osm_cgroup_thaw(&cg, EMERGENCY_FREEZE_TIMEOUT_MS);
}

/* A pidfd for p, or -errno (-ESRCH when p is gone or its pid was reused). */
static int proc_pidfd(const struct em_proc *p)
{
    int fd = pidfd_open_(p->pid);

    if (fd < 0)
        return -errno;
    /* the pidfd names whatever has the pid now: check it is still the process we listed */
    if (em_proc_start(p->pid) != p->start) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

int em_proc_signal(const struct em_proc *p, int sig)
{
    _cleanup_close_ int fd = proc_pidfd(p);

    if (fd < 0)
        return fd;
    return pidfd_signal(fd, sig) < 0 ? -errno : 0;
}

/* Waits until every fd in fds (pidfds; -1 entries skipped) has exited or deadline passes; an
 * exited one is closed and set to -1. Returns how many are left. */
static size_t await_exit(int *fds, size_t n, int64_t deadline)
{
    _cleanup_free_ struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
    size_t left;

    for (;;) {
        size_t k = 0;
        int64_t wait;

        for (size_t i = 0; i < n; i++)
            if (fds[i] >= 0 && p)
                p[k++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        left = k;
        wait = deadline - osm_monotonic_ms();
        if (left == 0 || wait <= 0 || !p)
            return left;
        if (poll(p, k, wait > INT_MAX ? INT_MAX : (int)wait) < 0 && errno != EINTR)
            return left;
        for (size_t j = 0; j < k; j++)
            if (p[j].revents)
                for (size_t i = 0; i < n; i++)
                    if (fds[i] == p[j].fd) {
                        close(fds[i]);
                        fds[i] = -1;
                    }
    }
}

/* SIGKILL for every group (cgroup.kill on v2; v1 frozen groups thawed so the kill lands) and
 * every process still open in fds. Returns how many processes were signalled. */
static int kill_all(const struct em_targets *t, int *fds)
{
    int n = 0;

    for (size_t i = 0; i < t->n_groups; i++) {
        struct osm_cgroup cg = group_cg(&t->groups[i]);
        if (t->groups[i].method == EM_CGROUP2)
            (void)osm_cgroup_kill(&cg); /* recursive in the kernel */
    }
    for (size_t i = 0; i < t->n_procs; i++)
        if (fds[i] >= 0 && pidfd_signal(fds[i], SIGKILL) == 0)
            n++;
    for (size_t i = 0; i < t->n_groups; i++)
        if (t->groups[i].method == EM_FREEZER)
            (void)em_group_freeze(&t->groups[i], false);
    return n;
}

/* Processes the groups gained since t was collected, SIGKILLed. */
static int kill_newcomers(const struct em_targets *t)
{
    struct em_targets late = {0};
    int n = 0;

    for (size_t i = 0; i < t->n_groups; i++) {
        bool self = false;
        (void)walk_group(&late, t->groups[i].path, true, &self, 0);
    }
    for (size_t i = 0; i < late.n_procs; i++)
        if (em_proc_signal(&late.procs[i], SIGKILL) == 0)
            n++;
    em_targets_clear(&late);
    return n;
}

int em_targets_end(struct em_targets *t, int grace_ms, json_t **ret)
{
    _cleanup_free_ int *fds = calloc(t->n_procs ? t->n_procs : 1, sizeof(int));
    size_t left = 0, alive;
    json_t *remaining;
    int killed = 0;

    if (!fds)
        return -ENOMEM;
    for (size_t i = 0; i < t->n_procs; i++) {
        fds[i] = proc_pidfd(&t->procs[i]);
        if (fds[i] >= 0 && grace_ms > 0)
            (void)pidfd_signal(fds[i], SIGTERM);
        left += fds[i] >= 0;
    }
    alive = grace_ms > 0 ? await_exit(fds, t->n_procs, osm_monotonic_ms() + grace_ms) : left;
    if (alive > 0 || t->n_groups > 0) {
        killed = kill_all(t, fds) + kill_newcomers(t);
        (void)await_exit(fds, t->n_procs, osm_monotonic_ms() + EMERGENCY_KILL_WAIT_MS);
    }
    remaining = json_array();
    for (size_t i = 0; i < t->n_procs; i++)
        if (fds[i] >= 0) {
            json_array_append_new(remaining, json_integer(t->procs[i].pid));
            close(fds[i]);
        }
    *ret = json_pack("{s:I, s:i, s:o}", "terminated", (json_int_t)(left - alive), "killed", killed,
                     "remaining", remaining);
    return *ret ? 0 : -ENOMEM;
}
