/* The tool policy every executing daemon shares: a first-match list of rules that maps
 * (ring, class, tool, arguments) to allow / approve / deny, built-in defaults behind it, a set
 * of protected paths that no rule can open, and a list of secrets no tool may read (DESIGN §6;
 * docs/policy.md is the operator's description).
 *
 * The file (<state>/policy.json) is {"rules": [rule, ...], "secrets": [entry, ...],
 * "managed_config": [prefix, ...]}, each optional. A rule is an object with optional match keys and
 * a decision:
 *   {"tool": "file_write" | "*", "class": "read|reversible|irreversible|privileged",
 *    "ring": 1|2, "path_prefix": "/srv/www", "command_pattern": "apt-get remove" | "@destructive",
 *    "decision": "allow|approve|deny", "comment": "..."}
 * A rule matches when every key it has matches. path_prefix looks at the path-like arguments
 * (path, working_dir, audio_path, project_path, fs_read[], fs_write[]) as resolved (below): an
 * allow rule matches when every one of them lies at or under the prefix, an approve or deny rule
 * when any does. A literal command_pattern is a substring of the command argument after osModa's
 * normalisation (lower case, \ ' " removed, whitespace collapsed; see
 * osm_policy_normalize_command), so a rule for "passwd" matches `cat /etc/passwd` too.
 * "@destructive" is instead the destructive blocklist of osm_policy_destructive, matched per
 * command by the shell-command analyser (shellcmd.h). A secrets entry adds to the built-in list
 * (secrets.h has the syntax).
 *
 * Every path-like argument is resolved before anything is decided (resolve.h: openat2, `..` and
 * symlinks followed, magic links refused); "path" and "project_path" that are relative, under
 * /workspace or under the workspace's host path resolve beneath the agent workspace. A path
 * that cannot be resolved is denied.
 *
 * Order of evaluation: unresolvable paths, protected paths, secrets (deny, always; a directory
 * that holds secrets may still be listed) → the file's rules → defaults:
 *   a SafeSwitch (safe_switch_begin) whose plan writes only under the managed config prefixes
 *   → allow ("default:managed-config": the transaction can roll it back), except a path root
 *   runs code from (cron, systemd units, profile scripts, sudoers, PAM, binaries, ...), which a
 *   rollback would come too late for → approve ("default:root-exec-path"); a NixOS switch
 *   (activation scripts run as root) → approve ("default:nixos-switch");
 *   a write to a host path outside the workspace (file_write's path, fs_write[], a SafeSwitch
 *   plan's files and profile) → approve ("default:host-write");
 *   shell_exec / run_command / sandbox_exec: ring 1 → approve; ring 2 → allow, unless the command
 *   runs something on the destructive blocklist or cannot be analysed (→ approve, rule
 *   "default:destructive-command": the early warning escalates to a person);
 *   class read / reversible → allow; irreversible / privileged → approve.
 *
 * The blocklist is an early warning only: the boundary is the sandbox. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy/resolve.h"
#include "tools/registry.h"

enum osm_policy_decision {
    OSM_POLICY_ALLOW,
    OSM_POLICY_APPROVE,
    OSM_POLICY_DENY,
};

/* One question to the policy. */
struct osm_policy_query {
    const char *tool; /* canonical tool name */
    enum osm_tool_class cls;
    int ring;              /* 1 or 2 */
    const json_t *args;    /* the call's arguments (lent) */
    const char *workspace; /* host path of the agent workspace; NULL: none (then relative
                              paths are refused) */
};

/* The answer, with what decided it (for the ledger and the operator). */
struct osm_policy_verdict {
    enum osm_policy_decision decision;
    char rule[64];    /* "unresolvable", "protected", "secret", "rule:<n>", "default:<what>" */
    char detail[256]; /* the path or blocklist pattern that matched, "" otherwise */
};

struct osm_policy;

/* Limits of a policy file. */
#define OSM_POLICY_FILE_MAX (256 * 1024)
#define OSM_POLICY_RULES_MAX 1024
#define OSM_POLICY_PROTECTED_MAX 64
#define OSM_POLICY_PATH_ARGS_MAX 64 /* path-like arguments of one call */
#define OSM_POLICY_MANAGED_MAX 64   /* managed config prefixes */

