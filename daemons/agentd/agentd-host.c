/* Direct tools that look at the host: service_status, journal_logs (systemd), network_info
 * (from /proc and getifaddrs, no shell), safety_status (NixOS generations). Each refuses with a
 * specific error on a host that lacks what it needs instead of pretending. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd-tools.h"
#include "agentd-util.h"
#include "agentd.h"

#define SYSTEMCTL_TIMEOUT_S 10
#define JOURNAL_TIMEOUT_S 15
#define HOST_OUTPUT_MAX (1024 * 1024)
#define NIX_SYSTEM_PROFILE "/nix/var/nix/profiles/system"

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static bool systemd_running(void)
{
    return access("/run/systemd/system", F_OK) == 0;
}

static bool unit_name_valid(const char *u)
{
    size_t n = strlen(u);

    if (n == 0 || n > 256)
        return false;
    for (; *u; u++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-:\\", *u))
            return false;
    return true;
}

static const char *need_systemd(const char *unit, const char **ret_error)
{
    if (!unit_name_valid(unit)) {
        *ret_error = "invalid_unit";
        return "unit names are 1-256 characters of [A-Za-z0-9@._:\\-]";
    }
    if (!systemd_running()) {
        *ret_error = "systemd_unavailable";
        return "this host is not running systemd";
    }
    return NULL;
}

/* systemctl show output "Key=Value" lines as an object. */
static json_t *properties_object(char *text)
{
    json_t *o = json_object();

    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            json_object_set_new(o, line, json_string(eq + 1));
        }
    }
    return o;
}

static json_t *service_status(struct osm_exec_call *call, const char **ret_error)
{
    const char *unit = json_string_value(json_object_get(call->args, "unit"));
    const char *why = need_systemd(unit, ret_error);
    const char *argv[] = {"systemctl",
                          "show",
                          "--no-pager",
                          "--property=Id,Description,LoadState,ActiveState,SubState,MainPID,"
                          "ExecMainStatus,ActiveEnterTimestamp,NRestarts",
                          "--",
                          unit,
                          NULL};
    struct agentd_run_opts opts = {
        .timeout_s = SYSTEMCTL_TIMEOUT_S, .stdout_fd = -1, .out_max = HOST_OUTPUT_MAX};
    _cleanup_free_ char *out = NULL;

    if (why)
        return json_pack("{s:s}", "message", why);
    if (agentd_run(argv, &opts, &out) < 0) {
        *ret_error = "systemctl_failed";
        return json_pack("{s:s}", "message", "systemctl show failed");
    }
    return json_pack("{s:s, s:o}", "unit", unit, "properties", properties_object(out));
}

static bool token_valid(const char *s, const char *allowed, size_t max)
{
    if (strlen(s) > max)
        return false;
    for (; *s; s++)
        if (!strchr(allowed, *s))
            return false;
    return true;
}

static json_t *journal_logs(struct osm_exec_call *call, const char **ret_error)
{
    const char *unit = json_string_value(json_object_get(call->args, "unit"));
    const char *prio = json_string_value(json_object_get(call->args, "priority"));
    const char *since = json_string_value(json_object_get(call->args, "since"));
    json_int_t lines = json_integer_value(json_object_get(call->args, "lines"));
    const char *why = need_systemd(unit, ret_error);
    struct agentd_run_opts opts = {
        .timeout_s = JOURNAL_TIMEOUT_S, .stdout_fd = -1, .out_max = HOST_OUTPUT_MAX};
    const char *argv[16] = {"journalctl", "--no-pager", "-o", "short-iso", "-u", unit, "-n"};
    _cleanup_free_ char *out = NULL;
    char n[24];
    size_t i = 7;

    if (why)
        return json_pack("{s:s}", "message", why);
    if ((prio && !token_valid(prio, "0123456789abcdefghijklmnopqrstuvwxyz.", 16)) ||
        (since && !token_valid(since, "0123456789abcdefghijklmnopqrstuvwxyz :-+.", 64))) {
        *ret_error = "invalid_argument";
        return json_pack("{s:s}", "message",
                         "priority or since has characters journalctl "
                         "does not accept");
    }
    snprintf(n, sizeof(n), "%lld", (long long)(lines > 0 ? lines : 50));
    argv[i++] = n;
    if (prio) {
        argv[i++] = "-p";
        argv[i++] = prio;
    }
    if (since) {
        argv[i++] = "--since";
        argv[i++] = since;
    }
    argv[i] = NULL;
    if (agentd_run(argv, &opts, &out) < 0) {
        *ret_error = "journalctl_failed";
        return json_pack("{s:s}", "message", "journalctl failed");
    }
    return json_pack("{s:s, s:s}", "unit", unit, "output", out);
}

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

/* ---- safety_status ----------------------------------------------------------------------- */

static json_t *safety_status(struct osm_exec_call *call, const char **ret_error)
{
    char current[4096];
    ssize_t n = readlink(NIX_SYSTEM_PROFILE, current, sizeof(current) - 1);
    _cleanup_(closedirp) DIR *d = NULL;
    json_t *gens = json_array();
    struct dirent *de;

    if (n < 0)
        return json_pack("{s:b, s:o, s:s}", "nixos", 0, "generations", gens, "note",
                         "no NixOS system profile on this host; rollback is done by SafeSwitch "
                         "file generations (osmoda-watch)");
    current[n] = '\0';
    d = opendir("/nix/var/nix/profiles");
    while (d && (de = readdir(d)))
        if (strncmp(de->d_name, "system-", 7) == 0 && strstr(de->d_name, "-link"))
            json_array_append_new(gens, json_string(de->d_name));
    return json_pack("{s:b, s:s, s:o}", "nixos", 1, "current", current, "generations", gens);
}

const struct agentd_handler agentd_host_handlers[] = {
    {"service_status", service_status, NULL, false},
    {"journal_logs", journal_logs, NULL, false},
    {"network_info", network_info, NULL, false},
    {"safety_status", safety_status, NULL, false},
};
const size_t agentd_n_host_handlers = ELEMENTSOF(agentd_host_handlers);
