/* keyd's tools on keyd-agent.sock, run by lib/exec. The handlers call the same wallet functions
 * as the routes, with the agent as caller: approved only when an operator approved the call on
 * agentd. decide gives the executor keyd's default for a call, from what its arguments mean: a
 * send at or below the policy's approval_above runs, one above waits for a person; raw signing,
 * import, export and delivery always wait. The handlers check again (a policy reloaded between
 * the decision and the run cannot let an unapproved send through). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "keyd-api.h"
#include "keyd-tools.h"

static struct keyd *K(const struct osm_exec_call *call)
{
    return call->userdata;
}

static void caller_of(const struct osm_exec_call *call, char who[static 32], struct keyd_caller *c)
{
    snprintf(who, 32, "agent:%u", (unsigned)call->peer.uid);
    c->who = who;
    c->approved = call->approved;
}

/* A handler's answer: the result, or the error as the tool's detail. */
static json_t *tool_answer(json_t *out, const struct kerr *e, const char **ret_error)
{
    if (out)
        return out;
    *ret_error = e->code ? e->code : "internal";
    return json_pack("{s:s, s:s, s:i}", "error", *ret_error, "message", e->message, "status",
                     e->status);
}

#define CALLER                                                                                     \
    char who_[32];                                                                                 \
    struct keyd_caller c;                                                                          \
    struct kerr e = {0};                                                                           \
    caller_of(call, who_, &c)

static const char *arg(const struct osm_exec_call *call, const char *key)
{
    return json_string_value(json_object_get(call->args, key));
}

static json_t *run_sign(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    bool raw = json_is_true(json_object_get(call->args, "raw"));

    return tool_answer(
        wallet_sign(K(call), &c, arg(call, "wallet_id"), arg(call, "payload"), raw, &e), &e,
        ret_error);
}

static json_t *run_sign_typed(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    return tool_answer(wallet_sign_typed(K(call), &c, arg(call, "wallet_id"),
                                         json_object_get(call->args, "typed_data"), &e),
                       &e, ret_error);
}

static json_t *run_send(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    return tool_answer(wallet_build_tx(K(call), &c, call->args, true, &e), &e, ret_error);
}

static json_t *run_build_tx(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    return tool_answer(wallet_build_tx(K(call), &c, call->args, false, &e), &e, ret_error);
}

static json_t *run_rotate(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    return tool_answer(wallet_rotate(K(call), &c, arg(call, "wallet_id"), &e), &e, ret_error);
}

static json_t *run_delete(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    if (!c.approved) /* irreversible: only a person deletes a key */
        return tool_answer(
            kerr_set(&e, 403, "approval_required", "deleting a wallet needs a person's approval"),
            &e, ret_error);
    return tool_answer(wallet_delete(K(call), &c, arg(call, "wallet_id"), &e), &e, ret_error);
}

static json_t *run_import(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    return tool_answer(wallet_import(K(call), &c, arg(call, "chain"), arg(call, "label"),
                                     arg(call, "private_key"), &e),
                       &e, ret_error);
}

/* An approved export from the agent puts the key into the vault, never into the answer: the
 * answer goes back to the model (often a hosted one) and into the job's record, and neither
 * may hold a key. The operator then reads or delivers the secret on keyd.sock. */
static json_t *export_to_vault(struct keyd *k, const struct keyd_caller *c, json_t *out,
                               struct kerr *e)
{
    json_t *key = json_object_get(out, "private_key");
    const char *hex = json_string_value(key);
    char name[VAULT_SECRET_NAME_MAX + 1];
    json_auto_t *meta = NULL;
    int r;

    snprintf(name, sizeof(name), "wallet-export-%s",
             json_string_value(json_object_get(out, "wallet_id")));
    r = hex ? vault_secret_put(k->vault, name, (const uint8_t *)hex, strlen(hex), c->who, &meta)
            : -EINVAL;
    if (hex)
        sodium_memzero((char *)hex, strlen(hex));
    json_object_del(out, "private_key");
    if (r < 0) {
        json_decref(out);
        return kerr_set(e, 503, "vault_unavailable",
                        "the exported key could not be stored in "
                        "the vault: %s",
                        strerror(-r));
    }
    json_object_set_new(out, "exported_to",
                        json_pack("{s:s, s:O?, s:s}", "vault_secret", name, "version",
                                  json_object_get(meta, "version"), "note",
                                  "the operator reads or delivers it on keyd.sock "
                                  "(/vault/secrets); the key is never given to the agent"));
    return out;
}

