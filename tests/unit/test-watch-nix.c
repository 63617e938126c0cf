/* daemons/watch/switch-nix*.c: the nix-profile and nixos SafeSwitch backends against the real
 * Nix of this host (nix-bin, single-user as root, offline), on tiny derivations built with
 * busybox in a profile under a temporary directory; the command runner and the path checks on
 * their own. The nix store is shared: store paths are left in place, no garbage collection. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "switch-backend.h"
#include "switch-nix.h"

#define WAIT_MS 20000 /* deadline of an awaited event; reached only on failure */
#define NIX_CONFIG_TEST "substituters =\nbuild-users-group =\n"

/* The derivations: c1..c4 are plain configurations, s1, s2 NixOS-like systems whose
 * bin/switch-to-configuration appends "<its store path> <args>" to $OSMTEST_ACTIVATION_LOG,
 * sbad one that does the same and fails. */
static const char gen_nix[] =
    "let\n"
    "  bb = builtins.path { path = ./bb; name = \"busybox-static\"; };\n"
    "  mk = name: script: builtins.derivation {\n"
    "    name = \"osmoda-nixtest-${name}\"; system = builtins.currentSystem;\n"
    "    builder = \"${bb}/busybox\"; args = [ \"sh\" \"-c\" script ];\n"
    "  };\n"
    "  conf = v: mk \"conf-${v}\"\n"
    "    \"${bb}/busybox mkdir -p $out/etc && echo version=${v} > $out/etc/app.conf\";\n"
    "  sys = v: rc: mk \"system-${v}\" ''\n"
    "    ${bb}/busybox mkdir -p $out/bin\n"
    "    printf '#!${bb}/busybox sh\\n[ -z \"$OSMTEST_ACTIVATION_LOG\" ] || "
    "echo \"%s $*\" >> \"$OSMTEST_ACTIVATION_LOG\"\\nexit ${rc}\\n' \"$out\" "
    "> $out/bin/switch-to-configuration\n"
    "    ${bb}/busybox chmod 755 $out/bin/switch-to-configuration\n"
    "  '';\n"
    "in { c1 = conf \"1\"; c2 = conf \"2\"; c3 = conf \"3\"; c4 = conf \"4\";\n"
    "     s1 = sys \"1\" \"0\"; s2 = sys \"2\" \"0\"; sbad = sys \"bad\" \"1\"; }\n";

enum { C1, C2, C3, C4, S1, S2, SBAD, N_DRV };
static const char *const drv_names[N_DRV] = {"c1", "c2", "c3", "c4", "s1", "s2", "sbad"};

static struct {
    char dir[PATH_MAX];
    char profile[PATH_MAX];
    char system[PATH_MAX];
    char log[PATH_MAX];
    char store[N_DRV][PATH_MAX];
    struct switch_env env;
    char err[512];
} t;

#define FMT(buf, size, ...) cr_assert_lt(snprintf(buf, size, __VA_ARGS__), (int)(size))

static void sh(const char *fmt, ...) OSM_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert_lt(n, (int)sizeof(cmd));
    cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void need_nix(void)
{
    char tool[PATH_MAX];

    if (geteuid() != 0)
        cr_skip_test("single-user Nix writes /nix as root only");
    if (switch_nix_find_tool("nix-build", tool, sizeof(tool)) < 0 ||
        switch_nix_find_tool("nix-env", tool, sizeof(tool)) < 0 ||
        switch_nix_find_tool("nix-store", tool, sizeof(tool)) < 0)
        cr_skip_test("nix-bin is not installed (scripts/deps.sh installs it)");
    if (access("/bin/busybox", X_OK) < 0)
        cr_skip_test("/bin/busybox is missing (busybox-static; scripts/deps.sh installs it)");
}

