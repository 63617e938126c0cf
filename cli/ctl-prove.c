/* agentctl prove EVENT_ID: the RFC 6962 inclusion proof of one event in a signed checkpoint,
 * checked here against the checkpoint's signed root, so the operator need not trust the database.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "ctl.h"
#include "ledger/merkle.h"

enum { OPT_TREE_SIZE };

struct proof {
    int64_t id;
    uint8_t leaf[OSM_MERKLE_HASH_LEN]; /* leaf hash of the event's hash */
    uint8_t *path;
    size_t n;
    uint8_t root[OSM_MERKLE_HASH_LEN]; /* root the database computed */
    bool verified;                     /* path leads from leaf to the signed root */
};

/* The RFC 6962 leaf hash of event id: SHA-256(0x00 || its 32-byte hash). */
static int event_leaf(struct osm_ledger *l, int64_t id, uint8_t ret[static OSM_MERKLE_HASH_LEN])
{
    _cleanup_(ctl_finalizep) sqlite3_stmt *s = NULL;
    _cleanup_(osm_sha256_done) struct osm_sha256 h = {0};
    uint8_t raw[OSM_SHA256_LEN];
    int r, rc;

    if ((r = ctl_ledger_prepare(l, "SELECT hash FROM events WHERE id = ?", &s)))
        return r;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return ctl_fail("no event #%" PRId64 " in the ledger", id);
    if (rc != SQLITE_ROW)
        return ctl_ledger_error(l);
    if (osm_hex_decode(ctl_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0), raw,
                       sizeof(raw)) < 0)
        return ctl_fail("event #%" PRId64 " has a malformed hash", id);
    if (osm_sha256_init(&h) < 0)
        return ctl_fail("out of memory");
    osm_merkle_leaf(&h, raw, sizeof(raw), ret);
    return CTL_OK;
}

static int build(struct osm_ledger *l, const struct ctl_checkpoint *cp, struct proof *p)
{
    int r;

    if (p->id > cp->body.size)
        return ctl_fail("event #%" PRId64 " is not in the checkpoint of tree size %" PRId64, p->id,
                        cp->body.size);
    if ((r = event_leaf(l, p->id, p->leaf)))
        return r;
    r = osm_ledger_prove_inclusion(l, p->id, cp->body.size, &p->path, &p->n, p->root);
    if (r == -ERANGE)
        return ctl_fail("the ledger holds fewer than %" PRId64 " events: truncated?",
                        cp->body.size);
    if (r < 0)
        return ctl_fail("cannot build the proof of event #%" PRId64 ": %s", p->id,
                        ctl_ledger_strerror(l, r));
    p->verified = osm_merkle_verify_inclusion((uint64_t)p->id - 1, (uint64_t)cp->body.size, p->leaf,
                                              p->path, p->n, cp->body.root);
    return CTL_OK;
}

static void print_text(const struct ctl_checkpoint *cp, const struct proof *p)
{
    char hex[2 * OSM_MERKLE_HASH_LEN + 1], b64[OSM_BASE64_LEN(OSM_MERKLE_HASH_LEN) + 1];

    osm_base64_encode(cp->body.root, sizeof(cp->body.root), b64, sizeof(b64));
    osm_hex_encode(cp->body.root, sizeof(cp->body.root), hex);
    printf("Inclusion proof of event #%" PRId64 " in checkpoint %s:\n", p->id, cp->body.origin);
    printf("  leaf index: %" PRId64 "\n  tree size:  %" PRId64 "\n", p->id - 1, cp->body.size);
    printf("  root:       %s (signed, hex %s)\n", b64, hex);
    osm_hex_encode(p->leaf, sizeof(p->leaf), hex);
    printf("  leaf hash:  %s\n  audit path (%zu hashes):\n", hex, p->n);
    for (size_t i = 0; i < p->n; i++) {
        osm_hex_encode(p->path + i * OSM_MERKLE_HASH_LEN, OSM_MERKLE_HASH_LEN, hex);
        printf("    %s\n", hex);
    }
    if (p->verified)
        printf("verified\n");
}

static json_t *proof_json(const struct ctl_checkpoint *cp, const struct proof *p)
{
    json_auto_t *path = json_array();
    char hex[2 * OSM_MERKLE_HASH_LEN + 1];

    for (size_t i = 0; path && i < p->n; i++) {
        osm_hex_encode(p->path + i * OSM_MERKLE_HASH_LEN, OSM_MERKLE_HASH_LEN, hex);
        if (json_array_append_new(path, json_string(hex)) < 0)
            return NULL;
    }
    osm_hex_encode(p->leaf, sizeof(p->leaf), hex);
    return json_pack("{sI sI sI ss sO so sb}", "event_id", (json_int_t)p->id, "leaf_index",
                     (json_int_t)(p->id - 1), "tree_size", (json_int_t)cp->body.size, "leaf_hash",
                     hex, "audit_path", path, "checkpoint", ctl_checkpoint_json(cp), "verified",
                     p->verified);
}

static int report(const struct ctl *c, const struct ctl_checkpoint *cp, const struct proof *p)
{
    json_auto_t *o = NULL;
    int r = CTL_OK;

    if (c->json) {
        o = proof_json(cp, p);
        r = o ? ctl_print_json(o) : ctl_fail("out of memory");
    } else {
        print_text(cp, p);
    }
    if (r == CTL_OK && !p->verified)
        r = ctl_fail("NOT verified: the audit path of event #%" PRId64
                     " does not lead to the signed root",
                     p->id);
    return r;
}

static int prove_exec(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_(ctl_ledger_closep) struct osm_ledger *l = NULL;
    struct ctl_checkpoint cp = {0};
    struct proof p = {0};
    int64_t size = 0;
    int r;

    if ((r = ctl_parse_int(&ctl_verb_prove, "EVENT_ID", a->pos[0], 1, INT64_MAX, &p.id)) ||
        (a->opt[OPT_TREE_SIZE] && (r = ctl_parse_int(&ctl_verb_prove, "--tree-size",
                                                     a->opt[OPT_TREE_SIZE], 1, INT64_MAX, &size))))
        return r;
    if ((r = ctl_ledger_open(c, &l)) || (r = ctl_checkpoint_find(c, l, size, &cp)))
        return r;
    if (cp.sig_error)
        r = ctl_fail("checkpoint of tree size %" PRId64 " is not validly signed: %s", cp.body.size,
                     cp.sig_error);
    else if ((r = build(l, &cp, &p)) == CTL_OK)
        r = report(c, &cp, &p);
    free(p.path);
    ctl_checkpoint_clear(&cp);
    return r;
}

static const struct ctl_opt prove_opts[] = {
    [OPT_TREE_SIZE] = {"tree-size", "N",
                       "prove against the signed checkpoint of this size (default: the newest)"},
    {NULL, NULL, NULL},
};

const struct ctl_verb ctl_verb_prove = {
    .name = "prove",
    .args = "EVENT_ID",
    .summary = "Prove that an event is in a signed checkpoint (RFC 6962 inclusion proof)",
    .opts = prove_opts,
    .min_pos = 1,
    .max_pos = 1,
    .exec = prove_exec,
};
