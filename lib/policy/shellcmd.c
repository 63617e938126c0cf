/* The shell-command analyser's walk: for each simple command the parser found, the command it
 * really runs (wrappers such as sudo stripped), and the command lines that commands run
 * (sh -c, eval, find -exec, ...) parsed in turn (contract in shellcmd.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "shellcmd-parse.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static bool in_set(const char *set, char c)
{
    return c != '\0' && strchr(set, c) != NULL;
}

enum wrapper_kind {
    WRAP_PREFIX, /* options, `skip` operands, then the command it runs */
    WRAP_STRING, /* only its string option runs a command line (su -c) */
    WRAP_JOIN,   /* options, `skip` operands, then the rest joined is a command line */
    WRAP_EVAL,   /* its arguments joined are a command line */
    WRAP_FIND,   /* -exec CMD ... ; */
    WRAP_SHELL,  /* -c STRING, or a script from standard input */
    WRAP_INTERP, /* a program inline, from a file, or from standard input */
    WRAP_SOURCE, /* . FILE */
};

/* A command that runs another command or a command line. */
struct wrapper {
    const char *name;
    enum wrapper_kind kind;
    const char *with_value; /* short options whose value is the next word when not attached */
    const char *const *long_with_value;
    const char *no_command; /* short options with which it runs no command */
    const char *const *long_no_command;
    char string_opt; /* the option whose value is a command line */
    const char *const *long_string;
    const char *code; /* shells and interpreters: options that give the program */
    const char *const *long_code;
    unsigned skip;    /* operands before the command (timeout DURATION, chroot DIR) */
    bool assignments; /* NAME=value words before the command (env) */
};

#define SHELL(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = WRAP_SHELL, .with_value = "oO",                                         \
        .long_with_value = LIST("rcfile", "init-file"), .code = "c"                                \
    }
#define NODE(n)                                                                                    \
    {                                                                                              \
        .name = n, .kind = WRAP_INTERP, .with_value = "r", .long_with_value = LIST("require"),     \
        .code = "ep", .long_code = LIST("eval", "print")                                           \
    }

