/* The JSON Schema validator (lib/tools/schema.c) on the registry's schemas and on small inline
 * ones: types, missing and unknown arguments, enums, bounds, nested unions, pointers, buffers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/limits.h"
#include "tools/registry.h"
#include "tools/schema.h"

static char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];

/* Validates args_json against a tool and expects exactly this error ("" field and NULL reason
 * for success). */
static void expect(const char *tool, const char *args_json, const char *want_field,
                   const char *want_reason)
{
    const struct osm_tool *t = osm_tool_find(tool, NULL);
    json_error_t jerr;
    json_auto_t *args = json_loads(args_json, 0, &jerr);
    int r;

    cr_assert_not_null(t, "%s", tool);
    cr_assert_not_null(args, "%s: %s", args_json, jerr.text);
    r = osm_tool_validate(t, args, field, sizeof(field), reason, sizeof(reason));
    if (!want_reason) {
        cr_assert_eq(r, 0, "%s %s: %s: %s", tool, args_json, field, reason);
        return;
    }
    cr_assert_eq(r, -EINVAL, "%s %s accepted", tool, args_json);
    cr_assert_str_eq(field, want_field, "%s %s", tool, args_json);
    cr_assert_str_eq(reason, want_reason, "%s %s", tool, args_json);
}

static void expect_schema(const char *schema_json, const char *inst_json, const char *want_field,
                          const char *want_reason)
{
    json_auto_t *schema = json_loads(schema_json, JSON_DECODE_ANY, NULL);
    json_auto_t *inst = json_loads(inst_json, JSON_DECODE_ANY, NULL);
    int r;

    cr_assert_not_null(schema);
    cr_assert_not_null(inst);
    r = osm_schema_validate(schema, inst, field, sizeof(field), reason, sizeof(reason));
    if (!want_reason) {
        cr_assert_eq(r, 0, "%s: %s: %s", inst_json, field, reason);
        return;
    }
    cr_assert_eq(r, -EINVAL, "%s accepted", inst_json);
    cr_assert_str_eq(field, want_field);
    cr_assert_str_eq(reason, want_reason);
}

Test(schema, types)
{
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":5}", "", NULL);
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":5.0}", "", NULL);
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":\"5\"}", "/timeout",
           "must be an integer, not a string");
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":5.5}", "/timeout",
           "must be an integer, not a number");
    expect("shell_exec", "{\"command\":7}", "/command", "must be a string, not an integer");
    expect("voice_listen", "{\"enabled\":\"yes\"}", "/enabled", "must be a boolean, not a string");
    expect("voice_listen", "{\"enabled\":null}", "/enabled", "must be a boolean, not null");
    expect("teach_patterns", "{\"min_confidence\":0.7}", "", NULL);
    expect("teach_patterns", "{\"min_confidence\":1}", "", NULL);
    expect("teach_patterns", "{\"min_confidence\":1.5}", "/min_confidence", "must be ≤ 1");
    expect("app_deploy", "{\"name\":\"a\",\"command\":\"/bin/x\",\"env\":{\"A\":\"1\",\"B\":2}}",
           "/env/B", "must be a string, not an integer");
}

Test(schema, missing_and_unknown)
{
    expect("shell_exec", "{}", "/command", "required");
    expect("file_write", "{\"path\":\"/tmp/x\"}", "/content", "required");
    expect("shell_exec", "{\"cmd\":\"ls\"}", "/cmd", "unknown argument (known: command, timeout)");
    expect("system_health", "{\"verbose\":true}", "/verbose",
           "unknown argument (none are accepted here)");
    expect("service_status", "{\"unit\":\"\"}", "/unit", "must not be empty");
}

