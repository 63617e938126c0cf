/* Redaction of tool arguments before they are recorded: values under secret-looking keys are
 * replaced, very long strings are cut to a head plus their length and SHA-256. Every daemon that
 * executes tools records calls through this, so a secret never reaches the ledger. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "redact.h"

#define HASH_HEX_LEN (2 * OSM_SHA256_LEN)

static const char *const secret_words[] = {
    "password",   "passwd",   "secret", "token",         "key",    "passphrase", "private",
    "credential", "mnemonic", "seed",   "authorization", "cookie", "signature",
};

static bool secret_key(const char *tool, const char *key)
{
    if (strcmp(tool, "wallet_sign") == 0 && strcmp(key, "payload") == 0)
        return true;
    for (size_t i = 0; i < ELEMENTSOF(secret_words); i++)
        if (strcasestr(key, secret_words[i]))
            return true;
    return false;
}

/* A long string as its head and a note with its length and SHA-256. */
static json_t *cut_string(const char *s, size_t len)
{
    uint8_t h[OSM_SHA256_LEN];
    char hex[HASH_HEX_LEN + 1], *out = NULL;
    size_t keep = OSM_TOOL_ARG_LOG_MAX;
    json_t *v;

    while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
        keep--; /* stay on a UTF-8 boundary */
    if (osm_sha256(s, len, h) < 0)
        return NULL;
    osm_hex_encode(h, sizeof(h), hex);
    if (asprintf(&out, "%.*s…[cut: %zu bytes, sha256 %s]", (int)keep, s, len, hex) < 0)
        return NULL;
    v = json_string(out);
    free(out);
    return v;
}

static json_t *redact(const char *tool, const json_t *v)
{
    const char *key;
    size_t i;
    json_t *item, *out;

    if (json_is_string(v) && json_string_length(v) > OSM_TOOL_ARG_LOG_MAX)
        return cut_string(json_string_value(v), json_string_length(v));
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, item) json_array_append_new(out, redact(tool, item));
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    out = json_object();
    json_object_foreach((json_t *)v, key, item)
        json_object_set_new(out, key,
                            secret_key(tool, key) && !json_is_null(item) ? json_string("[redacted]")
                                                                         : redact(tool, item));
    return out;
}

json_t *osm_redact_args(const char *tool, const json_t *args)
{
    return redact(tool, args);
}
