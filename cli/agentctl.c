/* agentctl: the operator CLI. Global flags, the verb table, --help generated from it, generic
 * option parsing and the error helpers every verb uses. Verbs live in cli/ctl-*.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "ctl.h"

#define CTL_DEFAULT_STATE_DIR "/var/lib/osmoda"
#define CTL_DEFAULT_RUN_DIR "/run/osmoda"
#define CTL_SOCKET_NAME "agentd.sock"

static const struct ctl_verb *const verbs[] = {
    &ctl_verb_events,     &ctl_verb_verify_ledger, &ctl_verb_stats,     &ctl_verb_health,
    &ctl_verb_checkpoint, &ctl_verb_prove,         &ctl_verb_approvals, &ctl_verb_approve,
    &ctl_verb_deny,       &ctl_verb_stop,          &ctl_verb_freeze,    &ctl_verb_thaw,
    &ctl_verb_lockdown,   &ctl_verb_unlock,        &ctl_verb_fim,
};

enum { GOPT_STATE_DIR, GOPT_SOCKET, GOPT_JSON, GOPT_HELP, GOPT_VERSION };

static const struct ctl_opt global_opts[] = {
    [GOPT_STATE_DIR] = {"state-dir", "DIR",
                        "state directory (default $OSMODA_STATE_DIR, else " CTL_DEFAULT_STATE_DIR
                        ")"},
    [GOPT_SOCKET] = {"socket", "PATH",
                     "agentd socket (default $OSMODA_RUN_DIR/" CTL_SOCKET_NAME
                     ", else " CTL_DEFAULT_RUN_DIR "/" CTL_SOCKET_NAME ")"},
    [GOPT_JSON] = {"json", NULL, "print JSON instead of text"},
    [GOPT_HELP] = {"help", NULL, "show this help, or a verb's with 'agentctl VERB --help'"},
    [GOPT_VERSION] = {"version", NULL, "show the version"},
    {NULL, NULL, NULL},
};

/* "agentctl: <message>" on stderr, without the newline. */
static OSM_PRINTF(1, 0) void vwarn(const char *fmt, va_list ap)
{
    fputs("agentctl: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_FAILED;
}

int ctl_usage(const struct ctl_verb *v, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'agentctl%s%s --help')\n", v ? " " : "", v ? v->name : "");
    return CTL_USAGE;
}

int ctl_parse_int(const struct ctl_verb *v, const char *what, const char *s, int64_t min,
                  int64_t max, int64_t *ret)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || n < min || n > max)
        return ctl_usage(v, "%s must be an integer from %" PRId64 " to %" PRId64 ", not '%s'", what,
                         min, max, s);
    *ret = n;
    return CTL_OK;
}

/* ---- help ------------------------------------------------------------------------------- */

