/* The systemd backend's private limits and its parsers of caller text (unit names, MemoryMax,
 * CPUQuota, journal priority and since), apart so that unit tests and the fuzz target reach
 * them. Every parser returns 0 or -EINVAL and writes its output only on success. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "svc.h"

#define SVC_SYSTEMD_JOB_TIMEOUT_MS                                                                 \
    100000                        /* a job systemd has not finished by then: -ETIMEDOUT            \
                                     (systemd's own start timeout is 90 s) */
#define SVC_SYSTEMD_LINE_MAX 2048 /* bytes of one journal line; longer ones are cut */
#define SVC_SYSTEMD_UNIT_MAX (SVC_NAME_MAX + sizeof(".service"))
#define SVC_SYSTEMD_CPU_PERCENT_MAX 100000 /* CPUQuota: 1000 CPUs */
#define SVC_SYSTEMD_SINCE_MAX_S (100LL * 365 * 86400)

/* "nginx" → "nginx.service"; a name that already ends in a unit type suffix stays as it is. */
int svc_systemd_unit_name(const char *name, char ret[static SVC_SYSTEMD_UNIT_MAX]);
/* MemoryMax text: digits with an optional K, M, G or T suffix (powers of 1024), or "infinity"
 * (UINT64_MAX). Zero is refused. */
int svc_systemd_parse_bytes(const char *text, uint64_t *ret);
/* CPUQuota text: "N%" (1..SVC_SYSTEMD_CPU_PERCENT_MAX) as microseconds of CPU per second. */
int svc_systemd_parse_cpu_quota(const char *text, uint64_t *ret_usec_per_s);
/* Journal priority: "emerg".."debug" or "0".."7". */
int svc_systemd_parse_priority(const char *text, int *ret);
/* "YYYY-MM-DD HH:MM:SS" (UTC) or "N second(s)|minute(s)|hour(s)|day(s) ago" relative to now,
 * as microseconds since the epoch. */
int svc_systemd_parse_since(const char *text, uint64_t now_usec, uint64_t *ret_usec);

/* The logs operation of the backend (svc-systemd-journal.c). */
int svc_systemd_logs(struct svc *s, const char *unit, const struct svc_log_query *q, json_t **ret);
