/* osmoda-mcp-bridge: the MCP server exposing osModa's typed tools. main parses flags, reads the
 * token, and runs stdio (default) or Streamable HTTP. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "daemon/daemon.h"
#include "mcp.h"
#include "tools/registry.h"

#define TOKEN_FILE_MAX 4096
#define TOKEN_MIN 16

struct options {
    struct mcp_server srv;
    struct mcp_http_config http;
    const char *token_file;
    char *tcp_host;
    bool list_tools;
    int ready_fd;
};

static const struct option long_options[] = {
    {"http", required_argument, NULL, 'H'},
    {"http-socket", required_argument, NULL, 'S'},
    {"token-file", required_argument, NULL, 'T'},
    {"insecure-no-auth", no_argument, NULL, 'I'},
    {"run-dir", required_argument, NULL, 'R'},
    {"conformance-fixtures", no_argument, NULL, 'F'},
    {"max-result-bytes", required_argument, NULL, 'M'},
    {"sse-hold-ms", required_argument, NULL, 'E'},
    {"log-level", required_argument, NULL, 'l'},
    {"ready-fd", required_argument, NULL, 'r'},
    {"list-tools", no_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: osmoda-mcp-bridge [OPTIONS]\n"
            "MCP server (protocol %s) for osModa's tools: stdio by default, Streamable HTTP on\n"
            "/mcp with --http and/or --http-socket.\n\n"
            "  --http ADDR:PORT         listen on TCP (e.g. 127.0.0.1:8765, [::1]:8765)\n"
            "  --http-socket PATH       listen on a unix socket (mode 0600)\n"
            "  --token-file PATH        bearer token for HTTP (file must be 0600 or stricter)\n"
            "  --insecure-no-auth       HTTP without a token; only on a loopback address\n"
            "  --run-dir DIR            daemon sockets (default $OSMODA_RUN_DIR, else %s);\n"
            "                           AGENTD_SOCKET, WATCH_SOCKET, ... override one daemon\n"
            "  --max-result-bytes N     cap of a tool result's text (default %d)\n"
            "  --sse-hold-ms N          HTTP: close a resumable event stream's connection after\n"
            "                           N ms; the client resumes it (default %d)\n"
            "  --conformance-fixtures   register the MCP conformance suite's fixtures (tests)\n"
            "  --log-level LEVEL        error, warn, info (default) or debug (stderr)\n"
            "  --ready-fd FD            write READY=1 to FD once HTTP is serving\n"
            "  --list-tools             print the tool names and exit\n"
            "  --help, --version\n",
            MCP_PROTOCOL_LATEST, OSM_DEFAULT_RUN_DIR, OSM_TOOL_RESULT_MAX, MCP_SSE_HOLD_MS);
}

/* "ADDR:PORT" or "[V6]:PORT" into a new host string and port. */
static int parse_addr_port(const char *s, char **ret_host, uint16_t *ret_port)
{
    const char *colon = strrchr(s, ':');
    const char *h = s, *h_end = colon;
    char *end;
    long port;

    if (!colon)
        return -EINVAL;
    if (*s == '[') {
        h = s + 1;
        h_end = strchr(s, ']');
        if (!h_end || h_end + 1 != colon)
            return -EINVAL;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (h_end == h || !colon[1] || *end || errno || port < 1 || port > 65535)
        return -EINVAL;
    *ret_host = strndup(h, (size_t)(h_end - h));
    *ret_port = (uint16_t)port;
    return *ret_host ? 0 : -ENOMEM;
}

static int parse_size(const char *s, size_t *ret)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v < MCP_RESULT_MAX_MIN || v > 64ULL * 1024 * 1024)
        return -EINVAL;
    *ret = (size_t)v;
    return 0;
}

static int parse_ms(const char *s, long min, long max, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* 0 to run, 1 to exit 0 (help/version), -EINVAL for a usage error (message printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
    int c, level;

    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (parse_addr_port(optarg, &o->tcp_host, &o->http.tcp_port) < 0) {
                fprintf(stderr, "osmoda-mcp-bridge: --http wants ADDR:PORT, got '%s'\n", optarg);
                return -EINVAL;
            }
            o->http.tcp_addr = o->tcp_host;
            break;
        case 'S':
            o->http.socket_path = optarg;
            break;
        case 'T':
            o->token_file = optarg;
            break;
        case 'I':
            o->http.insecure_no_auth = true;
            break;
        case 'R':
            o->srv.run_dir = optarg;
            break;
        case 'F':
            o->srv.fixtures = true;
            break;
        case 'L':
            o->list_tools = true;
            break;
        case 'r':
            o->ready_fd = atoi(optarg);
            break;
        case 'M':
            if (parse_size(optarg, &o->srv.result_max) < 0) {
                fprintf(stderr, "osmoda-mcp-bridge: --max-result-bytes must be %d..67108864\n",
                        MCP_RESULT_MAX_MIN);
                return -EINVAL;
            }
            break;
        case 'E':
            if (parse_ms(optarg, MCP_SSE_HOLD_MS_MIN, 3600L * 1000, &o->srv.sse_hold_ms) < 0) {
                fprintf(stderr, "osmoda-mcp-bridge: --sse-hold-ms must be %d..3600000\n",
                        MCP_SSE_HOLD_MS_MIN);
                return -EINVAL;
            }
            break;
        case 'l':
            level = osm_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "osmoda-mcp-bridge: unknown log level '%s'\n", optarg);
                return -EINVAL;
            }
            osm_log_set_level((enum osm_log_level)level);
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("osmoda-mcp-bridge %s (MCP %s)\n", MCP_SERVER_VERSION, MCP_PROTOCOL_LATEST);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "osmoda-mcp-bridge: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

