/* The LLM proxy's books: per-agent requests-per-minute limits over a sliding window and token
 * accounting from the providers' usage fields. The drivers make every model request themselves
 * (the key stays in the gateway); they ask here first and report what each response used. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "drivers.h"

struct llm_agent {
    char id[65];
    unsigned rpm;    /* 0: the proxy's default */
    int64_t *stamps; /* ring of the last requests' times (monotonic ms), GW_LLM_RPM_MAX at most */
    size_t ring, head, n;
    uint64_t requests, refused, input_tokens, output_tokens;
    uint64_t last_used; /* the proxy's use counter when last used: least recently used goes */
    struct llm_agent *next;
};

struct gw_llmproxy {
    pthread_mutex_t lock;
    unsigned default_rpm;
    struct llm_agent *agents;
    size_t n_agents;
    uint64_t uses;
};

int gw_llmproxy_new(unsigned default_rpm, struct gw_llmproxy **ret)
{
    struct gw_llmproxy *p;

    if (default_rpm == 0 || default_rpm > GW_LLM_RPM_MAX)
        return -EINVAL;
    if (!(p = calloc(1, sizeof(*p))))
        return -ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->default_rpm = default_rpm;
    *ret = p;
    return 0;
}

static void agent_free(struct llm_agent *a)
{
    free(a->stamps);
    free(a);
}

void gw_llmproxy_free(struct gw_llmproxy *p)
{
    if (!p)
        return;
    while (p->agents) {
        struct llm_agent *a = p->agents;
        p->agents = a->next;
        agent_free(a);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static unsigned agent_rpm(const struct gw_llmproxy *p, const struct llm_agent *a)
{
    return a->rpm ? a->rpm : p->default_rpm;
}

/* Drops the least recently used agent to make room. Called locked. */
static void evict_one(struct gw_llmproxy *p)
{
    struct llm_agent **oldest = NULL, *a;

    for (struct llm_agent **q = &p->agents; *q; q = &(*q)->next)
        if (!oldest || (*q)->last_used < (*oldest)->last_used)
            oldest = q;
    if (!oldest)
        return;
    a = *oldest;
    *oldest = a->next;
    agent_free(a);
    p->n_agents--;
}

/* The agent's record, made when missing (NULL without memory). Called locked. */
static struct llm_agent *agent_get(struct gw_llmproxy *p, const char *id)
{
    struct llm_agent *a;

    if (!id || !*id)
        id = "default";
    for (a = p->agents; a; a = a->next)
        if (strcmp(a->id, id) == 0)
            return a;
    if (p->n_agents >= GW_LLM_AGENTS_MAX)
        evict_one(p);
    if (!(a = calloc(1, sizeof(*a))))
        return NULL;
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->last_used = ++p->uses;
    a->next = p->agents;
    p->agents = a;
    p->n_agents++;
    return a;
}

/* Resizes the ring to the agent's limit, keeping the newest stamps. Called locked. */
static int ring_fit(struct gw_llmproxy *p, struct llm_agent *a)
{
    size_t want = agent_rpm(p, a), keep;
    int64_t *s;

    if (a->ring == want)
        return 0;
    if (!(s = calloc(want, sizeof(*s))))
        return -ENOMEM;
    keep = a->n < want ? a->n : want;
    for (size_t i = 0; i < keep; i++)
        s[i] = a->stamps[(a->head + a->n - keep + i) % a->ring];
    free(a->stamps);
    a->stamps = s;
    a->ring = want;
    a->head = 0;
    a->n = keep;
    return 0;
}

int gw_llmproxy_set_rpm(struct gw_llmproxy *p, const char *agent_id, unsigned rpm)
{
    struct llm_agent *a;
    int r = -ENOMEM;

    if (rpm > GW_LLM_RPM_MAX)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    if ((a = agent_get(p, agent_id))) {
        a->rpm = rpm;
        r = ring_fit(p, a);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* Forgets the stamps that left the window. */
static void ring_expire(struct llm_agent *a, int64_t now)
{
    while (a->n > 0 && now - a->stamps[a->head] >= GW_LLM_WINDOW_MS) {
        a->head = (a->head + 1) % a->ring;
        a->n--;
    }
}

int gw_llmproxy_admit(struct gw_llmproxy *p, const char *agent_id, unsigned *ret_retry_s)
{
    int64_t now = osm_monotonic_ms();
    struct llm_agent *a;
    int r = 0;

    pthread_mutex_lock(&p->lock);
    if (!(a = agent_get(p, agent_id)) || ring_fit(p, a) < 0) {
        r = -ENOMEM;
        goto out;
    }
    a->last_used = ++p->uses;
    ring_expire(a, now);
    if (a->n >= a->ring) {
        a->refused++;
        if (ret_retry_s)
            *ret_retry_s = (unsigned)((GW_LLM_WINDOW_MS - (now - a->stamps[a->head]) + 999) / 1000);
        r = -EAGAIN;
        goto out;
    }
    a->stamps[(a->head + a->n) % a->ring] = now;
    a->n++;
    a->requests++;
out:
    pthread_mutex_unlock(&p->lock);
    return r;
}

void gw_llmproxy_account(struct gw_llmproxy *p, const char *agent_id, uint64_t input_tokens,
                         uint64_t output_tokens)
{
    struct llm_agent *a;

    pthread_mutex_lock(&p->lock);
    if ((a = agent_get(p, agent_id))) {
        a->input_tokens += input_tokens;
        a->output_tokens += output_tokens;
    }
    pthread_mutex_unlock(&p->lock);
}

static json_t *agent_json(const struct gw_llmproxy *p, struct llm_agent *a, int64_t now)
{
    if (a->ring)
        ring_expire(a, now);
    return json_pack("{s:s,s:i,s:I,s:I,s:i,s:I,s:I}", "agent_id", a->id, "rpm",
                     (int)agent_rpm(p, a), "requests", (json_int_t)a->requests, "refused",
                     (json_int_t)a->refused, "last_minute", (int)a->n, "input_tokens",
                     (json_int_t)a->input_tokens, "output_tokens", (json_int_t)a->output_tokens);
}

json_t *gw_llmproxy_stats(struct gw_llmproxy *p)
{
    json_auto_t *agents = json_array();
    uint64_t req = 0, ref = 0, in = 0, out = 0;
    int64_t now = osm_monotonic_ms();
    int r = agents ? 0 : -ENOMEM;

    pthread_mutex_lock(&p->lock);
    for (struct llm_agent *a = p->agents; a && r == 0; a = a->next) {
        r = json_array_append_new(agents, agent_json(p, a, now));
        req += a->requests;
        ref += a->refused;
        in += a->input_tokens;
        out += a->output_tokens;
    }
    pthread_mutex_unlock(&p->lock);
    if (r < 0)
        return NULL;
    return json_pack("{s:i,s:O,s:{s:I,s:I,s:I,s:I}}", "default_rpm", (int)p->default_rpm, "agents",
                     agents, "totals", "requests", (json_int_t)req, "refused", (json_int_t)ref,
                     "input_tokens", (json_int_t)in, "output_tokens", (json_int_t)out);
}
