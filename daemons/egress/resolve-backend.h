/* The seam under the resolver's threads: getaddrinfo by default. Unit tests put a lookup that
 * blocks until released in its place, to fill the queue without flooding a DNS server. */
#pragma once

#include <netdb.h>

#include "resolve.h"

/* getaddrinfo's contract without the service: EAI_* or 0 with *ret freed by freeaddrinfo. */
typedef int (*resolver_lookup_fn)(const char *host, const struct addrinfo *hints,
                                  struct addrinfo **ret);

/* Replaces the lookup the threads run; call before the first resolver_submit. */
void resolver_set_lookup_fn(struct resolver *r, resolver_lookup_fn fn);
