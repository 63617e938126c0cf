/* The state every part of the gateway shares: its own ledger events. */
#include "gateway.h"
#include "ledger/ledger_client.h"

int gateway_emit(struct gateway *gw, const char *type, const json_t *payload)
{
    return osm_ledger_client_append(gw->daemons_socket, type, "gateway", payload, NULL);
}
