/* osmoda-watch: service supervision and watchers, SafeSwitch transactions, file integrity and
 * the emergency controls (DESIGN §7). main parses the flags, opens the parts in dependency
 * order and serves watch.sock (operator) and watch-agent.sock (tools, through lib/exec). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps.h"
#include "checks.h"
#include "common/fileio.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "emergency.h"
#include "exec/servers.h"
#include "fim.h"
#include "sandbox/sandbox.h"
#include "svc.h"
#include "switch.h"
#include "watch-api.h"
#include "watchers.h"

#define LIST_MAX 64 /* repeated flags (--fim-path, --agent-cgroup) */

struct options {
    const char *socket, *state_dir, *agentd_socket, *data_dir, *backend, *nixos_profile;
    const char *agent_user, *services_file;
    const char *fim_paths[LIST_MAX + 1];
    const char *agent_cgroups[LIST_MAX + 1];
    size_t n_fim, n_cgroups;
    int check_interval_s, start_burst, start_interval_s, ready_fd;
};

static void usage(FILE *f)
{
    fputs("Usage: osmoda-watch [OPTIONS]\n"
          "  --socket PATH             operator socket (default <run>/watch.sock)\n"
          "  --agentd-socket PATH      agentd's socket; its daemons socket is beside it\n"
          "  --data-dir DIR            watch's state (default <state>/watch)\n"
          "  --state-dir DIR           the suite's state directory (policy.json)\n"
          "  --check-interval SECS     a watcher's default interval (default 30)\n"
          "  --service-backend B       systemd or process (default: systemd when PID 1 is)\n"
          "  --services-file PATH      process backend: services to supervise (JSON)\n"
          "  --start-limit-burst N     process backend: starts per interval (default 5)\n"
          "  --start-limit-interval S  process backend: that interval (default 10)\n"
          "  --nixos-profile PATH      the NixOS system profile (default "
          "/nix/var/nix/profiles/system)\n"
          "  --fim-path PATH           a path the integrity monitor watches (repeatable)\n"
          "  --agent-user NAME         the agent's user (default osmoda-agent)\n"
          "  --agent-cgroup PATH       a cgroup of agent processes (repeatable)\n"
          "  --log-level LEVEL         debug, info, warn, error\n"
          "  --ready-fd FD             write READY=1 to FD when serving\n",
          f);
}

static int add_list(const char **list, size_t *n, const char *v)
{
    if (*n >= LIST_MAX)
        return -E2BIG;
    list[(*n)++] = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"agentd-socket", required_argument, NULL, 'a'},
                                         {"data-dir", required_argument, NULL, 'D'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"check-interval", required_argument, NULL, 'i'},
                                         {"service-backend", required_argument, NULL, 'b'},
                                         {"services-file", required_argument, NULL, 'S'},
                                         {"start-limit-burst", required_argument, NULL, 'B'},
                                         {"start-limit-interval", required_argument, NULL, 'I'},
                                         {"nixos-profile", required_argument, NULL, 'n'},
                                         {"fim-path", required_argument, NULL, 'f'},
                                         {"agent-user", required_argument, NULL, 'u'},
                                         {"agent-cgroup", required_argument, NULL, 'c'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"ready-fd", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, level, r = 0;

    o->check_interval_s = WATCH_CHECK_INTERVAL_S;
    o->ready_fd = -1;
    while (r == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket = optarg;
            break;
        case 'a':
            o->agentd_socket = optarg;
            break;
        case 'D':
            o->data_dir = optarg;
            break;
        case 'd':
            o->state_dir = optarg;
            break;
        case 'S':
            o->services_file = optarg;
            break;
        case 'n':
            o->nixos_profile = optarg;
            break;
        case 'u':
            o->agent_user = optarg;
            break;
        case 'i':
            r = osm_daemon_parse_int(optarg, 1, 86400, &o->check_interval_s);
            break;
        case 'B':
            r = osm_daemon_parse_int(optarg, 1, 1000, &o->start_burst);
            break;
        case 'I':
            r = osm_daemon_parse_int(optarg, 1, 86400, &o->start_interval_s);
            break;
        case 'r':
            r = osm_daemon_parse_int(optarg, 0, 65535, &o->ready_fd);
            break;
        case 'f':
            r = add_list(o->fim_paths, &o->n_fim, optarg);
            break;
        case 'c':
            r = add_list(o->agent_cgroups, &o->n_cgroups, optarg);
            break;
        case 'b':
            o->backend = optarg;
            if (strcmp(optarg, "systemd") != 0 && strcmp(optarg, "process") != 0)
                r = -EINVAL;
            break;
        case 'l':
            if ((level = osm_log_parse_level(optarg)) < 0)
                return -EINVAL;
            osm_log_set_level((enum osm_log_level)level);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            return -EINVAL;
        }
    }
    return r < 0 ? r : optind == argc ? 0 : -EINVAL;
}

