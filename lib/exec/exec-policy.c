/* The executor's policy as the tools and the jobs layer consult it at run time: the decision on
 * one resolved target, a sandbox bind judged again when its job starts, and the secrets every
 * sandbox masks. Each takes the policy under its read lock (a reload swaps it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "exec-internal.h"
#include "policy/resolve.h"

void osm_exec_decide_resolved(struct osm_exec *e, const struct osm_policy_query *q, const char *key,
                              const struct osm_resolved *r, struct osm_policy_verdict *ret)
{
    pthread_rwlock_rdlock(&e->policy_lock);
    osm_policy_decide_resolved(e->policy, q, key, r, ret);
    pthread_rwlock_unlock(&e->policy_lock);
}

int exec_check_bind(void *ctx, const char *key, const char *path, char *why, size_t why_len)
{
    struct osm_exec *e = ctx;
    json_auto_t *args = json_pack("{s:[s]}", key, path);
    struct osm_policy_query q = {.tool = "sandbox_exec",
                                 .cls = OSM_CLASS_PRIVILEGED,
                                 .ring = 2,
                                 .args = args,
                                 .workspace = osm_jobs_workspace(e->jobs)};
    struct osm_policy_verdict v;
    struct osm_resolved r;
    int rr;

    if (!args)
        return -ENOMEM;
    if ((rr = osm_resolve(AT_FDCWD, path, 0, &r)) < 0)
        return rr;
    osm_exec_decide_resolved(e, &q, key, &r, &v);
    osm_resolved_clear(&r);
    snprintf(why, why_len, "%.60s: %.180s", v.rule, v.detail);
    return v.decision == OSM_POLICY_DENY ? -EPERM : 0;
}

struct masks_ctx {
    int (*fn)(const char *path, bool dir, void *ud);
    void *ud;
};

static int mask_one(const char *path, const struct stat *st, void *userdata)
{
    struct masks_ctx *c = userdata;

    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        return 0; /* sockets, fifos: nothing to read */
    return c->fn(path, S_ISDIR(st->st_mode), c->ud);
}

int exec_masks(void *ctx, int (*fn)(const char *path, bool dir, void *ud), void *ud)
{
    struct osm_exec *e = ctx;
    struct masks_ctx c = {fn, ud};
    int r;

    pthread_rwlock_rdlock(&e->policy_lock);
    r = osm_policy_secrets_expand(e->policy, mask_one, &c);
    pthread_rwlock_unlock(&e->policy_lock);
    return r;
}
