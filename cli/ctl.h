/* agentctl internals: the verb table entry every cli/ctl-*.c file defines, the context a verb
 * runs with, and the helpers the verbs share (errors, ledger access, serde-style JSON output). */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"

/* Exit codes (STYLE.md, CLI). */
enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

#define CTL_OPTS_MAX 8 /* options per verb (and global options) */
#define CTL_POS_MAX 2  /* positional arguments per verb */

/* Where the verb finds the ledger and agentd, and how it prints. */
struct ctl {
    const char *state_dir;
    const char *socket;
    bool json;
};

/* One --name option of a verb; arg is the value's placeholder, NULL for a flag. */
struct ctl_opt {
    const char *name;
    const char *arg;
    const char *help;
};

/* What the generic parser found: opt[i] is the value of the verb's opts[i] (NULL when absent,
 * "" for a flag that was given), pos the positional arguments. */
struct ctl_args {
    const char *opt[CTL_OPTS_MAX];
    const char *pos[CTL_POS_MAX];
    int npos;
};

/* One verb: the table entry --help, usage checks and dispatch are generated from. exec returns
 * an exit code (CTL_OK, CTL_FAILED, CTL_USAGE). */
struct ctl_verb {
    const char *name;
    const char *args; /* positional arguments for the usage line, "" when none */
    const char *summary;
    const struct ctl_opt *opts; /* terminated by a NULL name; may be NULL */
    int min_pos, max_pos;
    int (*exec)(const struct ctl *c, const struct ctl_args *a);
};

extern const struct ctl_verb ctl_verb_events;
extern const struct ctl_verb ctl_verb_verify_ledger;
extern const struct ctl_verb ctl_verb_stats;
extern const struct ctl_verb ctl_verb_health;
extern const struct ctl_verb ctl_verb_checkpoint;
extern const struct ctl_verb ctl_verb_prove;
extern const struct ctl_verb ctl_verb_approvals; /* ctl-approvals.c */
extern const struct ctl_verb ctl_verb_approve;
extern const struct ctl_verb ctl_verb_deny;
extern const struct ctl_verb ctl_verb_stop; /* ctl-watch.c */
extern const struct ctl_verb ctl_verb_freeze;
extern const struct ctl_verb ctl_verb_thaw;
extern const struct ctl_verb ctl_verb_lockdown;
extern const struct ctl_verb ctl_verb_unlock;
extern const struct ctl_verb ctl_verb_fim;

/* ---- errors (agentctl.c) ----------------------------------------------------------------- */

/* Prints "agentctl: <message>" on stderr and returns CTL_FAILED. */
int ctl_fail(const char *fmt, ...) OSM_PRINTF(1, 2);
/* Prints "agentctl: <message> (see 'agentctl <verb> --help')" and returns CTL_USAGE. */
int ctl_usage(const struct ctl_verb *v, const char *fmt, ...) OSM_PRINTF(2, 3);
/* Parses a decimal integer in [min, max] given to option or argument what of verb v; a usage
 * error (CTL_USAGE, message printed) otherwise. */
int ctl_parse_int(const struct ctl_verb *v, const char *what, const char *s, int64_t min,
                  int64_t max, int64_t *ret);

/* ---- the ledger (ctl-ledger.c) ------------------------------------------------------------ */

static inline void ctl_ledger_closep(struct osm_ledger **l)
{
    osm_ledger_close(*l);
}

static inline void ctl_finalizep(sqlite3_stmt **s)
{
    sqlite3_finalize(*s);
}

/* <state_dir>/<name> as a new string (NULL on ENOMEM). */
char *ctl_state_path(const struct ctl *c, const char *name);
/* Opens <state_dir>/ledger.db read-only; never creates it. Prints the error and returns
 * CTL_FAILED when it is missing or unreadable. */
int ctl_ledger_open(const struct ctl *c, struct osm_ledger **ret);
/* Prepares sql on the ledger's connection; prints the SQLite error and returns CTL_FAILED. */
int ctl_ledger_prepare(struct osm_ledger *l, const char *sql, sqlite3_stmt **ret);
/* The text for a -errno from lib/ledger: SQLite's message for -EIO, else strerror. */
const char *ctl_ledger_strerror(struct osm_ledger *l, int r);
/* Prints the SQLite error of a failed step or query and returns CTL_FAILED. */
int ctl_ledger_error(struct osm_ledger *l);
/* Column text of a row, "" for NULL (lent until the next step). */
const char *ctl_column_text(sqlite3_stmt *s, int col);

/* ---- JSON output (ctl-json.c) ------------------------------------------------------------ */

/* v as serde_json::to_string_pretty prints a serde_json::Value: 2-space indent, "key": value,
 * keys sorted bytewise, {} and [], shortest round-trip floats, UTF-8 unescaped. New string. */
char *ctl_json_pretty(const json_t *v);
/* Parses text as serde_json::from_str::<Value> would accept it and pretty prints it; NULL when
 * osModa would have shown the text raw. New string. */
char *ctl_json_text_pretty(const char *text, size_t len);
/* Prints v (lent) pretty on stdout with a final newline; returns CTL_OK, or CTL_FAILED if it
 * could not be serialised. */
int ctl_print_json(const json_t *v);

/* ---- checkpoints (ctl-checkpoint.c) ------------------------------------------------------ */

/* A signed checkpoint: its note, the parsed body and whether ledger.pub's key signed it. */
struct ctl_checkpoint {
    char *note;                 /* the whole signed note */
    struct osm_checkpoint body; /* origin, tree size, root */
    const char *source;         /* "database" or "log" (ledger.checkpoints) */
    struct osm_note_key key;    /* ledger.pub, when it could be read (key.name) */
    const char *sig_error;      /* NULL when signed by the key in ledger.pub, else why not */
};

void ctl_checkpoint_clear(struct ctl_checkpoint *cp);
/* Finds the checkpoint of tree size (0 = the newest) in the database, else in
 * <state>/ledger.checkpoints, parses it and checks its signature against <state>/ledger.pub
 * (result in sig_error). Prints the error and returns CTL_FAILED when there is none or it is
 * malformed. */
int ctl_checkpoint_find(const struct ctl *c, struct osm_ledger *l, int64_t size,
                        struct ctl_checkpoint *ret);
/* The checkpoint's fields as JSON (new reference): origin, tree_size, root (base64), source,
 * key, signature_valid, signature_error. */
json_t *ctl_checkpoint_json(const struct ctl_checkpoint *cp);
