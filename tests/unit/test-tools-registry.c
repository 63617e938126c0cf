/* The tool registry (lib/tools): osModa's 92 names and arguments in order, schemas that parse and
 * accept a minimal call built from them, the bug fixes, classes, flags, annotations, aliases. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/limits.h"
#include "common/macro.h"
#include "tools/registry.h"

/* osmoda-reference §2: each tool with its parameters, '*' marking the required ones. */
static const struct {
    const char *name, *params;
} reference[] = {
    {"system_health", ""},
    {"system_query", "query* args"},
    {"system_discover", ""},
    {"event_log", "type actor limit"},
    {"memory_store", "summary* detail category tags"},
    {"memory_recall", "query* max_results timeframe"},
    {"shell_exec", "command* timeout"},
    {"file_read", "path* maxLines"},
    {"file_write", "path* content* append"},
    {"directory_list", "path* recursive"},
    {"service_status", "unit*"},
    {"journal_logs", "unit* lines priority since"},
    {"network_info", "detail"},
    {"wallet_create", "chain* label"},
    {"wallet_list", ""},
    {"wallet_sign", "wallet_id* payload*"},
    {"wallet_send", "wallet_id* to* amount*"},
    {"wallet_delete", "wallet_id*"},
    {"wallet_receipt", "wallet_id limit"},
    {"wallet_build_tx", "wallet_id* chain* tx_type to* amount* chain_params"},
    {"safe_switch_begin", "plan* ttl_secs health_checks"},
    {"safe_switch_list", ""},
    {"safe_switch_status", "id*"},
    {"safe_switch_commit", "id*"},
    {"safe_switch_rollback", "id*"},
    {"watcher_add", "name* check* interval_secs actions"},
    {"watcher_list", ""},
    {"routine_add", "name* trigger* action*"},
    {"routine_list", ""},
    {"routine_trigger", "id*"},
    {"agent_card", ""},
    {"receipt_list", "type since limit"},
    {"incident_create", "name*"},
    {"incident_step", "id* action* result"},
    {"voice_status", ""},
    {"voice_speak", "text*"},
    {"voice_transcribe", "audio_path*"},
    {"voice_record", "duration_secs transcribe"},
    {"voice_listen", "enabled*"},
    {"backup_create", ""},
    {"backup_list", ""},
    {"mesh_identity", ""},
    {"mesh_invite_create", "ttl_secs"},
    {"mesh_invite_accept", "invite_code*"},
    {"mesh_peers", ""},
    {"mesh_peer_send", "id* message*"},
    {"mesh_peer_disconnect", "id*"},
    {"mesh_health", ""},
    {"mesh_room_create", "name* peer_ids"},
    {"mesh_room_join", "room_id*"},
    {"mesh_room_send", "room_id* message*"},
    {"mesh_room_history", "room_id* limit"},
    {"mcp_servers", ""},
    {"mcp_server_start", "name*"},
    {"mcp_server_stop", "name*"},
    {"mcp_server_restart", "name*"},
    {"safety_rollback", ""},
    {"safety_status", ""},
    {"safety_panic", ""},
    {"safety_restart", ""},
    {"teach_status", ""},
    {"teach_observations", "source since limit"},
    {"teach_patterns", "type min_confidence"},
    {"teach_knowledge", "category tag limit"},
    {"teach_knowledge_create", "title* category content* tags"},
    {"teach_context", "context*"},
    {"teach_optimize_suggest", ""},
    {"teach_optimize_apply", "id*"},
    {"teach_skill_candidates", "status limit"},
    {"teach_skill_generate", "id*"},
    {"teach_skill_promote", "id*"},
    {"teach_observe_action", "tool* params result_summary context session_id success"},
    {"teach_skill_execution", "skill_name* outcome* session_id notes"},
    {"teach_skill_detect", ""},
    {"approval_request", "command* reason"},
    {"approval_pending", ""},
    {"approval_approve", "id*"},
    {"approval_check", "id*"},
    {"sandbox_exec", "command* ring capabilities timeout_secs"},
    {"capability_mint", "granted_to* permissions* ttl_secs"},
    {"fleet_propose", "plan* peer_ids* health_checks quorum_percent timeout_secs"},
    {"fleet_status", "id*"},
    {"fleet_vote", "id* peer_id* approve* reason"},
    {"fleet_rollback", "id*"},
    {"app_deploy", "name* command* args working_dir env port restart_policy memory_max cpu_quota"},
    {"app_list", ""},
    {"app_logs", "name* lines"},
    {"app_stop", "name*"},
    {"app_restart", "name*"},
    {"app_remove", "name*"},
    {"spec_kit_init", "project_name* integration constitution_seed"},
    {"spec_kit_run", "project_path* command* prompt timeout_seconds"},
};

