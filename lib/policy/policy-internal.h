/* Shared by policy.c (loading, rules, defaults) and paths.c (the path-like arguments of a call:
 * resolving them and checking them against protected paths and secrets). */
#pragma once

#include "policy.h"
#include "secrets.h"

struct rule {
    char *tool;            /* NULL or "*": any */
    int cls;               /* -1: any */
    int ring;              /* 0: any */
    char *path_prefix;     /* normalised */
    char *command_pattern; /* normalised */
    bool destructive;      /* command_pattern "@destructive" */
    enum osm_policy_decision decision;
};

struct osm_policy {
    struct rule *rules;
    size_t n_rules;
    char *protected_paths[OSM_POLICY_PROTECTED_MAX]; /* for the command-text warning */
    size_t n_protected;
    struct osm_pathset *protected_set;     /* by path and identity, every use */
    struct osm_pathset *secrets;           /* by path and identity, listing a directory allowed */
    char *managed[OSM_POLICY_MANAGED_MAX]; /* managed config prefixes (normalised) */
    size_t n_managed;
};

/* What a call does with a path argument. */
enum policy_path_use {
    POLICY_PATH_READ,
    POLICY_PATH_WRITE,
    POLICY_PATH_LIST, /* the directory is listed: names and sizes only */
};

struct policy_path {
    char *path; /* canonical */
    enum policy_path_use use;
    bool in_workspace;
};

struct policy_paths {
    struct policy_path items[OSM_POLICY_PATH_ARGS_MAX];
    size_t n;
};

void policy_verdict(struct osm_policy_verdict *v, enum osm_policy_decision d, const char *rule,
                    const char *detail);
/* Resolves every path-like argument of q (key taken as override when given) and checks each
 * against the protected paths and the secrets. true when that denied the call (ret filled);
 * false with the canonical paths in *ret_paths otherwise. */
bool policy_paths_collect(const struct osm_policy *p, const struct osm_policy_query *q,
                          const char *key, const struct osm_resolved *override,
                          struct policy_paths *ret_paths, struct osm_policy_verdict *ret);
void policy_paths_clear(struct policy_paths *pp);
