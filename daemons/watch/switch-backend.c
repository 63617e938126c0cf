/* The generation backends of SafeSwitch, by the name a plan object gives (switch-backend.h). */
#include <string.h>

#include "common/macro.h"
#include "switch-backend.h"

static const struct switch_backend *const backends[] = {
    &switch_backend_files,
    &switch_backend_nix_profile,
    &switch_backend_nixos,
};

const struct switch_backend *switch_backend_find(const char *name)
{
    for (size_t i = 0; name && i < ELEMENTSOF(backends); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
