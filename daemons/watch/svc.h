/* The service interface of osmoda-watch (DESIGN §7): one set of operations, two backends.
 *   systemd  — sd-bus to systemd (start/stop/restart/reload/enable, unit properties, transient
 *              units for apps), the journal through sd-journal.
 *   process  — osmoda-watch supervises the children itself (dev mode, containers, tests): a
 *              crash seen through the child's pidfd, restart with backoff (100 ms doubling to
 *              60 s), a start limit (5 per 10 s) then `failed`, readiness through a notify fd
 *              (sd_notify's READY=1), stdout/stderr captured with size-bounded rotation.
 * Unit names are as systemd's: "nginx" and "nginx.service" are the same service. Every call
 * is safe from any thread. Functions return 0 or -errno: -ENOENT no such unit, -EINVAL a bad
 * name or spec, -EEXIST a transient unit already there, -EIO the backend failed (with a
 * message in the log). State changes the backend makes on its own (a restart after a crash,
 * the start limit reached) are typed events (service.crashed, service.restart, service.failed,
 * service.ready) through the events given at open. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "watch.h"

#define SVC_NAME_MAX 256                /* unit names: [A-Za-z0-9@._:-], at most this long */
#define SVC_RESTART_FIRST_MS 100        /* process backend: first restart delay ... */
#define SVC_RESTART_MAX_MS 60000        /* ... doubling up to this */
#define SVC_START_LIMIT_BURST 5         /* starts allowed ... */
#define SVC_START_LIMIT_INTERVAL_S 10   /* ... per this window, then the service is failed */
#define SVC_LOG_MAX_BYTES (1024 * 1024) /* process backend: a log file rotates at this size */
#define SVC_LOG_KEEP 3                  /* rotated files kept (name.log.1 .. .3) */
#define SVC_LOG_LINES_MAX 500           /* journal_logs / app_logs: most lines returned */

enum svc_backend_kind { SVC_BACKEND_SYSTEMD, SVC_BACKEND_PROCESS };

/* A service to run: an app (app_deploy) or, under the process backend, a configured service. */
struct svc_spec {
    const char *name;        /* unit name; ".service" is added where the backend needs it */
    const char *const *argv; /* NULL-terminated, argv[0] an absolute path */
    const char *working_dir; /* or NULL */
    const char *const *env;  /* NULL-terminated "K=V", or NULL */
    const char *restart;     /* systemd Restart=: "no", "on-failure" (default), "always", ... */
    const char *memory_max;  /* systemd MemoryMax= text ("512M"), or NULL */
    const char *cpu_quota;   /* systemd CPUQuota= text ("50%"), or NULL */
    bool notify;             /* Type=notify: ready when it sends READY=1 */
    bool dynamic_user;       /* systemd DynamicUser=yes (apps: never root); process backend:
                                runs as the configured unprivileged user when root */
};

struct svc_process_config {
    const char *state_dir; /* logs/<name>.log and the notify sockets live here */
    /* The configured services (the file may not exist): a JSON array of
     * {"name", "argv": [absolute path, args...], "working_dir"?, "env"?: {"K": "V"},
     *  "restart"?: "always"|"on-failure"|"no" (default on-failure), "notify"?: bool,
     *  "enabled"?: bool (default true: started when watch starts)} */
    const char *services_file;
    int start_limit_burst;      /* 0: SVC_START_LIMIT_BURST */
    int start_limit_interval_s; /* 0: SVC_START_LIMIT_INTERVAL_S */
    int64_t log_max_bytes;      /* 0: SVC_LOG_MAX_BYTES */
    const char *run_as_user;    /* dynamic_user specs run as this user when we are root
                                   (default "nobody") */
};

struct svc_log_query {
    int lines;            /* newest lines, 1..SVC_LOG_LINES_MAX (0: 50) */
    const char *priority; /* lowest priority, "emerg".."debug" or "0".."7", or NULL */
    const char *since;    /* "YYYY-MM-DD HH:MM:SS" (UTC) or "N seconds|minutes|hours|days ago"
                             or NULL */
};

struct svc;

/* bus_address NULL: the system bus. -ENOTCONN when systemd is not reachable. */
int svc_open_systemd(const char *bus_address, const struct watch_events *ev, struct svc **ret);
int svc_open_process(const struct svc_process_config *cfg, const struct watch_events *ev,
                     struct svc **ret);
/* Process backend: stops every supervised child (SIGTERM, then SIGKILL after 5 s). NULL-safe. */
void svc_free(struct svc *s);
enum svc_backend_kind svc_kind(const struct svc *s);
const char *svc_kind_name(const struct svc *s); /* "systemd" / "process" */
bool svc_name_valid(const char *name);

int svc_start(struct svc *s, const char *unit);
int svc_stop(struct svc *s, const char *unit);
int svc_restart(struct svc *s, const char *unit);
/* Reload where the unit supports it, else restart (what a config change needs). */
int svc_reload_or_restart(struct svc *s, const char *unit);
int svc_enable(struct svc *s, const char *unit, bool enable);
/* 1 active, 0 not active (inactive, failed, activating), -errno. */
int svc_is_active(struct svc *s, const char *unit);
/* {unit, backend, active_state, sub_state, main_pid, since (UTC text), restarts, result,
 *  description?, exec?} (new reference). Unknown units answer -ENOENT. */
int svc_status(struct svc *s, const char *unit, json_t **ret);
/* {unit, lines: ["...", ...] oldest first, truncated: bool} (new reference). */
int svc_logs(struct svc *s, const char *unit, const struct svc_log_query *q, json_t **ret);
/* Starts a transient service (systemd: a transient unit; process: a supervised child that is
 * forgotten by svc_remove). */
int svc_run(struct svc *s, const struct svc_spec *spec);
/* Stops a transient service and forgets it. */
int svc_remove(struct svc *s, const char *unit);
/* Every service the backend knows (process: all supervised; systemd: loaded service units whose
 * name starts with prefix, all when prefix is NULL) as [status, ...] (new reference). */
int svc_list(struct svc *s, const char *prefix, json_t **ret);
/* The pid of the unit's main process (0 when not running), for the emergency controls. */
int svc_main_pid(struct svc *s, const char *unit, pid_t *ret);
