/* osmoda-keyd: the vault and the ETH/SOL wallets behind a signing policy (DESIGN §2,
 * docs/keyd.md). main hardens the process, opens the parts in order — lockdown file, keyd.db,
 * vault, policy, executor (refused without agentd) — and serves keyd.sock (operator) and
 * keyd-agent.sock (tools). SIGHUP reloads the policy. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "exec/servers.h"
#include "keyd-api.h"
#include "keyd-tools.h"
#include "wallets.h"

#define DELIVER_DIRS_MAX 16
#define DEFAULT_CREDSTORE "/run/credstore"

struct options {
    const char *socket, *agentd_socket, *state_dir, *data_dir, *policy_file, *key_file;
    const char *credstore_dir;
    const char *deliver_dirs[DELIVER_DIRS_MAX + 1];
    size_t n_deliver;
    int ready_fd;
};

static void usage(FILE *f)
{
    fputs("Usage: osmoda-keyd [OPTIONS]\n"
          "  --socket PATH          operator socket (default <run>/keyd.sock)\n"
          "  --agentd-socket PATH   agentd's socket; its daemons socket is beside it\n"
          "  --state-dir DIR        the suite's state directory (policy.json, lockdown)\n"
          "  --data-dir DIR         keyd's data (default <state>/keyd): keyd.db, jobs\n"
          "  --policy-file PATH     the signing policy (default <data>/policy.json)\n"
          "  --key-file PATH        the master key file (default $OSMODA_KEYD_KEY_FILE); the\n"
          "                         systemd credential keyd-master is preferred when present\n"
          "  --deliver-dir DIR      where secrets may be delivered as files (repeatable,\n"
          "                         default <run>/secrets)\n"
          "  --credstore-dir DIR    where secrets are delivered as credentials (/run/credstore)\n"
          "  --log-level LEVEL      debug, info, warn, error\n"
          "  --ready-fd FD          write READY=1 to FD when serving\n",
          f);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"agentd-socket", required_argument, NULL, 'a'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"data-dir", required_argument, NULL, 'D'},
                                         {"policy-file", required_argument, NULL, 'p'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"deliver-dir", required_argument, NULL, 'o'},
                                         {"credstore-dir", required_argument, NULL, 'c'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"ready-fd", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char **slot[] = {
        ['s'] = &o->socket,       ['a'] = &o->agentd_socket, ['d'] = &o->state_dir,
        ['D'] = &o->data_dir,     ['p'] = &o->policy_file,   ['k'] = &o->key_file,
        ['c'] = &o->credstore_dir};
    int c, level;

    o->ready_fd = -1;
    o->key_file = getenv("OSMODA_KEYD_KEY_FILE");
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c > 0 && (size_t)c < ELEMENTSOF(slot) && slot[c]) {
            *slot[c] = optarg;
        } else if (c == 'o') {
            if (o->n_deliver >= DELIVER_DIRS_MAX)
                return -E2BIG;
            o->deliver_dirs[o->n_deliver++] = optarg;
        } else if (c == 'l') {
            if ((level = osm_log_parse_level(optarg)) < 0)
                return -EINVAL;
            osm_log_set_level((enum osm_log_level)level);
        } else if (c == 'r') {
            if (osm_daemon_parse_int(optarg, 0, 65535, &o->ready_fd) < 0)
                return -EINVAL;
        } else if (c == 'h') {
            usage(stdout);
            return 1;
        } else {
            return -EINVAL;
        }
    }
    return optind == argc ? 0 : -EINVAL;
}

/* Every path of the daemon, owned here. */
struct layout {
    struct osm_daemon_paths paths;
    char *data_dir, *daemons_socket, *agent_socket, *exec_policy, *jobs_db, *jobs_dir, *workspace,
        *db, *secrets_dir;
};

static void layout_clear(struct layout *l)
{
    osm_daemon_paths_clear(&l->paths);
    free(l->data_dir);
    free(l->daemons_socket);
    free(l->agent_socket);
    free(l->exec_policy);
    free(l->jobs_db);
    free(l->jobs_dir);
    free(l->workspace);
    free(l->db);
    free(l->secrets_dir);
}