static json_t *run_export(struct osm_exec_call *call, const char **ret_error)
{
    CALLER;
    json_t *out = wallet_export(K(call), &c, arg(call, "wallet_id"), &e);

    if (out)
        out = export_to_vault(K(call), &c, out, &e);
    return tool_answer(out, &e, ret_error);
}

static json_t *run_deliver(struct osm_exec_call *call, const char **ret_error)
{
    json_auto_t *body = json_deep_copy(call->args);
    CALLER;

    if (!c.approved)
        return tool_answer(
            kerr_set(&e, 403, "approval_required", "delivering a secret needs a person's approval"),
            &e, ret_error);
    json_object_del(body, "name");
    return tool_answer(keyd_deliver(K(call), &c, arg(call, "name"), body, &e), &e, ret_error);
}

/* ---- decisions -------------------------------------------------------------------------- */

static bool verdict(int v, const char *reason, struct osm_policy_verdict *out)
{
    static const char *const rules[] = {"keyd:policy", "keyd:threshold", "keyd:policy"};

    if (v < 0) /* bad arguments: the handler answers with the precise error */
        v = KP_ALLOW;
    out->decision = v == KP_ALLOW     ? OSM_POLICY_ALLOW
                    : v == KP_APPROVE ? OSM_POLICY_APPROVE
                                      : OSM_POLICY_DENY;
    snprintf(out->rule, sizeof(out->rule), "%s", rules[v]);
    snprintf(out->detail, sizeof(out->detail), "%s", reason);
    return true;
}

static bool decide_send(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    char reason[256] = "";
    struct kerr e = {0};
    bool send = strcmp(call->tool->name, "wallet_send") == 0;

    return verdict(wallet_tx_verdict(K(call), call->args, send, reason, sizeof(reason), &e), reason,
                   v);
}

static bool decide_sign(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    char reason[256] = "";
    struct kerr e = {0};
    bool typed = strcmp(call->tool->name, "wallet_sign_typed_data") == 0;
    bool raw = json_is_true(json_object_get(call->args, "raw"));
    const char *id = arg(call, "wallet_id");

    return verdict(wallet_sign_verdict(K(call), id, raw, typed, reason, sizeof(reason), &e), reason,
                   v);
}

/* Import, export, delivery: always a person, whatever the class or the policy file's rules. */
static bool decide_person(const struct osm_exec_call *call, struct osm_policy_verdict *v)
{
    v->decision = OSM_POLICY_APPROVE;
    snprintf(v->rule, sizeof(v->rule), "keyd:person");
    snprintf(v->detail, sizeof(v->detail), "%s always waits for a person", call->tool->name);
    return true;
}

static const struct {
    const char *name;
    osm_exec_fn run;
    osm_exec_decide_fn decide;
} table[] = {
    {"wallet_create", NULL, NULL},
    {"wallet_list", NULL, NULL},
    {"wallet_sign", run_sign, decide_sign},
    {"wallet_send", run_send, decide_send},
    {"wallet_delete", run_delete, NULL},
    {"wallet_receipt", NULL, NULL},
    {"wallet_build_tx", run_build_tx, decide_send},
    {"wallet_sign_typed_data", run_sign_typed, decide_sign},
    {"wallet_rotate", run_rotate, NULL},
    {"wallet_import", run_import, decide_person},
    {"wallet_export", run_export, decide_person},
    {"vault_list", NULL, NULL},
    {"vault_deliver", run_deliver, decide_person},
    /* a held call's result, once a person approved it */
    {"job_status", osm_exec_job_status, NULL},
    {"job_wait", osm_exec_job_wait, NULL},
    {"job_kill", osm_exec_job_kill, NULL},
};

int keyd_tool_table(struct osm_exec_tool **ret, size_t *ret_n)
{
    struct osm_exec_tool *t = calloc(ELEMENTSOF(table), sizeof(*t));

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(table); i++) {
        t[i].tool = osm_tool_find(table[i].name, NULL);
        t[i].run = table[i].run;
        t[i].decide = table[i].decide;
        if (!t[i].tool) {
            free(t);
            return -ENOENT;
        }
    }
    *ret = t;
    *ret_n = ELEMENTSOF(table);
    return 0;
}
