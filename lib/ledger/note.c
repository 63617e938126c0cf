/* C2SP signed notes: Ed25519 keys in the Go note formats, signing and verification. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/encoding.h"
#include "crypto/secret.h"
#include "crypto/sha256.h"
#include "note.h"
#include "common/utf8.h"

#define SIG_PREFIX_LEN (sizeof(OSM_NOTE_SIG_PREFIX) - 1)
#define KEY_B64_LEN OSM_BASE64_LEN(1 + 32)
#define SIG_RAW_LEN (OSM_NOTE_KEY_HASH_LEN + OSM_ED25519_SIG_LEN)
#define SIG_RAW_MAX (OSM_NOTE_KEY_HASH_LEN + 256)
#define PRIVATE_PREFIX "PRIVATE+KEY+"

bool osm_note_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > OSM_NOTE_NAME_MAX || !osm_utf8_valid(name, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == '+' || name[i] == 0x7f)
            return false;
    return true;
}

int osm_note_key_hash(const char *name, const uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                      uint8_t ret[static OSM_NOTE_KEY_HASH_LEN])
{
    size_t n = strlen(name);
    uint8_t buf[OSM_NOTE_NAME_MAX + 2 + OSM_ED25519_PUBLIC_LEN], digest[OSM_SHA256_LEN];
    int r;

    if (!osm_note_name_valid(name, n))
        return -EINVAL;
    memcpy(buf, name, n);
    buf[n] = '\n';
    buf[n + 1] = OSM_NOTE_ALG_ED25519;
    memcpy(buf + n + 2, pk, OSM_ED25519_PUBLIC_LEN);
    r = osm_sha256(buf, n + 2 + OSM_ED25519_PUBLIC_LEN, digest);
    if (r < 0)
        return r;
    memcpy(ret, digest, OSM_NOTE_KEY_HASH_LEN);
    return 0;
}

/* "<prefix><name>+<hash hex>+<base64(0x01 || key)>\n" */
static int key_format(const char *prefix, const char *name,
                      const uint8_t key_hash[static OSM_NOTE_KEY_HASH_LEN],
                      const uint8_t key[static 32], char **ret)
{
    uint8_t raw[33];
    char hex[2 * OSM_NOTE_KEY_HASH_LEN + 1], b64[KEY_B64_LEN + 1];

    raw[0] = OSM_NOTE_ALG_ED25519;
    memcpy(raw + 1, key, 32);
    osm_hex_encode(key_hash, OSM_NOTE_KEY_HASH_LEN, hex);
    osm_base64_encode(raw, sizeof(raw), b64, sizeof(b64));
    osm_secret_zero(raw, sizeof(raw));
    if (asprintf(ret, "%s%s+%s+%s\n", prefix, name, hex, b64) < 0)
        return -ENOMEM;
    return 0;
}

/* Splits "<name>+<hash hex>+<base64(0x01 || key)>" (one trailing newline allowed). */
static int key_parse(const char *s, size_t len, char name[static OSM_NOTE_NAME_MAX + 1],
                     uint8_t key_hash[static OSM_NOTE_KEY_HASH_LEN], uint8_t key[static 32])
{
    const char *plus = memchr(s, '+', len);
    uint8_t raw[34];
    size_t name_len, rest, n = 0;
    int r;

    if (len > 0 && s[len - 1] == '\n')
        len--;
    if (!plus)
        return -EBADMSG;
    name_len = (size_t)(plus - s);
    rest = len - name_len - 1;
    if (!osm_note_name_valid(s, name_len) || rest < 2 * OSM_NOTE_KEY_HASH_LEN + 1 ||
        plus[1 + 2 * OSM_NOTE_KEY_HASH_LEN] != '+')
        return -EBADMSG;
    if (osm_hex_decode(plus + 1, 2 * OSM_NOTE_KEY_HASH_LEN, key_hash, OSM_NOTE_KEY_HASH_LEN) < 0)
        return -EBADMSG;
    rest -= 2 * OSM_NOTE_KEY_HASH_LEN + 1;
    r = osm_base64_decode(plus + 2 + 2 * OSM_NOTE_KEY_HASH_LEN, rest, raw, sizeof(raw), &n);
    if (r < 0 || n != 33 || raw[0] != OSM_NOTE_ALG_ED25519) {
        osm_secret_zero(raw, sizeof(raw));
        return -EBADMSG;
    }
    memcpy(name, s, name_len);
    name[name_len] = '\0';
    memcpy(key, raw + 1, 32);
    osm_secret_zero(raw, sizeof(raw));
    return 0;
}

