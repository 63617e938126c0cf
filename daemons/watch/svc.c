/* The service interface: name checks and dispatch to the backend. */
#include <errno.h>
#include <string.h>

#include "svc-internal.h"

bool svc_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > SVC_NAME_MAX || name[0] == '-' || name[0] == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._:-", *c))
            return false;
    return true;
}

void svc_free(struct svc *s)
{
    if (s)
        s->ops->free(s);
}

enum svc_backend_kind svc_kind(const struct svc *s)
{
    return s->kind;
}

const char *svc_kind_name(const struct svc *s)
{
    return s->kind == SVC_BACKEND_SYSTEMD ? "systemd" : "process";
}

#define UNIT_OP(fn, ...)                                                                           \
    do {                                                                                           \
        if (!svc_name_valid(unit))                                                                 \
            return -EINVAL;                                                                        \
        return s->ops->fn(s, unit, ##__VA_ARGS__);                                                 \
    } while (0)

int svc_start(struct svc *s, const char *unit)
{
    UNIT_OP(start);
}
int svc_stop(struct svc *s, const char *unit)
{
    UNIT_OP(stop);
}
int svc_restart(struct svc *s, const char *unit)
{
    UNIT_OP(restart);
}
int svc_reload_or_restart(struct svc *s, const char *unit)
{
    UNIT_OP(reload_or_restart);
}
int svc_enable(struct svc *s, const char *unit, bool enable)
{
    UNIT_OP(enable, enable);
}
int svc_is_active(struct svc *s, const char *unit)
{
    UNIT_OP(is_active);
}
int svc_status(struct svc *s, const char *unit, json_t **ret)
{
    UNIT_OP(status, ret);
}
int svc_remove(struct svc *s, const char *unit)
{
    UNIT_OP(remove);
}
int svc_main_pid(struct svc *s, const char *unit, pid_t *ret)
{
    UNIT_OP(main_pid, ret);
}

int svc_logs(struct svc *s, const char *unit, const struct svc_log_query *q, json_t **ret)
{
    UNIT_OP(logs, q, ret);
}

int svc_run(struct svc *s, const struct svc_spec *spec)
{
    if (!svc_name_valid(spec->name) || !spec->argv || !spec->argv[0] || spec->argv[0][0] != '/')
        return -EINVAL;
    return s->ops->run(s, spec);
}

int svc_list(struct svc *s, const char *prefix, json_t **ret)
{
    return s->ops->list(s, prefix, ret);
}
