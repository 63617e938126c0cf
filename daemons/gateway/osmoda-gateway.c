/* osmoda-gateway: the dashboard, chat, /config/..., /api/v1 and /metrics on 127.0.0.1:18789
 * (DESIGN §8). main parses the flags, opens the parts in dependency order and serves HTTP until
 * SIGTERM; SIGHUP reloads agents.json. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "gw-api.h"
#include "drivers.h"
#include "gw-auth.h"
#include "gw-chat.h"
#include "gw-config.h"
#include "gw-http.h"
#include "gw-ws.h"

struct options {
    const char *listen, *state_dir, *run_dir, *web_dir, *credstore_key_file;
    int ready_fd;
    unsigned ws_ping_s, ws_idle_s;
    struct gw_api_options api;
};

static void usage(FILE *f)
{
    fputs("Usage: osmoda-gateway [OPTIONS]\n"
          "  --listen ADDR:PORT        where to serve (default 127.0.0.1:18789; a port is "
          "enough)\n"
          "  --state-dir DIR           the suite's state directory (config/ lives there)\n"
          "  --run-dir DIR             the other daemons' sockets (default $OSMODA_RUN_DIR or "
          "/run/osmoda)\n"
          "  --web-dir DIR             the dashboard's files\n"
          "  --credstore-key-file PATH the credential store's key, outside config/\n"
          "  --ws-ping-s N             WebSocket ping interval (default 30)\n"
          "  --ws-idle-s N             close a chat socket idle this long (default 600)\n"
          "  --api-read-per-min N      API reads per minute, per token and per address "
          "(default 600)\n"
          "  --api-write-per-min N     API changes per minute, per token and per address "
          "(default 60)\n"
          "  --syslog-cef              send every new ledger event to syslog as a CEF line\n"
          "  --syslog-socket PATH      the syslog datagram socket (default /dev/log)\n"
          "  --log-level LEVEL         debug, info, warn, error\n"
          "  --ready-fd FD             write READY=1 to FD when serving\n",
          f);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *s == '-' || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *ret = (unsigned)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'L'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"run-dir", required_argument, NULL, 'R'},
                                         {"web-dir", required_argument, NULL, 'w'},
                                         {"credstore-key-file", required_argument, NULL, 'k'},
                                         {"ws-ping-s", required_argument, NULL, 'p'},
                                         {"ws-idle-s", required_argument, NULL, 'i'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"ready-fd", required_argument, NULL, 'r'},
                                         {"api-read-per-min", required_argument, NULL, 'A'},
                                         {"api-write-per-min", required_argument, NULL, 'W'},
                                         {"syslog-cef", no_argument, NULL, 'C'},
                                         {"syslog-socket", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned fd;
    int c, level, r = 0;

    o->ready_fd = -1;
    while (r == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'L':
            o->listen = optarg;
            break;
        case 'd':
            o->state_dir = optarg;
            break;
        case 'R':
            o->run_dir = optarg;
            break;
        case 'w':
            o->web_dir = optarg;
            break;
        case 'k':
            o->credstore_key_file = optarg;
            break;
        case 'p':
            r = parse_uint(optarg, 1, 3600, &o->ws_ping_s);
            break;
        case 'i':
            r = parse_uint(optarg, 1, 86400, &o->ws_idle_s);
            break;
        case 'r':
            if ((r = parse_uint(optarg, 0, 65535, &fd)) == 0)
                o->ready_fd = (int)fd;
            break;
        case 'A':
            r = parse_uint(optarg, 1, 10000000, &o->api.read_per_min);
            break;
        case 'W':
            r = parse_uint(optarg, 1, 10000000, &o->api.write_per_min);
            break;
        case 'C':
            o->api.syslog_cef = true;
            break;
        case 'S':
            o->api.syslog_socket = optarg;
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

/* "ADDR:PORT", "[V6]:PORT" or "PORT" into addr and port. */
static int parse_listen(const char *s, char *addr, size_t len, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    const char *host = s;
    size_t hlen;
    unsigned p;

    if (!colon) {
        snprintf(addr, len, "%s", GW_DEFAULT_ADDR);
        colon = s - 1;
        hlen = 0;
    } else {
        hlen = (size_t)(colon - s);
        if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
            host++;
            hlen -= 2;
        }
        if (hlen == 0 || hlen >= len)
            return -EINVAL;
        memcpy(addr, host, hlen);
        addr[hlen] = '\0';
    }
    if (parse_uint(colon + 1, 1, 65535, &p) < 0)
        return -EINVAL;
    *port = (uint16_t)p;
    return 0;
}

struct layout {
    char *state_dir, *run_dir;
};

static int layout_resolve(const struct options *o, struct gateway *gw, struct layout *l)
{
    const char *env_state = getenv("OSMODA_STATE_DIR"), *env_run = getenv("OSMODA_RUN_DIR");

    l->state_dir = strdup(o->state_dir              ? o->state_dir
                          : env_state && *env_state ? env_state
                                                    : OSM_DEFAULT_STATE_DIR);
    l->run_dir = strdup(o->run_dir            ? o->run_dir
                        : env_run && *env_run ? env_run
                                              : OSM_DEFAULT_RUN_DIR);
    if (!l->state_dir || !l->run_dir)
        return -ENOMEM;
    gw->state_dir = l->state_dir;
    gw->run_dir = l->run_dir;
    gw->config_dir = osm_path_join(l->state_dir, GW_CONFIG_DIR);
    gw->daemons_socket = osm_path_join(l->run_dir, "agentd-daemons.sock");
    gw->agentd_socket = osm_path_join(l->run_dir, "agentd.sock");
    gw->web_dir = o->web_dir ? strdup(o->web_dir) : strdup(OSMODA_WEB_DIR);
    if (!gw->config_dir || !gw->daemons_socket || !gw->agentd_socket || !gw->web_dir)
        return -ENOMEM;
    return osm_mkdir_p(gw->config_dir, 0700);
}

