/* lib/exec: capability tokens and signed decisions (canonical strings, signatures, tampering,
 * expiry, the two accepted token forms), the rate limits per tool and caller, and a daemon's own
 * default for a call (osm_exec_tool.decide): an executor runs in process with a real jobs store
 * (SQLite in memory) and a recording approver; decide's verdict replaces the class default (a
 * small payment runs, a large one is held, a refused one never runs), it sees the arguments with
 * approved false, and a rule of the policy file decides before it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/timeutil.h"
#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "exec/exec-internal.h"
#include "exec/exec.h"
#include "ipc/http_server.h"
#include "exec/token.h"
#include "tools/registry.h"

static uint8_t pk[32], sk[64], other_pk[32], other_sk[64];

static void keys(void)
{
    uint8_t seed[32];

    memset(seed, 7, sizeof(seed));
    cr_assert_eq(osm_ed25519_keypair(seed, pk, sk), 0);
    memset(seed, 9, sizeof(seed));
    cr_assert_eq(osm_ed25519_keypair(seed, other_pk, other_sk), 0);
}

static void sign_hex(const uint8_t key[64], const char *msg, char out[129])
{
    uint8_t sig[64];

    cr_assert_eq(osm_ed25519_sign(key, msg, strlen(msg), sig), 0);
    osm_hex_encode(sig, sizeof(sig), out);
}

/* A token expiring secs from now, signed with key. */
static json_t *token(const uint8_t key[64], const char *to, const char *perm, int64_t secs)
{
    char exp[OSM_TS_LEN + 1], buf[OSM_TOKEN_CANONICAL_MAX], sig[129];
    json_t *perms = json_pack("[s]", perm);
    int64_t now = osm_realtime_ms();

    osm_format_ts((time_t)(now / 1000 + secs), 0, exp);
    cr_assert_eq(osm_token_canonical("t-1", to, perms, exp, buf, sizeof(buf)), 0);
    sign_hex(key, buf, sig);
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "id", "t-1", "granted_to", to, "permissions",
                     perms, "created_at", exp, "expires_at", exp, "signature", sig);
}

Test(exec, token_canonical_is_osmodas_string_and_refuses_ambiguity, .init = keys)
{
    char buf[256];
    json_t *perms = json_pack("[s, s]", "a", "b");

    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "i|g|a,b|e");
    cr_assert_eq(osm_token_canonical("i|x", "g", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "g,h", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, 5), -EINVAL); /* too small */
    json_array_append_new(perms, json_string("c,d"));
    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, sizeof(buf)), -EINVAL);
    json_decref(perms);
}

Test(exec, token_verify_signature_expiry_and_shape, .init = keys)
{
    json_t *t = token(sk, "uid:0", "system_health", 600);
    const char *why = NULL;

    cr_assert_eq(osm_token_verify(pk, t, &why), 0);
    cr_assert_eq(osm_token_verify(other_pk, t, &why), -EKEYREJECTED);
    json_array_append_new(json_object_get(t, "permissions"), json_string("shell_exec"));
    cr_assert_eq(osm_token_verify(pk, t, &why), -EKEYREJECTED, "widened permissions pass");
    json_decref(t);
    t = token(sk, "uid:0", "system_health", -5);
    cr_assert_eq(osm_token_verify(pk, t, &why), -ETIME);
    json_object_del(t, "signature");
    cr_assert_eq(osm_token_verify(pk, t, &why), -EINVAL);
    json_decref(t);
    t = json_string("not an object");
    cr_assert_eq(osm_token_verify(pk, t, &why), -EINVAL);
    json_decref(t);
}

Test(exec, token_parse_takes_the_object_or_its_json_text, .init = keys)
{
    json_t *t = token(sk, "uid:0", "system_health", 600);
    char *text = json_dumps(t, JSON_COMPACT);
    json_t *as_text = json_string(text), *parsed = osm_token_parse(as_text), *again;
    const char *why;

    cr_assert(json_equal(parsed, t));
    cr_assert_eq(osm_token_verify(pk, parsed, &why), 0);
    again = osm_token_parse(t);
    cr_assert_eq(again, t); /* the same object, a new reference */
    json_decref(again);
    json_t *bad[] = {json_string("{not json"), json_string("[1,2]"), json_integer(3),
                     json_string("\"just text\"")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(osm_token_parse(bad[i]), "case %zu", i);
        json_decref(bad[i]);
    }
    free(text);
    json_decref(as_text);
    json_decref(parsed);
    json_decref(t);
}

static json_t *decision(const uint8_t key[64], const char *daemon, const char *verdict)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "a-1", "daemon", daemon,
                          "tool", "notes_clear", "args_hash", "ab", "decision", verdict, "mode",
                          "once", "expires_at", "");
    char buf[1024], sig[129];

    cr_assert_eq(osm_decision_canonical(d, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "osmoda-decision-v1|a-1|watch|notes_clear|ab|approved|once|");
    sign_hex(key, buf, sig);
    json_object_set_new(d, "signature", json_string(sig));
    return d;
}

