/* libFuzzer target: the file integrity baseline parser (daemons/watch/fim-baseline.c) on
 * arbitrary bytes. A baseline that parses must format back to text that parses to the same
 * baseline (paths with '%' and newlines survive the escaping). */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fim-internal.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    json_t *b = fim_baseline_parse((const char *)data, size), *again;
    char *text;

    if (!b)
        return 0;
    text = fim_baseline_format(b);
    assert(text);
    again = fim_baseline_parse(text, strlen(text));
    assert(again && json_equal(b, again));
    json_decref(again);
    json_decref(b);
    free(text);
    return 0;
}
