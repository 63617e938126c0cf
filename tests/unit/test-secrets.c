/* lib/policy/secrets.c: path sets by path (globs, beneath, listing, exceptions, "~/", literal
 * entries, canonical prefixes) and by identity (hard links, device numbers, directories above),
 * the built-in list, the policy file's "secrets" section and the expansion for sandbox masks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "policy/secrets.h"

static char dir[PATH_MAX];
static struct osm_pathset *set;

static void setup(void)
{
    char tmpl[] = "/tmp/test-secrets-XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, dir));
    cr_assert_eq(osm_pathset_new(&set), 0);
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];

    osm_pathset_free(set);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(secrets, .init = setup, .fini = teardown);

static char *at(const char *rel)
{
    static char buf[8][PATH_MAX + 64];
    static int next;
    char *b = buf[next++ % 8];

    snprintf(b, sizeof(buf[0]), "%s/%s", dir, rel);
    return b;
}

static void touch(const char *rel)
{
    FILE *f = fopen(at(rel), "w");

    cr_assert_not_null(f, "%s", at(rel));
    fputs("s3cret\n", f);
    fclose(f);
}

static void add(const char *pattern)
{
    cr_assert_eq(osm_pathset_add(set, pattern, NULL, 0, 0), 0, "%s", pattern);
}

/* 1 covered, 0 not, by path and identity. */
static int check(const char *path, bool listing)
{
    struct osm_resolved r;
    char why[256];
    int hit;

    cr_assert_eq(osm_resolve(AT_FDCWD, path, 0, &r), 0, "%s", path);
    hit = osm_pathset_check(set, &r, listing, why, sizeof(why));
    osm_resolved_clear(&r);
    return hit;
}

Test(secrets, paths_globs_beneath_and_listing)
{
    add("/etc/shadow");
    add("/x/private/");
    add("/etc/ssh/ssh_host_*_key");
    cr_expect_str_eq(osm_pathset_match(set, "/etc/shadow", false), "/etc/shadow");
    cr_expect_null(osm_pathset_match(set, "/etc/shadow.txt", false));
    cr_expect_null(osm_pathset_match(set, "/etc/shado", false));
    cr_expect_not_null(osm_pathset_match(set, "/etc/shadow/under", false));
    cr_expect_not_null(osm_pathset_match(set, "/x/private", false));
    cr_expect_not_null(osm_pathset_match(set, "/x/private/key.pem", false));
    cr_expect_not_null(osm_pathset_match(set, "/x/private/a/b/c", true));
    cr_expect_null(osm_pathset_match(set, "/x/private", true), "listed, not read");
    cr_expect_null(osm_pathset_match(set, "/x", false));
    cr_expect_not_null(osm_pathset_match(set, "/etc/ssh/ssh_host_ed25519_key", false));
    cr_expect_null(osm_pathset_match(set, "/etc/ssh/ssh_host_ed25519_key.pub", false));
    cr_expect_null(osm_pathset_match(set, "/etc/ssh/sub/ssh_host_x_key", false),
                   "* does not cross /");
    cr_expect_null(osm_pathset_match(set, "relative/etc/shadow", false));
}

Test(secrets, exceptions_and_homes)
{
    const char *pub[] = {"*.pub"};
    FILE *f = fopen(at("passwd"), "w");

    cr_assert_not_null(f);
    fprintf(f, "root:x:0:0:root:/root:/bin/bash\n"
               "alice:x:1000:1000::/srv/alice:/bin/sh\n"
               "bob:x:1001:1001::/home/bob:/bin/sh\n"
               "odd:x:1002:1002::/srv/we*ird:/bin/sh\n"
               "broken line\n");
    fclose(f);
    cr_assert_eq(osm_pathset_read_homes(set, at("passwd")), 0);
    cr_assert_eq(osm_pathset_add(set, "~/.ssh/id_*", pub, 1, 0), 0);
    cr_expect_not_null(osm_pathset_match(set, "/srv/alice/.ssh/id_rsa", false));
    cr_expect_not_null(osm_pathset_match(set, "/home/bob/.ssh/id_ed25519", false));
    cr_expect_not_null(osm_pathset_match(set, "/home/carol/.ssh/id_ecdsa", false));
    cr_expect_not_null(osm_pathset_match(set, "/root/.ssh/id_rsa", false));
    cr_expect_null(osm_pathset_match(set, "/srv/alice/.ssh/id_rsa.pub", false));
    cr_expect_null(osm_pathset_match(set, "/srv/alice/.ssh/authorized_keys", false));
    cr_expect_not_null(osm_pathset_match(set, "/srv/we*ird/.ssh/id_x", false));
    cr_expect_null(osm_pathset_match(set, "/srv/weXird/.ssh/id_x", false),
                   "a home's own glob characters are literal");
    cr_expect_null(osm_pathset_match(set, "/srv/bob/.ssh/id_rsa", false));
    cr_expect_eq(osm_pathset_read_homes(set, at("no-such-passwd")), 0);
}