/* Builds every derivation in one nix-build call (cached after the first run). */
static void build_all(void)
{
    char cmd[PATH_MAX * 2], line[PATH_MAX];
    FILE *f;
    size_t i = 0;

    FMT(cmd, sizeof(cmd), "%s/gen.nix", t.dir);
    f = fopen(cmd, "w");
    cr_assert_not_null(f);
    fputs(gen_nix, f);
    fclose(f);
    sh("mkdir %s/bb && cp /bin/busybox %s/bb/busybox", t.dir, t.dir);
    FMT(cmd, sizeof(cmd),
        "nix-build %s/gen.nix --no-out-link -A c1 -A c2 -A c3 -A c4 -A s1 -A s2 -A sbad "
        "2>/dev/null",
        t.dir);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    while (i < N_DRV && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        strcpy(t.store[i++], line);
    }
    cr_assert_eq(pclose(f), 0, "nix-build failed");
    cr_assert_eq(i, N_DRV);
    for (i = 0; i < N_DRV; i++)
        cr_assert(switch_nix_store_path_syntax(t.store[i]), "%s: %s", drv_names[i], t.store[i]);
}

static void setup(void)
{
    memset(&t, 0, sizeof(t));
    need_nix();
    setenv("NIX_CONFIG", NIX_CONFIG_TEST, 1);
    strcpy(t.dir, "/tmp/osm-nix-XXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    FMT(t.profile, sizeof(t.profile), "%s/profiles/app", t.dir);
    FMT(t.system, sizeof(t.system), "%s/profiles/system", t.dir);
    FMT(t.log, sizeof(t.log), "%s/activations", t.dir);
    sh("mkdir %s/profiles", t.dir);
    setenv("OSMTEST_ACTIVATION_LOG", t.log, 1);
    t.env.nixos_profile = t.system;
    build_all();
}

static void teardown(void)
{
    if (t.dir[0])
        sh("rm -rf %s", t.dir);
}

/* Which generation the profile points at now (0: none), read independently of the code under
 * test, and its store path. */
static long current(const char *profile, char *store, size_t len)
{
    char target[PATH_MAX], link[PATH_MAX];
    ssize_t n = readlink(profile, target, sizeof(target) - 1);
    const char *base = strrchr(profile, '/') + 1;
    long gen;

    if (n < 0)
        return 0;
    target[n] = '\0';
    cr_assert_eq(sscanf(target + strlen(base), "-%ld-link", &gen), 1, "%s", target);
    FMT(link, sizeof(link), "%s-%ld-link", profile, gen);
    if (store) {
        n = readlink(link, store, len - 1);
        cr_assert_gt(n, 0);
        store[n] = '\0';
    }
    return gen;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static json_t *plan_profile(const char *store)
{
    json_t *plan = json_pack("{s:s, s:s, s:s, s:s}", "backend", "nix-profile", "profile", t.profile,
                             "store_path", store, "description", "a test");
    cr_assert_not_null(plan);
    return plan;
}

static json_t *plan_nixos(const char *store)
{
    json_t *plan = json_pack("{s:s, s:s}", "backend", "nixos", "store_path", store);
    cr_assert_not_null(plan);
    return plan;
}

/* validate and prepare as the engine does; the new record. */
static json_t *begin(const struct switch_backend *b, const json_t *plan, const char *target)
{
    char tgt[PATH_MAX];
    json_t *record = NULL;

    cr_assert_eq(b->validate(&t.env, plan, tgt, sizeof(tgt), t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_str_eq(tgt, target);
    cr_assert_eq(b->prepare(&t.env, plan, &record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_not_null(record);
    return record;
}

static long record_int(const json_t *record, const char *key)
{
    json_t *v = json_object_get(record, key);

    cr_assert(json_is_integer(v), "%s missing", key);
    return (long)json_integer_value(v);
}

/* The last line of the activation log, "" when there is none. */
static void last_activation(char *buf, size_t len)
{
    FILE *f = fopen(t.log, "r");
    char line[PATH_MAX];

    buf[0] = '\0';
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
    fclose(f);
}

static int activations(void)
{
    FILE *f = fopen(t.log, "r");
    int n = 0, c;

    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

TestSuite(watch_nix, .init = setup, .fini = teardown);

/* The osModa defect: a relative --rollback from generation 4 would land on 3. Generations
 * 1..3 exist, 1 is current: the switch makes 4, the rollback goes to 1, twice harmlessly. */
Test(watch_nix, rollback_goes_to_the_recorded_generation)
{
    const struct switch_backend *b = &switch_backend_nix_profile;
    char store[PATH_MAX];
    json_auto_t *plan = plan_profile(t.store[C4]);
    json_auto_t *record = NULL, *sum = NULL;

    for (int i = C1; i <= C3; i++)
        sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[i]);
    sh("nix-env -p %s --switch-generation 1 2>/dev/null", t.profile);
    cr_assert_eq(current(t.profile, NULL, 0), 1);

    record = begin(b, plan, t.profile);
    cr_assert_eq(record_int(record, "from_generation"), 1);
    cr_assert_eq(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, store, sizeof(store)), 4);
    cr_assert_str_eq(store, t.store[C4]);
    cr_assert_eq(record_int(record, "to_generation"), 4);

    sum = b->summary(plan, record);
    cr_assert_eq(json_integer_value(json_object_get(sum, "from_generation")), 1);
    cr_assert_eq(json_integer_value(json_object_get(sum, "to_generation")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(sum, "from_store_path")), t.store[C1]);
    cr_assert_str_eq(json_string_value(json_object_get(sum, "to_store_path")), t.store[C4]);

    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, store, sizeof(store)), 1);
    cr_assert_str_eq(store, t.store[C1]);
    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, NULL, 0), 1);
    /* the other generations are left alone */
    for (int g = 2; g <= 4; g++) {
        char link[PATH_MAX];
        FMT(link, sizeof(link), "%s-%d-link", t.profile, g);
        cr_assert(exists(link), "%s", link);
    }
}

/* A record read back after a restart (JSON text) rolls back the same way. */
Test(watch_nix, rollback_from_a_persisted_record)
{
    const struct switch_backend *b = &switch_backend_nix_profile;
    json_auto_t *plan = plan_profile(t.store[C2]);
    json_auto_t *record = NULL, *again = NULL;
    char *text;

    sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[C1]);
    record = begin(b, plan, t.profile);
    cr_assert_eq(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, NULL, 0), 2);
    text = json_dumps(record, 0);
    again = json_loads(text, 0, NULL);
    free(text);
    cr_assert_eq(b->rollback(&t.env, plan, again, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, NULL, 0), 1);
}

