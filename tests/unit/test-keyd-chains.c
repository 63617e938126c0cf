/* keyd's chain code against published vectors: Keccak-256, RLP, EIP-55, EIP-155, EIP-191,
 * EIP-712, base58 and Solana, and the malformed inputs each must refuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base58.h"
#include "crypto/encoding.h"
#include "eth.h"
#include "keccak.h"
#include "rlp.h"
#include "sol.h"

static void from_hex(const char *hex, uint8_t *out, size_t n)
{
    if (hex[0] == '0' && hex[1] == 'x')
        hex += 2;
    cr_assert_eq(strlen(hex), 2 * n, "%s", hex);
    cr_assert_eq(osm_hex_decode(hex, 2 * n, out, n), 0);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
    char *s = malloc(2 * n + 1);

    if (want[0] == '0' && want[1] == 'x')
        want += 2;
    osm_hex_encode(p, n, s);
    cr_assert_str_eq(s, want);
    free(s);
}

/* Keccak-256 known answers: "" and "abc" from the Keccak team's reference (as Ethereum's
 * yellow paper uses it: KEC("") = c5d2...a470), the 448-bit "abcdbcdecdef..." message and one
 * million 'a' (the standard long-message inputs of SHA-2/SHA-3 test suites, values from the
 * Keccak-256 reference implementation). */
