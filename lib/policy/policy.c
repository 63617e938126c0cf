/* The tool policy: loading policy.json, protected paths, first-match rules and the defaults
 * (contract in policy.h). */
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
#include "policy.h"

#define SYMLINK_DEPTH_MAX 40
#define PATH_ARGS_MAX 64

struct rule {
    char *tool;            /* NULL or "*": any */
    int cls;               /* -1: any */
    int ring;              /* 0: any */
    char *path_prefix;     /* normalised */
    char *command_pattern; /* normalised */
    bool destructive;      /* command_pattern "@destructive" */
    enum osm_policy_decision decision;
};

struct osm_policy {
    struct rule *rules;
    size_t n_rules;
    char *protected_paths[OSM_POLICY_PROTECTED_MAX];
    bool protected_prefix[OSM_POLICY_PROTECTED_MAX]; /* entry ended in '*' */
    size_t n_protected;
};

static const char *const shell_tools[] = {"shell_exec", "run_command", "sandbox_exec"};
static const char *const path_keys[] = {"path", "working_dir", "audio_path", "project_path"};
static const char *const path_list_keys[] = {"fs_read", "fs_write"};

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

static bool path_protected(const struct osm_policy *p, const char *path, const char **ret_entry)
{
    for (size_t i = 0; i < p->n_protected; i++) {
        const char *e = p->protected_paths[i];
        bool hit = p->protected_prefix[i] ? strncmp(path, e, strlen(e)) == 0 : path_under(path, e);
        if (hit) {
            *ret_entry = e;
            return true;
        }
    }
    return false;
}

/* ---- path-like arguments ---------------------------------------------------------------- */

struct path_args {
    char *paths[PATH_ARGS_MAX];
    size_t n;
    bool unresolvable; /* a path argument that could not be normalised (or too many) */
};

static void path_args_clear(struct path_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->paths[i]);
    a->n = 0;
}

static void path_args_add(struct path_args *a, const json_t *v)
{
    char *norm;

    if (!json_is_string(v))
        return;
    if (a->n == PATH_ARGS_MAX || !(norm = osm_policy_normalize_path(json_string_value(v)))) {
        a->unresolvable = true;
        return;
    }
    a->paths[a->n++] = norm;
}

static void path_args_collect(const json_t *args, struct path_args *a)
{
    size_t i;
    json_t *item;

    for (size_t k = 0; k < ELEMENTSOF(path_keys); k++)
        path_args_add(a, json_object_get(args, path_keys[k]));
    for (size_t k = 0; k < ELEMENTSOF(path_list_keys); k++)
        json_array_foreach(json_object_get(args, path_list_keys[k]), i, item)
            path_args_add(a, item);
}

/* ---- deciding --------------------------------------------------------------------------- */

static void verdict(struct osm_policy_verdict *v, enum osm_policy_decision d, const char *rule,
                    const char *detail)
{
    v->decision = d;
    snprintf(v->rule, sizeof(v->rule), "%s", rule);
    snprintf(v->detail, sizeof(v->detail), "%s", detail ? detail : "");
}

static bool rule_matches(const struct rule *r, const struct osm_policy_query *q,
                         const struct path_args *pa, const char *command, const char *norm_cmd)
{
    bool hit = false;

    if (r->tool && strcmp(r->tool, "*") != 0 && strcmp(r->tool, q->tool) != 0)
        return false;
    if (r->cls >= 0 && r->cls != (int)q->cls)
        return false;
    if (r->ring && r->ring != q->ring)
        return false;
    if (r->path_prefix) {
        for (size_t i = 0; i < pa->n && !hit; i++)
            hit = path_under(pa->paths[i], r->path_prefix);
        if (!hit)
            return false;
    }
    if (r->destructive && !(command && osm_policy_destructive(command, NULL)))
        return false;
    if (r->command_pattern && !(norm_cmd && strstr(norm_cmd, r->command_pattern)))
        return false;
    return true;
}

/* The protected-path check: arguments and, as an early warning, the command text. */
static bool decide_protected(const struct osm_policy *p, const struct path_args *pa,
                             const char *command, struct osm_policy_verdict *ret)
{
    const char *entry;

    if (pa->unresolvable) {
        verdict(ret, OSM_POLICY_DENY, "protected", "a path argument could not be resolved");
        return true;
    }
    for (size_t i = 0; i < pa->n; i++)
        if (path_protected(p, pa->paths[i], &entry)) {
            verdict(ret, OSM_POLICY_DENY, "protected", entry);
            return true;
        }
    for (size_t i = 0; command && i < p->n_protected; i++)
        if (strstr(command, p->protected_paths[i])) {
            verdict(ret, OSM_POLICY_DENY, "protected", p->protected_paths[i]);
            return true;
        }
    return false;
}

