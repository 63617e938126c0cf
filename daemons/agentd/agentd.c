/* agentd: the system bridge and the only writer of the ledger. main parses flags, wires the
 * parts together and waits for a signal. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-approvals.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "sandbox/sandbox.h"

#define VERSION "0.1.0"

struct options {
    struct agentd_config cfg;
    int ready_fd;
    bool compat_flag_seen;
};

static const struct option long_options[] = {
    {"socket", required_argument, NULL, 's'},
    {"agent-socket", required_argument, NULL, 'a'},
    {"daemons-socket", required_argument, NULL, 'D'},
    {"rate-limit", required_argument, NULL, 'R'},
    {"approval-ttl", required_argument, NULL, 'T'},
    {"state-dir", required_argument, NULL, 'd'},
    {"backup-dir", required_argument, NULL, 'b'},
    {"checkpoint-every", required_argument, NULL, 'n'},
    {"checkpoint-interval", required_argument, NULL, 't'},
    {"log-level", required_argument, NULL, 'l'},
    {"ready-fd", required_argument, NULL, 'r'},
    {"workspace", required_argument, NULL, 'w'},
    {"sandbox-cgroups", required_argument, NULL, 'c'},
    {"job-activity-timeout", required_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    /* osModa's flags, accepted so its unit files keep working: approvals are always on (the
     * policy decides what needs one) and the sandbox is the tool layer's. */
    {"approval-required", optional_argument, NULL, 'A'},
    {"approval-patterns", required_argument, NULL, 'A'},
    {"sandbox-enabled", optional_argument, NULL, 'A'},
    {"egress-proxy", required_argument, NULL, 'A'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: agentd [OPTIONS]\n"
        "The osModa system bridge: ledger, memory, incidents, backups.\n\n"
        "  --socket PATH             unix socket (default $OSMODA_RUN_DIR/agentd.sock,\n"
        "                            else /run/osmoda/agentd.sock)\n"
        "  --agent-socket PATH       the agent socket: tool calls only, every request is the\n"
        "                            agent principal (default agentd-agent.sock beside the\n"
        "                            socket)\n"
        "  --daemons-socket PATH     the other daemons' socket: events and approvals, the\n"
        "                            daemon named by its credentials (default\n"
        "                            agentd-daemons.sock beside the socket)\n"
        "  --rate-limit TOOL=N/S     at most N calls per S seconds per caller of TOOL (a name,\n"
        "                            @shell, @irreversible, @privileged or *); repeatable\n"
        "  --approval-ttl S          seconds a tool call waits for approval (default %d)\n"
        "  --state-dir DIR           state (default $OSMODA_STATE_DIR, else /var/lib/osmoda)\n"
        "  --backup-dir DIR          backups (default $OSMODA_BACKUP_DIR, else "
        "/var/backups/osmoda)\n"
        "  --checkpoint-every N      sign a ledger checkpoint every N events (default %d)\n"
        "  --checkpoint-interval S   ... or S seconds after the first unsigned event "
        "(default %d)\n"
        "  --log-level LEVEL         error, warn, info (default) or debug\n"
        "  --ready-fd FD             write READY=1 to FD once serving\n"
        "  --workspace DIR           the agent workspace (default <state>/workspace)\n"
        "  --sandbox-cgroups MODE    required (default: no limits, no run) or optional\n"
        "  --job-activity-timeout S  kill a job silent for S seconds (default %d)\n"
        "  --help, --version\n",
        AGENTD_APPROVAL_TTL_S, OSM_CHECKPOINT_EVERY_EVENTS, OSM_CHECKPOINT_EVERY_SECONDS,
        OSM_JOB_ACTIVITY_TIMEOUT_S);
}

static int parse_positive(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v <= 0)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Returns 0 to run, 1 to exit successfully (help/version), -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    int c, level;

    o->ready_fd = -1;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case 's':
            o->cfg.socket_flag = optarg;
            break;
        case 'a':
            o->cfg.agent_socket_flag = optarg;
            break;
        case 'D':
            o->cfg.daemons_socket_flag = optarg;
            break;
        case 'R':
            if (o->cfg.n_rate_flags == OSM_EXEC_RATES_MAX)
                return -EINVAL;
            o->cfg.rate_flags[o->cfg.n_rate_flags++] = optarg;
            break;
        case 'T':
            if (parse_positive(optarg, &o->cfg.approval_ttl) < 0)
                return -EINVAL;
            break;
        case 'd':
            o->cfg.state_flag = optarg;
            break;
        case 'b':
            o->cfg.backup_dir = optarg;
            break;
        case 'n':
            if (parse_positive(optarg, &o->cfg.checkpoint_every) < 0)
                return -EINVAL;
            break;
        case 't':
            if (parse_positive(optarg, &o->cfg.checkpoint_interval) < 0)
                return -EINVAL;
            break;
        case 'l':
            if ((level = osm_log_parse_level(optarg)) < 0)
                return -EINVAL;
            osm_log_set_level((enum osm_log_level)level);
            break;
        case 'r':
            o->ready_fd = atoi(optarg);
            break;
        case 'w':
            o->cfg.workspace_flag = optarg;
            break;
        case 'c':
            if (strcmp(optarg, "optional") != 0 && strcmp(optarg, "required") != 0)
                return -EINVAL;
            o->cfg.sandbox_cgroups_optional = strcmp(optarg, "optional") == 0;
            break;
        case 'j':
            if (parse_positive(optarg, &o->cfg.job_activity_timeout_s) < 0)
                return -EINVAL;
            break;
        case 'A':
            o->compat_flag_seen = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("agentd %s\n", VERSION);
            return 1;
        default:
            return -EINVAL;
        }
    }
    return optind == argc ? 0 : -EINVAL;
}

