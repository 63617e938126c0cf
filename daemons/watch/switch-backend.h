/* The generation backends behind a SafeSwitch plan object (switch.h):
 *   {"backend":"files","files":{"/etc/app.conf":"<new content>",...},"restart":["svc",...]}
 *       content-addressed snapshot of the previous files (bytes, mode, owner; absence too),
 *       atomic replace (temp file, fsync, rename, fsync of the directory), then reload or
 *       restart of the named services; rollback restores the snapshot byte for byte and
 *       restarts them again.
 *   {"backend":"nix-profile","profile":"<path>","store_path":"/nix/store/..."}
 *       nix-env -p PROFILE --set STORE_PATH; rollback: --switch-generation <recorded number>
 *       (never a relative --rollback).
 *   {"backend":"nixos","store_path":"/nix/store/...-nixos-system-..."}
 *       the system profile set to STORE_PATH, then its bin/switch-to-configuration switch;
 *       rollback: the recorded previous generation, then its switch-to-configuration switch.
 * A backend keeps in the transaction's record (JSON, persisted with the switch before anything
 * changes) all that its rollback needs, so a rollback can run after a restart, and twice. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "watch.h"

#define SWITCH_FILES_MAX 64                     /* files in one plan */
#define SWITCH_FILE_MAX_BYTES (4 * 1024 * 1024) /* content of one file */
#define SWITCH_CMD_TIMEOUT_S 60                 /* nix-env, switch-to-configuration */
#define SWITCH_NIXOS_PROFILE "/nix/var/nix/profiles/system"

struct switch_env {
    const char *store_dir;     /* <data_dir>/switches/store: snapshots by SHA-256 */
    const char *nixos_profile; /* SWITCH_NIXOS_PROFILE unless the daemon was told otherwise */
    struct svc *svc;           /* services to restart */
    struct fim *fim;           /* told of every file the backend is about to write */
    const struct watch_events *events;
    const char *const *protected_dirs; /* NULL-terminated: no plan may write under these (watch's
                                          data dir, the suite's state and run dirs) */
};

struct switch_backend {
    const char *name;
    /* Checks the plan (paths absolute and normalised, sizes, store paths). Fills target with
     * what it changes, for the one-switch-per-target rule (a file list is one target per
     * path: the backend writes them NUL-separated). -EINVAL with err. */
    int (*validate)(const struct switch_env *env, const json_t *plan, char *target,
                    size_t target_len, char *err, size_t errlen);
    /* Records what the rollback needs (snapshots, the current generation) in *ret_record (new
     * object), before anything changes. */
    int (*prepare)(const struct switch_env *env, const json_t *plan, json_t **ret_record, char *err,
                   size_t errlen);
    /* Applies the plan; may add to record (the new generation). */
    int (*apply)(const struct switch_env *env, const json_t *plan, json_t *record, char *err,
                 size_t errlen);
    /* Restores what prepare recorded. Idempotent. */
    int (*rollback)(const struct switch_env *env, const json_t *plan, json_t *record, char *err,
                    size_t errlen);
    /* The diff summary of the receipts (new reference): files {path, old_sha256, new_sha256,
     * lines_added, lines_removed}, or {from_generation, to_generation}. */
    json_t *(*summary)(const json_t *plan, const json_t *record);
};

extern const struct switch_backend switch_backend_files;
extern const struct switch_backend switch_backend_nix_profile;
extern const struct switch_backend switch_backend_nixos;

/* By the plan's "backend" name; NULL when unknown. */
const struct switch_backend *switch_backend_find(const char *name);
/* The generations of the Nix profile at path (new reference; NULL when path is not absolute and
 * normalised, or on ENOMEM): {profile, current: N or null, generations: [{number, store_path,
 * current}] oldest first (at most the newest 1024; truncated says so)}. Reads the profile's
 * links only: the SafeSwitch engine and safety_status use it whether or not Nix runs here. */
json_t *switch_nix_generations(const char *profile);
