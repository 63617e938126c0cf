/* What the ACL loader's files share (acl.c, acl-grants.c): the message context and the
 * parsers of a rule's fields. Each returns 0, -EINVAL with the message written through ctx, or
 * -ENOMEM. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "acl.h"
#include "common/macro.h"

/* Where a message is written, and which rule it is about. */
struct acl_ctx {
    char *err;
    size_t errlen;
    char where[160];
};

/* Writes "<where>: <message>" and returns -EINVAL. */
OSM_PRINTF(2, 3) int acl_fail(struct acl_ctx *ctx, const char *fmt, ...);
/* Refuses any key of obj not in the NULL-terminated allowed list, naming it. */
int acl_check_keys(struct acl_ctx *ctx, const json_t *obj, const char *const *allowed);
/* An optional integer field in min..max (val untouched when absent). */
int acl_int_field(struct acl_ctx *ctx, const json_t *obj, const char *key, int64_t min, int64_t max,
                  int64_t *val);
/* "ports" (absent: [443]). */
int acl_parse_ports(struct acl_ctx *ctx, const json_t *ports, struct acl_rule *r);
/* "host": exact name, address literal, or "*." and a name of two labels or more. */
int acl_parse_host(struct acl_ctx *ctx, const json_t *hv, struct acl_rule *r);
/* An optional string field, copied. */
int acl_opt_string(struct acl_ctx *ctx, const json_t *obj, const char *key, char **ret);
/* Appends a zeroed rule to p (-E2BIG past ACL_RULES_MAX). */
int acl_add_rule(struct acl_principal *p);
/* The grants object into the principals of c. */
int acl_parse_grants(struct acl_ctx *ctx, const json_t *grants, struct acl_config *c);
