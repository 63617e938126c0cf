/* lib/sandbox: bwrap command lines, bind-path validation, and the filters applied for real in a
 * forked child (seccomp denials, Landlock confinement). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static bool has_seq(char **argv, const char *a, const char *b, const char *c)
{
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], a) == 0 && (!b || (argv[i + 1] && strcmp(argv[i + 1], b) == 0)) &&
            (!c || (argv[i + 1] && argv[i + 2] && strcmp(argv[i + 2], c) == 0)))
            return true;
    return false;
}

static size_t index_of(char **argv, const char *a)
{
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], a) == 0)
            return i;
    return (size_t)-1;
}

Test(sandbox, ring2_argv_confines)
{
    struct osm_sandbox_spec s = {.ring = 2,
                                 .init = "/x/init",
                                 .workspace = "/srv/ws",
                                 .workspace_fd = -1,
                                 .ready_fd = 7,
                                 .command = "echo hi"};
    char **argv = NULL;

    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_assert(has_seq(argv, "--new-session", NULL, NULL));
    cr_assert(has_seq(argv, "--die-with-parent", NULL, NULL));
    cr_assert(has_seq(argv, "--ro-bind", "/usr", "/usr"));
    cr_assert(has_seq(argv, "--bind", "/srv/ws", "/workspace"));
    cr_assert(has_seq(argv, "--tmpfs", "/tmp", NULL));
    cr_assert(has_seq(argv, "--clearenv", NULL, NULL));
    cr_assert(has_seq(argv, "--setenv", "HOME", "/workspace"));
    cr_assert(!has_seq(argv, "--share-net", NULL, NULL));
    cr_assert(has_seq(argv, "--ro-bind-try", "/etc/passwd", "/etc/passwd"));
    cr_assert(!has_seq(argv, "--ro-bind-try", "/etc/shadow", NULL));
    cr_assert(!has_seq(argv, "--ro-bind", "/etc", "/etc"));
    if (geteuid() == 0) {
        cr_assert(has_seq(argv, "--unshare-net", NULL, NULL));
        cr_assert(has_seq(argv, "--uid", "65534", NULL)); /* the init drops to nobody */
        cr_assert(!has_seq(argv, "--cap-add", "CAP_SYS_ADMIN", NULL));
    } else {
        cr_assert(has_seq(argv, "--unshare-all", NULL, NULL));
        cr_assert(has_seq(argv, "--cap-drop", "ALL", NULL));
    }
    cr_assert(has_seq(argv, "--ready-fd", "7", NULL));
    /* the command is the very last argument, after the init's "--" */
    size_t n = 0;
    while (argv[n])
        n++;
    cr_assert_str_eq(argv[n - 1], "echo hi");
    cr_assert_str_eq(argv[n - 2], "--");
    cr_assert_lt(index_of(argv, OSM_SANDBOX_INSIDE_INIT), n - 2);
    osm_sandbox_argv_free(argv);
}

Test(sandbox, ring2_never_shares_the_host_network)
{
    struct osm_sandbox_spec s = {.ring = 2,
                                 .init = "/x/init",
                                 .workspace = "/w",
                                 .workspace_fd = -1,
                                 .ready_fd = -1,
                                 .network = true, /* asked for, but no egress socket */
                                 .command = "true"};
    char **argv = NULL;

    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_assert(!has_seq(argv, "--share-net", NULL, NULL));
    cr_assert(has_seq(argv, geteuid() == 0 ? "--unshare-net" : "--unshare-all", NULL, NULL));
    cr_assert(!has_seq(argv, "--setenv", "HTTPS_PROXY", NULL));
    cr_assert(!has_seq(argv, "--egress-socket", NULL, NULL));
    cr_assert(!has_seq(argv, "--tcp-port", NULL, NULL));
    osm_sandbox_argv_free(argv);
}

