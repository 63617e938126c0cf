/* libFuzzer target: eth_typed_data_digest (EIP-712) on arbitrary JSON documents. It must never
 * crash or recurse without bound, a refusal must be -EINVAL with a reason (or -ENOMEM), and the
 * same document must always give the same digest. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "eth.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t d1[32], d2[32];
    char err[256];
    json_error_t jerr;
    json_t *doc;
    int r;

    if (size > ETH_TYPED_DATA_MAX)
        return 0;
    doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return 0;
    r = eth_typed_data_digest(doc, d1, err, sizeof(err));
    if (r == 0) {
        assert(eth_typed_data_digest(doc, d2, err, sizeof(err)) == 0);
        assert(memcmp(d1, d2, 32) == 0);
    } else {
        assert(r == -EINVAL || r == -ENOMEM);
        assert(r == -ENOMEM || err[0] != '\0');
    }
    json_decref(doc);
    return 0;
}
