/* The grants file: rules of a principal, approved by the operator, that stop matching at their
 * expires_at. Each refusal names the grant (its index and id). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acl-parse.h"
#include "acl.h"

static int parse_grant(struct acl_ctx *ctx, const json_t *jg, struct acl_config *c)
{
    static const char *const keys[] = {"id",          "principal",  "host",   "ports", "expires_at",
                                       "approval_id", "created_at", "reason", NULL};
    json_t *id = json_object_get(jg, "id"), *pr = json_object_get(jg, "principal");
    int64_t expires = 0, created = 0;
    struct acl_principal *p;
    struct acl_rule *r;
    int e;

    if ((e = acl_check_keys(ctx, jg, keys)) < 0)
        return e;
    if (!json_is_string(id) || !*json_string_value(id) || !json_is_string(pr))
        return acl_fail(ctx, "a grant needs \"id\" and \"principal\" strings");
    p = (struct acl_principal *)acl_principal_find(c, json_string_value(pr));
    if (!p)
        return acl_fail(ctx, "principal \"%.63s\" is not in the ACL", json_string_value(pr));
    if (!json_object_get(jg, "expires_at"))
        return acl_fail(ctx, "a grant needs \"expires_at\"");
    if ((e = acl_int_field(ctx, jg, "expires_at", 1, INT64_MAX, &expires)) < 0 ||
        (e = acl_int_field(ctx, jg, "created_at", 0, INT64_MAX, &created)) < 0)
        return e;
    if (created && (expires <= created || expires - created > ACL_GRANT_TTL_MAX_S))
        return acl_fail(ctx, "a grant lasts from 1 s to %d s", ACL_GRANT_TTL_MAX_S);
    if ((e = acl_add_rule(p)) < 0)
        return e == -E2BIG ? acl_fail(ctx, "more than %d rules", ACL_RULES_MAX) : e;
    r = &p->rules[p->n_rules - 1];
    r->expires_at = expires;
    if (!(r->grant_id = strdup(json_string_value(id))))
        return -ENOMEM;
    if ((e = acl_parse_host(ctx, json_object_get(jg, "host"), r)) < 0 ||
        (e = acl_parse_ports(ctx, json_object_get(jg, "ports"), r)) < 0)
        return e;
    return acl_opt_string(ctx, jg, "reason", &r->comment);
}

int acl_parse_grants(struct acl_ctx *ctx, const json_t *grants, struct acl_config *c)
{
    static const char *const keys[] = {"grants", NULL};
    json_t *list, *jg;
    size_t i;
    int e;

    if (!grants)
        return 0;
    snprintf(ctx->where, sizeof(ctx->where), "grants");
    if (!json_is_object(grants))
        return acl_fail(ctx, "the grants must be a JSON object");
    if ((e = acl_check_keys(ctx, grants, keys)) < 0)
        return e;
    list = json_object_get(grants, "grants");
    if (list && !json_is_array(list))
        return acl_fail(ctx, "\"grants\" must be an array");
    json_array_foreach(list, i, jg)
    {
        json_t *id = json_is_object(jg) ? json_object_get(jg, "id") : NULL;
        snprintf(ctx->where, sizeof(ctx->where), "grant %zu%s%.60s%s", i,
                 json_is_string(id) ? " (" : "", json_is_string(id) ? json_string_value(id) : "",
                 json_is_string(id) ? ")" : "");
        if (!json_is_object(jg))
            return acl_fail(ctx, "a grant must be an object");
        if ((e = parse_grant(ctx, jg, c)) < 0)
            return e;
    }
    return 0;
}
