/* The sandbox's one way out: a relay from a loopback TCP port inside the sandbox's own network
 * namespace to osmoda-egress's unix socket for the agent principal, bound into the sandbox.
 * osmoda-sandbox-init forks it before it confines the command; it runs as the sandbox uid with
 * no filesystem access, no TCP connect or bind and the sandbox's seccomp filter, dies with the
 * init, and carries bytes without looking at them (the proxy decides). One process, epoll,
 * non-blocking sockets, a bounded buffer per direction. */
#pragma once

#include <sys/types.h>

/* The answer a client gets when the egress socket cannot be reached. */
#define SANDBOX_RELAY_UNAVAILABLE                                                                  \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"        \
    "Content-Length: 42\r\n\r\negress_unavailable: osmoda-egress is down\n"

/* Opens the relay's listener on 127.0.0.1:port (0: any free port), non-blocking, close-on-exec.
 * Returns 0 with the fd in *ret_fd, or -errno. */
int sandbox_relay_listen(int port, int *ret_fd);

/* Joins every connection accepted on listen_fd to a new connection to socket_path, until a
 * fatal error (-errno). A connection beyond OSM_SANDBOX_RELAY_CONNS_MAX is closed at once; one
 * whose socket cannot be reached gets SANDBOX_RELAY_UNAVAILABLE. */
int sandbox_relay_run(int listen_fd, const char *socket_path);

/* Forks the relay. The child keeps only listen_fd (stdio on /dev/null), dies with the caller,
 * drops to uid when root and uid >= 0, confines itself (Landlock: nothing; the seccomp filter)
 * and then serves with sandbox_relay_run. Returns once the child is confined: 0 with its pid,
 * or -errno when it could not be (the child is gone then). The caller may close listen_fd. */
int sandbox_relay_spawn(int listen_fd, const char *socket_path, long uid, pid_t *ret_pid);
