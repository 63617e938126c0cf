/* Clocks and timestamp formatting. */
#include <stdio.h>

#include "timeutil.h"

void osm_format_ts(time_t t, unsigned ms, char ret_ts[static OSM_TS_LEN + 1])
{
    struct tm tm;
    size_t n;

    gmtime_r(&t, &tm);
    n = strftime(ret_ts, OSM_TS_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ret_ts + n, OSM_TS_LEN + 1 - n, ".%03uZ", ms % 1000);
}

void osm_now_ts(char ret_ts[static OSM_TS_LEN + 1])
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    osm_format_ts(ts.tv_sec, (unsigned)(ts.tv_nsec / 1000000), ret_ts);
}

int64_t osm_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t osm_realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
