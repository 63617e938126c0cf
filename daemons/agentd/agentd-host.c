/* The direct tool that looks at the host from agentd: network_info, from /proc and getifaddrs
 * (no shell). Services, their logs and the system generations are osmoda-watch's tools. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-tools.h"
#include "agentd-util.h"
#include "agentd.h"

/* ---- network_info ------------------------------------------------------------------------ */

static json_t *address_of(const struct ifaddrs *ifa)
{
    char addr[INET6_ADDRSTRLEN] = "";
    int family = ifa->ifa_addr->sa_family;
    const void *src = family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

    inet_ntop(family, src, addr, sizeof(addr));
    return json_pack("{s:s, s:s}", "family", family == AF_INET ? "inet" : "inet6", "address", addr);
}

static json_t *interfaces(void)
{
    struct ifaddrs *list = NULL;
    json_t *out = json_object();

    if (getifaddrs(&list) < 0)
        return out;
    for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
        json_t *entry = json_object_get(out, ifa->ifa_name);
        if (!entry) {
            entry = json_pack("{s:s, s:b, s:b, s:[]}", "name", ifa->ifa_name, "up",
                              (ifa->ifa_flags & IFF_UP) != 0, "loopback",
                              (ifa->ifa_flags & IFF_LOOPBACK) != 0, "addresses");
            json_object_set_new(out, ifa->ifa_name, entry);
        }
        if (ifa->ifa_addr &&
            (ifa->ifa_addr->sa_family == AF_INET || ifa->ifa_addr->sa_family == AF_INET6))
            json_array_append_new(json_object_get(entry, "addresses"), address_of(ifa));
    }
    freeifaddrs(list);
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v) json_array_append(arr, v);
    json_decref(out);
    return arr;
}

/* Listening TCP sockets from /proc/net/tcp{,6} (state 0A). */
static void listening_ports(const char *path, bool v6, json_t *arr)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[512], local[64];
    unsigned state, port;

    if (!f || !fgets(line, sizeof(line), f))
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%*d: %63[0-9A-Fa-f]:%x %*s %x", local, &port, &state) != 3 ||
            state != 0x0A)
            continue;
        unsigned char raw[16];
        char text[INET6_ADDRSTRLEN];
        size_t n = v6 ? 16 : 4;
        for (size_t i = 0; i < n; i++) /* /proc prints each 32-bit word in host order */
            sscanf(local + 2 * i, "%2hhx", &raw[(i / 4) * 4 + 3 - i % 4]);
        inet_ntop(v6 ? AF_INET6 : AF_INET, raw, text, sizeof(text));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i}", "protocol", v6 ? "tcp6" : "tcp",
                                             "address", text, "port", (int)port));
    }
}

static json_t *dns(void)
{
    _cleanup_fclose_ FILE *f = fopen("/etc/resolv.conf", "re");
    json_t *out = json_pack("{s:[], s:[]}", "nameservers", "search");
    char line[512], word[256];

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "nameserver %255s", word) == 1)
            json_array_append_new(json_object_get(out, "nameservers"), json_string(word));
        else if (strncmp(line, "search ", 7) == 0 || strncmp(line, "domain ", 7) == 0)
            for (char *t = strtok(line + 7, " \t\n"); t; t = strtok(NULL, " \t\n"))
                json_array_append_new(json_object_get(out, "search"), json_string(t));
    }
    return out;
}

static json_t *routes(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
    json_t *arr = json_array();
    char line[512], iface[IFNAMSIZ + 1];
    unsigned dst, gw, mask, flags, metric;

    if (!f || !fgets(line, sizeof(line), f))
        return arr;
    while (fgets(line, sizeof(line), f)) {
        char d[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
        if (sscanf(line, "%16s %x %x %x %*d %*d %u %x", iface, &dst, &gw, &flags, &metric, &mask) !=
            6)
            continue;
        inet_ntop(AF_INET, &dst, d, sizeof(d));
        inet_ntop(AF_INET, &gw, g, sizeof(g));
        inet_ntop(AF_INET, &mask, m, sizeof(m));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:i}", "interface", iface,
                                             "destination", d, "gateway", g, "mask", m, "metric",
                                             (int)metric));
    }
    return arr;
}

static json_t *network_info(struct osm_exec_call *call, const char **ret_error)
{
    const char *detail = json_string_value(json_object_get(call->args, "detail"));
    bool all = !detail || strcmp(detail, "all") == 0;
    json_t *out = json_object();

    if (all || strcmp(detail, "interfaces") == 0)
        json_object_set_new(out, "interfaces", interfaces());
    if (all || strcmp(detail, "ports") == 0) {
        json_t *ports = json_array();
        listening_ports("/proc/net/tcp", false, ports);
        listening_ports("/proc/net/tcp6", true, ports);
        json_object_set_new(out, "ports", ports);
    }
    if (all || strcmp(detail, "dns") == 0)
        json_object_set_new(out, "dns", dns());
    if (all || strcmp(detail, "routes") == 0)
        json_object_set_new(out, "routes", routes());
    return out;
}

const struct agentd_handler agentd_host_handlers[] = {
    {"network_info", network_info, NULL, false},
};
const size_t agentd_n_host_handlers = ELEMENTSOF(agentd_host_handlers);
