/* The path-like arguments of a tool call: which keys name paths and how each is used, resolving
 * them (beneath the agent workspace where the tool itself resolves them there), and checking the
 * result against the protected paths and the secrets (contract in policy-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"
#include "policy-internal.h"
#include "sandbox/sandbox.h"

/* The keys that name paths; workspace: relative values and /workspace/... are the agent's
 * workspace, as the file tools and spec_kit_run read them. */
static const struct {
    const char *key;
    bool list;
    bool workspace;
} path_keys[] = {
    {"path", false, true},        {"project_path", false, true}, {"working_dir", false, false},
    {"audio_path", false, false}, {"fs_read", true, false},      {"fs_write", true, false},
};

/* How a tool uses a key; anything else reads. */
static const struct {
    const char *tool; /* "*": any */
    const char *key;
    enum policy_path_use use;
} path_uses[] = {
    {"file_write", "path", POLICY_PATH_WRITE},
    {"*", "fs_write", POLICY_PATH_WRITE},
    {"directory_list", "path", POLICY_PATH_LIST},
    {"safe_switch_begin", "plan.files", POLICY_PATH_WRITE},
    {"safe_switch_begin", "plan.profile", POLICY_PATH_WRITE},
};

struct collect {
    const struct osm_policy *p;
    const struct osm_policy_query *q;
    const char *key; /* taken from override */
    const struct osm_resolved *override;
    struct policy_paths *pp;
    struct osm_policy_verdict *ret;
    char ws_real[PATH_MAX];
    int have_ws; /* -1: not looked up yet */
    int ws_fd;
    struct osm_resolved r;
};

const char *osm_policy_workspace_rel(const char *workspace, const char *path)
{
    size_t n;

    if (path[0] != '/')
        return path;
    if (osm_path_is_under(path, OSM_SANDBOX_INSIDE_WORKSPACE)) {
        n = strlen(OSM_SANDBOX_INSIDE_WORKSPACE);
        while (path[n] == '/')
            n++;
        return path[n] ? path + n : ".";
    }
    if (workspace && osm_path_is_under(path, workspace)) {
        n = strlen(workspace);
        while (path[n] == '/')
            n++;
        return path[n] ? path + n : ".";
    }
    return NULL;
}

static enum policy_path_use use_of(const char *tool, const char *key)
{
    for (size_t i = 0; i < ELEMENTSOF(path_uses); i++)
        if ((strcmp(path_uses[i].tool, "*") == 0 || strcmp(path_uses[i].tool, tool) == 0) &&
            strcmp(path_uses[i].key, key) == 0)
            return path_uses[i].use;
    return POLICY_PATH_READ;
}

static const char *resolve_reason(int r)
{
    switch (r) {
    case -ELOOP:
        return "goes through a magic link (/proc/*/root, cwd, fd, exe), a symlink loop or a "
               "dangling symlink";
    case -EXDEV:
        return "leaves the workspace";
    case -ENOTDIR:
        return "a component is not a directory";
    case -ENAMETOOLONG:
        return "too long";
    case -ENOSYS:
        return "openat2 is not available (Linux 5.6 or newer is needed)";
    default:
        return strerror(-r);
    }
}

static bool deny(struct collect *c, const char *rule, const char *value, const char *why)
{
    char detail[sizeof(c->ret->detail)];

    snprintf(detail, sizeof(detail), "%s: %s", value, why);
    policy_verdict(c->ret, OSM_POLICY_DENY, rule, detail);
    return true;
}

