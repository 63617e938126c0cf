/* Capability tokens and signed decisions (contract in token.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "token.h"

bool osm_token_field_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0 && n <= OSM_TOKEN_FIELD_MAX && !strpbrk(s, "|,\n");
}

/* Appends "%s%s" to buf at *off; -EINVAL when it does not fit. */
static int append(char *buf, size_t len, size_t *off, const char *sep, const char *s)
{
    int n = snprintf(buf + *off, len - *off, "%s%s", sep, s);

    if (n < 0 || (size_t)n >= len - *off)
        return -EINVAL;
    *off += (size_t)n;
    return 0;
}

int osm_token_canonical(const char *id, const char *granted_to, const json_t *perms,
                        const char *expires_at, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *p;

    if (!osm_token_field_ok(id) || !osm_token_field_ok(granted_to) ||
        !osm_token_field_ok(expires_at) || !json_is_array(perms) ||
        json_array_size(perms) > OSM_TOKEN_PERMS_MAX || len == 0)
        return -EINVAL;
    buf[0] = '\0';
    if (append(buf, len, &off, "", id) < 0 || append(buf, len, &off, "|", granted_to) < 0 ||
        append(buf, len, &off, "|", "") < 0)
        return -EINVAL;
    json_array_foreach(perms, i, p)
    {
        if (!osm_token_field_ok(json_string_value(p)) ||
            append(buf, len, &off, i ? "," : "", json_string_value(p)) < 0)
            return -EINVAL;
    }
    return append(buf, len, &off, "|", expires_at);
}

static bool signature_ok(const uint8_t pk[static 32], const char *msg, const char *sig_hex)
{
    uint8_t sig[OSM_ED25519_SIG_LEN];

    return sig_hex && strlen(sig_hex) == OSM_SIGNATURE_HEX_LEN &&
           osm_hex_decode(sig_hex, OSM_SIGNATURE_HEX_LEN, sig, sizeof(sig)) == 0 &&
           osm_ed25519_verify(pk, msg, strlen(msg), sig);
}

int osm_token_verify(const uint8_t pk[static 32], const json_t *token, const char **ret_reason)
{
    const char *id = NULL, *to = NULL, *exp = NULL, *sig = NULL;
    json_t *perms = NULL;
    char buf[OSM_TOKEN_CANONICAL_MAX], now[OSM_TS_LEN + 1];

    if (!json_is_object(token) ||
        json_unpack((json_t *)token, "{s:s, s:s, s:o, s:s, s:s}", "id", &id, "granted_to", &to,
                    "permissions", &perms, "expires_at", &exp, "signature", &sig) < 0 ||
        strlen(exp) != OSM_TS_LEN ||
        osm_token_canonical(id, to, perms, exp, buf, sizeof(buf)) < 0) {
        *ret_reason = "malformed token";
        return -EINVAL;
    }
    if (!signature_ok(pk, buf, sig)) {
        *ret_reason = "signature mismatch";
        return -EKEYREJECTED;
    }
    osm_now_ts(now);
    if (strcmp(exp, now) <= 0) {
        *ret_reason = "token expired";
        return -ETIME;
    }
    return 0;
}

json_t *osm_token_parse(const json_t *given)
{
    json_t *o;

    if (json_is_object(given))
        return json_incref((json_t *)given);
    if (!json_is_string(given))
        return NULL;
    o = json_loads(json_string_value(given), JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(o))
        return o;
    json_decref(o);
    return NULL;
}

static const char *const decision_keys[] = {"id",       "daemon", "tool",      "args_hash",
                                            "decision", "mode",   "expires_at"};

int osm_decision_canonical(const json_t *d, char *buf, size_t len)
{
    size_t off = 0;

    if (len == 0)
        return -EINVAL;
    buf[0] = '\0';
    if (append(buf, len, &off, "", "osmoda-decision-v1") < 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(decision_keys) / sizeof(decision_keys[0]); i++) {
        const char *v = json_string_value(json_object_get(d, decision_keys[i]));
        /* mode and expires_at may be empty; the others may not */
        if (!v || (i < 5 && !osm_token_field_ok(v)) || strpbrk(v, "|,\n") ||
            strlen(v) > OSM_TOKEN_FIELD_MAX || append(buf, len, &off, "|", v) < 0)
            return -EINVAL;
    }
    return 0;
}

bool osm_decision_verify(const uint8_t pk[static 32], const json_t *d)
{
    char buf[8 * (OSM_TOKEN_FIELD_MAX + 1) + 32];

    return osm_decision_canonical(d, buf, sizeof(buf)) == 0 &&
           signature_ok(pk, buf, json_string_value(json_object_get(d, "signature")));
}
