/* The ledger client: typed events to agentd over its unix socket. */
#include <errno.h>

#include "ipc/http_client.h"
#include "ledger_client.h"

int osm_ledger_client_append(const char *agentd_socket, const char *type, const char *actor,
                             const json_t *payload, int64_t *ret_id)
{
    struct osm_http_reply reply;
    json_t *body = json_pack("{s:s, s:s, s:O}", "type", type, "actor", actor, "payload", payload);
    int r;

    if (!body)
        return -EINVAL;
    r = osm_http_call(agentd_socket, "POST", "/events/append", body, 0, &reply);
    json_decref(body);
    if (r < 0)
        return r;
    if (reply.status == 201 && json_is_integer(json_object_get(reply.json, "id"))) {
        if (ret_id)
            *ret_id = json_integer_value(json_object_get(reply.json, "id"));
    } else {
        r = reply.status == 422 || reply.status == 400 ? -EINVAL : -EIO;
    }
    osm_http_reply_clear(&reply);
    return r;
}

int osm_ledger_client_append_batch(const char *daemons_socket, const json_t *events,
                                   long timeout_ms, int64_t *ret_first_id)
{
    struct osm_http_reply reply;
    json_t *body = json_pack("{s:O}", "events", events);
    int r;

    if (!body)
        return -EINVAL;
    r = osm_http_call(daemons_socket, "POST", "/events/append_batch", body, timeout_ms, &reply);
    json_decref(body);
    if (r < 0)
        return r;
    if (reply.status == 201 && json_is_integer(json_object_get(reply.json, "first_id"))) {
        if (ret_first_id)
            *ret_first_id = json_integer_value(json_object_get(reply.json, "first_id"));
    } else if (reply.status == 422 || reply.status == 400 || reply.status == 413) {
        r = -EINVAL;
    } else {
        r = reply.status == 503 || reply.status == 429 ? -EAGAIN : -EIO;
    }
    osm_http_reply_clear(&reply);
    return r;
}
