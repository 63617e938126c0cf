/* The credential store (osModa §10.6): <state>/config/credentials.json.enc, 0600, written
 * atomically, in osModa's readable envelope ENC:<iv hex>:<tag hex>:<ciphertext hex> (AES-256-GCM,
 * 16-byte IV, no AAD), so an existing osModa store opens. A plaintext JSON file (osModa's
 * backward-compatible form) is read and rewritten encrypted.
 *
 * The key is not stored beside the ciphertext (osModa kept .credstore-key in the same
 * directory): it comes from OSMODA_CREDSTORE_KEY (64 hex), a systemd credential
 * "gateway-credstore" ($CREDENTIALS_DIRECTORY), or a key file readable only by the gateway's user
 * outside the config directory (--credstore-key-file; made on first start in dev mode). Which one
 * is in force is said plainly in /config/health and at start. An old .credstore-key beside the
 * store is used once to read it, then the operator is told to move it (it is not deleted).
 *
 * Up to GW_CREDS_MAX credentials, secrets 10..GW_SECRET_MAX bytes; the first added becomes the
 * default. <config>/bootstrap-credentials.json ({credentials:[{label, provider, type, secret,
 * base_url?}]}) is absorbed (deduplicated by label+provider+type+first 16 secret chars) and
 * deleted at start. Every change is a ledger event (gateway.credential.*) without the secret. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_CREDS_MAX 64
#define GW_SECRET_MAX 4096
#define GW_CRED_LABEL_MAX 60

struct gw_credstore;

int gw_credstore_open(const char *config_dir, const char *key_file, struct gw_credstore **ret,
                      char *err, size_t errlen);
void gw_credstore_free(struct gw_credstore *s);
const char *gw_credstore_key_source(const struct gw_credstore *s); /* the plain sentence */
/* {default_credential_id, credentials: [redacted: every field but secret, plus
 * secret_preview = first 12 chars + "…" + last 4]} (new reference). */
json_t *gw_credstore_list(struct gw_credstore *s);
/* Adds {label?, provider, type, secret, base_url?}: 0 with the redacted credential; -EINVAL
 * (message in err), -ENOSPC at GW_CREDS_MAX. */
int gw_credstore_add(struct gw_credstore *s, const json_t *in, json_t **ret, char *err,
                     size_t errlen);
int gw_credstore_relabel(struct gw_credstore *s, const char *id, const char *label, json_t **ret);
int gw_credstore_delete(struct gw_credstore *s, const char *id);
int gw_credstore_set_default(struct gw_credstore *s, const char *id);
/* The secret and its fields for a driver (new reference, the caller clears the secret string
 * after use with gw_credstore_forget). -ENOENT. */
int gw_credstore_get(struct gw_credstore *s, const char *id, json_t **ret);
void gw_credstore_forget(json_t *cred);
/* Records a test result (last_tested_at, last_test_ok, last_test_error). */
int gw_credstore_tested(struct gw_credstore *s, const char *id, bool ok, const char *error);
