/* The process backend's shared state: one supervisor thread owns the children (it forks them,
 * reaps them through their pidfds, reads their output and their notify sockets, and runs the
 * restart and kill deadlines); API calls from any thread take the lock, change the wanted
 * state and wake it. Files: svc-process.c (the API and the state machine), -loop.c (the
 * supervisor thread), -spawn.c (fork/exec, user, notify socket), -log.c (capture, rotation,
 * reading back), -conf.c (the services file). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "svc-internal.h"

#define SVC_PROCESS_MAX 1024      /* supervised services, configured and transient */
#define SVC_STOP_GRACE_MS 5000    /* SIGTERM, then SIGKILL to the group after this */
#define SVC_LOG_LINE_MAX 4096     /* longer output lines are split */
#define SVC_LOG_READ_BUDGET 65536 /* bytes read from one stream per wake-up */
#define SVC_LOG_ANSWER_MAX 262144 /* bytes of log lines in one answer; truncated beyond */
#define SVC_NOTIFY_MSG_MAX 4096   /* one sd_notify datagram */
#define SVC_ARGV_MAX 256          /* argv and env entries of one service */
#define SVC_ARG_BYTES_MAX 65536   /* bytes of one argument or env entry */
#define SVC_SERVICES_FILE_MAX (1024 * 1024)

enum proc_restart {
    RESTART_NO,
    RESTART_ALWAYS,
    RESTART_ON_SUCCESS,
    RESTART_ON_FAILURE,
    RESTART_ON_ABNORMAL,
    RESTART_ON_ABORT,
    RESTART_ON_WATCHDOG, /* no watchdog here: never restarts on its own */
};

enum proc_state {
    PS_INACTIVE,
    PS_ACTIVATING, /* spawned, waiting for READY=1 */
    PS_ACTIVE,
    PS_AUTO_RESTART, /* exited, restart due at restart_at_ms */
    PS_DEACTIVATING, /* SIGTERM sent, waiting for the exit */
    PS_FAILED,
};

/* One output stream of a child: a pipe read by the supervisor, lines written to the log. */
struct proc_stream {
    int fd;
    int priority; /* default syslog priority of its lines (stdout 6, stderr 3) */
    size_t len;
    char buf[SVC_LOG_LINE_MAX];
};

/* What an epoll event points at. */
enum proc_watch_kind { PW_PIDFD, PW_STDOUT, PW_STDERR, PW_NOTIFY, PW_WAKE };
struct proc_watch {
    enum proc_watch_kind kind;
    struct proc_svc *svc;
};

struct proc_svc {
    char *name;
    char **argv, **env; /* NULL-terminated, owned */
    char *working_dir;
    enum proc_restart restart;
    bool notify, dynamic_user, transient, enabled;

    enum proc_state state;
    const char *result; /* "success", "exit-code", "signal", "start-limit-hit", ... */
    pid_t pid;          /* main pid (also the process group and session), 0 when none */
    int pidfd, notify_fd;
    struct proc_stream out, err;
    struct proc_watch w_pid, w_out, w_err, w_notify;
    char notify_addr[108]; /* abstract address, '@' first as NOTIFY_SOCKET wants */

    bool stop_wanted;    /* a stop was asked: no restart when the process exits */
    bool removed;        /* forgotten: the supervisor frees it ... */
    int waiters;         /* ... once no API call waits on it */
    int spawn_error;     /* outcome of the last spawn the supervisor made (0 or -errno) */
    uint64_t spawn_seq;  /* counts spawns attempted, to wait for one */
    uint64_t exit_seq;   /* counts exits reaped, to wait for one */
    int64_t spawn_at_ms; /* a spawn is due at this monotonic time (0: none) */
    int64_t kill_at_ms;  /* SIGKILL due at this monotonic time (0: none) */
    int64_t started_ms;  /* monotonic time of the last spawn */
    int64_t since_ms;    /* realtime of the last state change */
    int64_t *starts;     /* monotonic times of recent starts (a ring, burst entries) */
    unsigned n_starts;
    unsigned attempt;  /* automatic restarts since the service last stayed up */
    unsigned restarts; /* automatic restarts in total */
    int log_fd;
    int64_t log_size;
};

