/* The /config/... routes of osModa §10.5 over the credential store and agents.json, with
 * osModa's error codes (validation_failed, not_found, conflict, internal_error) in our
 * envelope, and service_unavailable when a change cannot be recorded in the ledger. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "gw-agents.h"
#include "gw-config.h"
#include "gw-credstore.h"
#include "gw-credtest.h"
#include "gw-http.h"

#define ERR_MAX 512

/* The drivers /config/drivers lists: a local table until the drivers' own (gw_drivers) is
 * linked in; the runtimes gw_agents_runtime_known accepts are the same names. */
static const struct {
    const char *name, *display_name, *description;
    const char *providers[3], *auth_types[3], *models[4];
} drivers[] = {
    {"claude-code",
     "Claude Code",
     "The claude CLI, with only osModa's typed and audited tools (over the MCP bridge)",
     {"anthropic"},
     {"api_key", "oauth"},
     {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"}},
    {"anthropic",
     "Anthropic API",
     "The Messages API directly, with osModa's tools",
     {"anthropic"},
     {"api_key", "oauth"},
     {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"}},
    {"openai",
     "OpenAI-compatible",
     "Any chat-completions endpoint with tools (a hosted one, or llama.cpp / Ollama on this "
     "machine through base_url)",
     {"openai"},
     {"api_key"},
     {NULL}},
};

/* Who asked for the change being recorded on this thread ("gateway" for start and SIGHUP). */
static __thread const char *current_by;

static int record(void *ud, const char *type, const json_t *payload)
{
    json_t *p = json_deep_copy(payload);
    int r;

    if (!p)
        return -ENOMEM;
    json_object_set_new(p, "by", json_string(current_by ? current_by : "gateway"));
    r = gateway_emit(ud, type, p);
    json_decref(p);
    if (r < 0)
        log_warn("gateway.config", "event=%s recorded=no error=%d reason=\"%s\"", type, r,
                 strerror(-r));
    return r;
}

/* ---- answers ------------------------------------------------------------------------------ */

static void fail(struct gw_req *req, struct gw_resp *resp, int r, const char *err)
{
    switch (r) {
    case -EINVAL:
        gw_error(req, resp, 400, "validation_failed", NULL, "%s", err && *err ? err : "invalid");
        break;
    case -ENOENT:
        gw_error(req, resp, 404, "not_found", NULL, "no such %s: %s",
                 strstr(req->path, "/agents") ? "agent" : "credential", req->param[0]);
        break;
    case -ENOSPC:
        gw_error(req, resp, 409, "conflict", NULL, "%s", err);
        break;
    case -ENOTCONN:
        gw_error(req, resp, 503, "service_unavailable", NULL,
                 "the change could not be recorded in the ledger (is agentd running?); nothing "
                 "was changed");
        break;
    default:
        log_error("gateway.config", "path=%s error=%d reason=\"%s\"", req->path, r, strerror(-r));
        gw_error(req, resp, 500, "internal_error", NULL, "the change failed: %s", strerror(-r));
    }
}

static void answer(struct gw_resp *resp, int status, json_t *json)
{
    resp->status = status;
    resp->json = json;
}

/* Ids in paths: what the stores make ([a-z0-9_-]{1,64}); anything else cannot exist. */
static bool id_ok(struct gw_req *req, struct gw_resp *resp)
{
    const char *id = req->param[0];
    size_t n = strlen(id);

    if (n > 0 && n <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n)
        return true;
    fail(req, resp, -ENOENT, NULL);
    return false;
}

/* ---- drivers and health ------------------------------------------------------------------- */

static json_t *strings(const char *const *list, size_t max)
{
    json_t *a = json_array();

    for (size_t i = 0; i < max && list[i]; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static void get_drivers(struct gw_req *req, struct gw_resp *resp)
{
    json_t *list = json_array();

    (void)req;
    for (size_t i = 0; i < ELEMENTSOF(drivers); i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", drivers[i].name,
                                        "display_name", drivers[i].display_name, "description",
                                        drivers[i].description, "supported_providers",
                                        strings(drivers[i].providers, 3), "supported_auth_types",
                                        strings(drivers[i].auth_types, 3), "default_models",
                                        strings(drivers[i].models, 4)));
    answer(resp, 200, json_pack("{s:o}", "drivers", list));
}

static void get_health(struct gw_req *req, struct gw_resp *resp)
{
    struct gateway *gw = req->gw;
    json_t *creds = gw_credstore_list(gw->creds);
    int total, enabled;

    gw_agents_counts(gw->agents, &total, &enabled);
    answer(resp, 200,
           json_pack("{s:i, s:i, s:i, s:O, s:i, s:s}", "agents_count", total,
                     "enabled_agents_count", enabled, "credentials_count",
                     (int)json_array_size(json_object_get(creds, "credentials")),
                     "default_credential_id", json_object_get(creds, "default_credential_id"),
                     "drivers_count", (int)ELEMENTSOF(drivers), "credstore_key_source",
                     gw_credstore_key_source(gw->creds)));
    json_decref(creds);
}

/* ---- credentials -------------------------------------------------------------------------- */

static void get_credentials(struct gw_req *req, struct gw_resp *resp)
{
    answer(resp, 200, gw_credstore_list(req->gw->creds));
}

static void post_credential(struct gw_req *req, struct gw_resp *resp)
{
    char err[ERR_MAX] = "";
    json_t *cred = NULL;
    int r;

    current_by = req->who.user;
    r = gw_credstore_add(req->gw->creds, req->body, &cred, err, sizeof(err));
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, err);
    answer(resp, 201, json_pack("{s:o}", "credential", cred));
}

static void patch_credential(struct gw_req *req, struct gw_resp *resp)
{
    const char *label;
    json_error_t e;
    json_t *cred = NULL;
    int r;

    if (!id_ok(req, resp))
        return;
    if (json_unpack_ex(req->body, &e, JSON_STRICT, "{s:s}", "label", &label) < 0)
        return fail(req, resp, -EINVAL, e.text);
    current_by = req->who.user;
    r = gw_credstore_relabel(req->gw->creds, req->param[0], label, &cred);
    current_by = NULL;
    if (r == -EINVAL)
        return fail(req, resp, r, "label must be 1..60 characters without control characters");
    if (r < 0)
        return fail(req, resp, r, NULL);
    answer(resp, 200, json_pack("{s:o}", "credential", cred));
}

static void delete_credential(struct gw_req *req, struct gw_resp *resp)
{
    int r;

    if (!id_ok(req, resp))
        return;
    current_by = req->who.user;
    r = gw_credstore_delete(req->gw->creds, req->param[0]);
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, NULL);
    resp->status = 204;
}

static void default_credential(struct gw_req *req, struct gw_resp *resp)
{
    int r;

    if (!id_ok(req, resp))
        return;
    current_by = req->who.user;
    r = gw_credstore_set_default(req->gw->creds, req->param[0]);
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, NULL);
    answer(resp, 200, json_pack("{s:s}", "default_credential_id", req->param[0]));
}

static void test_credential(struct gw_req *req, struct gw_resp *resp)
{
    json_t *cred = NULL, *out;
    int r;

    if (!id_ok(req, resp))
        return;
    if ((r = gw_credstore_get(req->gw->creds, req->param[0], &cred)) < 0)
        return fail(req, resp, r, NULL);
    out = gw_credtest_run(cred);
    gw_credstore_forget(cred);
    if (!out)
        return fail(req, resp, -ENOMEM, NULL);
    r = gw_credstore_tested(req->gw->creds, req->param[0], json_is_true(json_object_get(out, "ok")),
                            json_string_value(json_object_get(out, "error")));
    if (r < 0 && r != -ENOENT)
        log_warn("gateway.config", "what=test_result stored=no error=%d", r);
    answer(resp, 200, out);
}

/* ---- agents ------------------------------------------------------------------------------- */

static int credential_exists(const char *id, void *ud)
{
    json_t *cred = NULL;
    int r = gw_credstore_get(ud, id, &cred);

    gw_credstore_forget(cred);
    return r == 0;
}

static void get_agents(struct gw_req *req, struct gw_resp *resp)
{
    answer(resp, 200, gw_agents_json(req->gw->agents));
}

static void put_agents(struct gw_req *req, struct gw_resp *resp)
{
    char err[ERR_MAX] = "";
    int r;

    current_by = req->who.user;
    r = gw_agents_put(req->gw->agents, req->body, credential_exists, req->gw->creds, err,
                      sizeof(err));
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, err);
    answer(resp, 200, gw_agents_json(req->gw->agents));
}

static void patch_agent(struct gw_req *req, struct gw_resp *resp)
{
    json_t *cred = json_object_get(req->body, "credential_id"), *agent = NULL;
    char err[ERR_MAX] = "";
    int r;

    if (!id_ok(req, resp))
        return;
    /* beyond osModa: a patched credential_id must exist too */
    if (json_is_string(cred) && !credential_exists(json_string_value(cred), req->gw->creds))
        return fail(req, resp, -EINVAL, "credential_id names no credential");
    current_by = req->who.user;
    r = gw_agents_patch(req->gw->agents, req->param[0], req->body, &agent, err, sizeof(err));
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, err);
    answer(resp, 200, agent);
}

