/* POST /system/query and GET /system/discover, read straight from /proc (no sysinfo, no ss, no
 * shell). A process's cpu_usage is its average over its lifetime, in percent of one CPU. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "ipc/json_util.h"

#define OSM_STR_(x) #x
#define OSM_STR(x) OSM_STR_(x)

struct proc_clock {
    double hz;
    double uptime; /* seconds since boot */
    int64_t btime; /* boot time, Unix seconds */
    uint64_t page;
};

struct proc_info {
    pid_t pid;
    char name[64];
    char state;
    uint64_t cpu_ticks;   /* utime + stime */
    uint64_t start_ticks; /* since boot */
    uint64_t rss_pages;
    double cpu; /* percent of one CPU, lifetime average */
};

static int proc_clock_read(struct proc_clock *c)
{
    _cleanup_free_ char *stat = NULL;
    _cleanup_free_ char *up = NULL;
    const char *b;

    if (osm_read_file("/proc/uptime", 4096, &up, NULL) < 0 ||
        osm_read_file("/proc/stat", 1 << 20, &stat, NULL) < 0)
        return -EIO;
    b = strstr(stat, "\nbtime ");
    c->hz = (double)sysconf(_SC_CLK_TCK);
    c->page = (uint64_t)sysconf(_SC_PAGESIZE);
    c->uptime = strtod(up, NULL);
    c->btime = b ? strtoll(b + 7, NULL, 10) : 0;
    return 0;
}

/* Parses /proc/<pid>/stat; the name is between the first '(' and the last ')'. */
static double proc_cpu(const struct proc_info *p, const struct proc_clock *c)
{
    double alive = c->uptime - (double)p->start_ticks / c->hz;

    return alive > 0.0 ? (double)p->cpu_ticks / c->hz / alive * 100.0 : 0.0;
}

static int proc_read(pid_t pid, const struct proc_clock *c, struct proc_info *p)
{
    char path[64], buf[4096];
    unsigned long long ut, st, start, rss;
    _cleanup_fclose_ FILE *f = NULL;
    char *open_paren, *close_paren;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return -errno;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    open_paren = strchr(buf, '(');
    close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -EBADMSG;
    *close_paren = '\0';
    snprintf(p->name, sizeof(p->name), "%s", open_paren + 1);
    if (sscanf(close_paren + 2,
               "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %*s %*s %*s %*s %*s %*s "
               "%llu %*s %llu",
               &p->state, &ut, &st, &start, &rss) != 5)
        return -EBADMSG;
    p->pid = pid;
    p->cpu_ticks = ut + st;
    p->start_ticks = start;
    p->rss_pages = rss;
    p->cpu = proc_cpu(p, c);
    return 0;
}

/* sysinfo's ProcessStatus names, as osModa prints them with {:?}. */
static const char *proc_status(char state)
{
    static const struct {
        char c;
        const char *name;
    } table[] = {
        {'R', "Run"},    {'S', "Sleep"},  {'D', "UninterruptibleDiskSleep"},
        {'Z', "Zombie"}, {'T', "Stop"},   {'t', "Tracing"},
        {'X', "Dead"},   {'x', "Dead"},   {'K', "Wakekill"},
        {'W', "Waking"}, {'P', "Parked"}, {'I', "Idle"},
    };

    for (size_t i = 0; i < ELEMENTSOF(table); i++)
        if (table[i].c == state)
            return table[i].name;
    return "Unknown";
}

static bool pid_name(const char *s, pid_t *ret)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)*s))
        return false;
    v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > INT_MAX)
        return false;
    *ret = (pid_t)v;
    return true;
}

/* Reads up to OSM_PROC_SCAN_MAX processes; *ret is a new array of *ret_n entries. */
static int proc_scan(const struct proc_clock *c, struct proc_info **ret, size_t *ret_n)
{
    DIR *d = opendir("/proc");
    struct proc_info *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    if (!d)
        return -errno;
    while ((de = readdir(d)) && n < OSM_PROC_SCAN_MAX) {
        pid_t pid;
        if (!pid_name(de->d_name, &pid))
            continue;
        if (n == cap) {
            struct proc_info *nl = realloc(list, (cap = cap ? cap * 2 : 256) * sizeof(*list));
            if (!nl) {
                free(list);
                closedir(d);
                return -ENOMEM;
            }
            list = nl;
        }
        if (proc_read(pid, c, &list[n]) == 0) /* a process may be gone already */
            n++;
    }
    closedir(d);
    *ret = list;
    *ret_n = n;
    return 0;
}

