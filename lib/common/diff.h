/* Unified diffs of two texts (Myers' O(ND) algorithm, GNU diff's output format), bounded in
 * work and in output so that a hostile pair of texts costs little. libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OSM_DIFF_CONTEXT 3        /* unchanged lines around each change */
#define OSM_DIFF_LINES_MAX 200000 /* lines of each text; more → -E2BIG */
#define OSM_DIFF_EDIT_MAX                                                                          \
    512 /* edit distance searched; past it the changed middle becomes                              \
           one block of deletions and insertions (still correct,                                   \
           only not minimal) */

/* Writes the unified diff of old → new ("--- old_label", "+++ new_label", hunks with
 * OSM_DIFF_CONTEXT lines of context, "\ No newline at end of file" where a text ends without
 * one) into a new NUL-terminated string of at most out_max bytes with the NUL; past that it is
 * cut at a line end and *ret_truncated set. Identical texts give "". Lines are compared as
 * bytes. Returns 0, -ENOMEM, -E2BIG (too many lines), -EINVAL (out_max 0). */
int osm_diff_unified(const char *old_text, size_t old_len, const char *new_text, size_t new_len,
                     const char *old_label, const char *new_label, size_t out_max, char **ret,
                     bool *ret_truncated);
