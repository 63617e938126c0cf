/* agentctl approvals / approve / deny: the operator's side of agentd's approval gate, over the
 * operator socket. agentd takes the decider from the socket peer (SO_PEERCRED), so these verbs
 * work only as root or as agentd's own user. Everything an agent could have chosen (commands,
 * paths, file content) is printed with control characters and bidirectional overrides escaped,
 * so that it cannot rewrite the operator's terminal. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ipc/http_client.h"
#include "policy/preview.h"

#define SHOWN_MAX (64 * 1024) /* bytes of one field or preview text printed */

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

/* s as printed: escaped (see the top); one line unless multiline. New string. */
static char *shown(const char *s, bool multiline)
{
    _cleanup_free_ char *flat = NULL;
    size_t n = 0;
    bool cut;

    if (!multiline) {
        flat = malloc(2 * strlen(s) + 1);
        if (!flat)
            return NULL;
        for (const char *p = s; *p; p++)
            if (*p == '\n')
                flat[n++] = '\\', flat[n++] = 'n';
            else
                flat[n++] = *p;
        flat[n] = '\0';
        s = flat;
    }
    return osm_preview_escape(s, strlen(s), SHOWN_MAX, &cut);
}

/* Prints s escaped, or "-" when missing. */
static void put(const char *s, int width)
{
    _cleanup_free_ char *text = s ? shown(s, false) : NULL;

    printf("%-*s", width, text ? text : "-");
}

static void put_id(const char *label, json_int_t id, bool user)
{
    struct passwd *pw = user ? getpwuid((uid_t)id) : NULL;
    struct group *gr = user ? NULL : getgrgid((gid_t)id);
    const char *name = pw ? pw->pw_name : gr ? gr->gr_name : "?";

    printf(" %s %s (%" JSON_INTEGER_FORMAT ")", label, name, id);
}

