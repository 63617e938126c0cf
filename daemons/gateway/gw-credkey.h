/* The credential store's key and its envelope (internal to the store): where the key comes from
 * (the environment, a systemd credential, a key file refused when others could read it or when
 * it lies inside config/), and osModa's ENC:<iv hex>:<tag hex>:<ct hex> AES-256-GCM format. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_KEY_LEN 32
#define GW_GCM_IV_LEN 16 /* osModa's, not GCM's usual 12 */
#define GW_GCM_TAG_LEN 16
#define GW_KEY_SOURCE_MAX 512

/* Finds the key: OSMODA_CREDSTORE_KEY (64 hex) > $CREDENTIALS_DIRECTORY/gateway-credstore >
 * key_file (made with random bytes when missing; *ret_made says so). ret_source gets the plain
 * sentence. -errno with the reason in err. */
int gw_credkey_load(const char *config_dir, const char *key_file, uint8_t key[static GW_KEY_LEN],
                    char *ret_source, size_t source_len, bool *ret_made, char *err, size_t errlen);
/* osModa's key beside the store (first 32 bytes of <config>/.credstore-key): 0, -ENOENT. */
int gw_credkey_legacy(const char *config_dir, uint8_t key[static GW_KEY_LEN]);
/* Encrypts len bytes into a new "ENC:iv:tag:ct" string (NULL on failure). */
char *gw_envelope_seal(const uint8_t key[static GW_KEY_LEN], const char *plain, size_t len);
/* Decrypts an envelope into a new NUL-terminated buffer (the caller wipes and frees it):
 * 0, -EINVAL (not an envelope), -EBADMSG (wrong key or tampered). */
int gw_envelope_open(const uint8_t key[static GW_KEY_LEN], const char *env, size_t env_len,
                     char **ret_plain, size_t *ret_len);
