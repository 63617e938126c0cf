/* The destructive-command early warning (contract in policy.h): osModa's blocklist (§11:
 * agentd's approval gate, pipe-to-shell, the bridge's shell_exec list) and a few more, as rules
 * over the commands a line really runs (shellcmd.h), so that `cat /etc/passwd` or
 * `ls 2>/dev/null` no longer match while `r''m -r -f x` or `sudo /sbin/reboot` do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macro.h"
#include "policy.h"
#include "shellcmd.h"

#define CMDS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct destructive_rule {
    const char *name;            /* shown to the operator */
    const char *const *commands; /* the argv[0] it applies to; NULL: any command */
    /* NULL: naming the command is enough. May point *name at a more precise text. */
    bool (*match)(const struct osm_shellcmd *cmd, const char **name);
};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* path with `.`, `..` and repeated slashes removed, without looking at the file system (the
 * command has not run yet). New string. */
static char *path_lexical(const char *path)
{
    char *out;
    size_t n = 0;

    if (path[0] != '/') /* relative: never a device or the root here */
        return strdup(path);
    if (!(out = malloc(strlen(path) + 2)))
        return NULL;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[--n] != '/')
                ;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len + (p[len] == '/');
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

/* The root itself, or the glob of everything in it, however spelled ("//.", "/./x/.."). */
static bool is_root(const char *path)
{
    _cleanup_free_ char *p = path_lexical(path);

    return !p || strcmp(p, "/") == 0 || strcmp(p, "/*") == 0;
}

/* A device node under /dev other than the harmless ones. */
static bool is_device(const char *path)
{
    static const char *const harmless[] = {"null",   "zero",   "full", "stdin",
                                           "stdout", "stderr", "tty",  NULL};
    _cleanup_free_ char *p = path_lexical(path);
    const char *rest;

    if (!p)
        return true; /* out of memory: the unsafe answer */
    if (strncmp(p, "/dev/", 5) != 0)
        return false;
    rest = p + 5;
    if (in_list(harmless, rest) || strcmp(rest, "shm") == 0 || strncmp(rest, "shm/", 4) == 0)
        return false;
    for (const char *dir = "fd/"; dir; dir = strcmp(dir, "fd/") == 0 ? "pts/" : NULL)
        if (strncmp(rest, dir, strlen(dir)) == 0 && rest[strlen(dir)] &&
            strspn(rest + strlen(dir), "0123456789") == strlen(rest + strlen(dir)))
            return false;
    return true;
}

static bool recursive(const struct osm_shellcmd *c)
{
    return osm_shellcmd_has_option(c, 'r', "recursive") || osm_shellcmd_has_option(c, 'R', NULL);
}

static bool rm_recursive_force(const struct osm_shellcmd *c, const char **name)
{
    return recursive(c) && osm_shellcmd_has_option(c, 'f', "force");
}

static bool rm_no_preserve_root(const struct osm_shellcmd *c, const char **name)
{
    return osm_shellcmd_has_option(c, '\0', "no-preserve-root");
}

static bool rm_recursive_root(const struct osm_shellcmd *c, const char **name)
{
    const char *op;

    for (size_t i = 0; recursive(c) && (op = osm_shellcmd_operand(c, i, NULL, NULL)); i++)
        if (is_root(op))
            return true;
    return false;
}

static bool mkfs_variant(const struct osm_shellcmd *c, const char **name)
{
    return c->argc > 0 && strncmp(c->argv[0], "mkfs.", 5) == 0;
}

static bool dd_to_device(const struct osm_shellcmd *c, const char **name)
{
    for (size_t i = 1; i < c->argc; i++)
        if (strncmp(c->argv[i], "of=", 3) == 0 && is_device(c->argv[i] + 3))
            return true;
    return false;
}

static bool tee_to_device(const struct osm_shellcmd *c, const char **name)
{
    const char *op;

    for (size_t i = 0; (op = osm_shellcmd_operand(c, i, NULL, NULL)); i++)
        if (is_device(op))
            return true;
    return false;
}

static bool redirect_to_device(const struct osm_shellcmd *c, const char **name)
{
    for (size_t i = 0; i < c->n_redirs; i++) {
        enum osm_shellcmd_redir_op op = c->redirs[i].op;
        if ((op == OSM_SHELLCMD_REDIR_OUT || op == OSM_SHELLCMD_REDIR_APPEND ||
             op == OSM_SHELLCMD_REDIR_RDWR) &&
            is_device(c->redirs[i].target))
            return true;
    }
    return false;
}

/* fdisk -l and parted -l only list partitions. */
static bool not_listing(const struct osm_shellcmd *c, const char **name)
{
    return !osm_shellcmd_has_option(c, 'l', "list");
}

