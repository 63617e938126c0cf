/* The tool policy: loading policy.json, protected paths, secrets, first-match rules and the
 * defaults (contract in policy.h; the path arguments are resolved and checked in paths.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/utf8.h"
#include "policy-internal.h"

#define SYMLINK_DEPTH_MAX 40

static const char *const shell_tools[] = {"shell_exec", "run_command", "sandbox_exec"};

static const char *const decision_names[] = {
    [OSM_POLICY_ALLOW] = "allow",
    [OSM_POLICY_APPROVE] = "approve",
    [OSM_POLICY_DENY] = "deny",
};

const char *osm_policy_decision_name(enum osm_policy_decision d)
{
    return (size_t)d < ELEMENTSOF(decision_names) ? decision_names[d] : "deny";
}

bool osm_policy_is_shell_tool(const char *tool)
{
    for (size_t i = 0; tool && i < ELEMENTSOF(shell_tools); i++)
        if (strcmp(tool, shell_tools[i]) == 0)
            return true;
    return false;
}

char *osm_policy_normalize_command(const char *command)
{
    size_t len = strlen(command);
    char *out = malloc(len + 1), *o = out;
    bool space = false;

    if (!out)
        return NULL;
    for (const char *s = command; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '\'' || c == '"')
            continue;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            space = o != out;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    *o = '\0';
    return out;
}

/* ---- paths ------------------------------------------------------------------------------ */

/* Removes the last component of the absolute path in buf ("/" stays "/"). */
static void path_pop(char *buf)
{
    char *slash = strrchr(buf, '/');

    if (slash == buf)
        buf[1] = '\0';
    else if (slash)
        *slash = '\0';
}

static int path_push(char *buf, const char *comp, size_t len)
{
    size_t n = strlen(buf);
    bool root = n == 1;

    if (n + !root + len >= PATH_MAX)
        return -ENAMETOOLONG;
    if (!root)
        buf[n++] = '/';
    memcpy(buf + n, comp, len);
    buf[n + len] = '\0';
    return 0;
}

static int normalize(const char *path, char *buf, int depth);

/* buf ends in a symlink: replaces buf by its resolved target. */
static int follow_link(char *buf, int depth)
{
    char target[PATH_MAX], joined[PATH_MAX];
    ssize_t n;

    if (depth >= SYMLINK_DEPTH_MAX)
        return -ELOOP;
    n = readlink(buf, target, sizeof(target) - 1);
    if (n < 0)
        return -errno;
    target[n] = '\0';
    if (target[0] == '/')
        return normalize(target, buf, depth + 1);
    path_pop(buf);
    if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", buf, target) >= sizeof(joined))
        return -ENAMETOOLONG;
    return normalize(joined, buf, depth + 1);
}

/* Resolves path component by component into buf (PATH_MAX). */
static int normalize(const char *path, char *buf, int depth)
{
    const char *p = path;
    struct stat st;
    int r;

    if (path[0] == '/')
        strcpy(buf, "/");
    else if (!getcwd(buf, PATH_MAX))
        return -errno;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);

        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            path_pop(buf);
        } else {
            if ((r = path_push(buf, p, len)) < 0)
                return r;
            if (lstat(buf, &st) == 0 && S_ISLNK(st.st_mode) && (r = follow_link(buf, depth)) < 0)
                return r;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

char *osm_policy_normalize_path(const char *path)
{
    char buf[PATH_MAX];

    if (!path || !*path || normalize(path, buf, 0) < 0)
        return NULL;
    return strdup(buf);
}

/* True when path is at or under prefix (both normalised). */
static bool path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strcmp(prefix, "/") == 0)
        return true;
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- deciding --------------------------------------------------------------------------- */

void policy_verdict(struct osm_policy_verdict *v, enum osm_policy_decision d, const char *rule,
                    const char *detail)
{
    v->decision = d;
    snprintf(v->rule, sizeof(v->rule), "%s", rule);
    snprintf(v->detail, sizeof(v->detail), "%s", detail ? detail : "");
    osm_utf8_scrub(v->detail, strlen(v->detail)); /* paths are bytes; the detail is JSON text */
}

