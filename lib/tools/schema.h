/* A JSON Schema (2020-12) validator for the subset the tool registry uses: type (a name or a list,
 * "integer" included), properties, required, additionalProperties (false or a schema), enum,
 * const, minimum, maximum, minLength, maxLength (in characters), items, minItems, maxItems, anyOf
 * and oneOf. Other keywords (description, default, ...) are ignored. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* Validates instance against schema (both lent). 0 when valid; else -EINVAL with ret_field set to
 * the JSON pointer of the offending value ("" for the whole instance) and ret_reason to what is
 * wrong, phrased for a model to act on ("must be ≤ 120000", "required"). Both outputs are always
 * NUL-terminated when their length is non-zero, and cut to fit. Recursion follows the schema, so
 * a hostile instance cannot make it deeper than the schema is. */
int osm_schema_validate(const json_t *schema, const json_t *instance, char *ret_field,
                        size_t field_len, char *ret_reason, size_t reason_len);
