/* GET /health: osModa's system summary (sysinfo fields), read from /proc and statvfs, computed
 * at most once per OSM_HEALTH_CACHE_MS so that polling it costs almost nothing. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd.h"
#include "common/limits.h"

#define MAX_CPUS 1024

struct cpu_sample {
    unsigned long long busy[MAX_CPUS], total[MAX_CPUS];
    size_t n;
};

static pthread_mutex_t health_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *health_cached;
static int64_t health_cached_ms;
static struct cpu_sample cpu_prev;

static void read_cpu(struct cpu_sample *s)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
    char line[512];

    s->n = 0;
    while (f && fgets(line, sizeof(line), f) && s->n < MAX_CPUS) {
        unsigned long long v[8] = {0};
        unsigned idx;
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9' ||
            sscanf(line, "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu", &idx, &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7]) < 5)
            continue;
        unsigned long long idle = v[3] + v[4], total = 0;
        for (int i = 0; i < 8; i++)
            total += v[i];
        s->busy[s->n] = total - idle;
        s->total[s->n] = total;
        s->n++;
    }
}

/* Per-CPU usage in percent since the previous sample (since boot the first time). */
static json_t *cpu_usage(void)
{
    static struct cpu_sample now;
    json_t *arr = json_array();

    read_cpu(&now);
    for (size_t i = 0; i < now.n; i++) {
        bool have_prev = i < cpu_prev.n && now.total[i] > cpu_prev.total[i];
        double db = (double)(now.busy[i] - (have_prev ? cpu_prev.busy[i] : 0));
        double dt = (double)(now.total[i] - (have_prev ? cpu_prev.total[i] : 0));
        json_array_append_new(arr, json_real(dt > 0 ? (double)(float)(100.0 * db / dt) : 0.0));
    }
    cpu_prev = now;
    return arr;
}

static unsigned long long meminfo(const char *buf, const char *key)
{
    const char *p = strstr(buf, key);
    unsigned long long kb = 0;

    if (p)
        sscanf(p + strlen(key), ": %llu", &kb);
    return kb * 1024;
}

static void add_memory(json_t *h)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
    char buf[4096] = "";
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    buf[n] = '\0';
    unsigned long long total = meminfo(buf, "MemTotal"), avail = meminfo(buf, "MemAvailable");
    unsigned long long swap_total = meminfo(buf, "SwapTotal"), swap_free = meminfo(buf, "SwapFree");
    json_object_set_new(h, "memory_total", json_integer((json_int_t)total));
    json_object_set_new(h, "memory_used", json_integer((json_int_t)(total - avail)));
    json_object_set_new(h, "memory_available", json_integer((json_int_t)avail));
    json_object_set_new(h, "swap_total", json_integer((json_int_t)swap_total));
    json_object_set_new(h, "swap_used", json_integer((json_int_t)(swap_total - swap_free)));
}

static json_t *load_average(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/loadavg", "re");
    double one = 0, five = 0, fifteen = 0;

    if (f && fscanf(f, "%lf %lf %lf", &one, &five, &fifteen) != 3)
        one = five = fifteen = 0;
    return json_pack("{s:f, s:f, s:f}", "one", one, "five", five, "fifteen", fifteen);
}

static json_int_t uptime_seconds(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/uptime", "re");
    double up = 0;

    if (f && fscanf(f, "%lf", &up) != 1)
        up = 0;
    return (json_int_t)up;
}

static bool seen_mount(json_t *disks, const char *mnt)
{
    size_t i;
    json_t *d;

    json_array_foreach(disks, i, d) if (strcmp(json_string_value(json_object_get(d, "mount_point")),
                                               mnt) == 0) return true;
    return false;
}

/* Mounted block devices, as sysinfo lists disks: used = total - available. */
static json_t *disks(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/mounts", "re");
    json_t *arr = json_array();
    char dev[512], mnt[512];

    while (f && fscanf(f, "%511s %511s %*s %*s %*d %*d", dev, mnt) == 2) {
        struct statvfs st;
        if (strncmp(dev, "/dev/", 5) != 0 || strncmp(dev, "/dev/loop", 9) == 0 ||
            seen_mount(arr, mnt) || statvfs(mnt, &st) < 0 || st.f_blocks == 0)
            continue;
        unsigned long long total = (unsigned long long)st.f_blocks * st.f_frsize;
        unsigned long long avail = (unsigned long long)st.f_bavail * st.f_frsize;
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}", "mount_point", mnt, "total",
                                             (json_int_t)total, "used", (json_int_t)(total - avail),
                                             "available", (json_int_t)avail));
    }
    return arr;
}

static json_t *compute_health(void)
{
    json_t *h = json_object();
    char host[256] = "";

    gethostname(host, sizeof(host) - 1);
    json_object_set_new(h, "status", json_string("ok"));
    json_object_set_new(h, "cpu_usage", cpu_usage());
    add_memory(h);
    json_object_set_new(h, "load_average", load_average());
    json_object_set_new(h, "uptime", json_integer(uptime_seconds()));
    json_object_set_new(h, "hostname", json_string(host));
    json_object_set_new(h, "disks", disks());
    return h;
}

json_t *agentd_health(struct osm_request *req)
{
    int64_t now = osm_monotonic_ms();
    json_t *h;

    pthread_mutex_lock(&health_mu);
    if (!health_cached || now - health_cached_ms >= OSM_HEALTH_CACHE_MS) {
        json_decref(health_cached);
        health_cached = compute_health();
        health_cached_ms = now;
    }
    /* The cached object is never modified once published, so threads may share it. */
    h = json_incref(health_cached);
    pthread_mutex_unlock(&health_mu);
    return h;
}
