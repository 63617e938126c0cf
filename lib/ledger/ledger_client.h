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
/* Records events, a JSON array of {type, payload} (lent, 1..OSM_EVENTS_APPEND_BATCH_MAX), in
 * order and in one transaction through agentd-daemons.sock's POST /events/append_batch; the actor
 * is the caller as agentd names it from its credentials. Waits until all are durable (timeout_ms,
 * 0 for the default). Returns 0 and the first event's id, -EINVAL when agentd refused the batch
 * (nothing recorded), -EAGAIN when its queue is full, -ECONNREFUSED/-ENOENT when agentd is not
 * running, -ETIMEDOUT, -EIO for any other failure (then nothing or everything may be durable). */
int osm_ledger_client_append_batch(const char *daemons_socket, const json_t *events,
                                   long timeout_ms, int64_t *ret_first_id);
