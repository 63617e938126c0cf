/* The MCP protocol core shared by both transports: JSON-RPC 2.0 framing, the lifecycle
 * (initialize → initialized → requests), and the method table. Transports hand it one parsed
 * message at a time and send back what it returns. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/limits.h"
#include "ipc/json_util.h"
#include "mcp-internal.h"

static const char *const supported_versions[] = {
    MCP_PROTOCOL_LATEST,
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
};

bool mcp_protocol_supported(const char *version)
{
    for (size_t i = 0; version && i < sizeof(supported_versions) / sizeof(*supported_versions); i++)
        if (strcmp(version, supported_versions[i]) == 0)
            return true;
    return false;
}

json_t *mcp_error_response(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
    json_t *resp;

    if (err && data)
        json_object_set_new(err, "data", data);
    else
        json_decref(data);
    resp = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? (json_t *)id : json_null(),
                     "error", err);
    return resp;
}

json_t *mcp_result_response(const json_t *id, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", (json_t *)id, "result",
                     result ? result : json_object());
}

static bool id_valid(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

enum mcp_msg_kind mcp_message_kind(const json_t *msg)
{
    const json_t *id, *method;

    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0)
        return MCP_MSG_INVALID;
    id = json_object_get(msg, "id");
    method = json_object_get(msg, "method");
    if (method) {
        const json_t *params = json_object_get(msg, "params");
        if (!json_is_string(method) || (params && !json_is_object(params)))
            return MCP_MSG_INVALID;
        if (!id)
            return MCP_MSG_NOTIFICATION;
        return id_valid(id) ? MCP_MSG_REQUEST : MCP_MSG_INVALID;
    }
    if (!id || (!id_valid(id) && !json_is_null(id)))
        return MCP_MSG_INVALID;
    if (!!json_object_get(msg, "result") == !!json_object_get(msg, "error"))
        return MCP_MSG_INVALID;
    return MCP_MSG_RESPONSE;
}

int mcp_parse(const char *buf, size_t len, json_t **ret_msg, json_t **ret_error)
{
    char err[160];
    json_t *v;

    *ret_msg = *ret_error = NULL;
    if (len > MCP_MESSAGE_MAX) {
        json_t *id = mcp_id_recover(buf, len);
        *ret_error = mcp_error_response(id, MCP_ERR_INVALID_REQUEST, "message too large", NULL);
        json_decref(id);
        return -EINVAL;
    }
    v = osm_json_parse(buf, len, err, sizeof(err));
    if (!v) {
        *ret_error = mcp_error_response(NULL, MCP_ERR_PARSE, "parse error",
                                        json_pack("{s:s}", "detail", err));
        return -EBADMSG;
    }
    if (json_is_array(v)) {
        json_decref(v);
        *ret_error =
            mcp_error_response(NULL, MCP_ERR_INVALID_REQUEST,
                               "JSON-RPC batches are not supported (MCP 2025-06-18+)", NULL);
        return -EINVAL;
    }
    if (mcp_message_kind(v) == MCP_MSG_INVALID) {
        const json_t *id = json_object_get(v, "id");
        *ret_error = mcp_error_response(id_valid(id) ? id : NULL, MCP_ERR_INVALID_REQUEST,
                                        "invalid JSON-RPC 2.0 message", NULL);
        json_decref(v);
        return -EINVAL;
    }
    *ret_msg = v;
    return 0;
}

/* ---- methods ---- */

typedef json_t *(*method_fn)(struct mcp_call *c, const json_t *params, struct mcp_error *e);

