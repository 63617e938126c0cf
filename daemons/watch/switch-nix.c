/* The nix-profile and nixos generation backends of SafeSwitch (switch-backend.h).
 *   nix-profile {"profile":P,"store_path":S}: nix-env -p P --set S.
 *   nixos {"store_path":S}: the system profile set to S, then S/bin/switch-to-configuration switch.
 * The record holds the profile, the generation it pointed at before (from_generation, 0: the
 * profile did not exist), that generation's store path and the highest generation number then.
 * Rollback goes to from_generation by number (nix-env --switch-generation N), never a relative
 * --rollback, which goes one too far when the switch created no generation. A profile that did
 * not exist before is removed again, with the generation links the switch created. The nixos
 * backend refuses a system profile without a generation: it would have nothing to go back to. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "switch-backend.h"
#include "switch-nix.h"

#define NIX_ARGV_MAX 8

struct nix_plan {
    const char *profile; /* the system profile for nixos */
    const char *store_path;
};

/* What prepare recorded and apply added. */
struct nix_record {
    const char *profile, *from_store_path, *to_store_path;
    long from_gen, to_gen, max_gen;
};

/* The plan as the tool schema has it: backend, the store path, the profile (nix-profile only)
 * and an optional description, nothing else. */
static int parse_plan(const struct switch_env *env, const json_t *plan, bool nixos,
                      struct nix_plan *p, char *err, size_t errlen)
{
    const char *backend, *why = NULL;
    json_error_t jerr;
    int r = nixos ? json_unpack_ex((json_t *)plan, &jerr, JSON_STRICT, "{s:s, s:s, s?s}", "backend",
                                   &backend, "store_path", &p->store_path, "description", &why)
                  : json_unpack_ex((json_t *)plan, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?s}",
                                   "backend", &backend, "profile", &p->profile, "store_path",
                                   &p->store_path, "description", &why);

    if (r < 0) {
        snprintf(err, errlen, "plan: %s", jerr.text);
        return -EINVAL;
    }
    if (nixos)
        p->profile = env->nixos_profile ? env->nixos_profile : SWITCH_NIXOS_PROFILE;
    return 0;
}

static int parse_record(const json_t *record, struct nix_record *rec, char *err, size_t errlen)
{
    json_int_t from = 0, to = 0, max = 0;
    json_error_t jerr;

    *rec = (struct nix_record){0};
    if (json_unpack_ex((json_t *)record, &jerr, 0, "{s:s, s:I, s:I, s?s, s?I, s?s}", "profile",
                       &rec->profile, "from_generation", &from, "max_generation", &max,
                       "from_store_path", &rec->from_store_path, "to_generation", &to,
                       "to_store_path", &rec->to_store_path) < 0 ||
        from < 0 || max < from || to < 0 || !switch_nix_path_normalised(rec->profile)) {
        snprintf(err, errlen, "switch record unusable: %s", jerr.text);
        return -EINVAL;
    }
    rec->from_gen = (long)from;
    rec->to_gen = (long)to;
    rec->max_gen = (long)max;
    return 0;
}

static int check_store_path(const char *path, char *err, size_t errlen)
{
    struct switch_nix_result res;
    char tool[PATH_MAX];
    struct stat st;
    int r;

    if (!switch_nix_store_path_syntax(path)) {
        snprintf(err, errlen,
                 "store_path: not a Nix store path (" SWITCH_NIX_STORE_DIR
                 "/<32-character hash>-<name>): %s",
                 path);
        return -EINVAL;
    }
    if (lstat(path, &st) < 0) {
        snprintf(err, errlen, "store_path: %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    if (switch_nix_find_tool("nix-store", tool, sizeof(tool)) < 0) {
        snprintf(err, errlen, "nix-store not found in $PATH or " SWITCH_NIX_BIN_FALLBACK);
        return -EINVAL;
    }
    /* the Nix database decides: a path copied into the store by hand is not a valid one */
    r = switch_nix_run((const char *[]){tool, "--check-validity", path, NULL}, SWITCH_CMD_TIMEOUT_S,
                       &res);
    if (r < 0 || res.status != 0) {
        switch_nix_run_error("nix-store --check-validity", r, &res, err, errlen);
        return -EINVAL;
    }
    return 0;
}

/* The profile's directory exists, and the profile is missing or a link to a generation. */
static int check_profile(const char *profile, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat st;
    long gen;

    if (!switch_nix_path_normalised(profile)) {
        snprintf(err, errlen, "profile: not an absolute normalised path: %s", profile);
        return -EINVAL;
    }
    snprintf(dir, sizeof(dir), "%s", profile);
    *(strrchr(dir, '/') == dir ? dir + 1 : strrchr(dir, '/')) = '\0';
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "profile: the directory %s does not exist", dir);
        return -EINVAL;
    }
    if (switch_nix_current(profile, &gen, NULL, 0) < 0) {
        snprintf(err, errlen, "profile: %s exists and is not a link to one of its generations",
                 profile);
        return -EINVAL;
    }
    return 0;
}

