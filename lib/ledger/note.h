/* C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys: key names and hashes,
 * verifier and signer key strings, signing, and verification of a note against one key.
 * Parsers take attacker-controllable bytes: sizes are bounded and every input is checked. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/ed25519.h"

#define OSM_NOTE_MAX 8192     /* bytes of one signed note */
#define OSM_NOTE_NAME_MAX 255 /* key name / origin */
#define OSM_NOTE_SIGS_MAX 100 /* signature lines per note */
#define OSM_NOTE_KEY_HASH_LEN 4
#define OSM_NOTE_ALG_ED25519 0x01
#define OSM_NOTE_SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */

/* A verifier key: "<name>+<8 hex key hash>+<base64(0x01 || public key)>". */
struct osm_note_key {
    char name[OSM_NOTE_NAME_MAX + 1];
    uint8_t key_hash[OSM_NOTE_KEY_HASH_LEN];
    uint8_t pk[OSM_ED25519_PUBLIC_LEN];
};

/* True for 1..OSM_NOTE_NAME_MAX bytes of printable non-space ASCII or UTF-8, without '+'. */
bool osm_note_name_valid(const char *name, size_t len);
/* The first 4 bytes of SHA-256(name || "\n" || 0x01 || pk). */
int osm_note_key_hash(const char *name, const uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                      uint8_t ret[static OSM_NOTE_KEY_HASH_LEN]);
/* The verifier key string of (name, pk) plus "\n" (new string). */
int osm_note_verifier_format(const char *name, const uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                             char **ret);
/* Parses a verifier key string (one trailing newline allowed); -EBADMSG when malformed or the
 * key hash does not match. */
int osm_note_verifier_parse(const char *s, size_t len, struct osm_note_key *ret);
/* "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>\n" (new string; caller zeroes and frees). */
int osm_note_signer_format(const char *name, const uint8_t seed[static OSM_ED25519_SEED_LEN],
                           char **ret);
/* Parses a signer key string into name and seed; -EBADMSG when malformed or inconsistent. */
int osm_note_signer_parse(const char *s, size_t len, char ret_name[static OSM_NOTE_NAME_MAX + 1],
                          uint8_t ret_seed[static OSM_ED25519_SEED_LEN]);

/* Signs body (non-empty, ending in "\n", no blank line) as name: *ret_note (new string) is body,
 * a blank line and one signature line. */
int osm_note_sign(const char *body, size_t len, const char *name,
                  const uint8_t key_hash[static OSM_NOTE_KEY_HASH_LEN],
                  const uint8_t sk[static OSM_ED25519_SECRET_LEN], char **ret_note);
/* Checks the note's syntax and returns the length of its signed text (body). -EBADMSG when
 * malformed or larger than OSM_NOTE_MAX. */
int osm_note_body_len(const char *note, size_t len, size_t *ret_body_len);
/* Verifies note against key: 0 when it carries a valid signature by key; -ENOKEY when it has
 * none by this key (name and key hash); -EKEYREJECTED when that signature is invalid;
 * -EBADMSG when the note is malformed. */
int osm_note_verify(const char *note, size_t len, const struct osm_note_key *key);