/* path_prefix: an allow rule needs every path argument under it, the others any. */
static bool prefix_matches(const struct rule *r, const struct policy_paths *pp)
{
    size_t under = 0;

    for (size_t i = 0; i < pp->n; i++)
        under += path_under(pp->items[i].path, r->path_prefix);
    if (r->decision == OSM_POLICY_ALLOW)
        return pp->n > 0 && under == pp->n;
    return under > 0;
}

static bool rule_matches(const struct rule *r, const struct osm_policy_query *q,
                         const struct policy_paths *pp, const char *command, const char *norm_cmd)
{
    if (r->tool && strcmp(r->tool, "*") != 0 && strcmp(r->tool, q->tool) != 0)
        return false;
    if (r->cls >= 0 && r->cls != (int)q->cls)
        return false;
    if (r->ring && r->ring != q->ring)
        return false;
    if (r->path_prefix && !prefix_matches(r, pp))
        return false;
    if (r->destructive && !(command && osm_policy_destructive(command, NULL)))
        return false;
    if (r->command_pattern && !(norm_cmd && strstr(norm_cmd, r->command_pattern)))
        return false;
    return true;
}

/* The command text naming a protected path: an early warning (the sandbox hides them). */
static bool decide_command_protected(const struct osm_policy *p, const char *command,
                                     struct osm_policy_verdict *ret)
{
    for (size_t i = 0; command && i < p->n_protected; i++)
        if (strstr(command, p->protected_paths[i])) {
            policy_verdict(ret, OSM_POLICY_DENY, "protected", p->protected_paths[i]);
            return true;
        }
    return false;
}

/* A write to a host path outside the workspace is privileged: a person approves it. */
static bool decide_host_write(const struct policy_paths *pp, struct osm_policy_verdict *ret)
{
    for (size_t i = 0; i < pp->n; i++)
        if (pp->items[i].use == POLICY_PATH_WRITE && !pp->items[i].in_workspace) {
            policy_verdict(ret, OSM_POLICY_APPROVE, "default:host-write", pp->items[i].path);
            return true;
        }
    return false;
}

/* Where root runs code from: a write there has done its harm before any rollback, so it is
 * never "managed config" whatever the operator listed. */
static const char *const root_exec_paths[] = {
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/crontab",
    "/var/spool/cron",
    "/etc/anacrontab",
    "/etc/systemd",
    "/usr/lib/systemd",
    "/lib/systemd",
    "/run/systemd",
    "/etc/init.d",
    "/etc/rc.local",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/pam.d",
    "/etc/security",
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/apt/apt.conf.d",
    "/etc/logrotate.d",
    "/etc/udev",
    "/usr/lib/udev",
    "/etc/modprobe.d",
    "/etc/update-motd.d",
    "/etc/ssh",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/nsswitch.conf",
    "/etc/polkit-1",
    "/etc/dbus-1",
    "/etc/network/if-up.d",
    "/etc/NetworkManager/dispatcher.d",
    "/root",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib",
    "/usr/local/lib",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/boot",
};

static bool root_exec_path(const char *path)
{
    for (size_t i = 0; i < ELEMENTSOF(root_exec_paths); i++)
        if (path_under(path, root_exec_paths[i]))
            return true;
    return false;
}

static bool managed_path(const struct osm_policy *p, const char *path)
{
    for (size_t i = 0; i < p->n_managed; i++)
        if (path_under(path, p->managed[i]))
            return true;
    return false;
}

/* safe_switch_begin: a transaction the system can roll back runs without a person only where
 * the operator said the config is managed that way, and only where a rollback is in time. */
static bool decide_switch(const struct osm_policy *p, const struct osm_policy_query *q,
                          const struct policy_paths *pp, struct osm_policy_verdict *ret)
{
    const json_t *plan = json_object_get(q->args, "plan");
    const char *backend = json_string_value(json_object_get(plan, "backend"));
    size_t managed = 0;

    if (strcmp(q->tool, "safe_switch_begin") != 0 || !json_is_object(plan))
        return false;
    if (backend && strcmp(backend, "nixos") == 0) {
        policy_verdict(ret, OSM_POLICY_APPROVE, "default:nixos-switch", NULL);
        return true;
    }
    for (size_t i = 0; i < pp->n; i++) {
        if (pp->items[i].use != POLICY_PATH_WRITE || pp->items[i].in_workspace)
            continue;
        if (root_exec_path(pp->items[i].path)) {
            policy_verdict(ret, OSM_POLICY_APPROVE, "default:root-exec-path", pp->items[i].path);
            return true;
        }
        if (!managed_path(p, pp->items[i].path))
            return false; /* a host write: decide_host_write holds it */
        managed++;
    }
    if (managed == 0)
        return false;
    policy_verdict(ret, OSM_POLICY_ALLOW, "default:managed-config", NULL);
    return true;
}