#define N_REFERENCE (sizeof(reference) / sizeof(reference[0]))

static const struct osm_tool *tool(const char *name)
{
    const struct osm_tool *t = osm_tool_find(name, NULL);

    cr_assert_not_null(t, "tool %s", name);
    return t;
}

static bool valid(const struct osm_tool *t, const json_t *args)
{
    char field[OSM_TOOL_ERROR_REASON_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];

    return osm_tool_validate(t, args, field, sizeof(field), reason, sizeof(reason)) == 0;
}

/* ---- a minimal valid instance of a schema, built from its required parts ---- */

static json_t *minimal(const json_t *schema);

static json_t *minimal_number(const json_t *schema, bool integer)
{
    const json_t *min = json_object_get(schema, "minimum"),
                 *max = json_object_get(schema, "maximum");
    double v = min ? json_number_value(min) : 1;

    if (max && v > json_number_value(max))
        v = json_number_value(max);
    return integer ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *minimal_typed(const json_t *schema, const char *type)
{
    if (strcmp(type, "string") == 0) {
        json_int_t n = json_integer_value(json_object_get(schema, "minLength"));
        char buf[64] = "x";

        for (json_int_t i = 1; i < n && i < 63; i++)
            buf[i] = 'x';
        return json_string(buf);
    }
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return minimal_number(schema, type[0] == 'i');
    if (strcmp(type, "boolean") == 0)
        return json_true();
    if (strcmp(type, "array") == 0) {
        json_t *a = json_array();
        json_int_t n = json_integer_value(json_object_get(schema, "minItems"));

        for (json_int_t i = 0; i < n; i++)
            json_array_append_new(a, minimal(json_object_get(schema, "items")));
        return a;
    }
    return json_object();
}

static void add_required(json_t *obj, const json_t *props, const json_t *required)
{
    const json_t *k;
    size_t i;

    json_array_foreach(required, i, k) if (!json_object_get(obj, json_string_value(k)))
        json_object_set_new(obj, json_string_value(k),
                            minimal(json_object_get(props, json_string_value(k))));
}

static json_t *minimal(const json_t *schema)
{
    const json_t *v, *branches;
    json_t *obj;

    if ((v = json_object_get(schema, "const")))
        return json_deep_copy(v);
    if ((v = json_object_get(schema, "enum")))
        return json_deep_copy(json_array_get(v, 0));
    branches = json_object_get(schema, "oneOf");
    if (!branches)
        branches = json_object_get(schema, "anyOf");
    v = json_object_get(schema, "type");
    if (branches && !v)
        return minimal(json_array_get(branches, 0));
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (v && strcmp(json_string_value(v), "object") != 0)
        return minimal_typed(schema, json_string_value(v));
    obj = json_object();
    v = json_object_get(schema, "properties");
    add_required(obj, v, json_object_get(schema, "required"));
    if (branches) /* the object form of an anyOf of "required" alternatives */
        add_required(obj, v, json_object_get(json_array_get(branches, 0), "required"));
    return obj;
}

/* ---- names, order, arguments ---- */

Test(tools, osmoda_92_in_order_then_ours)
{
    static const char *const ours[] = {"job_status",
                                       "job_wait",
                                       "job_kill",
                                       "egress_acl_list",
                                       "egress_denials",
                                       "egress_request_access",
                                       "wallet_sign_typed_data",
                                       "wallet_rotate",
                                       "wallet_import",
                                       "wallet_export",
                                       "vault_list",
                                       "vault_deliver"};
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    cr_assert_eq(N_REFERENCE, 92);
    cr_assert_eq(n, 92 + ELEMENTSOF(ours));
    for (size_t i = 0; i < N_REFERENCE; i++)
        cr_assert_str_eq(t[i].name, reference[i].name, "tool #%zu", i + 1);
    for (size_t i = 0; i < ELEMENTSOF(ours); i++)
        cr_assert_str_eq(t[N_REFERENCE + i].name, ours[i]);
}

Test(tools, names_unique_and_found)
{
    size_t n;
    const struct osm_tool *t = osm_tools(&n);
    const struct osm_tool_alias *a = (void *)1;

    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(t[i].name, t[j].name);
        cr_assert_eq(osm_tool_find(t[i].name, &a), &t[i]);
        cr_assert_null(a);
    }
    cr_assert_null(osm_tool_find("no_such_tool", NULL));
    cr_assert_null(osm_tool_find("", NULL));
    cr_assert_null(osm_tool_find(NULL, NULL));
}

