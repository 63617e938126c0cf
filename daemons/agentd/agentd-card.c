/* The EIP-8004 agent card: GET /agent/card serves <state>/agent-card.json (or the default card,
 * which advertises only the endpoints that are listening now: osModa's named sockets that were
 * never there, and agentd's own socket as "mcp", which does not speak MCP); POST
 * /agent/card/generate writes a new one. The file is prepared
 * first, the event recorded, and only then renamed into place: no event, no new card. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"

#define CARD_FILE "agent-card.json"
#define CARD_TYPE "https://eips.ethereum.org/EIPS/eip-8004#registration-v1"
#define CARD_DESCRIPTION "AI-native OS agent \xe2\x80\x94 full system access with auditable safety"

static pthread_mutex_t card_lock = PTHREAD_MUTEX_INITIALIZER;

/* A service entry {name, endpoint, version?} in declaration order, or NULL if v is not one. */
static json_t *service_new(const json_t *v)
{
    const json_t *name = json_object_get(v, "name"), *endpoint = json_object_get(v, "endpoint");
    const json_t *version = json_object_get(v, "version");
    json_t *s;

    if (!json_is_string(name) || !json_is_string(endpoint) ||
        !(version == NULL || json_is_null(version) || json_is_string(version)))
        return NULL;
    s = json_pack("{s:O, s:O}", "name", name, "endpoint", endpoint);
    if (s && json_is_string(version))
        json_object_set(s, "version", (json_t *)version);
    return s;
}

/* Canonical copies of a services array; NULL if any entry is malformed. */
static json_t *services_new(const json_t *list)
{
    json_auto_t *out = json_array();
    size_t i;
    json_t *v;

    if (!json_is_array(list))
        return NULL;
    json_array_foreach(list, i, v)
    {
        json_t *s = service_new(v);
        if (!s)
            return NULL;
        json_array_append_new(out, s);
    }
    return json_incref(out);
}

/* True when something accepts connections on the unix socket at path. */
static bool listening(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;

    if (strlen(path) >= sizeof(sa.sun_path))
        return false;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return fd >= 0 && (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN);
}

static json_t *default_services_new(const struct agentd *ad)
{
    static const char *const services[][2] = {
        {"mcp", "mcp.sock"}, /* the MCP bridge's Streamable HTTP socket */
        {"wallet.sign", "keyd.sock"},
        {"safeswitch", "watch.sock"},
    };
    json_t *out = json_array();

    for (size_t i = 0; out && i < ELEMENTSOF(services); i++) {
        _cleanup_free_ char *path = osm_path_join(ad->paths.run_dir, services[i][1]);
        char endpoint[4200];
        if (!path || !listening(path))
            continue;
        snprintf(endpoint, sizeof(endpoint), "unix://%s", path);
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", services[i][0], "endpoint",
                                             endpoint, "version", "1.0"));
    }
    return out;
}

/* A card in AgentCard declaration order. services is stolen; image may be NULL. */
static json_t *card_new(const char *type, const char *name, const char *description,
                        const char *image, json_t *services, bool active, json_t *trust)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s}", "type", type, "name", name, "description", description);

    if (c && image)
        json_object_set_new(c, "image", json_string(image));
    if (c) {
        json_object_set_new(c, "services", services);
        json_object_set_new(c, "active", json_boolean(active));
        json_object_set_new(c, "supportedTrust",
                            trust ? trust : json_pack("[s, s]", "eip-8004", "hash-chain-ledger"));
    } else {
        json_decref(services);
        json_decref(trust);
    }
    return c;
}

/* The card stored on disk if it parses as an AgentCard, else NULL (osModa then uses the default).
 */
static json_t *card_load(const char *path)
{
    _cleanup_free_ char *data = NULL;
    json_auto_t *v = NULL;
    json_t *services, *trust, *image = NULL;
    const char *type, *name, *description;
    int active;
    size_t len;

    if (osm_read_file(path, OSM_AGENT_CARD_MAX, &data, &len) < 0)
        return NULL;
    v = json_loadb(data, len, 0, NULL);
    if (!v || json_unpack(v, "{s:s, s:s, s:s, s?o, s:o, s:b, s:o}", "type", &type, "name", &name,
                          "description", &description, "image", &image, "services", &services,
                          "active", &active, "supportedTrust", &trust) < 0)
        return NULL;
    if (!agentd_string_array_valid(trust) ||
        !(!image || json_is_null(image) || json_is_string(image)))
        return NULL;
    services = services_new(services);
    if (!services)
        return NULL;
    return card_new(type, name, description, json_string_value(image), services, active,
                    json_copy(trust));
}

json_t *agentd_agent_card(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    _cleanup_free_ char *path = osm_path_join(ad->paths.state_dir, CARD_FILE);
    json_t *card = path ? card_load(path) : NULL;

    if (card)
        return card;
    return card_new(CARD_TYPE, "osModa", CARD_DESCRIPTION, NULL, default_services_new(ad), true,
                    NULL);
}

/* Writes card (pretty, 0644) to tmp, records the event, renames tmp over path. */
static json_t *card_commit(struct osm_request *req, json_t *card, const char *tmp, const char *path)
{
    _cleanup_free_ char *text = json_dumps(card, JSON_INDENT(2));
    json_auto_t *payload = NULL;
    int r;

    if (!text)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    r = osm_write_file_atomic(tmp, text, strlen(text), 0644);
    if (r < 0) {
        log_error("card.write_failed", "error=%d", r);
        return osm_error_errno(req, r, "could not write the agent card: %s", strerror(-r));
    }
    payload = json_pack("{s:O, s:I}", "name", json_object_get(card, "name"), "services",
                        (json_int_t)json_array_size(json_object_get(card, "services")));
    r = payload
            ? agentd_record(AGENTD(req), "agent.card.generate", "agentd", payload, NULL, NULL, NULL)
            : -ENOMEM;
    if (r < 0) {
        unlink(tmp);
        return agentd_record_error(req, r, "agent.card.generate");
    }
    if (rename(tmp, path) < 0) {
        r = -errno;
        unlink(tmp);
        log_error("card.rename_failed", "error=%d", r);
        return osm_error_errno(req, r, "could not install the agent card: %s", strerror(-r));
    }
    return json_incref(card);
}

json_t *agentd_agent_card_generate(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    json_t *name, *description, *services, *err, *resp;
    const struct agentd_field fields[] = {
        {"name", AGENTD_FIELD_STRING, true, &name},
        {"description", AGENTD_FIELD_STRING, true, &description},
        {"services", AGENTD_FIELD_ANY, false, &services},
    };
    _cleanup_free_ char *path = osm_path_join(ad->paths.state_dir, CARD_FILE);
    _cleanup_free_ char *tmp = osm_path_join(ad->paths.state_dir, CARD_FILE ".tmp");
    json_auto_t *card = NULL;
    json_t *list;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    list = services ? services_new(services) : json_array();
    if (!list)
        return agentd_field_error(req, "services",
                                  "must be an array of {name, endpoint, version?} objects");
    if (json_array_size(list) == 0) {
        json_decref(list);
        list = default_services_new(ad);
    }
    card = card_new(CARD_TYPE, json_string_value(name), json_string_value(description), NULL, list,
                    true, NULL);
    if (!card || !path || !tmp)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    pthread_mutex_lock(&card_lock);
    resp = card_commit(req, card, tmp, path);
    pthread_mutex_unlock(&card_lock);
    return resp;
}