static json_t *m_initialize(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    struct mcp_session *s = c->session;
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    const json_t *caps = json_object_get(params, "capabilities");
    const char *version = mcp_protocol_supported(asked) ? asked : MCP_PROTOCOL_LATEST;
    json_t *server_caps;

    if (!asked)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "initialize: protocolVersion is required");
    pthread_mutex_lock(&s->lock);
    if (s->initialized) {
        pthread_mutex_unlock(&s->lock);
        return mcp_fail(e, MCP_ERR_INVALID_REQUEST, "session is already initialized");
    }
    s->initialized = true;
    snprintf(s->protocol, sizeof(s->protocol), "%s", version);
    s->client_caps = json_is_object(caps) ? json_deep_copy(caps) : json_object();
    pthread_mutex_unlock(&s->lock);

    server_caps = json_pack("{s:{s:b},s:{}}", "tools", "listChanged", 0, "logging");
    if (c->srv->fixtures) {
        json_object_set_new(server_caps, "prompts", json_pack("{s:b}", "listChanged", 0));
        json_object_set_new(server_caps, "resources",
                            json_pack("{s:b,s:b}", "subscribe", 1, "listChanged", 0));
        json_object_set_new(server_caps, "completions", json_object());
    }
    return json_pack("{s:s,s:o,s:{s:s,s:s},s:s}", "protocolVersion", version, "capabilities",
                     server_caps, "serverInfo", "name", MCP_SERVER_NAME, "version",
                     MCP_SERVER_VERSION, "instructions",
                     "osModa tools: typed, audited operations on this server. Every result is "
                     "one JSON text item (also in structuredContent), capped in size with an "
                     "explicit truncation marker; list and log tools take offset, limit and "
                     "grep. Calls that need an operator's approval answer status pending with "
                     "an approval_id and a job_id: follow them with job_status / job_wait. A "
                     "capability token minted by the operator limits a call to its permissions: "
                     "pass it as _meta.capability (or the capability_token argument), as the "
                     "token object or its JSON text.");
}

static json_t *m_ping(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return json_object();
}

static json_t *m_set_level(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    int level = mcp_log_level_parse(json_string_value(json_object_get(params, "level")));

    if (level < 0)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS,
                        "level must be one of debug, info, notice, warning, error, critical, "
                        "alert, emergency");
    pthread_mutex_lock(&c->session->lock);
    c->session->log_level = level;
    pthread_mutex_unlock(&c->session->lock);
    return json_object();
}

static json_t *m_tools_list(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    json_t *tools = json_array();

    if (!tools || mcp_tools_list(tools) < 0 ||
        (c->srv->fixtures && mcp_fixtures_tools(tools) < 0)) {
        json_decref(tools);
        return mcp_fail(e, MCP_ERR_INTERNAL, "cannot build the tool list");
    }
    return json_pack("{s:o}", "tools", tools);
}

static json_t *m_tools_call(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const json_t *args = json_object_get(params, "arguments");
    json_t *r;

    if (!name)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "tools/call: name must be a string");
    if (args && !json_is_object(args))
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "tools/call: arguments must be an object");
    if (c->srv->fixtures && (r = mcp_fixtures_call(c, name, args)))
        return r;
    return mcp_tools_call(c, name, args, e);
}

static json_t *m_prompts_list(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return mcp_fixtures_prompts();
}

static json_t *m_prompts_get(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    const char *name = json_string_value(json_object_get(params, "name"));

    if (!name)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "prompts/get: name must be a string");
    return mcp_fixtures_prompt_get(name, json_object_get(params, "arguments"), e);
}

static json_t *m_resources_list(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return mcp_fixtures_resources();
}

static json_t *m_templates_list(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return mcp_fixtures_resource_templates();
}

static json_t *m_resources_read(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));

    if (!uri)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "resources/read: uri must be a string");
    return mcp_fixtures_resource_read(uri, e);
}

static json_t *subscription(struct mcp_call *c, const json_t *params, struct mcp_error *e, bool on)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    struct mcp_session *s = c->session;

    if (!uri)
        return mcp_fail(e, MCP_ERR_INVALID_PARAMS, "uri must be a string");
    pthread_mutex_lock(&s->lock);
    if (on && json_object_size(s->subscriptions) < 256)
        json_object_set_new(s->subscriptions, uri, json_true());
    else if (!on)
        json_object_del(s->subscriptions, uri);
    pthread_mutex_unlock(&s->lock);
    return json_object();
}