/* All the paths of the daemon, owned here. */
struct layout {
    struct osm_daemon_paths paths;
    char *data_dir, *agentd_socket, *daemons_socket, *agent_socket, *policy, *jobs_db, *jobs_dir,
        *workspace, *services_file, *egress_socket;
};

static void layout_clear(struct layout *l)
{
    osm_daemon_paths_clear(&l->paths);
    free(l->data_dir);
    free(l->agentd_socket);
    free(l->daemons_socket);
    free(l->agent_socket);
    free(l->policy);
    free(l->jobs_db);
    free(l->jobs_dir);
    free(l->workspace);
    free(l->services_file);
    free(l->egress_socket);
}

static int layout_resolve(const struct options *o, struct layout *l)
{
    _cleanup_free_ char *agentd_dir = NULL;
    int r = osm_daemon_paths_resolve("watch", o->state_dir, o->socket, &l->paths);

    if (r < 0)
        return r;
    l->data_dir = o->data_dir ? strdup(o->data_dir) : osm_path_join(l->paths.state_dir, "watch");
    l->agentd_socket = o->agentd_socket ? strdup(o->agentd_socket)
                                        : osm_path_join(l->paths.run_dir, "agentd.sock");
    if (!l->data_dir || !l->agentd_socket || !(agentd_dir = strdup(l->agentd_socket)))
        return -ENOMEM;
    l->daemons_socket = osm_path_join(dirname(agentd_dir), "agentd-daemons.sock");
    l->agent_socket = osm_path_join(l->paths.run_dir, "watch-agent.sock");
    l->policy = osm_path_join(l->paths.state_dir, "policy.json");
    l->jobs_db = osm_path_join(l->data_dir, "jobs.db");
    l->jobs_dir = osm_path_join(l->data_dir, "jobs");
    /* the agent's one workspace, agentd's too: relative paths of every tool mean the same */
    l->workspace = osm_path_join(l->paths.state_dir, "workspace");
    l->egress_socket = osm_sandbox_egress_socket(l->paths.run_dir); /* the sandbox's way out */
    l->services_file =
        o->services_file ? strdup(o->services_file) : osm_path_join(l->data_dir, "services.json");
    if (!l->daemons_socket || !l->agent_socket || !l->policy || !l->jobs_db || !l->jobs_dir ||
        !l->workspace || !l->services_file || !l->egress_socket)
        return -ENOMEM;
    return osm_mkdir_p(l->data_dir, 0700);
}

static bool systemd_is_pid1(void)
{
    return access("/run/systemd/system", F_OK) == 0;
}

static int open_svc(struct watch *w, const struct options *o, const struct layout *l)
{
    bool systemd = o->backend ? strcmp(o->backend, "systemd") == 0 : systemd_is_pid1();
    struct svc_process_config pc = {.state_dir = l->data_dir,
                                    .services_file = l->services_file,
                                    .start_limit_burst = o->start_burst,
                                    .start_limit_interval_s = o->start_interval_s};

    return systemd ? svc_open_systemd(NULL, &w->events, &w->svc)
                   : svc_open_process(&pc, &w->events, &w->svc);
}

static void close_parts(struct watch *w)
{
    /* reverse order of open_parts: nothing still running may reach a freed part */
    emergency_free(w->emergency);
    apps_free(w->apps);
    watchers_free(w->watchers);
    switches_free(w->switches);
    fim_free(w->fim);
    checks_free(w->checks);
    svc_free(w->svc);
}