/* No profile before: the rollback removes it and the generation the switch made, also when
 * the daemon died before apply could record that generation. */
Test(watch_nix, rollback_of_a_first_generation_removes_the_profile)
{
    const struct switch_backend *b = &switch_backend_nix_profile;
    char link[PATH_MAX];
    json_auto_t *plan = plan_profile(t.store[C1]);
    json_auto_t *record = begin(b, plan, t.profile);
    json_auto_t *crashed = json_deep_copy(record);

    cr_assert_eq(record_int(record, "from_generation"), 0);
    cr_assert_eq(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, NULL, 0), 1);
    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    FMT(link, sizeof(link), "%s-1-link", t.profile);
    cr_assert(!exists(t.profile));
    cr_assert(!exists(link));
    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);

    /* apply ran nix-env but its record was never written */
    sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[C1]);
    cr_assert(exists(link));
    cr_assert_eq(b->rollback(&t.env, plan, crashed, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert(!exists(t.profile));
    cr_assert(!exists(link));
}

/* Setting the path that is current already makes no generation; rollback is then a no-op. */
Test(watch_nix, same_store_path_makes_no_generation)
{
    const struct switch_backend *b = &switch_backend_nix_profile;
    json_auto_t *plan = plan_profile(t.store[C1]);
    json_auto_t *record = NULL;

    sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[C1]);
    record = begin(b, plan, t.profile);
    cr_assert_eq(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(record_int(record, "to_generation"), 1);
    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.profile, NULL, 0), 1);
}

struct bad_plan {
    const char *json; /* @P the profile, @S a valid store path, @D the temp dir */
    const char *err;  /* a part of the error */
};

/* The plan text with @P, @S and @D replaced. */
static void expand(const char *tmpl, char *buf, size_t len)
{
    size_t n = 0;

    for (const char *p = tmpl; *p; p++) {
        const char *v = NULL;
        if (p[0] == '@' && p[1] == 'P')
            v = t.profile;
        else if (p[0] == '@' && p[1] == 'S')
            v = t.store[C2];
        else if (p[0] == '@' && p[1] == 'D')
            v = t.dir;
        cr_assert_lt(n + (v ? strlen(v) : 1), len);
        if (v) {
            memcpy(buf + n, v, strlen(v));
            n += strlen(v);
            p++;
        } else
            buf[n++] = *p;
    }
    buf[n] = '\0';
}

