/* The ledger client every daemon uses to record its typed events through agentd, the ledger's
 * only writer (POST /events/append). A daemon that cannot record an action must not perform it:
 * callers treat any error here as "do not act". */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* Records {type, actor, payload} (payload lent) and waits until agentd reports it durable.
 * Returns 0 and the event id, -EINVAL for a refused event, -ECONNREFUSED/-ENOENT when agentd is
 * not running, -EIO for any other failure. */
int osm_ledger_client_append(const char *agentd_socket, const char *type, const char *actor,
                             const json_t *payload, int64_t *ret_id);
