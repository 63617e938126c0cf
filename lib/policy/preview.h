/* What a held host write would do, for the person who approves it: the unified diff of the new
 * content against the current file, or the head of a new file, with the owner, group and mode
 * it has (or will be created with). Bounded by the limits below and marked truncated; binary
 * content is summarised (size, SHA-256), never shown; control characters, C1 controls and
 * bidirectional overrides are shown escaped (\x1b, \u202e), so that the text cannot rewrite the
 * operator's terminal or reorder what it shows. lib/ code: -errno, no logging. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define OSM_PREVIEW_DIFF_MAX (16 * 1024)      /* bytes of diff shown */
#define OSM_PREVIEW_HEAD_MAX (4 * 1024)       /* bytes of a new file's head shown */
#define OSM_PREVIEW_HEAD_LINES 40             /* lines of a new file's head shown */
#define OSM_PREVIEW_LINE_MAX 512              /* bytes of one shown line, then cut */
#define OSM_PREVIEW_OLD_MAX (1024 * 1024)     /* a larger current file is summarised */
#define OSM_PREVIEW_RAW_DIFF_MAX (256 * 1024) /* diff text computed before escaping */

struct osm_preview_input {
    const char *target; /* canonical path the write will open */
    int fd;             /* the current file, open for reading; -1 for a new file */
    struct stat st;     /* of fd (owner, group, mode, size) */
    uid_t uid;          /* a new file's owner, group and mode */
    gid_t gid;
    mode_t mode;
    const char *const *create_dirs; /* directories that will be created, outermost first */
    size_t n_create_dirs;
    const char *content; /* what the call writes */
    size_t len;
    bool append;
};

/* The preview as JSON (new reference in *ret):
 *   {"target", "target_sha256", "action": "create|replace|append", "uid", "gid",
 *    "mode": "0644", "size_before"?, "size_after", "create_dirs"?: [...], "binary",
 *    "diff"? | "head"? | "summary"?, "identical"?, "truncated"}
 * target (and create_dirs) as shown, escaped; target_sha256 names the exact bytes of the path.
 * A current file that is not a regular file gives {"target", "target_sha256", "error":
 * "not_a_regular_file"}. Returns 0, -ENOMEM, or -errno of reading the current file. */
int osm_preview_build(const struct osm_preview_input *in, json_t **ret);
/* s[0..len) as it is shown: escapes as above, each line cut at OSM_PREVIEW_LINE_MAX, at most
 * max bytes of whole lines (then *ret_truncated). New string. */
char *osm_preview_escape(const char *s, size_t len, size_t max, bool *ret_truncated);
/* The SHA-256 of a path's bytes in hex, as the preview's target_sha256. */
void osm_preview_target_hash(const char *path, char ret[static 65]);
