/* lib/sandbox/cgroup.c: the job groups on the hierarchies of this host (v1 limits, a real
 * cgroup2 tree used as a v2 root for freeze/thaw/kill, the v1 freezer), and the v2 limit files
 * against a fixture directory laid out as a pure v2 hierarchy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "sandbox/sandbox.h"

#define WAIT_MS 20000 /* deadline of an awaited kernel event; reached only on failure */

/* What the current test leaves behind if an assertion ends it early: fini cleans up. */
static struct {
    pid_t child;
    struct osm_cgroup cg;
    char fixture[PATH_MAX];
    char link[PATH_MAX];
} t;

/* snprintf that fails the test instead of truncating. */
#define FMT(buf, size, ...) cr_assert_lt(snprintf(buf, size, __VA_ARGS__), (int)(size))

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("cgroups are writable by root only");
}

static void read_file(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "re");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "we");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void assert_file(const char *dir, const char *file, const char *want)
{
    char buf[256];

    read_file(dir, file, buf, sizeof(buf));
    cr_assert_str_eq(buf, want, "%s/%s: '%s', want '%s'", dir, file, buf, want);
}

/* The cgroup of pid (0: this process) on the hierarchy of controller (NULL: the unified one,
 * the "0::" line of /proc/PID/cgroup); "" when there is none. */
static void cgroup_of(pid_t pid, const char *controller, char *buf, size_t size)
{
    char path[64], line[1024];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", pid ? (int)pid : (int)getpid());
    f = fopen(path, "re");
    cr_assert_not_null(f);
    buf[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        char *list = strchr(line, ':'), *end = list ? strchr(list + 1, ':') : NULL;
        bool match = false;
        if (!end)
            continue;
        *end = '\0';
        if (!controller)
            match = list[1] == '\0';
        for (char *tok = strtok(list + 1, ","); controller && tok; tok = strtok(NULL, ","))
            match = match || strcmp(tok, controller) == 0;
        if (match) {
            end[1 + strcspn(end + 1, "\n")] = '\0';
            snprintf(buf, size, "%s", end + 1);
        }
    }
    fclose(f);
}

/* Where the library puts group name: <mount>/<parent of own>/osmoda-jobs/<name>. */
static void expected_dir(const char *mount, const char *own, const char *name, char *buf,
                         size_t size)
{
    char parent[PATH_MAX];

    snprintf(parent, sizeof(parent), "%s", own);
    *strrchr(parent, '/') = '\0';
    FMT(buf, size, "%s%s/osmoda-jobs/%s", mount, parent, name);
}

/* The mount point of the first file system of type fstype whose super options contain opt
 * (NULL: any), from /proc/self/mountinfo; false when there is none. */
static bool find_mount(const char *fstype, const char *opt, char *buf, size_t size)
{
    char line[2048];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    bool found = false;

    cr_assert_not_null(f);
    while (!found && fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], type[64], super[1024];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", type, super) != 2 || strcmp(type, fstype) != 0)
            continue;
        for (char *tok = strtok(super, ","); !found && tok; tok = strtok(NULL, ","))
            found = !opt || strcmp(tok, opt) == 0;
        if (!opt)
            found = true;
        if (found)
            snprintf(buf, size, "%s", mnt);
    }
    fclose(f);
    return found;
}

/* A child that spins without ever blocking, counting in *counter: only a freezer can make it
 * stop running. Dies with this test process. */
static pid_t spinner(volatile unsigned long *counter)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            (*counter)++;
    }
    return pid;
}

static volatile unsigned long *shared_counter(void)
{
    void *p = mmap(NULL, sizeof(unsigned long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);

    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* The state letter of /proc/PID/status ("R", "S", "D", ...). */
static char proc_state(pid_t pid)
{
    char path[64], line[256];
    char state = '?';
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "State:", 6) == 0)
            state = line[6 + strspn(line + 6, " \t")];
    fclose(f);
    return state;
}