int osm_note_verifier_format(const char *name, const uint8_t pk[static OSM_ED25519_PUBLIC_LEN],
                             char **ret)
{
    uint8_t kh[OSM_NOTE_KEY_HASH_LEN];
    int r = osm_note_key_hash(name, pk, kh);

    return r < 0 ? r : key_format("", name, kh, pk, ret);
}

int osm_note_verifier_parse(const char *s, size_t len, struct osm_note_key *ret)
{
    uint8_t kh[OSM_NOTE_KEY_HASH_LEN];
    int r = key_parse(s, len, ret->name, ret->key_hash, ret->pk);

    if (r < 0)
        return r;
    r = osm_note_key_hash(ret->name, ret->pk, kh);
    if (r < 0)
        return r;
    return memcmp(kh, ret->key_hash, sizeof(kh)) == 0 ? 0 : -EBADMSG;
}

int osm_note_signer_format(const char *name, const uint8_t seed[static OSM_ED25519_SEED_LEN],
                           char **ret)
{
    uint8_t pk[OSM_ED25519_PUBLIC_LEN], sk[OSM_ED25519_SECRET_LEN], kh[OSM_NOTE_KEY_HASH_LEN];
    int r = osm_ed25519_keypair(seed, pk, sk);

    osm_secret_zero(sk, sizeof(sk));
    if (r >= 0)
        r = osm_note_key_hash(name, pk, kh);
    return r < 0 ? r : key_format(PRIVATE_PREFIX, name, kh, seed, ret);
}

int osm_note_signer_parse(const char *s, size_t len, char ret_name[static OSM_NOTE_NAME_MAX + 1],
                          uint8_t ret_seed[static OSM_ED25519_SEED_LEN])
{
    uint8_t pk[OSM_ED25519_PUBLIC_LEN], sk[OSM_ED25519_SECRET_LEN];
    uint8_t kh[OSM_NOTE_KEY_HASH_LEN], want[OSM_NOTE_KEY_HASH_LEN];
    size_t plen = strlen(PRIVATE_PREFIX);
    int r;

    if (len < plen || memcmp(s, PRIVATE_PREFIX, plen) != 0)
        return -EBADMSG;
    r = key_parse(s + plen, len - plen, ret_name, want, ret_seed);
    if (r >= 0)
        r = osm_ed25519_keypair(ret_seed, pk, sk);
    osm_secret_zero(sk, sizeof(sk));
    if (r >= 0)
        r = osm_note_key_hash(ret_name, pk, kh);
    if (r >= 0 && memcmp(kh, want, sizeof(kh)) != 0)
        r = -EBADMSG;
    if (r < 0)
        osm_secret_zero(ret_seed, OSM_ED25519_SEED_LEN);
    return r;
}

int osm_note_sign(const char *body, size_t len, const char *name,
                  const uint8_t key_hash[static OSM_NOTE_KEY_HASH_LEN],
                  const uint8_t sk[static OSM_ED25519_SECRET_LEN], char **ret_note)
{
    uint8_t raw[SIG_RAW_LEN];
    char b64[OSM_BASE64_LEN(SIG_RAW_LEN) + 1];
    int r;

    if (len == 0 || body[len - 1] != '\n' || memmem(body, len, "\n\n", 2) ||
        !osm_utf8_valid(body, len))
        return -EINVAL;
    memcpy(raw, key_hash, OSM_NOTE_KEY_HASH_LEN);
    r = osm_ed25519_sign(sk, body, len, raw + OSM_NOTE_KEY_HASH_LEN);
    if (r < 0)
        return r;
    osm_base64_encode(raw, sizeof(raw), b64, sizeof(b64));
    if (asprintf(ret_note, "%.*s\n%s%s %s\n", (int)len, body, OSM_NOTE_SIG_PREFIX, name, b64) < 0)
        return -ENOMEM;
    return 0;
}

