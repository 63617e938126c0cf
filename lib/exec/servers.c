/* A tool-executing daemon's executor and sockets, started and stopped in the one right order. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "servers.h"

int osm_exec_servers_connect(struct osm_exec_servers *s, const char *daemons_socket,
                             const char *jobs_db, char *err, size_t errlen)
{
    int r = osm_exec_remote_new(daemons_socket, jobs_db, &s->remote);

    if (r < 0)
        snprintf(err, errlen,
                 "agentd does not answer on %s (%s): no ledger and no approver, refusing "
                 "to start",
                 daemons_socket, strerror(-r));
    return r;
}

static int serve(struct osm_exec_servers *s, const struct osm_exec_servers_config *cfg, char *err,
                 size_t errlen)
{
    struct osm_http_server_config ops = {.routes = cfg->exec.routes,
                                         .n_routes = cfg->exec.n_routes,
                                         .userdata = cfg->exec.userdata,
                                         .operator= true };
    int r = osm_http_server_start_unix(&ops, cfg->operator_socket, 0600, &s->operator);

    if (r == 0)
        r = osm_exec_serve_agent(s->exec, cfg->agent_socket, &s->agent);
    if (r < 0)
        snprintf(err, errlen, "cannot serve %s: %s",
                 s->operator? cfg->agent_socket : cfg->operator_socket, strerror(-r));
    return r;
}

int osm_exec_servers_start(struct osm_exec_servers *s, const struct osm_exec_servers_config *cfg,
                           char *err, size_t errlen)
{
    struct osm_exec_config ec = cfg->exec;
    char **protected = osm_exec_protected_new(cfg->state_dir, cfg->run_dir, cfg->own);
    int r;

    if (!protected) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ec.protected_paths = (const char *const *)protected;
    osm_exec_remote_config(s->remote, &ec);
    r = osm_exec_new(&ec, &s->exec, err, errlen);
    osm_exec_protected_free(protected);
    if (r < 0)
        return r;
    if ((r = osm_exec_remote_start(s->remote, s->exec)) < 0) {
        snprintf(err, errlen, "cannot reconcile the held calls with agentd: %s", strerror(-r));
        return r;
    }
    return serve(s, cfg, err, errlen);
}

void osm_exec_servers_stop(struct osm_exec_servers *s)
{
    osm_http_server_stop(s->agent);
    osm_http_server_stop(s->operator);
    osm_exec_remote_stop(s->remote);
    osm_exec_free(s->exec);
    osm_exec_remote_free(s->remote);
    *s = (struct osm_exec_servers){0};
}