Test(keccak, known_answers)
{
    uint8_t h[32];
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    size_t mlen = 1000000;
    char *million = malloc(mlen);

    cr_assert_eq(keccak256("", 0, h), 0);
    assert_hex(h, 32, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    cr_assert_eq(keccak256("abc", 3, h), 0);
    assert_hex(h, 32, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    cr_assert_eq(keccak256(m448, strlen(m448), h), 0);
    assert_hex(h, 32, "45d3b367a6904e6e8d502ee04999a7c27647f91fa845d456525fd352ae3d7371");
    memset(million, 'a', mlen);
    cr_assert_eq(keccak256(million, mlen, h), 0);
    assert_hex(h, 32, "fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96");
    free(million);
}

Test(keccak, parts_equal_the_concatenation)
{
    const char *msg = "The quick brown fox jumps over the lazy dog";
    const void *parts[] = {msg, msg + 4, msg + 4, msg + 20};
    const size_t lens[] = {4, 0, 16, strlen(msg) - 20};
    uint8_t h[32];

    cr_assert_eq(keccak256_parts(parts, lens, 4, h), 0);
    assert_hex(h, 32, "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
}

/* RLP: the examples of the Ethereum wiki's RLP page (ethereum.org/developers/docs/data-structures
 * -and-encoding/rlp) and the Yellow Paper appendix B. */
static void assert_rlp(struct rlp_buf *b, const char *want)
{
    const uint8_t *p;
    size_t n;

    cr_assert_eq(rlp_result(b, &p, &n), 0);
    assert_hex(p, n, want);
    rlp_clear(b);
}

#define LOREM "Lorem ipsum dolor sit amet, consectetur adipisicing elit"

Test(rlp, wiki_examples)
{
    struct rlp_buf b;

    rlp_init(&b);
    rlp_bytes(&b, "dog", 3);
    assert_rlp(&b, "83646f67");
    rlp_list_begin(&b);
    rlp_bytes(&b, "cat", 3);
    rlp_bytes(&b, "dog", 3);
    rlp_list_end(&b);
    assert_rlp(&b, "c88363617483646f67");
    rlp_bytes(&b, "", 0);
    assert_rlp(&b, "80");
    rlp_list_begin(&b);
    rlp_list_end(&b);
    assert_rlp(&b, "c0");
    rlp_uint(&b, 0);
    assert_rlp(&b, "80");
    rlp_bytes(&b, "\0", 1);
    assert_rlp(&b, "00");
    rlp_uint(&b, 15);
    assert_rlp(&b, "0f");
    rlp_uint(&b, 1024);
    assert_rlp(&b, "820400");
    rlp_uint128(&b, (unsigned __int128)1 << 120);
    assert_rlp(&b, "9001000000000000000000000000000000");
    /* the set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ] */
    rlp_list_begin(&b);
    rlp_list_begin(&b);
    rlp_list_end(&b);
    rlp_list_begin(&b);
    rlp_list_begin(&b);
    rlp_list_end(&b);
    rlp_list_end(&b);
    rlp_list_begin(&b);
    rlp_list_begin(&b);
    rlp_list_end(&b);
    rlp_list_begin(&b);
    rlp_list_begin(&b);
    rlp_list_end(&b);
    rlp_list_end(&b);
    rlp_list_end(&b);
    rlp_list_end(&b);
    assert_rlp(&b, "c7c0c1c0c3c0c1c0");
    rlp_bytes(&b, LOREM, strlen(LOREM));
    assert_rlp(&b, "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365"
                   "637465747572206164697069736963696e6720656c6974");
}

/* Decodes hex and expects the decoder's answer r; on success the item's kind and length. */
static int decode_hex(const char *hex, struct rlp_item *it, size_t *used)
{
    static uint8_t buf[512];
    size_t n = strlen(hex) / 2;

    cr_assert_lt(n, sizeof(buf));
    from_hex(hex, buf, n);
    return rlp_decode(buf, n, it, used);
}

Test(rlp, decoder_walks_what_the_encoder_writes)
{
    struct rlp_item it, sub;
    unsigned __int128 v;
    size_t used, off = 0;

    cr_assert_eq(decode_hex("c88363617483646f67", &it, &used), 0);
    cr_assert(it.list);
    cr_assert_eq(used, 9);
    cr_assert_eq(rlp_next(&it, &off, &sub), 0);
    cr_assert(!sub.list);
    cr_assert_eq(sub.len, 3);
    cr_assert_eq(memcmp(sub.p, "cat", 3), 0);
    cr_assert_eq(rlp_next(&it, &off, &sub), 0);
    cr_assert_eq(memcmp(sub.p, "dog", 3), 0);
    cr_assert_eq(rlp_next(&it, &off, &sub), -ENOENT);
    cr_assert_eq(decode_hex("820400", &it, &used), 0);
    cr_assert_eq(rlp_item_uint(&it, &v), 0);
    cr_assert(v == 1024);
    cr_assert_eq(decode_hex("80", &it, &used), 0);
    cr_assert_eq(rlp_item_uint(&it, &v), 0);
    cr_assert(v == 0);
    cr_assert_eq(decode_hex("0f", &it, &used), 0);
    cr_assert_eq(rlp_item_uint(&it, &v), 0);
    cr_assert(v == 15);
    cr_assert_eq(decode_hex("b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365"
                            "637465747572206164697069736963696e6720656c6974",
                            &it, &used),
                 0);
    cr_assert_eq(it.len, 56);
}

Test(rlp, decoder_refuses_non_canonical_and_truncated_forms)
{
    struct rlp_item it;
    unsigned __int128 v;
    size_t used;

    cr_assert_eq(decode_hex("8100", &it, &used), -EINVAL);   /* 0x00 is its own encoding */
    cr_assert_eq(decode_hex("817f", &it, &used), -EINVAL);   /* so is 0x7f */
    cr_assert_eq(decode_hex("b80161", &it, &used), -EINVAL); /* long form for 1 byte */
    cr_assert_eq(decode_hex("b83700", &it, &used), -EINVAL); /* long form for 55 */
    cr_assert_eq(decode_hex("f800", &it, &used), -EINVAL);   /* long list form for [] */
    cr_assert_eq(decode_hex("b90038", &it, &used), -EINVAL); /* leading zero in a length */
    cr_assert_eq(decode_hex("83646f", &it, &used), -EINVAL); /* truncated */
    cr_assert_eq(decode_hex("c88363617483646f", &it, &used), -EINVAL);
    cr_assert_eq(decode_hex("b9", &it, &used), -EINVAL);
    cr_assert_eq(decode_hex("bfffffffffffffffff", &it, &used), -EINVAL);
    cr_assert_eq(rlp_decode(NULL, 0, &it, &used), -EINVAL);
    cr_assert_eq(decode_hex("820004", &it, &used), 0); /* a valid string, not a valid integer */
    cr_assert_eq(rlp_item_uint(&it, &v), -EINVAL);
    cr_assert_eq(decode_hex("910100000000000000000000000000000000", &it, &used), 0);
    cr_assert_eq(rlp_item_uint(&it, &v), -ERANGE);
    cr_assert_eq(decode_hex("c0", &it, &used), 0);
    cr_assert_eq(rlp_item_uint(&it, &v), -EINVAL);
}

Test(rlp, unbalanced_lists_and_depth_are_errors)
{
    struct rlp_buf b;
    const uint8_t *p;
    size_t n;

    rlp_init(&b);
    rlp_list_begin(&b);
    cr_assert_eq(rlp_result(&b, &p, &n), -EINVAL);
    rlp_clear(&b);
    rlp_list_end(&b);
    cr_assert_eq(rlp_result(&b, &p, &n), -EINVAL);
    rlp_clear(&b);
    for (int i = 0; i <= RLP_DEPTH_MAX; i++)
        rlp_list_begin(&b);
    cr_assert_eq(rlp_result(&b, &p, &n), -E2BIG);
    rlp_clear(&b);
}

/* EIP-55's own list of checksummed addresses. */
static const char *const eip55[] = {
    "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
};

Test(eth, eip55_addresses_round_trip)
{
    uint8_t addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1], lower[ETH_ADDR_TEXT_LEN + 1];

    for (size_t i = 0; i < sizeof(eip55) / sizeof(eip55[0]); i++) {
        cr_assert_eq(eth_address_parse(eip55[i], addr), 0, "%s", eip55[i]);
        eth_address_text(addr, text);
        cr_assert_str_eq(text, eip55[i]);
        for (size_t j = 0; j <= ETH_ADDR_TEXT_LEN; j++)
            lower[j] = (char)(j >= 2 && eip55[i][j] >= 'A' && eip55[i][j] <= 'F' ? eip55[i][j] + 32
                                                                                 : eip55[i][j]);
        cr_assert_eq(eth_address_parse(lower, addr), 0, "all lower case is accepted");
    }
}

Test(eth, addresses_with_a_wrong_checksum_or_form_are_refused)
{
    uint8_t addr[ETH_ADDR_LEN];

    /* one letter's case flipped */
    cr_assert_eq(eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", addr), -EBADMSG);
    cr_assert_eq(eth_address_parse("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", addr), -EBADMSG);
    cr_assert_eq(eth_address_parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", addr), 0);
    cr_assert_eq(eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", addr), -EINVAL);
    cr_assert_eq(eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0", addr), -EINVAL);
    cr_assert_eq(eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", addr), -EINVAL);
    cr_assert_eq(eth_address_parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00", addr), -EINVAL);
    cr_assert_eq(eth_address_parse("0x 5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", addr), -EINVAL);
    cr_assert_eq(eth_address_parse("", addr), -EINVAL);
    cr_assert_eq(eth_address_parse(NULL, addr), -EINVAL);
}

#define KEY_4C08 "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

Test(eth, known_key_gives_known_address)
{
    uint8_t sk[32], addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];

    from_hex(KEY_4C08, sk, 32);
    cr_assert(eth_key_valid(sk));
    cr_assert_eq(eth_address_of_key(sk, addr), 0);
    eth_address_text(addr, text);
    cr_assert_str_eq(text, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
}

Test(eth, invalid_keys_are_refused)
{
    uint8_t zero[32] = {0}, n[32], addr[ETH_ADDR_LEN], sig[ETH_SIG_LEN], d[32] = {1};

    /* the group order n itself */
    from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", n, 32);
    cr_assert(!eth_key_valid(zero));
    cr_assert(!eth_key_valid(n));
    cr_assert_eq(eth_address_of_key(zero, addr), -EINVAL);
    cr_assert_eq(eth_sign_digest(n, d, sig), -EINVAL);
}

/* web3.js's documented example: web3.eth.accounts.sign("Some data", 0x4c08...2318). */
Test(eth, personal_sign_vector)
{
    uint8_t sk[32], d[32], sig[ETH_SIG_LEN], addr[ETH_ADDR_LEN];
    char text[ETH_ADDR_TEXT_LEN + 1];

    from_hex(KEY_4C08, sk, 32);
    cr_assert_eq(eth_personal_digest("Some data", 9, d), 0);
    assert_hex(d, 32, "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655");
    cr_assert_eq(eth_personal_sign(sk, "Some data", 9, sig), 0);
    assert_hex(sig, 65,
               "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b80"
               "0186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c");
    cr_assert_eq(eth_recover(d, sig, addr), 0);
    eth_address_text(addr, text);
    cr_assert_str_eq(text, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    sig[64] = 2;
    cr_assert_eq(eth_recover(d, sig, addr), -EINVAL);
}

/* EIP-155's example: nonce 9, gas price 20 gwei, gas limit 21000, to 0x3535...35, value 1 ether,
 * no data, chain 1, key 0x4646...46. */
Test(eth, eip155_example_transaction)
{
    uint8_t sk[32], hash[32], uhash[32];
    struct eth_tx tx = {
        .type = ETH_TX_LEGACY,
        .chain_id = 1,
        .nonce = 9,
        .gas_price = 20000000000ULL,
        .gas_limit = 21000,
        .has_to = true,
        .value = 1000000000000000000ULL,
    };
    uint8_t *raw = NULL;
    size_t len;

    memset(sk, 0x46, 32);
    memset(tx.to, 0x35, 20);
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, uhash), 0);
    assert_hex(uhash, 32, "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    assert_hex(raw, len,
               "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400"
               "008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8"
               "997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83");
    uint8_t h2[32];
    cr_assert_eq(keccak256(raw, len, h2), 0);
    cr_assert_eq(memcmp(h2, hash, 32), 0);
    free(raw);
}

/* A type 2 transaction decodes back to its fields, and its signature recovers the sender. */
Test(eth, eip1559_transaction_decodes_and_recovers)
{
    uint8_t sk[32], hash[32], uhash[32], sig[ETH_SIG_LEN], addr[20], want[20];
    uint8_t data[] = {0xa9, 0x05, 0x9c, 0xbb};
    struct eth_tx tx = {
        .type = ETH_TX_EIP1559,
        .chain_id = 11155111,
        .nonce = 0,
        .gas_limit = 60000,
        .max_fee_per_gas = 30000000000ULL,
        .max_priority_fee_per_gas = 1500000000ULL,
        .has_to = true,
        .value = (unsigned __int128)1 << 100,
        .data = data,
        .data_len = sizeof(data),
    };
    unsigned __int128 want_fields[] = {11155111, 0, 1500000000ULL, 30000000000ULL, 60000};
    struct rlp_item list, it;
    unsigned __int128 v;
    uint8_t *raw = NULL;
    size_t len, used, off = 0;

    from_hex(KEY_4C08, sk, 32);
    memset(tx.to, 0xab, 20);
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, uhash), 0);
    cr_assert_eq(raw[0], 0x02);
    cr_assert_eq(rlp_decode(raw + 1, len - 1, &list, &used), 0);
    cr_assert_eq(used, len - 1);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(rlp_next(&list, &off, &it), 0);
        cr_assert_eq(rlp_item_uint(&it, &v), 0);
        cr_assert(v == want_fields[i], "field %zu", i);
    }
    cr_assert_eq(rlp_next(&list, &off, &it), 0); /* to */
    cr_assert_eq(it.len, 20);
    cr_assert_eq(rlp_next(&list, &off, &it), 0); /* value */
    cr_assert_eq(rlp_item_uint(&it, &v), 0);
    cr_assert(v == tx.value);
    cr_assert_eq(rlp_next(&list, &off, &it), 0); /* data */
    cr_assert_eq(it.len, 4);
    cr_assert_eq(rlp_next(&list, &off, &it), 0); /* access list */
    cr_assert(it.list && it.len == 0);
    cr_assert_eq(rlp_next(&list, &off, &it), 0); /* yParity */
    cr_assert_eq(rlp_item_uint(&it, &v), 0);
    cr_assert(v <= 1);
    sig[64] = (uint8_t)v;
    for (size_t k = 0; k < 2; k++) {
        cr_assert_eq(rlp_next(&list, &off, &it), 0);
        cr_assert_leq(it.len, 32);
        memset(sig + 32 * k, 0, 32);
        memcpy(sig + 32 * k + 32 - it.len, it.p, it.len);
    }
    cr_assert_eq(rlp_next(&list, &off, &it), -ENOENT);
    cr_assert_eq(eth_recover(uhash, sig, addr), 0);
    cr_assert_eq(eth_address_of_key(sk, want), 0);
    cr_assert_eq(memcmp(addr, want, 20), 0);
    free(raw);
}

Test(eth, transactions_that_cannot_be_sent_are_refused)
{
    uint8_t sk[32], hash[32], *raw = NULL;
    struct eth_tx tx = {.type = ETH_TX_EIP1559, .chain_id = 1, .gas_limit = 21000};
    size_t len;

    memset(sk, 0x46, 32);
    tx.max_fee_per_gas = 10;
    tx.max_priority_fee_per_gas = 11;
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, NULL), -EINVAL);
    tx.max_priority_fee_per_gas = 10;
    tx.chain_id = 0;
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, NULL), -EINVAL);
    tx.chain_id = 1;
    tx.data_len = ETH_DATA_MAX + 1;
    tx.data = sk;
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, NULL), -EINVAL);
    tx.data_len = 0;
    cr_assert_eq(eth_tx_sign(&tx, sk, &raw, &len, hash, NULL), 0);
    free(raw);
}

