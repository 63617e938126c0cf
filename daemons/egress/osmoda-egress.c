/* osmoda-egress: the allowlist proxy that is the only way out for agent traffic (egress.h).
 * main parses the flags, opens the parts in order — the lockdown file, the ACL, the resolver,
 * the ledger events (refusing to start without agentd), the proxy, then egress.sock and
 * egress-agent.sock through lib/exec — and runs until SIGTERM; SIGHUP reloads the ACL, the
 * grants, the hosts file and the policy. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "egress-api.h"
#include "egress.h"
#include "events.h"
#include "exec/servers.h"
#include "proxy.h"
#include "resolve.h"

#define DEFAULT_ALLOW_MAX 256 /* hosts of --default-allow */

struct options {
    const char *socket, *state_dir, *agentd_socket, *data_dir, *listen, *acl_file, *hosts_file;
    char *allow_text; /* --default-allow, split in place into allow */
    const char *allow[DEFAULT_ALLOW_MAX + 1];
    char port_listen[32];
    int ready_fd;
};

static void usage(FILE *f)
{
    fputs("Usage: osmoda-egress [OPTIONS]\n"
          "  --socket PATH           operator socket (default <run>/egress.sock)\n"
          "  --agentd-socket PATH    agentd's socket; its daemons socket is beside it\n"
          "  --state-dir DIR         the suite's state directory (policy.json, lockdown)\n"
          "  --data-dir DIR          egress's state (default <state>/egress)\n"
          "  --listen ADDR:PORT|none the TCP listener of principal \"default\" "
          "(default " EGRESS_DEFAULT_LISTEN ")\n"
          "  --port N                the same as --listen 127.0.0.1:N\n"
          "  --default-allow A,B,... hosts allowed on port 443 when there is no ACL file\n"
          "  --acl-file PATH         the ACL (default <data>/acl.json)\n"
          "  --hosts-file PATH       names resolved from this file before DNS\n"
          "  --log-level LEVEL       debug, info, warn, error\n"
          "  --ready-fd FD           write READY=1 to FD when serving\n",
          f);
}

