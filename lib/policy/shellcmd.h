/* A bounded analyser of POSIX-sh-like command lines (with the bash forms agents write): it
 * splits a line into simple commands and finds the command each one really runs, so that a
 * check can look at commands instead of substrings.
 *
 * Understood: words with '...', "...", $'...', backslash escapes and quote removal (r''m,
 * "rm", \rm are all rm); ; & && || | |& and newlines; ( ) subshells, { } groups, function
 * definitions, if/while/until/for/case; $( ), `...` and <( ) >( ) substitutions, whose
 * contents are commands too; ${...} and $((...)); redirections (< > >> >| <> <& >& &> &>>
 * << <<- <<<) with their targets and here-document bodies; # comments; leading VAR=value
 * assignments. Expansions are not performed: a word holding $x keeps the text "$x".
 *
 * For each simple command the effective command is found: wrappers are stripped with their
 * options (sudo, doas, pkexec, env, nohup, nice, ionice, timeout, exec, command, builtin,
 * time, stdbuf, setsid, xargs, busybox, chroot, taskset, flock), argv[0] becomes its basename
 * (/usr/sbin/reboot -> reboot), and the command lines that other commands run are analysed
 * in turn, one level deeper: sh|bash|dash|... -c STRING, a here-document fed to a shell,
 * eval ARGS, env -S STRING, su -c STRING, flock -c STRING, watch ARGS, ssh HOST ARGS and
 * find ... -exec|-execdir|-ok|-okdir CMD ... ; or +. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OSM_SHELLCMD_LEN_MAX (256 * 1024) /* bytes of one command line */
#define OSM_SHELLCMD_WORDS_MAX 16384      /* words in a line, nested command lines included */
#define OSM_SHELLCMD_DEPTH_MAX 16         /* nesting: (), {}, $(), ``, sh -c, eval, -exec */
#define OSM_SHELLCMD_HEREDOCS_MAX 16      /* here-documents waiting for their bodies */

enum osm_shellcmd_redir_op {
    OSM_SHELLCMD_REDIR_IN,         /* <                                     */
    OSM_SHELLCMD_REDIR_OUT,        /* > >| &>, and >& FILE                  */
    OSM_SHELLCMD_REDIR_APPEND,     /* >> &>>                                */
    OSM_SHELLCMD_REDIR_RDWR,       /* <>                                    */
    OSM_SHELLCMD_REDIR_DUP_IN,     /* <&N <&-                               */
    OSM_SHELLCMD_REDIR_DUP_OUT,    /* >&N >&-                               */
    OSM_SHELLCMD_REDIR_HEREDOC,    /* << <<-: the target is the body        */
    OSM_SHELLCMD_REDIR_HERESTRING, /* <<<                                   */
};

struct osm_shellcmd_redir {
    int fd; /* the descriptor redirected; -1 for &> and &>> (standard output and error) */
    enum osm_shellcmd_redir_op op;
    const char *target; /* the target word after quote removal, or the here-document body */
};

enum {
    OSM_SHELLCMD_PIPE_IN = 1 << 0,    /* standard input is a pipe: a stage after the first */
    OSM_SHELLCMD_PIPED = 1 << 1,      /* a stage of a pipeline of two or more */
    OSM_SHELLCMD_BACKGROUND = 1 << 2, /* in a list run in the background (ended by &) */
    /* A shell or interpreter whose program is the output of another command: curl x | sh,
     * bash <(curl x), sh -c "$(curl x)", eval "$(curl x)", python3 <<< "$(curl x)". */
    OSM_SHELLCMD_CODE_FROM_COMMAND = 1 << 3,
};

/* One simple command as the analyser sees it. Everything is lent for the visit only. */
struct osm_shellcmd {
    const char *const *argv; /* the effective command, NULL-terminated; argv[0] a basename */
    size_t argc;             /* 0: a command of redirections or assignments only */
    const struct osm_shellcmd_redir *redirs; /* of the simple command as written */
    size_t n_redirs;
    const char *function; /* the function whose body holds the command, NULL outside one */
    unsigned flags;       /* OSM_SHELLCMD_* */
    unsigned depth;       /* 0 at top level, +1 per nesting */
};

/* Returns 0 to go on, a positive value to stop the walk with it, or -errno to fail it. */
typedef int (*osm_shellcmd_visit_fn)(const struct osm_shellcmd *cmd, void *userdata);

/* Calls visit for every simple command of line, those nested in it included. The whole line
 * is parsed before the first visit; command lines found inside it (sh -c STRING, eval, a
 * here-document fed to a shell) are parsed when reached, so a failure can follow visits.
 * Returns 0 when every command was visited, the first positive value visit returned, or:
 * -EINVAL for a line it cannot parse (an unbalanced quote, parenthesis, brace or substitution,
 * a misplaced operator, an empty command), -E2BIG for more than OSM_SHELLCMD_LEN_MAX bytes or
 * OSM_SHELLCMD_WORDS_MAX words, -ELOOP for nesting deeper than OSM_SHELLCMD_DEPTH_MAX,
 * -ENOMEM, or a negative value visit returned. Callers that judge safety treat every failure
 * as the unsafe answer. */
int osm_shellcmd_walk(const char *line, osm_shellcmd_visit_fn visit, void *userdata);

/* True when cmd has the short option short_opt (alone or in a cluster such as -rf; '\0' for
 * none) or the long option long_name (--name, --name=..., or a GNU abbreviation of it; NULL
 * for none) anywhere before a "--" (GNU tools accept options after operands). */
bool osm_shellcmd_has_option(const struct osm_shellcmd *cmd, char short_opt, const char *long_name);

/* The n-th operand (from 0) of cmd: a word that is not an option, or any word after "--".
 * with_value lists the short options whose value is the next word when not attached, and
 * long_with_value (NULL-terminated, or NULL) the long ones, so that their values are not
 * taken for operands. NULL when cmd has fewer operands. */
const char *osm_shellcmd_operand(const struct osm_shellcmd *cmd, size_t n, const char *with_value,
                                 const char *const *long_with_value);
