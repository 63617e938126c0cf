/* The execution sandbox of agent commands (DESIGN §6): the bubblewrap command line for ring 2
 * (fresh namespaces — its own network namespace always —, read-only system, only the agent
 * workspace writable, and one way out: osmoda-egress's socket for the agent principal, relayed
 * to a loopback port inside by osmoda-sandbox-init) and ring 1 (host filesystem after approval,
 * state and run dirs hidden), Landlock rules and a seccomp filter applied by osmoda-sandbox-init
 * inside bwrap, and cgroup limits (memory, pids, cpu) applied by the job runner. lib/ code: no
 * logging above debug, -errno returns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits of the sandbox and of jobs (osModa's value where it had one). */
#define OSM_SANDBOX_MEMORY_MB 512   /* osModa memory_limit_mb (never enforced there) */
#define OSM_SANDBOX_PIDS_MAX 256    /* tasks per job */
#define OSM_SANDBOX_CPU_PERCENT 100 /* one CPU's worth of quota */
#define OSM_SANDBOX_UID 65534       /* nobody: ring 2 runs unprivileged */
/* The way out of ring 2. osmoda-egress serves each principal on its own unix socket
 * <run>/egress-proxy/<principal>.sock (EGRESS_PROXY_DIR, EGRESS_AGENT_PRINCIPAL of the daemon,
 * repeated here because lib/ includes no daemon header); the sandbox's is bound in at
 * OSM_SANDBOX_INSIDE_EGRESS and relayed from 127.0.0.1:OSM_SANDBOX_EGRESS_PORT inside the
 * sandbox's own network namespace, the address the command's HTTP(S)_PROXY names. */
#define OSM_SANDBOX_EGRESS_DIR "egress-proxy"
#define OSM_SANDBOX_EGRESS_PRINCIPAL "agent"
#define OSM_SANDBOX_EGRESS_PORT 19999 /* osModa's proxy port */
#define OSM_SANDBOX_INSIDE_EGRESS "/run/osmoda-egress.sock"
#define OSM_SANDBOX_RELAY_CONNS_MAX 256 /* connections one sandbox's relay carries at once */
#define OSM_SANDBOX_RELAY_BUF 16384     /* bytes buffered per direction of a connection */
#define OSM_SANDBOX_BINDS_MAX 32        /* fs_read + fs_write entries */
#define OSM_SANDBOX_MASKS_MAX 128       /* secrets masked in one sandbox (files + directories) */
#define OSM_SANDBOX_COMMAND_MAX 65536   /* bytes of one command line */
#define OSM_SANDBOX_INSIDE_INIT "/.osmoda-sandbox-init" /* where ring 2 sees the init */
#define OSM_SANDBOX_INSIDE_WORKSPACE "/workspace"
#define OSM_JOB_ACTIVITY_TIMEOUT_S 300 /* no output for this long → the job is killed */
/* bytes kept in <id>.out; the rest is counted */
#define OSM_JOB_OUT_FILE_MAX (64LL * 1024 * 1024)
#define OSM_JOB_OUTPUT_WINDOW 65536     /* output bytes per job_status (osModa stdout cap) */
#define OSM_JOB_WAIT_MAX_MS 600000      /* longest single job_wait */
#define OSM_SHELL_TIMEOUT_MAX_MS 120000 /* shell_exec timeout cap (osModa) */
#define OSM_SHELL_TIMEOUT_DEFAULT_MS 60000
#define OSM_SHELL_RATE_CALLS 30                    /* osModa: 30 shell calls ... */
#define OSM_SHELL_RATE_WINDOW_S 60                 /* ... per 60 s */
#define OSM_FILE_READ_MAX_LINES 500                /* file_read maxLines default (osModa) */
#define OSM_FILE_READ_MAX_BYTES (10 * 1024 * 1024) /* legacy plugin's read cap */
#define OSM_FILE_WRITE_MAX_BYTES (10 * 1024 * 1024)
#define OSM_DIR_LIST_DEFAULT 200
#define OSM_DIR_LIST_MAX 5000
#define OSM_DIR_LIST_SCAN_MAX 100000 /* entries visited by one (recursive) listing */

/* Exit statuses of osmoda-sandbox-init and the runner when the sandbox itself failed (the
 * command never ran). bwrap exits 1 on its own set-up errors; the runner tells those apart
 * through the init's ready fd. */
#define OSM_SANDBOX_EXIT_SETUP 125

