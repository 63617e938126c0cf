/* libFuzzer target: the parsers of files an attacker with disk access controls — the checkpoint
 * log (ledger.checkpoints: split into notes, each parsed as a checkpoint and verified against a
 * fixed key) and verifier-key strings (ledger.pub). None may crash, read out of bounds or accept
 * a note the key did not sign. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "ledger/checkpoint.h"
#include "ledger/note.h"

static struct osm_note_key key;

/* A key made at start: no input can carry a valid signature by it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char *vkey = NULL;

    if (sodium_init() < 0 || crypto_sign_keypair(pk, sk) < 0 ||
        osm_note_verifier_format("fuzz/osmoda-ledger", pk, &vkey) < 0 ||
        osm_note_verifier_parse(vkey, strlen(vkey), &key) < 0)
        abort();
    free(vkey);
    return 0;
}

static int each_note(void *ud, const char *note, size_t len, size_t offset)
{
    struct osm_checkpoint cp;
    size_t body_len;

    assert(offset < *(size_t *)ud);
    if (osm_checkpoint_parse(note, len, &cp) == 0) {
        assert(cp.size >= 0);
        assert(memchr(cp.origin, '\0', sizeof(cp.origin)));
    }
    if (osm_note_body_len(note, len, &body_len) == 0)
        assert(body_len <= len);
    /* Random bytes never carry a valid signature by the fixed key. */
    assert(osm_note_verify(note, len, &key) < 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osm_note_key k;
    size_t total = size;

    osm_checkpoint_log_split((const char *)data, size, each_note, &total);
    osm_note_verifier_parse((const char *)data, size, &k);
    return 0;
}
