/* libFuzzer target for the id recovery of oversized messages (mcp/mcp-id-scan.c), a parser of
 * untrusted bytes of its own. Checks that feeding the input in pieces gives the answer feeding it
 * whole gives, that an answer is always an integer or a string, and - where jansson parses the
 * input as an object - that a recovered id is the object's own top-level "id", and that a short
 * enough id of a request is always recovered. */
#include <assert.h>
#include <string.h>

#include "../../mcp/mcp.h"
#include "fuzz.h"

static bool same(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal(a, b));
}

/* The id jansson finds, when the input is an object with a method and exactly one "id". */
static void check_against_jansson(const uint8_t *data, size_t size, const json_t *got)
{
    json_t *v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const json_t *id = json_object_get(v, "id");

    if (!json_is_object(v)) {
        json_decref(v);
        return;
    }
    if (got)
        assert(json_equal(got, id)); /* never a nested id */
    if (json_object_get(v, "method") && (json_is_integer(id) || json_is_string(id))) {
        /* an escaped character takes at most 6 raw bytes for each decoded byte */
        size_t raw_max = json_is_string(id) ? json_string_length(id) * 6 + 2 : 24;
        if (raw_max <= MCP_ID_SCAN_MAX)
            assert(got != NULL);
    }
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *whole = mcp_id_recover((const char *)data, size);
    struct mcp_id_scan s;
    size_t step = size > 0 ? data[0] % 7 + 1 : 1;
    json_t *pieces;

    assert(!whole || json_is_integer(whole) || json_is_string(whole));
    mcp_id_scan_init(&s);
    for (size_t i = 0; i < size; i += step)
        mcp_id_scan_feed(&s, (const char *)data + i, i + step < size ? step : size - i);
    pieces = mcp_id_scan_result(&s);
    assert(same(whole, pieces));
    check_against_jansson(data, size, whole);
    json_decref(whole);
    json_decref(pieces);
    return 0;
}
