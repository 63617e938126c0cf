/* What the check parser and the engine's probes share behind checks.h: a parsed check, one run
 * of it (a job) and the engine's state. Jobs live on the engine's thread; the only doors from
 * other threads are the start queue and the workers' completion queue, each behind a mutex and
 * an eventfd. */
#pragma once

#include <curl/curl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "checks.h"

#define CHECK_UNIT_MAX 256    /* osModa: unit names [A-Za-z0-9@._-]{1,256} */
#define CHECK_HOST_MAX 253    /* a DNS name */
#define CHECK_URL_MAX 2048    /* http_get url */
#define CHECK_ARG_MAX 4096    /* one command argument (and cmd) */
#define CHECK_ARGS_MAX 64     /* command arguments */
#define CHECKS_WORKERS 2      /* threads for what blocks: getaddrinfo, svc_is_active */
#define CHECKS_EPOLL_BATCH 64 /* events taken per epoll_wait */

enum check_kind { CHECK_SYSTEMD_UNIT, CHECK_TCP_PORT, CHECK_HTTP_GET, CHECK_COMMAND, CHECK_KINDS };

struct check {
    enum check_kind kind;
    char *unit;        /* systemd_unit */
    char *host;        /* tcp_port */
    int port;          /* tcp_port */
    char *url;         /* http_get */
    int expect_status; /* http_get */
    char **argv;       /* command: cmd, args..., NULL */
    size_t n_args;     /* command: args without cmd */
};

/* What an epoll event points at: a job, a curl socket or the engine's wake-up eventfd. */
enum check_src_kind { SRC_WAKE, SRC_JOB, SRC_CURL };

struct check_src {
    enum check_src_kind kind;
};

struct check_job {
    struct check_src src; /* first: epoll data.ptr */
    struct checks *e;
    enum check_kind kind;
    check_done_fn done;
    void *userdata;
    int64_t deadline_ms;
    int timeout_ms;
    struct check_job *prev, *next; /* in e->active[kind], oldest (earliest deadline) first */
    struct check_job *qnext;       /* in a start or completion queue */
    bool finished;                 /* done was called; the job waits for a worker or a child */
    bool in_worker;                /* a worker holds it */
    int fd;                        /* tcp socket or command pidfd, -1 */
    pid_t pid;                     /* command */
    CURL *easy;                    /* http_get */
    struct addrinfo *ai, *ai_next; /* tcp_port: resolved addresses, the next to try */
    int port;                      /* tcp_port */
    int worker_result;             /* from the worker: svc_is_active's or getaddrinfo's */
    const struct check *check;     /* lent by the caller until done */
    char name[CHECK_UNIT_MAX + 1]; /* unit or host copied for a worker: check may go first */
    char detail[CHECK_DETAIL_MAX];
};

struct checks {
    struct svc *svc;
    int timeout_ms[CHECK_KINDS]; /* the CHECK_*_TIMEOUT_MS; tests shorten them */
    int epfd, wakefd;
    struct check_src wake_src;
    pthread_t thread;
    pthread_mutex_t lock; /* start and completion queues, stopping */
    struct check_job *starts, **starts_tail;
    struct check_job *completions;
    bool stopping;
    struct check_job *active[CHECK_KINDS]; /* heads; tails below: appended in start order */
    struct check_job *active_tail[CHECK_KINDS];
    struct check_job *reaping; /* timed-out commands, killed, until their exit is reaped */
    /* workers */
    pthread_t workers[CHECKS_WORKERS];
    size_t n_workers;
    pthread_cond_t work_cond;
    struct check_job *work, **work_tail;
    /* tcp_port: an unconnected socket kept between probes, IPv4 and IPv6, -1 none */
    int tcp_spare[2];
    /* http_get */
    CURLM *multi;
    int64_t curl_deadline_ms; /* -1: none */
};

/* Engine (checks-engine.c), on its thread. */
void checks_job_finish(struct check_job *j, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees a finished job (a command's once it is reaped). */
void checks_job_release(struct check_job *j);
int checks_epoll_add(struct checks *e, int fd, uint32_t events, struct check_src *src);
void checks_epoll_del(struct checks *e, int fd);
/* Hands j to a worker (getaddrinfo or svc_is_active); its completion comes back through
 * check_*_worked on the engine's thread. */
void checks_to_worker(struct check_job *j);

/* The probes: start returns 0 or -errno (the engine then finishes the job with the error). */
int check_tcp_start(struct check_job *j);
void check_tcp_event(struct check_job *j, uint32_t events);
void check_tcp_resolve(struct check_job *j); /* worker */
void check_tcp_resolved(struct check_job *j);
/* Closes a probe's socket (a timed-out one before its result is told: the port is free of it
 * by then). */
void check_tcp_close(struct check_job *j);
void check_tcp_release(struct check_job *j);
void check_tcp_free(struct checks *e); /* the spare sockets */
int check_command_start(struct check_job *j);
void check_command_event(struct check_job *j, uint32_t events);
void check_command_kill(struct check_job *j);
void check_command_reap(struct check_job *j); /* after the kill: waits for the exit */
int check_http_init(struct checks *e);
void check_http_free(struct checks *e);
int check_http_start(struct check_job *j);
void check_http_event(struct checks *e, int fd, uint32_t events);
void check_http_timer(struct checks *e);
void check_http_release(struct check_job *j);
void check_unit_run(struct check_job *j); /* worker */
void check_unit_done(struct check_job *j);
