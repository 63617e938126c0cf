/* lib/crypto: SHA-256, hex, base64, Ed25519 (RFC 8032 vectors) and secret helpers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "crypto/secret.h"
#include "crypto/sha256.h"

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    osm_hex_encode(p, n, out);
}

Test(crypto, sha256_known_answers)
{
    uint8_t d[OSM_SHA256_LEN];
    char hex[65];

    cr_assert_eq(osm_sha256("abc", 3, d), 0);
    hex_of(d, sizeof(d), hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert_eq(osm_sha256("", 0, d), 0);
    hex_of(d, sizeof(d), hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(crypto, sha256_incremental_matches_one_shot_and_restarts)
{
    struct osm_sha256 h = {0};
    uint8_t a[OSM_SHA256_LEN], b[OSM_SHA256_LEN];
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    cr_assert_eq(osm_sha256_init(&h), 0);
    for (int round = 0; round < 3; round++) {
        osm_sha256_update(&h, msg, 10);
        osm_sha256_update(&h, msg + 10, strlen(msg) - 10);
        osm_sha256_final(&h, a);
        osm_sha256(msg, strlen(msg), b);
        cr_assert_arr_eq(a, b, sizeof(a), "round %d", round);
    }
    osm_sha256_done(&h);
    osm_sha256_done(&h); /* idempotent */
    cr_assert_null(h.ctx);
}

Test(crypto, hex_roundtrip_and_rejects)
{
    uint8_t in[] = {0x00, 0x01, 0xab, 0xff}, out[4];
    char hex[9];

    osm_hex_encode(in, sizeof(in), hex);
    cr_assert_str_eq(hex, "0001abff");
    cr_assert_eq(osm_hex_decode("0001ABff", 8, out, 4), 0);
    cr_assert_arr_eq(in, out, 4);
    cr_assert_eq(osm_hex_decode("0001abf", 7, out, 4), -EINVAL);
    cr_assert_eq(osm_hex_decode("0001abfg", 8, out, 4), -EINVAL);
    cr_assert_eq(osm_hex_decode("00 1abff", 8, out, 4), -EINVAL);
}

Test(crypto, base64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char buf[16];
    uint8_t raw[16];
    size_t n;

    for (size_t i = 0; i < 7; i++) {
        cr_assert_eq(
            osm_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), buf, sizeof(buf)), 0);
        cr_assert_str_eq(buf, enc[i]);
        cr_assert_eq(osm_base64_decode(enc[i], strlen(enc[i]), raw, sizeof(raw), &n), 0);
        cr_assert_eq(n, strlen(plain[i]));
        cr_assert_arr_eq(raw, plain[i], n);
    }
    cr_assert_eq(osm_base64_encode((const uint8_t *)"foo", 3, buf, 4), -ENOBUFS);
    cr_assert_eq(osm_base64_decode("Zm9vYg", 6, raw, sizeof(raw), &n), -EINVAL);
    cr_assert_eq(osm_base64_decode("Zm9v Yg==", 9, raw, sizeof(raw), &n), -EINVAL);
    cr_assert_eq(osm_base64_decode("Zm9vYmFy", 8, raw, 5, &n), -EINVAL);
}

/* RFC 8032 §7.1, TEST 1 and TEST 2. */
Test(crypto, ed25519_rfc8032)
{
    static const char *const seeds[] = {
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    };
    static const char *const pks[] = {
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    };
    static const char *const sigs[] = {
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    };
    static const uint8_t msg2[] = {0x72};

    for (int i = 0; i < 2; i++) {
        uint8_t seed[32], pk[32], sk[64], sig[64];
        char hex[129];
        size_t mlen = i == 0 ? 0 : 1;
        cr_assert_eq(osm_hex_decode(seeds[i], 64, seed, 32), 0);
        cr_assert_eq(osm_ed25519_keypair(seed, pk, sk), 0);
        hex_of(pk, 32, hex);
        cr_assert_str_eq(hex, pks[i]);
        cr_assert_eq(osm_ed25519_sign(sk, msg2, mlen, sig), 0);
        hex_of(sig, 64, hex);
        cr_assert_str_eq(hex, sigs[i]);
        cr_assert(osm_ed25519_verify(pk, msg2, mlen, sig));
        sig[10] ^= 1;
        cr_assert_not(osm_ed25519_verify(pk, msg2, mlen, sig));
    }
}

Test(crypto, ed25519_random_seeds_differ)
{
    uint8_t a[32], b[32];

    cr_assert_eq(osm_ed25519_seed_random(a), 0);
    cr_assert_eq(osm_ed25519_seed_random(b), 0);
    cr_assert(memcmp(a, b, 32) != 0);
}

Test(crypto, secret_helpers)
{
    uint8_t a[8] = "secret!", b[8] = "secret!", c[8] = "secreT!";
    char *p = strdup("key material");

    cr_assert(osm_memeq_ct(a, b, 8));
    cr_assert_not(osm_memeq_ct(a, c, 8));
    osm_secret_zero(a, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++)
        cr_assert_eq(a[i], 0);
    osm_secret_free(p, strlen(p));
    osm_secret_free(NULL, 10);
}
