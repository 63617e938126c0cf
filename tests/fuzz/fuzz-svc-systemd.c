/* libFuzzer target: the systemd backend's parsers of caller text (daemons/watch/
 * svc-systemd-parse.c): unit names, MemoryMax, CPUQuota, journal priority and since, as an
 * agent's app_deploy and journal_logs arguments reach them. None may crash or read past the
 * string; a value they accept must be in its documented range. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemons/watch/svc-systemd.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), unit[SVC_SYSTEMD_UNIT_MAX];
    uint64_t v, now = 1700000000ULL * 1000000;
    int p;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (svc_systemd_unit_name(text, unit) == 0)
        assert(strlen(unit) < SVC_SYSTEMD_UNIT_MAX && strncmp(unit, text, strlen(text)) == 0);
    if (svc_systemd_parse_bytes(text, &v) == 0)
        assert(v > 0);
    if (svc_systemd_parse_cpu_quota(text, &v) == 0)
        assert(v >= 10000 && v <= SVC_SYSTEMD_CPU_PERCENT_MAX * 10000ULL);
    if (svc_systemd_parse_priority(text, &p) == 0)
        assert(p >= 0 && p <= 7);
    if (svc_systemd_parse_since(text, now, &v) == 0 && strstr(text, " ago"))
        assert(v <= now);
    free(text);
    return 0;
}
