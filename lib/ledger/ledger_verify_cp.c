/* Verification of checkpoints: gathering them from the table and the log file, reconciling
 * the two, and checking each one's signature and root as the walk reaches its tree size. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "crypto/encoding.h"
#include "ledger_verify.h"

static struct verify_cp *cp_new(struct verify_ctx *v, enum verify_cp_source source)
{
    struct verify_cp *cp;

    if (v->n_cps == v->cap_cps) {
        size_t cap = v->cap_cps ? 2 * v->cap_cps : 16;
        struct verify_cp *n = realloc(v->cps, cap * sizeof(*n));
        if (!n)
            return NULL;
        v->cps = n;
        v->cap_cps = cap;
    }
    cp = &v->cps[v->n_cps];
    *cp = (struct verify_cp){.source = source, .order = v->n_cps++};
    return cp;
}

static int gather_table(struct verify_ctx *v)
{
    _cleanup_(ledger_finalizep) sqlite3_stmt *st = NULL;
    int rc, r;

    if (!v->l->has_tree_tables)
        return 0;
    r = ledger_prepare(v->l, "SELECT tree_size, note FROM checkpoints ORDER BY tree_size", &st);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct verify_cp *cp = cp_new(v, CP_FROM_TABLE);
        size_t len;
        const char *note = ledger_col(st, 1, &len);
        if (!cp || !(cp->owned = strndup(note, len)))
            return -ENOMEM;
        cp->size = sqlite3_column_int64(st, 0);
        cp->note = cp->owned;
        cp->note_len = len;
        cp->parsed = osm_checkpoint_parse(note, len, &cp->cp) == 0 && cp->cp.size == cp->size;
    }
    return ledger_errno(rc);
}

static int gather_log_note(void *ud, const char *note, size_t len, size_t offset)
{
    struct verify_ctx *v = ud;
    struct verify_cp *cp = cp_new(v, CP_FROM_LOG);
    char where[32];

    if (!cp)
        return -ENOMEM;
    if (osm_checkpoint_parse(note, len, &cp->cp) == 0) {
        cp->note = note;
        cp->note_len = len;
        cp->parsed = true;
        cp->size = cp->cp.size;
        return 0;
    }
    v->n_cps--; /* an unreadable piece of the log is reported, not checked */
    snprintf(where, sizeof(where), "at byte %zu", offset);
    verify_problem(v, OSM_LEDGER_CHECKPOINT_LOG_MISMATCH, 0, "malformed note in log", where);
    return 0;
}

static int gather_log(struct verify_ctx *v)
{
    const char *path = v->opts ? v->opts->checkpoint_log : NULL;
    size_t len;
    int r;

    if (!path)
        return 0;
    r = osm_read_file(path, OSM_CHECKPOINT_LOG_MAX, &v->log, &len);
    if (r == -ENOENT)
        return 0;
    return r < 0 ? r : osm_checkpoint_log_split(v->log, len, gather_log_note, v);
}

