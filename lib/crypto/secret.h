/* Secret memory: constant-time comparison and zeroing that the compiler cannot drop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when the len bytes at a and b are equal; time depends on len only. */
bool osm_memeq_ct(const void *a, const void *b, size_t len);
/* Overwrites len bytes at p with zeros (sodium_memzero). */
void osm_secret_zero(void *p, size_t len);
/* Zeroes len bytes at p, then frees p. NULL-safe. */
void osm_secret_free(void *p, size_t len);
