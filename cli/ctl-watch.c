/* agentctl stop | freeze | thaw | lockdown | unlock | fim: osmoda-watch's emergency controls
 * and file integrity monitor, over watch.sock (the operator's socket, beside agentd's unless
 * --watch-socket says otherwise). unlock works only as root: watch checks the caller's uid. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "ctl.h"
#include "ipc/http_client.h"

#define WATCH_SOCKET_NAME "watch.sock"
#define WATCH_TIMEOUT_MS 120000 /* a STOP waits out the agents' grace period */

/* The socket: --watch-socket, else watch.sock beside agentd's socket (new string). */
static char *watch_socket(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_free_ char *dir = NULL;

    if (a->opt[0])
        return strdup(a->opt[0]);
    if (!(dir = strdup(c->socket)))
        return NULL;
    return osm_path_join(dirname(dir), WATCH_SOCKET_NAME);
}

/* One request to watch; prints the error and returns CTL_FAILED unless it answered 2xx JSON. */
static int call(const struct ctl *c, const struct ctl_args *a, const char *method, const char *path,
                const json_t *body, struct osm_http_reply *reply)
{
    _cleanup_free_ char *sock = watch_socket(c, a);
    const char *msg;
    int r;

    if (!sock)
        return ctl_fail("out of memory");
    r = osm_http_call(sock, method, path, body, WATCH_TIMEOUT_MS, reply);
    if (r == -ENOENT || r == -ECONNREFUSED)
        return ctl_fail("osmoda-watch is not running: nothing listens on %s", sock);
    if (r < 0)
        return ctl_fail("cannot reach osmoda-watch at %s: %s", sock, strerror(-r));
    if (reply->status < 200 || reply->status >= 300 || !reply->json) {
        msg = json_string_value(json_object_get(reply->json, "message"));
        return ctl_fail("osmoda-watch answered %s %s with HTTP %ld%s%s", method, path,
                        reply->status, msg ? ": " : "", msg ? msg : "");
    }
    return CTL_OK;
}

static size_t count(const json_t *o, const char *key)
{
    return json_array_size(json_object_get(o, key));
}

static void print_summary(const char *what, const json_t *o)
{
    printf("%s: %zu process(es)", what, count(o, "pids"));
    if (json_object_get(o, "terminated"))
        printf(", %lld ended on SIGTERM, %lld killed, %zu remaining",
               json_integer_value(json_object_get(o, "terminated")),
               json_integer_value(json_object_get(o, "killed")), count(o, "remaining"));
    if (json_object_get(o, "method"))
        printf(", method %s", json_string_value(json_object_get(o, "method")));
    printf("\n");
}

static int control(const struct ctl *c, const struct ctl_args *a, const char *path, json_t *body,
                   const char *what)
{
    struct osm_http_reply reply = {0};
    int r = call(c, a, "POST", path, body, &reply);

    json_decref(body);
    if (r == CTL_OK) {
        if (c->json)
            r = ctl_print_json(reply.json);
        else if (strcmp(what, "lockdown") == 0) {
            print_summary("lockdown: agents killed", reply.json);
            printf("workspace: %s\negress: %s\nvault: %s\n",
                   json_string_value(json_object_get(reply.json, "workspace")),
                   json_string_value(json_object_get(reply.json, "egress")),
                   json_string_value(json_object_get(reply.json, "vault")));
        } else
            print_summary(what, reply.json);
    }
    osm_http_reply_clear(&reply);
    return r;
}

static const struct ctl_opt sock_opt[] = {
    {"watch-socket", "PATH", "osmoda-watch's socket (default: watch.sock beside agentd's)"},
    {NULL, NULL, NULL},
};

static const struct ctl_opt stop_opts[] = {
    {"watch-socket", "PATH", "osmoda-watch's socket (default: watch.sock beside agentd's)"},
    {"grace-ms", "MS", "time the agents get to exit after SIGTERM (default 5000)"},
    {NULL, NULL, NULL},
};

static const struct ctl_opt lockdown_opts[] = {
    {"watch-socket", "PATH", "osmoda-watch's socket (default: watch.sock beside agentd's)"},
    {"reason", "TEXT", "why (recorded in the ledger and the lockdown file)"},
    {NULL, NULL, NULL},
};

static int exec_stop(const struct ctl *c, const struct ctl_args *a)
{
    int64_t grace = 0;
    json_t *body = json_object();

    if (a->opt[1]) {
        int r = ctl_parse_int(&ctl_verb_stop, "--grace-ms", a->opt[1], 0, 60000, &grace);
        if (r != CTL_OK) {
            json_decref(body);
            return r;
        }
        json_object_set_new(body, "grace_ms", json_integer(grace));
    }
    return control(c, a, "/emergency/stop", body, "stopped");
}

static int exec_freeze(const struct ctl *c, const struct ctl_args *a)
{
    return control(c, a, "/emergency/freeze", json_object(), "frozen");
}