static int layout_resolve(const struct options *o, struct layout *l)
{
    _cleanup_free_ char *agentd = NULL;
    int r = osm_daemon_paths_resolve("keyd", o->state_dir, o->socket, &l->paths);

    if (r < 0)
        return r;
    l->data_dir = o->data_dir ? strdup(o->data_dir) : osm_path_join(l->paths.state_dir, "keyd");
    agentd = o->agentd_socket ? strdup(o->agentd_socket)
                              : osm_path_join(l->paths.run_dir, "agentd.sock");
    if (!l->data_dir || !agentd)
        return -ENOMEM;
    l->daemons_socket = osm_path_join(dirname(agentd), "agentd-daemons.sock");
    l->agent_socket = osm_path_join(l->paths.run_dir, "keyd-agent.sock");
    l->exec_policy = osm_path_join(l->paths.state_dir, "policy.json");
    l->jobs_db = osm_path_join(l->data_dir, "jobs.db");
    l->jobs_dir = osm_path_join(l->data_dir, "jobs");
    l->workspace = osm_path_join(l->paths.state_dir, "workspace");
    l->db = osm_path_join(l->data_dir, "keyd.db");
    l->secrets_dir = osm_path_join(l->paths.run_dir, "secrets");
    if (!l->daemons_socket || !l->agent_socket || !l->exec_policy || !l->jobs_db || !l->jobs_dir ||
        !l->workspace || !l->db || !l->secrets_dir)
        return -ENOMEM;
    return osm_mkdir_p(l->data_dir, 0700);
}

static int vault_emit(void *ctx, const char *type, const json_t *payload)
{
    return keyd_emit(ctx, type, payload);
}

static int open_vault(struct keyd *k, const struct options *o, const struct layout *l)
{
    struct vault_config vc = {.data_dir = l->data_dir,
                              .key_file = o->key_file,
                              .credentials_dir = getenv("CREDENTIALS_DIRECTORY"),
                              .deliver_dirs = o->deliver_dirs,
                              .credstore_dir =
                                  o->credstore_dir ? o->credstore_dir : DEFAULT_CREDSTORE,
                              .store = k->store,
                              .emit = vault_emit,
                              .emit_ctx = k};
    char err[256] = "";
    int r = vault_open(&vc, &k->vault, err, sizeof(err));

    if (r < 0)
        log_error("daemon.init", "what=vault error=%d reason=\"%s\"", r,
                  err[0] ? err : strerror(-r));
    else
        log_info("vault.open", "unlocked=%s source=\"%s\"", vault_unlocked(k->vault) ? "yes" : "no",
                 vault_source_text(k->vault));
    return r;
}

static int open_parts(struct keyd *k, const struct options *o, const struct layout *l)
{
    char err[256] = "";
    int r;

    if ((r = kstore_open(l->db, &k->store)) < 0 || (r = wallets_init(k->store)) < 0 ||
        (r = kpolicy_store_init(k->store)) < 0 ||
        (r = receipts_start(k->store, &k->receipts)) < 0) {
        log_error("daemon.init", "what=keyd.db path=%s error=%d", l->db, r);
        return r;
    }
    if ((r = open_vault(k, o, l)) < 0)
        return r;
    if (access(k->lockdown_path, F_OK) == 0)
        keyd_lockdown(k, "start"); /* the lockdown file outlives a restart */
    if ((r = keyd_policy_reload(k, err, sizeof(err))) < 0)
        log_error("daemon.init", "what=policy path=%s error=%d reason=\"%s\"", k->policy_path, r,
                  err);
    return r;
}

static void close_parts(struct keyd *k)
{
    receipts_stop(k->receipts);
    kpolicy_free(k->policy);
    vault_free(k->vault);
    kstore_close(k->store);
}

/* The executor and both sockets (lib/exec/servers.h), and the tool table they serve. */
struct servers {
    struct osm_exec_servers x;
    struct osm_exec_tool *tools;
};

