/* The systemd backend's parsers of caller text: unit names, MemoryMax, CPUQuota, the journal's
 * priority and since. Strict: a whole string is one value or -EINVAL. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "svc-systemd.h"

static const char *const unit_suffixes[] = {
    ".service", ".socket", ".target", ".timer", ".mount",  ".automount",
    ".path",    ".slice",  ".scope",  ".swap",  ".device",
};

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

int svc_systemd_unit_name(const char *name, char ret[static SVC_SYSTEMD_UNIT_MAX])
{
    size_t n;

    if (!svc_name_valid(name))
        return -EINVAL;
    n = strlen(name);
    for (size_t i = 0; i < ELEMENTSOF(unit_suffixes); i++)
        if (ends_with(name, n, unit_suffixes[i])) {
            memcpy(ret, name, n + 1);
            return 0;
        }
    snprintf(ret, SVC_SYSTEMD_UNIT_MAX, "%s.service", name);
    return 0;
}

/* Decimal digits only, no sign, no overflow; *end is left after the last digit. */
static int parse_digits(const char *s, const char **end, uint64_t *ret)
{
    uint64_t v = 0;
    const char *p = s;

    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -EINVAL;
    *end = p;
    *ret = v;
    return 0;
}

int svc_systemd_parse_bytes(const char *text, uint64_t *ret)
{
    static const char suffixes[] = "KMGT";
    const char *end, *k;
    uint64_t v;
    unsigned shift = 0;

    if (!text)
        return -EINVAL;
    if (strcmp(text, "infinity") == 0)
        return *ret = UINT64_MAX, 0;
    if (parse_digits(text, &end, &v) < 0)
        return -EINVAL;
    if (*end) {
        if (end[1] != '\0' || !(k = strchr(suffixes, *end)))
            return -EINVAL;
        shift = 10 * (unsigned)(k - suffixes + 1);
    }
    if (v == 0 || v > (UINT64_MAX >> shift) - 1)
        return -EINVAL;
    *ret = v << shift;
    return 0;
}

int svc_systemd_parse_cpu_quota(const char *text, uint64_t *ret_usec_per_s)
{
    const char *end;
    uint64_t v;

    if (!text || parse_digits(text, &end, &v) < 0 || strcmp(end, "%") != 0)
        return -EINVAL;
    if (v == 0 || v > SVC_SYSTEMD_CPU_PERCENT_MAX)
        return -EINVAL;
    *ret_usec_per_s = v * 10000; /* 100% = one CPU = 1 s per second */
    return 0;
}

int svc_systemd_parse_priority(const char *text, int *ret)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};

    if (!text)
        return -EINVAL;
    if (text[0] >= '0' && text[0] <= '7' && text[1] == '\0')
        return *ret = text[0] - '0', 0;
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (strcmp(text, names[i]) == 0)
            return *ret = (int)i, 0;
    return -EINVAL;
}

static int parse_ago(const char *text, uint64_t now_usec, uint64_t *ret)
{
    static const struct {
        const char *name;
        uint64_t secs;
    } units[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}};
    const char *end;
    uint64_t n, back;
    char unit[16], tail[8];

    if (parse_digits(text, &end, &n) < 0 || *end != ' ')
        return -EINVAL;
    if (sscanf(end, " %15[a-z] %7s", unit, tail) != 2 || strcmp(tail, "ago") != 0)
        return -EINVAL;
    if (strlen(end) != 1 + strlen(unit) + 1 + 3) /* exactly " <unit> ago" */
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        size_t k = strlen(units[i].name);
        if (strncmp(unit, units[i].name, k) != 0 || (unit[k] && strcmp(unit + k, "s") != 0))
            continue;
        if (n > SVC_SYSTEMD_SINCE_MAX_S / units[i].secs)
            return -EINVAL;
        back = n * units[i].secs * 1000000;
        *ret = back < now_usec ? now_usec - back : 0;
        return 0;
    }
    return -EINVAL;
}

int svc_systemd_parse_since(const char *text, uint64_t now_usec, uint64_t *ret_usec)
{
    struct tm tm = {0};
    const char *end;
    time_t t;

    if (!text || strlen(text) > 64)
        return -EINVAL;
    if (strlen(text) == 19 && text[4] == '-' && text[10] == ' ') {
        end = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
        if (!end || *end || (t = timegm(&tm)) < 0)
            return -EINVAL;
        *ret_usec = (uint64_t)t * 1000000;
        return 0;
    }
    return parse_ago(text, now_usec, ret_usec);
}
