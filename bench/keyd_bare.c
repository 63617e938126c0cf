/* The bare peers of keyd's benchmark rows, measured in the same run: EIP-191 personal_sign with
 * libsecp256k1 (and Botan's Keccak, as keyd computes the digest), Ed25519 with libsodium, each
 * in a loop for SECS seconds on one thread; and one Argon2id derivation at the vault's shipped
 * parameters. Prints one JSON line. Usage: keyd_bare [SECS] */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eth.h"
#include "sol.h"
#include "vault.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double eth_rate(double secs)
{
    uint8_t sk[32], sig[ETH_SIG_LEN], msg[16] = "bench message 01";
    double t0 = now(), t;
    long n = 0;

    do
        randombytes_buf(sk, sizeof(sk));
    while (!eth_key_valid(sk));
    do {
        for (int i = 0; i < 64; i++, n++) {
            msg[15] = (uint8_t)n;
            if (eth_personal_sign(sk, msg, sizeof(msg), sig) < 0)
                return -1;
        }
    } while ((t = now() - t0) < secs);
    return (double)n / t;
}

static double sol_rate(double secs)
{
    uint8_t seed[32], pk[SOL_PUBKEY_LEN], sk[SOL_SECRET_LEN], sig[SOL_SIG_LEN], msg[16] = {0};
    double t0 = now(), t;
    long n = 0;

    randombytes_buf(seed, sizeof(seed));
    sol_keypair(seed, pk, sk);
    do {
        for (int i = 0; i < 64; i++, n++) {
            msg[15] = (uint8_t)n;
            if (sol_sign(sk, msg, sizeof(msg), sig) < 0)
                return -1;
        }
    } while ((t = now() - t0) < secs);
    return (double)n / t;
}

static double argon2id_ms(void)
{
    uint8_t key[32], salt[crypto_pwhash_SALTBYTES];
    const char pass[] = "correct horse battery staple";
    double t0;

    randombytes_buf(salt, sizeof(salt));
    t0 = now();
    if (crypto_pwhash(key, sizeof(key), pass, sizeof(pass) - 1, salt, VAULT_KDF_OPSLIMIT,
                      VAULT_KDF_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1;
    return (now() - t0) * 1000.0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;

    if (sodium_init() < 0 || secs <= 0)
        return 1;
    printf("{\"eth_signs_per_s\":%.1f,\"sol_signs_per_s\":%.1f,\"argon2id_ms\":%.1f,"
           "\"argon2id_opslimit\":%d,\"argon2id_memlimit_mib\":%llu}\n",
           eth_rate(secs), sol_rate(secs), argon2id_ms(), VAULT_KDF_OPSLIMIT,
           (unsigned long long)(VAULT_KDF_MEMLIMIT >> 20));
    return 0;
}