static void decide_default(const struct osm_policy_query *q, const char *command,
                           struct osm_policy_verdict *ret)
{
    const char *pattern = NULL;

    if (osm_policy_is_shell_tool(q->tool)) {
        if (q->ring == 1)
            verdict(ret, OSM_POLICY_APPROVE, "default:shell-ring1", NULL);
        else if (command && osm_policy_destructive(command, &pattern))
            verdict(ret, OSM_POLICY_APPROVE, "default:destructive-command", pattern);
        else
            verdict(ret, OSM_POLICY_ALLOW, "default:shell-ring2", NULL);
        return;
    }
    switch (q->cls) {
    case OSM_CLASS_READ:
        verdict(ret, OSM_POLICY_ALLOW, "default:read", NULL);
        break;
    case OSM_CLASS_REVERSIBLE:
        verdict(ret, OSM_POLICY_ALLOW, "default:reversible", NULL);
        break;
    case OSM_CLASS_IRREVERSIBLE:
        verdict(ret, OSM_POLICY_APPROVE, "default:irreversible", NULL);
        break;
    case OSM_CLASS_PRIVILEGED:
        verdict(ret, OSM_POLICY_APPROVE, "default:privileged", NULL);
        break;
    default:
        verdict(ret, OSM_POLICY_DENY, "default:unknown-class", NULL);
        break;
    }
}

void osm_policy_decide(const struct osm_policy *p, const struct osm_policy_query *q,
                       struct osm_policy_verdict *ret)
{
    const char *command = json_string_value(json_object_get(q->args, "command"));
    _cleanup_free_ char *norm_cmd = command ? osm_policy_normalize_command(command) : NULL;
    struct path_args pa = {0};
    char name[32];

    if (!p || (command && !norm_cmd)) {
        verdict(ret, OSM_POLICY_DENY, "no-policy", NULL);
        return;
    }
    path_args_collect(q->args, &pa);
    if (decide_protected(p, &pa, command, ret))
        goto done;
    for (size_t i = 0; i < p->n_rules; i++)
        if (rule_matches(&p->rules[i], q, &pa, command, norm_cmd)) {
            snprintf(name, sizeof(name), "rule:%zu", i);
            verdict(ret, p->rules[i].decision, name,
                    p->rules[i].path_prefix ? p->rules[i].path_prefix
                                            : p->rules[i].command_pattern);
            goto done;
        }
    decide_default(q, command, ret);
done:
    path_args_clear(&pa);
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

static int parse_rules(struct osm_policy *p, const json_t *doc, char *err, size_t errlen)
{
    json_t *rules;
    json_error_t jerr;
    size_t i;
    json_t *item;
    int r;

    if (json_unpack_ex((json_t *)doc, &jerr, JSON_STRICT, "{s:o, s?s}", "rules", &rules, "comment",
                       &(const char *){NULL}) < 0)
        return fail(err, errlen, -EINVAL, "%s", jerr.text);
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
    r = parse_rules(p, doc, err, errlen);
    json_decref(doc);
    return r;
}

static int add_protected(struct osm_policy *p, const char *entry)
{
    size_t len = strlen(entry);
    _cleanup_free_ char *copy = strdup(entry);
    bool prefix = len > 0 && entry[len - 1] == '*';

    if (!copy)
        return -ENOMEM;
    if (p->n_protected == OSM_POLICY_PROTECTED_MAX || entry[0] != '/')
        return -EINVAL;
    if (prefix)
        copy[len - 1] = '\0';
    p->protected_paths[p->n_protected] = osm_policy_normalize_path(copy);
    if (!p->protected_paths[p->n_protected])
        return -EINVAL;
    p->protected_prefix[p->n_protected++] = prefix;
    return 0;
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
    r = add_protected(p, path);
    for (size_t i = 0; r == 0 && protected_paths && protected_paths[i]; i++)
        r = add_protected(p, protected_paths[i]);
    if (r < 0)
        r = fail(err, errlen, r, "bad protected path list");
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
    free(p);
}
