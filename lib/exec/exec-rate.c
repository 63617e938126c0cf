/* Rate limits per tool and caller: each rule is a token bucket per caller uid (calls per
 * window, refilled continuously), so one agent cannot starve another or flood the operator's
 * approval inbox. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "exec-internal.h"

struct bucket {
    uid_t uid;
    bool used;
    double tokens;
    int64_t last_ms;
};

struct rate_rule {
    struct osm_exec_rate rule;
    struct bucket buckets[OSM_EXEC_RATE_CALLERS_MAX];
};

struct exec_rates {
    pthread_mutex_t lock;
    struct rate_rule *rules;
    size_t n;
};

static const struct osm_exec_rate default_rates[] = {
    {"@shell", OSM_EXEC_SHELL_RATE_CALLS, OSM_EXEC_SHELL_RATE_WINDOW_S},
    {"@irreversible", OSM_EXEC_HELD_RATE_CALLS, OSM_EXEC_HELD_RATE_WINDOW_S},
    {"@privileged", OSM_EXEC_HELD_RATE_CALLS, OSM_EXEC_HELD_RATE_WINDOW_S},
};

int exec_rates_new(const struct osm_exec_rate *rules, size_t n, struct exec_rates **ret)
{
    struct exec_rates *r = calloc(1, sizeof(*r));

    if (!rules) {
        rules = default_rates;
        n = ELEMENTSOF(default_rates);
    }
    if (!r || n > OSM_EXEC_RATES_MAX) {
        free(r);
        return r ? -E2BIG : -ENOMEM;
    }
    r->rules = calloc(n ? n : 1, sizeof(*r->rules));
    if (!r->rules) {
        free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rules[i].tool || rules[i].calls < 1 || rules[i].window_s < 1) {
            exec_rates_free(r);
            return -EINVAL;
        }
        r->rules[i].rule = rules[i];
    }
    r->n = n;
    pthread_mutex_init(&r->lock, NULL);
    *ret = r;
    return 0;
}

void exec_rates_free(struct exec_rates *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->rules);
    free(r);
}

static bool is_shell_tool(const char *name)
{
    return strcmp(name, "shell_exec") == 0 || strcmp(name, "sandbox_exec") == 0 ||
           strcmp(name, "run_command") == 0;
}

static bool rule_matches(const struct osm_exec_rate *rule, const struct osm_tool *tool)
{
    if (strcmp(rule->tool, "*") == 0 || strcmp(rule->tool, tool->name) == 0)
        return true;
    if (strcmp(rule->tool, "@shell") == 0)
        return is_shell_tool(tool->name);
    return rule->tool[0] == '@' && strcmp(rule->tool + 1, osm_tool_class_name(tool->cls)) == 0;
}

/* The caller's bucket: its own, a free one, or the one idle longest. */
static struct bucket *bucket_of(struct rate_rule *rr, uid_t uid, int64_t now)
{
    struct bucket *oldest = &rr->buckets[0];

    for (size_t i = 0; i < OSM_EXEC_RATE_CALLERS_MAX; i++) {
        struct bucket *b = &rr->buckets[i];
        if (b->used && b->uid == uid)
            return b;
        if (!b->used || b->last_ms < oldest->last_ms)
            oldest = b;
        if (!b->used)
            break;
    }
    *oldest = (struct bucket){.uid = uid, .used = true, .tokens = rr->rule.calls, .last_ms = now};
    return oldest;
}

static bool take(struct rate_rule *rr, uid_t uid, int64_t now)
{
    struct bucket *b = bucket_of(rr, uid, now);
    double rate = (double)rr->rule.calls / ((double)rr->rule.window_s * 1000.0);

    b->tokens += (double)(now - b->last_ms) * rate;
    if (b->tokens > rr->rule.calls)
        b->tokens = rr->rule.calls;
    b->last_ms = now;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

bool exec_rate_ok(struct exec_rates *r, const struct osm_tool *tool, uid_t caller,
                  const struct osm_exec_rate **ret_rule)
{
    int64_t now = osm_monotonic_ms();
    bool ok = true;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; ok && i < r->n; i++)
        if (rule_matches(&r->rules[i].rule, tool) && !take(&r->rules[i], caller, now)) {
            ok = false;
            *ret_rule = &r->rules[i].rule;
        }
    pthread_mutex_unlock(&r->lock);
    return ok;
}