static void decide_default(const struct osm_policy_query *q, const char *command,
                           struct osm_policy_verdict *ret)
{
    const char *pattern = NULL;

    if (osm_policy_is_shell_tool(q->tool)) {
        if (q->ring == 1)
            policy_verdict(ret, OSM_POLICY_APPROVE, "default:shell-ring1", NULL);
        else if (command && osm_policy_destructive(command, &pattern))
            policy_verdict(ret, OSM_POLICY_APPROVE, "default:destructive-command", pattern);
        else
            policy_verdict(ret, OSM_POLICY_ALLOW, "default:shell-ring2", NULL);
        return;
    }
    switch (q->cls) {
    case OSM_CLASS_READ:
        policy_verdict(ret, OSM_POLICY_ALLOW, "default:read", NULL);
        break;
    case OSM_CLASS_REVERSIBLE:
        policy_verdict(ret, OSM_POLICY_ALLOW, "default:reversible", NULL);
        break;
    case OSM_CLASS_IRREVERSIBLE:
        policy_verdict(ret, OSM_POLICY_APPROVE, "default:irreversible", NULL);
        break;
    case OSM_CLASS_PRIVILEGED:
        policy_verdict(ret, OSM_POLICY_APPROVE, "default:privileged", NULL);
        break;
    default:
        policy_verdict(ret, OSM_POLICY_DENY, "default:unknown-class", NULL);
        break;
    }
}

static void decide(const struct osm_policy *p, const struct osm_policy_query *q, const char *key,
                   const struct osm_resolved *override, struct osm_policy_verdict *ret)
{
    const char *command = json_string_value(json_object_get(q->args, "command"));
    _cleanup_free_ char *norm_cmd = command ? osm_policy_normalize_command(command) : NULL;
    _cleanup_free_ struct policy_paths *pp = calloc(1, sizeof(*pp));
    char name[32];

    if (!p || !pp || (command && !norm_cmd)) {
        policy_verdict(ret, OSM_POLICY_DENY, "no-policy", NULL);
        return;
    }
    if (policy_paths_collect(p, q, key, override, pp, ret) ||
        decide_command_protected(p, command, ret))
        goto done;
    for (size_t i = 0; i < p->n_rules; i++)
        if (rule_matches(&p->rules[i], q, pp, command, norm_cmd)) {
            snprintf(name, sizeof(name), "rule:%zu", i);
            policy_verdict(ret, p->rules[i].decision, name,
                           p->rules[i].path_prefix ? p->rules[i].path_prefix
                                                   : p->rules[i].command_pattern);
            goto done;
        }
    if (!decide_switch(p, q, pp, ret) && !decide_host_write(pp, ret))
        decide_default(q, command, ret);
done:
    policy_paths_clear(pp);
}

void osm_policy_decide(const struct osm_policy *p, const struct osm_policy_query *q,
                       struct osm_policy_verdict *ret)
{
    decide(p, q, NULL, NULL, ret);
}

void osm_policy_decide_resolved(const struct osm_policy *p, const struct osm_policy_query *q,
                                const char *key, const struct osm_resolved *r,
                                struct osm_policy_verdict *ret)
{
    decide(p, q, key, r, ret);
}

size_t osm_policy_n_secrets(const struct osm_policy *p)
{
    return p ? osm_pathset_size(p->secrets) : 0;
}

int osm_policy_secrets_expand(const struct osm_policy *p,
                              int (*fn)(const char *path, const struct stat *st, void *userdata),
                              void *userdata)
{
    return p ? osm_pathset_expand(p->secrets, fn, userdata) : -EINVAL;
}

/* ---- loading ---------------------------------------------------------------------------- */

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) OSM_PRINTF(4, 5);
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

static int parse_decision(const char *s)
{
    for (size_t i = 0; i < ELEMENTSOF(decision_names); i++)
        if (strcmp(s, decision_names[i]) == 0)
            return (int)i;
    return -1;
}

