/* lib/policy/resolve.c: openat2 resolution (`..` and symlinks followed, magic links refused,
 * beneath a directory), the missing part of a new path, and acting through what was resolved:
 * re-opening the same inode, creating below the resolved directory without following what
 * appeared meanwhile, and the identities of the ancestors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/resolve.h"

static char dir[PATH_MAX];

static void setup(void)
{
    char tmpl[] = "/tmp/test-resolve-XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, dir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(resolve, .init = setup, .fini = teardown);

static char *at(const char *rel)
{
    static char buf[4][PATH_MAX + 64];
    static int next;
    char *b = buf[next++ % 4];

    snprintf(b, sizeof(buf[0]), "%s/%s", dir, rel);
    return b;
}

static void touch(const char *rel, const char *text)
{
    FILE *f = fopen(at(rel), "w");

    cr_assert_not_null(f, "%s", at(rel));
    fputs(text, f);
    fclose(f);
}

static void mkdirs(const char *rel)
{
    cr_assert_eq(mkdir(at(rel), 0755), 0, "%s", at(rel));
}

Test(resolve, existing_file_symlinks_and_dotdot)
{
    struct osm_resolved r;
    struct stat st;

    mkdirs("d");
    touch("d/f", "x");
    cr_assert_eq(symlink("d/f", at("link")), 0);
    cr_assert_eq(symlink(at("d"), at("dlink")), 0);
    cr_assert_eq(stat(at("d/f"), &st), 0);
    const char *inputs[] = {at("d/f"), at("link"), at("d/../d/./f"), at("dlink/f"),
                            at("dlink/../d//f")};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cr_assert_eq(osm_resolve(AT_FDCWD, inputs[i], 0, &r), 0, "%s", inputs[i]);
        cr_expect_str_eq(r.path, at("d/f"), "%s", inputs[i]);
        cr_expect_geq(r.fd, 0);
        cr_expect_eq(r.st.st_ino, st.st_ino);
        cr_expect_eq(r.n_missing, 0);
        cr_expect_str_eq(r.missing, "");
        cr_assert_eq(stat(at("d"), &st), 0);
        cr_expect_eq(r.dir_st.st_ino, st.st_ino, "the directory holding it");
        cr_assert_eq(stat(at("d/f"), &st), 0);
        osm_resolved_clear(&r);
        cr_expect_eq(r.fd, -1);
    }
}

Test(resolve, missing_names_below_the_deepest_directory)
{
    struct osm_resolved r;
    struct stat st;

    mkdirs("d");
    touch("d/f", "x");
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/a/b/new.txt"), 0, &r), 0);
    cr_expect_eq(r.fd, -1);
    cr_expect_str_eq(r.path, at("d/a/b/new.txt"));
    cr_expect_str_eq(r.missing, "a/b/new.txt");
    cr_expect_eq(r.n_missing, 3);
    cr_assert_eq(stat(at("d"), &st), 0);
    cr_expect_eq(r.dir_st.st_ino, st.st_ino);
    osm_resolved_clear(&r);
    /* `..` under a missing name cancels it, and what remains is walked again */
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/nope/../f"), 0, &r), 0);
    cr_expect_str_eq(r.path, at("d/f"));
    cr_expect_geq(r.fd, 0);
    osm_resolved_clear(&r);
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/x/y/../../../d/new"), 0, &r), 0);
    cr_expect_str_eq(r.path, at("d/new"));
    cr_expect_str_eq(r.missing, "new");
    osm_resolved_clear(&r);
    /* a file where a directory is needed */
    cr_expect_eq(osm_resolve(AT_FDCWD, at("d/f/under"), 0, &r), -ENOTDIR);
    cr_expect_eq(r.fd, -1);
    cr_expect_eq(r.dir_fd, -1);
}

