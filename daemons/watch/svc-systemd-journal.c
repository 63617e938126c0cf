/* journal_logs on the systemd backend: a unit's newest lines from the journal (sd-journal,
 * _SYSTEMD_UNIT=<unit>, a lowest priority, a start time), bounded in lines and line length. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "common/timeutil.h"
#include "common/utf8.h"
#include "svc-internal.h"
#include "svc-systemd.h"

#define DEFAULT_LINES 50

struct log_filter {
    int lines;
    int priority;   /* -1: all */
    uint64_t since; /* realtime µs, 0: from the start */
};

static int filter_parse(const struct svc_log_query *q, struct log_filter *f)
{
    *f = (struct log_filter){.lines = q && q->lines ? q->lines : DEFAULT_LINES, .priority = -1};
    if (f->lines < 1 || f->lines > SVC_LOG_LINES_MAX)
        return -EINVAL;
    if (q && q->priority && svc_systemd_parse_priority(q->priority, &f->priority) < 0)
        return -EINVAL;
    if (q && q->since &&
        svc_systemd_parse_since(q->since, (uint64_t)osm_realtime_ms() * 1000, &f->since) < 0)
        return -EINVAL;
    return 0;
}

static int add_matches(sd_journal *j, const char *unit, int priority)
{
    char m[SVC_SYSTEMD_UNIT_MAX + 16];
    int r;

    snprintf(m, sizeof(m), "_SYSTEMD_UNIT=%s", unit);
    if ((r = sd_journal_add_match(j, m, 0)) < 0)
        return r;
    /* matches on one field are OR-ed, on different fields AND-ed */
    for (int p = 0; p <= priority; p++) {
        snprintf(m, sizeof(m), "PRIORITY=%d", p);
        if ((r = sd_journal_add_match(j, m, 0)) < 0)
            return r;
    }
    return 0;
}

/* The value of field in the current entry (not NUL-terminated), or NULL. */
static const char *field(sd_journal *j, const char *name, size_t *ret_len)
{
    const void *data;
    size_t len, k = strlen(name);

    if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= k)
        return NULL;
    *ret_len = len - k - 1;
    return (const char *)data + k + 1;
}

/* "2026-01-01T00:00:00.000Z ident[pid]: message", the message cut at SVC_SYSTEMD_LINE_MAX and
 * made valid UTF-8. */
static json_t *entry_line(sd_journal *j, uint64_t usec)
{
    char ts[OSM_TS_LEN + 1], line[SVC_SYSTEMD_LINE_MAX + 128];
    size_t n_msg = 0, n_id = 0, n_pid = 0, n;
    const char *msg = field(j, "MESSAGE", &n_msg);
    const char *id = field(j, "SYSLOG_IDENTIFIER", &n_id);
    const char *pid = field(j, "_PID", &n_pid);

    osm_format_ts((time_t)(usec / 1000000), (unsigned)(usec / 1000 % 1000), ts);
    n = (size_t)snprintf(line, sizeof(line), "%s %.*s[%.*s]: ", ts, (int)(n_id < 64 ? n_id : 64),
                         id ? id : "", (int)(n_pid < 16 ? n_pid : 16), pid ? pid : "");
    if (n_msg > SVC_SYSTEMD_LINE_MAX)
        n_msg = SVC_SYSTEMD_LINE_MAX;
    memcpy(line + n, msg ? msg : "", n_msg);
    n += n_msg;
    osm_utf8_scrub(line, n);
    return json_stringn(line, n);
}

/* Walks back from the newest entry; lines are prepended so that they end oldest first. */
static int collect(sd_journal *j, const struct log_filter *f, json_t *lines, bool *truncated)
{
    uint64_t usec;
    int r;

    sd_journal_seek_tail(j);
    while ((r = sd_journal_previous(j)) > 0) {
        if (sd_journal_get_realtime_usec(j, &usec) < 0 || usec < f->since)
            break;
        if (json_array_size(lines) == (size_t)f->lines) {
            *truncated = true;
            break;
        }
        if (json_array_insert_new(lines, 0, entry_line(j, usec)) < 0)
            return -ENOMEM;
    }
    return r < 0 ? r : 0;
}

/* The logs operation of the systemd backend (svc.h: {unit, lines, truncated}). */
int svc_systemd_logs(struct svc *s, const char *name, const struct svc_log_query *q, json_t **ret)
{
    char unit[SVC_SYSTEMD_UNIT_MAX];
    struct log_filter f;
    sd_journal *j = NULL;
    json_t *lines;
    bool truncated = false;
    int r;

    if ((r = svc_systemd_unit_name(name, unit)) < 0 || (r = filter_parse(q, &f)) < 0)
        return r;
    if (!(lines = json_array()))
        return -ENOMEM;
    if ((r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY)) >= 0 &&
        (r = add_matches(j, unit, f.priority)) >= 0)
        r = collect(j, &f, lines, &truncated);
    sd_journal_close(j);
    if (r < 0) {
        json_decref(lines);
        return r == -ENOMEM ? r : -EIO;
    }
    *ret = json_pack("{s:s, s:o, s:b}", "unit", unit, "lines", lines, "truncated", truncated);
    return *ret ? 0 : -ENOMEM;
}
