/* Name resolution off the event loop: a few threads run getaddrinfo (or answer from the hosts
 * file, which wins over DNS — the operator's pins, and the tests' resolver), and the proxy
 * collects finished lookups when resolver_fd() becomes readable. Address literals are answered
 * without a thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RESOLVE_THREADS 4
#define RESOLVE_ADDRS_MAX 16   /* addresses kept per lookup, in the resolver's order */
#define RESOLVE_QUEUE_MAX 4096 /* lookups waiting for a thread */

struct resolver;

struct resolve_result {
    void *cookie;
    int error; /* 0, -ENOENT no such name / no address, -EAGAIN temporary failure, -errno */
    size_t n;
    struct sockaddr_storage addrs[RESOLVE_ADDRS_MAX]; /* port filled in */
};

/* hosts_file: "ADDRESS NAME [NAME...]" lines, # comments, as /etc/hosts; NULL for none. A bad
 * line is an error naming it (-EINVAL, message in err). */
int resolver_new(const char *hosts_file, unsigned threads, struct resolver **ret, char *err,
                 size_t errlen);
/* Reads the hosts file again (SIGHUP); a bad file keeps the old one. */
int resolver_reload(struct resolver *r, char *err, size_t errlen);
void resolver_free(struct resolver *r); /* joins the threads; unanswered lookups are dropped */
/* An eventfd, readable when results wait (edge: drain until empty). */
int resolver_fd(const struct resolver *r);
/* Starts resolving host (normalised; copied) for port. Every accepted lookup is answered exactly
 * once through resolver_drain, so the caller keeps cookie alive until then. -EAGAIN when the
 * queue is full. */
int resolver_submit(struct resolver *r, const char *host, uint16_t port, void *cookie);
/* Calls fn for every finished lookup, on the caller's thread. */
void resolver_drain(struct resolver *r, void (*fn)(const struct resolve_result *res, void *ud),
                    void *ud);
/* Synchronous lookup with the same rules (tests, and the sandbox's tools). */
int resolver_lookup(struct resolver *r, const char *host, uint16_t port,
                    struct resolve_result *ret);
