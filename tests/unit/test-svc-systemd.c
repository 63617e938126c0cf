/* daemons/watch/svc-systemd-parse.c: the systemd backend's parsers of caller text (unit names,
 * MemoryMax, CPUQuota, journal priority and since) take exactly the documented forms, refuse
 * everything else with -EINVAL and leave their output untouched then. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../daemons/watch/svc-systemd.h"

Test(svc_systemd, unit_names)
{
    char u[SVC_SYSTEMD_UNIT_MAX];

    cr_assert_eq(svc_systemd_unit_name("nginx", u), 0);
    cr_expect_str_eq(u, "nginx.service");
    cr_assert_eq(svc_systemd_unit_name("nginx.service", u), 0);
    cr_expect_str_eq(u, "nginx.service");
    cr_assert_eq(svc_systemd_unit_name("backup.timer", u), 0);
    cr_expect_str_eq(u, "backup.timer");
    cr_assert_eq(svc_systemd_unit_name("getty@tty1", u), 0);
    cr_expect_str_eq(u, "getty@tty1.service");
    cr_assert_eq(svc_systemd_unit_name("my.app", u), 0); /* not a unit type: a service */
    cr_expect_str_eq(u, "my.app.service");
    cr_expect_eq(svc_systemd_unit_name(".service", u), -EINVAL);
    cr_expect_eq(svc_systemd_unit_name("a/b", u), -EINVAL);
    cr_expect_eq(svc_systemd_unit_name("a*", u), -EINVAL);
    cr_expect_eq(svc_systemd_unit_name("", u), -EINVAL);
}

Test(svc_systemd, bytes)
{
    static const struct {
        const char *text;
        uint64_t want;
    } ok[] = {{"1", 1},           {"512M", 512ULL << 20}, {"2G", 2ULL << 30},
              {"3T", 3ULL << 40}, {"64K", 65536},         {"infinity", UINT64_MAX}};
    static const char *const bad[] = {"",
                                      "0",
                                      "0M",
                                      "-1",
                                      "1.5G",
                                      "512MB",
                                      "M",
                                      " 1M",
                                      "1M ",
                                      "1P",
                                      "1m",
                                      "inf",
                                      "99999999999T",
                                      "18446744073709551615",
                                      "18446744073709551616"};
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(svc_systemd_parse_bytes(ok[i].text, &v), 0, "%s", ok[i].text);
        cr_expect_eq(v, ok[i].want, "%s", ok[i].text);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        cr_expect_eq(svc_systemd_parse_bytes(bad[i], &v), -EINVAL, "%s", bad[i]);
        cr_expect_eq(v, 7, "%s", bad[i]);
    }
}

Test(svc_systemd, cpu_quota)
{
    static const char *const bad[] = {"",    "%",    "0%",      "50",  "50 %",
                                      "-5%", "1.5%", "100001%", "50%%"};
    uint64_t v;

    cr_assert_eq(svc_systemd_parse_cpu_quota("50%", &v), 0);
    cr_expect_eq(v, 500000);
    cr_assert_eq(svc_systemd_parse_cpu_quota("200%", &v), 0);
    cr_expect_eq(v, 2000000);
    cr_assert_eq(svc_systemd_parse_cpu_quota("1%", &v), 0);
    cr_expect_eq(v, 10000);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        cr_expect_eq(svc_systemd_parse_cpu_quota(bad[i], &v), -EINVAL, "%s", bad[i]);
        cr_expect_eq(v, 7);
    }
}

Test(svc_systemd, priority)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    char digit[2] = "0";
    int p;

    for (int i = 0; i < 8; i++) {
        cr_assert_eq(svc_systemd_parse_priority(names[i], &p), 0);
        cr_expect_eq(p, i);
        digit[0] = (char)('0' + i);
        cr_assert_eq(svc_systemd_parse_priority(digit, &p), 0);
        cr_expect_eq(p, i);
    }
    p = 99;
    cr_expect_eq(svc_systemd_parse_priority("8", &p), -EINVAL);
    cr_expect_eq(svc_systemd_parse_priority("07", &p), -EINVAL);
    cr_expect_eq(svc_systemd_parse_priority("ERR", &p), -EINVAL);
    cr_expect_eq(svc_systemd_parse_priority("", &p), -EINVAL);
    cr_expect_eq(p, 99);
}

Test(svc_systemd, since)
{
    const uint64_t now = 1700000000ULL * 1000000;
    static const char *const bad[] = {"",
                                      "yesterday",
                                      "5 minutes",
                                      "5 fortnights ago",
                                      "5 minutes ago ",
                                      " 5 minutes ago",
                                      "5  minutes ago",
                                      "-5 minutes ago",
                                      "5 minutesss ago",
                                      "99999999999 days ago",
                                      "2024-01-01",
                                      "2024-01-01T00:00:00",
                                      "2024-13-01 00:00:00",
                                      "2024-01-01 00:00:00Z"};
    uint64_t v;

    cr_assert_eq(svc_systemd_parse_since("2023-11-14 22:13:20", now, &v), 0);
    cr_expect_eq(v, 1700000000ULL * 1000000);
    cr_assert_eq(svc_systemd_parse_since("90 seconds ago", now, &v), 0);
    cr_expect_eq(v, now - 90ULL * 1000000);
    cr_assert_eq(svc_systemd_parse_since("1 minute ago", now, &v), 0);
    cr_expect_eq(v, now - 60ULL * 1000000);
    cr_assert_eq(svc_systemd_parse_since("2 hours ago", now, &v), 0);
    cr_expect_eq(v, now - 7200ULL * 1000000);
    cr_assert_eq(svc_systemd_parse_since("1 day ago", now, &v), 0);
    cr_expect_eq(v, now - 86400ULL * 1000000);
    cr_assert_eq(svc_systemd_parse_since("36500 days ago", 1000, &v), 0);
    cr_expect_eq(v, 0); /* before the epoch: from the start */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        cr_expect_eq(svc_systemd_parse_since(bad[i], now, &v), -EINVAL, "%s", bad[i]);
        cr_expect_eq(v, 7, "%s", bad[i]);
    }
}
