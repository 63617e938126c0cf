/* POST /events/append (the typed-event door every daemon's ledger client uses), its batch form
 * POST /events/append_batch (daemons socket), and GET /events/log (osModa: exact-match filters,
 * newest first). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd.h"
#include "common/limits.h"
#include "ipc/errors.h"
#include "ipc/json_util.h"

/* {"id","ts","hash"} of a durable event, written directly: the ledger formats ts and hash
 * itself (digits, hex, "-:.TZ"), so nothing needs escaping, and the encoder is the dearest
 * step left on this path. NULL on allocation failure. */
static char *appended(const struct agentd_recorded *rec)
{
    char *s;

    return asprintf(&s, "{\"id\":%" PRId64 ",\"ts\":\"%s\",\"hash\":\"%s\"}", rec->id, rec->ts,
                    rec->hash) < 0
               ? NULL
               : s;
}

static json_t *not_recorded(struct osm_request *req, int r)
{
    return osm_error_errno(req, r, "the event could not be recorded");
}

static json_t *no_answer(void)
{
    return osm_error(NULL, 500, "internal_error", NULL,
                     "the event was recorded, but the answer could not be built");
}

/* The writer's callback: answers the suspended request. */
static void append_done(void *ctx, int r, const struct agentd_recorded *rec)
{
    char *text = r < 0 ? NULL : appended(rec);
    const char *code;

    if (text)
        osm_deferred_answer_text(ctx, 201, text);
    else if (r < 0)
        osm_deferred_answer(ctx, osm_errno_to_status(r, &code), not_recorded(NULL, r));
    else
        osm_deferred_answer(ctx, 500, no_answer());
}

/* Records the event and waits until it is durable, leading the commit when the ledger is free. */
static json_t *append_inline(struct osm_request *req, const char *type, const char *actor,
                             const char *payload)
{
    struct agentd_recorded rec;
    char *text;
    int r = agentd_record_raw(AGENTD(req), type, actor, payload, NULL, NULL, &rec);

    if (r < 0)
        return not_recorded(req, r);
    text = appended(&rec);
    if (!text) {
        req->status = 500;
        return no_answer();
    }
    osm_request_answer_text(req, 201, text);
    return NULL;
}

/* Queues the event and suspends the request until it is durable, so that no server thread
 * waits for the fsync while other connections need it; inline when nobody else would wait, or
 * when the request cannot be suspended. */
static json_t *append(struct osm_request *req, const char *type, const char *actor,
                      const json_t *payload)
{
    _cleanup_free_ char *s = osm_json_dumps_sorted(payload);
    struct osm_deferred *d;
    int r;

    if (!s)
        return not_recorded(req, -ENOMEM);
    d = osm_request_may_wait(req) ? NULL : osm_request_defer(req);
    if (!d)
        return append_inline(req, type, actor, s);
    r = agentd_record_async(AGENTD(req), type, actor, s, strlen(s), append_done, d);
    if (r < 0)
        append_done(d, r, NULL);
    return NULL;
}

json_t *agentd_events_append(struct osm_request *req)
{
    const char *type, *actor;
    json_t *payload, *err;

    err = osm_request_unpack(req, "{s:s, s:s, s:o}", "type", &type, "actor", &actor, "payload",
                             &payload);
    if (err)
        return err;
    if (!osm_ledger_name_valid(type) || !osm_ledger_name_valid(actor))
        return osm_error(
            req, 422, "invalid_field",
            json_pack("{s:s}", "field", osm_ledger_name_valid(type) ? "actor" : "type"),
            "type and actor must be 1-%d characters of [a-z0-9_.:-]", OSM_LEDGER_NAME_MAX);
    return append(req, type, actor, payload);
}

static json_t *event_row(sqlite3_stmt *st)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                     (json_int_t)sqlite3_column_int64(st, 0), "ts", sqlite3_column_text(st, 1),
                     "type", sqlite3_column_text(st, 2), "actor", sqlite3_column_text(st, 3),
                     "payload", sqlite3_column_text(st, 4), "prev_hash", sqlite3_column_text(st, 5),
                     "hash", sqlite3_column_text(st, 6));
}

