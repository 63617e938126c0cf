/* Two bare peers for the tool-layer benchmarks: tools/call round trips to an MCP server over
 * stdio (the bridge as Claude Code runs it), and plain fork+exec of a command (what a sandboxed
 * shell_exec is compared with). Each prints one JSON line {"requests","seconds","rps","p50_us",
 * "p99_us"}. */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (16u << 20)

extern char **environ;

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void report(uint64_t *ns, size_t n, uint64_t total_ns)
{
    qsort(ns, n, sizeof(*ns), cmp_u64);
    printf("{\"requests\":%zu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", n,
           total_ns / 1e9, n / (total_ns / 1e9), ns[n / 2] / 1e3,
           ns[n * 99 / 100 < n ? n * 99 / 100 : n - 1] / 1e3);
}

/* Writes one JSON-RPC line and, when id >= 0, reads lines until the answer with that id. */
static int rpc(FILE *to, FILE *from, char **line, size_t *cap, long id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int rpc(FILE *to, FILE *from, char **line, size_t *cap, long id, const char *fmt, ...)
{
    char want[32];
    va_list ap;

    va_start(ap, fmt);
    vfprintf(to, fmt, ap);
    va_end(ap);
    fputc('\n', to);
    if (fflush(to) != 0)
        return -EIO;
    if (id < 0)
        return 0;
    snprintf(want, sizeof(want), "\"id\":%ld", id);
    for (;;) {
        ssize_t n = getline(line, cap, from);
        if (n <= 0 || (size_t)n > LINE_MAX_BYTES)
            return -EIO;
        if (strstr(*line, want))
            return strstr(*line, "\"error\"") && !strstr(*line, "\"result\"") ? -EPROTO : 0;
    }
}

static int spawn_piped(char **argv, FILE **ret_to, FILE **ret_from, pid_t *ret_pid)
{
    int in[2], out[2];
    posix_spawn_file_actions_t fa;
    int r;

    if (pipe(in) < 0 || pipe(out) < 0)
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    r = posix_spawn(ret_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (r != 0)
        return -r;
    *ret_to = fdopen(in[1], "w");
    *ret_from = fdopen(out[0], "r");
    return *ret_to && *ret_from ? 0 : -ENOMEM;
}

/* stdio N TOOL ARGS_JSON -- BRIDGE ARGV... */
static int bench_stdio(size_t n, const char *tool, const char *args, char **argv)
{
    FILE *to = NULL, *from = NULL;
    char *line = NULL;
    size_t cap = 0;
    pid_t pid;
    uint64_t *ns = calloc(n, sizeof(*ns)), t0;
    int r = spawn_piped(argv, &to, &from, &pid);

    if (r < 0 || !ns) {
        free(ns);
        return 1;
    }
    r = rpc(to, from, &line, &cap, 0,
            "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
            "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
            "\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}");
    if (r == 0)
        r = rpc(to, from, &line, &cap, -1,
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    t0 = now_ns();
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t s = now_ns();
        r = rpc(to, from, &line, &cap, (long)i + 1,
                "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\",\"params\":{"
                "\"name\":\"%s\",\"arguments\":%s}}",
                i + 1, tool, args);
        ns[i] = now_ns() - s;
    }
    if (r == 0)
        report(ns, n, now_ns() - t0);
    else
        fprintf(stderr, "mcp_stdio: round trip failed (%s): %s\n", strerror(-r), line ? line : "");
    fclose(to);
    fclose(from);
    waitpid(pid, NULL, 0);
    free(line);
    free(ns);
    return r == 0 ? 0 : 1;
}

/* spawn N ARGV...: posix_spawn + waitpid, the peer of a sandboxed shell_exec. */
static int bench_spawn(size_t n, char **argv)
{
    uint64_t *ns = calloc(n, sizeof(*ns)), t0 = now_ns();

    for (size_t i = 0; i < n && ns; i++) {
        uint64_t s = now_ns();
        pid_t pid;
        int st;
        if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
            waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
        ns[i] = now_ns() - s;
    }
    if (!ns)
        return 1;
    report(ns, n, now_ns() - t0);
    free(ns);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "stdio") == 0 && strcmp(argv[4 + 1], "--") == 0)
        return bench_stdio(strtoul(argv[2], NULL, 10), argv[3], argv[4], argv + 6);
    if (argc >= 4 && strcmp(argv[1], "spawn") == 0)
        return bench_spawn(strtoul(argv[2], NULL, 10), argv + 3);
    fprintf(stderr, "usage: mcp_stdio stdio N TOOL ARGS_JSON -- BRIDGE [ARGS...]\n"
                    "       mcp_stdio spawn N COMMAND [ARGS...]\n");
    return 2;
}
