/* Placeholder until this part is written: every operation answers 503 not_enabled. */
#include <errno.h>

#include "checks.h"

int check_parse(const json_t *j, struct check **ret, char *err, size_t errlen) { return -ENOSYS; }
void check_free(struct check *c) {}
json_t *check_json(const struct check *c) { return NULL; }
const char *check_type(const struct check *c) { return "none"; }
int checks_new(struct svc *svc, struct checks **ret) { *ret = NULL; return 0; }
void checks_free(struct checks *e) {}
int checks_start(struct checks *e, const struct check *c, check_done_fn done, void *userdata)
{
    return -ENOSYS;
}
bool checks_run_all(struct checks *e, struct check *const *cs, size_t n, char *detail,
                    size_t detail_len)
{
    return false;
}