Test(tools, every_schema_parses_and_accepts_a_minimal_call)
{
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    for (size_t i = 0; i < n; i++) {
        const json_t *s = osm_tool_schema(&t[i]);
        json_auto_t *args = NULL;
        char field[OSM_TOOL_ERROR_REASON_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];

        cr_assert_not_null(s, "%s: schema does not parse", t[i].name);
        cr_assert_str_eq(json_string_value(json_object_get(s, "type")), "object", "%s", t[i].name);
        cr_assert(json_is_object(json_object_get(s, "properties")), "%s", t[i].name);
        cr_assert(json_is_false(json_object_get(s, "additionalProperties")), "%s", t[i].name);
        args = minimal(s);
        cr_assert_eq(osm_tool_validate(&t[i], args, field, sizeof(field), reason, sizeof(reason)),
                     0, "%s: %s: %s", t[i].name, field, reason);
        cr_assert_not_null(t[i].description);
        cr_assert_gt(strlen(t[i].description), 10, "%s", t[i].name);
    }
}

/* Every argument of §2 exists; every starred one is required: dropping it is refused. */
Test(tools, osmoda_arguments_and_required)
{
    for (size_t i = 0; i < N_REFERENCE; i++) {
        const struct osm_tool *t = tool(reference[i].name);
        const json_t *props = json_object_get(osm_tool_schema(t), "properties");
        json_auto_t *args = minimal(osm_tool_schema(t));
        char params[256], *save = NULL;

        strcpy(params, reference[i].params);
        for (char *p = strtok_r(params, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
            size_t len = strlen(p);
            bool req = p[len - 1] == '*';
            json_auto_t *without = json_deep_copy(args);

            if (req)
                p[len - 1] = '\0';
            cr_assert_not_null(json_object_get(props, p), "%s.%s missing", t->name, p);
            json_object_del(without, p);
            if (req)
                cr_assert(!valid(t, without), "%s.%s not required", t->name, p);
        }
    }
}

/* The arguments osModa's bridge left optional although the daemon needed them (§2 Bug column). */
Test(tools, schema_drift_fixed)
{
    static const char *const must_require[][2] = {
        {"wallet_create", "label"},        {"wallet_build_tx", "tx_type"},
        {"safe_switch_begin", "ttl_secs"}, {"safe_switch_begin", "health_checks"},
        {"watcher_add", "actions"},        {"incident_step", "result"},
        {"mesh_room_join", "peer_id"},     {"teach_knowledge_create", "category"},
        {"approval_request", "reason"},
    };

    for (size_t i = 0; i < sizeof(must_require) / sizeof(must_require[0]); i++) {
        const struct osm_tool *t = tool(must_require[i][0]);
        json_auto_t *args = minimal(osm_tool_schema(t));

        cr_assert(valid(t, args));
        json_object_del(args, must_require[i][1]);
        cr_assert(!valid(t, args), "%s.%s", must_require[i][0], must_require[i][1]);
    }
}

Test(tools, legacy_argument_variants)
{
    json_auto_t *msg = json_pack("{s:s, s:s}", "room_id", "r1", "message", "hi");
    json_auto_t *text = json_pack("{s:s, s:s}", "room_id", "r1", "text", "hi");
    json_auto_t *neither = json_pack("{s:s}", "room_id", "r1");
    json_auto_t *ring1 = json_pack("{s:s, s:i}", "command", "ls", "ring", 1);
    json_auto_t *ring2s = json_pack("{s:s, s:s}", "command", "ls", "ring", "ring2");
    json_auto_t *ring3 = json_pack("{s:s, s:i}", "command", "ls", "ring", 3);
    json_auto_t *join = json_pack("{s:s, s:s}", "room_id", "r1", "peer_id", "p1");

    cr_assert(valid(tool("mesh_room_send"), msg));
    cr_assert(valid(tool("mesh_room_send"), text));
    cr_assert(!valid(tool("mesh_room_send"), neither));
    cr_assert(valid(tool("sandbox_exec"), ring1));
    cr_assert(valid(tool("sandbox_exec"), ring2s));
    cr_assert(!valid(tool("sandbox_exec"), ring3));
    cr_assert(valid(tool("mesh_room_join"), join));
}

/* Only keywords schema.c implements, so no constraint is silently ignored. */
static void check_keywords(const char *tool_name, const json_t *schema)
{
    static const char *const known[] = {
        "type",      "properties", "required", "additionalProperties",
        "enum",      "const",      "minimum",  "maximum",
        "minLength", "maxLength",  "items",    "minItems",
        "maxItems",  "anyOf",      "oneOf",    "description",
        NULL};
    const char *key;
    const json_t *v, *sub;
    size_t i;

    json_object_foreach((json_t *)schema, key, v)
    {
        bool ok = false;

        for (size_t k = 0; known[k]; k++)
            ok = ok || strcmp(known[k], key) == 0;
        cr_assert(ok, "%s: keyword %s", tool_name, key);
    }
    json_object_foreach(json_object_get(schema, "properties"), key, sub)
        check_keywords(tool_name, sub);
    if (json_is_object(json_object_get(schema, "items")))
        check_keywords(tool_name, json_object_get(schema, "items"));
    if (json_is_object(json_object_get(schema, "additionalProperties")))
        check_keywords(tool_name, json_object_get(schema, "additionalProperties"));
    json_array_foreach(json_object_get(schema, "oneOf"), i, sub) check_keywords(tool_name, sub);
    json_array_foreach(json_object_get(schema, "anyOf"), i, sub) check_keywords(tool_name, sub);
}

Test(tools, schemas_use_supported_keywords_and_describe_arguments)
{
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    for (size_t i = 0; i < n; i++) {
        const json_t *s = osm_tool_schema(&t[i]);
        const char *key;
        const json_t *p;

        check_keywords(t[i].name, s);
        json_object_foreach(json_object_get(s, "properties"), key, p)
            cr_assert(json_is_string(json_object_get(p, "description")), "%s.%s", t[i].name, key);
    }
}

/* ---- flags ---- */

static bool in(const char *name, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(*set, name) == 0)
            return true;
    return false;
}