/* Resolves value into c->r (or points at the override). NULL and a denial on failure. */
static const struct osm_resolved *resolve_value(struct collect *c, const char *key,
                                                const char *value, bool workspace_key)
{
    const char *rel = workspace_key ? osm_policy_workspace_rel(c->q->workspace, value) : NULL;
    int r;

    if (c->override && strcmp(key, c->key) == 0)
        return c->override;
    if (rel && c->q->workspace) {
        if (c->ws_fd < 0)
            c->ws_fd = open(c->q->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = c->ws_fd < 0 ? -errno : osm_resolve(c->ws_fd, rel, OSM_RESOLVE_BENEATH, &c->r);
    } else if (value[0] != '/') {
        deny(c, "unresolvable", value, "a relative path, and no workspace to resolve it in");
        return NULL;
    } else {
        r = osm_resolve(AT_FDCWD, value, 0, &c->r);
    }
    if (r < 0) {
        deny(c, "unresolvable", value, resolve_reason(r));
        return NULL;
    }
    return &c->r;
}

/* One path argument: resolved, checked, kept. true when the call is denied. */
static bool add_path(struct collect *c, const char *key, const json_t *v, bool workspace_key)
{
    const char *value = json_string_value(v);
    enum policy_path_use use = use_of(c->q->tool, key);
    const struct osm_resolved *r;
    char why[sizeof(c->ret->detail)];
    int hit;
    struct policy_path *item;

    if (!value)
        return false; /* the schema decides what is valid; a non-string names no path */
    if (c->pp->n == OSM_POLICY_PATH_ARGS_MAX)
        return deny(c, "unresolvable", key, "too many path arguments");
    if (!*value || strlen(value) != json_string_length(v))
        return deny(c, "unresolvable", key, "an empty path or one with a NUL byte");
    if (!(r = resolve_value(c, key, value, workspace_key)))
        return true;
    if ((hit = osm_pathset_check(c->p->protected_set, r, false, why, sizeof(why))) > 0) {
        policy_verdict(c->ret, OSM_POLICY_DENY, "protected", why);
        return true;
    }
    if (hit == 0 && (hit = osm_pathset_check(c->p->secrets, r, use == POLICY_PATH_LIST, why,
                                             sizeof(why))) > 0) {
        policy_verdict(c->ret, OSM_POLICY_DENY, "secret", why);
        return true;
    }
    if (hit < 0)
        return deny(c, "unresolvable", value, "could not be checked");
    if (c->have_ws < 0) /* the workspace's real place, once per call that names a path */
        c->have_ws = c->q->workspace && realpath(c->q->workspace, c->ws_real);
    item = &c->pp->items[c->pp->n];
    item->path = strdup(r->path);
    item->use = use;
    item->in_workspace = c->have_ws > 0 && osm_resolved_under(r, c->ws_real);
    if (!item->path)
        return deny(c, "unresolvable", value, "out of memory");
    c->pp->n++;
    if (r == &c->r)
        osm_resolved_clear(&c->r);
    return false;
}

/* A SafeSwitch plan writes the files it names and the Nix profile it switches: host writes,
 * unless they lie under the managed config prefixes (policy.c). */
static bool add_switch_plan(struct collect *c)
{
    const json_t *plan = json_object_get(c->q->args, "plan");
    const json_t *files = json_object_get(plan, "files"), *v;
    const char *path;
    bool denied = false;

    if (strcmp(c->q->tool, "safe_switch_begin") != 0 || !json_is_object(plan))
        return false;
    json_object_foreach((json_t *)files, path, v)
    {
        json_t *name = json_string(path);
        denied = !name ? deny(c, "unresolvable", "plan.files", "out of memory")
                       : add_path(c, "plan.files", name, false);
        json_decref(name);
        if (denied)
            return true;
    }
    return add_path(c, "plan.profile", json_object_get(plan, "profile"), false);
}

bool policy_paths_collect(const struct osm_policy *p, const struct osm_policy_query *q,
                          const char *key, const struct osm_resolved *override,
                          struct policy_paths *ret_paths, struct osm_policy_verdict *ret)
{
    struct collect *c = calloc(1, sizeof(*c));
    bool denied = false;
    size_t i;
    json_t *item;

    if (!c) {
        policy_verdict(ret, OSM_POLICY_DENY, "unresolvable", "out of memory");
        return true;
    }
    *c = (struct collect){
        .p = p, .q = q, .key = key, .override = override, .pp = ret_paths, .ret = ret};
    c->ws_fd = -1;
    c->have_ws = -1;
    osm_resolved_init(&c->r);
    for (size_t k = 0; k < ELEMENTSOF(path_keys) && !denied; k++) {
        const json_t *v = json_object_get(q->args, path_keys[k].key);
        if (!path_keys[k].list)
            denied = add_path(c, path_keys[k].key, v, path_keys[k].workspace);
        else
            json_array_foreach(v, i, item)
            {
                if ((denied = add_path(c, path_keys[k].key, item, path_keys[k].workspace)))
                    break;
            }
    }
    if (!denied)
        denied = add_switch_plan(c);
    osm_resolved_clear(&c->r);
    if (c->ws_fd >= 0)
        close(c->ws_fd);
    free(c);
    return denied;
}

void policy_paths_clear(struct policy_paths *pp)
{
    for (size_t i = 0; i < pp->n; i++)
        free(pp->items[i].path);
    pp->n = 0;
}