Test(schema, enums_and_bounds)
{
    expect("system_query", "{\"query\":\"memory\"}", "/query",
           "must be one of processes, disk, hostname, uptime");
    expect("system_query", "{\"query\":\"processes\",\"args\":{\"sort\":\"io\"}}", "/args/sort",
           "must be one of cpu, memory");
    expect("network_info", "{\"detail\":\"ports\"}", "", NULL);
    expect("spec_kit_init", "{\"project_name\":\"p\",\"integration\":\"vim\"}", "/integration",
           "must be one of claude, codex, gemini, copilot, windsurf, generic");
    expect("spec_kit_run", "{\"project_path\":\"/workspace/p\",\"command\":\"build\"}", "/command",
           "must be one of constitution, specify, clarify, plan, tasks, analyze, checklist, "
           "implement, taskstoissues");
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":120000}", "", NULL);
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":120001}", "/timeout", "must be ≤ 120000");
    expect("shell_exec", "{\"command\":\"ls\",\"timeout\":0}", "/timeout", "must be ≥ 1");
    expect("journal_logs", "{\"unit\":\"sshd\",\"lines\":501}", "/lines", "must be ≤ 500");
    expect("spec_kit_run",
           "{\"project_path\":\"/workspace/p\",\"command\":\"plan\",\"timeout_seconds\":59}",
           "/timeout_seconds", "must be ≥ 60");
    expect("spec_kit_run",
           "{\"project_path\":\"/workspace/p\",\"command\":\"plan\",\"timeout_seconds\":1801}",
           "/timeout_seconds", "must be ≤ 1800");
    expect("sandbox_exec", "{\"command\":\"ls\",\"ring\":\"ring3\"}", "/ring",
           "must be one of 1, 2, ring1, ring2");
    expect("sandbox_exec", "{\"command\":\"ls\",\"ring\":2.0}", "", NULL);
    expect("capability_mint", "{\"granted_to\":\"a\",\"permissions\":[]}", "/permissions",
           "must have at least 1 item");
}

/* maxLength counts characters, not bytes: 128 "é" (256 bytes) is a valid label. */
Test(schema, lengths_in_characters)
{
    char label[2 * 129 + 1] = "", args[512];

    for (int i = 0; i < 128; i++)
        strcat(label, "\xc3\xa9");
    snprintf(args, sizeof(args), "{\"chain\":\"solana\",\"label\":\"%s\"}", label);
    expect("wallet_create", args, "", NULL);
    strcat(label, "\xc3\xa9");
    snprintf(args, sizeof(args), "{\"chain\":\"solana\",\"label\":\"%s\"}", label);
    expect("wallet_create", args, "/label", "must be at most 128 characters");
}

Test(schema, nested_health_checks)
{
    const char *pre = "{\"plan\":\"upgrade nginx\",\"ttl_secs\":300,\"health_checks\":";
    static const struct {
        const char *checks, *field, *reason;
    } cases[] = {
        {"[{\"type\":\"systemd_unit\",\"unit\":\"nginx\"},"
         "{\"type\":\"http_get\",\"url\":\"http://localhost\",\"expect_status\":200}]",
         "", NULL},
        {"[]", "", NULL},
        {"[{\"type\":\"tcp_port\",\"host\":\"h\"}]", "/health_checks/0/port", "required"},
        {"[{\"type\":\"tcp_port\",\"host\":\"h\",\"port\":70000}]", "/health_checks/0/port",
         "must be ≤ 65535"},
        {"[{\"type\":\"systemd_unit\",\"unit\":\"a\"},{\"type\":\"bogus\"}]",
         "/health_checks/1/type", "must be one of systemd_unit, tcp_port, http_get, command"},
        {"[{\"unit\":\"nginx\"}]", "/health_checks/0/type", "required"},
        {"[{\"type\":\"systemd_unit\",\"unit\":\"a\",\"extra\":1}]", "/health_checks/0/extra",
         "unknown argument (known: type, unit)"},
        {"[1]", "/health_checks/0", "must be an object, not an integer"},
        {"\"x\"", "/health_checks", "must be an array, not a string"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char args[512];

        snprintf(args, sizeof(args), "%s%s}", pre, cases[i].checks);
        expect("safe_switch_begin", args, cases[i].field, cases[i].reason);
    }
    expect("watcher_add",
           "{\"name\":\"w\",\"check\":{\"type\":\"systemd_unit\",\"unit\":\"nginx\"},"
           "\"actions\":[{\"type\":\"restart_service\",\"unit\":\"nginx\"},{\"type\":\"notify\"}]}",
           "/actions/1/message", "required");
    expect(
        "routine_add",
        "{\"name\":\"r\",\"trigger\":{\"type\":\"cron\"},\"action\":{\"type\":\"health_check\"}}",
        "/trigger/expression", "required");
    expect("routine_add",
           "{\"name\":\"r\",\"trigger\":{\"type\":\"interval\",\"seconds\":60},"
           "\"action\":{\"type\":\"webhook\",\"url\":\"http://x\",\"method\":\"POST\"}}",
           "", NULL);
}

Test(schema, arguments_must_be_an_object)
{
    const struct osm_tool *t = osm_tool_find("system_health", NULL);
    json_auto_t *arr = json_array();

    cr_assert_eq(osm_tool_validate(t, arr, field, sizeof(field), reason, sizeof(reason)), -EINVAL);
    cr_assert_str_eq(field, "");
    cr_assert_str_eq(reason, "arguments must be a JSON object");
    cr_assert_eq(osm_tool_validate(t, NULL, field, sizeof(field), reason, sizeof(reason)), -EINVAL);
    cr_assert_eq(osm_tool_validate(NULL, arr, field, sizeof(field), reason, sizeof(reason)),
                 -EINVAL);
}

Test(schema, inline_keywords)
{
    const char *multi = "{\"type\":[\"integer\",\"string\"]}";
    const char *one = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}";
    const char *any = "{\"anyOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}";

    expect_schema(multi, "3", "", NULL);
    expect_schema(multi, "\"3\"", "", NULL);
    expect_schema(multi, "true", "", "must be an integer or a string, not a boolean");
    expect_schema("{\"const\":\"x\"}", "\"y\"", "", "must be x");
    expect_schema(one, "-1", "", NULL);
    expect_schema(one, "1", "", "matches more than one of the allowed forms");
    expect_schema(any, "1", "", NULL);
    expect_schema(any, "-0.5", "", "must be an integer, not a number");
    expect_schema("{\"maxItems\":1,\"items\":{\"type\":\"string\"}}", "[\"a\",\"b\"]", "",
                  "must have at most 1 item");
    expect_schema("{\"items\":{\"type\":\"string\"}}", "[\"a\",3]", "/1",
                  "must be a string, not an integer");
    expect_schema("{\"minLength\":3}", "\"ab\"", "", "must be at least 3 characters");
    expect_schema("false", "1", "", "not allowed");
    expect_schema("true", "1", "", NULL);
}