Test(tools, flags)
{
    static const char *const lists[] = {"event_log",
                                        "directory_list",
                                        "journal_logs",
                                        "wallet_list",
                                        "wallet_receipt",
                                        "safe_switch_list",
                                        "watcher_list",
                                        "routine_list",
                                        "receipt_list",
                                        "backup_list",
                                        "mesh_peers",
                                        "mesh_room_history",
                                        "mcp_servers",
                                        "teach_observations",
                                        "teach_patterns",
                                        "teach_knowledge",
                                        "teach_skill_candidates",
                                        "approval_pending",
                                        "app_list",
                                        "app_logs",
                                        NULL};
    static const char *const jobs[] = {"shell_exec", "sandbox_exec",  "spec_kit_run",
                                       "app_deploy", "backup_create", "safety_rollback",
                                       NULL};
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    /* osModa's tools; job_status's offset is a byte offset into output, not paging */
    for (size_t i = 0; i < N_REFERENCE; i++) {
        const json_t *props = json_object_get(osm_tool_schema(&t[i]), "properties");
        bool list = in(t[i].name, lists);

        cr_assert_eq(!!(t[i].flags & OSM_TOOL_LIST), list, "%s", t[i].name);
        cr_assert_eq(!!(t[i].flags & OSM_TOOL_JOB), in(t[i].name, jobs), "%s", t[i].name);
        cr_assert_eq(!!(t[i].flags & OSM_TOOL_NEVER), strcmp(t[i].name, "approval_approve") == 0);
        cr_assert_eq(!!json_object_get(props, "offset"), list, "%s", t[i].name);
        cr_assert_eq(!!json_object_get(props, "grep"), list, "%s", t[i].name);
        if (list)
            cr_assert_not_null(json_object_get(props, "limit"), "%s", t[i].name);
    }
}