/* Waits with inotify until dir/file contains text; false at the deadline. */
static bool await_content(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX], buf[512];
    int64_t deadline = osm_monotonic_ms() + WAIT_MS;
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    bool found = false;

    cr_assert_geq(fd, 0);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    cr_assert_geq(inotify_add_watch(fd, path, IN_MODIFY), 0, "%s: %s", path, strerror(errno));
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - osm_monotonic_ms();
        char ev[4096];

        read_file(dir, file, buf, sizeof(buf));
        found = strstr(buf, text) != NULL;
        if (found || left <= 0)
            break;
        poll(&p, 1, (int)left);
        while (read(fd, ev, sizeof(ev)) > 0)
            ;
    }
    close(fd);
    return found;
}

/* Waits until *counter moves past since (the child runs again); false at the deadline. */
static bool await_progress(volatile unsigned long *counter, unsigned long since)
{
    int64_t deadline = osm_monotonic_ms() + WAIT_MS;
    struct timespec pace = {0, 1000 * 1000};

    while (*counter == since && osm_monotonic_ms() < deadline)
        nanosleep(&pace, NULL);
    return *counter != since;
}

/* Reaps pid, awaited through a pidfd (a task the kill missed fails the test at the deadline
 * instead of hanging it), and checks SIGKILL ended it. */
static void assert_killed(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0), status;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    cr_assert_geq(fd, 0, "pidfd_open: %s", strerror(errno));
    cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "pid %d did not die", (int)pid);
    close(fd);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    t.child = 0;
}

static void rm_fixture(const char *dir)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)!system(cmd);
}

/* Writes text to dir/file if it can (cleanup: no assertion). */
static void poke(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX + 32];
    int fd;

    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, text, strlen(text));
        close(fd);
    }
}

static void cleanup(void)
{
    if (t.child > 0) {
        int fd = (int)syscall(SYS_pidfd_open, t.child, 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};

        /* thawed by hand, not through the code under test: a frozen v1 task ignores SIGKILL */
        poke(t.cg.freezer, "freezer.state", "THAWED");
        poke(t.cg.unified, "cgroup.freeze", "0");
        kill(t.child, SIGKILL);
        (void)osm_cgroup_kill(&t.cg); /* its children too */
        if (fd >= 0 && poll(&p, 1, WAIT_MS) == 1)
            waitpid(t.child, NULL, 0);
        if (fd >= 0)
            close(fd);
    }
    osm_cgroup_destroy(&t.cg);
    if (t.link[0])
        rm_fixture(t.link);
    if (t.fixture[0])
        rm_fixture(t.fixture);
}

TestSuite(cgroup, .fini = cleanup);

Test(cgroup, invalid_names_create_nothing)
{
    struct osm_cgroup_root fixture = {.path = "/nonexistent", .layout = OSM_CGROUP_V2};
    struct osm_cgroup_limits lim = {.pids_max = 8};
    static const char *const bad[] = {"", ".", "..", "a/b", "../x"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(osm_cgroup_create_at(&fixture, bad[i], &lim, &t.cg), -EINVAL, "%s", bad[i]);
        cr_assert_null(t.cg.unified);
        cr_assert_eq(osm_cgroup_find_at(&fixture, bad[i], &t.cg), -EINVAL);
    }
    fixture.own = "/a/../..";
    cr_assert_eq(osm_cgroup_create_at(&fixture, "x", &lim, &t.cg), -EINVAL);
    fixture.own = "relative";
    cr_assert_eq(osm_cgroup_create_at(&fixture, "x", &lim, &t.cg), -EINVAL);
    /* nothing to freeze: an error, not a silent success */
    cr_assert_eq(osm_cgroup_freeze(&t.cg, 0), -EOPNOTSUPP);
}

/* The limits on whatever hierarchy holds them on this host (v1 here, v2 on a pure v2 host),
 * and a kill that reaches a tree which left its session. */
