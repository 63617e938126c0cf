/* Ethereum keys and signatures: secp256k1 with recovery, EIP-55 addresses, EIP-191
 * personal_sign. The secp256k1 context is made once and randomised (side-channel blinding);
 * libsecp256k1 signs with RFC 6979 nonces and always returns low-s. */
#include <errno.h>
#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "eth.h"
#include "keccak.h"

#define PUBKEY_UNCOMPRESSED_LEN 65
#define PERSONAL_PREFIX                                                                            \
    "\x19"                                                                                         \
    "Ethereum Signed Message:\n"

static secp256k1_context *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
    uint8_t seed[32];

    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!ctx)
        return;
    randombytes_buf(seed, sizeof(seed));
    if (!secp256k1_context_randomize(ctx, seed)) {
        secp256k1_context_destroy(ctx);
        ctx = NULL;
    }
    sodium_memzero(seed, sizeof(seed));
}

/* The shared context, or NULL when it could not be made. */
static const secp256k1_context *context(void)
{
    pthread_once(&ctx_once, ctx_init);
    return ctx;
}

bool eth_key_valid(const uint8_t sk[static 32])
{
    return secp256k1_ec_seckey_verify(secp256k1_context_static, sk) == 1;
}

/* The address of a public key: the last 20 bytes of keccak256(x ‖ y). */
static int address_of_pubkey(const secp256k1_pubkey *pk, uint8_t addr[static ETH_ADDR_LEN])
{
    uint8_t ser[PUBKEY_UNCOMPRESSED_LEN], h[KECCAK256_LEN];
    size_t n = sizeof(ser);
    int r;

    secp256k1_ec_pubkey_serialize(secp256k1_context_static, ser, &n, pk, SECP256K1_EC_UNCOMPRESSED);
    r = keccak256(ser + 1, n - 1, h);
    if (r < 0)
        return r;
    memcpy(addr, h + KECCAK256_LEN - ETH_ADDR_LEN, ETH_ADDR_LEN);
    return 0;
}

int eth_address_of_key(const uint8_t sk[static 32], uint8_t addr[static ETH_ADDR_LEN])
{
    const secp256k1_context *c = context();
    secp256k1_pubkey pk;

    if (!c)
        return -ENOMEM;
    if (!secp256k1_ec_pubkey_create(c, &pk, sk))
        return -EINVAL;
    return address_of_pubkey(&pk, addr);
}

/* The EIP-55 case of 40 lowercase hex digits: upper case where the keccak of the lowercase
 * text has a nibble >= 8. Keccak cannot fail short of a broken library; the text then stays
 * lowercase, which every parser accepts. */
static void checksum_case(char hex[static 40])
{
    uint8_t h[KECCAK256_LEN];

    if (keccak256(hex, 40, h) < 0)
        return;
    for (size_t i = 0; i < 40; i++) {
        uint8_t nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0x0f;

        if (hex[i] >= 'a' && hex[i] <= 'f' && nib >= 8)
            hex[i] = (char)(hex[i] - 'a' + 'A');
    }
}

void eth_address_text(const uint8_t addr[static ETH_ADDR_LEN],
                      char out[static ETH_ADDR_TEXT_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";

    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < ETH_ADDR_LEN; i++) {
        out[2 + 2 * i] = digits[addr[i] >> 4];
        out[3 + 2 * i] = digits[addr[i] & 0x0f];
    }
    out[ETH_ADDR_TEXT_LEN] = '\0';
    checksum_case(out + 2);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int eth_address_parse(const char *s, uint8_t addr[static ETH_ADDR_LEN])
{
    char lower[40], want[ETH_ADDR_TEXT_LEN + 1];
    bool has_lower = false, has_upper = false;

    if (!s || strnlen(s, ETH_ADDR_TEXT_LEN + 1) != ETH_ADDR_TEXT_LEN || s[0] != '0' || s[1] != 'x')
        return -EINVAL;
    for (size_t i = 0; i < 40; i++) {
        char c = s[2 + i];
        int hi, lo;

        if (hex_value(c) < 0)
            return -EINVAL;
        has_lower |= c >= 'a' && c <= 'f';
        has_upper |= c >= 'A' && c <= 'F';
        lower[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        if (i % 2 == 1) {
            hi = hex_value(lower[i - 1]);
            lo = hex_value(lower[i]);
            addr[i / 2] = (uint8_t)(hi << 4 | lo);
        }
    }
    if (has_lower && has_upper) {
        eth_address_text(addr, want);
        if (memcmp(want + 2, s + 2, 40) != 0)
            return -EBADMSG;
    }
    return 0;
}

int eth_sign_digest(const uint8_t sk[static 32], const uint8_t digest[static 32],
                    uint8_t sig[static ETH_SIG_LEN])
{
    const secp256k1_context *c = context();
    secp256k1_ecdsa_recoverable_signature rs;
    int recid;

    if (!c)
        return -ENOMEM;
    if (!secp256k1_ecdsa_sign_recoverable(c, &rs, digest, sk, NULL, NULL))
        return -EINVAL;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(c, sig, &recid, &rs);
    sig[64] = (uint8_t)recid;
    return 0;
}

/* Accepts v as a recovery id (0/1) or as personal_sign writes it (27/28). */
int eth_recover(const uint8_t digest[static 32], const uint8_t sig[static ETH_SIG_LEN],
                uint8_t addr[static ETH_ADDR_LEN])
{
    const secp256k1_context *c = context();
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    int v = sig[64] >= 27 ? sig[64] - 27 : sig[64];

    if (!c)
        return -ENOMEM;
    if (v < 0 || v > 1)
        return -EINVAL;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(c, &rs, sig, v))
        return -EINVAL;
    if (!secp256k1_ecdsa_recover(c, &pk, &rs, digest))
        return -EINVAL;
    return address_of_pubkey(&pk, addr);
}

int eth_personal_digest(const void *msg, size_t len, uint8_t out[static 32])
{
    char dec[24];
    int n = snprintf(dec, sizeof(dec), "%zu", len);
    const void *parts[] = {PERSONAL_PREFIX, dec, msg};
    const size_t lens[] = {sizeof(PERSONAL_PREFIX) - 1, (size_t)n, len};

    if (len > 0 && !msg)
        return -EINVAL;
    return keccak256_parts(parts, lens, 3, out);
}

int eth_personal_sign(const uint8_t sk[static 32], const void *msg, size_t len,
                      uint8_t sig[static ETH_SIG_LEN])
{
    uint8_t digest[32];
    int r;

    r = eth_personal_digest(msg, len, digest);
    if (r < 0)
        return r;
    r = eth_sign_digest(sk, digest, sig);
    if (r < 0)
        return r;
    sig[64] += 27;
    return 0;
}
