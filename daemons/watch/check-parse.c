/* Health checks as JSON (osModa §4): parse, validate with osModa's rules, and give back. A check
 * that passes here is safe to run: a unit name systemd accepts, an http(s) URL, a program given
 * by absolute path that is not a shell or an interpreter, arguments without shell syntax. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks-internal.h"
#include "common/macro.h"

static const char *const kind_names[CHECK_KINDS] = {"systemd_unit", "tcp_port", "http_get",
                                                    "command"};

/* osModa's list: a cmd with one of these basenames would run arbitrary code from its args. */
static const char *const interpreters[] = {"sh",   "bash", "zsh",  "dash",   "fish",
                                           "csh",  "tcsh", "env",  "python", "python3",
                                           "perl", "ruby", "node", "lua"};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void check_free(struct check *c)
{
    if (!c)
        return;
    free(c->unit);
    free(c->host);
    free(c->url);
    if (c->argv) /* argv[0] is set last: a refused check may have args without it */
        for (size_t i = 0; i <= c->n_args; i++)
            free(c->argv[i]);
    free(c->argv);
    free(c);
}

const char *check_type(const struct check *c)
{
    return kind_names[c->kind];
}

static bool unit_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CHECK_UNIT_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._-") == n;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A required string member of at most max bytes, without control characters or NUL. */
static int get_string(const json_t *j, const char *key, size_t max, const char **ret, char *err,
                      size_t errlen)
{
    const json_t *v = json_object_get(j, key);

    if (!v)
        return fail(err, errlen, "%s: missing", key);
    if (!json_is_string(v))
        return fail(err, errlen, "%s: must be a string", key);
    if (json_string_length(v) == 0)
        return fail(err, errlen, "%s: must not be empty", key);
    if (json_string_length(v) > max)
        return fail(err, errlen, "%s: longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, errlen, "%s: holds a NUL byte", key);
    *ret = json_string_value(v);
    return 0;
}

static int get_int(const json_t *j, const char *key, int min, int max, int *ret, char *err,
                   size_t errlen)
{
    const json_t *v = json_object_get(j, key);

    if (!v)
        return fail(err, errlen, "%s: missing", key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, errlen, "%s: must be an integer from %d to %d", key, min, max);
    *ret = (int)json_integer_value(v);
    return 0;
}

static int parse_unit(const json_t *j, struct check *c, char *err, size_t errlen)
{
    const char *unit;
    int r = get_string(j, "unit", CHECK_UNIT_MAX, &unit, err, errlen);

    if (r < 0)
        return r;
    if (!unit_valid(unit))
        return fail(err, errlen, "unit: only A-Z a-z 0-9 @ . _ - are allowed");
    return (c->unit = strdup(unit)) ? 0 : -ENOMEM;
}

static int parse_tcp(const json_t *j, struct check *c, char *err, size_t errlen)
{
    const char *host;
    int r = get_string(j, "host", CHECK_HOST_MAX, &host, err, errlen);

    if (r < 0)
        return r;
    if (has_control(host) || strpbrk(host, " /"))
        return fail(err, errlen, "host: not a host name or address");
    if ((r = get_int(j, "port", 1, 65535, &c->port, err, errlen)) < 0)
        return r;
    return (c->host = strdup(host)) ? 0 : -ENOMEM;
}

static int parse_http(const json_t *j, struct check *c, char *err, size_t errlen)
{
    const char *url, *rest;
    int r = get_string(j, "url", CHECK_URL_MAX, &url, err, errlen);

    if (r < 0)
        return r;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return fail(err, errlen, "url: the scheme must be http or https");
    if (*rest == '\0' || *rest == '/' || has_control(url) || strchr(url, ' '))
        return fail(err, errlen, "url: not a valid URL");
    if ((r = get_int(j, "expect_status", 100, 599, &c->expect_status, err, errlen)) < 0)
        return r;
    return (c->url = strdup(url)) ? 0 : -ENOMEM;
}

/* osModa's shell metacharacters: none may appear in cmd or an argument. */
static bool shell_free(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false; /* a NUL inside */
    return strcspn(s, "$`|;&(){}<>!\\\n\r") == len;
}

static int check_cmd(const char *cmd, char *err, size_t errlen)
{
    const char *base = strrchr(cmd, '/');

    if (cmd[0] != '/')
        return fail(err, errlen, "cmd: must be an absolute path");
    if (strstr(cmd, ".."))
        return fail(err, errlen, "cmd: must not contain '..'");
    if (!shell_free(cmd, strlen(cmd)))
        return fail(err, errlen, "cmd: holds a shell metacharacter");
    base++;
    if (*base == '\0')
        return fail(err, errlen, "cmd: names a directory");
    for (size_t i = 0; i < ELEMENTSOF(interpreters); i++)
        if (strcmp(base, interpreters[i]) == 0)
            return fail(err, errlen, "cmd: %s is a shell or interpreter", base);
    return 0;
}

static int parse_args(const json_t *args, struct check *c, char *err, size_t errlen)
{
    size_t i;
    const json_t *a;

    if (args && !json_is_array(args))
        return fail(err, errlen, "args: must be an array of strings");
    c->n_args = args ? json_array_size(args) : 0;
    if (c->n_args > CHECK_ARGS_MAX)
        return fail(err, errlen, "args: more than %d arguments", CHECK_ARGS_MAX);
    if (!(c->argv = calloc(c->n_args + 2, sizeof(char *))))
        return -ENOMEM;
    json_array_foreach(args, i, a)
    {
        if (!json_is_string(a))
            return fail(err, errlen, "args[%zu]: must be a string", i);
        if (json_string_length(a) > CHECK_ARG_MAX)
            return fail(err, errlen, "args[%zu]: longer than %d bytes", i, CHECK_ARG_MAX);
        if (!shell_free(json_string_value(a), json_string_length(a)))
            return fail(err, errlen, "args[%zu]: holds a shell metacharacter", i);
        if (!(c->argv[i + 1] = strdup(json_string_value(a))))
            return -ENOMEM;
    }
    return 0;
}

static int parse_command(const json_t *j, struct check *c, char *err, size_t errlen)
{
    const char *cmd;
    int r = get_string(j, "cmd", CHECK_ARG_MAX, &cmd, err, errlen);

    if (r < 0 || (r = check_cmd(cmd, err, errlen)) < 0)
        return r;
    if ((r = parse_args(json_object_get(j, "args"), c, err, errlen)) < 0)
        return r;
    return (c->argv[0] = strdup(cmd)) ? 0 : -ENOMEM;
}

static int (*const parsers[CHECK_KINDS])(const json_t *, struct check *, char *, size_t) = {
    parse_unit, parse_tcp, parse_http, parse_command};

int check_parse(const json_t *j, struct check **ret, char *err, size_t errlen)
{
    const char *type;
    struct check *c;
    int r, kind = -1;

    if (!json_is_object(j))
        return fail(err, errlen, "check: must be an object");
    if ((r = get_string(j, "type", 64, &type, err, errlen)) < 0)
        return r;
    for (int k = 0; k < CHECK_KINDS; k++)
        if (strcmp(type, kind_names[k]) == 0)
            kind = k;
    if (kind < 0)
        return fail(err, errlen, "type: must be one of systemd_unit, tcp_port, http_get, command");
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->kind = (enum check_kind)kind;
    if ((r = parsers[kind](j, c, err, errlen)) < 0) {
        if (r == -ENOMEM)
            fail(err, errlen, "check: out of memory");
        check_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

static json_t *args_json(const struct check *c)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < c->n_args; i++)
        if (json_array_append_new(a, json_string(c->argv[i + 1])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *check_json(const struct check *c)
{
    switch (c->kind) {
    case CHECK_SYSTEMD_UNIT:
        return json_pack("{s:s, s:s}", "type", "systemd_unit", "unit", c->unit);
    case CHECK_TCP_PORT:
        return json_pack("{s:s, s:s, s:i}", "type", "tcp_port", "host", c->host, "port", c->port);
    case CHECK_HTTP_GET:
        return json_pack("{s:s, s:s, s:i}", "type", "http_get", "url", c->url, "expect_status",
                         c->expect_status);
    case CHECK_COMMAND:
        return json_pack("{s:s, s:s, s:o}", "type", "command", "cmd", c->argv[0], "args",
                         args_json(c));
    default:
        return NULL;
    }
}