static int set_target(const char *profile, char *target, size_t target_len, char *err,
                      size_t errlen)
{
    if (strlen(profile) >= target_len) {
        snprintf(err, errlen, "profile: path too long");
        return -EINVAL;
    }
    strcpy(target, profile);
    return 0;
}

static int validate_common(const struct switch_env *env, const json_t *plan, bool nixos,
                           char *target, size_t target_len, char *err, size_t errlen)
{
    struct nix_plan p;
    int r;

    if ((r = parse_plan(env, plan, nixos, &p, err, errlen)) < 0 ||
        (r = check_profile(p.profile, err, errlen)) < 0 ||
        (r = check_store_path(p.store_path, err, errlen)) < 0)
        return r;
    return set_target(p.profile, target, target_len, err, errlen);
}

static int validate_profile(const struct switch_env *env, const json_t *plan, char *target,
                            size_t target_len, char *err, size_t errlen)
{
    return validate_common(env, plan, false, target, target_len, err, errlen);
}

static int validate_nixos(const struct switch_env *env, const json_t *plan, char *target,
                          size_t target_len, char *err, size_t errlen)
{
    char stc[PATH_MAX];
    struct stat st;
    long gen;
    int r;

    if ((r = validate_common(env, plan, true, target, target_len, err, errlen)) < 0)
        return r;
    snprintf(stc, sizeof(stc), "%s/bin/switch-to-configuration",
             json_string_value(json_object_get(plan, "store_path")));
    if (stat(stc, &st) < 0 || !S_ISREG(st.st_mode) || access(stc, X_OK) < 0) {
        snprintf(err, errlen, "store_path: not a NixOS system: %s is missing or not executable",
                 stc);
        return -EINVAL;
    }
    if (switch_nix_current(target, &gen, NULL, 0) < 0 || gen == 0) {
        snprintf(err, errlen, "the system profile %s has no generation to roll back to", target);
        return -EINVAL;
    }
    return 0;
}

static int prepare_common(const struct switch_env *env, const json_t *plan, bool nixos,
                          json_t **ret_record, char *err, size_t errlen)
{
    char from_path[PATH_MAX];
    struct nix_plan p;
    long from, max;
    int r;

    if ((r = parse_plan(env, plan, nixos, &p, err, errlen)) < 0)
        return r;
    if ((r = switch_nix_current(p.profile, &from, from_path, sizeof(from_path))) < 0 ||
        (r = switch_nix_max_generation(p.profile, &max)) < 0) {
        snprintf(err, errlen, "profile %s: cannot read its generations: %s", p.profile,
                 strerror(-r));
        return r;
    }
    if (nixos && from == 0) {
        snprintf(err, errlen, "the system profile %s has no generation to roll back to", p.profile);
        return -EINVAL;
    }
    *ret_record = json_pack("{s:s, s:I, s:s*, s:I}", "profile", p.profile, "from_generation",
                            (json_int_t)from, "from_store_path", from ? from_path : NULL,
                            "max_generation", (json_int_t)(max > from ? max : from));
    return *ret_record ? 0 : -ENOMEM;
}