/* ---- POST /system/query ----------------------------------------------------------------- */

static int by_cpu(const void *a, const void *b)
{
    double x = ((const struct proc_info *)a)->cpu, y = ((const struct proc_info *)b)->cpu;

    return x < y ? 1 : x > y ? -1 : 0;
}

static int by_memory(const void *a, const void *b)
{
    uint64_t x = ((const struct proc_info *)a)->rss_pages;
    uint64_t y = ((const struct proc_info *)b)->rss_pages;

    return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *proc_json(const struct proc_info *p, const struct proc_clock *c)
{
    return json_pack("{s:i, s:s, s:f, s:I, s:s, s:I}", "pid", (int)p->pid, "name", p->name,
                     "cpu_usage", p->cpu, "memory", (json_int_t)(p->rss_pages * c->page), "status",
                     proc_status(p->state), "start_time",
                     (json_int_t)(c->btime + (int64_t)(p->start_ticks / c->hz)));
}

static int query_processes(const json_t *args, json_t **ret)
{
    const char *sort = osm_json_str(args, "sort", "cpu");
    const json_t *lim = json_object_get(args, "limit");
    int64_t limit = json_is_integer(lim) ? json_integer_value(lim) : OSM_QUERY_PROCESSES_DEFAULT;
    _cleanup_free_ struct proc_info *list = NULL;
    struct proc_clock clock;
    size_t n = 0;
    int r;

    r = proc_clock_read(&clock);
    if (r == 0)
        r = proc_scan(&clock, &list, &n);
    if (r < 0)
        return r;
    qsort(list, n, sizeof(*list), strcmp(sort, "memory") == 0 ? by_memory : by_cpu);
    *ret = json_array();
    for (size_t i = 0; i < n && (int64_t)i < limit; i++)
        json_array_append_new(*ret, proc_json(&list[i], &clock));
    return 0;
}

/* Mounts sysinfo leaves out: pseudo file systems and the kernel's own trees. */
static bool mount_is_real(const struct mntent *m)
{
    static const char *const pseudo[] = {
        "rootfs",      "sysfs",      "proc",     "devtmpfs", "cgroup", "cgroup2",   "pstore",
        "squashfs",    "rpc_pipefs", "iso9660",  "tmpfs",    "devpts", "mqueue",    "debugfs",
        "tracefs",     "securityfs", "fusectl",  "configfs", "bpf",    "hugetlbfs", "autofs",
        "binfmt_misc", "nsfs",       "efivarfs", "ramfs",
    };
    const char *dir = m->mnt_dir;

    for (size_t i = 0; i < ELEMENTSOF(pseudo); i++)
        if (strcmp(m->mnt_type, pseudo[i]) == 0)
            return false;
    if (strncmp(dir, "/sys", 4) == 0 || strncmp(dir, "/proc", 5) == 0)
        return false;
    return !(strncmp(dir, "/run", 4) == 0 && strncmp(dir, "/run/media", 10) != 0);
}

static int query_disk(const json_t *args, json_t **ret)
{
    FILE *f = setmntent("/proc/mounts", "re");
    struct mntent ent;
    char buf[8192];

    if (!f)
        return -errno;
    *ret = json_array();
    while (getmntent_r(f, &ent, buf, sizeof(buf))) {
        struct statvfs sv;
        uint64_t total, avail;
        if (!mount_is_real(&ent) || statvfs(ent.mnt_dir, &sv) < 0)
            continue;
        total = (uint64_t)sv.f_blocks * sv.f_frsize;
        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (total == 0)
            continue;
        json_array_append_new(*ret,
                              json_pack("{s:s, s:s, s:I, s:I, s:I}", "mount_point", ent.mnt_dir,
                                        "filesystem", ent.mnt_type, "total", (json_int_t)total,
                                        "used", (json_int_t)(total > avail ? total - avail : 0),
                                        "available", (json_int_t)avail));
    }
    endmntent(f);
    return 0;
}

static int query_hostname(const json_t *args, json_t **ret)
{
    char host[256] = "unknown";

    if (gethostname(host, sizeof(host) - 1) < 0)
        snprintf(host, sizeof(host), "unknown");
    *ret = json_pack("{s:s}", "hostname", host);
    return 0;
}

static int query_uptime(const json_t *args, json_t **ret)
{
    struct proc_clock c;
    int r = proc_clock_read(&c);

    if (r < 0)
        return r;
    *ret = json_pack("{s:I}", "uptime_seconds", (json_int_t)c.uptime);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(const json_t *args, json_t **ret);
} queries[] = {
    {"processes", query_processes},
    {"disk", query_disk},
    {"hostname", query_hostname},
    {"uptime", query_uptime},
};

/* osModa reads args loosely; we refuse what it would silently misread. */
static json_t *check_process_args(struct osm_request *req, const json_t *args)
{
    const json_t *sort = json_object_get(args, "sort"), *limit = json_object_get(args, "limit");

    if (sort && !json_is_null(sort) &&
        !(json_is_string(sort) && (strcmp(json_string_value(sort), "cpu") == 0 ||
                                   strcmp(json_string_value(sort), "memory") == 0)))
        return agentd_field_error(req, "args.sort", "must be \"cpu\" or \"memory\"");
    if (limit && !json_is_null(limit) &&
        !(json_is_integer(limit) && json_integer_value(limit) >= 0 &&
          json_integer_value(limit) <= OSM_QUERY_PROCESSES_MAX))
        return agentd_field_error(
            req, "args.limit", "must be an integer in [0, " OSM_STR(OSM_QUERY_PROCESSES_MAX) "]");
    return NULL;
}

static int run_query(const char *name, const json_t *args, json_t **ret)
{
    for (size_t i = 0; i < ELEMENTSOF(queries); i++)
        if (strcmp(queries[i].name, name) == 0)
            return queries[i].run(args, ret);
    *ret = json_pack("{s:s+}", "error", "unknown query: ", name);
    return 0;
}

json_t *agentd_system_query(struct osm_request *req)
{
    json_t *query, *args, *err;
    const struct agentd_field fields[] = {
        {"query", AGENTD_FIELD_STRING, true, &query},
        {"args", AGENTD_FIELD_OBJECT, false, &args},
    };
    json_auto_t *result = NULL, *payload = NULL;
    const char *name;
    int r;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    name = json_string_value(query);
    if (strcmp(name, "processes") == 0 && (err = check_process_args(req, args)))
        return err;
    r = run_query(name, args, &result);
    if (r < 0 || !result)
        return osm_error_errno(req, r < 0 ? r : -ENOMEM, "system query %s failed", name);
    payload = json_pack("{s:o, s:O}", "args", agentd_or_null(args), "query", query);
    r = payload ? agentd_record(AGENTD(req), "system.query", "agentd", payload, NULL, NULL, NULL)
                : -ENOMEM;
    if (r < 0)
        return agentd_record_error(req, r, "system.query");
    return json_pack("{s:O, s:O}", "query", query, "result", result);
}

/* ---- GET /system/discover --------------------------------------------------------------- */

struct listener {
    uint64_t inode;
    unsigned port;
    pid_t pid; /* 0 when no process of ours can see it */
};

struct listeners {
    struct listener *v;
    size_t n, cap;
};

/* Adds the LISTEN sockets (state 0A) of one /proc/net/tcp* table. */
static int listeners_read(struct listeners *ls, const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[512];

    if (!f)
        return errno == ENOENT ? 0 : -errno;
    if (!fgets(line, sizeof(line), f)) /* header */
        return 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned port, state;
        unsigned long long inode;
        if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %llu", &port, &state,
                   &inode) != 3 ||
            state != 0x0A)
            continue;
        if (ls->n == ls->cap) {
            struct listener *nv =
                realloc(ls->v, (ls->cap = ls->cap ? ls->cap * 2 : 32) * sizeof(*nv));
            if (!nv)
                return -ENOMEM;
            ls->v = nv;
        }
        ls->v[ls->n++] = (struct listener){.inode = inode, .port = port};
    }
    return 0;
}