static int start_servers(struct keyd *k, const struct layout *l, struct servers *s)
{
    const char *const own[] = {l->data_dir, NULL};
    // clang-format off
    struct osm_exec_servers_config cfg = {
        .exec = {.daemon = "keyd", .userdata = k, .policy_path = l->exec_policy,
                 .lockdown_path = k->lockdown_path,
                 .jobs = {.jobs_dir = l->jobs_dir, .workspace = l->workspace}},
        .state_dir = l->paths.state_dir, .run_dir = l->paths.run_dir, .own = own,
        .operator_socket = l->paths.socket, .agent_socket = l->agent_socket};
    // clang-format on
    char err[256] = "";
    int r;

    cfg.exec.routes = keyd_api_routes(&cfg.exec.n_routes);
    if ((r = keyd_tool_table(&s->tools, &cfg.exec.n_tools)) < 0)
        return r;
    cfg.exec.tools = s->tools;
    if ((r = osm_exec_servers_connect(&s->x, l->daemons_socket, l->jobs_db, err, sizeof(err))) == 0)
        r = osm_exec_servers_start(&s->x, &cfg, err, sizeof(err));
    if (r < 0)
        log_error("daemon.init", "what=servers error=%d reason=\"%s\"", r, err);
    return r;
}

static void servers_stop(struct servers *s)
{
    osm_exec_servers_stop(&s->x);
    free(s->tools);
}

static void reload(struct keyd *k, struct servers *s)
{
    char err[256] = "";

    if (keyd_policy_reload(k, err, sizeof(err)) < 0)
        log_warn("daemon.reload", "what=keyd-policy reason=\"%s\" note=\"old policy kept\"", err);
    if (osm_exec_reload(s->x.exec, err, sizeof(err)) < 0)
        log_warn("daemon.reload", "what=policy reason=\"%s\"", err);
}

static int serve(const struct options *o, struct layout *l)
{
    struct keyd k = {.run_dir = l->paths.run_dir,
                     .state_dir = l->paths.state_dir,
                     .data_dir = l->data_dir,
                     .daemons_socket = l->daemons_socket};
    struct servers s = {0};
    sigset_t set;
    int r, sig;

    k.policy_path =
        o->policy_file ? strdup(o->policy_file) : osm_path_join(l->data_dir, "policy.json");
    k.lockdown_path = osm_path_join(l->paths.state_dir, "lockdown");
    if (!k.policy_path || !k.lockdown_path)
        return -ENOMEM;
    pthread_rwlock_init(&k.policy_lock, NULL);
    osm_daemon_block_signals(&set);
    if ((r = open_parts(&k, o, l)) == 0 && (r = start_servers(&k, l, &s)) == 0) {
        log_info("daemon.start", "socket=%s agent_socket=%s data_dir=%s vault=\"%s\"",
                 l->paths.socket, l->agent_socket, l->data_dir, vault_source_text(k.vault));
        osm_daemon_notify_ready(o->ready_fd);
        while ((sig = osm_daemon_wait_signal(&set)) == SIGHUP)
            reload(&k, &s);
        log_info("daemon.stop", "signal=%d", sig);
    }
    servers_stop(&s);
    close_parts(&k);
    pthread_rwlock_destroy(&k.policy_lock);
    free(k.policy_path);
    free(k.lockdown_path);
    return r;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct layout l = {0};
    int r;

    osm_log_set_ident("keyd");
    if ((r = secmem_harden_process()) < 0) {
        log_error("daemon.init", "what=harden error=%d reason=\"%s\"", r, strerror(-r));
        return 1;
    }
    if ((r = parse_args(argc, argv, &o)) != 0) {
        if (r < 0)
            usage(stderr);
        return r < 0 ? 2 : 0;
    }
    if ((r = layout_resolve(&o, &l)) < 0) {
        log_error("daemon.init", "what=paths error=%d reason=\"%s\"", r, strerror(-r));
    } else {
        if (o.n_deliver == 0)
            o.deliver_dirs[o.n_deliver++] = l.secrets_dir;
        r = serve(&o, &l);
    }
    layout_clear(&l);
    return r < 0 ? 1 : 0;
}