static json_t *m_subscribe(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return subscription(c, params, e, true);
}

static json_t *m_unsubscribe(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return subscription(c, params, e, false);
}

static json_t *m_complete(struct mcp_call *c, const json_t *params, struct mcp_error *e)
{
    return mcp_fixtures_complete(params);
}

enum method_flags {
    M_BEFORE_INIT = 1 << 0, /* allowed before initialize */
    M_FIXTURES = 1 << 1,    /* exists only with --conformance-fixtures */
};

static const struct method {
    const char *name;
    method_fn fn;
    unsigned flags;
} methods[] = {
    {"initialize", m_initialize, M_BEFORE_INIT},
    {"ping", m_ping, M_BEFORE_INIT},
    {"logging/setLevel", m_set_level, 0},
    {"tools/list", m_tools_list, 0},
    {"tools/call", m_tools_call, 0},
    {"prompts/list", m_prompts_list, M_FIXTURES},
    {"prompts/get", m_prompts_get, M_FIXTURES},
    {"resources/list", m_resources_list, M_FIXTURES},
    {"resources/templates/list", m_templates_list, M_FIXTURES},
    {"resources/read", m_resources_read, M_FIXTURES},
    {"resources/subscribe", m_subscribe, M_FIXTURES},
    {"resources/unsubscribe", m_unsubscribe, M_FIXTURES},
    {"completion/complete", m_complete, M_FIXTURES},
};

static const struct method *method_find(const struct mcp_server *srv, const char *name)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++)
        if (strcmp(methods[i].name, name) == 0)
            return (methods[i].flags & M_FIXTURES) && !srv->fixtures ? NULL : &methods[i];
    return NULL;
}

static json_t *handle_request(struct mcp_session *s, const json_t *msg, const struct mcp_sink *sink)
{
    const json_t *id = json_object_get(msg, "id");
    const char *name = json_string_value(json_object_get(msg, "method"));
    const json_t *params = json_object_get(msg, "params");
    const json_t *meta = json_object_get(params, "_meta");
    struct mcp_call call = {.session = s,
                            .srv = s->srv,
                            .sink = sink,
                            .id = id,
                            .meta = json_is_object(meta) ? meta : NULL};
    const struct method *m = method_find(s->srv, name);
    struct mcp_error e = {0};
    json_t *result, *empty = NULL;

    if (!m)
        return mcp_error_response(id, MCP_ERR_METHOD_NOT_FOUND, "method not found",
                                  json_pack("{s:s}", "method", name));
    if (!(m->flags & M_BEFORE_INIT) && !mcp_session_initialized(s))
        return mcp_error_response(id, MCP_ERR_INVALID_REQUEST,
                                  "the session is not initialized: send initialize first", NULL);
    if (call.meta) {
        const json_t *tok = json_object_get(call.meta, "progressToken");
        call.progress_token = id_valid(tok) ? tok : NULL;
    }
    if (!params)
        params = empty = json_object();
    result = m->fn(&call, params, &e);
    json_decref(empty);
    if (!result)
        return mcp_error_response(id, e.code ? e.code : MCP_ERR_INTERNAL,
                                  e.message[0] ? e.message : "internal error", NULL);
    return mcp_result_response(id, result);
}

json_t *mcp_session_handle(struct mcp_session *s, const json_t *msg, const struct mcp_sink *sink)
{
    switch (mcp_message_kind(msg)) {
    case MCP_MSG_REQUEST:
        return handle_request(s, msg, sink);
    case MCP_MSG_RESPONSE:
        mcp_session_deliver(s, msg);
        return NULL;
    case MCP_MSG_NOTIFICATION:
        /* notifications/initialized, cancelled, roots/list_changed: nothing to answer */
        return NULL;
    case MCP_MSG_INVALID:
    default:
        return mcp_error_response(NULL, MCP_ERR_INVALID_REQUEST, "invalid JSON-RPC 2.0 message",
                                  NULL);
    }
}
