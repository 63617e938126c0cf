/* The job tools (not in osModa): follow, wait for and kill the long operations that shell_exec,
 * sandbox_exec and approved calls run as jobs (lib/jobs; lib/exec implements the tools). They
 * come after osModa's 92 tools in the registry's order. */
#include "tools/tools-table.h"

// clang-format off
/* Every daemon that executes tools has jobs: the bridge sends a job tool to the daemon named
 * here, which is the daemon a pending answer came from. */
#define JOB_DAEMON J("daemon":{"type":"string","enum":["agentd","watch","routines","mesh","mcpd",\
  "teachd","voice","keyd","egress"],"description":"The daemon that gave the job id (default agentd)."})

const struct osm_tool osm_tools_jobs[] = {
    {.name = "job_status",
     .description = "State of a job: status (pending_approval, running, exited, killed, denied, "
                    "expired, failed), exit code, and a window of its output. Without offset "
                    "the last 64 KiB; with offset the bytes from there (next_offset continues).",
     .input_schema = J({"type":"object","properties":{
        "job_id":{"type":"string","minLength":1,"maxLength":64,"description":"Job id."},
) JOB_DAEMON J(,
        "offset":{"type":"integer","minimum":0,
                  "description":"Output byte offset to read from (default: the tail)."}},
        "required":["job_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd"},
    {.name = "job_wait",
     .description = "Wait until a job finishes or timeout_ms passes (default 60000, at most "
                    "600000); then as job_status, with timed_out.",
     .input_schema = J({"type":"object","properties":{
        "job_id":{"type":"string","minLength":1,"maxLength":64,"description":"Job id."},
) JOB_DAEMON J(,
        "timeout_ms":{"type":"integer","minimum":0,"maximum":600000,
                      "description":"Longest wait in milliseconds."}},
        "required":["job_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "agentd"},
    {.name = "job_kill",
     .description = "Kill a running job's whole process group (or cancel a job waiting for "
                    "approval).",
     .input_schema = J({"type":"object","properties":{
        "job_id":{"type":"string","minLength":1,"maxLength":64,"description":"Job id."},
) JOB_DAEMON J(},
        "required":["job_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(jobs);
