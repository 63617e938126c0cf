/* The two things agentd signs and every executing daemon checks, with agentd's one Ed25519 key
 * (DESIGN §6): capability tokens and approval decisions. Each is one JSON object from the moment
 * it is made to the moment it is checked; the signature covers a canonical string whose fields
 * may not contain its separators, and the two strings cannot be mistaken for each other.
 *
 * Token: {id, granted_to, permissions[], created_at, expires_at, signature}; signed string
 *   "id|granted_to|perm1,perm2,...|expires_at" (osModa's form). Permissions are tool names or
 *   "class:<read|reversible|irreversible|privileged>"; granted_to "uid:<n>" binds the token to
 *   that caller uid, any other value is a label.
 * Decision: {id, daemon, tool, args_hash, decision, mode, expires_at, signature}; signed string
 *   "osmoda-decision-v1|id|daemon|tool|args_hash|decision|mode|expires_at", decision one of
 *   approved, denied, expired, cancelled; mode "once", "always" or ""; expires_at the grant's
 *   expiry or "". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSM_TOKEN_PERMS_MAX 128
#define OSM_TOKEN_FIELD_MAX 256 /* granted_to and each permission */
#define OSM_TOKEN_TTL_S 3600    /* osModa's default token lifetime */
#define OSM_TOKEN_CANONICAL_MAX ((OSM_TOKEN_PERMS_MAX + 3) * (OSM_TOKEN_FIELD_MAX + 1) + 64)
#define OSM_SIGNATURE_HEX_LEN 128

/* A field may go into a signed string: 1..OSM_TOKEN_FIELD_MAX bytes, no '|', ',' or newline. */
bool osm_token_field_ok(const char *s);
/* The token's signed string into buf; -EINVAL for a field that would make it ambiguous. */
int osm_token_canonical(const char *id, const char *granted_to, const json_t *perms,
                        const char *expires_at, char *buf, size_t len);
/* Checks a token's shape, signature and expiry. 0, or -EINVAL (malformed), -EKEYREJECTED
 * (signature), -ETIME (expired) with *ret_reason set. */
int osm_token_verify(const uint8_t pk[static 32], const json_t *token, const char **ret_reason);
/* Accepts a token given as an object or as its JSON text: a new reference to the object, or NULL
 * when it is neither. */
json_t *osm_token_parse(const json_t *given);

/* The decision's signed string into buf; -EINVAL when a field is missing or unsafe. */
int osm_decision_canonical(const json_t *d, char *buf, size_t len);
/* True when d carries pk's valid signature. */
bool osm_decision_verify(const uint8_t pk[static 32], const json_t *d);
