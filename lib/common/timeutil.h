/* Clocks and the one timestamp format of osModa-C: UTC, %Y-%m-%dT%H:%M:%S.mmmZ. */
#pragma once

#include <stdint.h>
#include <time.h>

#define OSM_TS_LEN 24 /* strlen("2026-01-01T00:00:00.000Z") */

/* Writes the current UTC time as 2026-01-01T00:00:00.000Z (24 chars + NUL). */
void osm_now_ts(char ret_ts[static OSM_TS_LEN + 1]);
/* Formats t (seconds) plus ms the same way. */
void osm_format_ts(time_t t, unsigned ms, char ret_ts[static OSM_TS_LEN + 1]);
/* Milliseconds on the monotonic clock, for timeouts. */
int64_t osm_monotonic_ms(void);
/* Milliseconds since the Unix epoch. */
int64_t osm_realtime_ms(void);