/* The socket inode a /proc/<pid>/fd link points to, or 0. */
static uint64_t fd_socket_inode(int dir_fd, const char *name)
{
    char target[64];
    ssize_t n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
    unsigned long long inode;

    if (n <= 0)
        return 0;
    target[n] = '\0';
    return sscanf(target, "socket:[%llu]", &inode) == 1 ? inode : 0;
}

static void listeners_claim(struct listeners *ls, uint64_t inode, pid_t pid)
{
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i].inode == inode && ls->v[i].pid == 0)
            ls->v[i].pid = pid;
}

/* Finds which process holds each listening socket by walking /proc/<pid>/fd. */
static void listeners_find_pids(struct listeners *ls)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;

    if (!proc)
        return;
    while ((de = readdir(proc))) {
        char path[64];
        pid_t pid;
        DIR *fds;
        struct dirent *fe;
        if (!pid_name(de->d_name, &pid))
            continue;
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        fds = opendir(path);
        if (!fds)
            continue;
        while ((fe = readdir(fds))) {
            uint64_t inode = fe->d_name[0] == '.' ? 0 : fd_socket_inode(dirfd(fds), fe->d_name);
            if (inode)
                listeners_claim(ls, inode, pid);
        }
        closedir(fds);
    }
    closedir(proc);
}

