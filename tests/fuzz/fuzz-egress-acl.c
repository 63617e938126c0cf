/* libFuzzer target: osmoda-egress's ACL and grants as acl_config_from_json reads them (the
 * input is the ACL's JSON, then a NUL, then the grants' JSON). A refusal must come with a
 * message; an accepted configuration must never hold a rule that means "any" (an empty host, a
 * one-label wildcard, port 0), each rule must let its own host through on its ports until it
 * expires, and the JSON view must be valid. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void check_rule(const struct acl_principal *p, const struct acl_rule *r)
{
    char host[ACL_HOST_MAX + 3], norm[ACL_HOST_MAX + 1];
    const struct acl_rule *m;

    assert(r->host && r->host[0] && r->n_ports > 0 && r->n_ports <= ACL_PORTS_MAX);
    for (size_t i = 0; i < r->n_ports; i++)
        assert(r->ports[i] != 0);
    if (r->wildcard)
        assert(strchr(r->host, '.') && !r->literal);
    snprintf(host, sizeof(host), "%s%s", r->wildcard ? "x." : "", r->host);
    if (acl_host_normalize(host, norm) < 0) {
        assert(r->wildcard); /* "x." made it longer than a name may be */
        return;
    }
    assert(strcmp(norm, host) == 0);
    m = acl_match(p, norm, r->ports[0], 0);
    assert(m || r->expires_at != 0);
    assert(!acl_match(p, norm, r->ports[0], INT64_MAX) || acl_match(p, norm, r->ports[0], 0));
    if (!r->wildcard)
        assert(!acl_match(p, "", r->ports[0], 0));
}

static void check(const struct acl_config *c)
{
    json_t *view;
    char *text;

    for (size_t i = 0; i < c->n_principals; i++) {
        const struct acl_principal *p = &c->principals[i];
        assert(acl_principal_find(c, p->name) == p);
        for (size_t j = 0; j < p->n_rules; j++)
            check_rule(p, &p->rules[j]);
    }
    view = acl_config_json(c, NULL, 0);
    assert(view);
    text = json_dumps(view, 0);
    assert(text);
    free(text);
    json_decref(view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *nul = memchr(data, '\0', size);
    size_t alen = nul ? (size_t)(nul - text) : size;
    json_t *acl = json_loadb(text, alen, JSON_REJECT_DUPLICATES, NULL), *grants = NULL;
    struct acl_config *c = NULL;
    char err[512];
    int e;

    if (!acl)
        return 0;
    if (nul)
        grants = json_loadb(nul + 1, size - alen - 1, JSON_REJECT_DUPLICATES, NULL);
    e = acl_config_from_json(acl, grants, &c, err, sizeof(err));
    if (e < 0) {
        assert(!c && (e != -EINVAL || err[0]));
    } else {
        check(c);
        acl_config_unref(c);
    }
    json_decref(acl);
    json_decref(grants);
    return 0;
}
