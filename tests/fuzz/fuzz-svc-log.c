/* libFuzzer target: what a supervised service controls in the process backend of osmoda-watch
 * (daemons/watch/svc-process-log.c, -spawn.c): its log lines read back by journal_logs, its
 * sd_notify datagrams, and the priority and since texts of a journal_logs query. Byte 0 picks
 * the priority and the line count; the rest splits at the first 0xfe into a since text and a
 * log file. The answer must hold valid UTF-8 lines, oldest first, within its caps. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "fuzz.h"
#include "svc-process-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void query_texts(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size);
    int64_t ms;

    if (!text)
        return;
    int p = svc_log_parse_priority(text);
    assert(p == -EINVAL || (p >= 0 && p <= 7));
    (void)svc_log_parse_since(text, 1700000000000, &ms);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *split = memchr(data + 1, 0xfe, size - 1);
    size_t since_len = split ? (size_t)(split - data - 1) : 0;
    size_t log_len = size - 1 - since_len - (split ? 1 : 0);
    struct proc_log_filter f = {.max_prio = data[0] & 7,
                                .since_ms = (data[0] & 8) ? 1700000000000 : INT64_MIN,
                                .want = 1 + (data[0] >> 4)};
    char *log = malloc(log_len + 1);
    json_t *out = json_array();
    bool truncated = false;
    size_t bytes = 0, i;
    json_t *line;

    query_texts(data + 1, since_len);
    (void)proc_notify_ready((const char *)data + 1, size - 1);
    if (!log || !out)
        goto done;
    memcpy(log, split ? split + 1 : data + 1, log_len);
    (void)proc_log_scan(log, log_len, &f, out, &bytes, &truncated);
    assert(json_array_size(out) <= f.want);
    assert(bytes <= SVC_LOG_ANSWER_MAX);
    json_array_foreach(out, i, line)
    {
        const char *s = json_string_value(line);
        assert(s && osm_utf8_valid(s, strlen(s)));
    }
done:
    json_decref(out);
    free(log);
    return 0;
}
