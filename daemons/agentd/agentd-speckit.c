/* spec_kit_init and spec_kit_run: GitHub Spec Kit in the agent workspace. osModa ran them as
 * root shell commands from the bridge; here they are sandboxed jobs like shell_exec (ring 2,
 * /workspace writable; spec_kit_run's coding agent needs the network, which it reaches only
 * through osmoda-egress, and the tool is privileged, so it always asks). The command is built here
 * from validated arguments with every value single-quoted. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-tools.h"
#include "agentd.h"
#include "common/limits.h"

#define SLUG_MAX 64
#define SPECKIT_INIT_WAIT_MS 60000

/* 'value' with every ' written as '\'' (new string). */
static char *shell_quote(const char *v)
{
    size_t n = 2;
    char *out, *o;

    for (const char *p = v; *p; p++)
        n += *p == '\'' ? 4 : 1;
    out = o = malloc(n + 1);
    if (!out)
        return NULL;
    *o++ = '\'';
    for (const char *p = v; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* Lower-case letters, digits and single '-' from name; empty when nothing is left. */
static void slugify(const char *name, char out[static SLUG_MAX + 1])
{
    size_t n = 0;

    for (const char *p = name; *p && n < SLUG_MAX; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80)
            out[n++] = (char)tolower(c);
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

static json_t *refuse(const char **ret_error, const char *code, const char *message)
{
    *ret_error = code;
    return json_pack("{s:s, s:s}", "error", code, "message", message);
}

static json_t *spec_kit_init(struct osm_exec_call *call, const char **ret_error)
{
    const char *integration = json_string_value(json_object_get(call->args, "integration"));
    const char *seed = json_string_value(json_object_get(call->args, "constitution_seed"));
    _cleanup_free_ char *q_int = NULL, *q_seed = NULL, *cmd = NULL;
    char slug[SLUG_MAX + 1];

    slugify(json_string_value(json_object_get(call->args, "project_name")), slug);
    if (!*slug)
        return refuse(ret_error, "invalid_arguments", "project_name has no letters or digits");
    q_int = shell_quote(integration ? integration : "claude");
    q_seed = shell_quote(seed ? seed : "");
    if (!q_int || !q_seed ||
        asprintf(&cmd,
                 "mkdir -p /workspace/%s && cd /workspace/%s && "
                 "specify init --here --integration %s --no-git --force%s%s%s",
                 slug, slug, q_int, seed ? " && printf '%s\\n' " : "", seed ? q_seed : "",
                 seed ? " > constitution-seed.md" : "") < 0)
        return refuse(ret_error, "internal_error", "out of memory");
    json_t *st = agentd_shell_run_command(call, cmd, false, SPECKIT_INIT_WAIT_MS, ret_error);
    if (st)
        json_object_set_new(st, "project_path", json_sprintf("/workspace/%s", slug));
    return st;
}

/* The project must be a directory under /workspace, named without "..". */
static bool project_path_valid(const char *p)
{
    return strncmp(p, "/workspace/", 11) == 0 && p[11] && !strstr(p, "..") && !strpbrk(p, "\n\r");
}

static json_t *spec_kit_run(struct osm_exec_call *call, const char **ret_error)
{
    const char *path = json_string_value(json_object_get(call->args, "project_path"));
    const char *command = json_string_value(json_object_get(call->args, "command"));
    const char *prompt = json_string_value(json_object_get(call->args, "prompt"));
    json_int_t secs = json_integer_value(json_object_get(call->args, "timeout_seconds"));
    _cleanup_free_ char *step = NULL, *q_path = NULL, *q_step = NULL, *cmd = NULL;

    if (!project_path_valid(path))
        return refuse(ret_error, "invalid_arguments", "project_path must be under /workspace/");
    if (asprintf(&step, "/speckit-%s%s%s", command, prompt ? " " : "", prompt ? prompt : "") < 0)
        return refuse(ret_error, "internal_error", "out of memory");
    q_path = shell_quote(path);
    q_step = shell_quote(step);
    if (!q_path || !q_step ||
        asprintf(&cmd,
                 "cd %s && claude -p --output-format stream-json --verbose "
                 "--model claude-haiku-4-5 -- %s",
                 q_path, q_step) < 0)
        return refuse(ret_error, "internal_error", "out of memory");
    return agentd_shell_run_command(
        call, cmd, true, (secs > 0 ? secs : OSM_TOOL_SPECKIT_TIMEOUT_MAX_S) * 1000, ret_error);
}

const struct agentd_handler agentd_speckit_handlers[] = {
    {"spec_kit_init", spec_kit_init, NULL, true},
    {"spec_kit_run", spec_kit_run, NULL, true},
};
const size_t agentd_n_speckit_handlers = ELEMENTSOF(agentd_speckit_handlers);