Test(resolve, dangling_symlinks_and_loops_refused)
{
    struct osm_resolved r;

    cr_assert_eq(symlink(at("nowhere/file"), at("dangling")), 0);
    cr_expect_eq(osm_resolve(AT_FDCWD, at("dangling"), 0, &r), -ELOOP);
    cr_expect_eq(osm_resolve(AT_FDCWD, at("dangling/x"), 0, &r), -ELOOP);
    cr_assert_eq(symlink("loop2", at("loop1")), 0);
    cr_assert_eq(symlink("loop1", at("loop2")), 0);
    cr_expect_eq(osm_resolve(AT_FDCWD, at("loop1"), 0, &r), -ELOOP);
    cr_expect_eq(osm_resolve(AT_FDCWD, at("loop1/x"), 0, &r), -ELOOP);
    cr_expect_eq(osm_resolve(AT_FDCWD, "", 0, &r), -EINVAL);
}

Test(resolve, magic_links_refused_ordinary_proc_links_followed)
{
    const char *magic[] = {
        "/proc/self/root/etc/hostname", "/proc/self/cwd", "/proc/self/cwd/x", "/proc/self/fd/0",
        "/proc/thread-self/root",       "/dev/stdin",     "/proc/self/exe"};
    struct osm_resolved r;
    char want[64];
    int e;

    for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
        cr_expect_eq(osm_resolve(AT_FDCWD, magic[i], 0, &r), -ELOOP, "%s", magic[i]);
    /* another process's root: refused as a magic link, or before that by ptrace access */
    e = osm_resolve(AT_FDCWD, "/proc/1/root/etc", 0, &r);
    cr_expect(e == -ELOOP || e == -EACCES, "%d", e);
    /* /proc/self itself is an ordinary symlink: followed to this process */
    cr_assert_eq(osm_resolve(AT_FDCWD, "/proc/self/status", 0, &r), 0);
    snprintf(want, sizeof(want), "/proc/%d/status", (int)getpid());
    cr_expect_str_eq(r.path, want);
    osm_resolved_clear(&r);
}

