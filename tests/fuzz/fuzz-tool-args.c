/* libFuzzer target: tool argument validation (lib/tools/schema.c) on hostile JSON. Byte 0 picks
 * the tool (or, past the tools, an alias); the rest is parsed as JSON and validated. It must
 * never crash, errors must be NUL-terminated and bounded and never split a UTF-8 character; the
 * same arguments also go through alias renaming and result shaping with a small cap. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/limits.h"
#include "fuzz.h"
#include "tools/registry.h"
#include "tools/result.h"

static const char *const aliases[] = {"read_file", "run_command", "list_processes", "mesh_send"};

/* The buffer holds a NUL within its size, and no cut character before it. */
static void check_text(const char *buf, size_t size)
{
    size_t len = strnlen(buf, size), i = len;

    assert(len < size);
    while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0xC0) {
        unsigned char lead = (unsigned char)buf[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

        assert(len - (i - 1) == need);
    }
}

static void validate(const struct osm_tool *t, const json_t *args, size_t field_len,
                     size_t reason_len)
{
    char field[OSM_TOOL_ERROR_FIELD_MAX], reason[OSM_TOOL_ERROR_REASON_MAX];
    int r = osm_tool_validate(t, args, field, field_len, reason, reason_len);

    assert(r == 0 || r == -EINVAL);
    check_text(field, field_len);
    check_text(reason, reason_len);
    if (r == -EINVAL && reason_len > 4) /* room for any first character */
        assert(reason[0] != '\0');
}

static void shape(const json_t *args)
{
    json_t *page = osm_result_page(args, 0, 3, "a");
    char *text = osm_result_text(args, OSM_TOOL_RESULT_MIN, NULL);

    assert(!json_is_array(args) || page);
    assert(text && strlen(text) <= OSM_TOOL_RESULT_MIN);
    free(text);
    json_decref(page);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    osm_tools(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    const struct osm_tool *tools = osm_tools(&n);
    const struct osm_tool *t;
    const struct osm_tool_alias *alias = NULL;
    json_t *args, *renamed = NULL;

    if (size < 1)
        return 0;
    if (data[0] < n)
        t = &tools[data[0]];
    else
        t = osm_tool_find(aliases[data[0] % (sizeof(aliases) / sizeof(aliases[0]))], &alias);
    args = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (!args)
        return 0;
    if (alias)
        renamed = osm_tool_alias_args(alias, args);
    validate(t, renamed ? renamed : args, OSM_TOOL_ERROR_FIELD_MAX, OSM_TOOL_ERROR_REASON_MAX);
    validate(t, args, 1 + data[0] % 16, 1 + data[0] % 24);
    shape(args);
    json_decref(renamed);
    json_decref(args);
    return 0;
}