static int split_allow(struct options *o, const char *list)
{
    size_t n = 0;
    char *save = NULL;

    free(o->allow_text);
    if (!(o->allow_text = strdup(list)))
        return -ENOMEM;
    for (char *t = strtok_r(o->allow_text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n >= DEFAULT_ALLOW_MAX)
            return -E2BIG;
        o->allow[n++] = t;
    }
    o->allow[n] = NULL;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"agentd-socket", required_argument, NULL, 'a'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"data-dir", required_argument, NULL, 'D'},
                                         {"listen", required_argument, NULL, 'L'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"default-allow", required_argument, NULL, 'A'},
                                         {"acl-file", required_argument, NULL, 'f'},
                                         {"hosts-file", required_argument, NULL, 'H'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"ready-fd", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, level, port, r = 0;

    o->ready_fd = -1;
    o->listen = EGRESS_DEFAULT_LISTEN;
    while (r == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket = optarg;
            break;
        case 'a':
            o->agentd_socket = optarg;
            break;
        case 'd':
            o->state_dir = optarg;
            break;
        case 'D':
            o->data_dir = optarg;
            break;
        case 'L':
            o->listen = strcmp(optarg, "none") == 0 ? NULL : optarg;
            break;
        case 'p':
            if ((r = osm_daemon_parse_int(optarg, 1, 65535, &port)) == 0) {
                snprintf(o->port_listen, sizeof(o->port_listen), "127.0.0.1:%d", port);
                o->listen = o->port_listen;
            }
            break;
        case 'A':
            r = split_allow(o, optarg);
            break;
        case 'f':
            o->acl_file = optarg;
            break;
        case 'H':
            o->hosts_file = optarg;
            break;
        case 'r':
            r = osm_daemon_parse_int(optarg, 0, 65535, &o->ready_fd);
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
        *workspace, *acl, *grants, *lockdown, *principal_dir;
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
    free(l->acl);
    free(l->grants);
    free(l->lockdown);
    free(l->principal_dir);
}

static int layout_resolve(const struct options *o, struct layout *l)
{
    _cleanup_free_ char *agentd_dir = NULL;
    int r = osm_daemon_paths_resolve("egress", o->state_dir, o->socket, &l->paths);

    if (r < 0)
        return r;
    l->data_dir = o->data_dir ? strdup(o->data_dir) : osm_path_join(l->paths.state_dir, "egress");
    l->agentd_socket = o->agentd_socket ? strdup(o->agentd_socket)
                                        : osm_path_join(l->paths.run_dir, "agentd.sock");
    if (!l->data_dir || !l->agentd_socket || !(agentd_dir = strdup(l->agentd_socket)))
        return -ENOMEM;
    l->daemons_socket = osm_path_join(dirname(agentd_dir), "agentd-daemons.sock");
    l->agent_socket = osm_path_join(l->paths.run_dir, "egress-agent.sock");
    l->policy = osm_path_join(l->paths.state_dir, "policy.json");
    l->jobs_db = osm_path_join(l->data_dir, "jobs.db");
    l->jobs_dir = osm_path_join(l->data_dir, "jobs");
    l->workspace = osm_path_join(l->paths.state_dir, "workspace");
    l->acl = o->acl_file ? strdup(o->acl_file) : osm_path_join(l->data_dir, "acl.json");
    l->grants = osm_path_join(l->data_dir, "grants.json");
    l->lockdown = osm_path_join(l->paths.state_dir, "lockdown");
    l->principal_dir = osm_path_join(l->paths.run_dir, EGRESS_PROXY_DIR);
    if (!l->daemons_socket || !l->agent_socket || !l->policy || !l->jobs_db || !l->jobs_dir ||
        !l->workspace || !l->acl || !l->grants || !l->lockdown || !l->principal_dir)
        return -ENOMEM;
    if ((r = osm_mkdir_p(l->data_dir, 0700)) < 0)
        return r;
    return osm_mkdir_p(l->principal_dir, 0700);
}

/* A tunnel holds two sockets and two pipes: take every descriptor the hard limit allows. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("daemon.init", "what=RLIMIT_NOFILE error=%d", errno);
    }
}

static int open_parts(struct egress *eg, const char *daemons_socket, const char **what, char *err,
                      size_t errlen)
{
    struct acl_config *cfg;
    int r;

    if (egress_lockdown_file_present(eg)) {
        atomic_store(&eg->lockdown, true);
        log_warn("egress.lockdown", "path=%s note=\"lockdown file present: refusing all\"",
                 eg->lockdown_path);
    }
    if ((r = egress_reload(eg, err, errlen)) < 0)
        return *what = "acl", r;
    if ((r = resolver_new(eg->hosts_file, RESOLVE_THREADS, &eg->resolver, err, errlen)) < 0)
        return *what = "resolver", r;
    cfg = egress_acl(eg);
    r = egress_events_new(daemons_socket, (size_t)cfg->max_connections + EGRESS_DENIALS_KEPT,
                          &eg->events);
    acl_config_unref(cfg);
    if (r < 0) {
        snprintf(err, errlen, "agentd does not answer on %s: no ledger, refusing to start",
                 daemons_socket);
        return *what = "events", r;
    }
    if ((r = egress_events_start(eg->events)) < 0)
        return *what = "events", snprintf(err, errlen, "%s", strerror(-r)), r;
    if ((r = proxy_new(eg, &eg->proxy, err, errlen)) < 0)
        return *what = "proxy", r;
    if ((r = proxy_start(eg->proxy)) < 0)
        return *what = "proxy", snprintf(err, errlen, "%s", strerror(-r)), r;
    return 0;
}

static void close_parts(struct egress *eg)
{
    /* the proxy records its connections' events, then the events are flushed */
    proxy_free(eg->proxy);
    eg->proxy = NULL;
    if (eg->events) {
        egress_events_stop(eg->events);
        egress_events_free(eg->events);
    }
    resolver_free(eg->resolver);
    acl_config_unref(eg->acl);
}

/* The executor and both sockets (lib/exec/servers.h), and the tool table they serve. */
struct servers {
    struct osm_exec_servers x;
    struct osm_exec_tool *tools; /* egress_tool_table's */
};