Test(cgroup, limits_on_this_host_and_kill)
{
    struct osm_cgroup_limits lim = {.memory_bytes = 64 << 20, .pids_max = 8, .cpu_percent = 50};
    char name[64], buf[64];
    int r, ready[2];

    need_root();
    snprintf(name, sizeof(name), "unit-limits-%d", (int)getpid());
    r = osm_cgroup_create(NULL, name, &lim, &t.cg);
    cr_assert_eq(r, 0, "create: %s (no hierarchy here can hold the limits)", strerror(-r));
    cr_assert(t.cg.limits_applied);
    if (t.cg.pids) { /* v1 */
        assert_file(t.cg.pids, "pids.max", "8\n");
        assert_file(t.cg.memory, "memory.limit_in_bytes", "67108864\n");
        read_file(t.cg.cpu, "cpu.cfs_period_us", buf, sizeof(buf));
        snprintf(buf, sizeof(buf), "%lld\n", atoll(buf) / 2);
        assert_file(t.cg.cpu, "cpu.cfs_quota_us", buf);
    } else { /* pure v2 */
        cr_assert_not_null(t.cg.unified);
        assert_file(t.cg.unified, "pids.max", "8\n");
        assert_file(t.cg.unified, "memory.max", "67108864\n");
        assert_file(t.cg.unified, "cpu.max", "50000 100000\n");
    }
    cr_assert_eq(pipe(ready), 0);
    t.child = fork();
    if (t.child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (osm_cgroup_enter(&t.cg, 0) < 0)
            _exit(1);
        setsid();
        for (int i = 0; i < 3; i++)
            if (fork() == 0)
                break; /* a small tree, in its own session: killpg of the parent misses it */
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    for (int i = 0; i < 4; i++) /* the child and its three children are in the group */
        cr_assert_eq(read(ready[0], buf, 1), 1);
    close(ready[0]);
    cr_assert_gt(osm_cgroup_kill(&t.cg), 0);
    assert_killed(t.child);
    if (t.cg.pids)
        assert_file(t.cg.pids, "cgroup.procs", "");
    osm_cgroup_destroy(&t.cg);
    cr_assert_null(t.cg.memory);
}

/* A real cgroup2 tree (here /sys/fs/cgroup/unified, without controllers; /sys/fs/cgroup on a
 * pure v2 host) used as the v2 root: create, enter, freeze, thaw, kill while frozen, remove. */
Test(cgroup, v2_freeze_thaw_kill_on_a_real_cgroup2_tree)
{
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2};
    struct osm_cgroup_limits none = {0};
    char mount[PATH_MAX], own[PATH_MAX], want[PATH_MAX], line[PATH_MAX], name[64];
    volatile unsigned long *counter = shared_counter();
    unsigned long frozen_at;
    struct stat st;

    need_root();
    if (!find_mount("cgroup2", NULL, mount, sizeof(mount)))
        cr_skip_test("no cgroup2 hierarchy is mounted");
    cgroup_of(0, NULL, own, sizeof(own));
    cr_assert_neq(own[0], '\0', "no 0:: line in /proc/self/cgroup");
    root.path = mount;
    snprintf(name, sizeof(name), "unit-v2-%d", (int)getpid());
    expected_dir(mount, own, name, want, sizeof(want));

    cr_assert_eq(osm_cgroup_create_at(&root, name, &none, &t.cg), 0);
    cr_assert_str_eq(t.cg.unified, want);
    cr_assert(t.cg.limits_applied); /* none were asked for */
    cr_assert_null(t.cg.memory);
    cr_assert_null(t.cg.freezer);

    t.child = spinner(counter);
    cr_assert_eq(osm_cgroup_enter(&t.cg, t.child), 0);
    snprintf(line, sizeof(line), "%d\n", (int)t.child);
    assert_file(t.cg.unified, "cgroup.procs", line);
    cgroup_of(t.child, NULL, line, sizeof(line));
    cr_assert_str_eq(line, want + strlen(mount));
    cgroup_of(0, NULL, line, sizeof(line)); /* ours is unchanged */
    cr_assert_str_eq(line, own);

    /* freeze: requested, then awaited in cgroup.events (inotify, independently of the
     * library's own wait) */
    cr_assert_eq(osm_cgroup_freeze(&t.cg, 0), 0);
    assert_file(t.cg.unified, "cgroup.freeze", "1\n");
    cr_assert(await_content(t.cg.unified, "cgroup.events", "frozen 1"));
    /* a process that never blocks is asleep only because the freezer holds it */
    cr_assert_eq(proc_state(t.child), 'S');
    frozen_at = *counter;

    /* thaw with the library's wait: back to frozen 0, and it runs again */
    cr_assert_eq(osm_cgroup_thaw(&t.cg, WAIT_MS), 0);
    cr_assert(await_content(t.cg.unified, "cgroup.events", "frozen 0"));
    cr_assert(await_progress(counter, frozen_at), "the child did not run after the thaw");

    /* freeze with the library's wait: frozen on return */
    cr_assert_eq(osm_cgroup_freeze(&t.cg, WAIT_MS), 0);
    read_file(t.cg.unified, "cgroup.events", line, sizeof(line));
    cr_assert(strstr(line, "frozen 1"), "%s", line);
    cr_assert_eq(proc_state(t.child), 'S');

    /* cgroup.kill ends a frozen group */
    cr_assert_gt(osm_cgroup_kill(&t.cg), 0);
    assert_killed(t.child);
    cr_assert(await_content(t.cg.unified, "cgroup.events", "populated 0"));
    snprintf(want, sizeof(want), "%s", t.cg.unified);
    osm_cgroup_destroy(&t.cg);
    cr_assert_eq(stat(want, &st), -1);
    cr_assert_eq(errno, ENOENT);
}

