/* The shared state of osmoda-egress (egress.h): the configuration in force, its reload, and
 * LOCKDOWN. The proxy thread, the operator API's threads and main reach it only through these. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "egress.h"
#include "proxy.h"

struct acl_config *egress_acl(struct egress *eg)
{
    struct acl_config *c;

    pthread_mutex_lock(&eg->lock);
    c = eg->acl ? acl_config_ref(eg->acl) : NULL;
    pthread_mutex_unlock(&eg->lock);
    return c;
}

int egress_reload(struct egress *eg, char *err, size_t errlen)
{
    struct acl_config *fresh = NULL, *old;
    int r = acl_config_load(eg->acl_path, eg->grants_path, eg->default_allow, &fresh, err, errlen);

    if (r < 0)
        return r;
    pthread_mutex_lock(&eg->lock);
    old = eg->acl;
    fresh->generation = old ? old->generation + 1 : 1;
    eg->acl = fresh;
    pthread_mutex_unlock(&eg->lock);
    /* connections admitted under old hold their own references */
    acl_config_unref(old);
    if (eg->proxy)
        proxy_config_changed(eg->proxy);
    return 0;
}

void egress_lockdown(struct egress *eg)
{
    atomic_store(&eg->lockdown, true);
    if (eg->proxy)
        proxy_close_all(eg->proxy);
}

int egress_unlock(struct egress *eg)
{
    if (egress_lockdown_file_present(eg))
        return -EBUSY;
    atomic_store(&eg->lockdown, false);
    return 0;
}

bool egress_lockdown_file_present(const struct egress *eg)
{
    if (!eg->lockdown_path)
        return false;
    return access(eg->lockdown_path, F_OK) == 0 || errno != ENOENT;
}