static void check_egress(bool required)
{
    struct osm_sandbox_spec s = {.ring = 2,
                                 .init = "/x/init",
                                 .workspace = "/w",
                                 .workspace_fd = -1,
                                 .ready_fd = -1,
                                 .egress_socket = "/r/egress-proxy/agent.sock",
                                 .network = required,
                                 .command = "true"};
    char **argv = NULL;

    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_assert(!has_seq(argv, "--share-net", NULL, NULL));
    cr_assert(has_seq(argv, geteuid() == 0 ? "--unshare-net" : "--unshare-all", NULL, NULL));
    /* required: bwrap fails when the socket is gone; otherwise the relay answers 503 */
    cr_assert(has_seq(argv, required ? "--ro-bind" : "--ro-bind-try", "/r/egress-proxy/agent.sock",
                      OSM_SANDBOX_INSIDE_EGRESS));
    cr_assert(has_seq(argv, "--setenv", "HTTPS_PROXY", "http://127.0.0.1:19999"));
    cr_assert(has_seq(argv, "--setenv", "https_proxy", "http://127.0.0.1:19999"));
    cr_assert(has_seq(argv, "--setenv", "HTTP_PROXY", "http://127.0.0.1:19999"));
    cr_assert(has_seq(argv, "--setenv", "http_proxy", "http://127.0.0.1:19999"));
    /* the init relays the port to the socket and Landlock keeps TCP to that port only; both
     * come after the init's path, before the command */
    cr_assert(has_seq(argv, "--egress-socket", OSM_SANDBOX_INSIDE_EGRESS, NULL));
    cr_assert(has_seq(argv, "--egress-port", "19999", NULL));
    cr_assert(has_seq(argv, "--tcp-port", "19999", NULL));
    cr_assert_gt(index_of(argv, "--egress-socket"), index_of(argv, OSM_SANDBOX_INSIDE_INIT));
    osm_sandbox_argv_free(argv);
}

Test(sandbox, ring2_egress_socket_bound_in_and_relayed)
{
    check_egress(false);
    check_egress(true);
}

Test(sandbox, egress_socket_path_and_presence)
{
    char dir[] = "/tmp/egress-sock-XXXXXX", path[96], file[96];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *p = osm_sandbox_egress_socket("/run/osmoda");
    int fd;

    cr_assert_str_eq(p, "/run/osmoda/egress-proxy/agent.sock");
    free(p);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/agent.sock", dir);
    snprintf(file, sizeof(file), "%s/plain", dir);
    cr_assert(!osm_sandbox_egress_present(path));
    cr_assert(!osm_sandbox_egress_present(NULL));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(osm_sandbox_egress_present(path));
    close(creat(file, 0600));
    cr_assert(!osm_sandbox_egress_present(file)); /* a regular file is not egress */
    close(fd);
    unlink(path);
    unlink(file);
    rmdir(dir);
}

Test(sandbox, ring1_hides_state_and_run)
{
    const char *hide[] = {"/var/lib/osmoda", "/run/osmoda"};
    struct osm_sandbox_spec s = {.ring = 1,
                                 .init = "/x/init",
                                 .workspace = "/w",
                                 .workspace_fd = -1,
                                 .ready_fd = -1,
                                 .hide = hide,
                                 .n_hide = 2,
                                 .command = "true"};
    char **argv = NULL;

    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_assert(has_seq(argv, "--bind", "/", "/"));
    cr_assert(has_seq(argv, "--tmpfs", "/var/lib/osmoda", NULL));
    cr_assert(has_seq(argv, "--tmpfs", "/run/osmoda", NULL));
    cr_assert(has_seq(argv, "--ring", "1", NULL));
    osm_sandbox_argv_free(argv);
}

