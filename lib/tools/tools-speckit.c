/* Tools 91-92: Spec Kit projects under /workspace (agentd executes them itself). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_speckit[] = {
    {.name = "spec_kit_init",
     .description = "Create a Spec Kit project in /workspace/<slug of project_name>.",
     .input_schema = J({"type":"object","properties":{
        "project_name":{"type":"string","minLength":1,"maxLength":128,
                        "description":"Project name."},
        "integration":{"type":"string",
                       "enum":["claude","codex","gemini","copilot","windsurf","generic"],
                       "description":"Agent integration (default claude)."},
        "constitution_seed":{"type":"string","description":"Principles for the constitution."}},
        "required":["project_name"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "agentd"},
    {.name = "spec_kit_run",
     .description = "Run a Spec Kit step (/speckit-<command>) in a project with a coding agent. "
                    "Runs as a job.",
     .input_schema = J({"type":"object","properties":{
        "project_path":{"type":"string","minLength":1,
                        "description":"Project directory, under /workspace/."},
        "command":{"type":"string",
                   "enum":["constitution","specify","clarify","plan","tasks","analyze",
                           "checklist","implement","taskstoissues"],
                   "description":"Spec Kit step."},
        "prompt":{"type":"string","description":"Input for the step."},
        "timeout_seconds":{"type":"integer","minimum":) OSM_STR(OSM_TOOL_SPECKIT_TIMEOUT_MIN_S)
                          J(,"maximum":) OSM_STR(OSM_TOOL_SPECKIT_TIMEOUT_MAX_S)
                          J(,"description":"Timeout (default 600)."}},
        "required":["project_path","command"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "agentd", .flags = OSM_TOOL_JOB},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(speckit);