/* Each is refused by validate with a clear reason, and the profile is as before. */
Test(watch_nix, bad_plans_are_refused_and_change_nothing)
{
    static const struct bad_plan cases[] = {
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\"}", "store_path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":\"@S\",\"x\":1}", "plan:"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":7}", "plan:"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":\"@S\","
         "\"description\":[]}",
         "plan:"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":\"/tmp\"}",
         "not a Nix store path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":\"@S/etc\"}",
         "not a Nix store path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":"
         "\"/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x\"}",
         "not a Nix store path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P\",\"store_path\":"
         "\"/nix/store/00000000000000000000000000000000-osmoda-nixtest-missing\"}",
         "No such file"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"profiles/app\",\"store_path\":\"@S\"}",
         "not an absolute normalised path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@D/profiles/../profiles/app\","
         "\"store_path\":\"@S\"}",
         "not an absolute normalised path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@P/\",\"store_path\":\"@S\"}",
         "not an absolute normalised path"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@D/none/app\",\"store_path\":\"@S\"}",
         "does not exist"},
        {"{\"backend\":\"nix-profile\",\"profile\":\"@D/gen.nix\",\"store_path\":\"@S\"}",
         "not a link to one of its generations"},
        {"{\"backend\":\"nixos\",\"store_path\":\"@S\"}", "not a NixOS system"},
        {"{\"backend\":\"nixos\",\"profile\":\"@P\",\"store_path\":\"@S\"}", "plan:"},
    };
    const struct switch_backend *b;
    char text[4096], tgt[PATH_MAX], before[PATH_MAX], after[PATH_MAX];

    sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[C1]);
    cr_assert_eq(current(t.profile, before, sizeof(before)), 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_auto_t *plan = NULL;
        expand(cases[i].json, text, sizeof(text));
        cr_assert_not_null(plan = json_loads(text, 0, NULL), "%s", text);
        b = strstr(text, "nixos") ? &switch_backend_nixos : &switch_backend_nix_profile;
        t.err[0] = '\0';
        cr_assert_eq(b->validate(&t.env, plan, tgt, sizeof(tgt), t.err, sizeof(t.err)), -EINVAL,
                     "accepted: %s", text);
        cr_assert_not_null(strstr(t.err, cases[i].err), "%s: %s", text, t.err);
    }
    cr_assert_eq(current(t.profile, after, sizeof(after)), 1);
    cr_assert_str_eq(after, before);
    cr_assert(!exists(t.system));
}

/* A directory in the store that Nix's database does not know is not a valid store path. */
Test(watch_nix, a_path_nix_does_not_know_is_refused)
{
    char fake[PATH_MAX], tgt[PATH_MAX];
    json_auto_t *plan = NULL;
    int r;

    FMT(fake, sizeof(fake), "/nix/store/%.32s-osmoda-nixtest-unregistered-%d", t.store[C1] + 11,
        (int)getpid());
    cr_assert_eq(mkdir(fake, 0755), 0);
    plan = plan_profile(fake);
    r = switch_backend_nix_profile.validate(&t.env, plan, tgt, sizeof(tgt), t.err, sizeof(t.err));
    rmdir(fake);
    cr_assert_eq(r, -EINVAL);
    cr_assert_not_null(strstr(t.err, "nix-store --check-validity failed"), "%s", t.err);
    cr_assert(!exists(t.profile));
}

/* nixos: apply sets the system profile and runs the new system's switch-to-configuration
 * switch; rollback goes back to the recorded generation and runs its switch-to-configuration. */
