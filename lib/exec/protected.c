/* The paths no tool of any daemon may reach (DESIGN §6): the ledger and its keys, agentd's
 * capability key, keyd's state, the jobs, the lockdown file, the run directories, and whatever
 * the daemon adds of its own. Every executing daemon gives this list to its executor, so the
 * same call is refused the same way whichever daemon runs it. */
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "daemon/daemon.h"
#include "exec.h"
#include "ledger/ledger.h"

/* In the state directory; an entry ending in '*' covers every name that starts with it. */
static const char *const state_names[] = {
    OSM_LEDGER_DB_NAME "*",
    OSM_LEDGER_KEY_NAME,
    OSM_LEDGER_PUB_NAME,
    OSM_LEDGER_CHECKPOINT_LOG,
    "capability.key",
    "keyd",
    "jobs",
    "lockdown",
};

char **osm_exec_protected_new(const char *state_dir, const char *run_dir, const char *const *extra)
{
    size_t n_extra = 0, n, i = 0;
    char **list;

    while (extra && extra[n_extra])
        n_extra++;
    n = ELEMENTSOF(state_names) + 2 + n_extra;
    if (!(list = calloc(n + 1, sizeof(char *))))
        return NULL;
    for (size_t k = 0; k < ELEMENTSOF(state_names); k++)
        list[i++] = osm_path_join(state_dir, state_names[k]);
    list[i++] = strdup(run_dir);
    list[i++] = strdup(OSM_DEFAULT_RUN_DIR);
    for (size_t k = 0; k < n_extra; k++)
        list[i++] = strdup(extra[k]);
    for (size_t k = 0; k < n; k++)
        if (!list[k]) {
            for (size_t j = 0; j < n; j++)
                free(list[j]);
            free(list);
            return NULL;
        }
    return list;
}

void osm_exec_protected_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}
