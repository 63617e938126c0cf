/* Dropping root for good inside the sandbox: osmoda-sandbox-init before it runs the command, and
 * the egress relay it forks. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

static int drop_caps_bounding(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0}};

    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    /* Permitted/effective go with the uid change; inheritable must be cleared by hand. */
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    return 0;
}

int osm_sandbox_drop_uid(uid_t uid)
{
    gid_t gid = (gid_t)uid;
    int r;

    if ((r = drop_caps_bounding()) < 0)
        return r;
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -errno;
    if (setuid(0) == 0 || getuid() != uid)
        return -EPERM;
    return 0;
}
