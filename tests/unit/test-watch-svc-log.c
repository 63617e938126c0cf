/* The process backend's pure parts: journal_logs query texts, the newest-first log scan with its
 * filters and caps, and the READY=1 test of an sd_notify datagram. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "svc-process-internal.h"

#define NOW 1767225600000LL /* 2026-01-01T00:00:00.000Z */

Test(svc_log, priority_names_and_digits)
{
    cr_assert_eq(svc_log_parse_priority("err"), 3);
    cr_assert_eq(svc_log_parse_priority("ERROR"), 3);
    cr_assert_eq(svc_log_parse_priority("warning"), 4);
    cr_assert_eq(svc_log_parse_priority("debug"), 7);
    cr_assert_eq(svc_log_parse_priority("0"), 0);
    cr_assert_eq(svc_log_parse_priority("8"), -EINVAL);
    cr_assert_eq(svc_log_parse_priority("77"), -EINVAL);
    cr_assert_eq(svc_log_parse_priority("loud"), -EINVAL);
    cr_assert_eq(svc_log_parse_priority(""), -EINVAL);
}

Test(svc_log, since_relative_and_absolute)
{
    int64_t ms;

    cr_assert_eq(svc_log_parse_since("10 minutes ago", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 600000);
    cr_assert_eq(svc_log_parse_since("1 hour ago", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 3600000);
    cr_assert_eq(svc_log_parse_since("2026-01-01 00:00:10", NOW, &ms), 0);
    cr_assert_eq(ms, NOW + 10000);
    cr_assert_eq(svc_log_parse_since("2026-01-01T00:00:00.250Z", NOW, &ms), 0);
    cr_assert_eq(ms, NOW + 250);
    const char *bad[] = {"yesterday",
                         "10 fortnights ago",
                         "10 minutes",
                         "2026-13-01 00:00:00",
                         "2026-01-01 00:00:00Z",
                         "2026-01-01T00:00:00",
                         "-5 minutes ago",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(svc_log_parse_since(bad[i], NOW, &ms), -EINVAL, "%s", bad[i]);
}

static json_t *scan(const char *text, int prio, int64_t since, size_t want, bool *truncated)
{
    char *copy = strdup(text);
    json_t *out = json_array();
    size_t bytes = 0;
    struct proc_log_filter f = {.max_prio = prio, .since_ms = since, .want = want};

    *truncated = false;
    proc_log_scan(copy, strlen(copy), &f, out, &bytes, truncated);
    free(copy);
    return out;
}

static const char LOG[] = "2026-01-01T00:00:00.000Z 6 web[1]: one\n"
                          "2026-01-01T00:00:01.000Z 3 web[1]: two\n"
                          "2026-01-01T00:00:02.000Z 6 web[1]: three\n"
                          "2026-01-01T00:00:03.000Z 3 web[1]: four\n";

Test(svc_log, scan_newest_lines_oldest_first)
{
    bool t;
    json_t *out = scan(LOG, 7, INT64_MIN, 2, &t);

    cr_assert_eq(json_array_size(out), 2);
    cr_assert(strstr(json_string_value(json_array_get(out, 0)), "three"));
    cr_assert(strstr(json_string_value(json_array_get(out, 1)), "four"));
    cr_assert(t, "more lines matched than were returned");
    json_decref(out);
}

Test(svc_log, scan_priority_and_since)
{
    bool t;
    json_t *out = scan(LOG, 3, INT64_MIN, 10, &t);

    cr_assert_eq(json_array_size(out), 2);
    cr_assert(strstr(json_string_value(json_array_get(out, 0)), "two"));
    cr_assert_not(t);
    json_decref(out);
    out = scan(LOG, 7, NOW + 2000, 10, &t);
    cr_assert_eq(json_array_size(out), 2);
    cr_assert(strstr(json_string_value(json_array_get(out, 0)), "three"));
    json_decref(out);
}

Test(svc_log, scan_scrubs_bytes_that_are_not_utf8)
{
    bool t;
    json_t *out = scan("2026-01-01T00:00:00.000Z 6 web[1]: \xff\xfe ok\n", 7, INT64_MIN, 5, &t);

    cr_assert_eq(json_array_size(out), 1);
    cr_assert(strstr(json_string_value(json_array_get(out, 0)), "?? ok"));
    json_decref(out);
}

Test(svc_notify, ready_only_as_a_whole_line)
{
    cr_assert(proc_notify_ready("READY=1", 7));
    cr_assert(proc_notify_ready("STATUS=x\nREADY=1\n", 17));
    cr_assert_not(proc_notify_ready("READY=10", 8));
    cr_assert_not(proc_notify_ready("XREADY=1", 8));
    cr_assert_not(proc_notify_ready("READY=", 6));
}