static const struct wrapper wrappers[] = {
    {.name = "sudo",
     .kind = WRAP_PREFIX,
     .with_value = "CDghpRrTtUu",
     .long_with_value = LIST("close-from", "chdir", "group", "host", "prompt", "chroot", "role",
                             "type", "command-timeout", "other-user", "user"),
     .no_command = "elvKV",
     .long_no_command = LIST("edit", "list", "validate", "remove-timestamp", "version", "help")},
    {.name = "doas", .kind = WRAP_PREFIX, .with_value = "uC"},
    {.name = "pkexec", .kind = WRAP_PREFIX, .long_with_value = LIST("user")},
    {.name = "env",
     .kind = WRAP_PREFIX,
     .with_value = "uC",
     .long_with_value = LIST("unset", "chdir"),
     .string_opt = 'S',
     .long_string = LIST("split-string"),
     .assignments = true},
    {.name = "nohup", .kind = WRAP_PREFIX},
    {.name = "nice", .kind = WRAP_PREFIX, .with_value = "n", .long_with_value = LIST("adjustment")},
    {.name = "ionice",
     .kind = WRAP_PREFIX,
     .with_value = "cn",
     .long_with_value = LIST("class", "classdata"),
     .no_command = "pPu",
     .long_no_command = LIST("pid", "pgid", "uid")},
    {.name = "timeout",
     .kind = WRAP_PREFIX,
     .with_value = "ks",
     .long_with_value = LIST("kill-after", "signal"),
     .skip = 1},
    {.name = "exec", .kind = WRAP_PREFIX, .with_value = "a"},
    {.name = "command", .kind = WRAP_PREFIX, .no_command = "vV"},
    {.name = "builtin", .kind = WRAP_PREFIX},
    {.name = "time",
     .kind = WRAP_PREFIX,
     .with_value = "fo",
     .long_with_value = LIST("format", "output")},
    {.name = "stdbuf",
     .kind = WRAP_PREFIX,
     .with_value = "ioe",
     .long_with_value = LIST("input", "output", "error")},
    {.name = "setsid", .kind = WRAP_PREFIX},
    {.name = "xargs",
     .kind = WRAP_PREFIX,
     .with_value = "adEILnPs",
     .long_with_value =
         LIST("arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var")},
    {.name = "busybox", .kind = WRAP_PREFIX},
    {.name = "chroot",
     .kind = WRAP_PREFIX,
     .long_with_value = LIST("userspec", "groups"),
     .skip = 1},
    {.name = "taskset",
     .kind = WRAP_PREFIX,
     .no_command = "p",
     .long_no_command = LIST("pid"),
     .skip = 1},
    {.name = "flock",
     .kind = WRAP_PREFIX,
     .with_value = "wE",
     .long_with_value = LIST("timeout", "conflict-exit-code"),
     .string_opt = 'c',
     .long_string = LIST("command"),
     .skip = 1},
    {.name = "su",
     .kind = WRAP_STRING,
     .with_value = "sgGw",
     .long_with_value = LIST("shell", "group", "supp-group", "whitelist-environment"),
     .string_opt = 'c',
     .long_string = LIST("command", "session-command")},
    {.name = "watch",
     .kind = WRAP_JOIN,
     .with_value = "nq",
     .long_with_value = LIST("interval", "equexit")},
    {.name = "ssh", .kind = WRAP_JOIN, .with_value = "BbcDEeFIiJLlmOopQRSWw", .skip = 1},
    {.name = "eval", .kind = WRAP_EVAL},
    {.name = "find", .kind = WRAP_FIND},
    {.name = ".", .kind = WRAP_SOURCE},
    {.name = "source", .kind = WRAP_SOURCE},
    SHELL("sh"),
    SHELL("bash"),
    SHELL("dash"),
    SHELL("zsh"),
    SHELL("ksh"),
    SHELL("mksh"),
    SHELL("ash"),
    SHELL("rbash"),
    {.name = "python", .kind = WRAP_INTERP, .with_value = "WX", .code = "cm"},
    {.name = "perl", .kind = WRAP_INTERP, .code = "eE"},
    {.name = "ruby", .kind = WRAP_INTERP, .code = "e"},
    NODE("node"),
    NODE("nodejs"),
    {.name = "php", .kind = WRAP_INTERP, .with_value = "dc", .code = "rfBRFE"},
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static const struct wrapper *wrapper_find(const char *name)
{
    size_t n = strlen("python");

    if (strncmp(name, "python", n) == 0 && strspn(name + n, "0123456789.") == strlen(name + n))
        name = "python"; /* python3, python3.11 */
    for (size_t i = 0; i < ELEMENTSOF(wrappers); i++)
        if (strcmp(wrappers[i].name, name) == 0)
            return &wrappers[i];
    return NULL;
}

/* given ("name" or "name=value") names a long option of list, or abbreviates one (GNU). */
static bool long_in(const char *const *list, const char *given)
{
    size_t n = strcspn(given, "=");

    for (; list && n > 0 && *list; list++)
        if (strlen(*list) >= n && strncmp(*list, given, n) == 0)
            return true;
    return false;
}

/* What a wrapper's options say. */
struct opts {
    size_t next;        /* the first word after the options */
    size_t string_word; /* the word holding the string option's value, SIZE_MAX: none */
    size_t string_off;  /* where the value starts in it */
    bool no_command, code, read_stdin;
};

struct walker {
    struct sh_analysis *an;
    osm_shellcmd_visit_fn visit;
    void *userdata;
    const char **argv;
    size_t cap_argv;
    struct osm_shellcmd_redir *redirs;
    size_t cap_redirs;
};

static const char *wtext(const struct walker *wk, size_t w)
{
    return wk->an->words[w].text;
}

/* A long option, word w: returns how many words it used. */
static size_t long_option(const struct walker *wk, const struct wrapper *wr, size_t w, size_t end,
                          struct opts *o)
{
    const char *name = wtext(wk, w) + 2, *eq = strchr(name, '=');

    if (long_in(wr->long_no_command, name))
        o->no_command = true;
    else if (long_in(wr->long_code, name))
        o->code = true;
    if (long_in(wr->long_string, name) && (eq || w + 1 < end)) {
        o->string_word = eq ? w : w + 1;
        o->string_off = eq ? (size_t)(eq + 1 - wtext(wk, w)) : 0;
        return eq ? 1 : 2;
    }
    return !eq && long_in(wr->long_with_value, name) ? 2 : 1;
}

/* A cluster of short options, word w: returns how many words it used. */
static size_t short_options(const struct walker *wk, const struct wrapper *wr, size_t w, size_t end,
                            struct opts *o)
{
    const char *t = wtext(wk, w);

    for (const char *p = t + 1; *p; p++) {
        bool value = p[1] == '\0' && w + 1 < end;
        if (wr->no_command && in_set(wr->no_command, *p))
            o->no_command = true;
        if (wr->kind == WRAP_SHELL && *p == 's')
            o->read_stdin = true;
        if (wr->string_opt && *p == wr->string_opt) {
            if (p[1] || value) {
                o->string_word = p[1] ? w : w + 1;
                o->string_off = p[1] ? (size_t)(p + 1 - t) : 0;
            }
            return value ? 2 : 1;
        }
        if (wr->code && in_set(wr->code, *p)) {
            o->code = true;
            if (wr->kind == WRAP_INTERP) /* python -c CODE: the value is the code */
                return value ? 2 : 1;
        }
        if (wr->with_value && in_set(wr->with_value, *p))
            return value ? 2 : 1;
    }
    return 1;
}

/* Reads the options of the wrapper at word w. permute: options may follow operands (su). */
static void scan_options(const struct walker *wk, const struct wrapper *wr, size_t w, size_t end,
                         bool permute, struct opts *o)
{
    *o = (struct opts){.string_word = SIZE_MAX};
    for (w++; w < end;) {
        const char *t = wtext(wk, w);
        bool dash = t[0] == '-' || (t[0] == '+' && wr->kind == WRAP_SHELL);
        if (strcmp(t, "--") == 0) {
            w++;
            break;
        }
        if (!dash || (t[1] == '\0' && !wr->assignments)) { /* env - is env -i */
            if (!permute)
                break;
            w++;
        } else if (t[1] == '-') {
            w += long_option(wk, wr, w, end, o);
        } else {
            w += short_options(wk, wr, w, end, o);
        }
    }
    o->next = w < end ? w : end;
}

static int visit_cmd(struct walker *wk, const struct sh_cmd *c, size_t w, unsigned flags)
{
    const struct sh_analysis *an = wk->an;
    size_t argc = c->first_word + c->n_words - w;
    struct osm_shellcmd sc;

    if (osm_shellcmd_reserve(&wk->argv, &wk->cap_argv, 0, argc + 1, sizeof(*wk->argv)) < 0 ||
        osm_shellcmd_reserve(&wk->redirs, &wk->cap_redirs, 0, c->n_redirs, sizeof(*wk->redirs)) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < argc; i++)
        wk->argv[i] = an->words[w + i].text;
    if (argc > 0)
        wk->argv[0] = base_name(wk->argv[0]);
    wk->argv[argc] = NULL;
    for (size_t i = 0; i < c->n_redirs; i++) {
        const struct sh_redir *rd = &an->redirs[c->first_redir + i];
        wk->redirs[i] = (struct osm_shellcmd_redir){rd->fd, rd->op, an->strings[rd->target].text};
    }
    sc = (struct osm_shellcmd){wk->argv,         argc,    wk->redirs, c->n_redirs, c->function,
                               c->flags | flags, c->depth};
    return wk->visit(&sc, wk->userdata);
}

#define INHERITED (OSM_SHELLCMD_PIPE_IN | OSM_SHELLCMD_PIPED | OSM_SHELLCMD_BACKGROUND)

/* line is a command line that c runs: parsed one level deeper, its commands queued. */
static int walk_line(struct walker *wk, const struct sh_cmd *c, const char *line)
{
    size_t from = wk->an->n_cmds;
    int r = osm_shellcmd_parse(wk->an, line, strlen(line), c->depth + 1, c->function);

    if (r == 0)
        for (size_t i = from; i < wk->an->n_cmds; i++)
            wk->an->cmds[i].flags |= c->flags & INHERITED;
    return r;
}

/* The words [from, end) joined by spaces, after head when it is not NULL. New string. */
static char *join(const struct walker *wk, const char *head, size_t from, size_t end)
{
    size_t len = head ? strlen(head) + 1 : 0, n = 0;
    char *out;

    for (size_t w = from; w < end; w++)
        len += strlen(wtext(wk, w)) + 1;
    if (!(out = malloc(len + 1)))
        return NULL;
    if (head)
        n = (size_t)sprintf(out, "%s", head);
    for (size_t w = from; w < end; w++)
        n += (size_t)sprintf(out + n, "%s%s", n > 0 ? " " : "", wtext(wk, w));
    out[n] = '\0';
    return out;
}

static int walk_joined(struct walker *wk, const struct sh_cmd *c, const char *head, size_t from,
                       size_t end)
{
    _cleanup_free_ char *line = join(wk, head, from, end);

    return line ? walk_line(wk, c, line) : -ENOMEM;
}

/* c's words [from, from + n) are a command c runs (find -exec): queued one level deeper. */
static int queue_words(struct walker *wk, const struct sh_cmd *c, size_t from, size_t n)
{
    struct sh_analysis *an = wk->an;

    if (c->depth + 1 > OSM_SHELLCMD_DEPTH_MAX)
        return -ELOOP;
    if (osm_shellcmd_reserve(&an->cmds, &an->cap_cmds, an->n_cmds, 1, sizeof(struct sh_cmd)) < 0)
        return -ENOMEM;
    an->cmds[an->n_cmds++] =
        (struct sh_cmd){from, n, 0, 0, c->function, c->flags & INHERITED, c->depth + 1};
    return 0;
}

static bool is_stdin_path(const char *s)
{
    return strcmp(s, "-") == 0 || strcmp(s, "/dev/stdin") == 0 || strcmp(s, "/dev/fd/0") == 0 ||
           strcmp(s, "/proc/self/fd/0") == 0;
}

/* Where a shell or interpreter that reads its program from standard input gets it: returns
 * OSM_SHELLCMD_CODE_FROM_COMMAND when that is another command's output. A here-document or
 * here-string fed to a shell is analysed as a command line. */
static int stdin_program(struct walker *wk, const struct sh_cmd *c, bool shell)
{
    const struct sh_redir *last = NULL;
    const struct sh_word *src;
    int r;

    for (size_t i = 0; i < c->n_redirs; i++)
        if (wk->an->redirs[c->first_redir + i].fd == 0)
            last = &wk->an->redirs[c->first_redir + i];
    if (!last)
        return c->flags & OSM_SHELLCMD_PIPE_IN ? OSM_SHELLCMD_CODE_FROM_COMMAND : 0;
    src = &wk->an->strings[last->target];
    if (src->flags & (last->op == OSM_SHELLCMD_REDIR_IN ? W_PROCSUB : W_SUBST))
        return OSM_SHELLCMD_CODE_FROM_COMMAND;
    if (shell &&
        (last->op == OSM_SHELLCMD_REDIR_HEREDOC || last->op == OSM_SHELLCMD_REDIR_HERESTRING)) {
        if ((r = walk_line(wk, c, src->text)) < 0) /* the text stays where it is */
            return r;
    }
    return 0;
}

/* sh, bash, ..., python, perl, ..., and `.`: where their program comes from. */
static int walk_program(struct walker *wk, const struct sh_cmd *c, const struct wrapper *wr,
                        size_t w, size_t end)
{
    bool shell = wr->kind == WRAP_SHELL, source = wr->kind == WRAP_SOURCE;
    struct opts o = {.next = w + 1};
    int r = 0;

    if (!source)
        scan_options(wk, wr, w, end, false, &o);
    if (shell && o.code && o.next < end) { /* sh -c STRING */
        r = walk_line(wk, c, wtext(wk, o.next));
        if (r == 0 && (wk->an->words[o.next].flags & W_SUBST))
            r = OSM_SHELLCMD_CODE_FROM_COMMAND;
    } else if (shell && o.code) { /* x | xargs sh -c: the string comes from the pipe */
        r = c->flags & OSM_SHELLCMD_PIPE_IN ? OSM_SHELLCMD_CODE_FROM_COMMAND : 0;
    } else if (o.code) {
        /* the program is inline (python -c) or named (python -m): nothing more to see */
    } else if (!source && (o.next >= end || o.read_stdin || strcmp(wtext(wk, o.next), "-") == 0)) {
        r = stdin_program(wk, c, shell);
    } else if (o.next < end &&
               ((wk->an->words[o.next].flags & W_PROCSUB) ||
                ((c->flags & OSM_SHELLCMD_PIPE_IN) && is_stdin_path(wtext(wk, o.next))))) {
        r = OSM_SHELLCMD_CODE_FROM_COMMAND; /* bash <(curl x), curl x | . /dev/stdin */
    }
    return r < 0 ? r : visit_cmd(wk, c, w, (unsigned)r);
}

/* The command line in a string option (env -S, su -c, flock -c); env runs it with the words
 * after it. */
static int walk_string_option(struct walker *wk, const struct sh_cmd *c, const struct opts *o,
                              size_t end)
{
    const char *s = wtext(wk, o->string_word) + o->string_off;

    return walk_joined(wk, c, s, o->string_word + 1 < end ? o->string_word + 1 : end, end);
}

/* A wrapper such as sudo at word *w: moves *w to the command it runs, or visits and sets
 * *done when it runs no further command (or a command line of its own, queued). */
static int unwrap(struct walker *wk, const struct sh_cmd *c, const struct wrapper *wr, size_t *w,
                  size_t end, bool *done)
{
    size_t next;
    struct opts o;
    int r = 0;

    scan_options(wk, wr, *w, end, wr->kind == WRAP_STRING, &o);
    next = o.next;
    while (wr->assignments && next < end && strchr(wtext(wk, next), '='))
        next++;
    next += wr->skip;
    if (o.string_word == SIZE_MAX && wr->string_opt && next < end) { /* flock FILE -c CMD */
        const char *t = wtext(wk, next);
        if (t[0] == '-' && t[1] == wr->string_opt && t[2] == '\0' && next + 1 < end)
            o.string_word = next + 1;
        else if (strncmp(t, "--", 2) == 0 && long_in(wr->long_string, t + 2) && next + 1 < end)
            o.string_word = next + 1;
    }
    *done = o.no_command || o.string_word != SIZE_MAX || wr->kind != WRAP_PREFIX || next >= end;
    if (o.string_word != SIZE_MAX && !o.no_command)
        r = walk_string_option(wk, c, &o, wr->assignments ? end : o.string_word + 1);
    else if (wr->kind == WRAP_JOIN && !o.no_command && next < end)
        r = walk_joined(wk, c, NULL, next, end);
    if (r < 0 || *done)
        return r < 0 ? r : visit_cmd(wk, c, *w, 0);
    *w = next;
    return 0;
}

/* find ... -exec CMD ... ; (or + after {}): each CMD is a command of its own. */
static int walk_find(struct walker *wk, const struct sh_cmd *c, size_t w, size_t end)
{
    static const char *const execs[] = {"-exec", "-execdir", "-ok", "-okdir"};
    int r = 0;

    for (size_t i = w + 1; r == 0 && i < end; i++) {
        size_t k = i + 1;
        bool exec = false;
        for (size_t e = 0; e < ELEMENTSOF(execs); e++)
            exec = exec || strcmp(wtext(wk, i), execs[e]) == 0;
        if (!exec)
            continue;
        while (k < end && strcmp(wtext(wk, k), ";") != 0 &&
               !(strcmp(wtext(wk, k), "+") == 0 && strstr(wtext(wk, k - 1), "{}")))
            k++;
        if (k > i + 1)
            r = queue_words(wk, c, i + 1, k - i - 1);
        i = k;
    }
    return r < 0 ? r : visit_cmd(wk, c, w, 0);
}

/* eval ARGS: the arguments joined are a command line; eval "$(cmd)" runs cmd's output. */
static int walk_eval(struct walker *wk, const struct sh_cmd *c, size_t w, size_t end)
{
    unsigned flags = 0;
    int r;

    for (size_t i = w + 1; i < end; i++)
        if (wk->an->words[i].flags & W_SUBST)
            flags = OSM_SHELLCMD_CODE_FROM_COMMAND;
    if ((r = walk_joined(wk, c, NULL, w + 1, end)) < 0)
        return r;
    return visit_cmd(wk, c, w, flags);
}

/* Finds the effective command of command ci and visits it. */
static int walk_cmd(struct walker *wk, size_t ci)
{
    const struct sh_cmd c = wk->an->cmds[ci]; /* a copy: queued commands may move the array */
    size_t w = c.first_word, end = c.first_word + c.n_words;
    const struct wrapper *wr;
    bool done = false;
    int r;

    while (w < end && (wk->an->words[w].flags & W_ASSIGN))
        w++;
    for (;;) {
        if (w >= end || !(wr = wrapper_find(base_name(wtext(wk, w)))))
            return visit_cmd(wk, &c, w, 0);
        switch (wr->kind) {
        case WRAP_SHELL:
        case WRAP_INTERP:
        case WRAP_SOURCE:
            return walk_program(wk, &c, wr, w, end);
        case WRAP_EVAL:
            return walk_eval(wk, &c, w, end);
        case WRAP_FIND:
            return walk_find(wk, &c, w, end);
        default:
            if ((r = unwrap(wk, &c, wr, &w, end, &done)) != 0 || done)
                return r;
        }
    }
}

int osm_shellcmd_walk(const char *line, osm_shellcmd_visit_fn visit, void *userdata)
{
    struct sh_analysis an = {0};
    struct walker wk = {.an = &an, .visit = visit, .userdata = userdata};
    size_t len = strnlen(line, OSM_SHELLCMD_LEN_MAX + 1);
    int r = len > OSM_SHELLCMD_LEN_MAX ? -E2BIG : osm_shellcmd_parse(&an, line, len, 0, NULL);

    for (size_t i = 0; r == 0 && i < an.n_cmds; i++)
        r = walk_cmd(&wk, i);
    free(wk.argv);
    free(wk.redirs);
    osm_shellcmd_analysis_free(&an);
    return r;
}

bool osm_shellcmd_has_option(const struct osm_shellcmd *cmd, char short_opt, const char *long_name)
{
    for (size_t i = 1; i < cmd->argc; i++) {
        const char *a = cmd->argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] != '-' || a[1] == '\0')
            continue;
        if (a[1] == '-' ? long_name && long_in(LIST(long_name), a + 2) : in_set(a + 1, short_opt))
            return true;
    }
    return false;
}

const char *osm_shellcmd_operand(const struct osm_shellcmd *cmd, size_t n, const char *with_value,
                                 const char *const *long_with_value)
{
    bool options = true;

    for (size_t i = 1; i < cmd->argc; i++) {
        const char *a = cmd->argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && a[0] == '-' && a[1] == '-') {
            i += !strchr(a, '=') && long_in(long_with_value, a + 2);
        } else if (options && a[0] == '-' && a[1] != '\0') {
            for (const char *p = a + 1; *p; p++)
                if (with_value && in_set(with_value, *p)) {
                    i += p[1] == '\0';
                    break;
                }
        } else if (n-- == 0) {
            return a;
        }
    }
    return NULL;
}
