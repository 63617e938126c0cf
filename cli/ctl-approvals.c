/* agentctl approvals / approve / deny: the operator's side of agentd's approval gate, over the
 * operator socket. agentd takes the decider from the socket peer (SO_PEERCRED), so these verbs
 * work only as root or as agentd's own user. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ipc/http_client.h"

#define APPROVAL_TTL_MAX (30 * 86400)

/* Sends one request; prints the error and returns CTL_FAILED unless agentd answered 2xx with
 * JSON (then *reply holds it). */
static int call(const struct ctl *c, const char *method, const char *path, const json_t *body,
                struct osm_http_reply *reply)
{
    int r = osm_http_call(c->socket, method, path, body, 0, reply);
    const char *msg;

    if (r == -ENOENT || r == -ECONNREFUSED)
        return ctl_fail("agentd is not running: nothing listens on %s", c->socket);
    if (r < 0)
        return ctl_fail("cannot reach agentd at %s: %s", c->socket, strerror(-r));
    if (reply->status < 200 || reply->status >= 300 || !reply->json) {
        msg = json_string_value(json_object_get(reply->json, "message"));
        return ctl_fail("agentd answered %s %s with HTTP %ld%s%s", method, path, reply->status,
                        msg ? ": " : "", msg ? msg : "");
    }
    return CTL_OK;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "-";
}

static int approvals_exec(const struct ctl *c, const struct ctl_args *a)
{
    struct osm_http_reply reply = {0};
    size_t i;
    json_t *item;
    int r = call(c, "GET", "/approval/pending", NULL, &reply);

    if (r == CTL_OK && c->json)
        r = ctl_print_json(reply.json);
    else if (r == CTL_OK && json_array_size(reply.json) == 0)
        printf("No pending approvals.\n");
    else if (r == CTL_OK) {
        printf("%-36s  %-24s  %-16s  %s\n", "ID", "EXPIRES", "ACTOR", "COMMAND");
        json_array_foreach(reply.json, i, item)
            printf("%-36s  %-24s  %-16s  %s\n", str(item, "id"), str(item, "expires_at"),
                   str(item, "actor"), str(item, "command"));
    }
    osm_http_reply_clear(&reply);
    return r;
}

/* approve and deny share the request; mode "always" and ttl only for approve. */
static int decide(const struct ctl *c, const struct ctl_args *a, const struct ctl_verb *v,
                  bool approve)
{
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    char path[256];
    int64_t ttl = 0;
    int r;

    if (strlen(a->pos[0]) > 64 || strpbrk(a->pos[0], "/?#% "))
        return ctl_usage(v, "'%s' is not an approval id", a->pos[0]);
    if (approve && a->opt[1] && !a->opt[0])
        return ctl_usage(v, "--ttl applies only with --always");
    if (approve && a->opt[1] &&
        (r = ctl_parse_int(v, "--ttl", a->opt[1], 1, APPROVAL_TTL_MAX, &ttl)) != CTL_OK)
        return r;
    if (approve)
        json_object_set_new(body, "mode", json_string(a->opt[0] ? "always" : "once"));
    if (ttl > 0)
        json_object_set_new(body, "ttl_secs", json_integer(ttl));
    snprintf(path, sizeof(path), "/approval/%s/%s", a->pos[0], approve ? "approve" : "deny");
    r = call(c, "POST", path, body, &reply);
    if (r == CTL_OK && c->json)
        r = ctl_print_json(reply.json);
    else if (r == CTL_OK)
        printf("%s %s%s%s\n", approve ? "Approved" : "Denied", str(reply.json, "id"),
               approve && a->opt[0] ? " (always, for identical calls)" : "",
               json_object_get(reply.json, "job_error") ? " — but its job could not be updated"
                                                        : "");
    osm_http_reply_clear(&reply);
    return r;
}

static int approve_exec(const struct ctl *c, const struct ctl_args *a)
{
    return decide(c, a, &ctl_verb_approve, true);
}

static int deny_exec(const struct ctl *c, const struct ctl_args *a)
{
    return decide(c, a, &ctl_verb_deny, false);
}

static const struct ctl_opt approve_opts[] = {
    {"always", NULL, "also allow identical later calls (same tool and arguments) until --ttl"},
    {"ttl", "S", "lifetime of an --always grant in seconds (default 3600)"},
    {NULL, NULL, NULL},
};

const struct ctl_verb ctl_verb_approvals = {
    .name = "approvals",
    .args = "",
    .summary = "List the tool calls waiting for an operator's approval",
    .exec = approvals_exec,
};

const struct ctl_verb ctl_verb_approve = {
    .name = "approve",
    .args = "ID",
    .summary = "Approve a pending tool call (it then runs as a job)",
    .opts = approve_opts,
    .min_pos = 1,
    .max_pos = 1,
    .exec = approve_exec,
};

const struct ctl_verb ctl_verb_deny = {
    .name = "deny",
    .args = "ID",
    .summary = "Deny a pending tool call",
    .min_pos = 1,
    .max_pos = 1,
    .exec = deny_exec,
};
