/* libFuzzer target: the preview of a held write (lib/policy/preview.c) and the unified diff under
 * it (lib/common/diff.c) on hostile current and new content. Byte 0 chooses append and whether
 * a current file exists; the rest splits at the first 0xfe into the current file and the new
 * content. The preview must never crash, must be JSON text in which no byte could drive a
 * terminal, and must stay within its bounds. */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diff.h"
#include "common/utf8.h"
#include "fuzz.h"
#include "policy/preview.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void inert(const char *s, size_t max)
{
    size_t len = strlen(s);

    assert(len <= max);
    assert(osm_utf8_valid(s, len));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        assert(c >= 0x20 || c == '\n' || c == '\t');
        assert(c != 0x7f);
        assert(!(c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9f));
        assert(!(c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                 (unsigned char)s[i + 2] >= 0xaa && (unsigned char)s[i + 2] <= 0xae));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osm_preview_input in = {.target = "/etc/fuzz.conf", .fd = -1, .mode = 0644};
    const uint8_t *split;
    const char *old;
    size_t old_len;
    json_t *p = NULL;
    char *d = NULL;
    bool cut;

    if (size < 1)
        return 0;
    in.append = data[0] & 1;
    data++, size--;
    split = memchr(data, 0xfe, size);
    old = (const char *)data;
    old_len = split ? (size_t)(split - data) : 0;
    in.content = split ? (const char *)split + 1 : (const char *)data;
    in.len = split ? size - old_len - 1 : size;
    if (data[-1] & 2) {
        in.fd = memfd_create("current", 0);
        assert(in.fd >= 0);
        assert(write(in.fd, old, old_len) == (ssize_t)old_len);
        assert(fstat(in.fd, &in.st) == 0);
    }
    assert(osm_preview_build(&in, &p) == 0 && p);
    if (json_is_string(json_object_get(p, "diff")))
        inert(json_string_value(json_object_get(p, "diff")), OSM_PREVIEW_DIFF_MAX);
    if (json_is_string(json_object_get(p, "head")))
        inert(json_string_value(json_object_get(p, "head")), OSM_PREVIEW_HEAD_MAX);
    assert(json_is_boolean(json_object_get(p, "truncated")));
    json_decref(p);
    if (in.fd >= 0)
        close(in.fd);
    if (osm_diff_unified(old, old_len, in.content, in.len, "a", "b", 4096, &d, &cut) == 0) {
        assert(strlen(d) < 4096);
        assert(!old_len && !in.len ? d[0] == '\0' : 1);
        free(d);
    }
    return 0;
}
