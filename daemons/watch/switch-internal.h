/* What the SafeSwitch files share among themselves (not an interface of other parts): the
 * durable write every record and snapshot goes through, the record store, and the session the
 * transaction, the routes and the probation threads work on. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/timeutil.h"
#include "switch-backend.h"
#include "switch.h"

#define SWITCH_ID_LEN 36             /* uuid v4 text */
#define SWITCH_ACTIVE_MAX 64         /* switches in probation at once (then 503) */
#define SWITCH_RESTART_MAX 16        /* services in one files plan's restart list */
#define SWITCH_CONFIRM_DELAY_MS 1000 /* a failed round is confirmed once this long after */
#define SWITCH_HISTORY_MAX 20        /* probe rounds kept in a session (newest) */
#define SWITCH_CHECK_EVENTS_MAX 20   /* switch.check receipts of one switch, at most */
#define SWITCH_RECORDS_MAX 10000     /* records loaded at start (newest kept) */
#define SWITCH_RECORD_MAX_BYTES (16 * 1024 * 1024)
#define SWITCH_TEXT_PLAN_MAX 65536 /* bytes of a text plan */
#define SWITCH_TARGET_MAX (SWITCH_FILES_MAX * 4096 + 2)

/* Writes data to name in the directory dirfd durably: a temporary file beside it, owner and
 * mode set, fsync, rename over name, fsync of the directory. uid/gid (uid_t)-1: unchanged. */
int switch_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                    uid_t uid, gid_t gid);
/* Hex SHA-256 of data into out (65 bytes). */
int switch_sha256_hex(const void *data, size_t len, char out[static 65]);

/* The persisted phase of a switch: what a restart must do with it. */
enum switch_phase {
    SWITCH_BEGIN,        /* recorded; nothing changed yet → rolled back (nothing to undo) */
    SWITCH_APPLYING,     /* snapshot taken, apply under way → rollback */
    SWITCH_PROBATION,    /* applied, checks running → resume, or rollback past the deadline */
    SWITCH_ROLLING_BACK, /* rollback under way (or failed) → rollback again (idempotent) */
    SWITCH_COMMITTED,
    SWITCH_ROLLED_BACK,
};

const char *switch_phase_name(enum switch_phase p);
int switch_phase_parse(const char *s, enum switch_phase *ret);

struct check;

struct switch_session {
    char id[SWITCH_ID_LEN + 1];
    json_t *plan;          /* as given: a string or an object */
    json_t *health_checks; /* as given */
    struct check **checks;
    size_t n_checks;
    int64_t ttl_secs;
    int64_t started_ms; /* realtime */
    int64_t deadline_ms;
    char started_at[OSM_TS_LEN + 1];
    char *previous_generation;
    const struct switch_backend *backend; /* NULL: a text plan */
    char *target;                         /* NUL-separated, ends with an empty string */
    json_t *record;                       /* the backend's record (rollback needs it) */
    json_t *summary;                      /* the diff summary, after apply */
    enum switch_phase phase;
    char *reason; /* why it was rolled back */
    char *error;  /* the last rollback error, while it is not finished */
    char ended_at[OSM_TS_LEN + 1];
    json_t *history; /* newest SWITCH_HISTORY_MAX probe rounds {at, ok, detail} */
    int64_t rounds, failures, check_events;
    bool busy; /* a thread is applying, probing or rolling back */
    bool thread_started;
    pthread_t thread; /* the probation thread */
    struct switches *probation_owner;
    pthread_cond_t wake;
    struct switch_session *next;
};

/* Serializes s in full (new reference): the persisted record and the API's view. */
json_t *switch_session_json(const struct switch_session *s, bool with_record);
/* Rebuilds a session from its record; -EINVAL for a record that does not parse. */
int switch_session_from_json(const json_t *j, struct switch_session **ret);
void switch_session_free(struct switch_session *s);

/* <dir>/<id>.json, durable. */
int switch_store_save(const char *dir, const struct switch_session *s);
int switch_store_remove(const char *dir, const char *id);
/* Calls fn for every record in dir (oldest first, at most SWITCH_RECORDS_MAX); records that
 * do not parse are skipped with a warning. */
int switch_store_load(const char *dir, int (*fn)(void *ctx, struct switch_session *s), void *ctx);

/* A new session with its condition variable on the monotonic clock (NULL on ENOMEM). */
struct switch_session *switch_session_new(void);

#define SWITCH_CHECKS_MAX 32 /* health checks of one switch */

struct switches {
    struct watch *w;
    char *dir;       /* <data_dir>/switches */
    char *store_dir; /* <data_dir>/switches/store */
    const char *protected_dirs[4];
    struct switch_env env;
    pthread_mutex_t lock;        /* the list and every session's fields */
    struct switch_session *head; /* newest first */
    bool stopping;
};

enum switch_claim { CLAIM_COMMIT, CLAIM_ROLLBACK, CLAIM_ROLLBACK_ANY };

/* Under ss->lock: takes s for a commit or a rollback (sets busy; a rollback also sets the phase
 * and reason and persists). CLAIM_ROLLBACK takes a switch in probation or one whose rollback
 * failed; CLAIM_ROLLBACK_ANY a committed one too. -EBUSY / -EALREADY when it cannot. */
int switch_claim(struct switches *ss, struct switch_session *s, enum switch_claim c,
                 const char *reason);
/* Runs the claimed rollback (without the lock): backend rollback, record, receipt. */
int switch_do_rollback(struct switches *ss, struct switch_session *s);
/* Runs the claimed commit (without the lock): receipt, then record. -errno when the receipt
 * could not be written (the switch stays in probation). */
int switch_do_commit(struct switches *ss, struct switch_session *s, bool manual);
/* Parses s->health_checks into s->checks. */
int switch_parse_checks(struct switch_session *s, char *err, size_t errlen);
/* Saves s under the lock's protection; logs a failure. */
int switch_persist(struct switches *ss, struct switch_session *s);
/* The probation thread of s (phase probation). */
int switch_probation_start(struct switches *ss, struct switch_session *s);
/* Receipts: type with payload (stolen), logged when they cannot be written. */
int switch_receipt(struct switches *ss, const char *type, json_t *payload);
