/* Placeholder until this part is written: a backend that knows no service. */
#include <errno.h>
#include <stdlib.h>

#include "svc-internal.h"

static int none(struct svc *s, const char *unit) { return -ENOENT; }
static int none_b(struct svc *s, const char *unit, bool b) { return -ENOENT; }
static int none_j(struct svc *s, const char *unit, json_t **ret) { return -ENOENT; }
static int none_l(struct svc *s, const char *u, const struct svc_log_query *q, json_t **ret)
{
    return -ENOENT;
}
static int none_run(struct svc *s, const struct svc_spec *spec) { return -ENOSYS; }
static int none_list(struct svc *s, const char *prefix, json_t **ret)
{
    *ret = json_array();
    return 0;
}
static int none_pid(struct svc *s, const char *unit, pid_t *ret) { return -ENOENT; }
static void none_free(struct svc *s) { free(s); }

static const struct svc_ops ops = {none, none, none, none, none_b, none, none_j, none_l,
                                   none_run, none, none_list, none_pid, none_free};

int svc_open_process(const struct svc_process_config *cfg, const struct watch_events *ev,
                     struct svc **ret)
{
    struct svc *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    *s = (struct svc){.ops = &ops, .kind = SVC_BACKEND_PROCESS, .events = *ev};
    *ret = s;
    return 0;
}
