/* Hex and base64 (RFC 4648 standard alphabet, with padding) for hashes, keys and signatures. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Characters (without NUL) of the padded base64 form of n bytes. */
#define OSM_BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes 2 * len lowercase hex digits and a NUL to out. */
void osm_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly 2 * out_len hex digits (either case) from in. -EINVAL on a wrong length or a
 * non-hex character. */
int osm_hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_len);
/* Writes the padded base64 of in and a NUL to out. -ENOBUFS unless out_size exceeds
 * OSM_BASE64_LEN(len). */
int osm_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_size);
/* Decodes strict padded base64 (no whitespace) of in_len chars into at most out_max bytes.
 * -EINVAL on bad input or when it would not fit. */
int osm_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_max, size_t *ret_len);