/* Loads path, or the built-in defaults when it does not exist. protected is a NULL-terminated
 * list of paths that are always denied (normalised here; an entry ending in '*' protects every
 * path starting with it, e.g. "/var/lib/osmoda/ledger.db*"). The file must be a regular file
 * owned by root or owner_uid and not writable by group or others (-EPERM otherwise). A bad file
 * gives -EINVAL and a message in err. The path itself is always protected. */
int osm_policy_load(const char *path, const char *const *protected_paths, uid_t owner_uid,
                    struct osm_policy **ret, char *err, size_t errlen);
/* NULL-safe. */
void osm_policy_free(struct osm_policy *p);
/* Number of rules read from the file (0 for the defaults). */
size_t osm_policy_n_rules(const struct osm_policy *p);

/* Decides q. Never fails: anything it cannot judge (a path it cannot resolve) is denied. */
void osm_policy_decide(const struct osm_policy *p, const struct osm_policy_query *q,
                       struct osm_policy_verdict *ret);
/* Decides q as osm_policy_decide does, but takes the argument key as the target r that the
 * caller resolved and will act on, instead of resolving it again: the check a tool makes at run
 * time, on exactly what it is about to open. */
void osm_policy_decide_resolved(const struct osm_policy *p, const struct osm_policy_query *q,
                                const char *key, const struct osm_resolved *r,
                                struct osm_policy_verdict *ret);
/* The part of path that lies in the agent workspace as the file tools read it (a relative
 * path, /workspace/..., or under the workspace's host path; "." for the workspace itself), or
 * NULL for a host path. Points into path. */
const char *osm_policy_workspace_rel(const char *workspace, const char *path);
/* Number of secrets entries in force (built-in and from the file). */
size_t osm_policy_n_secrets(const struct osm_policy *p);
/* Calls fn for every existing secret outside /proc and /dev (canonical path and stat), e.g. to
 * mask it in a sandbox; stops at fn's first non-zero return and returns it. */
int osm_policy_secrets_expand(const struct osm_policy *p,
                              int (*fn)(const char *path, const struct stat *st, void *userdata),
                              void *userdata);

const char *osm_policy_decision_name(enum osm_policy_decision d);
/* True for the tools that run a shell command (shell_exec, run_command, sandbox_exec). */
bool osm_policy_is_shell_tool(const char *tool);
/* True when a command that command (a shell command line) runs is on the destructive blocklist:
 * osModa's (§11: agentd's approval gate, pipe-to-shell, the bridge's shell_exec list) and a few
 * more, matched per command, not as substrings. Every simple command is looked at, those in
 * substitutions, subshells, sh -c STRING, eval and find -exec included, after quote removal and
 * with wrappers stripped (sudo, env, nice, timeout, xargs, ...; shellcmd.h). So `rm -r -f x`,
 * `r''m -rf x` and `sudo /sbin/reboot` match while `cat /etc/passwd` and `ls 2>/dev/null` do not.
 * Commands are case-sensitive, as in the shell. A line the analyser cannot parse (unbalanced
 * quotes, too long, too deep) counts as destructive: the call goes to a person. *ret_pattern (when
 * given, and only on true) gets a static name of the rule, e.g. "rm -rf", "pipe to a shell",
 * "unparseable command". NULL is not destructive. An early warning only: the sandbox is the
 * boundary, and a command whose name only the shell knows ($cmd -rf /) is not seen. */
bool osm_policy_destructive(const char *command, const char **ret_pattern);
/* Normalises command as osModa does: lower case, \ ' " removed, whitespace collapsed. New string.
 * Used for literal command_pattern rules only. */
char *osm_policy_normalize_command(const char *command);
/* Makes path absolute (relative to the working directory), resolves `.`, `..` and the symlinks
 * of its existing prefix. New string, or NULL on ENOMEM / a path over PATH_MAX. */
char *osm_policy_normalize_path(const char *path);
