/* Process backend: the services' output. Each line a child writes becomes one line of
 * <state_dir>/logs/<name>.log, "2026-01-01T00:00:00.000Z P name[pid]: text", P its syslog
 * priority (stdout 6 info, stderr 3 err, or sd-daemon's "<N>" prefix). A file rotates before
 * it would pass the size limit (name.log.1 .. .SVC_LOG_KEEP). journal_logs reads them back:
 * the newest lines, at or above a priority, since a time. Lines whose priority cannot be read
 * (not written by us) count as info. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "common/utf8.h"
#include "svc-process-internal.h"

#define LOG_PATH_MAX 4096

static int log_path(const struct proc_backend *b, const char *name, int gen, char *buf, size_t size)
{
    int n = gen ? snprintf(buf, size, "%s/%s.log.%d", b->log_dir, name, gen)
                : snprintf(buf, size, "%s/%s.log", b->log_dir, name);

    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

void proc_log_close(struct proc_svc *p)
{
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
}

/* name.log.(KEEP-1) → .KEEP, ..., name.log → .1 */
static void log_rotate(struct proc_backend *b, struct proc_svc *p)
{
    char from[LOG_PATH_MAX], to[LOG_PATH_MAX];

    proc_log_close(p);
    for (int gen = SVC_LOG_KEEP; gen >= 1; gen--)
        if (log_path(b, p->name, gen - 1, from, sizeof(from)) == 0 &&
            log_path(b, p->name, gen, to, sizeof(to)) == 0)
            rename(from, to);
}

static int log_open(struct proc_backend *b, struct proc_svc *p)
{
    char path[LOG_PATH_MAX];
    off_t end;
    int r;

    if (p->log_fd >= 0)
        return 0;
    if ((r = log_path(b, p->name, 0, path, sizeof(path))) < 0)
        return r;
    p->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (p->log_fd < 0)
        return -errno;
    end = lseek(p->log_fd, 0, SEEK_END);
    p->log_size = end < 0 ? 0 : end;
    return 0;
}

static void log_write(struct proc_backend *b, struct proc_svc *p, int prio, const char *text,
                      size_t len)
{
    char ts[OSM_TS_LEN + 1], head[SVC_NAME_MAX + 64], line[SVC_LOG_LINE_MAX + 1];
    int hn;

    osm_now_ts(ts);
    hn = snprintf(head, sizeof(head), "%s %d %s[%d]: ", ts, prio, p->name, (int)p->pid);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return;
    len = len > SVC_LOG_LINE_MAX ? SVC_LOG_LINE_MAX : len;
    memcpy(line, text, len);
    osm_utf8_scrub(line, len);
    line[len] = '\n';
    if (p->log_fd >= 0 && p->log_size + hn + (int64_t)len + 1 > b->log_max_bytes)
        log_rotate(b, p);
    if (log_open(b, p) < 0)
        return;
    struct iovec iov[2] = {{head, (size_t)hn}, {line, len + 1}};
    ssize_t n = writev(p->log_fd, iov, 2);
    if (n > 0)
        p->log_size += n;
}

/* One line of the child: "<N>" at its start sets its priority, as sd-daemon.h does. */
static void log_child_line(struct proc_backend *b, struct proc_svc *p, int prio, const char *s,
                           size_t len)
{
    if (len >= 3 && s[0] == '<' && s[1] >= '0' && s[1] <= '7' && s[2] == '>') {
        prio = s[1] - '0';
        s += 3;
        len -= 3;
    }
    log_write(b, p, prio, s, len);
}

void proc_log_note(struct proc_backend *b, struct proc_svc *p, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n > 0)
        log_write(b, p, 5, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

void proc_log_drain(struct proc_backend *b, struct proc_svc *p, struct proc_stream *st,
                    size_t budget)
{
    for (size_t done = 0; done < budget;) {
        ssize_t n = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) { /* the end: the last line, then close */
                if (st->len)
                    log_child_line(b, p, st->priority, st->buf, st->len);
                st->len = 0;
                proc_unwatch_fd(b, &st->fd);
            }
            return;
        }
        st->len += (size_t)n;
        done += (size_t)n;
        char *start = st->buf, *nl;
        while ((nl = memchr(start, '\n', st->len - (size_t)(start - st->buf)))) {
            log_child_line(b, p, st->priority, start, (size_t)(nl - start));
            start = nl + 1;
        }
        st->len -= (size_t)(start - st->buf);
        memmove(st->buf, start, st->len);
        if (st->len == sizeof(st->buf)) { /* a line longer than the cap: split it */
            log_child_line(b, p, st->priority, st->buf, st->len);
            st->len = 0;
        }
    }
}

/* ---- reading back ----------------------------------------------------------------------- */

static const char *const priority_names[] = {"emerg",   "alert",  "crit", "err",
                                             "warning", "notice", "info", "debug"};

int svc_log_parse_priority(const char *text)
{
    if (text && text[0] >= '0' && text[0] <= '7' && text[1] == '\0')
        return text[0] - '0';
    for (int i = 0; text && i < 8; i++)
        if (strcasecmp(text, priority_names[i]) == 0)
            return i;
    if (text && strcasecmp(text, "error") == 0)
        return 3;
    if (text && strcasecmp(text, "warn") == 0)
        return 4;
    return -EINVAL;
}

static const struct {
    const char *unit;
    int64_t ms;
} since_units[] = {
    {"second", 1000}, {"minute", 60000}, {"hour", 3600000}, {"day", 86400000}, {"week", 604800000},
};

