/* libFuzzer target: osmoda-egress's hosts-file parser and host normalisation. A refused file
 * must say which line; a name a lookup finds has at least one address; normalising a host is
 * idempotent, and what it accepts is either an address literal or a lower-case DNS name. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "addrcheck.h"
#include "fuzz.h"
#include "hosts.h"
#include "resolve.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void normalize(const uint8_t *data, size_t size)
{
    char in[ACL_HOST_MAX + 8], out[ACL_HOST_MAX + 1], again[ACL_HOST_MAX + 1];
    size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};

    memcpy(in, data, n);
    in[n] = '\0';
    if (acl_host_normalize(in, out) == 0) {
        assert(acl_host_normalize(out, again) == 0 && strcmp(out, again) == 0);
        for (const char *p = out; *p; p++)
            assert(!(*p >= 'A' && *p <= 'Z'));
    }
    if (size >= 16) { /* any 16 bytes are an IPv6 address: judged without crashing */
        memcpy(&a6.sin6_addr, data, 16);
        (void)addrcheck_internal((struct sockaddr *)&a6);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage addrs[RESOLVE_ADDRS_MAX];
    struct hosts *h = NULL;
    char err[256] = "";
    size_t n = 0;
    int e = hosts_parse((const char *)data, size, &h, err, sizeof(err));

    if (e < 0) {
        assert(!h && (e != -EINVAL || strncmp(err, "line ", 5) == 0));
    } else {
        char name[64];
        size_t k = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
        memcpy(name, data, k);
        name[k] = '\0';
        if (hosts_find(h, name, addrs, RESOLVE_ADDRS_MAX, &n))
            assert(n > 0);
        hosts_free(h);
    }
    normalize(data, size);
    return 0;
}
