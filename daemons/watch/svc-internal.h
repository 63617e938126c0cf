/* What a service backend implements behind svc.h. */
#pragma once

#include "svc.h"

struct svc_ops {
    int (*start)(struct svc *s, const char *unit);
    int (*stop)(struct svc *s, const char *unit);
    int (*restart)(struct svc *s, const char *unit);
    int (*reload_or_restart)(struct svc *s, const char *unit);
    int (*enable)(struct svc *s, const char *unit, bool enable);
    int (*is_active)(struct svc *s, const char *unit);
    int (*status)(struct svc *s, const char *unit, json_t **ret);
    int (*logs)(struct svc *s, const char *unit, const struct svc_log_query *q, json_t **ret);
    int (*run)(struct svc *s, const struct svc_spec *spec);
    int (*remove)(struct svc *s, const char *unit);
    int (*list)(struct svc *s, const char *prefix, json_t **ret);
    int (*main_pid)(struct svc *s, const char *unit, pid_t *ret);
    void (*free)(struct svc *s);
};

/* Every backend's state starts with this. */
struct svc {
    const struct svc_ops *ops;
    enum svc_backend_kind kind;
    struct watch_events events;
};
