/* svc-probe: drives one operation of osmoda-watch's service interface (svc.h) on the systemd
 * backend and prints its outcome as one JSON line, {"r": <0 or -errno>, "result": ...}. The
 * system tests run it inside a container booted with systemd to exercise the real backend code
 * without the routes in front of it; `time` measures what a query costs on the shared
 * connection beside one connection per call.
 *
 *   svc-probe [--bus ADDRESS] start|stop|restart|reload|enable|disable|is-active|status|
 *             main-pid|remove UNIT
 *   svc-probe logs UNIT [LINES [PRIORITY [SINCE]]]     ("-" leaves one out)
 *   svc-probe list [PREFIX]
 *   svc-probe run NAME [--restart R] [--env K=V]... [--workdir D] [--memory-max M]
 *             [--cpu-quota Q] [--dynamic-user] [--notify] -- ARGV...
 *   svc-probe time UNIT N */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "svc.h"

#define ENV_MAX 32

static int no_events(void *ctx, const char *type, const json_t *payload)
{
    return 0;
}

static int print(int r, json_t *result)
{
    json_t *out = json_pack("{s:i, s:o?}", "r", r, "result", result);
    char *text = json_dumps(out, JSON_COMPACT);

    puts(text ? text : "{\"r\": -12}");
    free(text);
    json_decref(out);
    return 0;
}

static int unit_op(struct svc *s, const char *op, const char *unit)
{
    json_t *j = NULL;
    pid_t pid = 0;
    int r = 0; /* set on every path; gcc -O2 with sanitizers cannot tell */

    if (strcmp(op, "start") == 0)
        r = svc_start(s, unit);
    else if (strcmp(op, "stop") == 0)
        r = svc_stop(s, unit);
    else if (strcmp(op, "restart") == 0)
        r = svc_restart(s, unit);
    else if (strcmp(op, "reload") == 0)
        r = svc_reload_or_restart(s, unit);
    else if (strcmp(op, "enable") == 0 || strcmp(op, "disable") == 0)
        r = svc_enable(s, unit, op[0] == 'e');
    else if (strcmp(op, "is-active") == 0)
        r = svc_is_active(s, unit);
    else if (strcmp(op, "status") == 0)
        r = svc_status(s, unit, &j);
    else if (strcmp(op, "remove") == 0)
        r = svc_remove(s, unit);
    else if (strcmp(op, "main-pid") == 0) {
        if ((r = svc_main_pid(s, unit, &pid)) == 0)
            j = json_integer(pid);
    } else
        return -1;
    return print(r, j);
}

static const char *arg_or_null(int argc, char **argv, int i)
{
    return i < argc && strcmp(argv[i], "-") != 0 ? argv[i] : NULL;
}

static int logs_op(struct svc *s, int argc, char **argv)
{
    struct svc_log_query q = {.lines = argc > 1 && strcmp(argv[1], "-") ? atoi(argv[1]) : 0,
                              .priority = arg_or_null(argc, argv, 2),
                              .since = arg_or_null(argc, argv, 3)};
    json_t *j = NULL;
    int r = svc_logs(s, argv[0], &q, &j);

    return print(r, j);
}

static int run_op(struct svc *s, int argc, char **argv)
{
    static const struct option opts[] = {
        {"restart", required_argument, NULL, 'r'},   {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},   {"memory-max", required_argument, NULL, 'm'},
        {"cpu-quota", required_argument, NULL, 'c'}, {"dynamic-user", no_argument, NULL, 'd'},
        {"notify", no_argument, NULL, 'n'},          {NULL, 0, NULL, 0}};
    const char *env[ENV_MAX + 1] = {NULL};
    struct svc_spec spec = {.name = argv[0], .env = env};
    int c, n_env = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            spec.restart = optarg;
            break;
        case 'w':
            spec.working_dir = optarg;
            break;
        case 'm':
            spec.memory_max = optarg;
            break;
        case 'c':
            spec.cpu_quota = optarg;
            break;
        case 'd':
            spec.dynamic_user = true;
            break;
        case 'n':
            spec.notify = true;
            break;
        case 'e':
            if (n_env == ENV_MAX)
                return -1;
            env[n_env++] = optarg;
            break;
        default:
            return -1;
        }
    }
    if (optind >= argc)
        return -1;
    spec.argv = (const char *const *)argv + optind;
    return print(svc_run(s, &spec), NULL);
}

/* N status reads on the shared connection, then N with a connection each: µs per call. */
static int time_op(const char *bus, struct svc *s, const char *unit, int n)
{
    struct watch_events ev = {no_events, NULL};
    int64_t t0 = osm_monotonic_ms(), shared_ms, fresh_ms;
    struct svc *one;
    json_t *j;

    for (int i = 0; i < n; i++) {
        if (svc_status(s, unit, &j) < 0)
            return print(-EIO, NULL);
        json_decref(j);
    }
    shared_ms = osm_monotonic_ms() - t0;
    t0 = osm_monotonic_ms();
    for (int i = 0; i < n; i++) {
        if (svc_open_systemd(bus, &ev, &one) < 0 || svc_status(one, unit, &j) < 0)
            return print(-EIO, NULL);
        json_decref(j);
        svc_free(one);
    }
    fresh_ms = osm_monotonic_ms() - t0;
    return print(0, json_pack("{s:f, s:f}", "shared_us", 1000.0 * (double)shared_ms / n,
                              "connection_each_us", 1000.0 * (double)fresh_ms / n));
}

static int dispatch(const char *bus, struct svc *s, int argc, char **argv)
{
    const char *op = argv[0];
    json_t *j = NULL;

    if (strcmp(op, "logs") == 0 && argc >= 2)
        return logs_op(s, argc - 1, argv + 1);
    if (strcmp(op, "run") == 0 && argc >= 3)
        return run_op(s, argc - 1, argv + 1);
    if (strcmp(op, "list") == 0) {
        int r = svc_list(s, argc > 1 ? argv[1] : NULL, &j);
        return print(r, j);
    }
    if (strcmp(op, "time") == 0 && argc == 3)
        return time_op(bus, s, argv[1], atoi(argv[2]) > 0 ? atoi(argv[2]) : 1);
    return argc == 2 ? unit_op(s, op, argv[1]) : -1;
}

int main(int argc, char **argv)
{
    struct watch_events ev = {no_events, NULL};
    const char *bus = NULL;
    struct svc *s = NULL;
    int r;

    if (argc > 2 && strcmp(argv[1], "--bus") == 0) {
        bus = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc < 2) {
        fputs("usage: svc-probe [--bus ADDRESS] OP ARGS (see the source)\n", stderr);
        return 2;
    }
    if ((r = svc_open_systemd(bus, &ev, &s)) < 0)
        return print(r, NULL);
    r = dispatch(bus, s, argc - 1, argv + 1);
    svc_free(s);
    if (r < 0)
        fputs("svc-probe: bad arguments\n", stderr);
    return r < 0 ? 2 : 0;
}
