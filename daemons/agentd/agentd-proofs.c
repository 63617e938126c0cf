/* The ledger's verifiability over HTTP: the newest signed checkpoint, RFC 6962 inclusion and
 * consistency proofs, and pruning behind a checkpoint (operator only). */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

#include "agentd-api.h"
#include "agentd.h"

static json_t *hex32(const uint8_t h[32])
{
    char hex[65];

    sodium_bin2hex(hex, sizeof(hex), h, 32);
    return json_string(hex);
}

static json_t *hex_list(const uint8_t *hashes, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, hex32(hashes + 32 * i));
    return arr;
}

json_t *agentd_ledger_checkpoint(struct osm_request *req)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_free_ char *note = NULL;
    int64_t size;
    int r;

    r = agentd_reader_open(AGENTD(req), &rd);
    if (r == 0)
        r = osm_ledger_latest_checkpoint(rd.ledger, &size, &note);
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no checkpoint has been signed yet");
    if (r < 0)
        return osm_error_errno(req, r, "cannot read the checkpoint");
    return json_pack("{s:I, s:s}", "tree_size", (json_int_t)size, "note", note);
}

static json_t *leaf_hash_of(struct osm_request *req, sqlite3 *db, int64_t id, json_t **ret)
{
    sqlite3_stmt *st = NULL;
    json_t *err = NULL;

    if (sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return osm_error(req, 500, "internal_error", NULL, "query failed");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        *ret = json_string((const char *)sqlite3_column_text(st, 0));
    else
        err = osm_error(req, 404, "not_found", NULL, "no event #%lld in the ledger", (long long)id);
    sqlite3_finalize(st);
    return err;
}

json_t *agentd_ledger_inclusion(struct osm_request *req)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_free_ uint8_t *path = NULL;
    uint8_t root[32];
    int64_t id, size;
    size_t n;
    json_t *err, *leaf = NULL;
    int r;

    if ((err = osm_request_query_int(req, "id", 0, 1, INT64_MAX, &id)) ||
        (err = osm_request_query_int(req, "tree_size", 0, 0, INT64_MAX, &size)))
        return err;
    if (!osm_request_query(req, "id"))
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "id"),
                         "query parameter 'id' is required");
    r = agentd_reader_open(AGENTD(req), &rd);
    if (r < 0)
        return osm_error_errno(req, r, "cannot open the ledger");
    if ((err = leaf_hash_of(req, agentd_reader_db(&rd), id, &leaf)))
        return err;
    r = osm_ledger_prove_inclusion(rd.ledger, id, size, &path, &n, root);
    if (r < 0) {
        json_decref(leaf);
        return osm_error_errno(req, r, "no inclusion proof for event #%lld in tree size %lld",
                               (long long)id, (long long)size);
    }
    if (size == 0)
        osm_ledger_latest_checkpoint(rd.ledger, &size, NULL);
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "id", (json_int_t)id, "leaf_index",
                     (json_int_t)(id - 1), "tree_size", (json_int_t)size, "leaf_hash", leaf,
                     "root_hash", hex32(root), "audit_path", hex_list(path, n));
}

json_t *agentd_ledger_consistency(struct osm_request *req)
{
    _cleanup_reader_ struct agentd_reader rd = {0};
    _cleanup_free_ uint8_t *proof = NULL;
    uint8_t old_root[32], new_root[32];
    int64_t from, to;
    size_t n;
    json_t *err;
    int r;

    if ((err = osm_request_query_int(req, "from", 0, 1, INT64_MAX, &from)) ||
        (err = osm_request_query_int(req, "to", 0, 1, INT64_MAX, &to)))
        return err;
    if (!osm_request_query(req, "from") || !osm_request_query(req, "to") || from > to)
        return osm_error(req, 422, "invalid_field", NULL,
                         "query parameters 'from' and 'to' are required, with from <= to");
    r = agentd_reader_open(AGENTD(req), &rd);
    if (r == 0)
        r = osm_ledger_prove_consistency(rd.ledger, from, to, &proof, &n, old_root, new_root);
    if (r < 0)
        return osm_error_errno(req, r, "no consistency proof from %lld to %lld", (long long)from,
                               (long long)to);
    return json_pack("{s:I, s:I, s:o, s:o, s:o}", "from", (json_int_t)from, "to", (json_int_t)to,
                     "old_root", hex32(old_root), "new_root", hex32(new_root), "proof",
                     hex_list(proof, n));
}

static int prune_task(struct osm_ledger *l, void *ctx)
{
    return osm_ledger_prune(l, *(int64_t *)ctx);
}

json_t *agentd_ledger_prune(struct osm_request *req)
{
    json_int_t through;
    json_t *err, *payload;
    int r;

    if ((err = osm_request_unpack(req, "{s:I}", "through", &through)))
        return err;
    if (through <= 0)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "through"),
                         "'through' must be the tree size of a signed checkpoint");
    /* Fail closed: the prune is recorded before it happens. */
    payload = json_pack("{s:I}", "through", through);
    r = agentd_record(AGENTD(req), "ledger.prune", "agentd", payload, NULL, NULL, NULL);
    json_decref(payload);
    if (r < 0)
        return osm_error_errno(req, r, "the prune could not be recorded, nothing was deleted");
    int64_t t = through;
    r = agentd_writer_task(AGENTD(req), prune_task, &t);
    if (r < 0)
        return osm_error_errno(req, r, "prune through %lld refused", (long long)t);
    return json_pack("{s:I}", "pruned_through", through);
}
