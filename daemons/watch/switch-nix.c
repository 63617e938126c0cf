/* Placeholder until this part is written: the nix-profile and nixos backends answer
 * -EOPNOTSUPP "not built yet". */
#include <errno.h>
#include <stdio.h>

#include "switch-backend.h"

static int not_built(char *err, size_t errlen)
{
    snprintf(err, errlen, "this backend is not built yet");
    return -EOPNOTSUPP;
}

static int nix_validate(const struct switch_env *env, const json_t *plan, char *target,
                        size_t target_len, char *err, size_t errlen)
{
    return not_built(err, errlen);
}

static int nix_prepare(const struct switch_env *env, const json_t *plan, json_t **ret_record,
                       char *err, size_t errlen)
{
    return not_built(err, errlen);
}

static int nix_change(const struct switch_env *env, const json_t *plan, json_t *record, char *err,
                      size_t errlen)
{
    return not_built(err, errlen);
}

static json_t *nix_summary(const json_t *plan, const json_t *record)
{
    return json_object();
}

const struct switch_backend switch_backend_nix_profile = {
    .name = "nix-profile",
    .validate = nix_validate,
    .prepare = nix_prepare,
    .apply = nix_change,
    .rollback = nix_change,
    .summary = nix_summary,
};

const struct switch_backend switch_backend_nixos = {
    .name = "nixos",
    .validate = nix_validate,
    .prepare = nix_prepare,
    .apply = nix_change,
    .rollback = nix_change,
    .summary = nix_summary,
};