static void delete_agent(struct gw_req *req, struct gw_resp *resp)
{
    int r;

    if (!id_ok(req, resp))
        return;
    current_by = req->who.user;
    r = gw_agents_delete(req->gw->agents, req->param[0]);
    current_by = NULL;
    if (r < 0)
        return fail(req, resp, r, NULL);
    resp->status = 204;
}

static void post_reload(struct gw_req *req, struct gw_resp *resp)
{
    char err[ERR_MAX] = "";
    int r;

    current_by = req->who.user;
    r = gw_config_reload(req->gw, "api", err, sizeof(err));
    current_by = NULL;
    if (r == -ENOTCONN)
        return fail(req, resp, r, NULL);
    if (r < 0)
        return gw_error(req, resp, 500, "internal_error", NULL, "agents.json: %s", err);
    answer(resp, 200, json_pack("{s:b}", "ok", true));
}

const struct gw_route gw_config_routes[] = {
    {"GET", "/config/drivers", get_drivers, 0},
    {"GET", "/config/health", get_health, 0},
    {"GET", "/config/credentials", get_credentials, 0},
    {"POST", "/config/credentials", post_credential, GW_MUTATING | GW_JSON_BODY},
    {"PATCH", "/config/credentials/{id}", patch_credential, GW_MUTATING | GW_JSON_BODY},
    {"DELETE", "/config/credentials/{id}", delete_credential, GW_MUTATING},
    {"POST", "/config/credentials/{id}/test", test_credential, GW_MUTATING},
    {"POST", "/config/credentials/{id}/default", default_credential, GW_MUTATING},
    {"GET", "/config/agents", get_agents, 0},
    {"PUT", "/config/agents", put_agents, GW_MUTATING | GW_JSON_BODY},
    {"PATCH", "/config/agents/{id}", patch_agent, GW_MUTATING | GW_JSON_BODY},
    {"DELETE", "/config/agents/{id}", delete_agent, GW_MUTATING},
    {"POST", "/config/reload", post_reload, GW_MUTATING},
};
const size_t gw_config_n_routes = ELEMENTSOF(gw_config_routes);

