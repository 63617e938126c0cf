/* agentctl events: the last N matching ledger events, oldest first, in osModa's format. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define EVENTS_DEFAULT_LAST 20

enum { OPT_LAST, OPT_TYPE, OPT_ACTOR };

enum { COL_ID, COL_TS, COL_TYPE, COL_ACTOR, COL_PAYLOAD, COL_PREV_HASH, COL_HASH };

/* The newest ?3 rows matching the optional filters ?1 (type) and ?2 (actor), oldest first. */
static const char events_sql[] = "SELECT id, ts, type, actor, payload, prev_hash, hash FROM ("
                                 " SELECT id, ts, type, actor, payload, prev_hash, hash FROM events"
                                 " WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR actor = ?2)"
                                 " ORDER BY id DESC LIMIT ?3) ORDER BY id ASC";

/* Writes s with every newline followed by two spaces, as osModa's .replace('\n', "\n  "). */
static void put_indented(const char *s)
{
    for (; *s; s++) {
        putchar(*s);
        if (*s == '\n')
            fputs("  ", stdout);
    }
}

static void print_event_text(sqlite3_stmt *s)
{
    const char *payload = ctl_column_text(s, COL_PAYLOAD);
    size_t payload_len = (size_t)sqlite3_column_bytes(s, COL_PAYLOAD);
    _cleanup_free_ char *pretty = ctl_json_text_pretty(payload, payload_len);

    printf("#%lld [%s] %s by %s\n  ", (long long)sqlite3_column_int64(s, COL_ID),
           ctl_column_text(s, COL_TS), ctl_column_text(s, COL_TYPE), ctl_column_text(s, COL_ACTOR));
    if (pretty)
        put_indented(pretty);
    else
        fwrite(payload, 1, payload_len, stdout);
    printf("\n  hash: %s\n\n", ctl_column_text(s, COL_HASH));
}

/* The row as the JSON object /events/log returns (new reference; NULL if a text column is not
 * UTF-8). */
static json_t *event_json(sqlite3_stmt *s)
{
    return json_pack("{sI ss ss ss ss# ss ss}", "id", (json_int_t)sqlite3_column_int64(s, COL_ID),
                     "ts", ctl_column_text(s, COL_TS), "type", ctl_column_text(s, COL_TYPE),
                     "actor", ctl_column_text(s, COL_ACTOR), "payload",
                     ctl_column_text(s, COL_PAYLOAD), (int)sqlite3_column_bytes(s, COL_PAYLOAD),
                     "prev_hash", ctl_column_text(s, COL_PREV_HASH), "hash",
                     ctl_column_text(s, COL_HASH));
}

static void bind_filter(sqlite3_stmt *s, int idx, const char *value)
{
    if (value)
        sqlite3_bind_text(s, idx, value, -1, SQLITE_STATIC);
}

/* Steps through the rows, printing text or collecting JSON into arr; counts them. */
static int walk_events(const struct ctl *c, struct osm_ledger *l, sqlite3_stmt *s, json_t *arr,
                       long long *ret_n)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!c->json)
            print_event_text(s);
        else if (json_array_append_new(arr, event_json(s)) < 0)
            return ctl_fail("event #%lld is not valid UTF-8 (or out of memory)",
                            (long long)sqlite3_column_int64(s, COL_ID));
        (*ret_n)++;
    }
    return rc == SQLITE_DONE ? CTL_OK : ctl_ledger_error(l);
}

static int events_exec(const struct ctl *c, const struct ctl_args *a)
{
    _cleanup_(ctl_ledger_closep) struct osm_ledger *l = NULL;
    _cleanup_(ctl_finalizep) sqlite3_stmt *s = NULL;
    json_auto_t *arr = json_array();
    int64_t last = EVENTS_DEFAULT_LAST;
    long long n = 0;
    int r;

    if (a->opt[OPT_LAST] &&
        (r = ctl_parse_int(&ctl_verb_events, "--last", a->opt[OPT_LAST], 0, UINT32_MAX, &last)))
        return r;
    if ((r = ctl_ledger_open(c, &l)) || (r = ctl_ledger_prepare(l, events_sql, &s)))
        return r;
    bind_filter(s, 1, a->opt[OPT_TYPE]);
    bind_filter(s, 2, a->opt[OPT_ACTOR]);
    sqlite3_bind_int64(s, 3, last);
    if ((r = walk_events(c, l, s, arr, &n)))
        return r;
    if (c->json)
        return ctl_print_json(arr);
    printf("Showed %lld event(s)\n", n);
    return CTL_OK;
}

static const struct ctl_opt events_opts[] = {
    [OPT_LAST] = {"last", "N", "number of events to show (default 20)"},
    [OPT_TYPE] = {"type", "T", "only events of this type"},
    [OPT_ACTOR] = {"actor", "A", "only events by this actor"},
    {NULL, NULL, NULL},
};

const struct ctl_verb ctl_verb_events = {
    .name = "events",
    .args = "",
    .summary = "Show recent events from the ledger, oldest first",
    .opts = events_opts,
    .exec = events_exec,
};
