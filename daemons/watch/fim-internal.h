/* Private to the file integrity monitor: the state of one file (fim-scan.c) and the baseline
 * file (fim-baseline.c). A state is a JSON object {sha256, mode, uid, gid}: sha256 is the hex
 * digest of a regular file's content, or of "symlink:" + target for a symbolic link. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FIM_HASH_CHUNK (64 * 1024)
#define FIM_BASELINE_MAX (64 * 1024 * 1024) /* bytes of the baseline file */

/* The state of path (new), or NULL when it is missing or neither a regular file nor a link. */
json_t *fim_state(const char *path);
/* True when both states are the same (content, mode, owner). NULL is "missing". */
bool fim_state_equal(const json_t *a, const json_t *b);
/* Adds every file under root (a directory, walked without following links, or one file) to
 * into, at most *budget files (decremented; *truncated set when it ran out). */
void fim_scan_root(const char *root, json_t *into, size_t *budget, bool *truncated);

/* The baseline file: one line per file, sorted by path, "sha256 mode uid gid path\n" with '%'
 * and '\n' in the path written as %25 and %0A. Parses text into a new object, NULL when a line
 * is malformed. */
json_t *fim_baseline_parse(const char *text, size_t len);
/* The text of a baseline (new string). */
char *fim_baseline_format(const json_t *baseline);
