/* agentctl stats: event count, first and last timestamp, counts by type and file size, in
 * osModa's format. */
#include <stdio.h>
#include <sys/stat.h>

#include "ctl.h"

struct stats {
    json_t *by_type;            /* [{"type", "count"}] in osModa's order (count descending) */
    json_t *first_ts, *last_ts; /* strings, or null on an empty ledger */
    int64_t total;
    int64_t db_size; /* -1 when the file could not be stat'ed (osModa then omits the line) */
};

/* Runs a one-row query; *ret is its first column as JSON (null when there is no row). */
static int query_one(struct osm_ledger *l, const char *sql, json_t **ret)
{
    _cleanup_(ctl_finalizep) sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = ctl_ledger_prepare(l, sql, &s)))
        return r;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ctl_ledger_error(l);
    if (rc == SQLITE_DONE)
        *ret = json_null();
    else if (sqlite3_column_type(s, 0) == SQLITE_INTEGER)
        *ret = json_integer(sqlite3_column_int64(s, 0));
    else
        *ret = json_string(ctl_column_text(s, 0));
    return *ret ? CTL_OK : ctl_fail("out of memory, or a timestamp that is not UTF-8");
}

static int query_by_type(struct osm_ledger *l, json_t *arr)
{
    _cleanup_(ctl_finalizep) sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = ctl_ledger_prepare(
             l, "SELECT type, COUNT(*) as cnt FROM events GROUP BY type ORDER BY cnt DESC", &s)))
        return r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (json_array_append_new(arr, json_pack("{ss sI}", "type", ctl_column_text(s, 0), "count",
                                                 (json_int_t)sqlite3_column_int64(s, 1))) < 0)
            return ctl_fail("out of memory, or an event type that is not UTF-8");
    return rc == SQLITE_DONE ? CTL_OK : ctl_ledger_error(l);
}

static int64_t file_size(const struct ctl *c)
{
    _cleanup_free_ char *path = ctl_state_path(c, OSM_LEDGER_DB_NAME);
    struct stat st;

    return path && stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int collect(const struct ctl *c, struct osm_ledger *l, struct stats *st)
{
    json_auto_t *total = NULL;
    int r;

    if ((r = query_one(l, "SELECT COUNT(*) FROM events", &total)) ||
        (r = query_one(l, "SELECT ts FROM events ORDER BY id ASC LIMIT 1", &st->first_ts)) ||
        (r = query_one(l, "SELECT ts FROM events ORDER BY id DESC LIMIT 1", &st->last_ts)))
        return r;
    st->total = json_integer_value(total);
    st->by_type = json_array();
    if (!st->by_type)
        return ctl_fail("out of memory");
    if ((r = query_by_type(l, st->by_type)))
        return r;
    st->db_size = file_size(c);
    return CTL_OK;
}

static void print_text(const struct stats *st)
{
    size_t i;
    json_t *t;

    printf("Ledger statistics:\n  Total events: %lld\n", (long long)st->total);
    if (json_is_string(st->first_ts))
        printf("  First event:  %s\n", json_string_value(st->first_ts));
    if (json_is_string(st->last_ts))
        printf("  Last event:   %s\n", json_string_value(st->last_ts));
    printf("  By type:\n");
    json_array_foreach(st->by_type, i, t)
        printf("    %s: %lld\n", json_string_value(json_object_get(t, "type")),
               (long long)json_integer_value(json_object_get(t, "count")));
    if (st->db_size >= 0)
        printf("  DB size: %.2f MB\n", (double)st->db_size / 1048576.0);
}

static int print_json(const struct stats *st)
{
    json_auto_t *o =
        json_pack("{sI sO sO sO so}", "total_events", (json_int_t)st->total, "first_event",
                  st->first_ts, "last_event", st->last_ts, "by_type", st->by_type, "db_size_bytes",
                  st->db_size >= 0 ? json_integer(st->db_size) : json_null());

    return o ? ctl_print_json(o) : ctl_fail("out of memory");
}

static int stats_exec(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_(ctl_ledger_closep) struct osm_ledger *l = NULL;
    struct stats st = {0};
    int r;

    if ((r = ctl_ledger_open(c, &l)) == CTL_OK && (r = collect(c, l, &st)) == CTL_OK) {
        if (c->json)
            r = print_json(&st);
        else
            print_text(&st);
    }
    json_decref(st.by_type);
    json_decref(st.first_ts);
    json_decref(st.last_ts);
    return r;
}

const struct ctl_verb ctl_verb_stats = {
    .name = "stats",
    .args = "",
    .summary = "Show ledger statistics: event count, time span, counts by type, file size",
    .exec = stats_exec,
};
