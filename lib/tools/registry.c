/* The tool registry: joins the per-category tables (tools-*.c) into osModa's order, parses each
 * input schema once, and answers lookups by name or alias, annotations and socket variables. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools-table.h"

/* How a tool is classed (the policy's default; it may still look at the arguments):
 *  read         changes nothing the operator would care about: queries, lists, logs, status,
 *               searches (POST /teach and /memory/recall included).
 *  reversible   adds or changes state that can be undone or is harmless to keep: memory notes,
 *               incidents, watchers, routines, knowledge, skills, invites, rooms, backups,
 *               approval requests, wallet creation, file_write (the policy escalates writes
 *               outside the workspace), spec_kit_init (inside /workspace), voice output and the
 *               listen flag, and safe_switch_begin / _commit (SafeSwitch is the undo).
 *  irreversible cannot be taken back: deletes (wallet, app, peer), anything that leaves the host
 *               or binds it to others (mesh sends, invite accept, fleet propose / vote), signing
 *               and funds (wallet_sign / _send / _build_tx), and microphone recording.
 *  privileged   root-level changes to the running system: shell_exec, sandbox_exec (ring 1 may
 *               reach the network), service start / stop / restart (apps, MCP servers, safety_*),
 *               app_deploy, system rollbacks (safe_switch_rollback, fleet_rollback,
 *               safety_rollback), teach_optimize_apply, spec_kit_run (a coding agent with a
 *               shell), capability_mint, and approval_approve (never for agents anyway).
 * watcher_add / routine_add / routine_trigger schedule actions that can be privileged themselves
 * (restart_service, rollback_generation, command, webhook): the policy should judge those by their
 * action arguments. */
static const struct {
    const struct osm_tool *tools;
    const size_t *n;
} chunks[] = {
    {osm_tools_system, &osm_tools_system_n},     {osm_tools_host, &osm_tools_host_n},
    {osm_tools_wallet, &osm_tools_wallet_n},     {osm_tools_safeswitch, &osm_tools_safeswitch_n},
    {osm_tools_routines, &osm_tools_routines_n}, {osm_tools_records, &osm_tools_records_n},
    {osm_tools_voice, &osm_tools_voice_n},       {osm_tools_backup, &osm_tools_backup_n},
    {osm_tools_mesh, &osm_tools_mesh_n},         {osm_tools_mcp, &osm_tools_mcp_n},
    {osm_tools_safety, &osm_tools_safety_n},     {osm_tools_teach, &osm_tools_teach_n},
    {osm_tools_approval, &osm_tools_approval_n}, {osm_tools_fleet, &osm_tools_fleet_n},
    {osm_tools_apps, &osm_tools_apps_n},         {osm_tools_speckit, &osm_tools_speckit_n},
    {osm_tools_jobs, &osm_tools_jobs_n},         {osm_tools_egress, &osm_tools_egress_n},
    {osm_tools_keyd, &osm_tools_keyd_n},
};

#define TOOLS_CAP 128
#define ALIASES_CAP 32

struct name_entry {
    const char *name;
    const struct osm_tool *tool;
    const struct osm_tool_alias *alias; /* NULL for a canonical name */
};

static struct osm_tool tools[TOOLS_CAP];
static json_t *schemas[TOOLS_CAP];
static size_t n_tools;
static struct name_entry names[TOOLS_CAP + ALIASES_CAP];
static size_t n_names;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void join_chunks(void)
{
    for (size_t c = 0; c < ELEMENTSOF(chunks); c++)
        for (size_t i = 0; i < *chunks[c].n && n_tools < TOOLS_CAP; i++)
            tools[n_tools++] = chunks[c].tools[i];
}

static const struct osm_tool *find_canonical(const char *name)
{
    for (size_t i = 0; i < n_tools; i++)
        if (strcmp(tools[i].name, name) == 0)
            return &tools[i];
    return NULL;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct name_entry *)a)->name, ((const struct name_entry *)b)->name);
}

