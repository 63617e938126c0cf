/* Shaping of tool results for a model's context, shared by the MCP bridge and the daemons:
 * paging and filtering of lists, and a byte cap on the final text that says what it cut. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One page of list (a JSON array, lent): the items whose compact JSON contains grep
 * (case-insensitive, ASCII folding; NULL or "" keeps all), skipping offset of them and keeping at
 * most limit. A negative offset counts as 0; a negative limit means OSM_TOOL_LIST_DEFAULT, and
 * limits above OSM_TOOL_LIST_MAX are lowered to it.
 * Returns {"items":[...], "total": matching items, "offset": offset,
 * "next_offset": offset of the next page | null} (new reference), or NULL when list is not an
 * array or memory runs out. */
json_t *osm_result_page(const json_t *list, int64_t offset, int64_t limit, const char *grep);

/* result (lent) as compact JSON text of at most cap bytes (caps below OSM_TOOL_RESULT_MIN count
 * as OSM_TOOL_RESULT_MIN). When longer, the text is cut at a UTF-8 character boundary and ends
 * with the marker "…[truncated: N of M bytes shown]", the whole staying within cap;
 * *ret_truncated (optional) says whether it was cut. Returns a malloc'ed string, NULL on
 * allocation failure. */
char *osm_result_text(const json_t *result, size_t cap, bool *ret_truncated);