json_t *agentd_events_log(struct osm_request *req)
{
    static const char sql[] =
        "SELECT id, ts, type, actor, payload, prev_hash, hash FROM events "
        "WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR actor = ?2) ORDER BY id DESC LIMIT ?3";
    _cleanup_reader_ struct agentd_reader rd = {0};
    sqlite3_stmt *st = NULL;
    json_t *err, *out;
    int64_t limit;
    int r;

    err = osm_request_query_int(req, "limit", OSM_EVENTS_LOG_DEFAULT, 0, INT32_MAX, &limit);
    if (err)
        return err;
    if (limit > OSM_EVENTS_LOG_MAX)
        limit = OSM_EVENTS_LOG_MAX;
    r = agentd_reader_open(AGENTD(req), &rd);
    if (r < 0)
        return osm_error_errno(req, r, "cannot open the ledger");
    if (sqlite3_prepare_v2(agentd_reader_db(&rd), sql, -1, &st, NULL) != SQLITE_OK)
        return osm_error(req, 500, "internal_error", NULL, "query failed");
    sqlite3_bind_text(st, 1, osm_request_query(req, "type"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, osm_request_query(req, "actor"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    out = json_array();
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(out, event_row(st));
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        json_decref(out);
        return osm_error(req, 500, "internal_error", NULL, "query failed");
    }
    return out;
}

/* A batch of events appended as one writer task: one transaction, so the events are contiguous,
 * in the caller's order, and either all durable or none. */
struct batch {
    struct osm_ledger_entry *entries;
    char **payloads;
    size_t n;
};

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->payloads[i]);
    free(b->payloads);
    free(b->entries);
}

static int batch_task(struct osm_ledger *l, void *ctx)
{
    struct batch *b = ctx;
    int r = osm_ledger_append(l, b->entries, b->n);

    for (size_t i = 0; r == 0 && i < b->n; i++)
        if (b->entries[i].result < 0)
            r = b->entries[i].result;
    return r;
}

/* Why item i of the batch is refused, or NULL (its type is set). */
static const char *batch_item_invalid(const json_t *item, const char **ret_type)
{
    const json_t *type = json_object_get(item, "type");

    if (!json_is_object(item) || json_object_size(item) != 2 || !json_object_get(item, "payload"))
        return "must be an object with exactly \"type\" and \"payload\"";
    if (!json_is_string(type) || !osm_ledger_name_valid(json_string_value(type)))
        return "type must be 1-128 characters of [a-z0-9_.:-]";
    *ret_type = json_string_value(type);
    return NULL;
}

/* Validates every event and builds the entries; an envelope (new reference) for the first
 * refused one, so that a bad event refuses the whole batch before anything is written. */
static json_t *batch_build(struct osm_request *req, const json_t *events, const char *actor,
                           struct batch *b)
{
    size_t n = json_array_size(events);
    const char *type, *why;
    json_t *item;
    size_t i;

    b->entries = calloc(n, sizeof(*b->entries));
    b->payloads = calloc(n, sizeof(*b->payloads));
    if (!b->entries || !b->payloads)
        return not_recorded(req, -ENOMEM);
    json_array_foreach(events, i, item)
    {
        if ((why = batch_item_invalid(item, &type)))
            return osm_error(req, 422, "invalid_field",
                             json_pack("{s:s, s:I}", "field", "events", "index", (json_int_t)i),
                             "event %zu %s; nothing was recorded", i, why);
        b->payloads[i] = osm_json_dumps_sorted(json_object_get(item, "payload"));
        if (!b->payloads[i])
            return not_recorded(req, -ENOMEM);
        b->n = i + 1;
        b->entries[i] = (struct osm_ledger_entry){.type = type,
                                                  .actor = actor,
                                                  .payload = b->payloads[i],
                                                  .payload_len = strlen(b->payloads[i])};
    }
    return NULL;
}

json_t *agentd_events_append_batch(struct osm_request *req, const char *actor)
{
    struct batch b = {0};
    json_t *events = NULL, *out;
    int r;

    if ((out = osm_request_unpack(req, "{s:o}", "events", &events)))
        return out;
    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > OSM_EVENTS_APPEND_BATCH_MAX)
        return osm_error(req, 422, "invalid_field", json_pack("{s:s}", "field", "events"),
                         "events must be an array of 1 to %d events", OSM_EVENTS_APPEND_BATCH_MAX);
    if (!osm_ledger_name_valid(actor))
        return osm_error(req, 403, "unknown_daemon", NULL, "the caller has no valid name");
    out = batch_build(req, events, actor, &b); /* an envelope, or NULL to go on */
    r = out ? 0 : agentd_writer_task(AGENTD(req), batch_task, &b);
    if (!out && r < 0)
        out = not_recorded(req, r);
    if (!out) {
        req->status = 201;
        out = json_pack("{s:I, s:I, s:I}", "count", (json_int_t)b.n, "first_id",
                        (json_int_t)b.entries[0].id, "last_id", (json_int_t)b.entries[b.n - 1].id);
    }
    batch_clear(&b);
    return out;
}
