/* How a daemon other than agentd plugs its executor into agentd (DESIGN §6), over agentd's
 * daemons socket (agentd-daemons.sock): events recorded in agentd's ledger (the actor is the
 * daemon, named by agentd from its credentials), job rows in the daemon's own SQLite file,
 * approvals opened on agentd, decisions checked with agentd's public key, and a thread that
 * waits on agentd for the decisions of the calls held here (woken by agentd, not polling).
 *
 *   struct osm_exec_remote *rem;
 *   osm_exec_remote_new(daemons_socket, "<state>/jobs.db", &rem);
 *   osm_exec_remote_config(rem, &cfg);          // sink, approver, signer_pk
 *   osm_exec_new(&cfg, &exec, err, sizeof(err));
 *   osm_exec_remote_start(rem, exec);           // reconcile, then wait for decisions
 *   ...
 *   osm_exec_remote_stop(rem); osm_exec_free(exec); osm_exec_remote_free(rem);
 */
#pragma once

#include "exec.h"

#define OSM_EXEC_REMOTE_WAIT_S 30      /* one wait for decisions on agentd */
#define OSM_EXEC_REMOTE_RETRY_MAX_S 30 /* longest pause after agentd was unreachable */

struct osm_exec_remote;

/* Opens the job database (created 0600) and fetches agentd's public key. -ECONNREFUSED /
 * -ENOENT when agentd does not answer: a daemon without agentd has no approver and no ledger,
 * so it must not start its executor. */
int osm_exec_remote_new(const char *daemons_socket, const char *db_path,
                        struct osm_exec_remote **ret);
/* Fills cfg's sink, approver and signer key. */
void osm_exec_remote_config(struct osm_exec_remote *r, struct osm_exec_config *cfg);
/* Reconciles the held calls and starts the decision waiter. */
int osm_exec_remote_start(struct osm_exec_remote *r, struct osm_exec *e);
/* Stops the waiter (before osm_exec_free). NULL-safe. */
void osm_exec_remote_stop(struct osm_exec_remote *r);
void osm_exec_remote_free(struct osm_exec_remote *r);
