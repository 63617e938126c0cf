/* agentctl checkpoint [show|verify]: the newest signed checkpoint of the ledger, its signature
 * checked against ledger.pub and (verify) its root against the events in the database. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ctl.h"

json_t *ctl_checkpoint_json(const struct ctl_checkpoint *cp)
{
    char root[OSM_BASE64_LEN(32) + 1];

    osm_base64_encode(cp->body.root, sizeof(cp->body.root), root, sizeof(root));
    return json_pack("{ss sI ss ss ss? sb ss? ss}", "origin", cp->body.origin, "tree_size",
                     (json_int_t)cp->body.size, "root", root, "source", cp->source, "key",
                     cp->key.name[0] ? cp->key.name : NULL, "signature_valid", !cp->sig_error,
                     "signature_error", cp->sig_error, "note", cp->note);
}

/* The root the events in the database give for the checkpoint's tree size: the proof of its
 * last leaf comes with it. */
static int database_root(struct osm_ledger *l, int64_t size, uint8_t ret[static 32])
{
    _cleanup_free_ uint8_t *path = NULL;
    size_t n = 0;

    return osm_ledger_prove_inclusion(l, size, size, &path, &n, ret);
}

static void print_text(const struct ctl_checkpoint *cp)
{
    char root[OSM_BASE64_LEN(32) + 1];

    osm_base64_encode(cp->body.root, sizeof(cp->body.root), root, sizeof(root));
    printf("Checkpoint from the %s:\n  origin:    %s\n  tree size: %" PRId64 "\n  root:      %s\n",
           cp->source, cp->body.origin, cp->body.size, root);
    if (cp->sig_error)
        printf("  signature: INVALID (%s)\n", cp->sig_error);
    else
        printf("  signature: valid (key %s)\n", cp->key.name);
    printf("\n%s", cp->note);
}

static int show(const struct ctl *c, const struct ctl_checkpoint *cp)
{
    json_auto_t *o = NULL;

    if (!c->json) {
        print_text(cp);
        return CTL_OK;
    }
    o = ctl_checkpoint_json(cp);
    return o ? ctl_print_json(o) : ctl_fail("out of memory");
}

/* What is wrong with cp against the database, or NULL. */
static const char *root_problem(struct osm_ledger *l, const struct ctl_checkpoint *cp)
{
    uint8_t root[32];
    int r = database_root(l, cp->body.size, root);

    if (r < 0)
        return "the ledger does not hold that many events (truncated?)";
    return memcmp(root, cp->body.root, sizeof(root))
               ? "the ledger's root differs from the signed root"
               : NULL;
}

static int verify(const struct ctl *c, struct osm_ledger *l, const struct ctl_checkpoint *cp)
{
    const char *problem = cp->sig_error ? cp->sig_error : root_problem(l, cp);
    json_auto_t *o = NULL;
    int r;

    if (c->json) {
        o = ctl_checkpoint_json(cp);
        if (!o || json_object_set_new(o, "ok", json_boolean(!problem)) < 0 ||
            json_object_set_new(o, "error", problem ? json_string(problem) : json_null()) < 0)
            return ctl_fail("out of memory");
        r = ctl_print_json(o);
        return r ? r : problem ? CTL_FAILED : CTL_OK;
    }
    if (problem)
        return ctl_fail("checkpoint of tree size %" PRId64 " does NOT verify: %s", cp->body.size,
                        problem);
    printf("Checkpoint verified: tree size %" PRId64 ", signed by %s, root matches the ledger.\n",
           cp->body.size, cp->key.name);
    return CTL_OK;
}

static int checkpoint_exec(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_(ctl_ledger_closep) struct osm_ledger *l = NULL;
    const char *action = a->npos ? a->pos[0] : "show";
    struct ctl_checkpoint cp = {0};
    int r;

    if (strcmp(action, "show") != 0 && strcmp(action, "verify") != 0)
        return ctl_usage(&ctl_verb_checkpoint, "unknown action '%s' (show or verify)", action);
    if ((r = ctl_ledger_open(c, &l)) || (r = ctl_checkpoint_find(c, l, 0, &cp)))
        return r;
    r = strcmp(action, "show") == 0 ? show(c, &cp) : verify(c, l, &cp);
    ctl_checkpoint_clear(&cp);
    return r;
}

const struct ctl_verb ctl_verb_checkpoint = {
    .name = "checkpoint",
    .args = "[show|verify]",
    .summary = "Show the newest signed checkpoint, or verify its signature and root",
    .max_pos = 1,
    .exec = checkpoint_exec,
};
