/* osmoda-notesd: the smallest daemon built on lib/exec, shown in docs/new-daemon.md. It keeps
 * notes in memory, serves three routes on its operator socket and gives agents two tools on its
 * agent socket: notes_list (read: runs at once, through the GET /notes route) and notes_clear
 * (irreversible: held until a person approves it on agentd). */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/fileio.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "exec/remote.h"
#include "ipc/errors.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *notes; /* array of strings, under lock */

static json_t *health(struct osm_request *req)
{
    return json_pack("{s:s}", "status", "ok");
}

static json_t *notes_get(struct osm_request *req)
{
    pthread_mutex_lock(&lock);
    json_t *copy = json_deep_copy(notes);
    pthread_mutex_unlock(&lock);
    return copy;
}

static json_t *notes_add(struct osm_request *req)
{
    const char *text;
    json_t *err = osm_request_unpack(req, "{s:s}", "text", &text);

    if (err)
        return err;
    pthread_mutex_lock(&lock);
    json_array_append_new(notes, json_string(text));
    pthread_mutex_unlock(&lock);
    req->status = 201;
    return json_pack("{s:s}", "text", text);
}

static const struct osm_route routes[] = {
    {"GET", "/health", health, 0},
    {"GET", "/notes", notes_get, 0},
    {"POST", "/notes", notes_add, OSM_ROUTE_BODY},
};

static json_t *notes_clear(struct osm_exec_call *call, const char **ret_error)
{
    pthread_mutex_lock(&lock);
    size_t n = json_array_size(notes);
    json_array_clear(notes);
    pthread_mutex_unlock(&lock);
    return json_pack("{s:I}", "cleared", (json_int_t)n);
}

// clang-format off
#define NO_ARGS "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
static const struct osm_tool tools[] = {
    {.name = "notes_list", .description = "List the notes.", .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "notesd", .method = "GET", .path = "/notes"},
    {.name = "notes_clear", .description = "Delete every note.", .input_schema = NO_ARGS,
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "notesd"},
};
static const struct osm_exec_tool exec_tools[] = {{.tool = &tools[0]},
                                                  {.tool = &tools[1], .run = notes_clear}};
// clang-format on

/* agentd's daemons socket is beside ours, as every socket of the suite. */
static int serve(struct osm_daemon_paths *p)
{
    _cleanup_free_ char *agentd = osm_path_join(p->run_dir, "agentd-daemons.sock");
    _cleanup_free_ char *db = osm_path_join(p->state_dir, "notesd-jobs.db");
    _cleanup_free_ char *policy = osm_path_join(p->state_dir, "policy.json");
    _cleanup_free_ char *jobs = osm_path_join(p->state_dir, "notesd-jobs");
    _cleanup_free_ char *agent = osm_path_join(p->run_dir, "notesd-agent.sock");
    // clang-format off
    struct osm_exec_config cfg = {.daemon = "notesd", .tools = exec_tools, .n_tools = 2,
                                  .routes = routes, .n_routes = 3, .policy_path = policy,
                                  .jobs = {.jobs_dir = jobs, .workspace = jobs}};
    struct osm_http_server_config ops = {.routes = routes, .n_routes = 3, .operator = true};
    // clang-format on
    struct osm_http_server *op = NULL, *ag = NULL;
    struct osm_exec_remote *rem = NULL;
    struct osm_exec *exec = NULL;
    char err[256] = "";
    sigset_t set;
    int r;

    osm_daemon_block_signals(&set);
    r = osm_exec_remote_new(agentd, db, &rem);
    if (r == 0) {
        osm_exec_remote_config(rem, &cfg);
        r = osm_exec_new(&cfg, &exec, err, sizeof(err));
    }
    if (r == 0 && (r = osm_exec_remote_start(rem, exec)) == 0 &&
        (r = osm_http_server_start_unix(&ops, p->socket, 0600, &op)) == 0)
        r = osm_exec_serve_agent(exec, agent, &ag);
    if (r == 0) {
        log_info("daemon.start", "socket=%s agent_socket=%s", p->socket, agent);
        while (osm_daemon_wait_signal(&set) == SIGHUP)
            osm_exec_reload(exec, err, sizeof(err));
    } else {
        log_error("daemon.init", "error=%d reason=\"%s\"", r, err[0] ? err : strerror(-r));
    }
    osm_http_server_stop(ag);
    osm_http_server_stop(op);
    osm_exec_remote_stop(rem);
    osm_exec_free(exec);
    osm_exec_remote_free(rem);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    const char *flags[2] = {NULL, NULL}; /* --socket, --state-dir */
    struct osm_daemon_paths paths;
    int c, r;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (c == 's' || c == 'd')
            flags[c == 'd'] = optarg;
        else
            return 2;
    osm_log_set_ident("notesd");
    notes = json_array();
    if (osm_daemon_paths_resolve("notesd", flags[1], flags[0], &paths) < 0)
        return 2;
    r = serve(&paths);
    osm_daemon_paths_clear(&paths);
    json_decref(notes);
    return r;
}