/* Where the unified tree offers no limit controllers (this host's), asking for limits there
 * is a clear error; on a pure v2 host the limits are really set. */
Test(cgroup, v2_limits_need_the_controllers)
{
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2};
    struct osm_cgroup_limits lim = {.pids_max = 16};
    char mount[PATH_MAX], ctrls[256], name[64];
    int r;

    need_root();
    if (!find_mount("cgroup2", NULL, mount, sizeof(mount)))
        cr_skip_test("no cgroup2 hierarchy is mounted");
    root.path = mount;
    read_file(mount, "cgroup.controllers", ctrls, sizeof(ctrls));
    snprintf(name, sizeof(name), "unit-v2-lim-%d", (int)getpid());
    r = osm_cgroup_create_at(&root, name, &lim, &t.cg);
    cr_assert_not_null(t.cg.unified);
    if (strstr(ctrls, "pids")) {
        cr_assert_eq(r, 0, "%s", strerror(-r));
        assert_file(t.cg.unified, "pids.max", "16\n");
    } else {
        cr_assert_eq(r, -EOPNOTSUPP, "%s", strerror(-r));
        cr_assert_not(t.cg.limits_applied);
    }
}

/* The v1 freezer, used where no unified hierarchy exists: a root that holds only the host's
 * v1 freezer mount (a symlink to it) has no unified/. */
Test(cgroup, v1_freezer_without_a_unified_hierarchy)
{
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V1};
    struct osm_cgroup_limits none = {0};
    char mount[PATH_MAX], own[PATH_MAX], want[PATH_MAX], name[64], link[PATH_MAX + 16];
    volatile unsigned long *counter = shared_counter();
    struct osm_cgroup found;

    need_root();
    if (!find_mount("cgroup", "freezer", mount, sizeof(mount)))
        cr_skip_test("no cgroup v1 freezer is mounted");
    cgroup_of(0, "freezer", own, sizeof(own));
    cr_assert_neq(own[0], '\0');
    snprintf(t.link, sizeof(t.link), "/tmp/osmoda-cg-v1-XXXXXX");
    cr_assert_not_null(mkdtemp(t.link));
    snprintf(link, sizeof(link), "%s/freezer", t.link);
    cr_assert_eq(symlink(mount, link), 0);
    root.path = t.link;
    snprintf(name, sizeof(name), "unit-v1fz-%d", (int)getpid());
    expected_dir(link, own, name, want, sizeof(want));

    cr_assert_eq(osm_cgroup_create_at(&root, name, &none, &t.cg), 0);
    cr_assert_null(t.cg.unified);
    cr_assert_str_eq(t.cg.freezer, want);
    cr_assert_eq(osm_cgroup_find_at(&root, name, &found), 0);
    cr_assert_str_eq(found.freezer, want);
    cr_assert_null(found.unified);
    osm_cgroup_clear(&found);

    t.child = spinner(counter);
    cr_assert_eq(osm_cgroup_enter(&t.cg, t.child), 0);
    cr_assert_eq(osm_cgroup_freeze(&t.cg, WAIT_MS), 0);
    assert_file(t.cg.freezer, "freezer.state", "FROZEN\n");
    cr_assert_eq(proc_state(t.child), 'D'); /* the v1 refrigerator */
    cr_assert_eq(osm_cgroup_thaw(&t.cg, WAIT_MS), 0);
    assert_file(t.cg.freezer, "freezer.state", "THAWED\n");
    cr_assert(await_progress(counter, *counter), "the child did not run after the thaw");

    /* a v1-frozen task keeps SIGKILL pending until thawed: kill must thaw */
    cr_assert_eq(osm_cgroup_freeze(&t.cg, WAIT_MS), 0);
    cr_assert_gt(osm_cgroup_kill(&t.cg), 0);
    assert_killed(t.child);
    osm_cgroup_destroy(&t.cg);
    cr_assert_eq(access(want, F_OK), -1);
}