Test(exec, decisions_verify_only_untouched_and_with_agentds_key, .init = keys)
{
    static const char *const fields[] = {"id", "daemon", "tool", "args_hash", "decision", "mode"};
    json_t *d = decision(sk, "watch", "approved");

    cr_assert(osm_decision_verify(pk, d));
    cr_assert_not(osm_decision_verify(other_pk, d));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *t = json_deep_copy(d);
        json_object_set_new(t, fields[i], json_string("changed"));
        cr_assert_not(osm_decision_verify(pk, t), "a changed %s still verifies", fields[i]);
        json_decref(t);
    }
    json_object_set_new(d, "daemon", json_string("wat|ch"));
    cr_assert_not(osm_decision_verify(pk, d));
    json_decref(d);
}

Test(exec, rate_limits_count_per_tool_and_caller)
{
    const struct osm_exec_rate rules[] = {{"@shell", 3, 60}, {"@privileged", 1, 60}};
    const struct osm_tool *shell = osm_tool_find("shell_exec", NULL);
    const struct osm_tool *read = osm_tool_find("file_read", NULL);
    const struct osm_tool *mint = osm_tool_find("capability_mint", NULL);
    const struct osm_exec_rate *hit = NULL;
    struct exec_rates *r = NULL;

    cr_assert_eq(exec_rates_new(rules, 2, &r), 0);
    for (int i = 0; i < 2; i++) /* shell_exec is privileged too: 1 per minute */
        cr_assert_eq(exec_rate_ok(r, shell, 1000, &hit), i == 0);
    cr_assert_str_eq(hit->tool, "@privileged");
    for (int i = 0; i < 10; i++)
        cr_assert(exec_rate_ok(r, read, 1000, &hit), "reads are not limited here");
    cr_assert(exec_rate_ok(r, shell, 1001, &hit), "another caller has its own budget");
    cr_assert_not(exec_rate_ok(r, mint, 1001, &hit));
    exec_rates_free(r);
    cr_assert_eq(exec_rates_new((const struct osm_exec_rate[]){{"*", 0, 60}}, 1, &r), -EINVAL);
}

Test(exec, default_rates_keep_osmodas_shell_limit)
{
    const struct osm_tool *shell = osm_tool_find("sandbox_exec", NULL);
    const struct osm_exec_rate *hit = NULL;
    struct exec_rates *r = NULL;
    int ok = 0;

    cr_assert_eq(exec_rates_new(NULL, 0, &r), 0);
    for (int i = 0; i < 100; i++)
        ok += exec_rate_ok(r, shell, 0, &hit);
    cr_assert_eq(ok, OSM_EXEC_SHELL_RATE_CALLS);
    exec_rates_free(r);
}

/* ---- decide ---------------------------------------------------------------------------- */

static sqlite3 *db;
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static int opened, ran, decided;
static bool decide_saw_approved;
static char tmp[64];
static json_t *events;

static int record(void *ctx, const char *type, const char *actor, const json_t *payload,
                  int (*apply)(sqlite3 *d, void *actx), void *actx, int64_t *ret_id)
{
    int r = 0;

    json_array_append_new(events, json_pack("{s:s, s:O}", "type", type, "payload", payload));
    if (ret_id)
        *ret_id = (int64_t)json_array_size(events);
    if (apply) {
        pthread_mutex_lock(&db_lock);
        r = apply(db, actx);
        pthread_mutex_unlock(&db_lock);
    }
    return r;
}

static int read_db(void *ctx, int (*fn)(sqlite3 *d, void *fctx), void *fctx)
{
    int r;

    pthread_mutex_lock(&db_lock);
    r = fn(db, fctx);
    pthread_mutex_unlock(&db_lock);
    return r;
}

static int approver_open(void *ctx, const struct osm_approval_request *req)
{
    opened++;
    return 0;
}

static int approver_grant(void *ctx, const char *tool, const char *hash, const char *path,
                          char ret_id[static OSM_EXEC_ID_LEN + 1])
{
    return -ENOENT;
}

static int approver_cancel(void *ctx, const char *id)
{
    return 0;
}

static int approver_decision(void *ctx, const char *id, json_t **ret)
{
    return -EAGAIN;
}

static json_t *pay(struct osm_exec_call *call, const char **ret_error)
{
    ran++;
    return json_pack("{s:b}", "paid", true);
}

/* At most 10 runs, above 10 waits for a person, 13 is refused. */
static bool decide_pay(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    json_int_t amount = json_integer_value(json_object_get(call->args, "amount"));

    decided++;
    decide_saw_approved |= call->approved;
    v->decision = amount == 13  ? OSM_POLICY_DENY
                  : amount > 10 ? OSM_POLICY_APPROVE
                                : OSM_POLICY_ALLOW;
    snprintf(v->rule, sizeof(v->rule), "test:threshold");
    return true;
}

/* Keeps the class default. */
static bool decide_nothing(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    decided++;
    return false;
}

// clang-format off
#define PAY_SCHEMA "{\"type\":\"object\",\"properties\":{\"amount\":{\"type\":\"integer\"}}," \
                   "\"required\":[\"amount\"],\"additionalProperties\":false}"
