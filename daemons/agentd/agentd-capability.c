/* agentd's signing key and capability tokens (osModa §1.1 /capability/mint and /verify), signed
 * with Ed25519 instead of a per-boot HMAC key, so they survive restarts, and enforced by every
 * executor (lib/exec): a tool call that presents a token may use exactly the tools its
 * permissions name, and a token that fails verification refuses the call. The same key signs
 * approval decisions (lib/exec/token.h has both formats). The key is <state>/capability.key (hex
 * seed, 0600); daemons get the public key from the daemons socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-approvals.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "crypto/ed25519.h"
#include "crypto/secret.h"
#include "exec/token.h"

#define KEY_HEX_LEN (2 * OSM_ED25519_SEED_LEN)
#define CAPABILITY_KEY_NAME "capability.key"

/* ---- the key ---------------------------------------------------------------------------- */

static int key_create(const char *path)
{
    uint8_t seed[OSM_ED25519_SEED_LEN];
    char hex[KEY_HEX_LEN + 2];
    int r = osm_ed25519_seed_random(seed);

    if (r < 0)
        return r;
    osm_hex_encode(seed, sizeof(seed), hex);
    strcat(hex, "\n");
    r = osm_write_file_atomic(path, hex, KEY_HEX_LEN + 1, 0600);
    osm_secret_zero(seed, sizeof(seed));
    osm_secret_zero(hex, sizeof(hex));
    return r;
}

/* Reads the hex seed from a file only its owner can read. */
static int key_read(const char *path, uint8_t seed[static OSM_ED25519_SEED_LEN])
{
    char buf[KEY_HEX_LEN + 3]; /* the hex, a newline, the NUL */
    size_t len;
    int r = osm_read_secret_file(path, buf, sizeof(buf), &len);

    if (r >= 0)
        r = len < KEY_HEX_LEN ? -EINVAL
                              : osm_hex_decode(buf, KEY_HEX_LEN, seed, OSM_ED25519_SEED_LEN);
    osm_secret_zero(buf, sizeof(buf));
    return r;
}

int agentd_capability_load(struct agentd *ad)
{
    _cleanup_free_ char *path = osm_path_join(ad->paths.state_dir, CAPABILITY_KEY_NAME);
    uint8_t seed[OSM_ED25519_SEED_LEN];
    int r;

    if (!path)
        return -ENOMEM;
    r = key_read(path, seed);
    if (r == -ENOENT && (r = key_create(path)) == 0) {
        log_info("capability.key", "path=%s note=\"created\"", path);
        r = key_read(path, seed);
    }
    if (r < 0) {
        log_error("capability.key", "path=%s error=%d reason=\"%s\"", path, r,
                  r == -EPERM ? "others can read the key file" : strerror(-r));
        return r;
    }
    ad->sign_sk = sodium_malloc(OSM_ED25519_SECRET_LEN);
    if (!ad->sign_sk)
        r = -ENOMEM;
    else
        r = osm_ed25519_keypair(seed, ad->sign_pk, ad->sign_sk);
    osm_secret_zero(seed, sizeof(seed));
    return r;
}

void agentd_capability_free(struct agentd *ad)
{
    if (ad->sign_sk) {
        sodium_free(ad->sign_sk); /* zeroes it */
        ad->sign_sk = NULL;
    }
}

int agentd_sign(struct agentd *ad, const void *msg, size_t len, char sig[static 129])
{
    uint8_t raw[OSM_ED25519_SIG_LEN];
    int r;

    if (!ad->sign_sk)
        return -ENOKEY;
    if ((r = osm_ed25519_sign(ad->sign_sk, msg, len, raw)) < 0)
        return r;
    osm_hex_encode(raw, sizeof(raw), sig);
    return 0;
}

/* ---- routes ----------------------------------------------------------------------------- */