/* "N seconds|minutes|hours|days|weeks ago" (singular too). */
static int since_relative(const char *text, int64_t now_ms, int64_t *ret_ms)
{
    char unit[16], tail[8];
    long long n;

    if (sscanf(text, "%lld %15[a-z] %7s", &n, unit, tail) != 3 || strcmp(tail, "ago") != 0 ||
        n < 0 || n > 100000 || strlen(text) > 48)
        return -EINVAL;
    size_t ul = strlen(unit);
    if (ul > 1 && unit[ul - 1] == 's')
        unit[ul - 1] = '\0';
    for (size_t i = 0; i < ELEMENTSOF(since_units); i++)
        if (strcmp(unit, since_units[i].unit) == 0) {
            *ret_ms = now_ms - n * since_units[i].ms;
            return 0;
        }
    return -EINVAL;
}

/* "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS[.mmm]Z", UTC. */
static int since_absolute(const char *text, int64_t *ret_ms)
{
    struct tm tm = {0};
    unsigned ms = 0;
    char sep, end[8] = "";
    int n = 0;

    if (sscanf(text, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &sep,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
        (sep != ' ' && sep != 'T'))
        return -EINVAL;
    text += n;
    if (*text == '.' && sscanf(text, ".%3u%7s", &ms, end) >= 1)
        text = end;
    if (strcmp(text, sep == 'T' ? "Z" : "") != 0 || tm.tm_year < 1970 || tm.tm_mon < 1 ||
        tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ret_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}

int svc_log_parse_since(const char *text, int64_t now_ms, int64_t *ret_ms)
{
    if (!text || !*text)
        return -EINVAL;
    if (strcmp(text, "now") == 0) {
        *ret_ms = now_ms;
        return 0;
    }
    return isdigit((unsigned char)text[0]) && strstr(text, "ago")
               ? since_relative(text, now_ms, ret_ms)
               : since_absolute(text, ret_ms);
}

/* The time and priority of one of our lines; -EINVAL when it is not ours. */
static int line_meta(const char *s, size_t len, int64_t *ret_ms, int *ret_prio)
{
    char ts[OSM_TS_LEN + 1];

    if (len < OSM_TS_LEN + 2 || s[OSM_TS_LEN] != ' ')
        return -EINVAL;
    memcpy(ts, s, OSM_TS_LEN);
    ts[OSM_TS_LEN] = '\0';
    if (since_absolute(ts, ret_ms) < 0)
        return -EINVAL;
    *ret_prio = len > OSM_TS_LEN + 2 && s[OSM_TS_LEN + 1] >= '0' && s[OSM_TS_LEN + 1] <= '7' &&
                        s[OSM_TS_LEN + 2] == ' '
                    ? s[OSM_TS_LEN + 1] - '0'
                    : 6;
    return 0;
}

int proc_log_scan(char *data, size_t len, const struct proc_log_filter *f, json_t *out,
                  size_t *bytes, bool *truncated)
{
    size_t end = len;

    while (end > 0) {
        size_t start = end - 1; /* end: one past the line's '\n' or the data's end */
        int64_t ms = 0;
        int prio = 6;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        size_t n = end - start;
        if (n && data[start + n - 1] == '\n')
            n--;
        end = start;
        bool ours = line_meta(data + start, n, &ms, &prio) == 0;
        if (ours && ms < f->since_ms)
            return 1;
        if (n == 0 || prio > f->max_prio || (!ours && f->since_ms != INT64_MIN))
            continue;
        if (json_array_size(out) == f->want || *bytes + n > SVC_LOG_ANSWER_MAX) {
            *truncated = true;
            return 1;
        }
        osm_utf8_scrub(data + start, n);
        json_array_insert_new(out, 0, json_stringn(data + start, n));
        *bytes += n;
    }
    return 0;
}

int proc_log_read(struct proc_backend *b, const char *name, const struct svc_log_query *q,
                  json_t **ret)
{
    struct proc_log_filter f = {
        .max_prio = 7, .since_ms = INT64_MIN, .want = q && q->lines ? (size_t)q->lines : 50};
    json_auto_t *lines = json_array();
    bool truncated = false;
    size_t bytes = 0;
    int r;

    if (q && q->priority && (f.max_prio = svc_log_parse_priority(q->priority)) < 0)
        return -EINVAL;
    if (q && q->since && svc_log_parse_since(q->since, osm_realtime_ms(), &f.since_ms) < 0)
        return -EINVAL;
    if (q && (q->lines < 0 || q->lines > SVC_LOG_LINES_MAX))
        return -EINVAL;
    if (!lines)
        return -ENOMEM;
    for (int gen = 0; gen <= SVC_LOG_KEEP; gen++) {
        char path[LOG_PATH_MAX];
        _cleanup_free_ char *data = NULL;
        size_t len;
        if ((r = log_path(b, name, gen, path, sizeof(path))) < 0)
            return r;
        r = osm_read_file(path, (size_t)b->log_max_bytes + SVC_LOG_LINE_MAX + 512, &data, &len);
        if (r == -ENOENT)
            continue;
        if (r < 0)
            return r;
        if (proc_log_scan(data, len, &f, lines, &bytes, &truncated))
            break;
    }
    *ret = json_pack("{s:s, s:O, s:b}", "unit", name, "lines", lines, "truncated", truncated);
    return *ret ? 0 : -ENOMEM;
}
