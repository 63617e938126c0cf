/* agentd's enforcement core, shared by agentd-exec.c (POST /tools/call), agentd-approvals.c
 * (/approval/..., grants, expiry) and agentd-capability.c (/capability/...): the tool layer's state
 * hung off struct agentd, its start-up, the policy reload, and the calls between those files.
 *
 * A tool call leaves two ledger events: tool.call (intent: tool, redacted arguments, caller,
 * decision, rule, ring, approval id) before anything runs, and tool.result (call id, status,
 * duration) before the answer. If tool.call cannot be written nothing runs; if tool.result
 * cannot be written the caller gets 503 "result not recorded" (the action already ran). */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agentd-tools.h"
#include "crypto/ed25519.h"
#include "policy/policy.h"

struct agentd;

#define AGENTD_APPROVAL_ID_LEN 36        /* uuid v4 text */
#define AGENTD_APPROVAL_TTL_S 600        /* osModa's default ttl_secs of a pending approval */
#define AGENTD_APPROVAL_SWEEP_S 30       /* osModa's expiry loop period */
#define AGENTD_APPROVAL_COMMAND_MAX 4096 /* osModa's input limits */
#define AGENTD_APPROVAL_ACTOR_MAX 256
#define AGENTD_APPROVAL_REASON_MAX 1024
#define AGENTD_APPROVAL_TTL_MAX_S (30 * 86400) /* longest pending ttl or allow-always grant */
#define AGENTD_GRANT_TTL_S 3600                /* allow-always without ttl_secs */
#define AGENTD_APPROVAL_LIST_MAX 1000
#define AGENTD_SHELL_RATE_CALLS 30        /* osModa's shell_exec limit: 30 calls ... */
#define AGENTD_SHELL_RATE_WINDOW_MS 60000 /* ... per 60 s */
#define AGENTD_CAPABILITY_TTL_S 3600      /* osModa's default token lifetime */
#define AGENTD_CAPABILITY_PERMS_MAX 128
#define AGENTD_CAPABILITY_FIELD_MAX 256 /* granted_to and each permission */
#define AGENTD_JOB_INLINE_WAIT_MS 25000 /* a job tool's result is awaited this long inline */
#define AGENTD_CAPABILITY_KEY_NAME "capability.key"
#define AGENTD_POLICY_NAME "policy.json"
#define AGENTD_AGENT_SOCKET "agentd-agent.sock"
#define AGENTD_AGENT_GROUP "osmoda-agent"

/* The tool layer's state (struct agentd.tools). */
struct agentd_tools {
    pthread_rwlock_t policy_lock; /* readers decide, SIGHUP swaps */
    struct osm_policy *policy;
    char *policy_path;
    char **protected_paths; /* NULL-terminated, for reloads */
    uint8_t cap_pk[OSM_ED25519_PUBLIC_LEN];
    uint8_t *cap_sk; /* OSM_ED25519_SECRET_LEN bytes, locked memory */
    int64_t approval_ttl_s;
    pthread_mutex_t rate_lock;
    int64_t rate_times[AGENTD_SHELL_RATE_CALLS]; /* ring of monotonic ms */
    size_t rate_next;
    pthread_t sweeper;
    bool sweeper_started;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    bool stopping;
};

/* ---- agentd-exec.c ---------------------------------------------------------------------- */

/* Loads the policy (refusing a file others may write: start fails closed), the capability key,
 * creates the approval tables and starts the expiry loop. Logs and returns -errno on failure. */
int agentd_tools_init(struct agentd *ad);
/* Stops the expiry loop and frees the state. NULL-safe on a daemon without a tool layer. */
void agentd_tools_shutdown(struct agentd *ad);
/* SIGHUP: loads the policy again and swaps it in; a bad file keeps the old one (logged). */
int agentd_tools_reload(struct agentd *ad);
/* Runs a call now (no policy: the caller decided): REST-mapped tools through agentd's own
 * routes (as operator when call->approved), direct tools through agentd_exec_tools[]. Same
 * contract as agentd_tool_fn; jobs use it to run an approved call. */
json_t *agentd_exec_run(struct agentd_call *call, const char **ret_error);
/* "agent:<uid>" / "uid:<uid>" style names for peers. */
void agentd_peer_actor(const char *prefix, const struct ucred *peer, char *buf, size_t len);

/* ---- agentd-approvals.c ----------------------------------------------------------------- */

/* Creates the approval tables in ledger.db (on the writer thread). */
int agentd_approvals_setup(struct agentd *ad);
/* Records approval.requested with its pending row for a tool call that waits for a person.
 * preview (lent, may be NULL) is what the approver is shown (the row keeps it; the event gets
 * its SHA-256). */
int agentd_approval_open(struct agentd *ad, const char *approval_id, const char *tool,
                         const json_t *redacted_args, const char *args_hash, const char *job_id,
                         int64_t call_id, const char *actor, const char *reason,
                         const json_t *preview);
/* The preview stored with approval id (new reference), or NULL. */
json_t *agentd_approval_preview(struct agentd *ad, const char *id);
/* An unexpired allow-always grant for tool + args_hash: 0 and its approval id, -ENOENT. */
int agentd_grant_find(struct agentd *ad, const char *tool, const char *args_hash,
                      char ret_approval_id[AGENTD_APPROVAL_ID_LEN + 1]);
/* Expires every pending approval past its expires_at (records approval.expired, refuses its
 * job). Returns the number expired or -errno. */
int agentd_approvals_expire(struct agentd *ad);
/* The expiry loop (a thread started by agentd_tools_init). */
void *agentd_approvals_sweeper(void *arg);
/* Fresh uuid v4 text. */
void agentd_uuid(char ret[static AGENTD_APPROVAL_ID_LEN + 1]);

/* ---- agentd-files.c --------------------------------------------------------------------- */

/* What a held file tool call would touch, for its approver (new reference): for file_write the
 * diff or head, owner, group and mode (lib/policy/preview.h), for file_read and directory_list
 * the resolved target; {"error"} when it cannot be resolved; NULL for other tools. */
json_t *agentd_files_preview(struct agentd *ad, const char *tool, const json_t *args);

/* ---- agentd-capability.c ---------------------------------------------------------------- */

/* Loads <state>/capability.key (an Ed25519 seed, hex, 0600), creating it on first start.
 * Refuses a key file others can read (-EPERM). */
int agentd_capability_load(struct agentd *ad);
void agentd_capability_free(struct agentd *ad);
/* Checks a presented token: signature, expiry, holder, and that tool (class cls) is within its
 * permissions. 0 when the call may go on; else -EINVAL (malformed), -EKEYREJECTED (signature),
 * -ETIME (expired), -EACCES (tool not permitted or wrong holder), with *ret_reason set. */
int agentd_capability_check(struct agentd *ad, const json_t *token, const struct osm_tool *tool,
                            const struct ucred *peer, const char **ret_reason);
