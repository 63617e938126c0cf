/* The /memory endpoints: ingest and store write memory events; recall searches the ledger with FTS5
 * (BM25) and falls back to a keyword scan of the newest events (osmoda-reference §1.1). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/log.h"
#include "ipc/json_util.h"

json_t *agentd_memory_ingest(struct osm_request *req)
{
    json_t *source, *content, *category, *tags, *metadata, *err;
    const struct agentd_field fields[] = {
        {"source", AGENTD_FIELD_STRING, false, &source},
        {"content", AGENTD_FIELD_STRING, true, &content},
        {"category", AGENTD_FIELD_STRING, false, &category},
        {"tags", AGENTD_FIELD_STRING_ARRAY, false, &tags},
        {"metadata", AGENTD_FIELD_ANY, false, &metadata},
    };
    const char *actor;
    struct agentd_recorded rec;
    json_auto_t *payload = NULL;
    int r;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    actor = source ? json_string_value(source) : "unknown";
    if (!osm_ledger_name_valid(actor))
        return agentd_field_error(req, "source",
                                  "must be 1-128 characters of [a-z0-9_.:-] (it is the actor)");
    payload = json_pack("{s:o, s:O, s:o, s:o, s:o}", "category", agentd_or_null(category),
                        "content", content, "metadata", agentd_or_null(metadata), "source",
                        agentd_or_null(source), "tags", agentd_or_null(tags));
    if (!payload)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    r = agentd_record(AGENTD(req), "memory.ingest", actor, payload, NULL, NULL, &rec);
    if (r < 0)
        return agentd_record_error(req, r, "memory.ingest");
    return json_pack("{s:I, s:s}", "id", (json_int_t)rec.id, "status", "stored");
}

json_t *agentd_memory_store(struct osm_request *req)
{
    json_t *summary, *detail, *category, *tags, *err;
    const struct agentd_field fields[] = {
        {"summary", AGENTD_FIELD_STRING, true, &summary},
        {"detail", AGENTD_FIELD_STRING, false, &detail},
        {"category", AGENTD_FIELD_STRING, false, &category},
        {"tags", AGENTD_FIELD_STRING_ARRAY, false, &tags},
    };
    struct agentd_recorded rec;
    json_auto_t *payload = NULL;
    int r;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    payload = json_pack("{s:o, s:o, s:O, s:o}", "category", agentd_or_null(category), "detail",
                        agentd_or_null(detail), "summary", summary, "tags", agentd_or_null(tags));
    if (!payload)
        return osm_error_errno(req, -ENOMEM, "out of memory");
    r = agentd_record(AGENTD(req), "memory.store", "agentd", payload, NULL, NULL, &rec);
    if (r < 0)
        return agentd_record_error(req, r, "memory.store");
    return json_pack("{s:I}", "id", (json_int_t)rec.id);
}

json_t *agentd_memory_health(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    _cleanup_reader_ struct agentd_reader rd = {0};
    int64_t count, last;
    int r;

    r = agentd_reader_open(ad, &rd);
    if (r >= 0)
        r = osm_ledger_stats(rd.ledger, &count, &last);
    if (r < 0)
        return agentd_read_error(req, r, "event count");
    return json_pack("{s:s, s:I, s:s}", "status", "ok", "event_count", (json_int_t)count,
                     "state_dir", ad->paths.state_dir);
}

/* ---- recall ----------------------------------------------------------------------------- */

struct recall {
    const char *query;
    const char *timeframe; /* ts prefix or NULL */
    int64_t max;
    json_t *chunks; /* array being filled */
};

/* A chunk as osModa's MemoryChunk (declaration order, options as null). */
static json_t *chunk_new(int64_t id, const char *ts, const char *payload_text, double relevance)
{
    static const char *const content_keys[] = {"content", "detail", "summary"};
    json_auto_t *p = agentd_payload_parse(payload_text);
    const char *content = agentd_payload_text(p, content_keys, ELEMENTSOF(content_keys));
    json_t *category = json_object_get(p, "category"), *tags = json_object_get(p, "tags");
    json_t *tag_list = NULL;

    if (json_is_array(tags)) {
        size_t i;
        json_t *t;
        tag_list = json_array();
        json_array_foreach(tags, i, t) if (json_is_string(t)) json_array_append(tag_list, t);
    }
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:f}", "id", (json_int_t)id, "ts", ts, "content",
                     content ? content : payload_text, "category",
                     agentd_or_null(json_is_string(category) ? category : NULL), "tags",
                     tag_list ? tag_list : json_null(), "relevance", relevance);
}

