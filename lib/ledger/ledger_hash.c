/* The osModa event hash, the genesis value and validation of what goes into it. */
#include <sodium.h>
#include <string.h>

#include "crypto/encoding.h"
#include "ledger_internal.h"
#include "common/utf8.h"

const char osm_ledger_genesis[OSM_LEDGER_HASH_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

bool osm_ledger_name_valid(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n == OSM_LEDGER_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

bool ledger_payload_valid(const char *payload, size_t len)
{
    if (!payload)
        return len == 0;
    return len <= OSM_LEDGER_PAYLOAD_MAX && osm_utf8_valid(payload, len);
}

typedef void (*hash_update_fn)(void *st, const void *p, size_t n);

/* Feeds "<id>|<ts>|<type>|<actor>|<payload>|<prev_hash>" to update. */
static void hash_feed(hash_update_fn update, void *st, int64_t id, const char *ts, size_t ts_len,
                      const char *type, size_t type_len, const char *actor, size_t actor_len,
                      const char *payload, size_t payload_len, const char *prev, size_t prev_len)
{
    char num[24];
    size_t i = sizeof(num);
    uint64_t v = id < 0 ? (uint64_t)0 - (uint64_t)id : (uint64_t)id;

    num[--i] = '|';
    do
        num[--i] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    if (id < 0)
        num[--i] = '-';
    update(st, num + i, sizeof(num) - i);
    update(st, ts, ts_len);
    update(st, "|", 1);
    update(st, type, type_len);
    update(st, "|", 1);
    update(st, actor, actor_len);
    update(st, "|", 1);
    update(st, payload, payload_len);
    update(st, "|", 1);
    update(st, prev, prev_len);
}

static void evp_update(void *st, const void *p, size_t n)
{
    osm_sha256_update(st, p, n);
}

void ledger_hash_raw(struct osm_sha256 *h, int64_t id, const char *ts, size_t ts_len,
                     const char *type, size_t type_len, const char *actor, size_t actor_len,
                     const char *payload, size_t payload_len, const char *prev, size_t prev_len,
                     uint8_t ret[static OSM_SHA256_LEN])
{
    hash_feed(evp_update, h, id, ts, ts_len, type, type_len, actor, actor_len, payload, payload_len,
              prev, prev_len);
    osm_sha256_final(h, ret);
}

static void sodium_update(void *st, const void *p, size_t n)
{
    crypto_hash_sha256_update(st, p, n);
}

/* Uses libsodium's stack-allocated state so that it cannot fail. */
void osm_ledger_hash(int64_t id, const char *ts, const char *type, const char *actor,
                     const char *payload, size_t payload_len, const char *prev_hash,
                     char ret_hex[static OSM_LEDGER_HASH_HEX_LEN + 1])
{
    crypto_hash_sha256_state st;
    uint8_t digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    hash_feed(sodium_update, &st, id, ts, strlen(ts), type, strlen(type), actor, strlen(actor),
              payload ? payload : "", payload_len, prev_hash, strlen(prev_hash));
    crypto_hash_sha256_final(&st, digest);
    osm_hex_encode(digest, sizeof(digest), ret_hex);
}
