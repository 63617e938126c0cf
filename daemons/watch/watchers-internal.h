/* What the watcher store (watchers.c) and the ladder (watchers-ladder.c) share. One lock guards
 * the list, the schedule and every watcher's state; a watcher is reference counted because a
 * check in flight or a queued action may outlive its removal. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "checks.h"
#include "common/timeutil.h"
#include "jobs/jobs.h"
#include "watchers.h"

#define WATCHER_NAME_MAX 256
#define WATCHER_ACTIONS_MAX 16
#define WATCHER_MESSAGE_MAX 1024
#define WATCHER_INTERVAL_MAX_S 86400
#define WATCHER_COOLDOWN_MIN_S 5     /* after an action, failures count again only after ... */
#define WATCHER_COOLDOWN_INTERVALS 2 /* ... the longer of this many intervals and the minimum */
#define WATCHER_SLACK_MS 100         /* checks due this close together start in one wake-up */
#define WATCHER_RESULT_DELAY_MS 100  /* a result waits at most this long for a wake-up */
#define WATCHERS_FILE_MAX (16 * 1024 * 1024)

enum watcher_action_kind { ACTION_RESTART, ACTION_ROLLBACK, ACTION_NOTIFY };

struct watcher_action {
    enum watcher_action_kind kind;
    char *arg; /* restart_service: unit; notify: message */
};

struct watcher {
    struct watchers *ws;
    char id[OSM_JOB_ID_LEN + 1];
    char *name;
    struct check *check;
    int interval_s;
    struct watcher_action *actions;
    size_t n_actions;
    int refs; /* the list, a check in flight, queued work */
    bool removed;
    /* schedule */
    int64_t next_run_ms; /* monotonic */
    size_t heap_idx;     /* in the schedule while idle: not running, not acting */
    bool scheduled, running, acting;
    struct watcher *rnext; /* in the result queue */
    bool result_ok;
    char result_detail[CHECK_DETAIL_MAX];
    /* the ladder */
    bool degraded, exhausted;
    char since[OSM_TS_LEN + 1];
    int64_t retries;
    int step;      /* last action taken in this degraded spell, -1 none */
    int next_step; /* the action a fresh failure window takes */
    int64_t cooldown_until_ms;
    int64_t next_action_at_ms; /* wall clock, for the list; 0 none */
    char last_error[CHECK_DETAIL_MAX];
};

enum watcher_work_kind { WORK_FAILED, WORK_ACTION, WORK_RECOVERED, WORK_EXHAUSTED };

struct watcher_work {
    enum watcher_work_kind kind;
    struct watcher *w; /* holds a reference */
    int step;
    char detail[CHECK_DETAIL_MAX];
    struct watcher_work *next;
};

struct watchers {
    struct watch *w;
    char *path; /* watchers.json */
    pthread_mutex_t lock;
    pthread_mutex_t store_lock; /* one add or remove at a time: event, file, list */
    pthread_cond_t cond;        /* the scheduler: results, schedule changes, stop */
    pthread_cond_t work_cond;   /* the action thread */
    struct watcher **list;
    size_t n, cap;
    struct watcher **heap;
    size_t n_heap, heap_cap;
    struct check_start *due; /* the burst being started: the scheduler's own, read unlocked */
    size_t due_cap;
    struct watcher *results;
    int64_t results_since_ms; /* when the oldest result waiting was queued */
    int64_t asleep_until_ms;  /* the scheduler's planned wake-up while it waits, 0 while awake */
    struct watcher_work *work, **work_tail;
    bool stopping;
    size_t inflight; /* checks started and not yet done */
    bool released;   /* watchers_free is through: the last check done frees ws */
    pthread_t scheduler, actor;
    bool started;
};

/* watchers-ladder.c */
int watchers_ladder_start(struct watchers *ws);
void watchers_ladder_stop(struct watchers *ws);
/* Frees ws now, or when the last check in flight is done. */
void watchers_release(struct watchers *ws);
/* Puts w in the schedule, due at when_ms (monotonic). Under ws->lock. */
int watchers_schedule(struct watchers *ws, struct watcher *w, int64_t when_ms);
void watchers_unschedule(struct watchers *ws, struct watcher *w);
void watcher_unref(struct watcher *w); /* under ws->lock */

/* watchers.c */
void watcher_free(struct watcher *w);
const char *watcher_action_type(const struct watcher_action *a);
json_t *watcher_action_json(const struct watcher_action *a);
