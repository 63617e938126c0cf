/* The sandbox's seccomp filter (libseccomp): default allow, EPERM for the calls that reach past
 * the sandbox (mounts, namespaces, tracing, kernel modules, keyrings, bpf, ...). Applied by
 * osmoda-sandbox-init after bwrap has built the namespaces, so bwrap itself is not limited. */
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/personality.h>

#include "sandbox.h"

/* Denied outright. Names, so one libseccomp table covers every architecture it knows. */
static const char *const denied[] = {
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "unshare",
    "setns",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "vhangup",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "iopl",
    "ioperm",
    "uselib",
    "nfsservctl",
    "_sysctl",
    "fanotify_init",
};

static const uint64_t ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID,  CLONE_NEWNET, CLONE_NEWCGROUP,
#ifdef CLONE_NEWTIME
    CLONE_NEWTIME,
#endif
};

/* Full initialisers (libseccomp's SCMP_A0 leaves datum_b to C's zero fill, which clang flags). */
#define ARG(n, o, a, b)                                                                            \
    ((struct scmp_arg_cmp){.arg = (n), .op = (o), .datum_a = (a), .datum_b = (b)})

/* personality() flags that weaken the address space; querying (0xffffffff) stays allowed. */
static const uint64_t personality_bad[] = {ADDR_NO_RANDOMIZE,  READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
                                           ADDR_COMPAT_LAYOUT, ADDR_LIMIT_32BIT,  ADDR_LIMIT_3GB};

static int deny_name(scmp_filter_ctx ctx, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
}

static int build(scmp_filter_ctx *ret)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int r = 0;

    if (!ctx)
        return -ENOMEM;
    for (size_t i = 0; r == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
        r = deny_name(ctx, denied[i]);
    /* clone: no new namespaces. clone3 hides its flags in memory: ENOSYS makes libc fall back
     * to clone, whose flags the filter can see. */
    for (size_t i = 0; r == 0 && i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             ARG(0, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* personality: a flag set with bit 31 clear (so not the 0xffffffff query) is refused. */
    for (size_t i = 0; r == 0 && i < sizeof(personality_bad) / sizeof(personality_bad[0]); i++)
        r = seccomp_rule_add(
            ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
            ARG(0, SCMP_CMP_MASKED_EQ, personality_bad[i] | 0x80000000U, personality_bad[i]));
    /* No typing into a terminal the sandbox shares. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                             ARG(1, SCMP_CMP_MASKED_EQ, 0xffffffffU, TIOCSTI));
    if (r < 0) {
        seccomp_release(ctx);
        return r;
    }
    *ret = ctx;
    return 0;
}

int osm_seccomp_apply(void)
{
    scmp_filter_ctx ctx;
    int r = build(&ctx);

    if (r < 0)
        return r;
    r = seccomp_load(ctx); /* sets no_new_privs (SCMP_FLTATR_CTL_NNP defaults on) */
    seccomp_release(ctx);
    return r;
}

int osm_seccomp_export(int fd)
{
    scmp_filter_ctx ctx;
    int r = build(&ctx);

    if (r < 0)
        return r;
    r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    return r;
}
