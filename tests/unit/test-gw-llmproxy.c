/* The LLM proxy's books: the per-agent request limit, changing it, token accounting, the stats
 * document and the bound on agents accounted. (The window's expiry after 60 s is not waited for
 * here; the integration tests see refused requests never reach the provider.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers.h"

static struct gw_llmproxy *proxy(unsigned rpm)
{
    struct gw_llmproxy *p = NULL;

    cr_assert_eq(gw_llmproxy_new(rpm, &p), 0);
    return p;
}

static const json_t *agent_stats(json_t *stats, const char *id)
{
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(stats, "agents"), i,
                       a) if (strcmp(json_string_value(json_object_get(a, "agent_id")), id) ==
                              0) return a;
    return NULL;
}

static json_int_t stat_of(struct gw_llmproxy *p, const char *id, const char *key)
{
    json_auto_t *s = gw_llmproxy_stats(p);
    const json_t *a = agent_stats(s, id);

    cr_assert_not_null(a, "agent %s not in the stats", id);
    return json_integer_value(json_object_get(a, key));
}

Test(llmproxy, bad_limits_refused)
{
    struct gw_llmproxy *p = NULL;

    cr_assert_eq(gw_llmproxy_new(0, &p), -EINVAL);
    cr_assert_eq(gw_llmproxy_new(GW_LLM_RPM_MAX + 1, &p), -EINVAL);
    p = proxy(5);
    cr_assert_eq(gw_llmproxy_set_rpm(p, "a", GW_LLM_RPM_MAX + 1), -EINVAL);
    gw_llmproxy_free(p);
    gw_llmproxy_free(NULL);
}

Test(llmproxy, limit_per_agent)
{
    struct gw_llmproxy *p = proxy(3);
    unsigned retry = 0;

    for (int i = 0; i < 3; i++)
        cr_assert_eq(gw_llmproxy_admit(p, "a", &retry), 0, "request %d", i);
    cr_assert_eq(gw_llmproxy_admit(p, "a", &retry), -EAGAIN);
    cr_assert(retry >= 1 && retry <= 60, "retry %u", retry);
    cr_assert_eq(gw_llmproxy_admit(p, "b", &retry), 0, "another agent has its own limit");
    cr_assert_eq(stat_of(p, "a", "requests"), 3);
    cr_assert_eq(stat_of(p, "a", "refused"), 1);
    cr_assert_eq(stat_of(p, "a", "last_minute"), 3);
    cr_assert_eq(stat_of(p, "b", "requests"), 1);
    gw_llmproxy_free(p);
}

Test(llmproxy, changed_limit_keeps_the_window)
{
    struct gw_llmproxy *p = proxy(10);

    for (int i = 0; i < 5; i++)
        cr_assert_eq(gw_llmproxy_admit(p, "a", NULL), 0);
    cr_assert_eq(gw_llmproxy_set_rpm(p, "a", 3), 0);
    cr_assert_eq(gw_llmproxy_admit(p, "a", NULL), -EAGAIN, "5 in the window, limit now 3");
    cr_assert_eq(stat_of(p, "a", "rpm"), 3);
    cr_assert_eq(gw_llmproxy_set_rpm(p, "a", 0), 0);
    cr_assert_eq(stat_of(p, "a", "rpm"), 10, "0 is back to the default");
    cr_assert_eq(gw_llmproxy_admit(p, "a", NULL), 0, "3 of the 5 kept, then 1 more");
    cr_assert_eq(stat_of(p, "a", "last_minute"), 4);
    gw_llmproxy_free(p);
}

Test(llmproxy, tokens_and_totals)
{
    struct gw_llmproxy *p = proxy(5);
    json_auto_t *s = NULL;
    const json_t *tot;

    gw_llmproxy_account(p, "a", 100, 10);
    gw_llmproxy_account(p, "a", 50, 5);
    gw_llmproxy_account(p, NULL, 1, 2); /* no agent id: "default" */
    cr_assert_eq(gw_llmproxy_admit(p, "a", NULL), 0);
    cr_assert_eq(stat_of(p, "a", "input_tokens"), 150);
    cr_assert_eq(stat_of(p, "a", "output_tokens"), 15);
    cr_assert_eq(stat_of(p, "default", "output_tokens"), 2);
    s = gw_llmproxy_stats(p);
    tot = json_object_get(s, "totals");
    cr_assert_eq(json_integer_value(json_object_get(tot, "input_tokens")), 151);
    cr_assert_eq(json_integer_value(json_object_get(tot, "output_tokens")), 17);
    cr_assert_eq(json_integer_value(json_object_get(tot, "requests")), 1);
    cr_assert_eq(json_integer_value(json_object_get(s, "default_rpm")), 5);
    gw_llmproxy_free(p);
}

Test(llmproxy, agents_bounded)
{
    struct gw_llmproxy *p = proxy(5);
    json_auto_t *s = NULL;
    char id[32];

    for (int i = 0; i <= GW_LLM_AGENTS_MAX; i++) {
        snprintf(id, sizeof(id), "agent-%d", i);
        cr_assert_eq(gw_llmproxy_admit(p, id, NULL), 0);
    }
    s = gw_llmproxy_stats(p);
    cr_assert_eq(json_array_size(json_object_get(s, "agents")), GW_LLM_AGENTS_MAX);
    cr_assert_null(agent_stats(s, "agent-0"), "the least recently used goes");
    cr_assert_not_null(agent_stats(s, "agent-1"));
    gw_llmproxy_free(p);
}
