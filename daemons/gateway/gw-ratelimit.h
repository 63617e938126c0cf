/* Rate limits of the gateway's API: a token bucket per key ("t:<token id>:r", "a:<address>:w"),
 * refilled continuously at per_min / 60 per second up to per_min. The table is bounded: when a
 * key is new and its probe window is taken, the bucket used least recently is reused (so a
 * client idle the longest may find its bucket full again, never emptier). */
#pragma once

#include <stdint.h>

#define GW_RATE_SLOTS 1024 /* buckets kept */
#define GW_RATE_PROBE 16   /* slots looked at per key */
#define GW_RATE_KEY_MAX 96

struct gw_rate;

int gw_rate_new(struct gw_rate **ret);
void gw_rate_free(struct gw_rate *r);
/* Takes one request for key at now_ms (monotonic): 0, or -EBUSY with *ret_retry_s the whole
 * seconds until the next request would pass. per_min 0 means no limit. */
int gw_rate_take(struct gw_rate *r, const char *key, unsigned per_min, int64_t now_ms,
                 unsigned *ret_retry_s);