static int prepare_profile(const struct switch_env *env, const json_t *plan, json_t **ret_record,
                           char *err, size_t errlen)
{
    return prepare_common(env, plan, false, ret_record, err, errlen);
}

static int prepare_nixos(const struct switch_env *env, const json_t *plan, json_t **ret_record,
                         char *err, size_t errlen)
{
    return prepare_common(env, plan, true, ret_record, err, errlen);
}

/* nix-env -p PROFILE <op> <arg>. */
static int nix_env(const char *profile, const char *op, const char *arg, char *err, size_t errlen)
{
    struct switch_nix_result res;
    char tool[PATH_MAX], what[64];
    int r;

    if (switch_nix_find_tool("nix-env", tool, sizeof(tool)) < 0) {
        snprintf(err, errlen, "nix-env not found in $PATH or " SWITCH_NIX_BIN_FALLBACK);
        return -ENOENT;
    }
    r = switch_nix_run((const char *[]){tool, "-p", profile, op, arg, NULL}, SWITCH_CMD_TIMEOUT_S,
                       &res);
    if (r < 0 || res.status != 0) {
        snprintf(what, sizeof(what), "nix-env %s", op);
        switch_nix_run_error(what, r, &res, err, errlen);
        return r < 0 ? r : -EIO;
    }
    return 0;
}

/* <system>/bin/switch-to-configuration switch. */
static int activate(const char *system, const char *which, char *err, size_t errlen)
{
    struct switch_nix_result res;
    char stc[PATH_MAX], what[96];
    int r;

    snprintf(stc, sizeof(stc), "%s/bin/switch-to-configuration", system);
    r = switch_nix_run((const char *[]){stc, "switch", NULL}, SWITCH_CMD_TIMEOUT_S, &res);
    if (r < 0 || res.status != 0) {
        snprintf(what, sizeof(what), "switch-to-configuration switch of the %s system", which);
        switch_nix_run_error(what, r, &res, err, errlen);
        return r < 0 ? r : -EIO;
    }
    return 0;
}

/* Sets the profile to the plan's store path and records the generation that made. */
static int apply_set(const struct nix_plan *p, json_t *record, char *err, size_t errlen)
{
    char now[PATH_MAX];
    long gen;
    int r;

    if ((r = nix_env(p->profile, "--set", p->store_path, err, errlen)) < 0)
        return r;
    if ((r = switch_nix_current(p->profile, &gen, now, sizeof(now))) < 0 || gen == 0 ||
        strcmp(now, p->store_path) != 0) {
        snprintf(err, errlen, "profile %s does not point at %s after nix-env --set", p->profile,
                 p->store_path);
        return r < 0 ? r : -EIO;
    }
    if (json_object_set_new(record, "to_generation", json_integer(gen)) < 0 ||
        json_object_set_new(record, "to_store_path", json_string(now)) < 0)
        return -ENOMEM;
    return 0;
}

static int apply_profile(const struct switch_env *env, const json_t *plan, json_t *record,
                         char *err, size_t errlen)
{
    struct nix_plan p;
    int r;

    if ((r = parse_plan(env, plan, false, &p, err, errlen)) < 0)
        return r;
    return apply_set(&p, record, err, errlen);
}

/* A failed activation leaves the new generation current: the engine's rollback restores the
 * recorded one and activates it. */
static int apply_nixos(const struct switch_env *env, const json_t *plan, json_t *record, char *err,
                       size_t errlen)
{
    struct nix_plan p;
    int r;

    if ((r = parse_plan(env, plan, true, &p, err, errlen)) < 0 ||
        (r = apply_set(&p, record, err, errlen)) < 0)
        return r;
    return activate(p.store_path, "new", err, errlen);
}

/* Removes path when it is a link whose target is want (any target when want is NULL). */
static int unlink_link(const char *path, const char *want)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0)
        return errno == ENOENT ? 0 : -errno;
    target[n] = '\0';
    if (want && strcmp(target, want) != 0)
        return 0;
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* The profile did not exist before: remove it, and the generations the switch made (numbers
 * above the highest one then, pointing at what the switch set). */