Test(sandbox, secrets_masked_ring1_all_ring2_where_exposed)
{
    const char *files[] = {"/etc/shadow", "/etc/ssl/private/k.pem", "/srv/data/token"};
    const char *dirs[] = {"/etc/ssl/private", "/root/.ssh"};
    const char *reads[] = {"/srv/data"};
    struct osm_sandbox_spec s = {.ring = 1,
                                 .init = "/x/init",
                                 .workspace = "/state/workspace",
                                 .workspace_fd = -1,
                                 .ready_fd = -1,
                                 .command = "id",
                                 .hide = (const char *[]){"/state"},
                                 .n_hide = 1,
                                 .mask_files = files,
                                 .n_mask_files = 3,
                                 .mask_dirs = dirs,
                                 .n_mask_dirs = 2};
    char **argv = NULL;

    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_expect(has_seq(argv, "--ro-bind", "/dev/null", "/etc/shadow"));
    cr_expect(has_seq(argv, "--ro-bind", "/dev/null", "/srv/data/token"));
    cr_expect(has_seq(argv, "--tmpfs", "/etc/ssl/private", NULL));
    cr_expect(has_seq(argv, "--tmpfs", "/root/.ssh", NULL));
    cr_expect_not(has_seq(argv, "--ro-bind", "/dev/null", "/etc/ssl/private/k.pem"),
                  "already under a masked directory");
    cr_expect_gt(index_of(argv, "/etc/shadow"), index_of(argv, "/"), "after the host bind");
    /* the workspace lives in the hidden state dir: bound back, so ring 1 can start there */
    cr_expect(has_seq(argv, "--bind", "/state/workspace", "/state/workspace"));
    cr_expect_gt(index_of(argv, "/state/workspace"), index_of(argv, "/state"));
    osm_sandbox_argv_free(argv);
    /* ring 2: only what a bind exposes (/etc/ssl is bound, /etc/shadow and /root are not) */
    s.ring = 2;
    s.hide = NULL;
    s.n_hide = 0;
    s.fs_read = reads;
    s.n_fs_read = 1;
    cr_assert_eq(osm_sandbox_argv(&s, &argv), 0);
    cr_expect(has_seq(argv, "--tmpfs", "/etc/ssl/private", NULL));
    cr_expect(has_seq(argv, "--ro-bind", "/dev/null", "/srv/data/token"));
    cr_expect_gt(index_of(argv, "/srv/data/token"), index_of(argv, "/srv/data"),
                 "the mask comes after the bind it covers");
    cr_expect_not(has_seq(argv, "--ro-bind", "/dev/null", "/etc/shadow"));
    cr_expect_not(has_seq(argv, "--tmpfs", "/root/.ssh", NULL));
    osm_sandbox_argv_free(argv);
}

Test(sandbox, argv_refuses_bad_specs)
{
    struct osm_sandbox_spec s = {.ring = 3,
                                 .init = "/x",
                                 .workspace = "/w",
                                 .workspace_fd = -1,
                                 .ready_fd = -1,
                                 .command = "true"};
    char **argv = NULL;
    char *big = malloc(OSM_SANDBOX_COMMAND_MAX + 2);

    cr_assert_eq(osm_sandbox_argv(&s, &argv), -EINVAL);
    s.ring = 2;
    s.command = NULL;
    cr_assert_eq(osm_sandbox_argv(&s, &argv), -EINVAL);
    memset(big, 'a', OSM_SANDBOX_COMMAND_MAX + 1);
    big[OSM_SANDBOX_COMMAND_MAX + 1] = '\0';
    s.command = big;
    cr_assert_eq(osm_sandbox_argv(&s, &argv), -E2BIG);
    free(big);
}

