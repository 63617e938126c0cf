/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include <errno.h>

#include "svc-internal.h"

int svc_open_systemd(const char *bus_address, const struct watch_events *ev, struct svc **ret)
{
    return -ENOSYS;
}
