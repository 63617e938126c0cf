/* The agent drivers (gw-chat.h) and the claude-code driver: osModa's launch contract (§10.3) with
 * our MCP bridge as the only tools (--strict-mcp-config; Claude Code's own shell, file, web and
 * read tools disallowed), --resume per chat session, the secret in the child's environment only,
 * and stream-json read line by line: each assistant message's text is sent once, whole. Abort
 * sends SIGTERM to the child's process group, then SIGKILL after a grace period; the child is
 * watched through its pidfd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "gw-chat.h"
#include "drivers.h"

#define CLAUDE_LINE_MAX (4 * 1024 * 1024) /* one stream-json line (a large tool result) */
#define CLAUDE_KILL_GRACE_MS 3000         /* SIGTERM → SIGKILL */
#define CLAUDE_STDERR_KEEP 512            /* the tail of stderr an error quotes */
#define CLAUDE_MCP_CONFIG "mcp-bridge.json"
#define CLAUDE_WORKDIR "workspace-chat" /* the CLI's cwd under the state directory: empty */
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define CLAUDE_TOOL_PREFIX "mcp__osmoda__"
#define CLAUDE_DISALLOWED                                                                          \
    "Bash,Write,Edit,MultiEdit,NotebookEdit,WebFetch,WebSearch,Read,Glob,Grep,LS,Task"

extern char **environ;

/* ---- the child ----------------------------------------------------------------------------- */

struct child {
    pid_t pid;
    int pidfd, out, err;
};

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The MCP configuration: our bridge, reaching the agent sockets of run_dir. */
static int mcp_config_write(struct gateway *gw, const char *bridge, char **ret_path)
{
    json_t *cfg = json_pack("{s:{s:{s:s, s:s, s:[s, s]}}}", "mcpServers", "osmoda", "type", "stdio",
                            "command", bridge, "args", "--run-dir", gw->run_dir);
    char *text = cfg ? json_dumps(cfg, JSON_INDENT(2)) : NULL;
    char *path = osm_path_join(gw->config_dir, CLAUDE_MCP_CONFIG);
    int r = !text || !path ? -ENOMEM : osm_write_file_atomic(path, text, strlen(text), 0600);

    json_decref(cfg);
    free(text);
    if (r < 0) {
        free(path);
        return r;
    }
    *ret_path = path;
    return 0;
}

static bool env_dropped(const char *e, bool base_url)
{
    static const char *const drop[] = {
        "ANTHROPIC_API_KEY=", "CLAUDE_CODE_OAUTH_TOKEN=", "ANTHROPIC_AUTH_TOKEN=", "NODE_ENV="};

    for (size_t i = 0; i < ELEMENTSOF(drop); i++)
        if (strncmp(e, drop[i], strlen(drop[i])) == 0)
            return true;
    return base_url && strncmp(e, "ANTHROPIC_BASE_URL=", 19) == 0;
}

/* The child's environment: the gateway's, without any provider secret, plus this turn's. The
 * entry holding the secret is *ret_secret (cleared by the caller). */
static char **child_env(const struct gw_turn *t, char **ret_secret)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    if (!(env = calloc(n + 4, sizeof(*env))))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!env_dropped(environ[i], t->base_url != NULL))
            env[k++] = environ[i];
    env[k++] = "NODE_ENV=production";
    if (t->base_url && asprintf(&env[k++], "ANTHROPIC_BASE_URL=%s", t->base_url) < 0)
        env[--k] = NULL;
    *ret_secret = NULL;
    if (t->secret && asprintf(ret_secret, "%s=%s",
                              strcmp(t->credential_type, "oauth") == 0 ? "CLAUDE_CODE_OAUTH_TOKEN"
                                                                       : "ANTHROPIC_API_KEY",
                              t->secret) >= 0)
        env[k++] = *ret_secret;
    return env;
}

static void child_env_free(char **env, char *secret, const struct gw_turn *t)
{
    if (secret) {
        sodium_memzero(secret, strlen(secret));
        free(secret);
    }
    if (env && t->base_url)
        for (size_t i = 0; env[i]; i++)
            if (strncmp(env[i], "ANTHROPIC_BASE_URL=", 19) == 0)
                free(env[i]);
    free(env);
}

static int child_spawn(const char *workdir, const struct gw_turn *t, const char *mcp_path,
                       struct child *ch)
{
    const char *argv[24];
    size_t a = 0;
    int out[2] = {-1, -1}, err[2] = {-1, -1}, r;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    char *secret = NULL, **env;