/* draft-msporny-base58-03's examples, and the System Program's id. */
Test(base58, known_answers)
{
    const char *fox = "The quick brown fox jumps over the lazy dog.";
    uint8_t lead0[] = {0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd}, zero32[32] = {0}, out[64];
    char text[128];

    cr_assert_eq(base58_encode((const uint8_t *)"Hello World!", 12, text, sizeof(text)), 17);
    cr_assert_str_eq(text, "2NEpo7TZRRrLZSi2U");
    cr_assert_gt(base58_encode((const uint8_t *)fox, strlen(fox), text, sizeof(text)), 0);
    cr_assert_str_eq(text, "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
    cr_assert_eq(base58_encode(lead0, sizeof(lead0), text, sizeof(text)), 8);
    cr_assert_str_eq(text, "11233QC4");
    cr_assert_eq(base58_encode(zero32, 32, text, sizeof(text)), 32);
    cr_assert_str_eq(text, "11111111111111111111111111111111");
    cr_assert_eq(base58_decode("11233QC4", out, sizeof(out)), 6);
    cr_assert_eq(memcmp(out, lead0, 6), 0);
    cr_assert_eq(base58_decode("USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z", out,
                               sizeof(out)),
                 (ssize_t)strlen(fox));
    cr_assert_eq(memcmp(out, fox, strlen(fox)), 0);
    cr_assert_eq(base58_encode(lead0, sizeof(lead0), text, 8), -E2BIG);
    cr_assert_eq(base58_encode(NULL, 0, text, 1), 0);
    cr_assert_str_eq(text, "");
}

Test(base58, characters_outside_the_alphabet_are_refused)
{
    uint8_t out[64];

    cr_assert_eq(base58_decode("", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZRRrLZSi20", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZRRrLZSiO", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZRRrLZSiI", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZRRrLZSil", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZ RRrLZSi2U", out, sizeof(out)), -EINVAL);
    cr_assert_eq(base58_decode("2NEpo7TZRRrLZSi2U", out, 11), -E2BIG);
    cr_assert_eq(base58_decode("111", out, 2), -E2BIG);
}

/* RFC 8032 section 7.1, test 1: the key pair of its seed and its signature of the empty
 * message. */
Test(sol, rfc8032_key_and_signature)
{
    uint8_t seed[32], pk[32], sk[64], sig[64], back[32];
    char addr[SOL_ADDR_TEXT_MAX + 1];

    from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
    cr_assert_eq(sol_keypair(seed, pk, sk), 0);
    assert_hex(pk, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    cr_assert_eq(sol_sign(sk, "", 0, sig), 0);
    assert_hex(sig, 64,
               "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
               "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    sol_address_text(pk, addr);
    cr_assert_eq(sol_address_parse(addr, back), 0);
    cr_assert_eq(memcmp(back, pk, 32), 0);
}

Test(sol, addresses_must_be_32_bytes_of_base58)
{
    uint8_t pk[32];

    cr_assert_eq(sol_address_parse("11111111111111111111111111111111", pk), 0);
    cr_assert_eq(sol_address_parse("1111111111111111111111111111111", pk), -EINVAL);
    cr_assert_eq(sol_address_parse("2NEpo7TZRRrLZSi2U", pk), -EINVAL);
    cr_assert_eq(sol_address_parse("0000000000000000000000000000000000000000000", pk), -EINVAL);
    cr_assert_eq(sol_address_parse("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", pk), -EINVAL);
    cr_assert_eq(sol_blockhash_parse("", pk), -EINVAL);
    cr_assert_eq(sol_address_parse(NULL, pk), -EINVAL);
}

Test(sol, transfer_layout_and_signature)
{
    uint8_t seed[32] = {7}, pk[32], sk[64], to[32], bh[32], sig[64], *tx = NULL;
    size_t len;

    cr_assert_eq(sol_keypair(seed, pk, sk), 0);
    memset(to, 0x22, 32);
    memset(bh, 0x33, 32);
    cr_assert_eq(sol_transfer_tx(sk, to, 1000000001ULL, bh, &tx, &len, sig), 0);
    cr_assert_eq(len, 215);
    cr_assert_eq(tx[0], 1);
    cr_assert_eq(memcmp(tx + 1, sig, 64), 0);
    /* header, three keys: sender, recipient, System Program */
    cr_assert_eq(memcmp(tx + 65, "\x01\x00\x01\x03", 4), 0);
    cr_assert_eq(memcmp(tx + 69, pk, 32), 0);
    cr_assert_eq(memcmp(tx + 101, to, 32), 0);
    cr_assert_eq(memcmp(tx + 165, bh, 32), 0);
    /* one instruction: program 2, accounts [0, 1], Transfer(1000000001) */
    cr_assert_eq(memcmp(tx + 197,
                        "\x01\x02\x02\x00\x01\x0c\x02\x00\x00\x00\x01\xca\x9a\x3b\x00\x00"
                        "\x00\x00",
                        18),
                 0);
    cr_assert_eq(crypto_sign_verify_detached(sig, tx + 65, 150, pk), 0);
    free(tx);
    cr_assert_eq(sol_transfer_tx(sk, pk, 1, bh, &tx, &len, sig), -EINVAL);
    cr_assert_eq(sol_transfer_tx(sk, to, 0, bh, &tx, &len, sig), -EINVAL);
    memset(to, 0, 32);
    cr_assert_eq(sol_transfer_tx(sk, to, 1, bh, &tx, &len, sig), -EINVAL);
}

/* EIP-712's own example (eips.ethereum.org/EIPS/eip-712, "Example", Example.js). */
#define MAIL_TYPES                                                                                 \
    "\"EIP712Domain\": [{\"name\": \"name\", \"type\": \"string\"}, {\"name\": \"version\", "      \
    "\"type\": \"string\"}, {\"name\": \"chainId\", \"type\": \"uint256\"}, {\"name\": "           \
    "\"verifyingContract\", \"type\": \"address\"}], \"Person\": [{\"name\": \"name\", \"type\": " \
    "\"string\"}, {\"name\": \"wallet\", \"type\": \"address\"}], \"Mail\": [{\"name\": "          \
    "\"from\", \"type\": \"Person\"}, {\"name\": \"to\", \"type\": \"Person\"}, {\"name\": "       \
    "\"contents\", \"type\": \"string\"}]"
#define MAIL_DOMAIN                                                                                \
    "{\"name\": \"Ether Mail\", \"version\": \"1\", \"chainId\": 1, \"verifyingContract\": "       \
    "\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"}"
#define MAIL_MESSAGE                                                                               \
    "{\"from\": {\"name\": \"Cow\", \"wallet\": \"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"}, " \
    "\"to\": {\"name\": \"Bob\", \"wallet\": \"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB\"}, "    \
    "\"contents\": \"Hello, Bob!\"}"
#define MAIL_DSEP "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
#define MAIL_HASH "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
#define MAIL_DIGEST "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"

/* The digest of a document written as {types}, primaryType, domain, message. */
static int typed(const char *types, const char *primary, const char *domain, const char *message,
                 uint8_t d[32], char *err)
{
    char *text = NULL;
    json_error_t jerr;
    json_t *doc;
    int r;

    cr_assert_gt(asprintf(&text,
                          "{\"types\": {%s}, \"primaryType\": \"%s\", \"domain\": %s, "
                          "\"message\": %s}",
                          types, primary, domain, message),
                 0);
    doc = json_loads(text, 0, &jerr);
    cr_assert_not_null(doc, "%s: %s", jerr.text, text);
    r = eth_typed_data_digest(doc, d, err, 256);
    json_decref(doc);
    free(text);
    return r;
}

Test(eip712, the_specs_mail_example)
{
    static const uint8_t prefix[2] = {0x19, 0x01};
    uint8_t d[32], want[32], dsep[32], mhash[32], sk[32], sig[ETH_SIG_LEN], addr[20];
    char err[256], text[ETH_ADDR_TEXT_LEN + 1];

    cr_assert_eq(typed(MAIL_TYPES, "Mail", MAIL_DOMAIN, MAIL_MESSAGE, d, err), 0, "%s", err);
    assert_hex(d, 32, MAIL_DIGEST);
    /* the digest is keccak256(0x1901 ‖ the spec's domain separator ‖ the spec's hashStruct) */
    from_hex(MAIL_DSEP, dsep, 32);
    from_hex(MAIL_HASH, mhash, 32);
    const void *parts[] = {prefix, dsep, mhash};
    const size_t lens[] = {2, 32, 32};
    cr_assert_eq(keccak256_parts(parts, lens, 3, want), 0);
    cr_assert_eq(memcmp(d, want, 32), 0);
    /* the domain alone: keccak256(0x1901 ‖ domainSeparator) */
    cr_assert_eq(typed(MAIL_TYPES, "EIP712Domain", MAIL_DOMAIN, "{}", d, err), 0, "%s", err);
    cr_assert_eq(keccak256_parts(parts, lens, 2, want), 0);
    cr_assert_eq(memcmp(d, want, 32), 0);
    /* the spec signs with keccak256("cow") and gives v 28, r 0x4355..1c9d, s 0x0729..1562 */
    cr_assert_eq(keccak256("cow", 3, sk), 0);
    from_hex(MAIL_DIGEST, d, 32);
    cr_assert_eq(eth_sign_digest(sk, d, sig), 0);
    assert_hex(sig, 64,
               "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153"
               "f6443dfa05f40ff007d72911b6f72307f996231605b91562");
    cr_assert_eq(sig[64] + 27, 28);
    cr_assert_eq(eth_recover(d, sig, addr), 0);
    eth_address_text(addr, text);
    cr_assert_str_eq(text, "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
}

Test(eip712, a_missing_domain_type_is_derived_in_the_specs_order)
{
    uint8_t d[32];
    char err[256];

    cr_assert_eq(typed("\"Person\": [{\"name\": \"name\", \"type\": \"string\"}, {\"name\": "
                       "\"wallet\", \"type\": \"address\"}], \"Mail\": [{\"name\": \"from\", "
                       "\"type\": \"Person\"}, {\"name\": \"to\", \"type\": \"Person\"}, "
                       "{\"name\": \"contents\", \"type\": \"string\"}]",
                       "Mail", MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 0, "%s", err);
    assert_hex(d, 32, MAIL_DIGEST);
}

/* One field of type `type` holding `value`, in a struct V beside the Mail domain. */
static int one_field(const char *type, const char *value, char *err)
{
    char *types = NULL, *msg = NULL;
    uint8_t d[32];
    int r;

    cr_assert_gt(asprintf(&types,
                          MAIL_TYPES ", \"V\": [{\"name\": \"v\", \"type\": \"%s\"}], \"S\": "
                                     "[{\"name\": \"x\", \"type\": \"uint8\"}]",
                          type),
                 0);
    cr_assert_gt(asprintf(&msg, "{\"v\": %s}", value), 0);
    r = typed(types, "V", MAIL_DOMAIN, msg, d, err);
    free(types);
    free(msg);
    return r;
}

Test(eip712, values_in_range_are_encoded)
{
    static const char *const ok[][2] = {
        {"uint8", "255"},
        {"uint8", "\"0xff\""},
        {"int8", "-128"},
        {"int8", "127"},
        {"int8", "\"-128\""},
        {"uint256", "\"115792089237316195423570985008687907853269984665640564039457584007913129"
                    "639935\""},
        {"int256", "\"-5789604461865809771178549250434395392663499233282028201972879200395656"
                   "4819968\""},
        {"bytes4", "\"0xa9059cbb\""},
        {"bytes", "\"0x\""},
        {"bool", "true"},
        {"string[]", "[\"a\", \"b\"]"},
        {"uint8[2][]", "[[1, 2], [3, 4], [5, 6]]"},
        {"S[1]", "[{\"x\": 1}]"},
        {"address", "\"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\""},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_eq(one_field(ok[i][0], ok[i][1], err), 0, "%s %s: %s", ok[i][0], ok[i][1], err);
}

Test(eip712, malformed_documents_are_refused_with_a_reason)
{
    static const char *const bad[][2] = {
        {"uint8", "256"},
        {"uint8", "-1"},
        {"int8", "128"},
        {"int8", "-129"},
        {"uint256", "\"1157920892373161954235709850086879078532699846656405640394575840079131296"
                    "39936\""},
        {"uint8", "1.5"},
        {"uint8", "\"12a\""},
        {"uint8", "\"\""},
        {"uint8", "true"},
        {"uint7", "1"},
        {"uint264", "1"},
        {"uint08", "1"},
        {"int", "1"},
        {"bytes4", "\"0xa9059c\""},
        {"bytes4", "\"0xa9059cbb00\""},
        {"bytes33", "\"0x00\""},
        {"bytes", "\"0x0\""},
        {"bytes", "\"a9\""},
        {"bool", "1"},
        {"string", "1"},
        {"address", "\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD\""},
        {"address", "\"0x1234\""},
        {"Unknown", "{}"},
        {"S", "{}"},
        {"S", "{\"x\": 1, \"y\": 2}"},
        {"S[2]", "[{\"x\": 1}]"},
        {"S[", "[]"},
        {"S[0]", "[]"},
        {"S[]x", "[]"},
        {"uint8[]", "1"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(one_field(bad[i][0], bad[i][1], err), -EINVAL, "%s %s", bad[i][0], bad[i][1]);
        cr_assert_neq(err[0], '\0', "%s %s: no reason given", bad[i][0], bad[i][1]);
    }
}

Test(eip712, cycles_and_broken_type_tables_are_refused)
{
    uint8_t d[32];
    char err[256];

    cr_assert_eq(typed(MAIL_TYPES ", \"A\": [{\"name\": \"a\", \"type\": \"A[]\"}]", "Mail",
                       MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 -EINVAL);
    cr_assert(strstr(err, "itself"), "%s", err);
    cr_assert_eq(typed(MAIL_TYPES ", \"A\": [{\"name\": \"b\", \"type\": \"B\"}], \"B\": "
                                  "[{\"name\": \"a\", \"type\": \"A\"}]",
                       "Mail", MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES ", \"A\": [{\"name\": \"x\", \"type\": \"uint8\"}, {\"name\": "
                                  "\"x\", \"type\": \"uint8\"}]",
                       "Mail", MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES ", \"A B\": []", "Mail", MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES ", \"A\": [{\"name\": \"x)\", \"type\": \"uint8\"}]", "Mail",
                       MAIL_DOMAIN, MAIL_MESSAGE, d, err),
                 -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES, "Nope", MAIL_DOMAIN, MAIL_MESSAGE, d, err), -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES, "Mail", MAIL_DOMAIN, "[]", d, err), -EINVAL);
    cr_assert_eq(typed(MAIL_TYPES, "Mail", "[]", MAIL_MESSAGE, d, err), -EINVAL);
    /* a domain field EIP-712 does not define, with no EIP712Domain to declare it */
    cr_assert_eq(typed("\"M\": []", "M", "{\"name\": \"x\", \"extra\": 1}", "{}", d, err), -EINVAL);
    cr_assert_eq(eth_typed_data_digest(NULL, d, err, sizeof(err)), -EINVAL);
}
