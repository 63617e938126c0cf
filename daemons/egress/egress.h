/* osmoda-egress: the one way out for agent traffic (DESIGN §2, docs/egress.md). An allowlist
 * proxy (HTTP CONNECT and plain-HTTP forwarding) whose callers are principals — the agent's
 * sandbox, each routine, each MCP server, and "default" for the loopback TCP port — each
 * identified by the socket it connects to, each with its own ACL. It resolves names itself,
 * refuses internal addresses unless a rule names them, and dials exactly the address it
 * checked. Every decision is a ledger event in agentd's ledger, batched.
 *
 * The parts and who calls whom:
 *   acl.h        the ACL file and the operator's grants: parse, match (pure)
 *   addrcheck.h  which addresses are internal (pure)
 *   httpparse.h  request and response heads, chunked bodies (pure, fuzzed)
 *   resolve.h    asynchronous name resolution with a hosts file (threads + eventfd)
 *   proxy.h      the event loop: listeners, connections, tunnels (one thread, epoll)
 *   events.h     decisions → ledger events (a bounded queue and a flusher thread), recent
 *                denials
 *   egress-api.h the operator socket (egress.sock) and the tools (egress-agent.sock)
 *   osmoda-egress.c  main: flags, wiring, signals (SIGHUP reloads) */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "acl.h"

#define EGRESS_DEFAULT_LISTEN "127.0.0.1:19999" /* osModa's address */
#define EGRESS_DEFAULT_PRINCIPAL "default"      /* who the TCP listener serves */
#define EGRESS_AGENT_PRINCIPAL "agent"          /* the agent's sandboxes */
#define EGRESS_PROXY_DIR "egress-proxy"         /* <run>/egress-proxy/<principal>.sock */
#define EGRESS_EVENTS_BATCH 256                 /* events per append to agentd */
#define EGRESS_DENIALS_KEPT 1024                /* recent denials kept in memory */

struct proxy;
struct egress_events;
struct resolver;

/* What the daemon shares between its threads: the main thread (signals), the proxy thread and
 * the operator API's threads. */
struct egress {
    const char *run_dir;    /* sockets */
    const char *state_dir;  /* the suite's state (policy.json, lockdown) */
    char *data_dir;         /* <state>/egress: acl.json, grants.json, jobs.db */
    char *acl_path;         /* the operator's ACL file (default <data>/acl.json) */
    char *grants_path;      /* grants approved through egress_request_access (<data>/grants.json) */
    char *lockdown_path;    /* <state>/lockdown, written by osmoda-watch */
    char *principal_dir;    /* <run>/egress-proxy: one socket per principal */
    const char *hosts_file; /* --hosts-file: names resolved from it before DNS, or NULL */
    const char *listen;     /* "ADDR:PORT" of the default principal, or NULL for none */
    const char *const *default_allow; /* osModa's --default-allow, when no ACL file exists */

    pthread_mutex_t lock;   /* guards acl */
    struct acl_config *acl; /* the configuration in force (a reference held here) */
    atomic_bool lockdown;   /* refuse everything, close everything */

    struct resolver *resolver;
    struct egress_events *events;
    struct proxy *proxy;
};

/* The configuration in force, as a new reference: a connection keeps the one it was admitted
 * under until it closes (a reload does not change it). */
struct acl_config *egress_acl(struct egress *eg);
/* Loads acl_path and grants_path and, when both are valid, swaps them in and tells the proxy
 * (new principal sockets, removed ones closed). A bad file keeps the configuration in force:
 * -EINVAL with the reason in err. SIGHUP and a new or removed grant call it. */
int egress_reload(struct egress *eg, char *err, size_t errlen);
/* LOCKDOWN (osmoda-watch, or <state>/lockdown found at start): refuse every new request and
 * close every open connection now. Lifted by egress_unlock only while the file is gone. */
void egress_lockdown(struct egress *eg);
/* -EBUSY while <state>/lockdown still exists (only root lifts a lockdown, through watch). */
int egress_unlock(struct egress *eg);
/* True when the lockdown file exists, or its existence cannot be checked (fail closed). */
bool egress_lockdown_file_present(const struct egress *eg);
