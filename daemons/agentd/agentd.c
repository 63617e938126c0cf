/* agentd: the system bridge and the only writer of the ledger. main parses flags, wires the
 * parts together and waits for a signal. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-exec.h"
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
    fprintf(f,
            "Usage: agentd [OPTIONS]\n"
            "The osModa system bridge: ledger, memory, incidents, backups.\n\n"
            "  --socket PATH             unix socket (default $OSMODA_RUN_DIR/agentd.sock,\n"
            "                            else /run/osmoda/agentd.sock)\n"
            "  --agent-socket PATH       the agent socket: tool calls only, every request is the\n"
            "                            agent principal (default <run dir>/agentd-agent.sock)\n"
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

/* The agent group's gid from /etc/group, where packaging creates it (groupadd --system).
 * Read directly rather than through NSS, which would map its modules into the daemon for good. */
static bool agent_group(gid_t *ret)
{
    _cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
    struct group *g;

    while (f && (g = fgetgrent(f)))
        if (strcmp(g->gr_name, AGENTD_AGENT_GROUP) == 0) {
            *ret = g->gr_gid;
            return true;
        }
    return false;
}

/* The agent socket: group "osmoda-agent" and 0660 when that group exists, else 0600 (dev mode
 * runs everything as one user). Nearly every request there is a tool call, which blocks: one
 * thread per connection serves it without a hand-off. */
static int listen_agent(struct agentd *ad, const char *path, struct osm_http_server **ret)
{
    struct osm_http_server_config cfg = {.routes = agentd_agent_routes,
                                         .n_routes = agentd_n_agent_routes,
                                         .userdata = ad,
                                         .per_connection = true};
    gid_t gid;
    bool g = agent_group(&gid);
    int r = osm_http_server_start_unix(&cfg, path, 0600, ret);

    if (r < 0)
        return r;
    if (g && (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0)) {
        r = -errno;
        osm_http_server_stop(*ret);
        *ret = NULL;
        return r;
    }
    log_info("daemon.agent_socket", "socket=%s group=%s", path, g ? AGENTD_AGENT_GROUP : "-");
    return 0;
}

static int serve(struct agentd *ad, int ready_fd)
{
    struct osm_http_server_config cfg = {
        .routes = agentd_routes, .n_routes = agentd_n_routes, .userdata = ad, .operator= true };
    struct osm_http_server *server = NULL, *agent = NULL;
    _cleanup_free_ char *agent_path = ad->cfg.agent_socket_flag
                                          ? strdup(ad->cfg.agent_socket_flag)
                                          : osm_path_join(ad->paths.run_dir, AGENTD_AGENT_SOCKET);
    sigset_t set;
    int r, sig;

    osm_daemon_block_signals(&set);
    r = osm_http_server_start_unix(&cfg, ad->paths.socket, 0600, &server);
    if (r < 0) {
        log_error("daemon.listen", "socket=%s error=%d reason=\"%s\"", ad->paths.socket, r,
                  strerror(-r));
        return r;
    }
    r = agent_path ? listen_agent(ad, agent_path, &agent) : -ENOMEM;
    if (r < 0) {
        log_error("daemon.listen", "socket=%s error=%d reason=\"%s\"",
                  agent_path ? agent_path : "-", r, strerror(-r));
        osm_http_server_stop(server);
        return r;
    }
    log_info("daemon.start", "socket=%s state_dir=%s", ad->paths.socket, ad->paths.state_dir);
    osm_daemon_notify_ready(ready_fd);
    while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP) {
        log_info("daemon.reload", "what=policy");
        agentd_tools_reload(ad);
    }
    log_info("daemon.stop", "signal=%d", sig);
    osm_http_server_stop(agent);
    osm_http_server_stop(server);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct agentd ad;
    sigset_t set;
    int r;

    osm_log_set_ident("agentd");
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
    r = agentd_jobs_init(&ad);
    if (r < 0) {
        log_error("daemon.init", "what=jobs error=%d reason=\"%s\"", r, strerror(-r));
        agentd_tools_shutdown(&ad);
        agentd_shutdown(&ad);
        return 1;
    }
    r = serve(&ad, o.ready_fd);
    agentd_jobs_shutdown(&ad); /* running jobs go on under their runners */
    agentd_tools_shutdown(&ad);
    agentd_shutdown(&ad);
    return r < 0 ? 1 : 0;
}
