/* Jobs: long operations and approved calls run detached from the request that started them.
 * A process job runs under a separate runner (its own session) that streams output to
 * <state>/jobs/<id>.out and writes the exit status to <state>/jobs/<id>.exit, so both survive the
 * client disconnecting and agentd restarting. A call job (an approved non-process tool call) runs
 * on a thread and stores its JSON result. Job records live in ledger.db (table jobs). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agentd-tools.h"

#define AGENTD_JOB_ID_LEN 36 /* uuid v4 text */

enum agentd_job_status {
    AGENTD_JOB_PENDING_APPROVAL,
    AGENTD_JOB_RUNNING,
    AGENTD_JOB_EXITED,  /* finished; exit_code / result set */
    AGENTD_JOB_KILLED,  /* job_kill or activity timeout */
    AGENTD_JOB_DENIED,  /* the operator denied it */
    AGENTD_JOB_EXPIRED, /* the approval expired */
    AGENTD_JOB_FAILED,  /* could not start (sandbox unavailable, ...) */
};

/* Creates a job record for call (tool name + arguments are stored) in PENDING_APPROVAL when
 * pending, else RUNNING, and starts it unless pending. ret_id gets the new id. */
int agentd_job_create(struct agentd_call *call, bool pending, char ret_id[AGENTD_JOB_ID_LEN + 1]);
/* Starts a job that was waiting for approval (the executor calls this on approve). */
int agentd_job_release(struct agentd *ad, const char *id, const char *approval_id);
/* Marks a waiting job denied or expired. */
int agentd_job_refuse(struct agentd *ad, const char *id, enum agentd_job_status why);
/* {id, tool, status, exit_code|null, result|null, output (from offset, capped), output_offset,
 *  next_offset, started_at, ended_at|null} — new reference; -ENOENT when unknown. */
int agentd_job_status(struct agentd *ad, const char *id, int64_t output_offset, json_t **ret);
/* Waits until the job leaves RUNNING/PENDING_APPROVAL or timeout_ms passes; then as status. */
int agentd_job_wait(struct agentd *ad, const char *id, int64_t timeout_ms, json_t **ret);
/* Kills the job's whole process group (or cancels a waiting job). */
int agentd_job_kill(struct agentd *ad, const char *id);
/* Re-attaches to jobs after a restart (runner still alive → RUNNING, exit file → EXITED). */
int agentd_jobs_recover(struct agentd *ad);
