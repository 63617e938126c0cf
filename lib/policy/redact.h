/* Redaction of tool arguments before they are recorded in the ledger. */
#pragma once

#include <jansson.h>

/* A copy of args (new reference) fit for the ledger: values of keys that name secrets
 * (password, secret, token, key, credential, ... and wallet_sign's payload) become
 * "[redacted]", strings longer than OSM_TOOL_ARG_LOG_MAX become their head plus
 * "…[cut: N bytes, sha256 H]". NULL on allocation failure. */
json_t *osm_redact_args(const char *tool, const json_t *args);