static int remove_profile(const struct nix_record *rec, const char *store_path, char *err,
                          size_t errlen)
{
    char link[PATH_MAX];
    long max;
    int r;

    if ((r = switch_nix_max_generation(rec->profile, &max)) < 0 ||
        (r = unlink_link(rec->profile, NULL)) < 0)
        goto fail;
    for (long g = rec->max_gen + 1; g <= max; g++) {
        snprintf(link, sizeof(link), "%s-%ld-link", rec->profile, g);
        if ((r = unlink_link(link, store_path)) < 0)
            goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "profile %s: cannot remove it: %s", rec->profile, strerror(-r));
    return r;
}

/* Back to the recorded generation by number; nothing to do when it is current already. */
static int rollback_set(const struct nix_record *rec, const char *store_path, char *err,
                        size_t errlen)
{
    char num[32];
    long now;
    int r;

    if (rec->from_gen == 0)
        return remove_profile(rec, store_path, err, errlen);
    if (switch_nix_current(rec->profile, &now, NULL, 0) == 0 && now == rec->from_gen)
        return 0;
    snprintf(num, sizeof(num), "%ld", rec->from_gen);
    if ((r = nix_env(rec->profile, "--switch-generation", num, err, errlen)) < 0)
        return r;
    if ((r = switch_nix_current(rec->profile, &now, NULL, 0)) < 0 || now != rec->from_gen) {
        snprintf(err, errlen, "profile %s is not at generation %ld after rollback", rec->profile,
                 rec->from_gen);
        return r < 0 ? r : -EIO;
    }
    return 0;
}

static int rollback_profile(const struct switch_env *env, const json_t *plan, json_t *record,
                            char *err, size_t errlen)
{
    struct nix_record rec;
    int r;

    (void)env;
    if (!record)
        return 0; /* prepare recorded nothing: nothing was changed */
    if ((r = parse_record(record, &rec, err, errlen)) < 0)
        return r;
    return rollback_set(&rec, json_string_value(json_object_get(plan, "store_path")), err, errlen);
}

/* Every rollback activates the recorded generation again (switch-to-configuration is meant to
 * be run repeatedly): after a restart we cannot know whether an earlier attempt got that far. */
static int rollback_nixos(const struct switch_env *env, const json_t *plan, json_t *record,
                          char *err, size_t errlen)
{
    char system[PATH_MAX];
    struct nix_record rec;
    int r;

    (void)env;
    if (!record)
        return 0; /* prepare recorded nothing: nothing was changed */
    if ((r = parse_record(record, &rec, err, errlen)) < 0)
        return r;
    if (rec.from_gen == 0) {
        snprintf(err, errlen, "switch record unusable: no generation to roll back to");
        return -EINVAL;
    }
    if ((r = rollback_set(&rec, json_string_value(json_object_get(plan, "store_path")), err,
                          errlen)) < 0)
        return r;
    if ((r = switch_nix_generation_store_path(rec.profile, rec.from_gen, system, sizeof(system))) <
        0) {
        snprintf(err, errlen, "generation %ld of %s: %s", rec.from_gen, rec.profile, strerror(-r));
        return r;
    }
    return activate(system, "previous", err, errlen);
}

static json_t *summary(const json_t *plan, const json_t *record)
{
    json_t *to = json_object_get(record, "to_generation");

    (void)plan;
    return json_pack("{s:O?, s:O?, s:O, s:O?, s:O?}", "profile", json_object_get(record, "profile"),
                     "from_generation", json_object_get(record, "from_generation"), "to_generation",
                     to ? to : json_null(), "from_store_path",
                     json_object_get(record, "from_store_path"), "to_store_path",
                     json_object_get(record, "to_store_path"));
}

const struct switch_backend switch_backend_nix_profile = {
    .name = "nix-profile",
    .validate = validate_profile,
    .prepare = prepare_profile,
    .apply = apply_profile,
    .rollback = rollback_profile,
    .summary = summary,
};

const struct switch_backend switch_backend_nixos = {
    .name = "nixos",
    .validate = validate_nixos,
    .prepare = prepare_nixos,
    .apply = apply_nixos,
    .rollback = rollback_nixos,
    .summary = summary,
};