Test(secrets, literal_entries_and_canonical_prefixes)
{
    char real[PATH_MAX + 64];

    cr_assert_eq(osm_pathset_add(set, "/tmp/a[1]*", NULL, 0, OSM_PATHSET_LITERAL), 0);
    cr_expect_not_null(osm_pathset_match(set, "/tmp/a[1]x", false));
    cr_expect_not_null(osm_pathset_match(set, "/tmp/a[1]", false));
    cr_expect_null(osm_pathset_match(set, "/tmp/a1x", false));
    /* an entry through a symlink is stored as its real place, the way paths are resolved */
    cr_assert_eq(mkdir(at("real"), 0700), 0);
    cr_assert_eq(symlink(at("real"), at("link")), 0);
    add(at("link/keys/*.pem"));
    snprintf(real, sizeof(real), "%s/real/keys/*.pem", dir);
    cr_expect_str_eq(osm_pathset_pattern(set, osm_pathset_size(set) - 1), real);
    snprintf(real, sizeof(real), "%s/real/keys/a.pem", dir);
    cr_expect_not_null(osm_pathset_match(set, real, false));
    /* bad entries */
    cr_expect_eq(osm_pathset_add(set, "relative", NULL, 0, 0), -EINVAL);
    cr_expect_eq(osm_pathset_add(set, "/", NULL, 0, 0), -EINVAL);
    cr_expect_eq(osm_pathset_add(set, "/a/../b", NULL, 0, 0), -EINVAL);
    cr_expect_eq(osm_pathset_add(set, "/a/./b", NULL, 0, 0), -EINVAL);
    cr_expect_eq(osm_pathset_add(set, "~/", NULL, 0, 0), -EINVAL);
    cr_expect_eq(osm_pathset_add(set, "/a", (const char *[]){"x/y"}, 1, 0), -EINVAL);
}

Test(secrets, identity_catches_hard_links_and_directories_above)
{
    touch("key");
    cr_assert_eq(mkdir(at("private"), 0700), 0);
    touch("private/inner");
    cr_assert_eq(mkdir(at("elsewhere"), 0700), 0);
    add(at("key"));
    add(at("private/"));
    cr_assert_eq(link(at("key"), at("elsewhere/hardlink")), 0);
    cr_expect_eq(check(at("key"), false), 1);
    cr_expect_eq(check(at("elsewhere/hardlink"), false), 1, "same inode, another name");
    cr_expect_eq(check(at("private/inner"), false), 1);
    cr_expect_eq(check(at("private"), true), 0, "the directory itself may be listed");
    cr_expect_eq(check(at("private"), false), 1);
    cr_expect_eq(check(at("private/new-file"), false), 1, "a file to be created there");
    cr_expect_eq(check(at("elsewhere"), true), 0);
    touch("elsewhere/plain");
    cr_expect_eq(check(at("elsewhere/plain"), false), 0);
    /* a hard link of a file inside the secret directory (not an entry itself) */
    cr_assert_eq(link(at("private/inner"), at("elsewhere/inner-link")), 0);
    cr_expect_eq(check(at("elsewhere/inner-link"), false), 1);
    /* an ordinary hard-linked file is fine */
    cr_assert_eq(link(at("elsewhere/plain"), at("elsewhere/plain2")), 0);
    cr_expect_eq(check(at("elsewhere/plain2"), false), 0);
}

Test(secrets, device_numbers_and_procfs)
{
    struct osm_resolved r;
    char why[256];

    add("/dev/null");
    cr_expect_eq(check("/dev/null", false), 1);
    if (geteuid() == 0) { /* mknod needs CAP_MKNOD */
        cr_assert_eq(mknod(at("copy-of-null"), S_IFCHR | 0600, makedev(1, 3)), 0);
        cr_expect_eq(check(at("copy-of-null"), false), 1, "the same device elsewhere");
        cr_assert_eq(mknod(at("zero"), S_IFCHR | 0600, makedev(1, 5)), 0);
        cr_expect_eq(check(at("zero"), false), 0);
    }
    /* procfs entries are matched by path (never expanded) */
    add("/proc/*/environ");
    cr_expect_eq(check("/proc/self/environ", false), 1);
    cr_assert_eq(osm_resolve(AT_FDCWD, "/proc/self/status", 0, &r), 0);
    cr_expect_eq(osm_pathset_check(set, &r, false, why, sizeof(why)), 0);
    osm_resolved_clear(&r);
}