/* By size; the log's notes first (they are the external record), then gathering order. */
static int cp_compare(const void *a, const void *b)
{
    const struct verify_cp *x = a, *y = b;

    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    if (x->source != y->source)
        return x->source == CP_FROM_LOG ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Marks the first entry of each size as representative and records how the sources agree. */
static void cp_merge(struct verify_ctx *v)
{
    for (size_t i = 0, j; i < v->n_cps; i = j) {
        struct verify_cp *rep = &v->cps[i];
        bool in_table = false;
        for (j = i; j < v->n_cps && v->cps[j].size == rep->size; j++) {
            struct verify_cp *cp = &v->cps[j];
            in_table |= cp->source == CP_FROM_TABLE;
            if (cp->note_len != rep->note_len || memcmp(cp->note, rep->note, cp->note_len) != 0)
                rep->log_differs = true;
        }
        rep->representative = true;
        rep->log_only = rep->source == CP_FROM_LOG && !in_table;
        if (rep->size > v->rep->latest_tree_size)
            v->rep->latest_tree_size = rep->size;
    }
}

int verify_cp_gather(struct verify_ctx *v)
{
    int r = gather_table(v);

    if (r >= 0)
        r = gather_log(v);
    if (r < 0)
        return r;
    if (v->n_cps > 0)
        qsort(v->cps, v->n_cps, sizeof(*v->cps), cp_compare);
    cp_merge(v);
    return 0;
}

static const char *sig_reason(int r)
{
    switch (r) {
    case -ENOKEY:
        return "no signature by this key";
    case -EKEYREJECTED:
        return "invalid signature";
    case -EBADMSG:
        return "malformed note";
    default:
        return "cannot check signature";
    }
}

/* Source agreement and signature: everything that does not need the tree. */
static void cp_check_note(struct verify_ctx *v, const struct verify_cp *cp)
{
    int r;

    if (cp->log_only)
        verify_problem(v, OSM_LEDGER_CHECKPOINT_LOG_MISMATCH, cp->size, "in log",
                       "missing from database");
    if (cp->log_differs)
        verify_problem(v, OSM_LEDGER_CHECKPOINT_LOG_MISMATCH, cp->size, "log note",
                       "differs from database note");
    if (!cp->parsed) {
        verify_problem(v, OSM_LEDGER_CHECKPOINT_BAD_SIG, cp->size, "", "malformed note");
        return;
    }
    if (!v->have_key)
        return;
    r = osm_note_verify(cp->note, cp->note_len, &v->key);
    if (r < 0)
        verify_problem(v, OSM_LEDGER_CHECKPOINT_BAD_SIG, cp->size, v->key.name, sig_reason(r));
}

static void cp_check_root(struct verify_ctx *v, const struct verify_cp *cp)
{
    uint8_t root[OSM_MERKLE_HASH_LEN];
    char a[OSM_BASE64_LEN(OSM_MERKLE_HASH_LEN) + 1], b[sizeof(a)];

    osm_merkle_frontier_root(&v->l->sha, &v->tree, root);
    osm_base64_encode(root, sizeof(root), b, sizeof(b));
    if (!cp) {
        verify_problem(v, OSM_LEDGER_CHECKPOINT_MISMATCH, (int64_t)v->tree.size, "(missing)", b);
        return;
    }
    if (!cp->parsed)
        return;
    v->rep->checkpoints++;
    if (memcmp(root, cp->cp.root, sizeof(root)) == 0)
        return;
    osm_base64_encode(cp->cp.root, sizeof(root), a, sizeof(a));
    verify_problem(v, OSM_LEDGER_CHECKPOINT_MISMATCH, cp->size, a, b);
}

void verify_cp_at_size(struct verify_ctx *v)
{
    int64_t size = (int64_t)v->tree.size;
    bool found = false;

    for (; v->next_cp < v->n_cps && v->cps[v->next_cp].size <= size; v->next_cp++) {
        const struct verify_cp *cp = &v->cps[v->next_cp];
        if (!cp->representative || cp->size < v->prune.through)
            continue;
        cp_check_note(v, cp);
        cp_check_root(v, cp);
        found = true;
    }
    if (!found && size > 0 && size == v->prune.through)
        cp_check_root(v, NULL);
}

void verify_cp_finish(struct verify_ctx *v)
{
    char a[24], b[24];

    for (size_t i = v->next_cp; i < v->n_cps; i++)
        if (v->cps[i].representative)
            cp_check_note(v, &v->cps[i]);
    if (v->rep->latest_tree_size <= (int64_t)v->tree.size)
        return;
    snprintf(a, sizeof(a), "%" PRId64, v->rep->latest_tree_size);
    snprintf(b, sizeof(b), "%" PRIu64, v->tree.size);
    verify_problem(v, OSM_LEDGER_TRUNCATED, v->rep->latest_tree_size, a, b);
}

void verify_cp_free(struct verify_ctx *v)
{
    for (size_t i = 0; i < v->n_cps; i++)
        free(v->cps[i].owned);
    free(v->cps);
    free(v->log);
}
