/* Helpers shared by agentd's endpoint groups: typed body fields, recording errors, SQLite
 * columns as JSON, event payload text, and running a helper program without a shell. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"
#include "ipc/http_server.h"

enum agentd_field_type {
    AGENTD_FIELD_STRING,
    AGENTD_FIELD_STRING_ARRAY,
    AGENTD_FIELD_OBJECT,
    AGENTD_FIELD_COUNT, /* a non-negative integer */
    AGENTD_FIELD_ANY,
};

/* One body field. serde's Option<T>: an absent key and null are the same (*ret = NULL). */
struct agentd_field {
    const char *key;
    enum agentd_field_type type;
    bool required;
    json_t **ret; /* lent value, or NULL when absent/null */
};

/* Checks the body (NULL counts as {}) against fields. NULL on success, else a 422 envelope
 * {"detail": {"field": key}} for the first bad field. */
json_t *agentd_body_fields(struct osm_request *req, const struct agentd_field *fields, size_t n);
/* A 422 envelope naming field, with message "<field> <why>". */
json_t *agentd_field_error(struct osm_request *req, const char *field, const char *why);
/* The envelope for a failed agentd_record of type (logged once here). */
json_t *agentd_record_error(struct osm_request *req, int r, const char *type);
/* The envelope for a failed read of the ledger (logged once here). */
json_t *agentd_read_error(struct osm_request *req, int r, const char *what);

/* True for an array whose items are all strings. */
bool agentd_string_array_valid(const json_t *v);
/* v with a new reference, or JSON null when v is NULL. */
json_t *agentd_or_null(json_t *v);
/* Column i as a new JSON string, or null when it is NULL. */
json_t *agentd_column_json(sqlite3_stmt *st, int i);
/* Parses a stored payload; a new reference, {} when it is not JSON (as osModa). */
json_t *agentd_payload_parse(const char *text);
/* The first of keys that is a string in obj (lent), or NULL. */
const char *agentd_payload_text(const json_t *obj, const char *const keys[], size_t n);

static inline void agentd_finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(agentd_finalizep)

/* How a helper program's descriptors are set up. */
struct agentd_run_opts {
    int timeout_s;  /* killed (SIGKILL) past this; -ETIMEDOUT */
    int stdout_fd;  /* >= 0: child's stdout goes there and nothing is captured */
    size_t out_max; /* capture cap when stdout_fd < 0; -EFBIG past it */
};

/* Runs argv[0] (PATH lookup) with argv, no shell, stdin and stderr on /dev/null, default signal
 * mask. Captures stdout into *ret_out (new NUL-terminated string) unless opts->stdout_fd >= 0.
 * Returns 0 when it exited with status 0, -ECHILD for another exit, -ETIMEDOUT, -EFBIG, -errno. */
int agentd_run(const char *const argv[], const struct agentd_run_opts *opts, char **ret_out);

/* rm -rf path without following symlinks. 0 or -errno; a missing path is 0. */
int agentd_remove_tree(const char *path);