static void print_opts(const struct ctl_opt *opts)
{
    for (const struct ctl_opt *o = opts; o && o->name; o++) {
        char head[64];
        snprintf(head, sizeof(head), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-18s %s\n", head, o->help);
    }
}

static void print_verb_usage(const struct ctl_verb *v)
{
    printf("Usage: agentctl [GLOBAL OPTIONS] %s", v->name);
    for (const struct ctl_opt *o = v->opts; o && o->name; o++)
        printf(" [--%s%s%s]", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    printf("%s%s\n", *v->args ? " " : "", v->args);
}

static int help_program(void)
{
    printf("Usage: agentctl [GLOBAL OPTIONS] VERB [ARGS]\n\n"
           "osModa CLI: query events, verify ledger integrity and checkpoints.\n\n"
           "Global options:\n");
    print_opts(global_opts);
    printf("\nVerbs:\n");
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        printf("  %-18s %s\n", verbs[i]->name, verbs[i]->summary);
    printf("\nExit status: 0 success, 1 operation failed, 2 usage error.\n");
    return CTL_OK;
}

static int help_verb(const struct ctl_verb *v)
{
    static const struct ctl_opt verb_common[] = {
        {"json", NULL, "print JSON instead of text"},
        {"help", NULL, "show this help"},
        {NULL, NULL, NULL},
    };

    print_verb_usage(v);
    printf("\n%s\n\nOptions:\n", v->summary);
    print_opts(v->opts);
    print_opts(verb_common);
    return CTL_OK;
}

/* ---- argument parsing ------------------------------------------------------------------- */

/* Finds "--name" or "--name=value" in opts; ret_value points after '=' or is NULL. */
static int find_opt(const struct ctl_opt *opts, const char *arg, const char **ret_value)
{
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);

    *ret_value = eq ? eq + 1 : NULL;
    for (int i = 0; opts && i < CTL_OPTS_MAX && opts[i].name; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Reads the option at argv[*i] into *ret_value (a value option may take the next argv). */
static int take_opt_value(const struct ctl_verb *v, const struct ctl_opt *o, const char *inline_val,
                          int argc, char **argv, int *i, const char **ret_value)
{
    if (!o->arg) {
        if (inline_val)
            return ctl_usage(v, "option '--%s' takes no value", o->name);
        *ret_value = "";
        return CTL_OK;
    }
    if (inline_val) {
        *ret_value = inline_val;
        return CTL_OK;
    }
    if (*i + 1 >= argc)
        return ctl_usage(v, "option '--%s' needs a value %s", o->name, o->arg);
    *ret_value = argv[++*i];
    return CTL_OK;
}

static int add_positional(const struct ctl_verb *v, struct ctl_args *a, const char *arg)
{
    if (a->npos >= v->max_pos)
        return ctl_usage(v, "unexpected argument '%s'", arg);
    a->pos[a->npos++] = arg;
    return CTL_OK;
}

/* One argument after the verb: --json, --help, a verb option, or a positional one. */
static int parse_verb_arg(const struct ctl_verb *v, int argc, char **argv, int *i, struct ctl *c,
                          struct ctl_args *a, bool *ret_help)
{
    const char *arg = argv[*i], *inline_val;
    int k;

    if (strcmp(arg, "--json") == 0)
        c->json = true;
    else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
        *ret_help = true;
    else if (strncmp(arg, "--", 2) == 0 && arg[2]) {
        k = find_opt(v->opts, arg, &inline_val);
        if (k < 0)
            return ctl_usage(v, "unknown option '%s' for '%s'", arg, v->name);
        return take_opt_value(v, &v->opts[k], inline_val, argc, argv, i, &a->opt[k]);
    } else if (arg[0] == '-' && arg[1])
        return ctl_usage(v, "unknown option '%s' for '%s'", arg, v->name);
    else
        return add_positional(v, a, arg);
    return CTL_OK;
}

static int run_verb(const struct ctl_verb *v, struct ctl *c, int argc, char **argv)
{
    struct ctl_args a = {0};
    bool help = false;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc; i++)
                if ((r = add_positional(v, &a, argv[i])) != CTL_OK)
                    return r;
            break;
        }
        if ((r = parse_verb_arg(v, argc, argv, &i, c, &a, &help)) != CTL_OK)
            return r;
    }
    if (help)
        return help_verb(v);
    if (a.npos < v->min_pos)
        return ctl_usage(v, "'%s' needs %s", v->name, v->args);
    return v->exec(c, &a);
}

static const struct ctl_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (strcmp(verbs[i]->name, name) == 0)
            return verbs[i];
    return NULL;
}

/* Global flags before the verb; leaves *i at the verb (or argc). Returns -1 to go on, else an
 * exit code (help, version, usage error). */
static int parse_global(int argc, char **argv, int *i, struct ctl *c)
{
    for (; *i < argc && argv[*i][0] == '-'; (*i)++) {
        const char *arg = argv[*i], *value = NULL;
        int k = strncmp(arg, "--", 2) == 0 ? find_opt(global_opts, arg, &value) : -1;
        int r;

        if (strcmp(arg, "-h") == 0)
            k = GOPT_HELP;
        if (k < 0)
            return ctl_usage(NULL, "unknown option '%s'", arg);
        if ((r = take_opt_value(NULL, &global_opts[k], value, argc, argv, i, &value)) != CTL_OK)
            return r;
        if (k == GOPT_STATE_DIR)
            c->state_dir = value;
        else if (k == GOPT_SOCKET)
            c->socket = value;
        else if (k == GOPT_JSON)
            c->json = true;
        else if (k == GOPT_HELP)
            return help_program();
        else {
            printf("agentctl %s\n", OSMODA_VERSION);
            return CTL_OK;
        }
    }
    return -1;
}

/* Fills what the flags left unset from the environment; *ret_alloc owns a built path. */
static int apply_env_defaults(struct ctl *c, char **ret_alloc)
{
    const char *env;

    if (!c->state_dir) {
        env = getenv("OSMODA_STATE_DIR");
        c->state_dir = env && *env ? env : CTL_DEFAULT_STATE_DIR;
    }
    if (!c->socket) {
        env = getenv("OSMODA_RUN_DIR");
        *ret_alloc = osm_path_join(env && *env ? env : CTL_DEFAULT_RUN_DIR, CTL_SOCKET_NAME);
        if (!*ret_alloc)
            return ctl_fail("out of memory");
        c->socket = *ret_alloc;
    }
    return CTL_OK;
}

int main(int argc, char **argv)
{
    _cleanup_free_ char *socket_alloc = NULL;
    struct ctl c = {0};
    const struct ctl_verb *v;
    int i = 1, r;

    if ((r = parse_global(argc, argv, &i, &c)) >= 0)
        return r;
    if (i >= argc)
        return ctl_usage(NULL, "missing verb");
    v = find_verb(argv[i]);
    if (!v)
        return ctl_usage(NULL, "unknown verb '%s'", argv[i]);
    if ((r = apply_env_defaults(&c, &socket_alloc)) != CTL_OK)
        return r;
    return run_verb(v, &c, argc - i, argv + i);
}
