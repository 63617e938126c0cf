/* UTF-8 validation for text that enters the ledger or is parsed from files, and scrubbing of
 * output that must travel as a JSON string. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) and holds no NUL byte. */
bool osm_utf8_valid(const char *s, size_t len);
/* Replaces every byte of s[0..len) that is not part of a well-formed UTF-8 character with '?'
 * (NUL with ' '), so that the text can be a JSON string. */
void osm_utf8_scrub(char *s, size_t len);
