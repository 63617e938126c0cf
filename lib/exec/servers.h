/* The sockets of a daemon other than agentd that executes tools (watch, egress, keyd, ...): its
 * executor wired to agentd (remote.h), its operator socket (<name>.sock, 0600, every route) and
 * its agent socket (<name>-agent.sock, POST /tools/call only). Two steps, so that a daemon can
 * refuse to start before it opens anything when agentd does not answer:
 *
 *   struct osm_exec_servers s = {0};
 *   osm_exec_servers_connect(&s, daemons_socket, jobs_db, err, sizeof(err));  // agentd?
 *   ... open the daemon's parts ...
 *   osm_exec_servers_start(&s, &cfg, err, sizeof(err));  // executor, reconcile, both sockets
 *   ... serve until a signal (SIGHUP: osm_exec_reload(s.exec, ...)) ...
 *   osm_exec_servers_stop(&s);
 */
#pragma once

#include <stddef.h>

#include "exec.h"
#include "ipc/http_server.h"
#include "remote.h"

struct osm_exec_servers {
    struct osm_exec_remote *remote;
    struct osm_exec *exec;
    struct osm_http_server *operator, * agent;
};

struct osm_exec_servers_config {
    /* The executor's configuration: daemon, tools, routes (also the operator socket's), userdata,
     * policy_path, lockdown_path, jobs. The sink, approver, signer key and protected paths are
     * filled here. */
    struct osm_exec_config exec;
    const char *state_dir, *run_dir; /* the suite's protected paths */
    const char *const *own;          /* the daemon's own state, protected too (NULL-terminated) */
    const char *operator_socket, *agent_socket;
};

/* Reaches agentd on its daemons socket and opens the job database. Without agentd there is no
 * ledger and no approver: the daemon must not start (err says so). */
int osm_exec_servers_connect(struct osm_exec_servers *s, const char *daemons_socket,
                             const char *jobs_db, char *err, size_t errlen);
/* Creates the executor, reconciles the held calls with agentd and serves both sockets. */
int osm_exec_servers_start(struct osm_exec_servers *s, const struct osm_exec_servers_config *cfg,
                           char *err, size_t errlen);
/* Stops serving, then the decision waiter, then frees the executor (running jobs go on under their
 * runners). Safe on a partly started or zeroed struct. */
void osm_exec_servers_stop(struct osm_exec_servers *s);