Test(tools, paging_arguments_bounded)
{
    const struct osm_tool *t = tool("event_log");
    json_auto_t *ok =
        json_pack("{s:i, s:i, s:s}", "offset", 0, "limit", OSM_TOOL_LIST_MAX, "grep", "ssh");
    json_auto_t *big = json_pack("{s:i}", "limit", OSM_TOOL_LIST_MAX + 1);
    json_auto_t *neg = json_pack("{s:i}", "offset", -1);
    char grep[OSM_TOOL_GREP_MAX + 2];
    json_auto_t *long_grep = NULL;

    memset(grep, 'g', sizeof(grep) - 1);
    grep[sizeof(grep) - 1] = '\0';
    long_grep = json_pack("{s:s}", "grep", grep);
    cr_assert(valid(t, ok));
    cr_assert(!valid(t, big));
    cr_assert(!valid(t, neg));
    cr_assert(!valid(t, long_grep));
}

/* ---- classes and annotations ---- */

Test(tools, classes_follow_the_rule)
{
    static const struct {
        enum osm_tool_class cls;
        const char *const names[16];
    } expect[] = {
        {OSM_CLASS_REVERSIBLE,
         {"memory_store", "incident_create", "incident_step", "watcher_add", "routine_add",
          "file_write", "safe_switch_begin", "approval_request", "teach_knowledge_create"}},
        {OSM_CLASS_IRREVERSIBLE,
         {"wallet_send", "wallet_sign", "wallet_build_tx", "wallet_delete", "mesh_peer_send",
          "mesh_room_send", "app_remove", "fleet_vote", "fleet_propose"}},
        {OSM_CLASS_PRIVILEGED,
         {"shell_exec", "sandbox_exec", "safety_rollback", "safety_panic", "safety_restart",
          "app_deploy", "app_restart", "spec_kit_run", "capability_mint", "mcp_server_restart",
          "teach_optimize_apply", "egress_request_access"}},
    };
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    for (size_t c = 0; c < sizeof(expect) / sizeof(expect[0]); c++)
        for (size_t i = 0; expect[c].names[i]; i++)
            cr_assert_eq(tool(expect[c].names[i])->cls, expect[c].cls, "%s", expect[c].names[i]);
    /* Reads and status calls change nothing. */
    for (size_t i = 0; i < n; i++)
        if ((t[i].method && strcmp(t[i].method, "GET") == 0) || (t[i].flags & OSM_TOOL_LIST))
            cr_assert_eq(t[i].cls, OSM_CLASS_READ, "%s", t[i].name);
}

static void assert_hints(const char *name, bool ro, bool destructive, bool idempotent)
{
    json_auto_t *a = osm_tool_annotations(tool(name));

    cr_assert_eq(json_is_true(json_object_get(a, "readOnlyHint")), ro, "%s", name);
    cr_assert_eq(json_is_true(json_object_get(a, "destructiveHint")), destructive, "%s", name);
    cr_assert_eq(json_is_true(json_object_get(a, "idempotentHint")), idempotent, "%s", name);
}