static const struct osm_tool tools[] = {
    {.name = "test_pay", .description = "Pay an amount.", .input_schema = PAY_SCHEMA,
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "testd"},
    {.name = "test_pay_default", .description = "Pay, with the class default.",
     .input_schema = PAY_SCHEMA, .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "testd"},
};
static const struct osm_exec_tool exec_tools[] = {
    {.tool = &tools[0], .run = pay, .decide = decide_pay},
    {.tool = &tools[1], .run = pay, .decide = decide_nothing},
};
// clang-format on

static struct osm_exec *exec;

static void start(const char *policy_text)
{
    char policy[128], jobs[128], ws[128], err[256] = "";
    struct osm_exec_config cfg = {
        .daemon = "testd",
        .tools = exec_tools,
        .n_tools = 2,
        .policy_path = policy,
        .sink = {record, read_db, read_db, NULL},
        .approver = {approver_open, approver_grant, approver_cancel, approver_decision, NULL},
        .jobs = {.jobs_dir = jobs, .workspace = ws, .cgroups_optional = true}};

    strcpy(tmp, "/tmp/test-exec-decide-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(policy, sizeof(policy), "%s/policy.json", tmp);
    snprintf(jobs, sizeof(jobs), "%s/jobs", tmp);
    snprintf(ws, sizeof(ws), "%s/workspace", tmp);
    if (policy_text)
        cr_assert_eq(osm_write_file_atomic(policy, policy_text, strlen(policy_text), 0600), 0);
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    events = json_array();
    opened = ran = decided = 0;
    decide_saw_approved = false;
    cr_assert_eq(osm_exec_new(&cfg, &exec, err, sizeof(err)), 0, "%s", err);
}

static void stop(void)
{
    char cmd[128];

    osm_exec_free(exec);
    sqlite3_close(db);
    json_decref(events);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    cr_assert_eq(system(cmd), 0);
}

static void start_default(void)
{
    start(NULL);
}

/* POST /tools/call as an agent; the answer's "status" (ok, pending, denied, ...). */
static const char *call(const char *tool, int amount, json_t **ret)
{
    json_auto_t *body = json_pack("{s:s, s:{s:i}}", "tool", tool, "arguments", "amount", amount);
    struct osm_request req = {.method = "POST",
                              .path = "/tools/call",
                              .body = body,
                              .peer = {.pid = getpid(), .uid = getuid(), .gid = getgid()}};

    *ret = osm_exec_handle(exec, &req);
    cr_assert_not_null(*ret);
    return json_string_value(json_object_get(*ret, "status"));
}

/* The rule recorded with the last tool.call event. */
static const char *last_rule(void)
{
    for (size_t i = json_array_size(events); i-- > 0;) {
        json_t *ev = json_array_get(events, i);
        if (strcmp(json_string_value(json_object_get(ev, "type")), "tool.call") == 0)
            return json_string_value(json_object_get(json_object_get(ev, "payload"), "rule"));
    }
    return "";
}

Test(exec_decide, below_the_threshold_runs_above_it_is_held, .init = start_default, .fini = stop)
{
    json_t *a, *b;

    cr_assert_str_eq(call("test_pay", 10, &a), "ok");
    cr_assert_eq(ran, 1);
    cr_assert_eq(opened, 0);
    cr_assert_str_eq(last_rule(), "test:threshold");
    cr_assert_str_eq(call("test_pay", 11, &b), "pending");
    cr_assert_eq(ran, 1, "a held call must not run");
    cr_assert_eq(opened, 1, "a held call opens an approval");
    cr_assert_not_null(json_object_get(b, "approval_id"));
    cr_assert_eq(decided, 2);
    cr_assert(!decide_saw_approved, "decide sees approved false");
    json_decref(a);
    json_decref(b);
}

Test(exec_decide, a_refusal_never_runs, .init = start_default, .fini = stop)
{
    json_t *a;

    cr_assert_str_eq(call("test_pay", 13, &a), "denied");
    cr_assert_eq(ran, 0);
    cr_assert_eq(opened, 0);
    cr_assert_str_eq(last_rule(), "test:threshold");
    json_decref(a);
}

Test(exec_decide, false_keeps_the_class_default, .init = start_default, .fini = stop)
{
    json_t *a;

    cr_assert_str_eq(call("test_pay_default", 1, &a), "pending"); /* irreversible: a person */
    cr_assert_eq(decided, 1);
    cr_assert_eq(ran, 0);
    cr_assert_str_eq(last_rule(), "default:irreversible");
    json_decref(a);
}

static void start_with_rule(void)
{
    start("{\"rules\": [{\"tool\": \"test_pay\", \"decision\": \"deny\"}]}");
}

Test(exec_decide, the_policy_files_rules_decide_first, .init = start_with_rule, .fini = stop)
{
    json_t *a;

    cr_assert_str_eq(call("test_pay", 1, &a), "denied");
    cr_assert_eq(decided, 0, "decide is not asked when a rule matched");
    cr_assert_eq(ran, 0);
    json_decref(a);
}
