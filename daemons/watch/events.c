/* Typed events of osmoda-watch, recorded in agentd's ledger before the action they describe
 * is taken (or, for an outcome, right after it). */
#include <errno.h>

#include "ledger/ledger_client.h"
#include "watch.h"

int watch_emit(const struct watch_events *ev, const char *type, json_t *payload)
{
    int r;

    if (!payload)
        return -ENOMEM;
    r = ev && ev->emit ? ev->emit(ev->ctx, type, payload) : -ENOTCONN;
    json_decref(payload);
    return r;
}

static int agentd_emit(void *ctx, const char *type, const json_t *payload)
{
    return osm_ledger_client_append(ctx, type, "watch", payload, NULL);
}

void watch_events_agentd(struct watch_events *ev, const char *daemons_socket)
{
    ev->emit = agentd_emit;
    ev->ctx = (void *)daemons_socket;
}
