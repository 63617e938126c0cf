/* The API drivers' response parsers (Anthropic server-sent events, OpenAI chunks) on bytes a
 * model provider could send, fed in pieces whose size the first byte picks, as the network cuts
 * them. Whatever a driver emits is built and dropped. */
#include <string.h>

#include "drivers.h"
#include "fuzz.h"

static void emit(struct gw_turn *t, const char *type, json_t *fields)
{
    (void)t, (void)type;
    json_decref(fields);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_turn t = {.secret = "sk-fuzz-secret", .emit = emit};
    size_t piece;

    if (size < 1)
        return 0;
    piece = (size_t)(data[0] & 0x3f) + 1;
    if (data[0] & 0x80)
        drv_openai_parse(&t, (const char *)data + 1, size - 1, piece);
    else
        drv_anthropic_parse(&t, (const char *)data + 1, size - 1, piece);
    return 0;
}
