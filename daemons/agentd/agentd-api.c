/* agentd's routes: osModa's paths (osmoda-reference §1.1) plus the ledger proof endpoints and
 * the tool executor; and the agent socket's small table. */
#include "agentd-api.h"
#include "agentd.h"

#define BODY OSM_ROUTE_BODY
#define OPT OSM_ROUTE_BODY_OPTIONAL
#define OPERATOR OSM_ROUTE_OPERATOR
#define BLOCKS OSM_ROUTE_BLOCKING /* waits for a commit, a command or a job: own thread */

const struct osm_route agentd_routes[] = {
    {"GET", "/health", agentd_health, 0},
    {"POST", "/system/query", agentd_system_query, BODY | BLOCKS},
    {"GET", "/system/discover", agentd_system_discover, BLOCKS},
    {"POST", "/events/append", agentd_events_append, BODY}, /* defers until durable */
    {"GET", "/events/log", agentd_events_log, 0},
    {"POST", "/memory/ingest", agentd_memory_ingest, BODY | BLOCKS},
    {"POST", "/memory/recall", agentd_memory_recall, BODY | BLOCKS},
    {"POST", "/memory/store", agentd_memory_store, BODY | BLOCKS},
    {"GET", "/memory/health", agentd_memory_health, 0},
    {"GET", "/agent/card", agentd_agent_card, 0},
    {"POST", "/agent/card/generate", agentd_agent_card_generate, BODY | BLOCKS},
    {"GET", "/receipts", agentd_receipts, 0},
    {"POST", "/incident/create", agentd_incident_create, BODY | BLOCKS},
    {"POST", "/incident/{id}/step", agentd_incident_step, BODY | BLOCKS},
    {"POST", "/incident/{id}/resolve", agentd_incident_resolve, OPT | BLOCKS},
    {"GET", "/incident/{id}", agentd_incident_get, 0},
    {"GET", "/incidents", agentd_incidents_list, 0},
    {"POST", "/backup/create", agentd_backup_create, OPT | BLOCKS},
    {"GET", "/backup/list", agentd_backup_list, 0},
    {"POST", "/backup/restore", agentd_backup_restore, BODY | OPERATOR | BLOCKS},
    {"GET", "/ledger/checkpoint", agentd_ledger_checkpoint, 0},
    {"GET", "/ledger/proof/inclusion", agentd_ledger_inclusion, 0},
    {"GET", "/ledger/proof/consistency", agentd_ledger_consistency, 0},
    {"POST", "/ledger/prune", agentd_ledger_prune, BODY | OPERATOR | BLOCKS},
    /* The tool layer: the executor, approvals (decisions on this socket only) and tokens. */
    {"POST", "/tools/call", agentd_tools_call, BODY | BLOCKS},
    {"POST", "/approval/request", agentd_approval_request, BODY | BLOCKS},
    {"GET", "/approval/pending", agentd_approval_pending, BLOCKS},
    {"POST", "/approval/{id}/approve", agentd_approval_approve, OPT | OPERATOR | BLOCKS},
    {"POST", "/approval/{id}/deny", agentd_approval_deny, OPT | OPERATOR | BLOCKS},
    {"GET", "/approval/{id}", agentd_approval_get, BLOCKS},
    {"POST", "/sandbox/exec", agentd_sandbox_exec_route, BODY | OPERATOR | BLOCKS},
    {"POST", "/capability/mint", agentd_capability_mint, BODY | OPERATOR | BLOCKS},
    {"POST", "/capability/verify", agentd_capability_verify, BODY},
};
const size_t agentd_n_routes = ELEMENTSOF(agentd_routes);

/* The agent socket (DESIGN §6): every request here is the agent principal and goes through the
 * executor. The decision routes are listed only so that they answer 403 rather than 404 (so they
 * never block). */
const struct osm_route agentd_agent_routes[] = {
    {"GET", "/health", agentd_health, 0},
    {"POST", "/tools/call", agentd_tools_call, BODY | BLOCKS},
    {"POST", "/approval/{id}/approve", agentd_approval_approve, OPT | OPERATOR},
    {"POST", "/approval/{id}/deny", agentd_approval_deny, OPT | OPERATOR},
    {"POST", "/capability/mint", agentd_capability_mint, BODY | OPERATOR},
};
const size_t agentd_n_agent_routes = ELEMENTSOF(agentd_agent_routes);

/* The daemons socket (DESIGN §6): what the other daemons need of agentd, the daemon named from
 * its credentials. */
const struct osm_route agentd_daemons_routes[] = {
    {"POST", "/events/append", agentd_daemons_events_append, BODY}, /* defers until durable */
    {"POST", "/events/append_batch", agentd_daemons_events_append_batch, BODY | BLOCKS},
    {"POST", "/approvals/open", agentd_daemons_approval_open, BODY | BLOCKS},
    {"POST", "/approvals/grant", agentd_daemons_approval_grant, BODY},
    {"POST", "/approvals/wait", agentd_daemons_approvals_wait, BODY | BLOCKS},
    {"POST", "/approvals/{id}/cancel", agentd_daemons_approval_cancel, OPT | BLOCKS},
    {"GET", "/approvals/{id}/decision", agentd_daemons_approval_decision, 0},
    {"GET", "/approvals/key", agentd_daemons_key, 0},
};
const size_t agentd_n_daemons_routes = ELEMENTSOF(agentd_daemons_routes);