/* Checks the flag combination; prints the one reason it cannot run. */
static int check_options(const struct options *o)
{
    bool http = o->http.tcp_addr || o->http.socket_path;

    if (!http && (o->token_file || o->http.insecure_no_auth)) {
        fprintf(stderr, "osmoda-mcp-bridge: --token-file/--insecure-no-auth need --http or "
                        "--http-socket\n");
        return -EINVAL;
    }
    if (http && !o->token_file && !o->http.insecure_no_auth) {
        fprintf(stderr, "osmoda-mcp-bridge: HTTP needs --token-file (or --insecure-no-auth on a "
                        "loopback address)\n");
        return -EINVAL;
    }
    if (o->token_file && o->http.insecure_no_auth) {
        fprintf(stderr, "osmoda-mcp-bridge: --token-file and --insecure-no-auth exclude each "
                        "other\n");
        return -EINVAL;
    }
    if (o->http.insecure_no_auth && o->http.tcp_addr && !mcp_addr_is_loopback(o->http.tcp_addr)) {
        fprintf(stderr,
                "osmoda-mcp-bridge: --insecure-no-auth is refused on %s: only a loopback "
                "address (127.0.0.1, ::1) may run without a token\n",
                o->http.tcp_addr);
        return -EINVAL;
    }
    return 0;
}

/* Reads the bearer token; refuses a file that group or others may access. */
static int read_token(const char *path, char **ret)
{
    char buf[TOKEN_FILE_MAX + 2];
    size_t len;
    int r = osm_read_secret_file(path, buf, sizeof(buf), &len);
    ssize_t n;

    if (r == -EPERM) {
        log_error("token_file", "path=%s error=\"group or others may access it; chmod 600\"", path);
        return r;
    }
    if (r < 0) {
        log_error("token_file", "path=%s error=\"%s\" note=\"a regular file of at most %d bytes\"",
                  path, strerror(-r), TOKEN_FILE_MAX);
        return r == -EFBIG ? -EINVAL : r;
    }
    n = (ssize_t)len;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (n < TOKEN_MIN || memchr(buf, '\0', (size_t)n)) {
        sodium_memzero(buf, sizeof(buf));
        log_error("token_file", "path=%s error=\"token shorter than %d bytes or holds NUL\"", path,
                  TOKEN_MIN);
        return -EINVAL;
    }
    *ret = strdup(buf);
    sodium_memzero(buf, sizeof(buf));
    return *ret ? 0 : -ENOMEM;
}

static int list_tools(void)
{
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    for (size_t i = 0; i < n; i++)
        printf("%s\n", t[i].name);
    return 0;
}

static int run_http(struct options *o)
{
    _cleanup_free_ char *token = NULL;
    struct mcp_http *h;
    sigset_t set;
    int r, sig;

    if (o->token_file && read_token(o->token_file, &token) < 0)
        return 1;
    o->http.token = token;
    osm_daemon_block_signals(&set);
    r = mcp_http_start(&o->srv, &o->http, &h);
    if (r < 0) {
        log_error("http_start", "error=\"%s\"", strerror(-r));
        return 1;
    }
    log_info("serving", "tcp=%s port=%u socket=%s auth=%s fixtures=%d",
             o->http.tcp_addr ? o->http.tcp_addr : "-", o->http.tcp_port,
             o->http.socket_path ? o->http.socket_path : "-",
             o->http.insecure_no_auth ? "none" : "bearer", o->srv.fixtures);
    osm_daemon_notify_ready(o->ready_fd);
    do
        sig = osm_daemon_wait_signal(&set);
    while (sig == SIGHUP);
    log_info("stopping", "signal=%d", sig);
    mcp_http_stop(h);
    if (token)
        sodium_memzero(token, strlen(token));
    return 0;
}

/* stdio: keep fd 1 for JSON-RPC only, and point the process's stdout at stderr so that no
 * stray byte from anywhere can corrupt the stream. */
static int run_stdio(struct options *o)
{
    int out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    int r;

    if (out < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        log_error("stdio", "error=\"%s\"", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    log_info("serving", "transport=stdio fixtures=%d", o->srv.fixtures);
    r = mcp_stdio_run(&o->srv, STDIN_FILENO, out);
    close(out);
    if (r < 0)
        log_error("stdio", "error=\"%s\"", strerror(-r));
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct options o = {.srv = {.result_max = OSM_TOOL_RESULT_MAX}, .ready_fd = -1};
    const char *env_run = getenv("OSMODA_RUN_DIR");
    int r;

    osm_log_set_ident("osmoda-mcp-bridge");
    r = parse_args(argc, argv, &o);
    if (r != 0 || check_options(&o) < 0) {
        free(o.tcp_host);
        return r > 0 ? 0 : 2;
    }
    if (!o.srv.run_dir)
        o.srv.run_dir = env_run && *env_run ? env_run : OSM_DEFAULT_RUN_DIR;
    if (sodium_init() < 0) {
        log_error("sodium_init", "error=failed");
        return 1;
    }
    if (o.list_tools)
        r = list_tools();
    else if (o.http.tcp_addr || o.http.socket_path)
        r = run_http(&o);
    else
        r = run_stdio(&o);
    free(o.tcp_host);
    return r;
}