/* Builds `"t1" OR "t2"` from the query keeping alphanumerics (and any non-ASCII byte) and _-. ;
 * an empty string when no term is left. New string. */
static char *fts_query_new(const char *q)
{
    size_t n = strlen(q), len = 0, terms = 0;
    char *out = malloc(n * 5 + 8), *p = out;

    if (!out)
        return NULL;
    while (*q && terms < OSM_RECALL_TERMS_MAX) {
        size_t start;
        while (*q && isspace((unsigned char)*q))
            q++;
        start = len;
        if (terms > 0)
            p = stpcpy(p, " OR ");
        *p++ = '"';
        for (; *q && !isspace((unsigned char)*q); q++) {
            unsigned char c = (unsigned char)*q;
            if (isalnum(c) || c >= 0x80 || c == '_' || c == '-' || c == '.')
                *p++ = (char)c;
        }
        if (p[-1] == '"') { /* nothing kept: drop this term */
            p = out + start;
            continue;
        }
        *p++ = '"';
        len = (size_t)(p - out);
        terms++;
    }
    out[len] = '\0';
    return out;
}

/* Divides every chunk's relevance by the best one (BM25 normalised to 0..1). */
static void normalise(json_t *chunks, double max_score)
{
    size_t i;
    json_t *c;

    json_array_foreach(chunks, i, c)
    {
        double score = json_real_value(json_object_get(c, "relevance"));
        json_object_set_new(c, "relevance", json_real(max_score > 0.0 ? score / max_score : 0.0));
    }
}

static int fts_search(sqlite3 *db, struct recall *rc, const char *match)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    double max_score = 0.0;
    int r;

    r = sqlite3_prepare_v2(db,
                           "SELECT e.id, e.ts, e.payload, -bm25(events_fts) FROM events_fts "
                           "JOIN events e ON e.id = events_fts.rowid WHERE events_fts MATCH ?1 "
                           "AND (?2 IS NULL OR substr(e.ts, 1, length(?2)) = ?2) "
                           "ORDER BY bm25(events_fts) LIMIT ?3",
                           -1, &st, NULL);
    if (r != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rc->timeframe, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rc->max);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        double score = sqlite3_column_double(st, 3);
        json_array_append_new(rc->chunks,
                              chunk_new(sqlite3_column_int64(st, 0),
                                        (const char *)sqlite3_column_text(st, 1),
                                        (const char *)sqlite3_column_text(st, 2), score));
        if (score > max_score)
            max_score = score;
    }
    if (r != SQLITE_DONE)
        return -EIO;
    normalise(rc->chunks, max_score);
    return 0;
}

