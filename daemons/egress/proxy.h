/* The proxy's event loop: one thread, epoll, non-blocking sockets. It accepts on the TCP
 * listener (principal "default") and on one unix socket per other principal
 * (<run>/egress-proxy/<name>.sock), reads a request head (bounded size and time), decides with
 * the principal's ACL and the internal-address check, dials exactly the checked address
 * (trying the next checked one when a dial fails), and then either tunnels (CONNECT: 200, then
 * bytes both ways with splice) or forwards plain-HTTP requests one after another on a kept-alive
 * connection (each request its own decision). No thread per connection; no total time limit,
 * only idle, header and connect timeouts from the ACL configuration; connection limits overall
 * and per principal (503 with a reason when reached).
 *
 * Answers the proxy gives itself (text/plain body with the reason, "Connection: close"):
 *   400 malformed request, 403 denied (names the principal, host and port, or the internal
 *   address refused), 405 a method it does not proxy, 408 head not received in time, 431 head
 *   too large, 502 upstream unreachable / resolution failed, 503 limits, ledger backlog or
 *   lockdown, 504 connect timed out.
 *
 * Every decision is handed to events.h: allow and would_deny when the connection (or, for
 * plain HTTP, the request) ends, with bytes each way; deny at once. A connection is admitted
 * only after egress_events_reserve() gave it room, so its event can always be queued. */
#pragma once

#include <stdint.h>

#include "egress.h"

struct proxy_stats {
    uint64_t accepted; /* connections accepted */
    uint64_t active;   /* open now (client side) */
    uint64_t tunnels;  /* CONNECT tunnels open now */
    uint64_t allowed, denied, would_deny;
    uint64_t bytes_up, bytes_down; /* through closed and open connections */
    uint64_t refused_limit, refused_ledger, refused_lockdown;
    uint64_t timeouts;
};

/* Opens the listeners (eg->listen, and a socket per principal of eg's configuration under
 * eg->principal_dir, created 0700; sockets 0666 there: the directory decides who reaches them,
 * and a sandbox is given its own by a bind mount). */
int proxy_new(struct egress *eg, struct proxy **ret, char *err, size_t errlen);
int proxy_start(struct proxy *p); /* the loop's thread */
/* Stops accepting, closes every connection (recording their events), joins the thread. */
void proxy_stop(struct proxy *p);
void proxy_free(struct proxy *p);
/* After a reload: opens sockets of new principals, closes those of removed ones (their open
 * connections keep the configuration they were admitted under). Thread-safe: wakes the loop. */
void proxy_config_changed(struct proxy *p);
/* Closes every open connection now (LOCKDOWN). Thread-safe. */
void proxy_close_all(struct proxy *p);
void proxy_get_stats(struct proxy *p, struct proxy_stats *ret);
