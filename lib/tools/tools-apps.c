/* Tools 85-90: long-running apps as supervised services osmoda-app-<name>. osModa ran
 * systemd-run from the bridge as root; here osmoda-watch, the service supervisor (DESIGN §7),
 * deploys and supervises them (systemd or process backend) under its own policy. */
#include "tools/tools-table.h"

// clang-format off
#define APP_NAME ONE_STRING_ARG("name", "App name, from app_list.")

const struct osm_tool osm_tools_apps[] = {
    {.name = "app_deploy",
     .description = "Deploy a command as a supervised app (systemd unit osmoda-app-<name>) that "
                    "restarts on failure and survives reboots. Runs as a job.",
     .input_schema = J({"type":"object","properties":{
        "name":{"type":"string","minLength":1,"maxLength":64,
                "description":"App name: letters, digits, - and _."},
        "command":{"type":"string","minLength":1,"description":"Absolute path of the program."},
        "args":{"type":"array","items":{"type":"string"},"description":"Its arguments."},
        "working_dir":{"type":"string","description":"Working directory."},
        "env":{"type":"object","additionalProperties":{"type":"string"},
               "description":"Environment variables."},
        "port":{"type":"integer","minimum":1,"maximum":65535,"description":"Port it listens on."},
        "restart_policy":{"type":"string",
                          "enum":["no","on-success","on-failure","on-abnormal","on-watchdog",
                                  "on-abort","always"],
                          "description":"systemd Restart= (default on-failure)."},
        "memory_max":{"type":"string","description":"systemd MemoryMax=, e.g. 512M."},
        "cpu_quota":{"type":"string","description":"systemd CPUQuota=, e.g. 50%."}},
        "required":["name","command"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST",
     .path = "/app/deploy", .flags = OSM_TOOL_JOB},
    {.name = "app_list",
     .description = "Deployed apps and whether each is running.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET",
     .path = "/app/list", .flags = OSM_TOOL_LIST},
    {.name = "app_logs",
     .description = "Recent journal lines of an app.",
     .input_schema = J({"type":"object","properties":{
        "name":{"type":"string","minLength":1,"description":"App name."},
        "lines":{"type":"integer","minimum":1,"description":"Newest lines to read (default 50)."},)
        PAGE_PROPS J(},"required":["name"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "watch", .method = "GET",
     .path = "/app/logs", .flags = OSM_TOOL_LIST},
    {.name = "app_stop",
     .description = "Stop an app (it stays deployed).",
     .input_schema = APP_NAME,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST",
     .path = "/app/{name}/stop", .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "app_restart",
     .description = "Restart an app.",
     .input_schema = APP_NAME,
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "watch", .method = "POST",
     .path = "/app/{name}/restart"},
    {.name = "app_remove",
     .description = "Stop an app and remove it from the registry.",
     .input_schema = APP_NAME,
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "watch", .method = "POST",
     .path = "/app/{name}/remove", .flags = OSM_TOOL_IDEMPOTENT},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(apps);