Test(watch_nix, nixos_apply_and_rollback_activate_each_system)
{
    const struct switch_backend *b = &switch_backend_nixos;
    char line[PATH_MAX * 2], want[PATH_MAX * 2];
    json_auto_t *plan = plan_nixos(t.store[S2]);
    json_auto_t *record = NULL;

    sh("nix-env -p %s --set %s 2>/dev/null", t.system, t.store[S1]);
    record = begin(b, plan, t.system);
    cr_assert_eq(activations(), 0);
    cr_assert_eq(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.system, NULL, 0), 2);
    last_activation(line, sizeof(line));
    FMT(want, sizeof(want), "%s switch", t.store[S2]);
    cr_assert_str_eq(line, want);

    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.system, NULL, 0), 1);
    last_activation(line, sizeof(line));
    FMT(want, sizeof(want), "%s switch", t.store[S1]);
    cr_assert_str_eq(line, want);
    cr_assert_eq(activations(), 2);
}

/* A failing switch-to-configuration fails the apply with its exit status; the rollback that
 * follows restores and activates the previous system. */
Test(watch_nix, nixos_failing_activation_fails_and_rolls_back)
{
    const struct switch_backend *b = &switch_backend_nixos;
    char line[PATH_MAX * 2], want[PATH_MAX * 2];
    json_auto_t *plan = plan_nixos(t.store[SBAD]);
    json_auto_t *record = NULL;

    sh("nix-env -p %s --set %s 2>/dev/null", t.system, t.store[S1]);
    record = begin(b, plan, t.system);
    cr_assert_lt(b->apply(&t.env, plan, record, t.err, sizeof(t.err)), 0);
    cr_assert_not_null(strstr(t.err, "switch-to-configuration switch of the new system failed "
                                     "(exit 1)"),
                       "%s", t.err);
    last_activation(line, sizeof(line));
    FMT(want, sizeof(want), "%s switch", t.store[SBAD]);
    cr_assert_str_eq(line, want);

    cr_assert_eq(b->rollback(&t.env, plan, record, t.err, sizeof(t.err)), 0, "%s", t.err);
    cr_assert_eq(current(t.system, NULL, 0), 1);
    last_activation(line, sizeof(line));
    FMT(want, sizeof(want), "%s switch", t.store[S1]);
    cr_assert_str_eq(line, want);
}

/* A system profile without a generation has nothing to go back to: refused before any change,
 * by validate and by prepare; a rollback without a record has nothing to undo. */
Test(watch_nix, nixos_without_a_previous_generation_is_refused)
{
    json_auto_t *plan = plan_nixos(t.store[S2]);
    json_t *record = NULL;
    char tgt[PATH_MAX];

    cr_assert_eq(
        switch_backend_nixos.validate(&t.env, plan, tgt, sizeof(tgt), t.err, sizeof(t.err)),
        -EINVAL);
    cr_assert_not_null(strstr(t.err, "no generation to roll back to"), "%s", t.err);
    t.err[0] = '\0';

    cr_assert_eq(switch_backend_nixos.prepare(&t.env, plan, &record, t.err, sizeof(t.err)),
                 -EINVAL);
    cr_assert_null(record);
    cr_assert_not_null(strstr(t.err, "no generation to roll back to"), "%s", t.err);
    cr_assert_eq(switch_backend_nixos.rollback(&t.env, plan, NULL, t.err, sizeof(t.err)), 0);
    cr_assert_eq(switch_backend_nix_profile.rollback(&t.env, plan, NULL, t.err, sizeof(t.err)), 0);
    cr_assert(!exists(t.system));
    cr_assert_eq(activations(), 0);
}

Test(watch_nix, generations_are_listed_with_the_current_one)
{
    json_auto_t *g = NULL;
    json_t *list;

    for (int i = C1; i <= C3; i++)
        sh("nix-env -p %s --set %s 2>/dev/null", t.profile, t.store[i]);
    sh("nix-env -p %s --switch-generation 2 2>/dev/null", t.profile);
    g = switch_nix_generations(t.profile);
    cr_assert_not_null(g);
    cr_assert_eq(json_integer_value(json_object_get(g, "current")), 2);
    list = json_object_get(g, "generations");
    cr_assert_eq(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(list, i);
        cr_assert_eq(json_integer_value(json_object_get(e, "number")), (json_int_t)i + 1);
        cr_assert_str_eq(json_string_value(json_object_get(e, "store_path")), t.store[C1 + i]);
        cr_assert_eq(json_is_true(json_object_get(e, "current")), i == 1);
    }
    json_decref(g);
    g = switch_nix_generations(t.system);
    cr_assert(json_is_null(json_object_get(g, "current")));
    cr_assert_eq(json_array_size(json_object_get(g, "generations")), 0);
    cr_assert_null(switch_nix_generations("relative/profile"));
}