struct osm_sandbox_spec {
    int ring;                   /* 2 (default) or 1 (host filesystem, after approval) */
    const char *bwrap;          /* path of bwrap; NULL → /usr/bin/bwrap */
    const char *init;           /* osmoda-sandbox-init on the host */
    const char *workspace;      /* host directory bound read-write at /workspace (ring 2);
                                   ring 1 starts there */
    int workspace_fd;           /* O_PATH fd of it, bound with --bind-fd (root); -1 none */
    const char *const *fs_read; /* validated extra read-only binds (ring 2) */
    size_t n_fs_read;
    const char *const *fs_write; /* validated extra read-write binds (ring 2) */
    size_t n_fs_write;
    const char *const *hide; /* directories replaced by an empty tmpfs (ring 1) */
    size_t n_hide;
    /* Secrets: /dev/null bound over each file, an empty tmpfs over each directory; in ring 1
     * all of them, in ring 2 those a bind exposes (canonical host paths) */
    const char *const *mask_files;
    size_t n_mask_files;
    const char *const *mask_dirs;
    size_t n_mask_dirs;
    /* Ring 2: the host path of the agent principal's egress socket, bound in and relayed
     * (proxy environment set, Landlock's TCP connect limited to the relay's port); NULL: no
     * way out at all. Ring 2 never shares the host's network namespace. */
    const char *egress_socket;
    bool network;        /* ring 2: egress is required (the socket must be there, not "-try");
                            ring 1: the proxy environment (the host's network, approved) */
    int egress_port;     /* the relay's port inside; 0 → OSM_SANDBOX_EGRESS_PORT */
    int ready_fd;        /* fd the init writes one byte to once confined; -1 none */
    const char *command; /* /bin/sh -c COMMAND */
};

/* Builds bwrap's argv for spec (NULL-terminated, heap strings). */
int osm_sandbox_argv(const struct osm_sandbox_spec *spec, char ***ret_argv);
void osm_sandbox_argv_free(char **argv);

/* The agent principal's egress socket under run_dir (<run>/egress-proxy/agent.sock; heap), or
 * NULL when out of memory. */
char *osm_sandbox_egress_socket(const char *run_dir);
/* True when path is a unix socket (osmoda-egress is serving it, or crashed without removing it:
 * then the relay's connections are answered 503). */
bool osm_sandbox_egress_present(const char *path);

/* Validates a sandbox_exec fs_read/fs_write path as osModa does (absolute, no "..", canonical,
 * not under or above /proc /sys /dev /run /boot /etc/shadow /etc/passwd /etc/sudoers /root
 * /nix/store) plus the extra forbidden paths (state dir, run dir). Returns 0 with the canonical
 * path in *ret (heap) or -EINVAL (malformed), -ENOENT, -EPERM (forbidden). Unlike osModa an
 * invalid path is an error, never silently skipped. */
int osm_sandbox_bind_check(const char *path, const char *const *forbidden, size_t n_forbidden,
                           char **ret);
/* True when path equals prefix or lies below it (lexically, both absolute and normalised). */
bool osm_path_is_under(const char *path, const char *prefix);

/* Landlock (landlock.c). Access classes of a path rule. */
enum osm_landlock_access {
    OSM_LL_READ = 1,  /* read files and directories, execute */
    OSM_LL_WRITE = 2, /* everything: create, write, remove, truncate */
    OSM_LL_DEV = 4,   /* read/write existing files and device ioctls (/dev) */
};
struct osm_landlock_rule {
    const char *path;
    unsigned access; /* enum osm_landlock_access bits */
};
/* The Landlock ABI version of the running kernel, or -errno (-EOPNOTSUPP when disabled). */
int osm_landlock_abi(void);
/* Restricts the calling thread (and its future children) to rules: every filesystem access the
 * kernel's ABI can handle is denied elsewhere. tcp_port: -1 leaves TCP alone, 0 denies TCP
 * connect/bind, >0 allows connect to that port only (ABI ≥ 4, else -EOPNOTSUPP). With ABI ≥ 6
 * also scopes abstract unix sockets and signals to the sandbox. Sets no_new_privs. Missing rule
 * paths are skipped. Returns the ABI used or -errno; never partially applied on error. */
int osm_landlock_apply(const struct osm_landlock_rule *rules, size_t n, int tcp_port);

/* Restricts the calling thread to no filesystem access and no TCP bind or connect at all
 * (Landlock governs neither connecting to a unix socket by path nor sockets already open: what
 * the egress relay keeps). Sets no_new_privs. Returns the ABI used or -errno (-EOPNOTSUPP below
 * ABI 4). */
int osm_landlock_deny_all(void);

/* Drops to uid (and gid = uid) for good as root: the bounding, ambient and inheritable
 * capability sets cleared, supplementary groups dropped; -EPERM when root could be regained.
 * (privdrop.c) */
int osm_sandbox_drop_uid(uid_t uid);

/* seccomp (seccomp.c): default allow; EPERM for mount and the new mount API, pivot_root,
 * ptrace/process_vm_*, kexec, module loading, bpf, perf_event_open, keyctl/add_key/request_key,
 * reboot, swapon/off, open_by_handle_at, userfaultfd, unshare/setns and clone with namespace
 * flags, personality changes, io_uring, TIOCSTI; ENOSYS for clone3 (so libc falls back to
 * clone, whose flags can be checked). Other architectures' syscalls kill the process. */
