/* Signed decisions and their delivery. A decided approval becomes one JSON object signed with
 * agentd's key (lib/exec/token.h), so the daemon holding the call checks it before running
 * anything. agentd's own held calls get their decision at once; other daemons wait for theirs on
 * the daemons socket (agentd_approvals_wait), woken by every decision. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "agentd-approvals.h"
#include "agentd.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "exec/token.h"

#define DECISION_CANONICAL_MAX (8 * (OSM_TOKEN_FIELD_MAX + 1) + 32)

static const char *str_or_empty(const json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));

    return s ? s : "";
}

/* Legacy rows with a job but no daemon were agentd's own. */
static const char *owner_of(const json_t *row)
{
    const char *d = json_string_value(json_object_get(row, "daemon"));

    if (!d && json_is_string(json_object_get(row, "job_id")))
        return "agentd";
    return d;
}

json_t *agentd_decision_sign(struct agentd *ad, const json_t *row)
{
    const char *owner = owner_of(row);
    json_t *d;
    char buf[DECISION_CANONICAL_MAX], sig[OSM_SIGNATURE_HEX_LEN + 1];

    if (!owner)
        return NULL;
    d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", str_or_empty(row, "id"), "daemon",
                  owner, "tool", str_or_empty(row, "tool"), "args_hash",
                  str_or_empty(row, "args_hash"), "decision", str_or_empty(row, "status"), "mode",
                  str_or_empty(row, "mode"), "expires_at", str_or_empty(row, "grant_expires_at"));
    if (!d || osm_decision_canonical(d, buf, sizeof(buf)) < 0 ||
        agentd_sign(ad, buf, strlen(buf), sig) < 0) {
        json_decref(d);
        return NULL;
    }
    json_object_set_new(d, "signature", json_string(sig));
    return d;
}

static void wake_waiters(struct agentd *ad)
{
    struct agentd_approvals *a = ad->approvals;

    pthread_mutex_lock(&a->lock);
    a->decided++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

int agentd_decision_deliver(struct agentd *ad, const char *id)
{
    int r;
    json_t *row = agentd_approval_row(ad, id, &r), *d = NULL;
    const char *owner = row ? owner_of(row) : NULL;

    wake_waiters(ad);
    if (!row)
        return r;
    r = -ENOENT;
    if (owner && strcmp(owner, "agentd") == 0 && ad->exec) {
        d = agentd_decision_sign(ad, row);
        r = d ? osm_exec_decided(ad->exec, d) : -ENOMEM;
        if (r < 0 && r != -EALREADY)
            log_error("approval.deliver", "id=%s error=%d reason=\"%s\"", id, r, strerror(-r));
    }
    json_decref(d);
    json_decref(row);
    return r;
}

/* The decisions among ids (daemon's) into out; the number found. */
static int collect(struct agentd *ad, const char *daemon, const json_t *ids, json_t *out)
{
    size_t i;
    json_t *v;
    int n = 0;

    json_array_foreach(ids, i, v)
    {
        json_t *d = NULL;
        if (agentd_approval_decision(ad, daemon, json_string_value(v), &d) == 0) {
            json_array_append_new(out, d);
            n++;
        }
    }
    return n;
}

int agentd_approvals_wait(struct agentd *ad, const char *daemon, const json_t *ids, int64_t wait_ms,
                          json_t **ret)
{
    struct agentd_approvals *a = ad->approvals;
    json_t *out = json_array();
    struct timespec until;
    uint64_t seen;

    if (!out)
        return -ENOMEM;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        seen = a->decided;
        pthread_mutex_unlock(&a->lock);
        if (collect(ad, daemon, ids, out) > 0)
            break;
        pthread_mutex_lock(&a->lock);
        while (a->decided == seen && !a->stopping &&
               pthread_cond_timedwait(&a->cond, &a->lock, &until) != ETIMEDOUT)
            ;
        bool done = a->decided == seen || a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (done)
            break;
    }
    *ret = out;
    return 0;
}