static int exec_thaw(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    int r = call(c, a, "POST", "/emergency/thaw", body, &reply);

    if (r == CTL_OK)
        r = c->json ? ctl_print_json(reply.json) : (printf("thawed\n"), CTL_OK);
    osm_http_reply_clear(&reply);
    return r;
}

static int exec_lockdown(const struct ctl *c, const struct ctl_args *a)
{
    json_t *body = json_object();

    if (a->opt[1])
        json_object_set_new(body, "reason", json_string(a->opt[1]));
    return control(c, a, "/emergency/lockdown", body, "lockdown");
}

static int exec_unlock(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    int r = call(c, a, "POST", "/emergency/unlock", body, &reply);

    if (r == CTL_OK)
        r = c->json ? ctl_print_json(reply.json) : (printf("lockdown lifted\n"), CTL_OK);
    osm_http_reply_clear(&reply);
    return r;
}

static void print_changes(const char *label, const json_t *list)
{
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        const char *old = json_string_value(json_object_get(e, "old_sha256"));
        const char *new = json_string_value(json_object_get(e, "new_sha256"));
        printf("%-8s %s  %.12s -> %.12s\n", label, json_string_value(json_object_get(e, "path")),
               old ? old : "-", new ? new : "-");
    }
}

static const struct ctl_opt fim_opts[] = {
    {"watch-socket", "PATH", "osmoda-watch's socket (default: watch.sock beside agentd's)"},
    {"accept", "PATH", "verify: accept the current state of PATH into the baseline"},
    {NULL, NULL, NULL},
};

static int fim_verify(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    size_t bad;
    int r;

    if (a->opt[1])
        json_object_set_new(body, "accept", json_pack("[s]", a->opt[1]));
    if ((r = call(c, a, "POST", "/fim/verify", body, &reply)) != CTL_OK)
        return r;
    bad = count(reply.json, "changed") + count(reply.json, "missing") + count(reply.json, "new");
    if (c->json)
        r = ctl_print_json(reply.json);
    else {
        printf("checked %lld files\n", json_integer_value(json_object_get(reply.json, "checked")));
        print_changes("changed", json_object_get(reply.json, "changed"));
        print_changes("missing", json_object_get(reply.json, "missing"));
        print_changes("new", json_object_get(reply.json, "new"));
        printf(bad ? "%zu unexpected change(s)\n" : "no unexpected change\n", bad);
    }
    osm_http_reply_clear(&reply);
    return r != CTL_OK ? r : bad ? CTL_FAILED : CTL_OK;
}

static int fim_status(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    int r = call(c, a, "GET", "/fim/status", NULL, &reply);
    size_t i;
    json_t *p;

    if (r == CTL_OK && c->json)
        r = ctl_print_json(reply.json);
    else if (r == CTL_OK) {
        printf("files %lld, alerts %lld\n",
               json_integer_value(json_object_get(reply.json, "files")),
               json_integer_value(json_object_get(reply.json, "alert_count")));
        json_array_foreach(json_object_get(reply.json, "paths"), i, p)
            printf("watching %s\n", json_string_value(p));
        print_changes("alert", json_object_get(reply.json, "alerts"));
    }
    osm_http_reply_clear(&reply);
    return r;
}

static int exec_fim(const struct ctl *c, const struct ctl_args *a)
{
    if (strcmp(a->pos[0], "verify") == 0)
        return fim_verify(c, a);
    if (strcmp(a->pos[0], "status") == 0 && !a->opt[1])
        return fim_status(c, a);
    return ctl_usage(&ctl_verb_fim, "'fim' takes 'verify [--accept PATH]' or 'status'");
}

const struct ctl_verb ctl_verb_stop = {"stop",
                                       "",
                                       "stop the agent's processes (SIGTERM, then "
                                       "SIGKILL after the grace period)",
                                       stop_opts,
                                       0,
                                       0,
                                       exec_stop};
const struct ctl_verb ctl_verb_freeze = {"freeze",
                                         "",
                                         "suspend the agent's processes, keeping "
                                         "their state",
                                         sock_opt,
                                         0,
                                         0,
                                         exec_freeze};
const struct ctl_verb ctl_verb_thaw = {"thaw",   "", "resume what freeze suspended", sock_opt, 0, 0,
                                       exec_thaw};
const struct ctl_verb ctl_verb_lockdown = {"lockdown",
                                           "",
                                           "kill the agents, block egress, lock "
                                           "the vault and the workspace, refuse "
                                           "every agent tool call",
                                           lockdown_opts,
                                           0,
                                           0,
                                           exec_lockdown};
const struct ctl_verb ctl_verb_unlock = {
    "unlock", "", "lift a lockdown (root only)", sock_opt, 0, 0, exec_unlock};
const struct ctl_verb ctl_verb_fim = {"fim",
                                      "verify|status",
                                      "file integrity: rescan against "
                                      "the baseline, or show alerts",
                                      fim_opts,
                                      1,
                                      1,
                                      exec_fim};