/* ---- without Nix: the runner and the path checks ---- */

Test(watch_nix_run, output_tail_and_exit_status)
{
    const char *argv[] = {"/bin/sh", "-c",
                          "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done; "
                          "echo last words >&2; exit 3",
                          NULL};
    struct switch_nix_result res;
    char err[256];

    cr_assert_eq(switch_nix_run(argv, 30, &res), 0);
    cr_assert_eq(res.status, 3);
    cr_assert_eq(res.len, SWITCH_NIX_OUTPUT_MAX);
    cr_assert_eq(strlen(res.output), res.len);
    cr_assert_str_eq(res.output + res.len - strlen("line1999\nlast words\n"),
                     "line1999\nlast words\n");
    switch_nix_run_error("thing", 0, &res, err, sizeof(err));
    cr_assert_str_eq(err, "thing failed (exit 3): last words");
}

Test(watch_nix_run, nix_config_only_when_unset)
{
    const char *argv[] = {"/bin/sh", "-c", "printf %s \"$NIX_CONFIG\"", NULL};
    struct switch_nix_result res;

    unsetenv("NIX_CONFIG");
    cr_assert_eq(switch_nix_run(argv, 30, &res), 0);
    cr_assert_str_eq(res.output, SWITCH_NIX_CONFIG);
    setenv("NIX_CONFIG", "keep-going = true", 1);
    cr_assert_eq(switch_nix_run(argv, 30, &res), 0);
    cr_assert_str_eq(res.output, "keep-going = true");
}

static bool running(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    bool alive;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return false;
    alive = fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[2] != 'Z';
    fclose(f);
    return alive;
}

/* At the deadline the whole process group is killed, its descendants too. */
Test(watch_nix_run, timeout_kills_the_process_group)
{
    const char *argv[] = {"/bin/sh", "-c", "sleep 300 & echo $!; wait", NULL};
    struct switch_nix_result res;
    int64_t deadline;
    pid_t sleeper;

    cr_assert_eq(switch_nix_run(argv, 1, &res), -ETIMEDOUT);
    cr_assert_eq(sscanf(res.output, "%d", &sleeper), 1, "%s", res.output);
    deadline = osm_monotonic_ms() + WAIT_MS;
    while (running(sleeper) && osm_monotonic_ms() < deadline)
        usleep(10000);
    cr_assert(!running(sleeper), "pid %d survived", (int)sleeper);
}

Test(watch_nix_run, refuses_a_relative_program)
{
    const char *argv[] = {"sh", "-c", "true", NULL};
    struct switch_nix_result res;

    cr_assert_eq(switch_nix_run(argv, 1, &res), -EINVAL);
}

Test(watch_nix_paths, store_path_syntax)
{
    static const char *const good[] = {
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-osmtest-play-1",
        "/nix/store/00000000000000000000000000000000-a+b-c._?=",
    };
    static const char *const bad[] = {
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-osmtest/sub",
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh",
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-",
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6k-short",
        "/nix/store/ea99zgddiclgiw296yf0pc98simlb6kh-e-is-not-base32",
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-.hidden",
        "/nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-a b",
        "/nix/store/../store/qa99zgddiclgiw296yf0pc98simlb6kh-x",
        "/nix/storeqa99zgddiclgiw296yf0pc98simlb6kh-x",
        "nix/store/qa99zgddiclgiw296yf0pc98simlb6kh-x",
        "",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(switch_nix_store_path_syntax(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!switch_nix_store_path_syntax(bad[i]), "%s", bad[i]);
}

Test(watch_nix_paths, normalised_paths)
{
    static const char *const good[] = {"/a", "/nix/var/nix/profiles/system", "/a/.b/c..d"};
    static const char *const bad[] = {"/",     "",       "a/b",     "/a/", "//a",
                                      "/a//b", "/a/./b", "/a/../b", "/..", "/a/.."};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(switch_nix_path_normalised(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!switch_nix_path_normalised(bad[i]), "%s", bad[i]);
}