Test(tools, annotations_per_class)
{
    assert_hints("system_health", true, false, true);
    assert_hints("event_log", true, false, true);
    assert_hints("memory_store", false, false, false);
    assert_hints("voice_listen", false, false, true);
    assert_hints("wallet_send", false, true, false);
    assert_hints("wallet_delete", false, true, true);
    assert_hints("shell_exec", false, true, false);
    assert_hints("app_stop", false, true, true);
    assert_hints("mcp_server_stop", false, true, true);
    assert_hints("safety_rollback", false, true, false); /* relative: repeating rolls back more */
    cr_assert_str_eq(osm_tool_class_name(OSM_CLASS_READ), "read");
    cr_assert_str_eq(osm_tool_class_name(OSM_CLASS_REVERSIBLE), "reversible");
    cr_assert_str_eq(osm_tool_class_name(OSM_CLASS_IRREVERSIBLE), "irreversible");
    cr_assert_str_eq(osm_tool_class_name(OSM_CLASS_PRIVILEGED), "privileged");
    cr_assert_str_eq(osm_tool_class_name((enum osm_tool_class)42), "unknown");
}

/* ---- daemons and REST mapping ---- */

Test(tools, daemons_and_paths)
{
    size_t n;
    const struct osm_tool *t = osm_tools(&n);

    for (size_t i = 0; i < n; i++) {
        const json_t *s = osm_tool_schema(&t[i]);

        cr_assert_not_null(osm_tool_socket_env(t[i].daemon), "%s: %s", t[i].name, t[i].daemon);
        cr_assert_eq(!t[i].method, !t[i].path, "%s", t[i].name);
        if (!t[i].method) /* a handler of its daemon: agentd's, or egress's request_access */
            cr_assert(strcmp(t[i].daemon, "agentd") == 0 ||
                          strcmp(t[i].name, "egress_request_access") == 0,
                      "%s", t[i].name);
        /* Every {x} of a path is a required argument. */
        for (const char *p = t[i].path; p && (p = strchr(p, '{')); p++) {
            char name[32];
            size_t len = strcspn(p + 1, "}");
            json_auto_t *args = minimal(s);

            cr_assert_lt(len, sizeof(name));
            memcpy(name, p + 1, len);
            name[len] = '\0';
            json_object_del(args, name);
            cr_assert(!valid(&t[i], args), "%s: {%s} not required", t[i].name, name);
        }
    }
    cr_assert_str_eq(tool("mesh_room_history")->path, "/room/history");
    cr_assert_str_eq(tool("mesh_room_history")->method, "GET");
    cr_assert_str_eq(tool("incident_step")->path, "/incident/{id}/step");
    cr_assert_str_eq(tool("mesh_peer_disconnect")->method, "DELETE");
    cr_assert_str_eq(tool("wallet_send")->daemon, "keyd");
    cr_assert_str_eq(tool("teach_status")->daemon, "teachd");
    cr_assert_null(tool("shell_exec")->method);
}

