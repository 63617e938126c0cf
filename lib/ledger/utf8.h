/* UTF-8 validation for text that enters the ledger or is parsed from files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) and holds no NUL byte. */
bool osm_utf8_valid(const char *s, size_t len);
