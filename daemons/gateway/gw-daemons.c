/* The other daemons as the gateway sees them: one call helper and the health of each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "gw-daemons.h"

const struct gw_daemon_info gw_daemons[] = {
    {"agentd", "agentd.sock", "the ledger, approvals and the agent's sandboxed tools"},
    {"watch", "watch.sock", "services, health checks, SafeSwitch rollbacks, emergency controls"},
    {"egress", "egress.sock", "the allowlist proxy: the agent's only way to the network"},
    {"keyd", "keyd.sock", "the vault and the wallets, behind a signing policy"},
};
const size_t gw_n_daemons = ELEMENTSOF(gw_daemons);

int gw_daemon_call(const struct gateway *gw, const char *socket, const char *method,
                   const char *path, const json_t *body, struct osm_http_reply *ret)
{
    _cleanup_free_ char *p = osm_path_join(gw->run_dir, socket);

    if (!p)
        return -ENOMEM;
    return osm_http_call(p, method, path, body, GW_DAEMON_TIMEOUT_MS, ret);
}

static json_t *one_health(const struct gateway *gw, const struct gw_daemon_info *d)
{
    struct osm_http_reply reply = {0};
    int64_t t0 = osm_monotonic_ms();
    int r = gw_daemon_call(gw, d->socket, "GET", "/health", NULL, &reply);
    json_t *out = json_pack("{s:s, s:s, s:b, s:I}", "name", d->name, "what", d->what, "up",
                            r == 0 && reply.status == 200, "latency_ms",
                            (json_int_t)(osm_monotonic_ms() - t0));

    if (out && r == 0) {
        json_object_set_new(out, "status", json_integer(reply.status));
        if (reply.json)
            json_object_set(out, "health", reply.json);
    } else if (out) {
        json_object_set_new(
            out, "error",
            json_string(r == -ENOENT || r == -ECONNREFUSED ? "not running" : "no answer"));
    }
    osm_http_reply_clear(&reply);
    return out;
}

json_t *gw_daemons_health(const struct gateway *gw)
{
    json_t *out = json_array();

    for (size_t i = 0; out && i < gw_n_daemons; i++)
        json_array_append_new(out, one_health(gw, &gw_daemons[i]));
    return out;
}