static int parse_class(const char *s)
{
    for (int c = OSM_CLASS_READ; c <= OSM_CLASS_PRIVILEGED; c++)
        if (strcmp(s, osm_tool_class_name((enum osm_tool_class)c)) == 0)
            return c;
    return -1;
}

static int parse_rule(const json_t *j, size_t i, struct rule *r, char *err, size_t errlen)
{
    const char *tool = NULL, *cls = NULL, *prefix = NULL, *pattern = NULL, *decision, *comment;
    int ring = 0, d;
    json_error_t jerr;

    r->cls = -1;
    if (json_unpack_ex((json_t *)j, &jerr, JSON_STRICT, "{s?s, s?s, s?i, s?s, s?s, s:s, s?s}",
                       "tool", &tool, "class", &cls, "ring", &ring, "path_prefix", &prefix,
                       "command_pattern", &pattern, "decision", &decision, "comment", &comment) < 0)
        return fail(err, errlen, -EINVAL, "rules[%zu]: %s", i, jerr.text);
    if ((d = parse_decision(decision)) < 0)
        return fail(err, errlen, -EINVAL, "rules[%zu].decision must be allow, approve or deny", i);
    r->decision = (enum osm_policy_decision)d;
    if (cls && (r->cls = parse_class(cls)) < 0)
        return fail(err, errlen, -EINVAL,
                    "rules[%zu].class must be read, reversible, irreversible or privileged", i);
    if (ring != 0 && ring != 1 && ring != 2)
        return fail(err, errlen, -EINVAL, "rules[%zu].ring must be 1 or 2", i);
    r->ring = ring;
    if (prefix && (prefix[0] != '/' || !(r->path_prefix = osm_policy_normalize_path(prefix))))
        return fail(err, errlen, -EINVAL, "rules[%zu].path_prefix must be an absolute path", i);
    if (pattern && strcmp(pattern, "@destructive") == 0)
        r->destructive = true;
    else if (pattern &&
             (!*pattern || !(r->command_pattern = osm_policy_normalize_command(pattern))))
        return fail(err, errlen, -EINVAL, "rules[%zu].command_pattern must not be empty", i);
    if (tool && !(r->tool = strdup(tool)))
        return -ENOMEM;
    return 0;
}

static int parse_rules(struct osm_policy *p, const json_t *rules, char *err, size_t errlen)
{
    size_t i;
    json_t *item;
    int r;

    if (!json_is_array(rules) || json_array_size(rules) > OSM_POLICY_RULES_MAX)
        return fail(err, errlen, -EINVAL, "rules must be an array of at most %d rules",
                    OSM_POLICY_RULES_MAX);
    p->rules = calloc(json_array_size(rules) + 1, sizeof(*p->rules));
    if (!p->rules)
        return -ENOMEM;
    json_array_foreach(rules, i, item)
    {
        if (!json_is_object(item))
            return fail(err, errlen, -EINVAL, "rules[%zu] must be an object", i);
        p->n_rules++;
        if ((r = parse_rule(item, i, &p->rules[i], err, errlen)) < 0)
            return r;
    }
    return 0;
}

static int parse_managed(struct osm_policy *p, const json_t *list, char *err, size_t errlen)
{
    size_t i;
    json_t *item;

    if (!json_is_array(list) || json_array_size(list) > OSM_POLICY_MANAGED_MAX)
        return fail(err, errlen, -EINVAL, "managed_config must be an array of at most %d paths",
                    OSM_POLICY_MANAGED_MAX);
    json_array_foreach(list, i, item)
    {
        const char *s = json_string_value(item);
        if (!s || s[0] != '/' || strcmp(s, "/") == 0)
            return fail(err, errlen, -EINVAL,
                        "managed_config[%zu] must be an absolute path other than /", i);
        if (!(p->managed[i] = osm_policy_normalize_path(s)))
            return -ENOMEM;
        p->n_managed++;
    }
    return 0;
}

/* {"rules": [...], "secrets": [...], "managed_config": [...], "comment": "..."}, each key
 * optional. */