    argv[a++] = t->program;
    argv[a++] = "-p";
    argv[a++] = "--output-format";
    argv[a++] = "stream-json";
    argv[a++] = "--verbose";
    argv[a++] = "--model";
    argv[a++] = t->model;
    if (t->system_prompt) {
        argv[a++] = "--system-prompt";
        argv[a++] = t->system_prompt;
    }
    argv[a++] = "--mcp-config";
    argv[a++] = mcp_path;
    argv[a++] = "--strict-mcp-config";
    argv[a++] = "--allowedTools";
    argv[a++] = CLAUDE_TOOL_PREFIX "*";
    argv[a++] = "--disallowedTools";
    argv[a++] = CLAUDE_DISALLOWED;
    if (t->resume_id[0]) {
        argv[a++] = "--resume";
        argv[a++] = t->resume_id;
    }
    argv[a++] = "--";
    argv[a++] = t->text;
    argv[a] = NULL;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        r = -errno;
        goto fail_pipes;
    }
    if (!(env = child_env(t, &secret))) {
        r = -ENOMEM;
        goto fail_pipes;
    }
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGINT);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawn_file_actions_addchdir_np(&fa, workdir);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = -posix_spawnp(&ch->pid, t->program, &fa, &at, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    child_env_free(env, secret, t);
    if (r < 0)
        goto fail_pipes;
    close(out[1]);
    close(err[1]);
    ch->out = out[0];
    ch->err = err[0];
    if ((ch->pidfd = pidfd_open_(ch->pid)) < 0) {
        r = -errno;
        kill(-ch->pid, SIGKILL);
        waitpid(ch->pid, NULL, 0);
        close(ch->out);
        close(ch->err);
        return r;
    }
    log_info("chat.spawn", "driver=claude-code pid=%d model=%s resume=%s", ch->pid, t->model,
             t->resume_id[0] ? "yes" : "no");
    return 0;

fail_pipes:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    return r;
}

/* ---- stream-json --------------------------------------------------------------------------- */

struct claude_run {
    struct gw_turn *t;
    unsigned texts; /* text messages sent */
    bool error_sent, err_eol;
    char err_tail[CLAUDE_STDERR_KEEP];
    size_t err_len;
};

static const char *tool_name(const char *name)
{
    size_t n = strlen(CLAUDE_TOOL_PREFIX);

    return strncmp(name, CLAUDE_TOOL_PREFIX, n) == 0 ? name + n : name;
}

static void on_assistant(struct claude_run *cr, json_t *content)
{
    size_t i;
    json_t *b;

    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *text = json_string_value(json_object_get(b, "text"));
        const char *name = json_string_value(json_object_get(b, "name"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0 && text && *text) {
            cr->t->emit(cr->t, "text", json_pack("{s:s}", "text", text));
            cr->texts++;
        } else if (strcmp(type, "tool_use") == 0 && name) {
            json_t *f = json_pack("{s:s}", "name", tool_name(name));
            if (f && json_object_get(b, "input"))
                json_object_set(f, "input", json_object_get(b, "input"));
            if (f && json_is_string(json_object_get(b, "id")))
                json_object_set(f, "id", json_object_get(b, "id"));
            cr->t->emit(cr->t, "tool_use", f);
        }
    }
}

/* The daemon's answer in a tool result, when it says what the policy decided. */
static const char *result_decision(json_t *b, char *buf, size_t len)
{
    json_t *content = json_object_get(b, "content"), *item, *o;
    const char *text = json_string_value(content), *status = NULL;

    if (!text && json_is_array(content) && (item = json_array_get(content, 0)))
        text = json_string_value(json_object_get(item, "text"));
    if (!text || !(o = json_loads(text, 0, NULL)))
        return NULL;
    status = json_string_value(json_object_get(o, "status"));
    if (status)
        snprintf(buf, len, "%s", status);
    json_decref(o);
    return status ? buf : NULL;
}

static void on_user(struct claude_run *cr, json_t *content)
{
    size_t i;
    json_t *b;
    char decision[32];

    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        json_t *f;
        if (!type || strcmp(type, "tool_result") != 0)
            continue;
        f = json_pack("{s:b}", "is_error", json_is_true(json_object_get(b, "is_error")));
        if (f && json_is_string(json_object_get(b, "tool_use_id")))
            json_object_set(f, "id", json_object_get(b, "tool_use_id"));
        if (f && result_decision(b, decision, sizeof(decision))) {
            /* as the API drivers say it: status is the daemon's answer, decision what the
             * policy made of the call */
            const char *policy = strcmp(decision, "ok") == 0        ? "allow"
                                 : strcmp(decision, "pending") == 0 ? "approve"
                                 : strcmp(decision, "denied") == 0  ? "deny"
                                                                    : NULL;
            json_object_set_new(f, "status", json_string(decision));
            if (policy)
                json_object_set_new(f, "decision", json_string(policy));
        }
        cr->t->emit(cr->t, "tool_result", f);
    }
}

