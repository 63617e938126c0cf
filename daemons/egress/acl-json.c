/* The ACL in force as JSON, for GET /acl and the egress_acl_list tool: the file's shape, with
 * grants marked by their id and expiry, and expired grants left out. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"

static json_t *net_json(const struct acl_net *net)
{
    char text[INET6_ADDRSTRLEN + 8];
    size_t n;

    if (!inet_ntop(net->family, net->addr, text, INET6_ADDRSTRLEN))
        return NULL;
    n = strlen(text);
    snprintf(text + n, sizeof(text) - n, "/%u", net->prefix);
    return json_string(text);
}

static json_t *rule_json(const struct acl_rule *r)
{
    json_t *o = json_object(), *ports = json_array();
    char host[ACL_HOST_MAX + 3];

    if (!o || !ports) {
        json_decref(o);
        json_decref(ports);
        return NULL;
    }
    snprintf(host, sizeof(host), "%s%s", r->wildcard ? "*." : "", r->host);
    json_object_set_new(o, "host", json_string(host));
    for (size_t i = 0; i < r->n_ports; i++)
        json_array_append_new(ports, json_integer(r->ports[i]));
    json_object_set_new(o, "ports", ports);
    if (!r->literal && r->n_nets) {
        json_t *addrs = json_array();
        for (size_t i = 0; i < r->n_nets; i++)
            json_array_append_new(addrs, net_json(&r->nets[i]));
        json_object_set_new(o, "addresses", addrs);
    }
    if (r->grant_id) {
        json_object_set_new(o, "grant_id", json_string(r->grant_id));
        json_object_set_new(o, "expires_at", json_integer(r->expires_at));
    }
    if (r->comment)
        json_object_set_new(o, r->grant_id ? "reason" : "comment", json_string(r->comment));
    return o;
}

static json_t *principal_json(const struct acl_principal *p, time_t now)
{
    json_t *rules = json_array();

    for (size_t i = 0; rules && i < p->n_rules; i++) {
        const struct acl_rule *r = &p->rules[i];
        if (r->expires_at == 0 || (int64_t)now < r->expires_at)
            json_array_append_new(rules, rule_json(r));
    }
    return json_pack("{s:s,s:i,s:o}", "mode", p->mode == ACL_REPORT ? "report" : "enforce",
                     "max_connections", p->max_connections, "rules", rules);
}

json_t *acl_config_json(const struct acl_config *c, const char *principal, time_t now)
{
    json_t *ps = json_object();

    if (!c || !ps) {
        json_decref(ps);
        return NULL;
    }
    for (size_t i = 0; i < c->n_principals; i++) {
        const struct acl_principal *p = &c->principals[i];
        if (!principal || strcmp(principal, p->name) == 0)
            json_object_set_new(ps, p->name, principal_json(p, now));
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:I,s:o}", "max_connections", c->max_connections,
                     "idle_timeout_s", c->idle_timeout_s, "header_timeout_s", c->header_timeout_s,
                     "connect_timeout_s", c->connect_timeout_s, "generation",
                     (json_int_t)c->generation, "principals", ps);
}