/* Lowercased whitespace-separated terms of q (osModa's fallback splits the raw query). */
static size_t split_terms(char *q, char *terms[], size_t max)
{
    size_t n = 0;

    for (char *s = q; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    for (char *save = NULL, *t = strtok_r(q, " \t\r\n\f\v", &save); t && n < max;
         t = strtok_r(NULL, " \t\r\n\f\v", &save))
        terms[n++] = t;
    return n;
}

static double keyword_relevance(const char *payload, char *terms[], size_t n)
{
    _cleanup_free_ char *lower = strdup(payload);
    size_t matched = 0;

    if (!lower || n == 0)
        return 0.0;
    for (char *s = lower; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    for (size_t i = 0; i < n; i++)
        if (strstr(lower, terms[i]))
            matched++;
    return (double)matched / (double)n;
}

static int chunk_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double rx = json_real_value(json_object_get(x, "relevance"));
    double ry = json_real_value(json_object_get(y, "relevance"));
    json_int_t ix = json_integer_value(json_object_get(x, "id"));
    json_int_t iy = json_integer_value(json_object_get(y, "id"));

    if (rx != ry)
        return rx < ry ? 1 : -1;
    return ix < iy ? 1 : ix > iy ? -1 : 0;
}

/* Moves the best rc->max chunks of list into rc->chunks. */
static int keep_best(struct recall *rc, json_t *list)
{
    size_t n = json_array_size(list);
    _cleanup_free_ json_t **v = malloc((n ? n : 1) * sizeof(*v));

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(list, i);
    qsort(v, n, sizeof(*v), chunk_cmp);
    for (size_t i = 0; i < n && (int64_t)i < rc->max; i++)
        json_array_append(rc->chunks, v[i]);
    return 0;
}

static int keyword_scan(sqlite3 *db, struct recall *rc)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_free_ char *q = strdup(rc->query);
    json_auto_t *found = json_array();
    char *terms[OSM_RECALL_TERMS_MAX];
    size_t n;
    int r;

    if (!q || !found)
        return -ENOMEM;
    n = split_terms(q, terms, ELEMENTSOF(terms));
    r = sqlite3_prepare_v2(db,
                           "SELECT id, ts, payload FROM events WHERE ?1 IS NULL OR "
                           "substr(ts, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT ?2",
                           -1, &st, NULL);
    if (r != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, rc->timeframe, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, OSM_RECALL_FALLBACK_SCAN);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *payload = (const char *)sqlite3_column_text(st, 2);
        double rel = keyword_relevance(payload ? payload : "", terms, n);
        if (rel > 0.0)
            json_array_append_new(found, chunk_new(sqlite3_column_int64(st, 0),
                                                   (const char *)sqlite3_column_text(st, 1),
                                                   payload, rel));
    }
    if (r != SQLITE_DONE)
        return -EIO;
    return keep_best(rc, found);
}

static int recall_run(struct agentd_reader *rd, struct recall *rc, int64_t *ret_total)
{
    _cleanup_free_ char *match = fts_query_new(rc->query);
    sqlite3 *db = agentd_reader_db(rd);
    int64_t last;
    int r;

    if (!match)
        return -ENOMEM;
    r = osm_ledger_stats(rd->ledger, ret_total, &last);
    if (r < 0 || !*match)
        return r;
    r = fts_search(db, rc, match);
    if (r < 0) {
        log_warn("memory.recall_fallback", "reason=\"%s\"", sqlite3_errmsg(db));
        json_array_clear(rc->chunks);
        r = keyword_scan(db, rc);
    }
    return r;
}

json_t *agentd_memory_recall(struct osm_request *req)
{
    json_t *query, *max_results, *timeframe, *err;
    const struct agentd_field fields[] = {
        {"query", AGENTD_FIELD_STRING, true, &query},
        {"max_results", AGENTD_FIELD_COUNT, false, &max_results},
        {"timeframe", AGENTD_FIELD_STRING, false, &timeframe},
    };
    _cleanup_reader_ struct agentd_reader rd = {0};
    json_auto_t *chunks = json_array();
    struct recall rc;
    int64_t total = 0;
    int r;

    err = agentd_body_fields(req, fields, ELEMENTSOF(fields));
    if (err)
        return err;
    rc = (struct recall){
        .query = json_string_value(query),
        .timeframe = json_string_value(timeframe),
        .max = max_results ? json_integer_value(max_results) : OSM_RECALL_DEFAULT,
        .chunks = chunks,
    };
    if (rc.max > OSM_RECALL_MAX)
        rc.max = OSM_RECALL_MAX; /* osModa caps silently */
    /* Search sees every event recorded before this request (indexing is off the commit path). */
    r = agentd_index_now(AGENTD(req));
    if (r >= 0)
        r = agentd_reader_open(AGENTD(req), &rd);
    if (r >= 0)
        r = recall_run(&rd, &rc, &total);
    if (r < 0)
        return agentd_read_error(req, r, "memory recall");
    return json_pack("{s:O, s:O, s:I}", "query", query, "chunks", chunks, "total_searched",
                     (json_int_t)total);
}