static bool systemctl_verb(const struct osm_shellcmd *c, const char **name)
{
    static const char *const verbs[] = {
        "systemctl stop",         "systemctl disable",
        "systemctl mask",         "systemctl kill",
        "systemctl isolate",      "systemctl reboot",
        "systemctl poweroff",     "systemctl halt",
        "systemctl kexec",        "systemctl soft-reboot",
        "systemctl emergency",    "systemctl rescue",
        "systemctl suspend",      "systemctl hibernate",
        "systemctl hybrid-sleep", "systemctl suspend-then-hibernate",
        "systemctl switch-root",  "systemctl default",
    };
    const char *verb = osm_shellcmd_operand(
        c, 0, "tpPsHMno",
        CMDS("type", "property", "signal", "host", "machine", "lines", "output", "state",
             "job-mode", "root", "image", "kill-whom", "kill-value", "what", "boot-loader-entry",
             "boot-loader-menu", "reboot-argument", "preset-mode", "message", "timestamp", "when",
             "drop-in", "check-inhibitors"));

    for (size_t i = 0; verb && i < ELEMENTSOF(verbs); i++)
        if (strcmp(verb, verbs[i] + strlen("systemctl ")) == 0) {
            *name = verbs[i];
            return true;
        }
    return false;
}

static bool service_stop(const struct osm_shellcmd *c, const char **name)
{
    const char *verb = osm_shellcmd_operand(c, 1, NULL, NULL);

    return verb && strcmp(verb, "stop") == 0;
}

static bool world_writable_mode(const char *mode)
{
    size_t n = strlen(mode);
    const char *p = mode;

    if (n > 0 && n <= 4 && strspn(mode, "01234567") == n)
        return (mode[n - 1] - '0') & 2;
    for (;;) { /* [ugoa]*([-+=][rwxXst]*)+ clauses separated by commas */
        bool others = false;
        for (; *p && strchr("ugoa", *p); p++)
            others = others || *p == 'o' || *p == 'a';
        while (*p && strchr("+-=", *p)) {
            char op = *p++;
            for (; *p && strchr("rwxXstugo", *p); p++)
                if (others && op != '-' && *p == 'w')
                    return true;
        }
        if (*p != ',')
            return false;
        p++;
    }
}

static bool chmod_world_writable(const struct osm_shellcmd *c, const char **name)
{
    const char *mode = osm_shellcmd_operand(c, 0, NULL, NULL);

    return !osm_shellcmd_has_option(c, '\0', "reference") && mode && world_writable_mode(mode);
}

static bool chown_recursive(const struct osm_shellcmd *c, const char **name)
{
    return osm_shellcmd_has_option(c, 'R', "recursive");
}

static bool iptables_flush(const struct osm_shellcmd *c, const char **name)
{
    return osm_shellcmd_has_option(c, 'F', "flush");
}

static bool nft_flush(const struct osm_shellcmd *c, const char **name)
{
    const char *op = osm_shellcmd_operand(c, 0, "fID", CMDS("file", "includepath", "define"));

    return op && strncmp(op, "flush", 5) == 0 && (op[5] == '\0' || op[5] == ' ');
}

static bool init_runlevel(const struct osm_shellcmd *c, const char **name)
{
    static const char *const levels[] = {"init 0", "init 6", "init 1", "init s", "init S"};
    const char *level = osm_shellcmd_operand(c, 0, NULL, NULL);

    for (size_t i = 0; level && i < ELEMENTSOF(levels); i++)
        if (strcmp(level, levels[i] + strlen("init ")) == 0) {
            *name = levels[i];
            return true;
        }
    return false;
}

static bool is_kill_signal(const char *s)
{
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    return strcmp(s, "9") == 0 || strcasecmp(s, "KILL") == 0;
}

/* kill -9, -KILL, -SIGKILL, -s KILL, -sKILL, -n 9, --signal KILL, --signal=KILL. */
static bool kill_9(const struct osm_shellcmd *c, const char **name)
{
    for (size_t i = 1; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (strcmp(a, "--") == 0 || a[0] != '-')
            break;
        if (strcmp(a, "-s") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "--signal") == 0) {
            if (i + 1 < c->argc && is_kill_signal(c->argv[i + 1]))
                return true;
            i++;
        } else if (strncmp(a, "--signal=", 9) == 0
                       ? is_kill_signal(a + 9)
                       : is_kill_signal(a + 1) || (a[1] == 's' && is_kill_signal(a + 2))) {
            return true;
        }
    }
    return false;
}

static bool crontab_remove(const struct osm_shellcmd *c, const char **name)
{
    return osm_shellcmd_has_option(c, 'r', NULL);
}

static bool find_delete(const struct osm_shellcmd *c, const char **name)
{
    for (size_t i = 1; i < c->argc; i++)
        if (strcmp(c->argv[i], "-delete") == 0)
            return true;
    return false;
}

/* mv whose source is the root or everything in it (with -t DIR every operand is a source, else
 * all but the last). */