static void index_names(void)
{
    for (size_t i = 0; i < n_tools; i++)
        names[n_names++] = (struct name_entry){tools[i].name, &tools[i], NULL};
    for (size_t i = 0; i < osm_tool_n_aliases && i < ALIASES_CAP; i++) {
        const struct osm_tool *t = find_canonical(osm_tool_aliases[i].tool);

        if (t)
            names[n_names++] =
                (struct name_entry){osm_tool_aliases[i].alias, t, &osm_tool_aliases[i]};
    }
    qsort(names, n_names, sizeof(names[0]), name_cmp);
}

static void init(void)
{
    join_chunks();
    index_names();
}

const struct osm_tool *osm_tools(size_t *ret_n)
{
    pthread_once(&once, init);
    if (ret_n)
        *ret_n = n_tools;
    return tools;
}

const struct osm_tool *osm_tool_find(const char *name, const struct osm_tool_alias **ret_alias)
{
    struct name_entry key = {.name = name};
    const struct name_entry *e;

    pthread_once(&once, init);
    if (ret_alias)
        *ret_alias = NULL;
    if (!name)
        return NULL;
    e = bsearch(&key, names, n_names, sizeof(names[0]), name_cmp);
    if (!e)
        return NULL;
    if (ret_alias)
        *ret_alias = e->alias;
    return e->tool;
}

bool osm_tool_registered(const struct osm_tool *t)
{
    pthread_once(&once, init);
    return t && t >= tools && t < tools + n_tools;
}

/* Each schema is parsed the first time it is needed: a daemon that never sees a call of most
 * tools never holds their parsed schemas. */
const json_t *osm_tool_schema(const struct osm_tool *t)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    json_t *s;

    if (!osm_tool_registered(t))
        return NULL;
    pthread_mutex_lock(&lock);
    s = schemas[t - tools];
    if (!s)
        s = schemas[t - tools] = json_loads(t->input_schema, JSON_REJECT_DUPLICATES, NULL);
    pthread_mutex_unlock(&lock);
    return s;
}

static const char *const class_names[] = {
    [OSM_CLASS_READ] = "read",
    [OSM_CLASS_REVERSIBLE] = "reversible",
    [OSM_CLASS_IRREVERSIBLE] = "irreversible",
    [OSM_CLASS_PRIVILEGED] = "privileged",
};

const char *osm_tool_class_name(enum osm_tool_class cls)
{
    if ((unsigned)cls >= ELEMENTSOF(class_names))
        return "unknown";
    return class_names[cls];
}

/* MCP hints per class; idempotentHint is also set by OSM_TOOL_IDEMPOTENT. */
static const struct {
    bool read_only, destructive, idempotent;
} class_hints[] = {
    [OSM_CLASS_READ] = {true, false, true},
    [OSM_CLASS_REVERSIBLE] = {false, false, false},
    [OSM_CLASS_IRREVERSIBLE] = {false, true, false},
    [OSM_CLASS_PRIVILEGED] = {false, true, false},
};

json_t *osm_tool_annotations(const struct osm_tool *t)
{
    if (!t || (unsigned)t->cls >= ELEMENTSOF(class_hints))
        return NULL;
    return json_pack("{s:b, s:b, s:b}", "readOnlyHint", class_hints[t->cls].read_only,
                     "destructiveHint", class_hints[t->cls].destructive, "idempotentHint",
                     class_hints[t->cls].idempotent || (t->flags & OSM_TOOL_IDEMPOTENT));
}

static const struct {
    const char *daemon, *env;
} socket_envs[] = {
    {"agentd", "AGENTD_SOCKET"},     {"keyd", "KEYD_SOCKET"},   {"watch", "WATCH_SOCKET"},
    {"routines", "ROUTINES_SOCKET"}, {"mesh", "MESH_SOCKET"},   {"mcpd", "MCPD_SOCKET"},
    {"teachd", "TEACHD_SOCKET"},     {"voice", "VOICE_SOCKET"}, {"egress", "EGRESS_SOCKET"},
};

const char *osm_tool_socket_env(const char *daemon)
{
    for (size_t i = 0; daemon && i < ELEMENTSOF(socket_envs); i++)
        if (strcmp(socket_envs[i].daemon, daemon) == 0)
            return socket_envs[i].env;
    return NULL;
}
