/* The tools watch executes: every registry entry whose daemon is "watch", each mapped onto a
 * route of watch_routes, so an agent's call and the operator's request run the same code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "watch-api.h"

/* Fleet SafeSwitch needs the mesh to reach its peers: until osmoda-mesh exists, say so instead
 * of recording votes that nothing would carry out (osModa's defect, §4). */
static json_t *fleet_unavailable(struct osm_exec_call *call, const char **ret_error)
{
    *ret_error = "mesh_unavailable";
    return json_pack("{s:s}", "message",
                     "fleet switches need osmoda-mesh to reach peers, and it is not running here");
}

/* The job tools of watch's own jobs (held calls, app deploys): the bridge sends a job tool
 * here when its "daemon" argument says watch. */
static const struct {
    const char *name;
    osm_exec_fn run;
} job_tools[] = {
    {"job_status", osm_exec_job_status},
    {"job_wait", osm_exec_job_wait},
    {"job_kill", osm_exec_job_kill},
};

static osm_exec_fn job_handler(const char *name)
{
    for (size_t i = 0; i < sizeof(job_tools) / sizeof(job_tools[0]); i++)
        if (strcmp(job_tools[i].name, name) == 0)
            return job_tools[i].run;
    return NULL;
}

int watch_tool_table(struct osm_exec_tool **ret, size_t *ret_n)
{
    size_t n_all, n = 0;
    const struct osm_tool *all = osm_tools(&n_all);
    struct osm_exec_tool *t = calloc(n_all, sizeof(*t));

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n_all; i++) {
        osm_exec_fn job = job_handler(all[i].name);
        if (strcmp(all[i].daemon, "watch") != 0 && !job)
            continue;
        t[n].tool = &all[i];
        t[n].run = job ? job : strncmp(all[i].name, "fleet_", 6) == 0 ? fleet_unavailable : NULL;
        n++;
    }
    *ret = t;
    *ret_n = n;
    return 0;
}