static int parse_file(struct osm_policy *p, const json_t *doc, char *err, size_t errlen)
{
    json_t *rules = NULL, *secrets = NULL, *managed = NULL;
    json_error_t jerr;
    int r;

    if (json_unpack_ex((json_t *)doc, &jerr, JSON_STRICT, "{s?o, s?o, s?o, s?s}", "rules", &rules,
                       "secrets", &secrets, "managed_config", &managed, "comment",
                       &(const char *){NULL}) < 0)
        return fail(err, errlen, -EINVAL, "%s", jerr.text);
    if (rules && (r = parse_rules(p, rules, err, errlen)) < 0)
        return r;
    if (managed && (r = parse_managed(p, managed, err, errlen)) < 0)
        return r;
    if (secrets && (r = osm_pathset_add_json(p->secrets, secrets, err, errlen)) < 0)
        return r;
    return 0;
}

/* Opens path for reading and checks who may have written it. -ENOENT when it is absent. */
static int open_checked(const char *path, uid_t owner_uid, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT
                   ? -ENOENT
                   : fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, -EINVAL, "%s is not a regular file", path);
    }
    if ((st.st_uid != 0 && st.st_uid != owner_uid) || (st.st_mode & 022)) {
        close(fd);
        return fail(err, errlen, -EPERM,
                    "%s must be owned by root (or uid %u) and not writable by group or others",
                    path, (unsigned)owner_uid);
    }
    return fd;
}

static int read_rules(struct osm_policy *p, const char *path, uid_t owner_uid, char *err,
                      size_t errlen)
{
    _cleanup_close_ int fd = open_checked(path, owner_uid, err, errlen);
    json_error_t jerr;
    json_t *doc;
    int r;

    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return fail(err, errlen, -EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
    r = parse_file(p, doc, err, errlen);
    json_decref(doc);
    return r;
}

static int add_protected(struct osm_policy *p, const char *entry)
{
    size_t len = strlen(entry);
    _cleanup_free_ char *copy = strdup(entry);
    bool prefix = len > 0 && entry[len - 1] == '*';
    int r;

    if (!copy)
        return -ENOMEM;
    if (p->n_protected == OSM_POLICY_PROTECTED_MAX || entry[0] != '/')
        return -EINVAL;
    if ((r = osm_pathset_add(p->protected_set, entry, NULL, 0, OSM_PATHSET_LITERAL)) < 0)
        return r;
    if (prefix)
        copy[len - 1] = '\0';
    p->protected_paths[p->n_protected] = osm_policy_normalize_path(copy);
    if (!p->protected_paths[p->n_protected])
        return -EINVAL;
    p->n_protected++;
    return 0;
}

/* The built-in secrets, with "~/" standing for the homes in /etc/passwd. */
static int secrets_new(struct osm_policy *p, char *err, size_t errlen)
{
    int r = osm_pathset_new(&p->secrets);

    if (r == 0 && (r = osm_pathset_read_homes(p->secrets, NULL)) < 0)
        return fail(err, errlen, r, "cannot read the home directories in /etc/passwd: %s",
                    strerror(-r));
    if (r == 0 && (r = osm_pathset_add_defaults(p->secrets)) < 0)
        return fail(err, errlen, r, "bad built-in secrets list");
    return r;
}

int osm_policy_load(const char *path, const char *const *protected_paths, uid_t owner_uid,
                    struct osm_policy **ret, char *err, size_t errlen)
{
    struct osm_policy *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    if (err && errlen)
        err[0] = '\0';
    r = osm_pathset_new(&p->protected_set);
    if (r == 0)
        r = add_protected(p, path);
    for (size_t i = 0; r == 0 && protected_paths && protected_paths[i]; i++)
        r = add_protected(p, protected_paths[i]);
    if (r < 0)
        r = fail(err, errlen, r, "bad protected path list");
    if (r == 0)
        r = secrets_new(p, err, errlen);
    if (r == 0)
        r = read_rules(p, path, owner_uid, err, errlen);
    if (r < 0) {
        osm_policy_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

size_t osm_policy_n_rules(const struct osm_policy *p)
{
    return p ? p->n_rules : 0;
}

void osm_policy_free(struct osm_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].tool);
        free(p->rules[i].path_prefix);
        free(p->rules[i].command_pattern);
    }
    free(p->rules);
    for (size_t i = 0; i < p->n_protected; i++)
        free(p->protected_paths[i]);
    for (size_t i = 0; i < p->n_managed; i++)
        free(p->managed[i]);
    osm_pathset_free(p->protected_set);
    osm_pathset_free(p->secrets);
    free(p);
}
