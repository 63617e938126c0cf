/* agentd: the system bridge and the only writer of the ledger. main parses flags, wires the
 * parts together and waits for a signal. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd.h"
#include "common/log.h"

#define VERSION "0.1.0"

struct options {
    struct agentd_config cfg;
    int ready_fd;
    bool compat_flag_seen;
};

static const struct option long_options[] = {
    {"socket", required_argument, NULL, 's'},
    {"state-dir", required_argument, NULL, 'd'},
    {"backup-dir", required_argument, NULL, 'b'},
    {"checkpoint-every", required_argument, NULL, 'n'},
    {"checkpoint-interval", required_argument, NULL, 't'},
    {"log-level", required_argument, NULL, 'l'},
    {"ready-fd", required_argument, NULL, 'r'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    /* osModa's flags, accepted so its unit files keep working; the features behind them arrive
     * with the tool layer and answer 503 until then. */
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
            "  --state-dir DIR           state (default $OSMODA_STATE_DIR, else /var/lib/osmoda)\n"
            "  --backup-dir DIR          backups (default $OSMODA_BACKUP_DIR, else "
            "/var/backups/osmoda)\n"
            "  --checkpoint-every N      sign a ledger checkpoint every N events (default %d)\n"
            "  --checkpoint-interval S   ... or S seconds after the first unsigned event "
            "(default %d)\n"
            "  --log-level LEVEL         error, warn, info (default) or debug\n"
            "  --ready-fd FD             write READY=1 to FD once serving\n"
            "  --help, --version\n",
            OSM_CHECKPOINT_EVERY_EVENTS, OSM_CHECKPOINT_EVERY_SECONDS);
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
        case 's': o->cfg.socket_flag = optarg; break;
        case 'd': o->cfg.state_flag = optarg; break;
        case 'b': o->cfg.backup_dir = optarg; break;
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
        case 'r': o->ready_fd = atoi(optarg); break;
        case 'A': o->compat_flag_seen = true; break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("agentd %s\n", VERSION); return 1;
        default: return -EINVAL;
        }
    }
    return optind == argc ? 0 : -EINVAL;
}

static int serve(struct agentd *ad, int ready_fd)
{
    struct osm_http_server_config cfg = {.routes = agentd_routes, .n_routes = agentd_n_routes,
                                         .userdata = ad, .operator = true};
    struct osm_http_server *server = NULL;
    sigset_t set;
    int r, sig;

    osm_daemon_block_signals(&set);
    r = osm_http_server_start_unix(&cfg, ad->paths.socket, 0600, &server);
    if (r < 0) {
        log_error("daemon.listen", "socket=%s error=%d reason=\"%s\"", ad->paths.socket, r,
                  strerror(-r));
        return r;
    }
    log_info("daemon.start", "socket=%s state_dir=%s", ad->paths.socket, ad->paths.state_dir);
    osm_daemon_notify_ready(ready_fd);
    while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP)
        log_info("daemon.reload", "note=\"nothing to reload\"");
    log_info("daemon.stop", "signal=%d", sig);
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
        log_warn("daemon.flags", "note=\"approval and sandbox flags are accepted but their "
                                 "endpoints answer 503 until the tool layer is installed\"");
    /* Block signals before any thread starts so that only sigwait sees them. */
    osm_daemon_block_signals(&set);
    r = agentd_init(&ad, &o.cfg);
    if (r < 0) {
        log_error("daemon.init", "error=%d reason=\"%s\"", r, strerror(-r));
        return 1;
    }
    r = serve(&ad, o.ready_fd);
    agentd_shutdown(&ad);
    return r < 0 ? 1 : 0;
}