Test(tools, socket_env)
{
    static const char *const pairs[][2] = {
        {"agentd", "AGENTD_SOCKET"},     {"keyd", "KEYD_SOCKET"},   {"watch", "WATCH_SOCKET"},
        {"routines", "ROUTINES_SOCKET"}, {"mesh", "MESH_SOCKET"},   {"mcpd", "MCPD_SOCKET"},
        {"teachd", "TEACHD_SOCKET"},     {"voice", "VOICE_SOCKET"}, {"egress", "EGRESS_SOCKET"},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        cr_assert_str_eq(osm_tool_socket_env(pairs[i][0]), pairs[i][1]);
    cr_assert_null(osm_tool_socket_env("nosuchd"));
    cr_assert_null(osm_tool_socket_env(NULL));
}

/* ---- aliases ---- */

static json_t *alias_call(const char *alias, const char *expect_tool, const char *args_json)
{
    const struct osm_tool_alias *a = NULL;
    const struct osm_tool *t = osm_tool_find(alias, &a);
    json_auto_t *args = json_loads(args_json, 0, NULL);
    json_t *out;

    cr_assert_not_null(t, "%s", alias);
    cr_assert_not_null(a, "%s", alias);
    cr_assert_str_eq(t->name, expect_tool);
    cr_assert_str_eq(a->alias, alias);
    out = osm_tool_alias_args(a, args);
    cr_assert_not_null(out);
    return out;
}

Test(tools, alias_lookup_and_renames)
{
    json_auto_t *read = alias_call("read_file", "file_read", "{\"path\":\"/etc/hosts\"}");
    json_auto_t *run = alias_call("run_command", "shell_exec", "{\"command\":\"uptime\"}");
    json_auto_t *cmd = alias_call("run_command", "shell_exec", "{\"cmd\":\"ls\",\"timeout\":5}");
    json_auto_t *both =
        alias_call("run_command", "shell_exec", "{\"cmd\":\"no\",\"command\":\"yes\"}");
    json_auto_t *ps = alias_call("list_processes", "system_query", "{}");
    json_auto_t *ps_wrong = alias_call("list_processes", "system_query", "{\"query\":\"disk\"}");
    json_auto_t *send = alias_call("mesh_send", "mesh_peer_send",
                                   "{\"peer_id\":\"p\",\"message\":{\"type\":\"chat\"}}");

    cr_assert_str_eq(json_string_value(json_object_get(read, "path")), "/etc/hosts");
    cr_assert(valid(tool("file_read"), read));
    cr_assert_str_eq(json_string_value(json_object_get(run, "command")), "uptime");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "command")), "ls");
    cr_assert_null(json_object_get(cmd, "cmd"));
    cr_assert(valid(tool("shell_exec"), cmd));
    cr_assert_str_eq(json_string_value(json_object_get(both, "command")), "yes");
    cr_assert_eq(json_object_size(both), 1);
    cr_assert_str_eq(json_string_value(json_object_get(ps, "query")), "processes");
    cr_assert(valid(tool("system_query"), ps));
    cr_assert_str_eq(json_string_value(json_object_get(ps_wrong, "query")), "processes");
    cr_assert_str_eq(json_string_value(json_object_get(send, "id")), "p");
    cr_assert(valid(tool("mesh_peer_send"), send));
}

Test(tools, aliases_never_shadow_tools)
{
    static const char *const aliases[] = {
        "read_file",      "write_file",       "list_dir",  "disk_usage", "run_command",
        "list_processes", "system_info",      "mesh_send", "sign",       "audit_log",
        "routine_create", "voice_synthesize", NULL};
    static const char *const skipped[] = {"move_path",    "delete_path",  "kv_get",    "llm_chat",
                                          "egress_allow", "http_request", "systemctl", NULL};
    const struct osm_tool_alias *a;

    for (size_t i = 0; aliases[i]; i++) {
        cr_assert_not_null(osm_tool_find(aliases[i], &a), "%s", aliases[i]);
        cr_assert_not_null(a, "%s", aliases[i]);
    }
    for (size_t i = 0; skipped[i]; i++)
        cr_assert_null(osm_tool_find(skipped[i], NULL), "%s", skipped[i]);
    cr_assert_not_null(osm_tool_find("mesh_peers", &a)); /* a seed name that is a tool already */
    cr_assert_null(a);
}

Test(tools, alias_args_edge_cases)
{
    const struct osm_tool_alias *a;
    json_auto_t *from_null = NULL, *from_array = NULL, *arr = json_array();

    osm_tool_find("read_file", &a);
    from_null = osm_tool_alias_args(a, NULL);
    cr_assert(json_is_object(from_null));
    cr_assert_eq(json_object_size(from_null), 0);
    from_array = osm_tool_alias_args(a, arr);
    cr_assert(json_is_array(from_array));
    cr_assert(!valid(tool("file_read"), from_array));
}