/* ---- wiring ------------------------------------------------------------------------------- */

int gw_config_reload(struct gateway *gw, const char *source, char *err, size_t errlen)
{
    json_t *payload = json_pack("{s:s}", "source", source);
    int r = payload ? record(gw, "gateway.config.reload", payload) : -ENOMEM;

    json_decref(payload);
    if (r < 0)
        return r == -ENOMEM ? r : -ENOTCONN;
    return gw_agents_reload(gw->agents, err, errlen);
}

int gw_config_open(struct gateway *gw, const char *key_file, char *err, size_t errlen)
{
    int r;

    if ((r = gw_credstore_open(gw->config_dir, key_file, &gw->creds, err, errlen)) < 0)
        return r;
    gw_credstore_set_recorder(gw->creds, record, gw);
    log_info("gateway.credstore", "credentials=%d key_source=\"%s\"", gw_credstore_count(gw->creds),
             gw_credstore_key_source(gw->creds));
    if ((r = gw_credstore_bootstrap(gw->creds, err, errlen)) < 0)
        log_warn("gateway.credstore", "bootstrap=kept reason=\"%s\"", err);
    else if (r > 0)
        log_info("gateway.credstore", "bootstrap_added=%d bootstrap_file=deleted", r);
    if ((r = gw_agents_open(gw->config_dir, gw->state_dir, &gw->agents, err, errlen)) < 0)
        return r;
    gw_agents_set_recorder(gw->agents, record, gw);
    return 0;
}

void gw_config_close(struct gateway *gw)
{
    gw_agents_free(gw->agents);
    gw_credstore_free(gw->creds);
    gw->agents = NULL;
    gw->creds = NULL;
}
