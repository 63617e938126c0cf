/* The resolver's hosts file ("ADDRESS NAME [NAME...]" lines, # comments, as /etc/hosts): the
 * operator's pins and the tests' resolver, consulted before DNS. Immutable once loaded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HOSTS_FILE_MAX (1024 * 1024)
#define HOSTS_ENTRIES_MAX 65536 /* (name, address) pairs */

struct hosts;

/* Parses len bytes of a hosts file. A bad line: -EINVAL with "line N: reason" in err. */
int hosts_parse(const char *data, size_t len, struct hosts **ret, char *err, size_t errlen);
/* Reads and parses path (errors name it). */
int hosts_load(const char *path, struct hosts **ret, char *err, size_t errlen);
void hosts_free(struct hosts *h); /* NULL-safe */
/* The addresses the file gives name (normalised), in file order, at most max (ports 0); false
 * when the file does not name it (h may be NULL). */
bool hosts_find(const struct hosts *h, const char *name, struct sockaddr_storage *addrs, size_t max,
                size_t *ret_n);
