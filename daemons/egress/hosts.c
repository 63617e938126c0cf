/* The hosts file: parsed into (name, address) pairs sorted by name, then file order, so a
 * lookup is a binary search and the addresses come back in the order the file lists them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "hosts.h"

struct hosts_entry {
    char *name;
    size_t order;
    struct sockaddr_storage addr;
};

struct hosts {
    struct hosts_entry *e;
    size_t n, cap;
};

void hosts_free(struct hosts *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
    free(h);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return -EINVAL;
    return 0;
}

static int add(struct hosts *h, const char *name, const struct sockaddr_storage *addr)
{
    if (h->n >= HOSTS_ENTRIES_MAX)
        return -E2BIG;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct hosts_entry *e = realloc(h->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        h->e = e;
        h->cap = cap;
    }
    if (!(h->e[h->n].name = strdup(name)))
        return -ENOMEM;
    h->e[h->n].order = h->n;
    h->e[h->n].addr = *addr;
    h->n++;
    return 0;
}

/* One line (NUL-terminated, comment already cut): nothing, or an address and its names. */
static int parse_line(struct hosts *h, char *line, const char **ret_why)
{
    char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
    struct sockaddr_storage addr;
    size_t names = 0;
    int e;

    if (!tok)
        return 0;
    if (parse_addr(tok, &addr) < 0) {
        *ret_why = "not an IPv4 or IPv6 address";
        return -EINVAL;
    }
    while ((tok = strtok_r(NULL, " \t\r", &save))) {
        char norm[ACL_HOST_MAX + 1];
        struct sockaddr_storage lit;
        if (acl_host_normalize(tok, norm) < 0 || parse_addr(norm, &lit) == 0) {
            *ret_why = "a name is not a DNS name";
            return -EINVAL;
        }
        if ((e = add(h, norm, &addr)) < 0) {
            *ret_why = e == -E2BIG ? "too many entries" : "out of memory";
            return e == -E2BIG ? -EINVAL : e;
        }
        names++;
    }
    if (names == 0) {
        *ret_why = "an address without a name";
        return -EINVAL;
    }
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct hosts_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->order > y->order) - (x->order < y->order);
}

int hosts_parse(const char *data, size_t len, struct hosts **ret, char *err, size_t errlen)
{
    struct hosts *h = calloc(1, sizeof(*h));
    size_t pos = 0, lineno = 0;
    int e = 0;

    if (!h)
        return -ENOMEM;
    while (pos < len && e == 0) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        _cleanup_free_ char *line = strndup(data + pos, n);
        const char *why = "out of memory";
        lineno++;
        pos += n + 1;
        if (!line || memchr(data + pos - n - 1, '\0', n)) {
            e = line ? -EINVAL : -ENOMEM;
            why = line ? "a NUL byte" : why;
        } else {
            char *hash = strchr(line, '#');
            if (hash)
                *hash = '\0';
            e = parse_line(h, line, &why);
        }
        if (e < 0 && err && errlen)
            snprintf(err, errlen, "line %zu: %s", lineno, why);
    }
    if (e < 0) {
        hosts_free(h);
        return e;
    }
    if (h->n)
        qsort(h->e, h->n, sizeof(*h->e), entry_cmp);
    *ret = h;
    return 0;
}

int hosts_load(const char *path, struct hosts **ret, char *err, size_t errlen)
{
    _cleanup_free_ char *data = NULL;
    char msg[256] = "";
    size_t len;
    int e = osm_read_file(path, HOSTS_FILE_MAX, &data, &len);

    if (e < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(-e));
        return e;
    }
    e = hosts_parse(data, len, ret, msg, sizeof(msg));
    if (e < 0 && err && errlen)
        snprintf(err, errlen, "%s: %s", path, msg);
    return e;
}

bool hosts_find(const struct hosts *h, const char *name, struct sockaddr_storage *addrs, size_t max,
                size_t *ret_n)
{
    size_t lo = 0, hi = h ? h->n : 0, n = 0;

    while (lo < hi) { /* the first entry not below name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(h->e[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!h || lo >= h->n || strcmp(h->e[lo].name, name) != 0)
        return false;
    for (size_t i = lo; i < h->n && strcmp(h->e[i].name, name) == 0; i++) {
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = memcmp(&addrs[j], &h->e[i].addr, sizeof(addrs[j])) == 0;
        if (!dup && n < max)
            addrs[n++] = h->e[i].addr;
    }
    *ret_n = n;
    return true;
}
