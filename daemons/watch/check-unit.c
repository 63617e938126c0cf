/* systemd_unit: active in the service backend (systemd through sd-bus, or the process
 * supervisor). The backend may block briefly, so the call runs on one of the engine's workers;
 * a call still running at the time-out is answered "timed out" and its late result dropped. */
#include <errno.h>
#include <string.h>

#include "checks-internal.h"
#include "svc.h"

void check_unit_run(struct check_job *j)
{
    j->worker_result = svc_is_active(j->e->svc, j->name);
}

void check_unit_done(struct check_job *j)
{
    int r = j->worker_result;

    if (r > 0)
        checks_job_finish(j, true, "active");
    else if (r == 0)
        checks_job_finish(j, false, "%s is not active", j->name);
    else if (r == -ENOENT)
        checks_job_finish(j, false, "no unit %s", j->name);
    else
        checks_job_finish(j, false, "%s: %s", j->name, strerror(-r));
}