static json_t *check_permissions(struct osm_request *req, const json_t *perms)
{
    size_t i;
    json_t *p;

    if (json_array_size(perms) > OSM_TOKEN_PERMS_MAX)
        return agentd_field_error(req, "permissions", "has too many entries");
    json_array_foreach(perms, i, p)
    {
        const char *s = json_string_value(p);
        if (!osm_token_field_ok(s))
            return agentd_field_error(req, "permissions",
                                      "entries must be non-empty, without '|' or ','");
        if (strncmp(s, "class:", 6) == 0) {
            bool known = false;
            for (int c = OSM_CLASS_READ; c <= OSM_CLASS_PRIVILEGED; c++)
                known |= strcmp(s + 6, osm_tool_class_name((enum osm_tool_class)c)) == 0;
            if (!known)
                return agentd_field_error(req, "permissions", "names an unknown class");
        } else if (!osm_tool_find(s, NULL)) {
            return osm_error(req, 422, "invalid_field",
                             json_pack("{s:s, s:s}", "field", "permissions", "tool", s),
                             "permissions names an unknown tool: %s", s);
        }
    }
    return NULL;
}

/* Builds and signs a token (new reference). */
static json_t *token_new(struct agentd *ad, const char *to, const json_t *perms, int64_t ttl)
{
    char id[OSM_EXEC_ID_LEN + 1], created[OSM_TS_LEN + 1], expires[OSM_TS_LEN + 1];
    char buf[OSM_TOKEN_CANONICAL_MAX], hex[OSM_SIGNATURE_HEX_LEN + 1];
    int64_t now = osm_realtime_ms();

    osm_uuid(id);
    osm_format_ts((time_t)(now / 1000), (unsigned)(now % 1000), created);
    osm_format_ts((time_t)(now / 1000 + ttl), (unsigned)(now % 1000), expires);
    if (osm_token_canonical(id, to, perms, expires, buf, sizeof(buf)) < 0 ||
        agentd_sign(ad, buf, strlen(buf), hex) < 0)
        return NULL;
    return json_pack("{s:s, s:s, s:O, s:s, s:s, s:s}", "id", id, "granted_to", to, "permissions",
                     perms, "created_at", created, "expires_at", expires, "signature", hex);
}

json_t *agentd_capability_mint(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    json_t *to = NULL, *perms = NULL, *ttl = NULL, *err, *token, *payload;
    const struct agentd_field fields[] = {
        {"granted_to", AGENTD_FIELD_STRING, true, &to},
        {"permissions", AGENTD_FIELD_STRING_ARRAY, true, &perms},
        {"ttl_secs", AGENTD_FIELD_COUNT, false, &ttl},
    };
    int64_t ttl_s;
    char actor[64];
    int r;

    if (!ad->sign_sk)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    ttl_s = ttl ? json_integer_value(ttl) : OSM_TOKEN_TTL_S;
    if (ttl_s < 1 || ttl_s > AGENTD_APPROVAL_TTL_MAX_S)
        return agentd_field_error(req, "ttl_secs", "must be from 1 to 2592000");
    if (!osm_token_field_ok(json_string_value(to)))
        return agentd_field_error(req, "granted_to", "must be 1-256 chars without '|' or ','");
    if ((err = check_permissions(req, perms)))
        return err;
    token = token_new(ad, json_string_value(to), perms, ttl_s);
    if (!token)
        return osm_error_errno(req, -ENOMEM, "cannot sign the token");
    payload =
        json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(token, "id"), "granted_to", to,
                  "permissions", perms, "expires_at", json_object_get(token, "expires_at"));
    snprintf(actor, sizeof(actor), "uid:%u", (unsigned)req->peer.uid);
    r = payload ? agentd_record(ad, "capability.mint", actor, payload, NULL, NULL, NULL) : -ENOMEM;
    json_decref(payload);
    if (r < 0) {
        json_decref(token);
        return agentd_record_error(req, r, "capability.mint");
    }
    return token;
}

json_t *agentd_capability_verify(struct osm_request *req)
{
    struct agentd *ad = AGENTD(req);
    json_t *given = NULL, *err;
    json_auto_t *token = NULL;
    const struct agentd_field fields[] = {{"token", AGENTD_FIELD_ANY, true, &given}};
    const char *reason = NULL;

    if (!ad->sign_sk)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    if (!(token = osm_token_parse(given)))
        return agentd_field_error(req, "token", "must be the token object or its JSON text");
    if (osm_token_verify(ad->sign_pk, token, &reason) < 0)
        return json_pack("{s:b, s:s}", "valid", 0, "reason", reason);
    return json_pack("{s:b}", "valid", 1);
}