/* One signature line without its "\n": name and decoded bytes. */
struct note_sig {
    const char *name;
    size_t name_len;
    uint8_t raw[SIG_RAW_MAX];
    size_t raw_len;
};

static int sig_line_parse(const char *p, size_t len, struct note_sig *ret)
{
    const char *sp;

    if (len < SIG_PREFIX_LEN || memcmp(p, OSM_NOTE_SIG_PREFIX, SIG_PREFIX_LEN) != 0)
        return -EBADMSG;
    p += SIG_PREFIX_LEN;
    len -= SIG_PREFIX_LEN;
    sp = memchr(p, ' ', len);
    if (!sp || !osm_note_name_valid(p, (size_t)(sp - p)))
        return -EBADMSG;
    ret->name = p;
    ret->name_len = (size_t)(sp - p);
    len -= ret->name_len + 1;
    if (osm_base64_decode(sp + 1, len, ret->raw, sizeof(ret->raw), &ret->raw_len) < 0 ||
        ret->raw_len <= OSM_NOTE_KEY_HASH_LEN)
        return -EBADMSG;
    return 0;
}

/* Calls fn for each signature line after body_len; stops at fn's first nonzero return. */
static int sigs_foreach(const char *note, size_t len, size_t body_len,
                        int (*fn)(const struct note_sig *sig, void *ud), void *ud)
{
    size_t pos = body_len + 1, count = 0;
    struct note_sig sig;

    while (pos < len) {
        const char *nl = memchr(note + pos, '\n', len - pos);
        int r;
        if (!nl || ++count > OSM_NOTE_SIGS_MAX)
            return -EBADMSG;
        r = sig_line_parse(note + pos, (size_t)(nl - note) - pos, &sig);
        if (r == 0 && fn)
            r = fn(&sig, ud);
        if (r != 0)
            return r;
        pos = (size_t)(nl - note) + 1;
    }
    return count > 0 ? 0 : -EBADMSG;
}

/* Offset just past the last "\n\n"'s first newline, i.e. the body's length; 0 when none. */
static size_t last_blank_line(const char *note, size_t len)
{
    for (size_t i = len - 1; i > 0; i--)
        if (note[i] == '\n' && note[i - 1] == '\n')
            return i;
    return 0;
}

int osm_note_body_len(const char *note, size_t len, size_t *ret_body_len)
{
    size_t body_len;
    int r;

    if (len < 2 || len > OSM_NOTE_MAX || note[len - 1] != '\n' || !osm_utf8_valid(note, len))
        return -EBADMSG;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)note[i] < ' ' && note[i] != '\n')
            return -EBADMSG;
    body_len = last_blank_line(note, len);
    if (body_len == 0)
        return -EBADMSG;
    r = sigs_foreach(note, len, body_len, NULL, NULL);
    if (r < 0)
        return r;
    *ret_body_len = body_len;
    return 0;
}

struct verify_state {
    const struct osm_note_key *key;
    const char *body;
    size_t body_len;
    bool found;
};

static int verify_sig(const struct note_sig *sig, void *ud)
{
    struct verify_state *v = ud;

    if (sig->name_len != strlen(v->key->name) ||
        memcmp(sig->name, v->key->name, sig->name_len) != 0 ||
        memcmp(sig->raw, v->key->key_hash, OSM_NOTE_KEY_HASH_LEN) != 0)
        return 0;
    v->found = true;
    if (sig->raw_len == SIG_RAW_LEN &&
        osm_ed25519_verify(v->key->pk, v->body, v->body_len, sig->raw + OSM_NOTE_KEY_HASH_LEN))
        return 1;
    return -EKEYREJECTED;
}

int osm_note_verify(const char *note, size_t len, const struct osm_note_key *key)
{
    struct verify_state v = {.key = key, .body = note};
    int r = osm_note_body_len(note, len, &v.body_len);

    if (r < 0)
        return r;
    r = sigs_foreach(note, len, v.body_len, verify_sig, &v);
    if (r < 0)
        return r;
    return r > 0 ? 0 : -ENOKEY;
}