/* The systemd service unit of pid from its cgroup path (…/name.service), or NULL. New string. */
static char *pid_unit(pid_t pid)
{
    char path[64];
    _cleanup_free_ char *cg = NULL;
    char *end, *start;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (osm_read_file(path, 65536, &cg, NULL) < 0)
        return NULL;
    end = strstr(cg, ".service");
    if (!end)
        return NULL;
    end += strlen(".service");
    for (start = end; start > cg && start[-1] != '/' && start[-1] != ':'; start--)
        ;
    return strndup(start, (size_t)(end - start));
}

static const char *detect_service(const char *name)
{
    static const struct {
        const char *patterns[5];
        const char *label;
    } known[] = {
        {{"nginx"}, "nginx"},
        {{"apache", "httpd"}, "apache"},
        {{"postgres", "postmaster"}, "postgresql"},
        {{"mysql", "mariadbd", "mysqld"}, "mysql"},
        {{"redis-server", "redis"}, "redis"},
        {{"node", "nodejs", "next-server", "npm"}, "node"},
        {{"python", "python3", "gunicorn", "uvicorn"}, "python"},
        {{"sshd"}, "ssh"},
        {{"docker", "dockerd", "containerd"}, "docker"},
        {{"agentd"}, "osmoda-agentd"},
        {{"openclaw"}, "osmoda-gateway"},
        {{"cloudflared"}, "cloudflare-tunnel"},
        {{"tailscaled"}, "tailscale"},
    };
    char lower[64];
    size_t i;

    for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[i] = '\0';
    for (i = 0; i < ELEMENTSOF(known); i++)
        for (size_t j = 0; j < ELEMENTSOF(known[i].patterns) && known[i].patterns[j]; j++)
            if (strstr(lower, known[i].patterns[j]))
                return known[i].label;
    return NULL;
}

/* osModa's guess_health_url. */
static json_t *health_url(unsigned port, const char *detected)
{
    static const char *const no_http[] = {"redis", "postgresql", "mysql", "ssh"};

    if (detected && strcmp(detected, "osmoda-agentd") == 0)
        return json_string("http://localhost/health (unix socket)");
    for (size_t i = 0; detected && i < ELEMENTSOF(no_http); i++)
        if (strcmp(detected, no_http[i]) == 0)
            return json_null();
    if ((detected && (strcmp(detected, "nginx") == 0 || strcmp(detected, "apache") == 0)) ||
        port == 80 || port == 443 || port == 8080 || port == 3000)
        return json_sprintf("http://127.0.0.1:%u/", port);
    return json_null();
}

/* A DiscoveredService in declaration order; every option present (null when unknown). */
static json_t *service_json(const struct listener *l, const struct proc_clock *clock)
{
    struct proc_info p;
    bool have = l->pid > 0 && proc_read(l->pid, clock, &p) == 0;
    const char *detected = detect_service(have ? p.name : "unknown");
    _cleanup_free_ char *unit = have ? pid_unit(l->pid) : NULL;

    return json_pack(
        "{s:s, s:o, s:i, s:s, s:o, s:o, s:o, s:o, s:o}", "name", have ? p.name : "unknown", "pid",
        have ? json_integer(l->pid) : json_null(), "port", (int)l->port, "protocol", "tcp",
        "detected_as", detected ? json_string(detected) : json_null(), "health_url",
        health_url(l->port, detected), "systemd_unit", unit ? json_string(unit) : json_null(),
        "memory_bytes", have ? json_integer((json_int_t)(p.rss_pages * clock->page)) : json_null(),
        "cpu_usage", have ? json_real(p.cpu) : json_null());
}