Test(secrets, defaults_cover_the_documented_list)
{
    const char *covered[] = {
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/shadow-",
        "/etc/gshadow-",
        "/etc/ssl/private/x",
        "/etc/ssh/ssh_host_rsa_key",
        "/root/.ssh/id_rsa",
        "/root/.ssh/authorized_keys",
        "/home/a/.ssh/id_rsa",
        "/proc/1/environ",
        "/proc/12/task/13/environ",
        "/proc/kcore",
        "/dev/mem",
        "/dev/kmem",
        "/dev/port",
        "/proc/7/mem",
    };
    const char *not_covered[] = {"/etc/passwd",
                                 "/etc/ssh/ssh_host_rsa_key.pub",
                                 "/home/a/.ssh/id_rsa.pub",
                                 "/home/a/.ssh/authorized_keys",
                                 "/proc/1/status",
                                 "/etc/hostname",
                                 "/dev/null"};

    cr_assert_eq(osm_pathset_add_defaults(set), 0);
    for (size_t i = 0; i < sizeof(covered) / sizeof(covered[0]); i++)
        cr_expect_not_null(osm_pathset_match(set, covered[i], false), "%s", covered[i]);
    for (size_t i = 0; i < sizeof(not_covered) / sizeof(not_covered[0]); i++)
        cr_expect_null(osm_pathset_match(set, not_covered[i], false), "%s", not_covered[i]);
    cr_expect_null(osm_pathset_match(set, "/etc/ssl/private", true), "listable");
}

Test(secrets, policy_file_section)
{
    char err[256] = "";
    json_t *ok = json_loads("[\"/srv/app/keys/\", {\"path\": \"/opt/*/creds.json\", "
                            "\"except\": [\"*.example\"], \"comment\": \"vendor creds\"}]",
                            0, NULL);
    const char *bad[] = {
        "{}",
        "[1]",
        "[\"relative/x\"]",
        "[{\"path\": \"/x\", \"except\": \"*.pub\"}]",
        "[{\"path\": \"/x\", \"except\": [\"a/b\"]}]",
        "[{\"path\": \"/x\", \"extra\": 1}]",
        "[\"/a/../b\"]",
        "[{\"except\": [\"x\"]}]",
    };

    cr_assert_not_null(ok);
    cr_assert_eq(osm_pathset_add_json(set, ok, err, sizeof(err)), 0, "%s", err);
    json_decref(ok);
    cr_expect_not_null(osm_pathset_match(set, "/srv/app/keys/k", false));
    cr_expect_not_null(osm_pathset_match(set, "/opt/vendor/creds.json", false));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        size_t before = osm_pathset_size(set);
        err[0] = '\0';
        cr_assert_not_null(j, "%s", bad[i]);
        cr_expect_eq(osm_pathset_add_json(set, j, err, sizeof(err)), -EINVAL, "%s", bad[i]);
        cr_expect_neq(err[0], '\0', "a message for %s", bad[i]);
        cr_expect_eq(osm_pathset_size(set), before, "%s added nothing", bad[i]);
        json_decref(j);
    }
}

struct seen {
    char paths[16][PATH_MAX];
    bool dir[16];
    size_t n;
};

static int collect(const char *path, const struct stat *st, void *userdata)
{
    struct seen *s = userdata;

    if (s->n == 16)
        return -E2BIG;
    snprintf(s->paths[s->n], PATH_MAX, "%s", path);
    s->dir[s->n++] = S_ISDIR(st->st_mode);
    return 0;
}

Test(secrets, expand_for_masks)
{
    const char *pub[] = {"*.pub"};
    struct seen *s = calloc(1, sizeof(*s));

    cr_assert_eq(mkdir(at("ssh"), 0700), 0);
    touch("ssh/id_rsa");
    touch("ssh/id_rsa.pub");
    cr_assert_eq(mkdir(at("vault"), 0700), 0);
    cr_assert_eq(osm_pathset_add(set, at("ssh/id_*"), pub, 1, 0), 0);
    add(at("vault/"));
    add(at("absent"));
    add("/proc/*/environ");
    add("/dev/mem");
    cr_assert_eq(osm_pathset_expand(set, collect, s), 0);
    cr_assert_eq(s->n, 2);
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->paths[i], at("ssh/id_rsa")) == 0)
            cr_expect_not(s->dir[i]);
        else {
            cr_expect_str_eq(s->paths[i], at("vault"));
            cr_expect(s->dir[i]);
        }
    }
    free(s);
}