static int start_servers(struct egress *eg, const struct layout *l, struct servers *s)
{
    const char *const own[] = {l->data_dir, NULL}; /* the ACL and the grants */
    // clang-format off
    struct osm_exec_servers_config cfg = {
        .exec = {.daemon = "egress", .routes = egress_routes, .n_routes = egress_n_routes,
                 .userdata = eg, .policy_path = l->policy,
                 .jobs = {.jobs_dir = l->jobs_dir, .workspace = l->workspace}},
        .state_dir = l->paths.state_dir, .run_dir = l->paths.run_dir, .own = own,
        .operator_socket = l->paths.socket, .agent_socket = l->agent_socket};
    // clang-format on
    char err[256] = "";
    int r;

    if ((r = egress_tool_table(&s->tools, &cfg.exec.n_tools)) < 0)
        return r;
    cfg.exec.tools = s->tools;
    if ((r = osm_exec_servers_connect(&s->x, l->daemons_socket, l->jobs_db, err, sizeof(err))) == 0)
        r = osm_exec_servers_start(&s->x, &cfg, err, sizeof(err));
    if (r < 0)
        log_error("daemon.init", "what=servers error=%d reason=\"%s\"", r, err);
    return r;
}

static void stop_servers(struct servers *s)
{
    osm_exec_servers_stop(&s->x);
    free(s->tools);
}

static void reload(struct egress *eg, struct servers *s)
{
    char err[256] = "";

    if (egress_reload(eg, err, sizeof(err)) < 0)
        log_warn("daemon.reload", "what=acl reason=\"%s\"", err);
    if (resolver_reload(eg->resolver, err, sizeof(err)) < 0)
        log_warn("daemon.reload", "what=hosts reason=\"%s\"", err);
    if (osm_exec_reload(s->x.exec, err, sizeof(err)) < 0)
        log_warn("daemon.reload", "what=policy reason=\"%s\"", err);
    struct acl_config *cfg = egress_acl(eg);
    log_info("daemon.reload", "generation=%llu", (unsigned long long)cfg->generation);
    acl_config_unref(cfg);
}

static int serve(const struct options *o, struct layout *l)
{
    struct egress eg = {.run_dir = l->paths.run_dir,
                        .state_dir = l->paths.state_dir,
                        .data_dir = l->data_dir,
                        .acl_path = l->acl,
                        .grants_path = l->grants,
                        .lockdown_path = l->lockdown,
                        .principal_dir = l->principal_dir,
                        .hosts_file = o->hosts_file,
                        .listen = o->listen,
                        .default_allow = o->allow_text ? o->allow : NULL};
    struct servers s = {0};
    const char *what = "";
    char err[512] = "";
    sigset_t set;
    int r, sig;

    pthread_mutex_init(&eg.lock, NULL);
    osm_daemon_block_signals(&set);
    raise_nofile();
    if ((r = open_parts(&eg, l->daemons_socket, &what, err, sizeof(err))) < 0)
        log_error("daemon.init", "what=%s error=%d reason=\"%s\"", what, r, err);
    if (r == 0 && (r = start_servers(&eg, l, &s)) == 0) {
        log_info("daemon.start", "socket=%s agent_socket=%s listen=%s principals=%s lockdown=%d",
                 l->paths.socket, l->agent_socket, o->listen ? o->listen : "none", l->principal_dir,
                 (int)atomic_load(&eg.lockdown));
        osm_daemon_notify_ready(o->ready_fd);
        while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP)
            reload(&eg, &s);
        log_info("daemon.stop", "signal=%d", sig);
    }
    /* stop taking calls first, then the proxy (its events), then the ledger */
    stop_servers(&s);
    close_parts(&eg);
    pthread_mutex_destroy(&eg.lock);
    return r;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct layout l = {0};
    int r;

    osm_log_set_ident("egress");
    r = parse_args(argc, argv, &o);
    if (r != 0) {
        if (r < 0)
            usage(stderr);
        free(o.allow_text);
        return r < 0 ? 2 : 0;
    }
    r = layout_resolve(&o, &l);
    if (r < 0)
        log_error("daemon.init", "what=paths error=%d reason=\"%s\"", r, strerror(-r));
    else
        r = serve(&o, &l);
    layout_clear(&l);
    free(o.allow_text);
    return r < 0 ? 1 : 0;
}
