/* daemons/watch/switch-files.c: the files backend on real files in a temporary directory —
 * snapshot and restore byte for byte with mode and owner, new files removed again, rollback
 * idempotent, every refusal (paths, symlinks, protected directories, sizes) changing nothing,
 * and a tampered snapshot never written back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "switch-backend.h"
#include "switch-internal.h"

static char root[256], store[300], prot[300];
static const char *protected_dirs[2];
static struct switch_env env;

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/test-switch-files-XXXXXX");
    cr_assert(mkdtemp(root));
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(prot, sizeof(prot), "%s/protected", root);
    cr_assert_eq(mkdir(prot, 0700), 0);
    protected_dirs[0] = prot;
    env = (struct switch_env){.store_dir = store, .protected_dirs = protected_dirs};
}

static void teardown(void)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(switch_files, .init = setup, .fini = teardown);

static char *path_of(const char *name)
{
    char *p = NULL;

    cr_assert(asprintf(&p, "%s/%s", root, name) > 0);
    return p;
}

static void put(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    cr_assert_eq(fchown(fd, uid, gid), 0);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The file's bytes, mode and owner as one comparable text. */
static char *state_of(const char *path)
{
    char *data = NULL, *out = NULL;
    size_t len = 0;
    struct stat st;

    if (lstat(path, &st) < 0)
        return strdup("absent");
    cr_assert_eq(osm_read_file(path, 1 << 24, &data, &len), 0);
    cr_assert(asprintf(&out, "%o %u %u %zu:", st.st_mode & 07777, st.st_uid, st.st_gid, len) > 0);
    out = realloc(out, strlen(out) + 2 * len + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(out + strlen(out), "%02x", (unsigned char)data[i]);
    free(data);
    return out;
}

static json_t *plan1(const char *path, const char *content, size_t len)
{
    json_t *files = json_object();

    json_object_set_new(files, path, json_stringn(content, len));
    return json_pack("{s:s, s:o}", "backend", "files", "files", files);
}

static int validate(json_t *plan, char *target, size_t tlen, char *err)
{
    return switch_backend_files.validate(&env, plan, target, tlen, err, 256);
}

Test(switch_files, round_trip_keeps_bytes_mode_and_owner)
{
    static const char old[] = "port = 80\n\0binary\xff tail\nlast line";
    char *conf = path_of("app.conf"), *fresh = path_of("new.conf"), *before, *after;
    json_t *files = json_object(), *plan, *record = NULL, *sum;
    char target[8192] = {0}, err[256] = "";
    struct stat st;

    put(conf, old, sizeof(old) - 1, 0640, 1234, 5678);
    before = state_of(conf);
    json_object_set_new(files, conf, json_string("port = 8080\nextra = 1\n"));
    json_object_set_new(files, fresh, json_string("hello\n"));
    plan = json_pack("{s:s, s:o}", "backend", "files", "files", files);

    cr_assert_eq(validate(plan, target, sizeof(target), err), 0, "%s", err);
    cr_expect_str_eq(target, conf);
    cr_expect_str_eq(target + strlen(conf) + 1, fresh);
    cr_assert_eq(switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(switch_backend_files.apply(&env, plan, record, err, sizeof(err)), 0, "%s", err);

    cr_assert_eq(stat(conf, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0640, "the old mode is kept");
    cr_expect_eq(st.st_uid, 1234);
    cr_expect_eq(st.st_gid, 5678);
    cr_assert_eq(stat(fresh, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0644, "a new file is 0644");
    cr_expect_eq(st.st_uid, geteuid(), "and owned by watch");

    sum = switch_backend_files.summary(plan, record);
    cr_assert_eq(json_array_size(json_object_get(sum, "files")), 2);
    json_t *f0 = json_array_get(json_object_get(sum, "files"), 0);
    cr_expect(json_is_true(json_object_get(f0, "binary")), "the old file held a NUL");
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(sum, "files"), 1), "lines_added")),
                 1);
    cr_expect_eq(strlen(json_string_value(json_object_get(f0, "old_sha256"))), 64);
    cr_expect(
        json_is_true(json_object_get(json_array_get(json_object_get(sum, "files"), 1), "created")));
    json_decref(sum);

    cr_assert_eq(switch_backend_files.rollback(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    after = state_of(conf);
    cr_expect_str_eq(after, before, "restored byte for byte with mode and owner");
    cr_expect_eq(access(fresh, F_OK), -1, "the new file is removed again");
    free(after);

    /* idempotent: a second rollback (after a restart, say) changes nothing and succeeds */
    cr_assert_eq(switch_backend_files.rollback(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    after = state_of(conf);
    cr_expect_str_eq(after, before);
    free(after);
    free(before);
    json_decref(record);
    json_decref(plan);
    free(conf);
    free(fresh);
}

Test(switch_files, rollback_undoes_later_edits_and_owner_changes)
{
    char *conf = path_of("a.conf"), *before, *after;
    json_t *plan, *record = NULL;
    char err[256] = "";

    put(conf, "one\nsame\nthree\n", 15, 0600, 0, 0);
    before = state_of(conf);
    plan = plan1(conf, "two\nsame\n", 9);
    cr_assert_eq(switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)), 0, "%s", err);
    json_t *e = json_array_get(json_object_get(record, "files"), 0);
    cr_expect_eq(json_integer_value(json_object_get(e, "lines_added")), 1);
    cr_expect_eq(json_integer_value(json_object_get(e, "lines_removed")), 2);
    cr_assert_eq(switch_backend_files.apply(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    put(conf, "three\n", 6, 0666, 42, 42);
    cr_assert_eq(switch_backend_files.rollback(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    after = state_of(conf);
    cr_expect_str_eq(after, before);
    free(after);
    free(before);
    json_decref(record);
    json_decref(plan);
    free(conf);
}

Test(switch_files, a_tampered_snapshot_is_never_written_back)
{
    char *conf = path_of("t.conf"), *spath = NULL;
    json_t *plan, *record = NULL;
    char err[256] = "";
    const char *sha;

    put(conf, "good\n", 5, 0644, 0, 0);
    plan = plan1(conf, "new\n", 4);
    cr_assert_eq(switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(switch_backend_files.apply(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    sha = json_string_value(
        json_object_get(json_array_get(json_object_get(record, "files"), 0), "sha256"));
    cr_assert(asprintf(&spath, "%s/%s", store, sha) > 0);
    put(spath, "evil\n", 5, 0600, 0, 0);
    cr_expect_eq(switch_backend_files.rollback(&env, plan, record, err, sizeof(err)), -EBADMSG);
    cr_expect(strstr(err, "hash"), "%s", err);
    char *now = state_of(conf), *want = NULL;
    put(spath, "new\n", 4, 0644, 0, 0); /* compare with the applied content */
    want = state_of(spath);
    cr_expect_str_eq(now, want, "the applied file is left as it was");
    free(now);
    free(want);
    free(spath);
    json_decref(record);
    json_decref(plan);
    free(conf);
}

static void expect_refused(json_t *plan, int want, const char *needle)
{
    char target[8192] = {0}, err[256] = "";
    int r = validate(plan, target, sizeof(target), err);

    cr_expect_eq(r, want, "r=%d err=%s", r, err);
    cr_expect(strstr(err, needle), "error \"%s\" should mention \"%s\"", err, needle);
    json_decref(plan);
}

Test(switch_files, bad_plans_are_refused_and_change_nothing)
{
    char *conf = path_of("x.conf"), *link = path_of("link.conf"), *dir = path_of("sub");
    char *linkdir = path_of("linkdir"), *through = path_of("linkdir/x.conf");
    char *inprot = NULL, *before, *after, *big = calloc(1, SWITCH_FILE_MAX_BYTES + 2);
    json_t *many = json_object();

    put(conf, "keep\n", 5, 0644, 0, 0);
    before = state_of(conf);
    cr_assert_eq(symlink(conf, link), 0);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(symlink(root, linkdir), 0);
    cr_assert(asprintf(&inprot, "%s/watchers.json", prot) > 0);

    expect_refused(plan1("relative/x", "a", 1), -EINVAL, "absolute");
    expect_refused(plan1("/etc/../etc/x", "a", 1), -EINVAL, "normalised");
    expect_refused(plan1("/etc//x", "a", 1), -EINVAL, "normalised");
    expect_refused(plan1("/etc/x/", "a", 1), -EINVAL, "normalised");
    expect_refused(plan1("/etc/./x", "a", 1), -EINVAL, "normalised");
    expect_refused(plan1(link, "a", 1), -EINVAL, "symlink");
    expect_refused(plan1(through, "a", 1), -EINVAL, "symlinks are refused");
    expect_refused(plan1(dir, "a", 1), -EINVAL, "regular file");
    expect_refused(plan1(inprot, "a", 1), -EPERM, "no switch may change");
    expect_refused(plan1("/nonexistent-dir-x/y.conf", "a", 1), -EINVAL, "directory");
    memset(big, 'x', SWITCH_FILE_MAX_BYTES + 1);
    expect_refused(plan1(conf, big, SWITCH_FILE_MAX_BYTES + 1), -EINVAL, "at most");
    for (int i = 0; i <= SWITCH_FILES_MAX; i++) {
        char p[320];
        snprintf(p, sizeof(p), "%s/f%d", root, i);
        json_object_set_new(many, p, json_string("x"));
    }
    expect_refused(json_pack("{s:s, s:o}", "backend", "files", "files", many), -EINVAL, "1 to 64");
    expect_refused(json_pack("{s:s, s:{}}", "backend", "files", "files"), -EINVAL, "1 to 64");
    expect_refused(
        json_pack("{s:s, s:{s:s}, s:s}", "backend", "files", "files", conf, "a", "bogus", "x"),
        -EINVAL, "plan");
    expect_refused(json_pack("{s:s, s:{s:s}, s:[s]}", "backend", "files", "files", conf, "a",
                             "restart", "bad name;"),
                   -EINVAL, "restart[0]");
    expect_refused(json_pack("{s:s, s:{s:s}, s:[s]}", "backend", "files", "files", conf, "a",
                             "restart", "web"),
                   -EINVAL, "no service backend");
    expect_refused(json_pack("{s:s, s:{s:i}}", "backend", "files", "files", conf, 1), -EINVAL,
                   "a string");

    after = state_of(conf);
    cr_expect_str_eq(after, before);
    cr_expect_eq(access(inprot, F_OK), -1);
    free(after);
    free(before);
    free(big);
    free(inprot);
    free(conf);
    free(link);
    free(dir);
    free(linkdir);
    free(through);
}

Test(switch_files, a_symlink_placed_after_validation_is_not_followed)
{
    char *conf = path_of("s.conf"), *victim = path_of("victim"), *before;
    json_t *plan, *record = NULL;
    char err[256] = "";

    put(conf, "a\n", 2, 0644, 0, 0);
    put(victim, "victim\n", 7, 0600, 0, 0);
    before = state_of(victim);
    plan = plan1(conf, "b\n", 2);
    cr_assert_eq(switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(unlink(conf), 0);
    cr_assert_eq(symlink(victim, conf), 0);
    cr_expect_lt(switch_backend_files.apply(&env, plan, record, err, sizeof(err)), 0);
    char *after = state_of(victim);
    cr_expect_str_eq(after, before, "the symlink's target is untouched");
    free(after);
    free(before);
    json_decref(record);
    json_decref(plan);
    free(conf);
    free(victim);
}

Test(switch_files, a_failed_apply_is_undone_by_rollback)
{
    char *a = path_of("a.conf"), *sub = path_of("gone"), *b = path_of("gone/b.conf");
    char *before;
    json_t *files = json_object(), *plan, *record = NULL;
    char err[256] = "";

    put(a, "a1\n", 3, 0644, 0, 0);
    cr_assert_eq(mkdir(sub, 0755), 0);
    before = state_of(a);
    json_object_set_new(files, a, json_string("a2\n"));
    json_object_set_new(files, b, json_string("b2\n"));
    plan = json_pack("{s:s, s:o}", "backend", "files", "files", files);
    cr_assert_eq(switch_backend_files.prepare(&env, plan, &record, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(rmdir(sub), 0);
    cr_expect_lt(switch_backend_files.apply(&env, plan, record, err, sizeof(err)), 0);
    cr_expect(strstr(err, b), "%s", err);
    cr_assert_eq(switch_backend_files.rollback(&env, plan, record, err, sizeof(err)), 0, "%s", err);
    char *after = state_of(a);
    cr_expect_str_eq(after, before);
    free(after);
    free(before);
    json_decref(record);
    json_decref(plan);
    free(a);
    free(sub);
    free(b);
}
