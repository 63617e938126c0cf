/* Landlock: an allow-list of paths (and of one TCP port, the egress relay's) applied by
 * osmoda-sandbox-init after bwrap's mounts, and the nothing-at-all of the relay itself. Debian 12's
 * headers know ABI ≤ 3 only, so the structures and constants up to ABI 7 are defined here. */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "sandbox.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
    __u64 handled_access_fs;
    __u64 handled_access_net; /* ABI 4 */
    __u64 scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
    __u64 allowed_access;
    __s32 parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
    __u64 allowed_access;
    __u64 port;
};

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

#define LL_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

#define LL_FILE_ACCESS                                                                             \
    (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

static __u64 fs_handled(int abi)
{
    __u64 all = (1ULL << 13) - 1;

    if (abi >= 2)
        all |= LL_FS_REFER;
    if (abi >= 3)
        all |= LL_FS_TRUNCATE;
    if (abi >= 5)
        all |= LL_FS_IOCTL_DEV;
    return all;
}

static __u64 rule_access(unsigned access, __u64 handled)
{
    __u64 a = 0;

    if (access & OSM_LL_READ)
        a |= LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR;
    if (access & OSM_LL_DEV)
        a |= LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_READ_DIR | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
    if (access & OSM_LL_WRITE)
        a |= handled;
    return a & handled;
}

int osm_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

    if (abi < 0)
        return errno == ENOSYS || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
    return (int)abi;
}

static int add_path(int ruleset, const struct osm_landlock_rule *rule, __u64 handled)
{
    _cleanup_close_ int fd = open(rule->path, O_PATH | O_CLOEXEC);
    struct ll_path_beneath_attr pb = {0};
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    pb.allowed_access = rule_access(rule->access, handled);
    if (!S_ISDIR(st.st_mode))
        pb.allowed_access &= LL_FILE_ACCESS;
    pb.parent_fd = fd;
    if (pb.allowed_access == 0)
        return 0;
    if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
        return -errno;
    return 0;
}

static int add_port(int ruleset, int port)
{
    struct ll_net_port_attr np = {.allowed_access = LL_NET_CONNECT_TCP, .port = (__u64)port};

    if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) < 0)
        return -errno;
    return 0;
}

static int apply(const struct osm_landlock_rule *rules, size_t n, int tcp_port, bool handle_fs)
{
    struct ll_ruleset_attr attr = {0};
    _cleanup_close_ int ruleset = -1;
    size_t size = sizeof(__u64);
    int abi, r;

    abi = osm_landlock_abi();
    if (abi < 0)
        return abi;
    if (abi < 1)
        return -EOPNOTSUPP;
    if (tcp_port >= 0 && abi < 4)
        return -EOPNOTSUPP;
    attr.handled_access_fs = handle_fs ? fs_handled(abi) : 0;
    if (tcp_port >= 0) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        size = 2 * sizeof(__u64);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    if (!attr.handled_access_fs && !attr.handled_access_net && !attr.scoped)
        return -EOPNOTSUPP;
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0)
        return -errno;
    for (size_t i = 0; i < n; i++) {
        r = add_path(ruleset, &rules[i], attr.handled_access_fs);
        if (r < 0)
            return r;
    }
    if (tcp_port > 0 && (r = add_port(ruleset, tcp_port)) < 0)
        return r;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        return -errno;
    return abi;
}

int osm_landlock_apply(const struct osm_landlock_rule *rules, size_t n, int tcp_port)
{
    return apply(rules, n, tcp_port, n > 0);
}

int osm_landlock_deny_all(void)
{
    return apply(NULL, 0, 0, true);
}