/* A socket for group: 0660 and that group when it exists, else 0600 (dev mode runs everything
 * as one user). per_connection: one thread per connection, for a socket where nearly every
 * request blocks (the agent's tool calls), so that none pays a hand-off. */
static int listen_group(const struct osm_route *routes, size_t n, struct agentd *ad,
                        const char *path, const char *group, bool per_connection,
                        struct osm_http_server **ret)
{
    struct osm_http_server_config cfg = {
        .routes = routes, .n_routes = n, .userdata = ad, .per_connection = per_connection};
    int r = osm_http_server_start_unix(&cfg, path, 0600, ret), g;

    if (r < 0)
        return r;
    if ((g = osm_daemon_socket_group(path, group)) < 0) {
        osm_http_server_stop(*ret);
        *ret = NULL;
        return g;
    }
    log_info("daemon.listen", "socket=%s group=%s", path, g ? group : "-");
    return 0;
}

static char *beside(struct agentd *ad, const char *flag, const char *name)
{
    return flag ? strdup(flag) : osm_path_join(ad->paths.run_dir, name);
}

struct servers {
    struct osm_http_server *operator, * agent, *daemons;
};

static void servers_stop(struct servers *s)
{
    osm_http_server_stop(s->daemons);
    osm_http_server_stop(s->agent);
    osm_http_server_stop(s->operator);
}

static int listen_all(struct agentd *ad, struct servers *s)
{
    struct osm_http_server_config cfg = {
        .routes = agentd_routes, .n_routes = agentd_n_routes, .userdata = ad, .operator= true };
    _cleanup_free_ char *agent = beside(ad, ad->cfg.agent_socket_flag, AGENTD_AGENT_SOCKET);
    _cleanup_free_ char *daemons = beside(ad, ad->cfg.daemons_socket_flag, AGENTD_DAEMONS_SOCKET);
    const char *failed = ad->paths.socket;
    int r;

    if (!agent || !daemons)
        return -ENOMEM;
    r = osm_http_server_start_unix(&cfg, ad->paths.socket, 0600, &s->operator);
    if (r == 0) {
        failed = agent;
        r = listen_group(agentd_agent_routes, agentd_n_agent_routes, ad, agent, AGENTD_AGENT_GROUP,
                         true, &s->agent);
    }
    if (r == 0) {
        failed = daemons;
        r = listen_group(agentd_daemons_routes, agentd_n_daemons_routes, ad, daemons,
                         AGENTD_DAEMONS_GROUP, false, &s->daemons);
    }
    if (r < 0) {
        log_error("daemon.listen", "socket=%s error=%d reason=\"%s\"", failed, r, strerror(-r));
        servers_stop(s);
    }
    return r;
}

static int serve(struct agentd *ad, int ready_fd)
{
    struct servers s = {0};
    sigset_t set;
    int r, sig;

    osm_daemon_block_signals(&set);
    if ((r = listen_all(ad, &s)) < 0)
        return r;
    log_info("daemon.start", "socket=%s state_dir=%s", ad->paths.socket, ad->paths.state_dir);
    osm_daemon_notify_ready(ready_fd);
    while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP) {
        log_info("daemon.reload", "what=policy");
        agentd_tools_reload(ad);
    }
    log_info("daemon.stop", "signal=%d", sig);
    servers_stop(&s);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct agentd ad;
    sigset_t set;
    int r;

    osm_log_set_ident("agentd");
    /* One malloc arena unless $MALLOC_ARENA_MAX says otherwise: a dozen mostly idle threads
     * would each keep their own heap resident; the per-thread caches take the contention off the
     * common paths. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 1);
    r = parse_args(argc, argv, &o);
    if (r != 0) {
        if (r < 0)
            usage(stderr);
        return r < 0 ? 2 : 0;
    }
    if (o.compat_flag_seen)
        log_warn("daemon.flags", "note=\"--approval-required/--approval-patterns/--sandbox-enabled/"
                                 "--egress-proxy are accepted and ignored: approvals follow "
                                 "<state>/policy.json\"");
    /* Block signals before any thread starts so that only sigwait sees them. */
    osm_daemon_block_signals(&set);
    r = agentd_init(&ad, &o.cfg);
    if (r < 0) {
        log_error("daemon.init", "error=%d reason=\"%s\"", r, strerror(-r));
        return 1;
    }
    r = agentd_tools_init(&ad);
    if (r < 0) {
        log_error("daemon.init",
                  "what=tools error=%d reason=\"%s\" note=\"refusing to start: "
                  "no policy, no approvals\"",
                  r, strerror(-r));
        agentd_shutdown(&ad);
        return 1;
    }
    r = serve(&ad, o.ready_fd);
    agentd_tools_shutdown(&ad); /* running jobs go on under their runners */
    agentd_shutdown(&ad);
    return r < 0 ? 1 : 0;
}
