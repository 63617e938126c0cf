/* agentd's route table and the handlers it names (one agentd-<area>.c file per group).
 * Handlers follow lib/ipc/http_server.h: the request is lent, they return a new reference and set
 * req->status when it is not 200; errors are osm_error() envelopes. req->userdata is the
 * struct agentd. */
#pragma once

#include "ipc/errors.h"
#include "ipc/http_server.h"

extern const struct osm_route agentd_routes[];
extern const size_t agentd_n_routes;
/* The agent socket's routes: POST /tools/call and GET /health (decision routes answer 403). */
extern const struct osm_route agentd_agent_routes[];
extern const size_t agentd_n_agent_routes;

#define AGENTD(req) ((struct agentd *)(req)->userdata)

/* agentd-health.c */
json_t *agentd_health(struct osm_request *req);
/* agentd-events.c */
json_t *agentd_events_append(struct osm_request *req);
json_t *agentd_events_log(struct osm_request *req);
/* Records req's {"events": [{type, payload}, ...]} in order, in one transaction, as actor. */
json_t *agentd_events_append_batch(struct osm_request *req, const char *actor);
/* agentd-proofs.c */
json_t *agentd_ledger_checkpoint(struct osm_request *req);
json_t *agentd_ledger_inclusion(struct osm_request *req);
json_t *agentd_ledger_consistency(struct osm_request *req);
json_t *agentd_ledger_prune(struct osm_request *req);
/* agentd-memory.c */
json_t *agentd_memory_ingest(struct osm_request *req);
json_t *agentd_memory_recall(struct osm_request *req);
json_t *agentd_memory_store(struct osm_request *req);
json_t *agentd_memory_health(struct osm_request *req);
/* agentd-system.c */
json_t *agentd_system_query(struct osm_request *req);
json_t *agentd_system_discover(struct osm_request *req);
/* agentd-card.c */
json_t *agentd_agent_card(struct osm_request *req);
json_t *agentd_agent_card_generate(struct osm_request *req);
/* agentd-receipts.c */
json_t *agentd_receipts(struct osm_request *req);
/* agentd-incidents.c */
json_t *agentd_incident_create(struct osm_request *req);
json_t *agentd_incident_step(struct osm_request *req);
json_t *agentd_incident_get(struct osm_request *req);
json_t *agentd_incident_resolve(struct osm_request *req);
json_t *agentd_incidents_list(struct osm_request *req);
/* agentd-backup.c */
json_t *agentd_backup_create(struct osm_request *req);
json_t *agentd_backup_list(struct osm_request *req);
json_t *agentd_backup_restore(struct osm_request *req);
/* agentd-tools.c: the executor behind POST /tools/call */
json_t *agentd_tools_call(struct osm_request *req);
/* agentd-approvals.c */
json_t *agentd_approval_request(struct osm_request *req);
json_t *agentd_approval_pending(struct osm_request *req);
json_t *agentd_approval_get(struct osm_request *req);
json_t *agentd_approval_approve(struct osm_request *req);
json_t *agentd_approval_deny(struct osm_request *req);
/* agentd-capability.c */
json_t *agentd_capability_mint(struct osm_request *req);
json_t *agentd_capability_verify(struct osm_request *req);
/* agentd-daemons.c: the daemons socket */
extern const struct osm_route agentd_daemons_routes[];
extern const size_t agentd_n_daemons_routes;
json_t *agentd_daemons_events_append(struct osm_request *req);
json_t *agentd_daemons_events_append_batch(struct osm_request *req);
json_t *agentd_daemons_approval_open(struct osm_request *req);
json_t *agentd_daemons_approval_grant(struct osm_request *req);
json_t *agentd_daemons_approval_cancel(struct osm_request *req);
json_t *agentd_daemons_approval_decision(struct osm_request *req);
json_t *agentd_daemons_approvals_wait(struct osm_request *req);
json_t *agentd_daemons_key(struct osm_request *req);
/* agentd-shell.c: osModa's operator route for a sandboxed run */
json_t *agentd_sandbox_exec_route(struct osm_request *req);
