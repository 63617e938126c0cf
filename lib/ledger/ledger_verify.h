/* Internals of osm_ledger_verify shared by its two files: the checkpoints gathered from the
 * table and the log, and the state of the walk. */
#pragma once

#include "ledger_internal.h"

#define VERIFY_PREV_MAX (2 * OSM_LEDGER_HASH_HEX_LEN) /* longer stored hashes are truncated */

enum verify_cp_source { CP_FROM_TABLE, CP_FROM_LOG };

struct verify_cp {
    int64_t size;
    enum verify_cp_source source;
    size_t order;     /* position when gathered, for a stable sort */
    const char *note; /* points into owned or into the log buffer */
    size_t note_len;
    char *owned;
    bool parsed; /* cp is valid */
    struct osm_checkpoint cp;
    /* Set on the one entry per size that is checked (the log's when both have it). */
    bool representative;
    bool log_only;    /* in the log, not in the table */
    bool log_differs; /* the log and the table (or two log notes) disagree */
};

struct verify_ctx {
    struct osm_ledger *l;
    const struct osm_ledger_verify_opts *opts;
    struct osm_ledger_verify_report *rep;
    bool have_key;
    struct osm_note_key key;
    char *log; /* the checkpoint log file's contents */
    struct verify_cp *cps;
    size_t n_cps, cap_cps, next_cp;
    struct ledger_prune_state prune;
    struct osm_merkle_frontier tree;
    char prev[VERIFY_PREV_MAX + 1]; /* the stored hash of the previous event */
    size_t prev_len;
};

/* ledger_verify.c */
void verify_problem(struct verify_ctx *v, enum osm_ledger_problem p, int64_t id, const char *a,
                    const char *b);

/* ledger_verify_cp.c */
/* Gathers, sorts and merges the checkpoints of the table and of opts->checkpoint_log. */
int verify_cp_gather(struct verify_ctx *v);
/* Checks every checkpoint of the current tree size (tree.size); earlier ones are skipped. */
void verify_cp_at_size(struct verify_ctx *v);
/* After the walk: the ones beyond the tree (truncation), and the prune point's checkpoint. */
void verify_cp_finish(struct verify_ctx *v);
void verify_cp_free(struct verify_ctx *v);