/* Running service units from systemctl (no shell, bounded time) when systemd is running. */
static json_t *systemd_units(void)
{
    static const char *const argv[] = {
        "systemctl",   "list-units", "--type=service", "--state=running", "--no-pager",
        "--no-legend", NULL};
    const struct agentd_run_opts opts = {
        .timeout_s = OSM_DISCOVER_CMD_TIMEOUT_S, .stdout_fd = -1, .out_max = OSM_CMD_OUTPUT_MAX};
    _cleanup_free_ char *out = NULL;
    json_t *units = json_array();

    if (access("/run/systemd/system", F_OK) < 0 || agentd_run(argv, &opts, &out) < 0)
        return units;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char unit[512];
        size_t n;
        /* newer systemctl may put a status bullet before the unit */
        if (sscanf(line, " %511s", unit) == 1 && strcmp(unit, "\xe2\x97\x8f") == 0)
            sscanf(line, " %*s %511s", unit);
        n = strlen(unit);
        if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
            json_array_append_new(units, json_string(unit));
    }
    return units;
}

static bool unit_seen(const json_t *found, const char *unit)
{
    size_t i;
    json_t *s;

    json_array_foreach(found, i, s)
    {
        const char *u = osm_json_str(s, "systemd_unit", NULL);
        if (u && strcmp(u, unit) == 0)
            return true;
    }
    return false;
}

static void add_unit_services(json_t *found, const json_t *units)
{
    size_t i;
    json_t *u;

    json_array_foreach(units, i, u)
    {
        const char *unit = json_string_value(u);
        if (unit_seen(found, unit))
            continue;
        json_array_append_new(found,
                              json_pack("{s:s%, s:n, s:n, s:n, s:n, s:n, s:s, s:n, s:n}", "name",
                                        unit, strlen(unit) - strlen(".service"), "pid", "port",
                                        "protocol", "detected_as", "health_url", "systemd_unit",
                                        unit, "memory_bytes", "cpu_usage"));
    }
}

static int discover(json_t *found, size_t *ret_ports, size_t *ret_units)
{
    struct listeners ls = {0};
    struct proc_clock clock;
    json_auto_t *units = NULL;
    int r;

    r = proc_clock_read(&clock);
    if (r == 0)
        r = listeners_read(&ls, "/proc/net/tcp");
    if (r == 0)
        r = listeners_read(&ls, "/proc/net/tcp6");
    if (r < 0) {
        free(ls.v);
        return r;
    }
    if (ls.n > 0)
        listeners_find_pids(&ls);
    for (size_t i = 0; i < ls.n; i++)
        json_array_append_new(found, service_json(&ls.v[i], &clock));
    units = systemd_units();
    add_unit_services(found, units);
    *ret_ports = ls.n;
    *ret_units = json_array_size(units);
    free(ls.v);
    return 0;
}

json_t *agentd_system_discover(struct osm_request *req)
{
    json_auto_t *found = json_array(), *payload = NULL;
    size_t ports = 0, units = 0;
    int r;

    r = discover(found, &ports, &units);
    if (r < 0)
        return osm_error_errno(req, r, "discovery failed: %s", strerror(-r));
    payload = json_pack("{s:I, s:I, s:I}", "listening_ports", (json_int_t)ports, "services_found",
                        (json_int_t)json_array_size(found), "systemd_services", (json_int_t)units);
    r = payload ? agentd_record(AGENTD(req), "system.discover", "agentd", payload, NULL, NULL, NULL)
                : -ENOMEM;
    if (r < 0)
        return agentd_record_error(req, r, "system.discover");
    return json_pack("{s:O, s:I, s:I}", "found", found, "total_listening_ports", (json_int_t)ports,
                     "total_systemd_services", (json_int_t)units);
}