Test(resolve, beneath_stays_beneath)
{
    struct osm_resolved r;
    int ws;

    mkdirs("ws");
    mkdirs("ws/sub");
    touch("ws/sub/a", "a");
    touch("outside", "o");
    cr_assert_eq(symlink(at("outside"), at("ws/abs")), 0);
    cr_assert_eq(symlink("../outside", at("ws/rel-out")), 0);
    cr_assert_eq(symlink("sub/a", at("ws/rel-in")), 0);
    ws = open(at("ws"), O_PATH | O_DIRECTORY);
    cr_assert_geq(ws, 0);
    cr_expect_eq(osm_resolve(ws, "../outside", OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_expect_eq(osm_resolve(ws, "sub/../../outside", OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_expect_eq(osm_resolve(ws, "new/../../outside", OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_expect_eq(osm_resolve(ws, "abs", OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_expect_eq(osm_resolve(ws, "rel-out", OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_expect_eq(osm_resolve(ws, at("outside"), OSM_RESOLVE_BENEATH, &r), -EXDEV);
    cr_assert_eq(osm_resolve(ws, "rel-in", OSM_RESOLVE_BENEATH, &r), 0);
    cr_expect_str_eq(r.path, at("ws/sub/a"));
    osm_resolved_clear(&r);
    cr_assert_eq(osm_resolve(ws, ".", OSM_RESOLVE_BENEATH, &r), 0);
    cr_expect_str_eq(r.path, at("ws"));
    osm_resolved_clear(&r);
    cr_assert_eq(osm_resolve(ws, "sub/new/file", OSM_RESOLVE_BENEATH, &r), 0);
    cr_expect_str_eq(r.path, at("ws/sub/new/file"));
    cr_expect_str_eq(r.missing, "new/file");
    osm_resolved_clear(&r);
    close(ws);
}

Test(resolve, root_and_reopen_through_the_checked_fd)
{
    struct osm_resolved r;
    char buf[16] = "";
    int fd;

    cr_assert_eq(osm_resolve(AT_FDCWD, "/", 0, &r), 0);
    cr_expect_str_eq(r.path, "/");
    cr_expect_geq(r.dir_fd, 0);
    osm_resolved_clear(&r);
    touch("f", "hello");
    cr_assert_eq(osm_resolve(AT_FDCWD, at("f"), 0, &r), 0);
    /* the name now leads elsewhere: the checked inode is still what is opened */
    cr_assert_eq(rename(at("f"), at("moved")), 0);
    touch("f", "other");
    fd = osm_resolved_reopen(&r, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_expect_eq(read(fd, buf, sizeof(buf) - 1), 5);
    cr_expect_str_eq(buf, "hello");
    close(fd);
    osm_resolved_clear(&r);
    cr_assert_eq(osm_resolve(AT_FDCWD, at("missing"), 0, &r), 0);
    cr_expect_eq(osm_resolved_reopen(&r, O_RDONLY), -ENOENT);
    osm_resolved_clear(&r);
}

Test(resolve, create_exact_modes_and_nothing_through_what_appeared)
{
    struct osm_resolved r;
    struct stat st;
    mode_t old = umask(077);
    int fd;

    mkdirs("d");
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/a/b/f"), 0, &r), 0);
    fd = osm_resolved_create(&r, O_WRONLY, 0644, 0755, (uid_t)-1, (gid_t)-1);
    umask(old);
    cr_assert_geq(fd, 0, "%d", fd);
    cr_expect_eq(write(fd, "x", 1), 1);
    close(fd);
    cr_assert_eq(stat(at("d/a/b/f"), &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0644, "whatever the umask");
    cr_assert_eq(stat(at("d/a"), &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0755);
    /* created again from the same resolution: the file is there now */
    cr_expect_eq(osm_resolved_create(&r, O_WRONLY, 0644, 0755, -1, -1), -EEXIST);
    osm_resolved_clear(&r);
    /* a symlink planted where a missing directory was resolved is not followed */
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/m/f"), 0, &r), 0);
    mkdirs("elsewhere");
    cr_assert_eq(symlink(at("elsewhere"), at("d/m")), 0);
    int e = osm_resolved_create(&r, O_WRONLY, 0644, 0755, -1, -1);
    cr_expect(e == -ENOTDIR || e == -ELOOP, "%d", e); /* O_DIRECTORY | O_NOFOLLOW */
    cr_expect_neq(access(at("elsewhere/f"), F_OK), 0);
    osm_resolved_clear(&r);
    /* nor one planted where the file itself was missing */
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/g"), 0, &r), 0);
    cr_assert_eq(symlink(at("elsewhere/g"), at("d/g")), 0);
    cr_expect_eq(osm_resolved_create(&r, O_WRONLY, 0644, 0755, -1, -1), -EEXIST);
    cr_expect_neq(access(at("elsewhere/g"), F_OK), 0);
    osm_resolved_clear(&r);
    /* an existing file is re-opened, not created */
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/a/b/f"), 0, &r), 0);
    cr_expect_eq(osm_resolved_create(&r, O_WRONLY, 0644, 0755, -1, -1), -EINVAL);
    osm_resolved_clear(&r);
}

Test(resolve, ancestors_up_to_the_root)
{
    struct osm_file_id ids[OSM_RESOLVE_ANCESTORS_MAX];
    struct osm_resolved r;
    struct stat d, root;
    int n;

    mkdirs("d");
    touch("d/f", "x");
    cr_assert_eq(osm_resolve(AT_FDCWD, at("d/f"), 0, &r), 0);
    n = osm_resolved_ancestors(&r, ids, OSM_RESOLVE_ANCESTORS_MAX);
    cr_assert_geq(n, 3, "%d", n);
    cr_assert_eq(stat(at("d"), &d), 0);
    cr_assert_eq(stat("/", &root), 0);
    cr_expect_eq(ids[0].ino, d.st_ino);
    cr_expect_eq(ids[n - 1].ino, root.st_ino);
    cr_expect_eq(ids[n - 1].dev, root.st_dev);
    cr_expect_eq(osm_resolved_ancestors(&r, ids, 1), -E2BIG);
    osm_resolved_clear(&r);
    cr_expect(osm_resolved_under(&(struct osm_resolved){.path = "/a/bc"}, "/a"));
    cr_expect_not(osm_resolved_under(&(struct osm_resolved){.path = "/a/bc"}, "/a/b"));
    cr_expect(osm_resolved_under(&(struct osm_resolved){.path = "/a/b"}, "/a/b/"));
}
