/* Private to lib/exec: the executor's state and the calls between its files. */
#pragma once

#include <pthread.h>

#include "exec.h"
#include "policy/policy.h"

struct exec_rates;

struct osm_exec {
    char *daemon;
    struct osm_exec_tool *tools; /* copied table */
    json_t **schemas;            /* each tool's parsed input schema (owned) */
    size_t n_tools;
    const struct osm_route *routes;
    size_t n_routes;
    void *userdata;
    struct osm_exec_sink sink;
    struct osm_exec_approver approver;
    char *policy_path;
    char *lockdown_path;    /* the lockdown file: agent calls are refused while it exists */
    char **protected_paths; /* NULL-terminated */
    uint8_t signer_pk[32];
    int64_t approval_ttl_s;
    pthread_rwlock_t policy_lock; /* readers decide, a reload swaps */
    struct osm_policy *policy;
    struct exec_rates *rates;
    struct osm_jobs_store jobs_store;
    struct osm_jobs *jobs;
};

/* One call on its way through the executor. */
struct exec_call {
    struct osm_request *req;
    struct osm_exec *e;
    const struct osm_exec_tool *et;
    json_t *args;       /* owned */
    json_t *redacted;   /* owned */
    json_t *capability; /* owned; NULL when none was presented */
    char args_hash[OSM_EXEC_HASH_LEN + 1];
    char *path; /* canonical target path (grants), owned, or NULL */
    int ring;
    struct osm_policy_verdict verdict;
    const char *deny_code; /* error code of a refusal */
    char deny_message[512];
    char approval_id[OSM_EXEC_ID_LEN + 1];
    char job_id[OSM_EXEC_ID_LEN + 1];
    bool granted; /* an allow-always grant let it through */
    int64_t call_id;
    int64_t started_ms;
    char actor[64];
};

/* exec-call.c */
json_t *exec_answer(struct exec_call *c, int http, const char *status, json_t *result,
                    const char *error);
json_t *exec_answer_unavailable(struct exec_call *c, const char *code, const char *what, int r);
void exec_call_of(struct exec_call *c, struct osm_exec_call *out);
int exec_record(struct osm_exec *e, const char *type, const char *actor, const json_t *payload,
                int64_t *ret_id);
const struct osm_exec_tool *exec_find_tool(const struct osm_exec *e, const char *name);
const json_t *exec_schema(const struct osm_exec *e, const struct osm_exec_tool *et);

/* exec-call.c: true while the lockdown file exists (or cannot be checked: fails closed). */
bool exec_locked_down(const struct osm_exec *e);

/* exec-run.c */
json_t *exec_run_now(struct exec_call *c);
/* Runs a call now (the policy has decided): the handler or the REST mapping. */
json_t *exec_run(struct osm_exec_call *call, const struct osm_exec_tool *et,
                 const char **ret_error);
/* The jobs layer's callback for a released held call (osm_job_run_fn). */
json_t *exec_run_released(void *ctx, const struct osm_job_call *jc, const char **ret_error);

/* exec-held.c */
json_t *exec_hold(struct exec_call *c);

/* exec-rate.c */
int exec_rates_new(const struct osm_exec_rate *rules, size_t n, struct exec_rates **ret);
void exec_rates_free(struct exec_rates *r);
/* True when the caller may make this call now (and counts it). */
bool exec_rate_ok(struct exec_rates *r, const struct osm_tool *tool, uid_t caller,
                  const struct osm_exec_rate **ret_rule);

/* exec-policy.c: the jobs layer's hooks (struct osm_jobs_config) */
int exec_check_bind(void *ctx, const char *key, const char *path, char *why, size_t why_len);
int exec_masks(void *ctx, int (*fn)(const char *path, bool dir, void *ud), void *ud);

/* exec-token.c */
/* Checks a presented capability token. 0 when the call may go on; else -EINVAL (malformed),
 * -EKEYREJECTED (signature), -ETIME (expired), -EACCES (tool not permitted or wrong holder) with
 * *ret_reason set. */
int exec_token_check(const struct osm_exec *e, const json_t *token, const struct osm_tool *tool,
                     const struct ucred *peer, const char **ret_reason);
/* Checks a decision's signature and fields. */
int exec_decision_check(const struct osm_exec *e, const json_t *d);
