/* Capability tokens (osModa §1.1 /capability/mint and /verify), signed with Ed25519 instead of a
 * per-boot HMAC key, so they survive restarts, and actually enforced: a tool call that presents
 * a token may use exactly the tools its permissions name (agentd_capability_check).
 *
 * Token: {id, granted_to, permissions[], created_at, expires_at, signature}; signature = hex
 * Ed25519 over "id|granted_to|perm1,perm2,...|expires_at" (osModa's canonical string). '|' and ','
 * are refused inside fields so that the string is unambiguous. Permissions are tool names or
 * "class:<read|reversible|irreversible|privileged>". granted_to "uid:<n>" binds the token to that
 * caller uid; any other value is a label. The key is <state>/capability.key (hex seed, 0600). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-exec.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/fileio.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "crypto/secret.h"

#define KEY_HEX_LEN (2 * OSM_ED25519_SEED_LEN)
#define SIG_HEX_LEN (2 * OSM_ED25519_SIG_LEN)
#define CANONICAL_MAX                                                                              \
    (AGENTD_APPROVAL_ID_LEN + OSM_TS_LEN +                                                         \
     (AGENTD_CAPABILITY_PERMS_MAX + 1) * (AGENTD_CAPABILITY_FIELD_MAX + 1) + 8)

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
    struct agentd_tools *t = ad->tools;
    _cleanup_free_ char *path = osm_path_join(ad->paths.state_dir, AGENTD_CAPABILITY_KEY_NAME);
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
    t->cap_sk = sodium_malloc(OSM_ED25519_SECRET_LEN);
    if (!t->cap_sk)
        r = -ENOMEM;
    else
        r = osm_ed25519_keypair(seed, t->cap_pk, t->cap_sk);
    osm_secret_zero(seed, sizeof(seed));
    return r;
}

void agentd_capability_free(struct agentd *ad)
{
    if (ad->tools && ad->tools->cap_sk) {
        sodium_free(ad->tools->cap_sk); /* zeroes it */
        ad->tools->cap_sk = NULL;
    }
}

/* ---- the canonical string --------------------------------------------------------------- */

static bool field_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= AGENTD_CAPABILITY_FIELD_MAX && !strpbrk(s, "|,");
}

/* "id|granted_to|p1,p2|expires_at" into buf; -EINVAL for a field that would make it ambiguous. */
static int canonical(const char *id, const char *granted_to, const json_t *perms,
                     const char *expires_at, char *buf, size_t len)
{
    size_t i, off;
    json_t *p;
    int n;

    if (!field_ok(id) || !field_ok(granted_to) || !field_ok(expires_at) || !json_is_array(perms) ||
        json_array_size(perms) > AGENTD_CAPABILITY_PERMS_MAX)
        return -EINVAL;
    n = snprintf(buf, len, "%s|%s|", id, granted_to);
    if (n < 0 || (size_t)n >= len)
        return -EINVAL;
    off = (size_t)n;
    json_array_foreach(perms, i, p)
    {
        if (!json_is_string(p) || !field_ok(json_string_value(p)))
            return -EINVAL;
        n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", json_string_value(p));
        if (n < 0 || (size_t)n >= len - off)
            return -EINVAL;
        off += (size_t)n;
    }
    n = snprintf(buf + off, len - off, "|%s", expires_at);
    return n < 0 || (size_t)n >= len - off ? -EINVAL : 0;
}

/* ---- checking --------------------------------------------------------------------------- */

static bool permits(const json_t *perms, const struct osm_tool *tool)
{
    char cls[64];
    size_t i;
    json_t *p;

    snprintf(cls, sizeof(cls), "class:%s", osm_tool_class_name(tool->cls));
    json_array_foreach(perms, i, p) if (strcmp(json_string_value(p), tool->name) == 0 ||
                                        strcmp(json_string_value(p), cls) == 0) return true;
    return false;
}

/* The holder check: "uid:<n>" must be the caller. */
static bool holder_ok(const char *granted_to, const struct ucred *peer)
{
    char want[32];

    if (strncmp(granted_to, "uid:", 4) != 0)
        return true;
    snprintf(want, sizeof(want), "uid:%u", (unsigned)peer->uid);
    return strcmp(want, granted_to) == 0;
}