/* Every line of text, escaped and indented. */
static void put_block(const char *text)
{
    _cleanup_free_ char *esc = shown(text, true);

    for (char *line = esc; line && *line;) {
        char *nl = strchr(line, '\n');
        printf("      | %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
}

/* What a held file call would do: target, owner, mode, sizes, then the diff or head. */
static void print_preview(const json_t *p)
{
    const json_t *dirs = json_object_get(p, "create_dirs"), *d;
    const char *error = json_string_value(json_object_get(p, "error"));
    size_t i;

    if (!json_is_object(p))
        return;
    printf("    ");
    put(json_string_value(json_object_get(p, "action")), 0);
    printf(" ");
    put(json_string_value(json_object_get(p, "target")), 0);
    if (error) {
        printf(": ");
        put(error, 0);
        printf("\n");
        return;
    }
    if (json_object_get(p, "uid")) {
        put_id("owner", json_integer_value(json_object_get(p, "uid")), true);
        put_id("group", json_integer_value(json_object_get(p, "gid")), false);
        printf(" mode %s", json_string_value(json_object_get(p, "mode"))
                               ? json_string_value(json_object_get(p, "mode"))
                               : "-");
    }
    if (json_object_get(p, "size_before"))
        printf(", %" JSON_INTEGER_FORMAT " bytes now",
               json_integer_value(json_object_get(p, "size_before")));
    if (json_object_get(p, "size_after"))
        printf(", %" JSON_INTEGER_FORMAT " bytes after",
               json_integer_value(json_object_get(p, "size_after")));
    printf("\n");
    json_array_foreach(dirs, i, d)
    {
        printf("    creates directory ");
        put(json_string_value(d), 0);
        printf("\n");
    }
    if (json_is_string(json_object_get(p, "summary"))) {
        printf("    ");
        put(json_string_value(json_object_get(p, "summary")), 0);
        printf("\n");
    }
    if (json_is_true(json_object_get(p, "identical")))
        printf("    (the content is unchanged)\n");
    if (json_is_string(json_object_get(p, "diff")))
        put_block(json_string_value(json_object_get(p, "diff")));
    if (json_is_string(json_object_get(p, "head")))
        put_block(json_string_value(json_object_get(p, "head")));
    if (json_is_true(json_object_get(p, "truncated")))
        printf("      (preview truncated)\n");
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
        {
            put(str(item, "id"), 36);
            printf("  ");
            put(str(item, "expires_at"), 24);
            printf("  ");
            put(str(item, "actor"), 16);
            printf("  ");
            put(str(item, "command"), 0);
            printf("\n");
            print_preview(json_object_get(item, "preview"));
        }
    }
    osm_http_reply_clear(&reply);
    return r;
}

/* approve's options: opt[0] --always, opt[1] --ttl, opt[2] --path, opt[3] --prefix. */
enum { OPT_ALWAYS, OPT_TTL, OPT_PATH, OPT_PREFIX };

/* The body of an approval: mode, and for --always its TTL and what the grant covers. */
static int approve_body(const struct ctl_verb *v, const struct ctl_args *a, json_t *body)
{
    int64_t ttl = 0;
    int r;

    if (!a->opt[OPT_ALWAYS] && (a->opt[OPT_TTL] || a->opt[OPT_PATH] || a->opt[OPT_PREFIX]))
        return ctl_usage(v, "--ttl, --path and --prefix apply only with --always");
    if (a->opt[OPT_PATH] && a->opt[OPT_PREFIX])
        return ctl_usage(v, "--path and --prefix exclude each other");
    if (a->opt[OPT_TTL] &&
        (r = ctl_parse_int(v, "--ttl", a->opt[OPT_TTL], 1, APPROVAL_TTL_MAX, &ttl)) != CTL_OK)
        return r;
    json_object_set_new(body, "mode", json_string(a->opt[OPT_ALWAYS] ? "always" : "once"));
    if (ttl > 0)
        json_object_set_new(body, "ttl_secs", json_integer(ttl));
    if (a->opt[OPT_PATH])
        json_object_set_new(body, "scope", json_string("path"));
    if (a->opt[OPT_PREFIX]) {
        json_object_set_new(body, "scope", json_string("prefix"));
        json_object_set_new(body, "prefix", json_string(a->opt[OPT_PREFIX]));
    }
    return CTL_OK;
}

static const char *grant_words(const struct ctl_args *a)
{
    if (!a->opt[OPT_ALWAYS])
        return "";
    if (a->opt[OPT_PATH])
        return " (always, for this tool on this path)";
    if (a->opt[OPT_PREFIX])
        return " (always, for this tool under the prefix)";
    return " (always, for identical calls)";
}

/* approve and deny share the request; the grant options only for approve. */
static int decide(const struct ctl *c, const struct ctl_args *a, const struct ctl_verb *v,
                  bool approve)
{
    struct osm_http_reply reply = {0};
    json_auto_t *body = json_object();
    char path[256];
    int r;

    if (strlen(a->pos[0]) > 64 || strpbrk(a->pos[0], "/?#% "))
        return ctl_usage(v, "'%s' is not an approval id", a->pos[0]);
    if (approve && (r = approve_body(v, a, body)) != CTL_OK)
        return r;
    snprintf(path, sizeof(path), "/approval/%s/%s", a->pos[0], approve ? "approve" : "deny");
    r = call(c, "POST", path, body, &reply);
    if (r == CTL_OK && c->json)
        r = ctl_print_json(reply.json);
    else if (r == CTL_OK)
        printf("%s %s%s%s\n", approve ? "Approved" : "Denied", str(reply.json, "id"),
               approve ? grant_words(a) : "",
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
    [OPT_ALWAYS] = {"always", NULL,
                    "also allow identical later calls (same tool and arguments) until --ttl"},
    [OPT_TTL] = {"ttl", "S", "lifetime of an --always grant in seconds (default 3600)"},
    [OPT_PATH] = {"path", NULL, "with --always: the same tool on the held call's path"},
    [OPT_PREFIX] = {"prefix", "DIR",
                    "with --always: the same tool on any path under DIR (which must hold the "
                    "held call's path)"},
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
