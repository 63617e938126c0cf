/* agentctl health: agentd's GET /health over its socket, pretty printed as osModa does. */
#include <errno.h>
#include <string.h>

#include "ctl.h"
#include "ipc/http_client.h"

static int health_exec(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    int r = osm_http_call(c->socket, "GET", "/health", NULL, 0, &reply);

    if (r == -ENOENT || r == -ECONNREFUSED)
        r = ctl_fail("agentd is not running: nothing listens on %s", c->socket);
    else if (r < 0)
        r = ctl_fail("cannot reach agentd at %s: %s", c->socket, strerror(-r));
    else if (reply.status != 200)
        r = ctl_fail("agentd answered GET /health with HTTP %ld", reply.status);
    else if (!reply.json)
        r = ctl_fail("agentd answered GET /health with a body that is not JSON");
    else
        r = ctl_print_json(reply.json);
    osm_http_reply_clear(&reply);
    return r;
}

const struct ctl_verb ctl_verb_health = {
    .name = "health",
    .args = "",
    .summary = "Query agentd's health endpoint over its socket",
    .exec = health_exec,
};