static bool mv_root(const struct osm_shellcmd *c, const char **name)
{
    const char *const long_value[] = {"target-directory", "suffix", NULL};
    bool target = osm_shellcmd_has_option(c, 't', "target-directory");
    size_t n = 0;

    while (osm_shellcmd_operand(c, n, "tS", long_value))
        n++;
    for (size_t i = 0; i + !target < n; i++)
        if (is_root(osm_shellcmd_operand(c, i, "tS", long_value)))
            return true;
    return false;
}

static bool code_from_command(const struct osm_shellcmd *c, const char **name)
{
    return c->flags & OSM_SHELLCMD_CODE_FROM_COMMAND;
}

/* A function that runs itself in a pipe or in the background: :(){ :|:& };: */
static bool fork_bomb(const struct osm_shellcmd *c, const char **name)
{
    return c->function && c->argc > 0 && strcmp(c->argv[0], c->function) == 0 &&
           (c->flags & (OSM_SHELLCMD_PIPED | OSM_SHELLCMD_BACKGROUND));
}

static const struct destructive_rule destructive_patterns[] = {
    {"rm -rf", CMDS("rm"), rm_recursive_force},
    {"rm --no-preserve-root", CMDS("rm"), rm_no_preserve_root},
    {"rm -r /", CMDS("rm"), rm_recursive_root},
    {"mkfs", CMDS("mkfs", "mke2fs", "mkswap"), NULL},
    {"mkfs", NULL, mkfs_variant},
    {"dd to a device", CMDS("dd"), dd_to_device},
    {"wipefs", CMDS("wipefs"), NULL},
    {"fdisk", CMDS("fdisk", "sfdisk", "cfdisk", "gdisk"), not_listing},
    {"parted", CMDS("parted"), not_listing},
    {"sgdisk", CMDS("sgdisk"), NULL},
    {"blkdiscard", CMDS("blkdiscard"), NULL},
    {"shred", CMDS("shred"), NULL},
    {"nix-collect-garbage", CMDS("nix-collect-garbage"), NULL},
    {"nixos-rebuild", CMDS("nixos-rebuild"), NULL},
    {"systemctl", CMDS("systemctl"), systemctl_verb},
    {"service stop", CMDS("service"), service_stop},
    {"userdel", CMDS("userdel", "deluser"), NULL},
    {"groupdel", CMDS("groupdel", "delgroup"), NULL},
    {"passwd", CMDS("passwd", "chpasswd"), NULL},
    {"chown -R", CMDS("chown", "chgrp"), chown_recursive},
    {"chmod -R", CMDS("chmod"), chown_recursive},
    {"chmod 777", CMDS("chmod"), chmod_world_writable},
    {"iptables -F",
     CMDS("iptables", "ip6tables", "iptables-nft", "ip6tables-nft", "iptables-legacy",
          "ip6tables-legacy"),
     iptables_flush},
    {"nft flush", CMDS("nft"), nft_flush},
    {"reboot", CMDS("reboot"), NULL},
    {"shutdown", CMDS("shutdown"), NULL},
    {"poweroff", CMDS("poweroff"), NULL},
    {"halt", CMDS("halt"), NULL},
    {"init", CMDS("init", "telinit"), init_runlevel},
    {"kill -9", CMDS("kill"), kill_9},
    {"pkill", CMDS("pkill"), NULL},
    {"killall", CMDS("killall", "killall5"), NULL},
    {"crontab -r", CMDS("crontab"), crontab_remove},
    {"find -delete", CMDS("find"), find_delete},
    {"mv /", CMDS("mv"), mv_root},
    {"pipe to a shell", NULL, code_from_command},
    {"write to a device", NULL, redirect_to_device},
    {"tee to a device", CMDS("tee"), tee_to_device},
    {"fork bomb", NULL, fork_bomb},
};

static int match_destructive(const struct osm_shellcmd *cmd, void *userdata)
{
    const char **ret = userdata;

    for (size_t i = 0; i < ELEMENTSOF(destructive_patterns); i++) {
        const struct destructive_rule *rule = &destructive_patterns[i];
        const char *name = rule->name;
        if (rule->commands && !(cmd->argc > 0 && in_list(rule->commands, cmd->argv[0])))
            continue;
        if (rule->match && !rule->match(cmd, &name))
            continue;
        *ret = name;
        return 1;
    }
    return 0;
}

/* What the operator sees when the analyser gave up on a command. */
static const char *analysis_failure(int r)
{
    switch (r) {
    case -EINVAL:
        return "unparseable command";
    case -E2BIG:
        return "command too large to analyse";
    case -ELOOP:
        return "command nested too deeply";
    default:
        return "command not analysed";
    }
}

bool osm_policy_destructive(const char *command, const char **ret_pattern)
{
    const char *name = NULL;
    int r;

    if (!command)
        return false;
    r = osm_shellcmd_walk(command, match_destructive, &name);
    if (r < 0)
        name = analysis_failure(r);
    if (r != 0 && ret_pattern)
        *ret_pattern = name;
    return r != 0;
}