static void on_result(struct claude_run *cr, json_t *o)
{
    const char *text = json_string_value(json_object_get(o, "result"));
    json_t *status = json_object_get(o, "api_error_status");
    char code[32];

    if (json_is_true(json_object_get(o, "is_error"))) {
        if (json_is_integer(status))
            snprintf(code, sizeof(code), "http_%lld", (long long)json_integer_value(status));
        else
            snprintf(code, sizeof(code), "cli_error");
        cr->t->emit(cr->t, "error",
                    json_pack("{s:s, s:s}", "code", code, "text",
                              text && *text ? text : "Claude Code reported an error"));
        cr->error_sent = true;
    } else if (cr->texts == 0 && text && *text) {
        cr->t->emit(cr->t, "text", json_pack("{s:s}", "text", text));
        cr->texts++;
    }
}

static void on_line(struct claude_run *cr, const char *line, size_t len)
{
    json_t *o = json_loadb(line, len, 0, NULL), *msg;
    const char *type, *sid;

    if (!o)
        return;
    type = json_string_value(json_object_get(o, "type"));
    sid = json_string_value(json_object_get(o, "session_id"));
    if (sid && strlen(sid) < sizeof(cr->t->resume_id))
        snprintf(cr->t->resume_id, sizeof(cr->t->resume_id), "%s", sid);
    msg = json_object_get(o, "message");
    if (type && strcmp(type, "assistant") == 0)
        on_assistant(cr, json_object_get(msg, "content"));
    else if (type && strcmp(type, "user") == 0)
        on_user(cr, json_object_get(msg, "content"));
    else if (type && strcmp(type, "result") == 0)
        on_result(cr, o);
    json_decref(o);
}

/* ---- the turn ------------------------------------------------------------------------------ */

struct linebuf {
    char *buf;
    size_t len, cap;
    bool skipping; /* inside a line over the cap */
};

/* Reads what fd has and hands each complete line to on_line: 0, or 1 at EOF. */
static int lines_read(int fd, struct linebuf *lb, struct claude_run *cr)
{
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (n == 0)
        return 1;
    for (ssize_t i = 0; i < n; i++) {
        char ch = chunk[i];
        if (ch == '\n') {
            if (!lb->skipping)
                on_line(cr, lb->buf ? lb->buf : "", lb->len);
            lb->len = 0;
            lb->skipping = false;
            continue;
        }
        if (lb->skipping)
            continue;
        if (lb->len + 1 >= lb->cap) {
            size_t cap = lb->cap ? lb->cap * 2 : 4096;
            char *nb;
            if (cap > CLAUDE_LINE_MAX || !(nb = realloc(lb->buf, cap))) {
                log_warn("chat.driver", "what=line over %d bytes skipped", CLAUDE_LINE_MAX);
                lb->skipping = true;
                lb->len = 0;
                continue;
            }
            lb->buf = nb;
            lb->cap = cap;
        }
        lb->buf[lb->len++] = ch;
    }
    return 0;
}

static void stderr_read(int fd, struct claude_run *cr, bool *eof)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n <= 0) {
        *eof = n == 0 || (errno != EAGAIN && errno != EINTR);
        return;
    }
    /* keeps the last non-empty line */
    for (ssize_t i = 0; i < n; i++) {
        if (chunk[i] == '\n') {
            cr->err_eol = true;
            continue;
        }
        if (cr->err_eol) {
            cr->err_len = 0;
            cr->err_eol = false;
        }
        if (cr->err_len + 1 < sizeof(cr->err_tail))
            cr->err_tail[cr->err_len++] = chunk[i];
    }
    cr->err_tail[cr->err_len] = '\0';
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct watch {
    bool out_eof, err_eof, exited, stopping, timed_out;
    int64_t deadline, kill_at;
};

/* SIGTERM to the whole process group (the CLI and the bridge it started), SIGKILL later. */
static void stop_child(const struct child *ch, struct watch *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    kill(-ch->pid, SIGTERM);
    w->kill_at = mono_ms() + CLAUDE_KILL_GRACE_MS;
}

static int poll_timeout(const struct watch *w, int64_t now)
{
    int64_t at = w->stopping ? w->kill_at : w->deadline;

    return at <= now ? 0 : (int)MIN(at - now, 60000);
}