int osm_seccomp_apply(void);
/* The same filter as classic BPF written to fd (for `bwrap --seccomp FD` or inspection). */
int osm_seccomp_export(int fd);

/* cgroups (cgroup.c). One job's groups: v1 memory/pids/cpu where those controllers are mounted,
 * the same relative path on the unified (v2) hierarchy for freeze/kill, and on a pure v2 host
 * memory.max/pids.max/cpu.max there. Without a unified hierarchy, a v1 freezer group for
 * freezing. */
struct osm_cgroup_limits {
    int64_t memory_bytes; /* 0 → no limit */
    int64_t pids_max;     /* 0 → no limit */
    int cpu_percent;      /* 0 → no limit */
};
struct osm_cgroup {
    char *memory; /* directories created (NULL when not) */
    char *pids;
    char *cpu;
    char *freezer; /* v1 freezer, only where no unified group exists */
    char *unified;
    bool limits_applied; /* every requested limit was written */
};
/* What kind of hierarchy a cgroup root is. */
enum osm_cgroup_layout {
    OSM_CGROUP_DETECT = 0, /* statfs(root): cgroup2 → OSM_CGROUP_V2, else OSM_CGROUP_V1 */
    OSM_CGROUP_V1, /* root holds v1 controller directories (memory, pids, cpu or cpu,cpuacct,
                      freezer) and perhaps unified/, used for freeze/kill if it is cgroup2 */
    OSM_CGROUP_V2, /* root is the unified hierarchy and holds the limits (taken as such without
                      checking the file system: a fixture directory works too) */
};
struct osm_cgroup_root {
    const char *path; /* NULL → /sys/fs/cgroup */
    enum osm_cgroup_layout layout;
    const char *own; /* the caller's cgroup on the unified hierarchy ("/a/b"); NULL → the "0::"
                        line of /proc/self/cgroup */
};
/* Creates the job's cgroups <parent of own cgroup>/osmoda-jobs/<name> on each hierarchy and
 * writes limits; on v2 the limit controllers are first enabled in subtree_control of
 * osmoda-jobs and, where it lacks them, of its ancestors up to the root. Returns 0 when all
 * limits were applied, -EACCES/-ENOENT/-EOPNOTSUPP (a controller the hierarchy does not
 * offer)/... otherwise, with whatever could be created kept in *cg and limits_applied false. */
int osm_cgroup_create_at(const struct osm_cgroup_root *root, const char *name,
                         const struct osm_cgroup_limits *lim, struct osm_cgroup *cg);
/* osm_cgroup_create_at with the layout detected; cgroup_root NULL → /sys/fs/cgroup. */
int osm_cgroup_create(const char *cgroup_root, const char *name,
                      const struct osm_cgroup_limits *lim, struct osm_cgroup *cg);
/* Moves pid (0 = self) into every created group. */
int osm_cgroup_enter(const struct osm_cgroup *cg, pid_t pid);
/* Freezes every process of the job (cgroup.freeze on v2, freezer.state on v1) and, with
 * timeout_ms > 0, waits up to that long until the kernel reports them all frozen. Returns 0,
 * -ETIMEDOUT (the freeze stays requested), -EOPNOTSUPP when the job has no group that can
 * freeze, or -errno. */
int osm_cgroup_freeze(const struct osm_cgroup *cg, int timeout_ms);
/* The reverse of osm_cgroup_freeze, with the same contract. */
int osm_cgroup_thaw(const struct osm_cgroup *cg, int timeout_ms);
/* Kills every process of the groups, frozen ones too (cgroup.kill on v2, else SIGKILL to each
 * listed pid, a few rounds, thawing a v1 freezer so the signals land). Returns the number of
 * processes signalled or -errno. */
int osm_cgroup_kill(const struct osm_cgroup *cg);
/* True when the memory group saw an OOM kill. */
bool osm_cgroup_oom_killed(const struct osm_cgroup *cg);
/* True when the pids group refused a fork (pids.events max > 0). */
bool osm_cgroup_pids_hit(const struct osm_cgroup *cg);
/* Removes the (empty) groups and frees the paths. */
void osm_cgroup_destroy(struct osm_cgroup *cg);
/* Frees the paths only. */
void osm_cgroup_clear(struct osm_cgroup *cg);
/* Fills cg with the paths <root>/<ctrl>/.../osmoda-jobs/<name> that exist (for a job whose
 * runner is gone). */
int osm_cgroup_find_at(const struct osm_cgroup_root *root, const char *name, struct osm_cgroup *cg);
/* osm_cgroup_find_at with the layout detected; cgroup_root NULL → /sys/fs/cgroup. */
int osm_cgroup_find(const char *cgroup_root, const char *name, struct osm_cgroup *cg);

/* The start time of pid (field 22 of /proc/PID/stat, clock ticks since boot): with the pid it
 * names one process, so a recycled pid is not mistaken for a job's runner. -ESRCH when gone. */
int osm_proc_start_time(pid_t pid, uint64_t *ret);
