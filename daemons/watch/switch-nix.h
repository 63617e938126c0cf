/* The Nix generation backends' own parts (switch-nix*.c): running Nix's commands without a shell
 * and with a deadline, and reading a profile's generations from its links
 * (PROFILE -> PROFILE-N-link -> /nix/store/...). The backends themselves are declared in
 * switch-backend.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SWITCH_NIX_STORE_DIR "/nix/store"
#define SWITCH_NIX_HASH_LEN 32          /* nix base32 of a store path's hash */
#define SWITCH_NIX_NAME_MAX 211         /* the name after the hash, as Nix allows */
#define SWITCH_NIX_OUTPUT_MAX 2048      /* tail of a command's output kept for the error */
#define SWITCH_NIX_GENERATIONS_MAX 1024 /* generations listed, newest first kept */
/* Where nix-env is looked for after $PATH: a single-user or multi-user install, then NixOS. */
#define SWITCH_NIX_BIN_FALLBACK "/nix/var/nix/profiles/default/bin:/run/current-system/sw/bin"
/* The environment Nix's commands get when the daemon's own has no NIX_CONFIG: no substituter
 * (works with the network down, never waits on a DNS failure) and no build users (a
 * single-user install as root has no nixbld group). Neither matters to --set or
 * --switch-generation, which build nothing; they keep Nix quiet and offline. */
#define SWITCH_NIX_CONFIG "substituters =\nbuild-users-group =\n"

/* What a command left: its exit status and the tail of its stdout and stderr together. */
struct switch_nix_result {
    int status; /* exit code, or 128 + the signal that ended it */
    char output[SWITCH_NIX_OUTPUT_MAX + 1];
    size_t len;
};

/* Runs argv (argv[0] an absolute path; no shell) with stdin on /dev/null, its output captured
 * into res (the last SWITCH_NIX_OUTPUT_MAX bytes), in a process group of its own that is
 * killed when timeout_s passes. The environment is the daemon's, plus SWITCH_NIX_CONFIG when
 * NIX_CONFIG is unset. 0 once it ended (see res->status), -ETIMEDOUT, or -errno. */
int switch_nix_run(const char *const *argv, int timeout_s, struct switch_nix_result *res);
/* Writes into err "<what> failed (exit N): <last line of output>" or the reason r. */
void switch_nix_run_error(const char *what, int r, const struct switch_nix_result *res, char *err,
                          size_t errlen);
/* Finds an executable named name in $PATH, then SWITCH_NIX_BIN_FALLBACK. 0 or -ENOENT. */
int switch_nix_find_tool(const char *name, char *buf, size_t len);

/* True when path is exactly /nix/store/<32 nix-base32 chars>-<name> (no subpath). */
bool switch_nix_store_path_syntax(const char *path);
/* True when path is absolute and normalised: no empty, "." or ".." component, no trailing
 * slash, not "/" itself, shorter than PATH_MAX. */
bool switch_nix_path_normalised(const char *path);

/* The generation profile points at: *ret_gen (0 when profile does not exist) and, when
 * store_path is not NULL, the store path of that generation. -EINVAL when profile is
 * something other than a link to one of its generations. */
int switch_nix_current(const char *profile, long *ret_gen, char *store_path, size_t len);
/* The store path generation gen of profile points at. -ENOENT when there is no such link. */
int switch_nix_generation_store_path(const char *profile, long gen, char *buf, size_t len);
/* The highest generation number of profile that exists (0: none). */
int switch_nix_max_generation(const char *profile, long *ret_gen);