/* Runs the child to its end, streaming its lines; the exit status. */
static int child_watch(struct child *ch, struct claude_run *cr, struct watch *w)
{
    struct linebuf lb = {0};
    siginfo_t si = {0};

    w->deadline = mono_ms() + (int64_t)GW_CHAT_TURN_TIMEOUT_S * 1000;
    while (!w->out_eof || !w->exited) {
        struct pollfd p[4] = {{w->out_eof ? -1 : ch->out, POLLIN, 0},
                              {w->err_eof ? -1 : ch->err, POLLIN, 0},
                              {w->exited ? -1 : ch->pidfd, POLLIN, 0},
                              {w->stopping ? -1 : cr->t->abort_fd, POLLIN, 0}};
        int64_t now = mono_ms();
        int n = poll(p, 4, poll_timeout(w, now));

        if (n < 0 && errno != EINTR)
            break;
        now = mono_ms();
        if (p[0].revents)
            w->out_eof = lines_read(ch->out, &lb, cr) == 1;
        if (p[1].revents)
            stderr_read(ch->err, cr, &w->err_eof);
        if (p[2].revents) {
            w->exited = true;
            if (w->stopping)
                kill(-ch->pid, SIGKILL); /* whatever of the group is left */
        }
        if (p[3].revents)
            stop_child(ch, w);
        if (!w->stopping && now >= w->deadline) {
            w->timed_out = true;
            stop_child(ch, w);
        } else if (w->stopping && now >= w->kill_at) {
            kill(-ch->pid, SIGKILL);
            w->kill_at = now + CLAUDE_KILL_GRACE_MS;
        }
    }
    free(lb.buf);
    waitid(P_PIDFD, (id_t)ch->pidfd, &si, WEXITED);
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static void child_close(struct child *ch)
{
    close(ch->out);
    close(ch->err);
    close(ch->pidfd);
}

static int claude_run(struct gateway *gw, struct gw_turn *t)
{
    struct claude_run cr = {.t = t};
    struct child ch = {0};
    struct watch w = {0};
    _cleanup_free_ char *mcp = NULL, *workdir = osm_path_join(gw->state_dir, CLAUDE_WORKDIR);
    char msg[CLAUDE_STDERR_KEEP + 64];
    int status, r;

    if (!t->program || !t->mcp_bridge) {
        t->emit(t, "error",
                json_pack("{s:s, s:s}", "code", "driver_unavailable", "text",
                          "the claude-code driver has no program configured"));
        return -ENOENT;
    }
    if (!workdir)
        r = -ENOMEM;
    else if ((r = osm_mkdir_p(workdir, 0700)) == 0 &&
             (r = mcp_config_write(gw, t->mcp_bridge, &mcp)) == 0)
        r = child_spawn(workdir, t, mcp, &ch);
    if (r < 0) {
        snprintf(msg, sizeof(msg), "could not start %s: %s", t->program, strerror(-r));
        log_warn("chat.spawn", "driver=claude-code program=%s error=%d", t->program, r);
        t->emit(t, "error", json_pack("{s:s, s:s}", "code", "driver_unavailable", "text", msg));
        return r;
    }
    status = child_watch(&ch, &cr, &w);
    child_close(&ch);
    log_info("chat.exit", "driver=claude-code pid=%d status=%d aborted=%s", ch.pid, status,
             w.stopping ? "yes" : "no");
    if (w.stopping) {
        t->emit(t, "error",
                json_pack("{s:s, s:s}", "code", w.timed_out ? "timeout" : "aborted", "text",
                          w.timed_out ? "the turn took too long and was stopped"
                                      : "the turn was aborted"));
        return w.timed_out ? -ETIMEDOUT : -ECANCELED;
    }
    if (status != 0 && !cr.error_sent) {
        if (cr.err_len)
            snprintf(msg, sizeof(msg), "%s", cr.err_tail);
        else
            snprintf(msg, sizeof(msg), "claude exited with status %d", status);
        t->emit(t, "error", json_pack("{s:s, s:s}", "code", "cli_error", "text", msg));
        return -EIO;
    }
    return cr.error_sent ? -EIO : 0;
}

/* ---- the table ----------------------------------------------------------------------------- */

static const char *const claude_providers[] = {"anthropic", NULL};
static const char *const claude_auth_types[] = {"api_key", "oauth", NULL};
static const char *const claude_models[] = {"claude-opus-4-6", "claude-sonnet-4-6",
                                            "claude-haiku-4-5", NULL};

static const struct gw_driver claude_code = {
    .name = "claude-code",
    .display_name = "Claude Code",
    .description = "The Claude Code CLI, with osModa's typed tools (through the MCP bridge) as "
                   "its only tools",
    .providers = claude_providers,
    .auth_types = claude_auth_types,
    .default_models = claude_models,
    .run = claude_run,
};

const struct gw_driver *const gw_drivers[] = {&claude_code, &gw_driver_anthropic,
                                              &gw_driver_openai};
const size_t gw_n_drivers = ELEMENTSOF(gw_drivers);

const struct gw_driver *gw_driver_find(const char *runtime)
{
    for (size_t i = 0; runtime && i < gw_n_drivers; i++)
        if (strcmp(gw_drivers[i]->name, runtime) == 0)
            return gw_drivers[i];
    return NULL;
}