static void close_parts(struct gateway *gw)
{
    gw_ws_free(gw->ws); /* first: its sockets' on_close reach the chat */
    gw_chat_free(gw->chat);
    gw_api_free(gw->api);
    gw_config_close(gw);
    gw_auth_free(gw->auth);
    gw_llmproxy_free(gw->llm);
}

static int open_parts(struct gateway *gw, const struct options *o, const char **what)
{
    char err[512] = "";
    int r;

    if ((r = gw_auth_open(gw->config_dir, &gw->auth, err, sizeof(err))) < 0) {
        log_error("daemon.init", "what=auth error=%d reason=\"%s\"", r, err);
        return *what = "auth", r;
    }
    log_info("gateway.auth", "token_file=%s", gw_auth_token_path(gw->auth));
    if ((r = gw_config_open(gw, o->credstore_key_file, err, sizeof(err))) < 0) {
        log_error("daemon.init", "what=config error=%d reason=\"%s\"", r, err);
        return *what = "config", r;
    }
    if ((r = gw_ws_new(o->ws_ping_s, o->ws_idle_s, &gw->ws)) < 0 || (r = gw_ws_start(gw->ws)) < 0) {
        log_error("daemon.init", "what=ws error=%d reason=\"%s\"", r, strerror(-r));
        return *what = "ws", r;
    }
    if ((r = gw_chat_new(gw, &gw->chat)) < 0) {
        log_error("daemon.init", "what=chat error=%d reason=\"%s\"", r, strerror(-r));
        return *what = "chat", r;
    }
    if ((r = gw_api_new(gw, &o->api, &gw->api)) < 0) {
        log_error("daemon.init", "what=api error=%d reason=\"%s\"", r, strerror(-r));
        return *what = "api", r;
    }
    if ((r = gw_llmproxy_new(GW_LLM_RPM_DEFAULT, &gw->llm)) < 0)
        return *what = "llm proxy", r;
    return 0;
}

/* SIGHUP: agents.json again (credentials are read from the store on every use). */
static void reload(struct gateway *gw)
{
    char err[512] = "";
    int r = gw_config_reload(gw, "sighup", err, sizeof(err));

    if (r == -ENOTCONN)
        log_error("daemon.reload", "what=agents.json reloaded=no reason=\"the reload could not "
                                   "be recorded in the ledger\"");
    else if (r < 0)
        log_error("daemon.reload", "what=agents.json reloaded=no reason=\"%s\"", err);
    else
        log_info("daemon.reload", "what=agents.json reloaded=yes");
}

static int serve(struct gateway *gw, const struct options *o, sigset_t *signals)
{
    struct osm_http_server *http = NULL;
    char addr[64];
    uint16_t port = GW_DEFAULT_PORT;
    int sig, r;

    snprintf(addr, sizeof(addr), "%s", GW_DEFAULT_ADDR);
    if (o->listen && parse_listen(o->listen, addr, sizeof(addr), &port) < 0) {
        log_error("daemon.init", "what=listen value=\"%s\" reason=\"expected ADDR:PORT\"",
                  o->listen);
        return -EINVAL;
    }
    if ((r = gw_http_start(gw, addr, port, &http)) < 0) {
        log_error("daemon.listen", "addr=%s port=%u error=%d reason=\"%s\"", addr, port, r,
                  strerror(-r));
        return r;
    }
    log_info("daemon.ready", "url=http://%s%s%s:%u/", strchr(addr, ':') ? "[" : "", addr,
             strchr(addr, ':') ? "]" : "", port);
    osm_daemon_notify_ready(o->ready_fd);
    while ((sig = osm_daemon_wait_signal(signals)) == SIGHUP)
        reload(gw);
    osm_http_server_stop(http);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct gateway gw = {.started_at = time(NULL)};
    struct layout l = {0};
    const char *what = NULL;
    sigset_t signals;
    int r;

    if ((r = parse_args(argc, argv, &o)) != 0) {
        if (r < 0)
            usage(stderr);
        return r < 0 ? 2 : 0;
    }
    osm_daemon_block_signals(&signals);
    umask(077);
    if ((r = layout_resolve(&o, &gw, &l)) < 0) {
        log_error("daemon.init", "what=paths error=%d reason=\"%s\"", r, strerror(-r));
        return 1;
    }
    r = open_parts(&gw, &o, &what);
    if (r == 0)
        r = serve(&gw, &o, &signals);
    close_parts(&gw);
    free(gw.config_dir);
    free(gw.daemons_socket);
    free(gw.agentd_socket);
    free(gw.web_dir);
    free(l.state_dir);
    free(l.run_dir);
    return r < 0 ? 1 : 0;
}
