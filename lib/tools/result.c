/* Result shaping: pages of lists filtered by grep, and capped text with an explicit cut marker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/macro.h"
#include "tools/result.h"

#define TRUNCATED_FMT "\xe2\x80\xa6[truncated: %zu of %zu bytes shown]"

/* 1 when item's compact JSON contains grep (ASCII case folded), 0 when not, -ENOMEM. */
static int item_matches(const json_t *item, const char *grep)
{
    _cleanup_free_ char *text = NULL;

    if (!grep || !*grep)
        return 1;
    text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -ENOMEM;
    return strcasestr(text, grep) != NULL;
}

static int64_t page_limit(int64_t limit)
{
    if (limit < 0)
        return OSM_TOOL_LIST_DEFAULT;
    return limit > OSM_TOOL_LIST_MAX ? OSM_TOOL_LIST_MAX : limit;
}

json_t *osm_result_page(const json_t *list, int64_t offset, int64_t limit, const char *grep)
{
    json_auto_t *items = json_array();
    int64_t total = 0, shown;
    size_t i;
    json_t *item;

    if (!items || !json_is_array(list))
        return NULL;
    offset = offset < 0 ? 0 : offset;
    limit = page_limit(limit);
    json_array_foreach((json_t *)list, i, item)
    {
        int m = item_matches(item, grep);

        if (m < 0)
            return NULL;
        if (m && total >= offset && total - offset < limit && json_array_append(items, item) < 0)
            return NULL;
        total += m;
    }
    shown = (int64_t)json_array_size(items);
    return json_pack("{s:O, s:I, s:I, s:o}", "items", items, "total", (json_int_t)total, "offset",
                     (json_int_t)offset, "next_offset",
                     shown > 0 && offset + shown < total ? json_integer(offset + shown)
                                                         : json_null());
}

/* The first n bytes of text, without a split UTF-8 character, then the marker. */
static char *cut_with_marker(const char *text, size_t len, size_t cap)
{
    char marker[128];
    size_t keep, mlen;
    char *out;

    snprintf(marker, sizeof(marker), TRUNCATED_FMT, len, len);
    keep = cap - strlen(marker);
    while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
        keep--;
    mlen = (size_t)snprintf(marker, sizeof(marker), TRUNCATED_FMT, keep, len);
    out = malloc(keep + mlen + 1);
    if (!out)
        return NULL;
    memcpy(out, text, keep);
    memcpy(out + keep, marker, mlen + 1);
    return out;
}

char *osm_result_text(const json_t *result, size_t cap, bool *ret_truncated)
{
    _cleanup_free_ char *text = NULL;
    size_t len;

    if (ret_truncated)
        *ret_truncated = false;
    text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
    if (!text)
        return NULL;
    len = strlen(text);
    if (cap < OSM_TOOL_RESULT_MIN)
        cap = OSM_TOOL_RESULT_MIN;
    if (len <= cap)
        return TAKE_PTR(text);
    if (ret_truncated)
        *ret_truncated = true;
    return cut_with_marker(text, len, cap);
}