struct proc_backend {
    struct svc base;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a spawn or an exit happened */
    pthread_t thread;
    bool thread_started, quit;
    int epfd, wakefd;
    struct proc_watch w_wake;

    char *state_dir, *log_dir;
    int start_limit_burst, start_limit_interval_s;
    int64_t log_max_bytes;
    uid_t run_uid; /* dynamic_user services run as this when we are root */
    gid_t run_gid;
    bool run_user_known;

    struct proc_svc *svcs[SVC_PROCESS_MAX];
    size_t n_svcs;
};

/* svc-process.c: the state machine, called by the supervisor with the lock held. */
void proc_on_exit(struct proc_backend *b, struct proc_svc *p, int code, int status);
void proc_on_ready(struct proc_backend *b, struct proc_svc *p);
void proc_spawn_now(struct proc_backend *b, struct proc_svc *p);
void proc_svc_free(struct proc_svc *p);
void proc_wake(struct proc_backend *b);

/* svc-process-loop.c */
int proc_loop_start(struct proc_backend *b);
void proc_loop_stop(struct proc_backend *b);
/* Registers (or, with fd < 0, ignores) fd in the supervisor's epoll. */
int proc_watch_fd(struct proc_backend *b, int fd, struct proc_watch *w);
void proc_unwatch_fd(struct proc_backend *b, int *fd);

/* svc-process-spawn.c */
/* Forks and execs p (supervisor thread only: the child's parent-death signal follows the
 * thread that forked it). Sets p->pid, p->pidfd, the pipes. 0 or -errno. */
int proc_spawn(struct proc_backend *b, struct proc_svc *p);
/* Binds p's notify socket (abstract, SO_PASSCRED). 0 or -errno. */
int proc_notify_open(struct proc_backend *b, struct proc_svc *p);
/* Reads pending datagrams; true when one from the service's processes said READY=1. */
bool proc_notify_read(struct proc_svc *p);
/* True when a notify message (len bytes, not NUL-terminated) has a line READY=1. */
bool proc_notify_ready(const char *msg, size_t len);
int proc_run_user(const char *name, uid_t *ret_uid, gid_t *ret_gid);

/* svc-process-log.c */
/* Reads what is pending on the stream, up to budget bytes (so that a busy stream does not
 * starve the others), into p's log; at the end of the stream flushes the partial line. */
void proc_log_drain(struct proc_backend *b, struct proc_svc *p, struct proc_stream *st,
                    size_t budget);
/* Writes one line of ours (a state change) into p's log. */
void proc_log_note(struct proc_backend *b, struct proc_svc *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void proc_log_close(struct proc_svc *p);
struct proc_log_filter {
    int max_prio;
    int64_t since_ms; /* INT64_MIN: all */
    size_t want;
};
/* Walks the lines of one log file (data is scrubbed in place) newest first, prepending those
 * that pass f to out, at most f->want lines and SVC_LOG_ANSWER_MAX bytes in *bytes (*truncated
 * then set). 1 when the walk is over (enough lines, or a line older than since), 0 to go on to
 * the older file. */
int proc_log_scan(char *data, size_t len, const struct proc_log_filter *f, json_t *out,
                  size_t *bytes, bool *truncated);
int proc_log_read(struct proc_backend *b, const char *name, const struct svc_log_query *q,
                  json_t **ret);
/* Query parsing: lowest priority 0..7 (-EINVAL when the text names none), and since as a
 * realtime in ms (-EINVAL when unreadable). */
int svc_log_parse_priority(const char *text);
int svc_log_parse_since(const char *text, int64_t now_ms, int64_t *ret_ms);

/* svc-process-conf.c */
int proc_restart_parse(const char *text, enum proc_restart *ret);
/* Copies a spec into a new service (not started). */
int proc_svc_from_spec(const struct svc_spec *spec, struct proc_svc **ret);
/* Reads the services file (missing: none) into b. -EINVAL on a bad file. */
int proc_conf_load(struct proc_backend *b, const char *path);
