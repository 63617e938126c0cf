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
#define GW_SECRET_MIN 10
#define GW_CRED_URL_MAX 512
#define GW_CREDSTORE_FILE "credentials.json.enc"
#define GW_CREDSTORE_BOOTSTRAP "bootstrap-credentials.json"
#define GW_CREDSTORE_LEGACY_KEY ".credstore-key" /* osModa's key beside the store */
#define GW_CREDSTORE_KEY_ENV "OSMODA_CREDSTORE_KEY"
#define GW_CREDSTORE_SYSTEMD_CRED "gateway-credstore"
#define GW_CREDSTORE_FILE_MAX (2 * 1024 * 1024)

struct gw_credstore;

/* Opens the store with the key from the first source that is set (key_file may be NULL:
 * <state>/gateway/credstore.key then). -errno with the reason in err: the gateway does not start
 * (a refused key file, a store no key opens). */
int gw_credstore_open(const char *config_dir, const char *key_file, struct gw_credstore **ret,
                      char *err, size_t errlen);
/* How each change is recorded before it is made: record(ud, type, payload without the secret)
 * returns 0 or -errno. Without a recorder, or when it fails, nothing changes and the change
 * returns -ENOTCONN. */
typedef int (*gw_credstore_record_fn)(void *ud, const char *type, const json_t *payload);
void gw_credstore_set_recorder(struct gw_credstore *s, gw_credstore_record_fn record, void *ud);
/* Absorbs <config>/bootstrap-credentials.json (each new credential recorded as an add with
 * source "bootstrap") and deletes it: the number added, or -errno (the file is kept when an
 * event could not be recorded). */
int gw_credstore_bootstrap(struct gw_credstore *s, char *err, size_t errlen);
/* Checks a base_url: https, or http on loopback; never link-local or a metadata address. 0 or
 * -EINVAL with the reason; *ret_loopback says whether it names this machine. */
int gw_credstore_url_check(const char *url, bool *ret_loopback, char *err, size_t errlen);
int gw_credstore_count(struct gw_credstore *s);
void gw_credstore_free(struct gw_credstore *s);
const char *gw_credstore_key_source(const struct gw_credstore *s); /* the plain sentence */
/* {default_credential_id, credentials: [redacted: every field but secret, plus
 * secret_preview = first 12 chars + "…" + last 4]} (new reference). */
json_t *gw_credstore_list(struct gw_credstore *s);
/* Adds {label?, provider, type, secret, base_url?}: 0 with the redacted credential; -EINVAL
 * (message in err), -ENOSPC at GW_CREDS_MAX. The changes return -ENOENT for an unknown id and
 * -ENOTCONN when the change could not be recorded. */
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