static int open_parts(struct watch *w, const struct options *o, const struct layout *l,
                      const char **what)
{
    struct emergency_config ec = {.agent_user = o->agent_user,
                                  .agent_cgroups = o->n_cgroups ? o->agent_cgroups : NULL};
    int r;

    if ((r = open_svc(w, o, l)) < 0)
        return *what = "service backend", r;
    if ((r = checks_new(w->svc, &w->checks)) < 0)
        return *what = "checks", r;
    if ((r = fim_open(w, o->n_fim ? o->fim_paths : NULL, &w->fim)) < 0)
        return *what = "file integrity", r;
    if ((r = switches_open(w, &w->switches)) < 0)
        return *what = "switches", r;
    if ((r = watchers_open(w, &w->watchers)) < 0)
        return *what = "watchers", r;
    if ((r = apps_open(w, &w->apps)) < 0)
        return *what = "apps", r;
    if ((r = emergency_open(w, &ec, &w->emergency)) < 0)
        return *what = "emergency", r;
    return 0;
}

/* The executor and both sockets (lib/exec/servers.h), and the tool table they serve. */
struct servers {
    struct osm_exec_servers x;
    struct osm_exec_tool *tools;
};

static int start_exec(struct watch *w, const struct layout *l, struct servers *s)
{
    const char *const own[] = {l->data_dir, NULL}; /* switches, baselines, watchers */
    // clang-format off
    struct osm_exec_servers_config cfg = {
        .exec = {.daemon = "watch", .routes = watch_routes, .n_routes = watch_n_routes,
                 .userdata = w, .policy_path = l->policy,
                 .jobs = {.jobs_dir = l->jobs_dir, .workspace = l->workspace,
                          .egress_socket = l->egress_socket}},
        .state_dir = l->paths.state_dir, .run_dir = l->paths.run_dir, .own = own,
        .operator_socket = l->paths.socket, .agent_socket = l->agent_socket};
    // clang-format on
    char err[256] = "";
    int r;

    if ((r = watch_tool_table(&s->tools, &cfg.exec.n_tools)) < 0)
        return r;
    cfg.exec.tools = s->tools;
    r = osm_exec_servers_start(&s->x, &cfg, err, sizeof(err));
    w->exec = s->x.exec;
    if (r < 0)
        log_error("daemon.init", "what=servers error=%d reason=\"%s\"", r, err);
    return r;
}

static void servers_stop(struct watch *w, struct servers *s)
{
    osm_exec_servers_stop(&s->x);
    w->exec = NULL;
    free(s->tools);
}

static int serve(const struct options *o, struct layout *l)
{
    struct watch w = {.data_dir = l->data_dir,
                      .state_dir = l->paths.state_dir,
                      .run_dir = l->paths.run_dir,
                      .daemons_socket = l->daemons_socket,
                      .nixos_profile = o->nixos_profile,
                      .check_interval_s = o->check_interval_s};
    struct servers s = {0};
    const char *what = NULL;
    char err[256];
    sigset_t set;
    int r, sig;

    osm_daemon_block_signals(&set);
    watch_events_agentd(&w.events, l->daemons_socket);
    if ((r = osm_exec_servers_connect(&s.x, l->daemons_socket, l->jobs_db, err, sizeof(err))) < 0)
        log_error("daemon.init", "what=agentd error=%d reason=\"%s\"", r, err);
    else if ((r = open_parts(&w, o, l, &what)) < 0)
        log_error("daemon.init", "what=\"%s\" error=%d reason=\"%s\"", what, r, strerror(-r));
    if (r == 0 && (r = start_exec(&w, l, &s)) == 0) {
        log_info("daemon.start", "socket=%s agent_socket=%s backend=%s data_dir=%s",
                 l->paths.socket, l->agent_socket, svc_kind_name(w.svc), l->data_dir);
        osm_daemon_notify_ready(o->ready_fd);
        while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP)
            if (osm_exec_reload(w.exec, err, sizeof(err)) < 0)
                log_warn("daemon.reload", "what=policy reason=\"%s\"", err);
        log_info("daemon.stop", "signal=%d", sig);
    }
    servers_stop(&w, &s);
    close_parts(&w);
    return r;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct layout l = {0};
    int r;

    osm_log_set_ident("watch");
    r = parse_args(argc, argv, &o);
    if (r != 0) {
        if (r < 0)
            usage(stderr);
        return r < 0 ? 2 : 0;
    }
    r = layout_resolve(&o, &l);
    if (r < 0)
        log_error("daemon.init", "what=paths error=%d reason=\"%s\"", r, strerror(-r));
    else
        r = serve(&o, &l);
    layout_clear(&l);
    return r < 0 ? 1 : 0;
}