/* -- v2 limit files against a FIXTURE: a temporary directory laid out as a pure v2 hierarchy
 * (real v2 limits cannot be set on this host, whose unified tree has no controllers). The
 * kernel's side (creating interface files, propagating enabled controllers) is laid out in
 * advance; what is checked is exactly what the library writes. */

#define FIXTURE_OWN "/system.slice/osmoda-agentd.service"

struct fixture {
    char root[PATH_MAX];  /* the "hierarchy" */
    char slice[PATH_MAX]; /* <root>/system.slice: parent of own, where osmoda-jobs is made */
    char jobs[PATH_MAX];  /* <slice>/osmoda-jobs */
    char job[PATH_MAX];   /* <jobs>/<name> */
};

static void fixture_level(const char *dir, const char *controllers)
{
    cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "%s: %s", dir, strerror(errno));
    write_file(dir, "cgroup.controllers", controllers);
    write_file(dir, "cgroup.subtree_control", "");
}

static void fixture_make(struct fixture *f, const char *name, const char *root_ctrls,
                         const char *slice_ctrls, const char *jobs_ctrls)
{
    static const char *const files[] = {"memory.max",    "memory.swap.max", "pids.max",
                                        "cpu.max",       "cgroup.procs",    "cgroup.events",
                                        "cgroup.freeze", "cgroup.kill"};

    snprintf(t.fixture, sizeof(t.fixture), "/tmp/osmoda-cg-v2-XXXXXX");
    cr_assert_not_null(mkdtemp(t.fixture));
    FMT(f->root, sizeof(f->root), "%s", t.fixture);
    FMT(f->slice, sizeof(f->slice), "%s/system.slice", f->root);
    FMT(f->jobs, sizeof(f->jobs), "%s/osmoda-jobs", f->slice);
    FMT(f->job, sizeof(f->job), "%s/%s", f->jobs, name);
    fixture_level(f->root, root_ctrls);
    fixture_level(f->slice, slice_ctrls);
    fixture_level(f->jobs, jobs_ctrls);
    cr_assert_eq(mkdir(f->job, 0755), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        write_file(f->job, files[i], "");
}

static const struct osm_cgroup_limits fixture_limits = {
    .memory_bytes = 256LL << 20, .pids_max = 64, .cpu_percent = 150};

Test(cgroup, v2_fixture_limits_written_exactly)
{
    struct fixture f;
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2, .own = FIXTURE_OWN};
    struct osm_cgroup found;

    fixture_make(&f, "job1", "cpu memory pids", "cpu io memory pids", "cpu io memory pids");
    root.path = f.root;
    cr_assert_eq(osm_cgroup_create_at(&root, "job1", &fixture_limits, &t.cg), 0);
    cr_assert(t.cg.limits_applied);
    cr_assert_str_eq(t.cg.unified, f.job);
    cr_assert_null(t.cg.memory);
    cr_assert_null(t.cg.pids);
    assert_file(f.job, "memory.max", "268435456");
    assert_file(f.job, "memory.swap.max", "0");
    assert_file(f.job, "pids.max", "64");
    assert_file(f.job, "cpu.max", "150000 100000"); /* 1.5 CPUs: quota, then period */
    assert_file(f.jobs, "cgroup.subtree_control", "+memory +pids +cpu");
    /* osmoda-jobs already had them: nothing above it is touched */
    assert_file(f.slice, "cgroup.subtree_control", "");
    assert_file(f.root, "cgroup.subtree_control", "");
    cr_assert_eq(osm_cgroup_find_at(&root, "job1", &found), 0);
    cr_assert_str_eq(found.unified, f.job);
    cr_assert_null(found.pids);
    osm_cgroup_clear(&found);
    cr_assert_eq(osm_cgroup_find_at(&root, "job2", &found), -ENOENT);
}