/* JSON pointer escaping of keys (RFC 6901) and cutting of an overlong pointer. */
Test(schema, pointers)
{
    char key[400], inst[512];

    expect_schema("{\"additionalProperties\":false}", "{\"a/b~c\":1}", "/a~1b~0c",
                  "unknown argument (none are accepted here)");
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(inst, sizeof(inst), "{\"%s\":1}", key);
    expect_schema("{\"additionalProperties\":false}", inst, "/\xe2\x80\xa6",
                  "unknown argument (none are accepted here)");
}

/* Small caller buffers: always NUL-terminated, never a split UTF-8 character. */
Test(schema, small_buffers)
{
    const struct osm_tool *t = osm_tool_find("shell_exec", NULL);
    json_auto_t *args = json_pack("{s:s, s:i}", "command", "ls", "timeout", 999999);
    char f[4], r[10];

    memset(f, 'Z', sizeof(f));
    memset(r, 'Z', sizeof(r));
    cr_assert_eq(osm_tool_validate(t, args, f, sizeof(f), r, sizeof(r)), -EINVAL);
    cr_assert_str_eq(f, "/ti");
    cr_assert_str_eq(r, "must be "); /* "≤" would not fit whole */
    cr_assert_eq(osm_tool_validate(t, args, NULL, 0, NULL, 0), -EINVAL);
}

static void *validate_many(void *arg)
{
    size_t n;
    const struct osm_tool *tools = osm_tools(&n);
    json_auto_t *args = json_pack("{s:s}", "command", "ls");
    char f[64], r[64];

    for (int i = 0; i < 2000; i++) {
        const struct osm_tool *t = osm_tool_find("shell_exec", NULL);

        if (!t || n < 92 || tools[6].name != t->name ||
            osm_tool_validate(t, args, f, sizeof(f), r, sizeof(r)) != 0)
            return (void *)1;
    }
    return NULL;
}

/* The first use from many threads at once initialises the registry once. */
Test(schema, concurrent_first_use)
{
    pthread_t th[8];

    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, validate_many, NULL), 0);
    for (size_t i = 0; i < 8; i++) {
        void *ret;

        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
}
