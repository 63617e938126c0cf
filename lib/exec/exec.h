/* The tool-call executor every daemon links (DESIGN §6): POST /tools/call on the daemon's agent
 * socket goes validate → capability token → rate limit → policy → record tool.call → run now,
 * hold for a person's approval (a job), or refuse → record tool.result → answer
 * {"status": ok|error|pending|denied, "result", "call_id", "approval_id"?, "job_id"?}.
 *
 * A daemon supplies its tools (registry entry + handler), a sink (where ledger events and job rows
 * go), an approver (agentd, the one approval authority) and its paths, and gets the route. Who
 * asks is the socket peer (SO_PEERCRED), never a field. Fails closed: a call that cannot be
 * recorded, approved or confined does not run.
 *
 * docs/new-daemon.md shows the few calls a new daemon makes. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipc/http_server.h"
#include "jobs/jobs.h"
#include "policy/policy.h"
#include "policy/resolve.h"
#include "tools/registry.h"

#define OSM_EXEC_ID_LEN OSM_JOB_ID_LEN  /* approval and job ids: uuid v4 text */
#define OSM_EXEC_HASH_LEN 64            /* hex SHA-256 of the canonical arguments */
#define OSM_EXEC_INLINE_WAIT_MS 25000   /* a job tool's result is awaited this long inline */
#define OSM_EXEC_SHELL_RATE_CALLS 30    /* osModa's shell_exec limit: 30 calls ... */
#define OSM_EXEC_SHELL_RATE_WINDOW_S 60 /* ... per 60 s, here per caller */
#define OSM_EXEC_HELD_RATE_CALLS 60     /* irreversible / privileged calls per caller ... */
#define OSM_EXEC_HELD_RATE_WINDOW_S 60  /* ... per 60 s: the operator's inbox is not flooded */
#define OSM_EXEC_RATES_MAX 32           /* rules in a rate table */
#define OSM_EXEC_RATE_CALLERS_MAX 256   /* callers tracked per rule (least recent evicted) */
#define OSM_EXEC_REASON_MAX 1024        /* reason text of an approval */
#define OSM_EXEC_AGENT_GROUP "osmoda-agent"

struct osm_exec;

/* One call as a handler sees it. */
struct osm_exec_call {
    struct osm_exec *exec;
    const struct osm_tool *tool;
    const json_t *args; /* validated against the tool's schema (lent) */
    int ring;           /* 2 = sandboxed (default), 1 = host access after approval */
    bool approved;      /* runs because an operator approved it (or a grant did) */
    const char *approval_id;
    const char *job_id; /* the job it runs as (a released held call), else NULL */
    struct ucred peer;  /* the agent process that asked */
    void *userdata;     /* the daemon's (osm_exec_config.userdata) */
};

/* A handler: the result (new reference). On failure it returns NULL or a JSON detail and sets
 * *ret_error to a short static code ("not_found", "sandbox_unavailable", ...). */
typedef json_t *(*osm_exec_fn)(struct osm_exec_call *call, const char **ret_error);
/* What the operator sees of a held call beside its arguments (new reference, or NULL). */
typedef json_t *(*osm_exec_preview_fn)(const struct osm_exec_call *call);
/* The daemon's own default for a call, which knows what the arguments mean (keyd: a send above
 * the threshold waits for a person, one below runs). Consulted only when the policy reached its
 * built-in class default ("default:read", "default:irreversible", ...): protected paths, secrets
 * and the operator's rules in policy.json decide first. Fills *v (decision, rule such as
 * "keyd:threshold", detail) and returns true, or returns false to keep the class default.
 * call->approved is false here. */
typedef bool (*osm_exec_decide_fn)(const struct osm_exec_call *call, struct osm_policy_verdict *v);

/* A tool as one daemon executes it. run NULL: the tool's REST mapping (tool->method, path) is
 * dispatched through the daemon's own routes, so an endpoint is a tool without extra code. */
struct osm_exec_tool {
    const struct osm_tool *tool;
    osm_exec_fn run;
    osm_exec_preview_fn preview;
    osm_exec_decide_fn decide; /* NULL: the class default */
    bool process;              /* run starts a sandboxed process (osm_exec_run_process) */
};

/* Where tool.call / tool.result / job events and job rows go. agentd records into its own
 * ledger (rows in the event's transaction); another daemon records through agentd's daemons
 * socket and keeps rows in a local database (lib/exec/sink.h). */
struct osm_exec_sink {
    /* Records the event durably; apply (may be NULL) changes rows with it. ret_id may be NULL. */
    int (*record)(void *ctx, const char *type, const char *actor, const json_t *payload,
                  int (*apply)(sqlite3 *db, void *actx), void *actx, int64_t *ret_id);
    int (*read)(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx);
    int (*setup)(void *ctx, int (*fn)(sqlite3 *db, void *fctx), void *fctx);
    void *ctx;
};

/* A call that waits for a person. */
struct osm_approval_request {
    const char *id; /* chosen by the holding daemon (a fresh uuid), so its job names it first */
    const char *tool;
    const json_t *arguments; /* redacted */
    const char *args_hash;
    const char *path; /* canonical target path for path and prefix grants, or NULL */
    const char *job_id;
    int64_t call_id;
    const char *actor;
    const char *reason;
    const json_t *preview; /* or NULL */
};