Test(sandbox, bind_validation_is_an_error_not_a_skip)
{
    char tmpl[] = "/tmp/sbx-unit-XXXXXX", *canon = NULL, sub[128], link[128];
    const char *forbidden[] = {tmpl};
    char *dir = mkdtemp(tmpl);

    cr_assert_not_null(dir);
    /* osModa's list, both below and above a forbidden root */
    cr_assert_eq(osm_sandbox_bind_check("/etc/shadow", NULL, 0, &canon), -EPERM);
    cr_assert_eq(osm_sandbox_bind_check("/proc/self", NULL, 0, &canon), -EPERM);
    cr_assert_eq(osm_sandbox_bind_check("/etc", NULL, 0, &canon), -EPERM); /* holds shadow */
    cr_assert_eq(osm_sandbox_bind_check("/", NULL, 0, &canon), -EPERM);
    cr_assert_eq(osm_sandbox_bind_check("/root", NULL, 0, &canon), -EPERM);
    cr_assert_eq(osm_sandbox_bind_check("relative/path", NULL, 0, &canon), -EINVAL);
    cr_assert_eq(osm_sandbox_bind_check("/usr/../etc", NULL, 0, &canon), -EINVAL);
    cr_assert_eq(osm_sandbox_bind_check("/no/such/dir/x", NULL, 0, &canon), -ENOENT);
    /* the caller's forbidden paths (state dir), also through a symlink */
    snprintf(sub, sizeof(sub), "%s/keys", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_assert_eq(osm_sandbox_bind_check(sub, forbidden, 1, &canon), -EPERM);
    snprintf(link, sizeof(link), "/tmp/sbx-unit-link-%d", (int)getpid());
    cr_assert_eq(symlink(sub, link), 0);
    cr_assert_eq(osm_sandbox_bind_check(link, forbidden, 1, &canon), -EPERM);
    /* a fine one comes back canonical */
    cr_assert_eq(osm_sandbox_bind_check("/usr/share/", NULL, 0, &canon), 0);
    cr_assert_str_eq(canon, "/usr/share");
    free(canon);
    unlink(link);
    rmdir(sub);
    rmdir(dir);
}

Test(sandbox, path_is_under)
{
    cr_assert(osm_path_is_under("/a/b", "/a"));
    cr_assert(osm_path_is_under("/a", "/a/"));
    cr_assert(!osm_path_is_under("/ab", "/a"));
    cr_assert(osm_path_is_under("/x", "/"));
}

/* Runs fn in a child and returns its exit status (fn's return value). */
static int in_child(int (*fn)(void *), void *arg)
{
    int status;
    pid_t pid = fork();

    if (pid == 0)
        _exit(fn(arg));
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

static int seccomp_child(void *arg)
{
    (void)arg;
    if (osm_seccomp_apply() < 0)
        return 1;
    if (mount("none", "/mnt", "tmpfs", 0, NULL) == 0 || errno != EPERM)
        return 2;
    if (unshare(CLONE_NEWUSER) == 0 || errno != EPERM)
        return 3;
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 || errno != EPERM)
        return 4;
    if (umount2("/proc", MNT_DETACH) == 0 || errno != EPERM)
        return 5;
    /* ordinary work still runs */
    if (getpid() <= 0 || access("/", F_OK) != 0)
        return 6;
    pid_t p = fork(); /* plain clone flags pass */
    if (p == 0)
        _exit(0);
    if (p < 0)
        return 7;
    waitpid(p, NULL, 0);
    return 0;
}

Test(sandbox, seccomp_denies_escape_calls)
{
    cr_assert_eq(in_child(seccomp_child, NULL), 0);
}

Test(sandbox, seccomp_exports_bpf)
{
    char path[] = "/tmp/sbx-bpf-XXXXXX";
    int fd = mkstemp(path);
    struct stat st;

    cr_assert_geq(fd, 0);
    cr_assert_eq(osm_seccomp_export(fd), 0);
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_gt(st.st_size, 64);
    cr_assert_eq(st.st_size % 8, 0); /* struct sock_filter */
    close(fd);
    unlink(path);
}

static char ll_dir[64];

static int landlock_child(void *arg)
{
    struct osm_landlock_rule rules[] = {{"/usr", OSM_LL_READ}, {ll_dir, OSM_LL_WRITE}};
    char p[128];
    int fd;

    (void)arg;
    if (osm_landlock_apply(rules, 2, -1) < 0)
        return 1;
    snprintf(p, sizeof(p), "%s/inside", ll_dir);
    fd = open(p, O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        return 2;
    close(fd);
    if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EACCES)
        return 3;
    if (open("/tmp/sbx-unit-outside", O_WRONLY | O_CREAT, 0600) >= 0 || errno != EACCES)
        return 4;
    if (open("/usr/bin/env", O_RDONLY) < 0)
        return 5;
    if (open("/usr/sbx-unit", O_WRONLY | O_CREAT, 0600) >= 0)
        return 6;
    return 0;
}

Test(sandbox, landlock_confines_to_rules)
{
    if (osm_landlock_abi() < 1)
        cr_skip_test("Landlock is not enabled in this kernel");
    snprintf(ll_dir, sizeof(ll_dir), "/tmp/sbx-ll-%d", (int)getpid());
    cr_assert_eq(mkdir(ll_dir, 0700), 0);
    cr_assert_eq(in_child(landlock_child, NULL), 0);
    cr_assert_eq(access("/tmp/sbx-unit-outside", F_OK), -1);
    char p[128];
    snprintf(p, sizeof(p), "%s/inside", ll_dir);
    unlink(p);
    rmdir(ll_dir);
}

Test(sandbox, proc_start_time_names_a_process)
{
    uint64_t a = 0, b = 0;

    cr_assert_eq(osm_proc_start_time(getpid(), &a), 0);
    cr_assert_eq(osm_proc_start_time(getpid(), &b), 0);
    cr_assert_eq(a, b);
    cr_assert_gt(a, 0);
    cr_assert_eq(osm_proc_start_time(0x3ffffff, &a), -ESRCH);
}
