/* A Nix profile's generations, read from its links: PROFILE -> PROFILE-N-link ->
 * /nix/store/<hash>-<name>, all in the profile's directory. Nothing here runs Nix: reading
 * links is what nix-env itself does, and works whether or not Nix is installed. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "switch-backend.h"
#include "switch-nix.h"

static const char nix_base32[] = "0123456789abcdfghijklmnpqrsvwxyz";

static bool store_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("+-._?=", c) != NULL;
}

bool switch_nix_store_path_syntax(const char *path)
{
    const char *p = path, *name;
    size_t prefix = strlen(SWITCH_NIX_STORE_DIR "/"), n;

    if (strncmp(p, SWITCH_NIX_STORE_DIR "/", prefix) != 0)
        return false;
    p += prefix;
    for (n = 0; n < SWITCH_NIX_HASH_LEN; n++)
        if (p[n] == '\0' || !strchr(nix_base32, p[n]))
            return false;
    if (p[n] != '-')
        return false;
    name = p + n + 1;
    n = strlen(name);
    if (n == 0 || n > SWITCH_NIX_NAME_MAX || name[0] == '.')
        return false;
    for (; *name; name++)
        if (!store_name_char(*name))
            return false;
    return true;
}

bool switch_nix_path_normalised(const char *path)
{
    const char *p = path;
    size_t len = strlen(path);

    if (path[0] != '/' || len < 2 || len >= PATH_MAX || path[len - 1] == '/')
        return false;
    while (*p == '/') {
        size_t n = strcspn(p + 1, "/");
        if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
            return false;
        p += 1 + n;
    }
    return *p == '\0';
}

/* Splits profile into its directory (dir, at least "/") and base name. */
static int split(const char *profile, char *dir, size_t dirlen, const char **ret_base)
{
    const char *slash = strrchr(profile, '/');
    size_t n;

    if (!slash || slash[1] == '\0')
        return -EINVAL;
    n = slash == profile ? 1 : (size_t)(slash - profile);
    if (n >= dirlen)
        return -ENAMETOOLONG;
    memcpy(dir, profile, n);
    dir[n] = '\0';
    *ret_base = slash + 1;
    return 0;
}

/* The number N of a link named <base>-N-link, or 0 when name is not one. */
static long link_number(const char *base, const char *name)
{
    size_t blen = strlen(base);
    const char *p;
    char *end;
    long n;

    if (strncmp(name, base, blen) != 0 || name[blen] != '-')
        return 0;
    p = name + blen + 1;
    if (*p < '1' || *p > '9')
        return 0;
    n = strtol(p, &end, 10);
    return strcmp(end, "-link") == 0 && n > 0 && n < LONG_MAX ? n : 0;
}

int switch_nix_generation_store_path(const char *profile, long gen, char *buf, size_t len)
{
    char link[PATH_MAX];
    ssize_t n;

    if (snprintf(link, sizeof(link), "%s-%ld-link", profile, gen) >= (int)sizeof(link))
        return -ENAMETOOLONG;
    if ((n = readlink(link, buf, len)) < 0)
        return -errno;
    if ((size_t)n >= len)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return switch_nix_store_path_syntax(buf) ? 0 : -EINVAL;
}

int switch_nix_current(const char *profile, long *ret_gen, char *store_path, size_t len)
{
    char target[PATH_MAX], dir[PATH_MAX];
    const char *base, *name;
    ssize_t n;
    long gen;
    int r;

    *ret_gen = 0;
    if ((r = split(profile, dir, sizeof(dir), &base)) < 0)
        return r;
    if ((n = readlink(profile, target, sizeof(target) - 1)) < 0)
        return errno == ENOENT ? 0 : errno == EINVAL ? -EINVAL : -errno;
    target[n] = '\0';
    /* nix-env writes the bare name; an absolute link must stay in the profile's directory */
    name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    if (name != target &&
        ((size_t)(name - 1 - target) != strlen(dir) || strncmp(target, dir, strlen(dir)) != 0))
        return -EINVAL;
    if ((gen = link_number(base, name)) == 0)
        return -EINVAL;
    if (store_path && (r = switch_nix_generation_store_path(profile, gen, store_path, len)) < 0)
        return r;
    *ret_gen = gen;
    return 0;
}

/* Calls fn for every generation link of profile. */
static int each_generation(const char *profile, void (*fn)(long gen, void *ctx), void *ctx)
{
    char dir[PATH_MAX];
    const char *base;
    struct dirent *de;
    DIR *d;
    int r;

    if ((r = split(profile, dir, sizeof(dir), &base)) < 0)
        return r;
    if (!(d = opendir(dir)))
        return errno == ENOENT ? 0 : -errno;
    while ((de = readdir(d))) {
        long gen = link_number(base, de->d_name);
        if (gen > 0 && (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN))
            fn(gen, ctx);
    }
    closedir(d);
    return 0;
}

static void note_max(long gen, void *ctx)
{
    long *max = ctx;

    if (gen > *max)
        *max = gen;
}

int switch_nix_max_generation(const char *profile, long *ret_gen)
{
    *ret_gen = 0;
    return each_generation(profile, note_max, ret_gen);
}

struct gen_list {
    long nums[SWITCH_NIX_GENERATIONS_MAX];
    size_t n;
    bool truncated;
};

/* Keeps the newest SWITCH_NIX_GENERATIONS_MAX numbers. */
static void note_gen(long gen, void *ctx)
{
    struct gen_list *l = ctx;
    size_t lowest = 0;

    if (l->n < SWITCH_NIX_GENERATIONS_MAX) {
        l->nums[l->n++] = gen;
        return;
    }
    l->truncated = true;
    for (size_t i = 1; i < l->n; i++)
        if (l->nums[i] < l->nums[lowest])
            lowest = i;
    if (gen > l->nums[lowest])
        l->nums[lowest] = gen;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

static json_t *generation_json(const char *profile, long gen, long current)
{
    char store[PATH_MAX];
    bool ok = switch_nix_generation_store_path(profile, gen, store, sizeof(store)) == 0;

    return json_pack("{s:I,s:s?,s:b}", "number", (json_int_t)gen, "store_path", ok ? store : NULL,
                     "current", gen == current);
}

json_t *switch_nix_generations(const char *profile)
{
    _cleanup_free_ struct gen_list *l = calloc(1, sizeof(*l));
    json_auto_t *list = json_array();
    long current = 0;

    if (!l || !list || !switch_nix_path_normalised(profile))
        return NULL;
    /* a profile that is not a link to a generation has no current one, its links are listed */
    (void)switch_nix_current(profile, &current, NULL, 0);
    if (each_generation(profile, note_gen, l) < 0)
        return NULL;
    qsort(l->nums, l->n, sizeof(l->nums[0]), cmp_long);
    for (size_t i = 0; i < l->n; i++)
        if (json_array_append_new(list, generation_json(profile, l->nums[i], current)) < 0)
            return NULL;
    return json_pack("{s:s,s:o,s:O,s:b}", "profile", profile, "current",
                     current ? json_integer(current) : json_null(), "generations", list,
                     "truncated", l->truncated);
}