/* agentd's approvals, as the holding daemon reaches them. */
struct osm_exec_approver {
    /* Opens a pending approval with req->id. */
    int (*open)(void *ctx, const struct osm_approval_request *req);
    /* An unexpired allow-always grant covering the call: 0 with its approval id, -ENOENT. */
    int (*grant)(void *ctx, const char *tool, const char *args_hash, const char *path,
                 char ret_id[static OSM_EXEC_ID_LEN + 1]);
    /* Cancels a pending approval: 0, -EALREADY when it was decided first. */
    int (*cancel)(void *ctx, const char *id);
    /* The signed decision of an approval (new reference): 0, -EAGAIN while pending, -ENOENT
     * when agentd has no such approval of this daemon. */
    int (*decision)(void *ctx, const char *id, json_t **ret);
    void *ctx;
};

/* A rate rule: at most calls per window_s per caller uid, for tool (a name), "@shell" (the
 * shell tools), "@irreversible", "@privileged" (classes) or "*". */
struct osm_exec_rate {
    const char *tool;
    int calls;
    int window_s;
};

struct osm_exec_config {
    const char *daemon; /* "agentd", "watch", ...: the actor of its records, the approvals' owner */
    const struct osm_exec_tool *tools;
    size_t n_tools;
    const struct osm_route *routes; /* for REST-mapped tools */
    size_t n_routes;
    void *userdata; /* handlers' and routes' */
    struct osm_exec_sink sink;
    struct osm_exec_approver approver;
    const char *policy_path;
    /* While this file exists (osmoda-watch's LOCKDOWN) every agent's tool call is refused, 423
     * "lockdown", before anything else. NULL: "lockdown" beside policy_path (the state dir). */
    const char *lockdown_path;
    const char *const *protected_paths; /* NULL-terminated: no tool ever reaches these */
    uint8_t signer_pk[32];              /* agentd's Ed25519 key: capability tokens and decisions */
    const struct osm_exec_rate *rates;  /* NULL: the defaults above */
    size_t n_rates;
    int64_t approval_ttl_s;      /* how long a held call waits (0: the approver's default) */
    struct osm_jobs_config jobs; /* store and run_call are filled by the executor */
};

/* The protected paths of the suite (the ledger and its keys, agentd's capability key, keyd's
 * state, the jobs, the lockdown file, the run directories) and extra (NULL-terminated, may be
 * NULL): a NULL-terminated new list for osm_exec_config.protected_paths, or NULL (ENOMEM). */
char **osm_exec_protected_new(const char *state_dir, const char *run_dir, const char *const *extra);
void osm_exec_protected_free(char **list);

/* Loads the policy (refusing a file others may write) and opens the jobs layer (re-attaching to
 * runners of a previous run). Logs nothing; returns -errno with err saying what failed. Call
 * osm_exec_reconcile once the approver can answer. */
int osm_exec_new(const struct osm_exec_config *cfg, struct osm_exec **ret, char *err,
                 size_t errlen);
/* NULL-safe; running jobs go on under their runners. */
void osm_exec_free(struct osm_exec *e);
/* SIGHUP: loads the policy again; a bad file keeps the old one. */
int osm_exec_reload(struct osm_exec *e, char *err, size_t errlen);
struct osm_jobs *osm_exec_jobs(struct osm_exec *e);
/* The policy's decision on one resolved target of a call (the run-time check a handler makes on
 * what it is about to open; q->workspace is the caller's). */
void osm_exec_decide_resolved(struct osm_exec *e, const struct osm_policy_query *q, const char *key,
                              const struct osm_resolved *r, struct osm_policy_verdict *ret);
/* Number of rules in the loaded policy file (0: the built-in defaults) and of secrets entries
 * (built-in and the file's). */
size_t osm_exec_policy_rules(struct osm_exec *e);
size_t osm_exec_policy_secrets(struct osm_exec *e);

/* POST /tools/call (route flag OSM_ROUTE_BODY): a daemon's handler for its agent socket calls
 * this with its executor; the answer is a new reference. */
json_t *osm_exec_handle(struct osm_exec *e, struct osm_request *req);
/* Serves the agent socket at path: POST /tools/call only, group osmoda-agent and 0660 when that
 * group exists (else 0600: dev mode runs everything as one user). */
int osm_exec_serve_agent(struct osm_exec *e, const char *path, struct osm_http_server **ret);

/* A decision from the approver (signed JSON {id, daemon, tool, args_hash, decision, mode,
 * expires_at, signature}): checks the signature and that it is this daemon's, then releases or
 * refuses the held job. -EBADMSG for a bad signature, -ENOENT for no such held job, -EALREADY
 * when the job had moved on. */
int osm_exec_decided(struct osm_exec *e, const json_t *decision);
/* Asks the approver about every held job and applies the decisions found (start-up, and after
 * the approver was unreachable). Returns the number settled or -errno. */
int osm_exec_reconcile(struct osm_exec *e);

/* Runs a sandboxed command for call and waits up to wait_ms: a finished command answers with
 * its exit status and output, a longer one with the running job's handle. A released held call
 * runs the process as its own job (call->job_id). For handlers of shell-like tools. */
json_t *osm_exec_run_process(struct osm_exec_call *call, const struct osm_job_process *proc,
                             int64_t wait_ms, const char **ret_error);
/* The job tools every daemon with jobs can list: job_status, job_wait, job_kill (a held call's
 * approval is cancelled on agentd before its job is ended). */
json_t *osm_exec_job_status(struct osm_exec_call *call, const char **ret_error);
json_t *osm_exec_job_wait(struct osm_exec_call *call, const char **ret_error);
json_t *osm_exec_job_kill(struct osm_exec_call *call, const char **ret_error);
