/* GET /metrics: Prometheus text exposition (format 0.0.4) of what a fleet's monitoring wants to
 * see: which daemons answer, the agent's tool calls by policy decision and SafeSwitch outcomes
 * (counted from agentd's ledger, incrementally), the ledger's size and newest checkpoint, the
 * gateway's own answers, and the chat's counters when the chat part runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "gw-api-internal.h"
#include "drivers.h"
#include "gw-chat.h"

struct text {
    FILE *f;
    char *buf;
    size_t len;
};

static void family(struct text *t, const char *name, const char *type, const char *help)
{
    fprintf(t->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void daemons_up(struct text *t, struct gateway *gw)
{
    json_auto_t *health = gw_daemons_health(gw);
    json_t *d;
    size_t i;

    family(t, "osmoda_daemon_up", "gauge", "1 when the daemon answered its /health with 200.");
    json_array_foreach(health, i, d) fprintf(t->f, "osmoda_daemon_up{daemon=\"%s\"} %d\n",
                                             json_string_value(json_object_get(d, "name")),
                                             json_is_true(json_object_get(d, "up")));
}

static void ledger(struct text *t, struct gw_api *a)
{
    static const char *const decisions[] = {"allow", "approve", "deny", "other"};
    static const char *const outcomes[] = {"committed", "rolled_back", "rollback_failed"};
    int64_t events = 0, last = 0, cp = 0;
    int up = gw_api_ledger_summary(a, &events, &last, &cp) == 0 && gw_api_tally_update(a) == 0;

    family(t, "osmoda_ledger_readable", "gauge", "1 when the gateway could read agentd's ledger.");
    fprintf(t->f, "osmoda_ledger_readable %d\n", up);
    if (!up)
        return;
    family(t, "osmoda_ledger_events", "gauge", "Events in the ledger (pruned ones excluded).");
    fprintf(t->f, "osmoda_ledger_events %lld\n", (long long)events);
    family(t, "osmoda_ledger_last_event_id", "gauge", "Id of the newest ledger event.");
    fprintf(t->f, "osmoda_ledger_last_event_id %lld\n", (long long)last);
    family(t, "osmoda_ledger_last_checkpoint_seconds", "gauge",
           "Unix time of the newest signed checkpoint (0: none yet).");
    fprintf(t->f, "osmoda_ledger_last_checkpoint_seconds %lld\n", (long long)cp);
    pthread_mutex_lock(&a->tally.lock);
    family(t, "osmoda_tool_calls_total", "counter", "Tool calls recorded, by policy decision.");
    for (size_t i = 0; i < ELEMENTSOF(decisions); i++)
        fprintf(t->f, "osmoda_tool_calls_total{decision=\"%s\"} %llu\n", decisions[i],
                (unsigned long long)a->tally.decisions[i]);
    family(t, "osmoda_switch_total", "counter", "SafeSwitch transactions ended, by outcome.");
    for (size_t i = 0; i < ELEMENTSOF(outcomes); i++)
        fprintf(t->f, "osmoda_switch_total{outcome=\"%s\"} %llu\n", outcomes[i],
                (unsigned long long)a->tally.switches[i]);
    pthread_mutex_unlock(&a->tally.lock);
}

static void gateway_counters(struct text *t, struct gw_api *a)
{
    static const char *const classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

    family(t, "osmoda_gateway_requests_total", "counter", "Answers of the gateway, by class.");
    for (size_t i = 0; i < ELEMENTSOF(classes); i++)
        fprintf(t->f, "osmoda_gateway_requests_total{code=\"%s\"} %llu\n", classes[i],
                (unsigned long long)atomic_load(&a->counters.by_class[i]));
    family(t, "osmoda_gateway_rate_limited_total", "counter",
           "API requests refused with 429 rate_limited.");
    fprintf(t->f, "osmoda_gateway_rate_limited_total %llu\n",
            (unsigned long long)atomic_load(&a->counters.rate_limited));
    family(t, "osmoda_gateway_idempotent_replays_total", "counter",
           "Changes answered again from the Idempotency-Key table.");
    fprintf(t->f, "osmoda_gateway_idempotent_replays_total %llu\n",
            (unsigned long long)atomic_load(&a->counters.replayed));
    family(t, "osmoda_gateway_uptime_seconds", "gauge", "Seconds since the gateway started.");
    fprintf(t->f, "osmoda_gateway_uptime_seconds %lld\n",
            (long long)(time(NULL) - a->gw->started_at));
}

/* Every integer the chat part reports, as osmoda_chat_<key>. */
static void chat(struct text *t, struct gateway *gw)
{
    json_auto_t *st = gw->chat ? gw_chat_stats(gw->chat) : NULL;
    const char *key;
    json_t *v;
    char name[96];

    json_object_foreach(st, key, v)
    {
        if (!json_is_integer(v) || strspn(key, "abcdefghijklmnopqrstuvwxyz_") != strlen(key))
            continue;
        snprintf(name, sizeof(name), "osmoda_chat_%s", key);
        family(t, name, "gauge", "Reported by the gateway's chat.");
        fprintf(t->f, "%s %lld\n", name, (long long)json_integer_value(v));
    }
}

/* The LLM proxy's accounting per agent: requests, refusals (rate limit) and tokens. */
static void llm(struct text *t, struct gateway *gw)
{
    static const struct {
        const char *key, *name, *help;
    } series[] = {
        {"requests", "osmoda_llm_requests_total", "Model requests made for an agent."},
        {"refused", "osmoda_llm_refused_total", "Model requests refused by the agent's limit."},
        {"input_tokens", "osmoda_llm_input_tokens_total", "Input tokens the provider counted."},
        {"output_tokens", "osmoda_llm_output_tokens_total", "Output tokens the provider counted."},
    };
    json_auto_t *st = gw->llm ? gw_llmproxy_stats(gw->llm) : NULL;
    json_t *agents = json_object_get(st, "agents"), *ag;
    size_t i;

    for (size_t k = 0; st && k < ELEMENTSOF(series); k++) {
        family(t, series[k].name, "counter", series[k].help);
        json_array_foreach(agents, i, ag)
        {
            const char *id = json_string_value(json_object_get(ag, "agent_id"));
            if (id && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(id))
                fprintf(t->f, "%s{agent=\"%s\"} %lld\n", series[k].name, id,
                        (long long)json_integer_value(json_object_get(ag, series[k].key)));
        }
    }
}

void gw_metrics_handler(struct gw_req *req, struct gw_resp *resp)
{
    struct gw_api *a = req->gw->api;
    struct text t = {0};

    t.f = open_memstream(&t.buf, &t.len);
    if (!t.f) {
        gw_error(req, resp, 500, "internal_error", NULL, "out of memory");
        return;
    }
    daemons_up(&t, req->gw);
    ledger(&t, a);
    gateway_counters(&t, a);
    chat(&t, req->gw);
    llm(&t, req->gw);
    if (fclose(t.f) != 0) {
        free(t.buf);
        gw_error(req, resp, 500, "internal_error", NULL, "out of memory");
        return;
    }
    resp->body = t.buf;
    resp->body_len = t.len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