Test(cgroup, v2_fixture_only_the_limits_asked_for)
{
    struct fixture f;
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2, .own = FIXTURE_OWN};
    struct osm_cgroup_limits lim = {.pids_max = 5};

    fixture_make(&f, "job1", "cpu memory pids", "cpu memory pids", "cpu memory pids");
    root.path = f.root;
    cr_assert_eq(osm_cgroup_create_at(&root, "job1", &lim, &t.cg), 0);
    assert_file(f.jobs, "cgroup.subtree_control", "+pids");
    assert_file(f.job, "pids.max", "5");
    assert_file(f.job, "memory.max", "");
    assert_file(f.job, "cpu.max", "");
}

/* osmoda-jobs lacks every controller and its parent lacks pids and cpu: they are enabled
 * from the nearest ancestor that has them down to osmoda-jobs. */
Test(cgroup, v2_fixture_enables_controllers_down_the_path)
{
    struct fixture f;
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2, .own = FIXTURE_OWN};

    fixture_make(&f, "job1", "cpu io memory pids", "memory", "");
    root.path = f.root;
    cr_assert_eq(osm_cgroup_create_at(&root, "job1", &fixture_limits, &t.cg), 0);
    assert_file(f.root, "cgroup.subtree_control", "+pids +cpu");
    assert_file(f.slice, "cgroup.subtree_control", "+memory +pids +cpu");
    assert_file(f.jobs, "cgroup.subtree_control", "+memory +pids +cpu");
    assert_file(f.job, "pids.max", "64");
}

/* The hierarchy's root does not offer cpu (bound to v1, or not built): a clear error, no
 * subtree_control and no limit file written. */
Test(cgroup, v2_fixture_missing_controller_is_an_error_and_writes_nothing)
{
    struct fixture f;
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2, .own = FIXTURE_OWN};

    fixture_make(&f, "job1", "memory pids", "memory pids", "memory pids");
    root.path = f.root;
    cr_assert_eq(osm_cgroup_create_at(&root, "job1", &fixture_limits, &t.cg), -EOPNOTSUPP);
    cr_assert_not(t.cg.limits_applied);
    cr_assert_str_eq(t.cg.unified, f.job); /* kept for the caller to destroy */
    assert_file(f.root, "cgroup.subtree_control", "");
    assert_file(f.slice, "cgroup.subtree_control", "");
    assert_file(f.jobs, "cgroup.subtree_control", "");
    assert_file(f.job, "memory.max", "");
    assert_file(f.job, "pids.max", "");
    assert_file(f.job, "cpu.max", "");
}

/* A parent that refuses to enable a controller (the kernel's ENOENT/EBUSY; here its
 * subtree_control file is missing): the error is reported and no limit is written. */
Test(cgroup, v2_fixture_parent_refusing_is_an_error)
{
    struct fixture f;
    struct osm_cgroup_root root = {.layout = OSM_CGROUP_V2, .own = FIXTURE_OWN};
    char path[PATH_MAX + 32];

    fixture_make(&f, "job1", "cpu memory pids", "cpu memory pids", "memory");
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", f.slice);
    cr_assert_eq(unlink(path), 0);
    root.path = f.root;
    cr_assert_eq(osm_cgroup_create_at(&root, "job1", &fixture_limits, &t.cg), -EOPNOTSUPP);
    assert_file(f.jobs, "cgroup.subtree_control", "");
    assert_file(f.job, "memory.max", "");
}
