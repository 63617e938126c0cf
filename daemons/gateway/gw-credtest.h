/* Testing a credential (POST /config/credentials/{id}/test): osModa's format checks, and a
 * GET <base_url>/v1/models only when the base_url names this machine — never the network. */
#pragma once

#include <jansson.h>

#define GW_CREDTEST_TIMEOUT_MS 10000
#define GW_CREDTEST_REPLY_MAX (1024 * 1024)
#define GW_CREDTEST_MODELS_MAX 200
#define GW_ANTHROPIC_SECRET_MIN 20

/* {ok, error?, model_list?, checked: "format"|"request"} for a credential with its secret
 * (lent) (new reference, NULL on ENOMEM). */
json_t *gw_credtest_run(const json_t *cred);
