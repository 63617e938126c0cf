/* The seeds' tool names ("72 System Tools": read_file, run_command, ...) that mean the same as one
 * of osModa's 92, and how their arguments map. Seed tools with no equivalent (move_path, kv_*,
 * llm_*, egress_*, ...) are not accepted: an unknown tool is a clearer answer than a near miss. */
#include <string.h>

#include "tools/tools-table.h"

#define RENAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

const struct osm_tool_alias osm_tool_aliases[] = {
    {"read_file", "file_read", RENAMES("file_path", "path", "max_lines", "maxLines"), NULL},
    {"write_file", "file_write", RENAMES("file_path", "path", "data", "content"), NULL},
    {"list_dir", "directory_list", RENAMES("dir", "path", "directory", "path"), NULL},
    {"disk_usage", "system_query", NULL, RENAMES("query", "disk")},
    {"run_command", "shell_exec", RENAMES("cmd", "command", "timeout_ms", "timeout"), NULL},
    {"list_processes", "system_query", NULL, RENAMES("query", "processes")},
    {"system_info", "system_health", NULL, NULL},
    {"mesh_send", "mesh_peer_send", RENAMES("peer_id", "id"), NULL},
    {"sign", "wallet_sign", RENAMES("key_id", "wallet_id", "data", "payload"), NULL},
    {"audit_log", "event_log", RENAMES("event_type", "type"), NULL},
    {"routine_create", "routine_add", NULL, NULL},
    {"voice_synthesize", "voice_speak", NULL, NULL},
};
const size_t osm_tool_n_aliases = ELEMENTSOF(osm_tool_aliases);

/* The tool argument an alias argument becomes, or key itself. */
static const char *renamed(const struct osm_tool_alias *alias, const char *key)
{
    for (const char *const *r = alias->renames; r && r[0]; r += 2)
        if (strcmp(r[0], key) == 0)
            return r[1];
    return key;
}

/* Copies args with renamed keys; a tool argument given under its own name wins over its alias
 * name. Then the alias's fixed arguments override. */
json_t *osm_tool_alias_args(const struct osm_tool_alias *alias, const json_t *args)
{
    json_t *out;
    const char *key;
    json_t *value;

    if (args && !json_is_object(args))
        return json_deep_copy(args);
    out = json_object();
    if (!out)
        return NULL;
    json_object_foreach((json_t *)args, key, value)
    {
        const char *to = renamed(alias, key);

        if (to != key && json_object_get(args, to))
            continue;
        if (json_object_set(out, to, value) < 0)
            goto fail;
    }
    for (const char *const *f = alias->fixed; f && f[0]; f += 2)
        if (json_object_set_new(out, f[0], json_string(f[1])) < 0)
            goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