static int verify_token(struct agentd *ad, const json_t *token, const char **ret_reason)
{
    const char *id = NULL, *to = NULL, *exp = NULL, *sig = NULL;
    json_t *perms = NULL;
    char buf[CANONICAL_MAX], now[OSM_TS_LEN + 1];
    uint8_t raw[OSM_ED25519_SIG_LEN];

    if (!json_is_object(token) ||
        json_unpack((json_t *)token, "{s:s, s:s, s:o, s:s, s:s}", "id", &id, "granted_to", &to,
                    "permissions", &perms, "expires_at", &exp, "signature", &sig) < 0 ||
        canonical(id, to, perms, exp, buf, sizeof(buf)) < 0 || strlen(exp) != OSM_TS_LEN) {
        *ret_reason = "malformed token";
        return -EINVAL;
    }
    if (strlen(sig) != SIG_HEX_LEN || osm_hex_decode(sig, SIG_HEX_LEN, raw, sizeof(raw)) < 0 ||
        !osm_ed25519_verify(ad->tools->cap_pk, buf, strlen(buf), raw)) {
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

int agentd_capability_check(struct agentd *ad, const json_t *token, const struct osm_tool *tool,
                            const struct ucred *peer, const char **ret_reason)
{
    int r = verify_token(ad, token, ret_reason);

    if (r < 0)
        return r;
    if (!holder_ok(json_string_value(json_object_get(token, "granted_to")), peer)) {
        *ret_reason = "token granted to another uid";
        return -EACCES;
    }
    if (!permits(json_object_get(token, "permissions"), tool)) {
        *ret_reason = "tool not within the token's permissions";
        return -EACCES;
    }
    return 0;
}

/* ---- routes ----------------------------------------------------------------------------- */

static json_t *check_permissions(struct osm_request *req, const json_t *perms)
{
    size_t i;
    json_t *p;

    if (json_array_size(perms) > AGENTD_CAPABILITY_PERMS_MAX)
        return agentd_field_error(req, "permissions", "has too many entries");
    json_array_foreach(perms, i, p)
    {
        const char *s = json_string_value(p);
        if (!field_ok(s))
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
    char id[AGENTD_APPROVAL_ID_LEN + 1], created[OSM_TS_LEN + 1], expires[OSM_TS_LEN + 1];
    char buf[CANONICAL_MAX], hex[SIG_HEX_LEN + 1];
    uint8_t sig[OSM_ED25519_SIG_LEN];
    int64_t now = osm_realtime_ms();

    agentd_uuid(id);
    osm_format_ts((time_t)(now / 1000), (unsigned)(now % 1000), created);
    osm_format_ts((time_t)(now / 1000 + ttl), (unsigned)(now % 1000), expires);
    if (canonical(id, to, perms, expires, buf, sizeof(buf)) < 0 ||
        osm_ed25519_sign(ad->tools->cap_sk, buf, strlen(buf), sig) < 0)
        return NULL;
    osm_hex_encode(sig, sizeof(sig), hex);
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

    if (!ad->tools)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    ttl_s = ttl ? json_integer_value(ttl) : AGENTD_CAPABILITY_TTL_S;
    if (ttl_s < 1 || ttl_s > AGENTD_APPROVAL_TTL_MAX_S)
        return agentd_field_error(req, "ttl_secs", "must be from 1 to 2592000");
    if (!field_ok(json_string_value(to)))
        return agentd_field_error(req, "granted_to", "must be 1-256 chars without '|' or ','");
    if ((err = check_permissions(req, perms)))
        return err;
    token = token_new(ad, json_string_value(to), perms, ttl_s);
    if (!token)
        return osm_error_errno(req, -ENOMEM, "cannot sign the token");
    payload =
        json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(token, "id"), "granted_to", to,
                  "permissions", perms, "expires_at", json_object_get(token, "expires_at"));
    agentd_peer_actor("uid", &req->peer, actor, sizeof(actor));
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
    json_t *token = NULL, *err;
    const struct agentd_field fields[] = {{"token", AGENTD_FIELD_OBJECT, true, &token}};
    const char *reason = NULL;

    if (!ad->tools)
        return osm_error(req, 503, "not_ready", NULL, "the tool layer is not running");
    if ((err = agentd_body_fields(req, fields, ELEMENTSOF(fields))))
        return err;
    if (verify_token(ad, token, &reason) < 0)
        return json_pack("{s:b, s:s}", "valid", 0, "reason", reason);
    return json_pack("{s:b}", "valid", 1);
}
