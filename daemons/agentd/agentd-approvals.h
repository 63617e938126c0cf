/* agentd is the one approval authority (DESIGN §6): one inbox for the operator, one expiry
 * sweeper, one set of allow-always grants, for its own held calls and every other daemon's.
 * agentd-approvals.c keeps the table and the operator's routes, agentd-decisions.c the signed
 * decisions and their delivery, agentd-daemons.c the daemons socket. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "exec/exec.h"

struct agentd;

#define AGENTD_APPROVAL_TTL_S 600        /* osModa's default ttl_secs of a pending approval */
#define AGENTD_APPROVAL_SWEEP_S 30       /* osModa's expiry loop period */
#define AGENTD_APPROVAL_COMMAND_MAX 4096 /* osModa's input limits */
#define AGENTD_APPROVAL_ACTOR_MAX 256
#define AGENTD_APPROVAL_REASON_MAX 1024
#define AGENTD_APPROVAL_TTL_MAX_S (30 * 86400) /* longest pending ttl or allow-always grant */
#define AGENTD_GRANT_TTL_S 3600                /* allow-always without ttl_secs */
#define AGENTD_APPROVAL_LIST_MAX 1000
#define AGENTD_PREVIEW_MAX (64 * 1024) /* bytes of a stored preview */
#define AGENTD_WAIT_IDS_MAX 1000       /* approvals one daemon waits for in one request */
#define AGENTD_WAIT_MAX_S 60           /* longest wait for a decision in one request */
#define AGENTD_DAEMON_NAME_MAX 64

struct agentd_approvals {
    int64_t ttl_s;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the sweeper's timer; decision waiters */
    uint64_t decided;    /* counts decisions, so a waiter knows something changed */
    bool stopping;
    pthread_t sweeper;
    bool sweeper_started;
};

/* Creates the tables (adding our columns to an osModa table) and starts the expiry sweeper. */
int agentd_approvals_init(struct agentd *ad);
void agentd_approvals_shutdown(struct agentd *ad);

/* ---- for the holding daemons (agentd's own executor and the daemons socket) ---- */

/* Records approval.requested with its pending row for a call daemon holds. */
int agentd_approval_open(struct agentd *ad, const char *daemon,
                         const struct osm_approval_request *req);
/* An unexpired allow-always grant covering tool with args_hash, or path (exact or under a
 * granted prefix): 0 with its approval id, -ENOENT. */
int agentd_grant_find(struct agentd *ad, const char *tool, const char *args_hash, const char *path,
                      char ret_id[static OSM_EXEC_ID_LEN + 1]);
/* Cancels daemon's pending approval (approval.cancelled): 0, -EALREADY when decided, -ENOENT. */
int agentd_approval_cancel(struct agentd *ad, const char *daemon, const char *id);
/* daemon's approval id as a signed decision (new reference): 0, -EAGAIN while pending, -ENOENT. */
int agentd_approval_decision(struct agentd *ad, const char *daemon, const char *id, json_t **ret);
/* The preview stored with approval id (new reference), or NULL. */
json_t *agentd_approval_preview(struct agentd *ad, const char *id);
/* Waits up to wait_ms until one of ids (daemon's) is decided: the decisions found, [] on time
 * out. Woken by each decision, never by polling. */
int agentd_approvals_wait(struct agentd *ad, const char *daemon, const json_t *ids, int64_t wait_ms,
                          json_t **ret);
/* The approver agentd's own executor uses. */
void agentd_approver(struct agentd *ad, struct osm_exec_approver *ret);

/* ---- agentd-decisions.c ---- */

/* A decided row (id, daemon, tool, args_hash, status, mode, grant_expires_at) as the signed
 * decision (new reference), or NULL. */
json_t *agentd_decision_sign(struct agentd *ad, const json_t *row);
/* After a decision is durable: delivers it to agentd's own executor when the call is agentd's,
 * and wakes every daemon waiting for decisions. Returns the delivery's error. */
int agentd_decision_deliver(struct agentd *ad, const char *id);

/* ---- internal to the approvals files ---- */
int agentd_approvals_expire(struct agentd *ad);
/* The approval id as JSON (new reference) or NULL with *ret_r = -ENOENT / -errno. */
json_t *agentd_approval_row(struct agentd *ad, const char *id, int *ret_r);
