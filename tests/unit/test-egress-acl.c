/* daemons/egress/acl*.c: host normalisation, wildcard edges, ports, literal rules and
 * "addresses" nets, grants and their expiry, the loader's refusals (each naming its rule), the
 * default configuration and the JSON view. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"

static struct acl_config *load(const char *acl, const char *grants)
{
    json_error_t jerr;
    json_t *a = json_loads(acl, 0, &jerr), *g = grants ? json_loads(grants, 0, &jerr) : NULL;
    struct acl_config *c = NULL;
    char err[512];
    int e;

    cr_assert_not_null(a, "bad test JSON: %s", jerr.text);
    e = acl_config_from_json(a, g, &c, err, sizeof(err));
    cr_assert_eq(e, 0, "load failed: %s", err);
    json_decref(a);
    json_decref(g);
    return c;
}

/* Loading must fail with -EINVAL and a message containing want. */
static void refused(const char *acl, const char *grants, const char *want)
{
    json_t *a = json_loads(acl, 0, NULL), *g = grants ? json_loads(grants, 0, NULL) : NULL;
    struct acl_config *c = NULL;
    char err[512] = "";

    cr_assert_not_null(a, "bad test JSON %s", acl);
    cr_expect_eq(acl_config_from_json(a, g, &c, err, sizeof(err)), -EINVAL, "accepted: %s", acl);
    cr_expect_null(c);
    cr_expect(strstr(err, want), "%s: message \"%s\" lacks \"%s\"", acl, err, want);
    acl_config_unref(c);
    json_decref(a);
    json_decref(g);
}

static bool allows(const struct acl_principal *p, const char *host, uint16_t port)
{
    char norm[ACL_HOST_MAX + 1];

    if (acl_host_normalize(host, norm) < 0)
        return false;
    return acl_match(p, norm, port, 1000) != NULL;
}

static void norm_is(const char *in, const char *want)
{
    char out[ACL_HOST_MAX + 1];
    int e = acl_host_normalize(in, out);

    if (!want) {
        cr_expect_eq(e, -EINVAL, "\"%s\" accepted as \"%s\"", in, e == 0 ? out : "");
        return;
    }
    cr_expect_eq(e, 0, "\"%s\" refused", in);
    if (e == 0)
        cr_expect_str_eq(out, want);
}

Test(acl, host_normalize)
{
    char long_label[80], long_name[300];

    norm_is("GitHub.COM", "github.com");
    norm_is("github.com.", "github.com");
    norm_is("github.com..", NULL);
    norm_is(".github.com", NULL);
    norm_is("a..b", NULL);
    norm_is("", NULL);
    norm_is(".", NULL);
    norm_is("-a.com", NULL);
    norm_is("a-.com", NULL);
    norm_is("a_b.com", NULL);
    norm_is("user@host.com", NULL);
    norm_is("host%2ecom", NULL);
    norm_is("host.com:443", NULL);
    norm_is("xn--bcher-kva.example", "xn--bcher-kva.example");
    norm_is("10.0.0.5", "10.0.0.5");
    norm_is("[::1]", "::1");
    norm_is("::1", "::1");
    norm_is("[0:0::FFFF:127.0.0.1]", "::ffff:127.0.0.1");
    norm_is("[fe80::1%25eth0]", NULL);
    norm_is("fe80::1%eth0", NULL);
    norm_is("[10.0.0.1]", NULL);
    norm_is("[example.com]", NULL);
    norm_is("[::1", NULL);
    /* addresses in forms resolvers accept are not names */
    norm_is("127.1", NULL);
    norm_is("0x7f000001", NULL);
    norm_is("0X21.", NULL);
    norm_is("2130706433", NULL);
    norm_is("1.2.3.4.5", NULL);
    norm_is("010.0.0.1", NULL);
    norm_is("1.2.3.4.", NULL);
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    snprintf(long_name, sizeof(long_name), "%s.com", long_label);
    norm_is(long_name, NULL);
    long_label[63] = '\0';
    snprintf(long_name, sizeof(long_name), "%s.com", long_label);
    norm_is(long_name, long_name);
    for (size_t i = 0; i < 254; i += 2)
        memcpy(long_name + i, "a.", 2);
    long_name[253] = '\0'; /* 253 bytes ending in "a" */
    norm_is(long_name, long_name);
    long_name[253] = 'a';
    long_name[254] = '\0';
    norm_is(long_name, NULL);
}

Test(acl, wildcard_edges)
{
    struct acl_config *c =
        load("{\"principals\":{\"agent\":{\"rules\":[{\"host\":\"*.Example.COM.\"}]}}}", NULL);
    const struct acl_principal *p = acl_principal_find(c, "agent");

    cr_assert_not_null(p);
    cr_expect(allows(p, "a.example.com", 443));
    cr_expect(allows(p, "a.b.example.com", 443));
    cr_expect(allows(p, "A.EXAMPLE.COM.", 443));
    cr_expect(!allows(p, "example.com", 443));
    cr_expect(!allows(p, "example.com.evil", 443));
    cr_expect(!allows(p, "evilexample.com", 443));
    cr_expect(!allows(p, "a.example.com.evil", 443));
    cr_expect(!allows(p, "aexample.com", 443));
    cr_expect(!allows(p, ".example.com", 443));
    cr_expect(!allows(p, "a.example.co", 443));
    cr_expect(!allows(p, "a.example.com", 80), "ports default to 443 only");
    cr_expect_null(acl_match(p, "a.example.com", 0, 0));
    acl_config_unref(c);
}

Test(acl, exact_and_ports)
{
    struct acl_config *c = load("{\"principals\":{\"agent\":{\"rules\":[{\"host\":\"github.com\"},"
                                "{\"host\":\"nixos.org\",\"ports\":[80,8443]}]}, \"other\":{}}}",
                                NULL);
    const struct acl_principal *p = acl_principal_find(c, "agent"), *o;

    cr_expect(allows(p, "github.com", 443));
    cr_expect(allows(p, "GITHUB.com.", 443));
    cr_expect(!allows(p, "github.com", 80));
    cr_expect(!allows(p, "api.github.com", 443));
    cr_expect(!allows(p, "github.co", 443));
    cr_expect(!allows(p, "github.com.evil", 443));
    cr_expect(allows(p, "nixos.org", 80));
    cr_expect(allows(p, "nixos.org", 8443));
    cr_expect(!allows(p, "nixos.org", 443), "explicit ports replace the default");
    o = acl_principal_find(c, "other");
    cr_assert_not_null(o);
    cr_expect(!allows(o, "github.com", 443), "each principal has its own rules");
    cr_expect_null(acl_principal_find(c, "nobody"));
    cr_expect_eq(p->mode, ACL_ENFORCE);
    cr_expect_eq(p->max_connections, ACL_DEFAULT_PRINCIPAL_MAX_CONNECTIONS);
    cr_expect_eq(c->max_connections, ACL_DEFAULT_MAX_CONNECTIONS);
    cr_expect_eq(c->idle_timeout_s, ACL_DEFAULT_IDLE_TIMEOUT_S);
    acl_config_unref(c);
}

static struct sockaddr_storage sa(const char *text)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        cr_assert_fail("bad address %s", text);
    return ss;
}

static bool names(const struct acl_rule *r, const char *text)
{
    struct sockaddr_storage ss = sa(text);
    return acl_rule_names_addr(r, (struct sockaddr *)&ss);
}

Test(acl, literal_rules_and_nets_name_only_their_addresses)
{
    struct acl_config *c = load(
        "{\"principals\":{\"agent\":{\"rules\":["
        "{\"host\":\"10.0.0.5\",\"ports\":[8080]},"
        "{\"host\":\"[FD00::5]\",\"ports\":[8080]},"
        "{\"host\":\"db.internal\",\"ports\":[5432],\"addresses\":[\"10.1.0.0/16\",\"fd00:1::/32\","
        "\"192.168.1.7\"]},"
        "{\"host\":\"public.example\"}]}}}",
        NULL);
    const struct acl_principal *p = acl_principal_find(c, "agent");
    const struct acl_rule *lit, *lit6, *db, *pub;

    lit = acl_match(p, "10.0.0.5", 8080, 0);
    cr_assert_not_null(lit);
    cr_expect(lit->literal);
    cr_expect(names(lit, "10.0.0.5"));
    cr_expect(names(lit, "::ffff:10.0.0.5"), "a mapped address is its IPv4 address");
    cr_expect(!names(lit, "10.0.0.6"));
    cr_expect(!names(lit, "127.0.0.1"));
    cr_expect_null(acl_match(p, "10.0.0.5", 443, 0));
    cr_expect_null(acl_match(p, "10.0.0.6", 8080, 0));

    lit6 = acl_match(p, "fd00::5", 8080, 0);
    cr_assert_not_null(lit6);
    cr_expect(names(lit6, "fd00::5"));
    cr_expect(!names(lit6, "fd00::6"));

    db = acl_match(p, "db.internal", 5432, 0);
    cr_assert_not_null(db);
    cr_expect(!db->literal);
    cr_expect(names(db, "10.1.0.1"));
    cr_expect(names(db, "10.1.255.255"));
    cr_expect(!names(db, "10.2.0.1"));
    cr_expect(!names(db, "10.0.255.255"));
    cr_expect(names(db, "fd00:1:ffff::1"));
    cr_expect(!names(db, "fd00:2::1"));
    cr_expect(names(db, "192.168.1.7"));
    cr_expect(!names(db, "192.168.1.8"));
    cr_expect(!names(db, "127.0.0.1"));

    pub = acl_match(p, "public.example", 443, 0);
    cr_assert_not_null(pub);
    cr_expect(!names(pub, "10.1.0.1"), "a rule without addresses names none");
    cr_expect(!names(pub, "127.0.0.1"));
    acl_config_unref(c);
}

Test(acl, refusals_name_the_rule)
{
#define RULE(h) "{\"principals\":{\"agent\":{\"rules\":[{\"host\":\"ok.example\"}," h "]}}}"
    refused(RULE("{\"host\":\"*\"}"), NULL, "rule 1 (\"*\")");
    refused(RULE("{\"host\":\"*.\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"*.com\"}"), NULL, "top-level");
    refused(RULE("{\"host\":\"*.com.\"}"), NULL, "top-level");
    refused(RULE("{\"host\":\"**.x\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"*.*.example.com\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"a.*.example.com\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"*.10.0.0.1\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"*.::1\"}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"\"}"), NULL, "rule 1");
    refused(RULE("{\"ports\":[443]}"), NULL, "rule 1");
    refused(RULE("{\"host\":5}"), NULL, "rule 1");
    refused(RULE("{\"host\":\"a.com\",\"ports\":[0]}"), NULL, "port 0");
    refused(RULE("{\"host\":\"a.com\",\"ports\":[65536]}"), NULL, "1..65535");
    refused(RULE("{\"host\":\"a.com\",\"ports\":[-1]}"), NULL, "1..65535");
    refused(RULE("{\"host\":\"a.com\",\"ports\":[\"443\"]}"), NULL, "1..65535");
    refused(RULE("{\"host\":\"a.com\",\"ports\":[]}"), NULL, "non-empty");
    refused(RULE("{\"host\":\"a.com\",\"ports\":443}"), NULL, "non-empty");
    refused(RULE("{\"host\":\"a.com\",\"port\":443}"), NULL, "unknown key \"port\"");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[]}"), NULL, "non-empty");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[\"10.0.0.0/33\"]}"), NULL, "address 0");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[\"10.0.0.1/8\"]}"), NULL, "address 0");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[\"0.0.0.0/0\"]}"), NULL, "address 0");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[\"::/0\"]}"), NULL, "address 0");
    refused(RULE("{\"host\":\"a.com\",\"addresses\":[\"db.internal\"]}"), NULL, "address 0");
    refused(RULE("{\"host\":\"10.0.0.1\",\"addresses\":[\"10.0.0.0/8\"]}"), NULL, "literal");
    refused(RULE("\"a.com\""), NULL, "rule 1");
    refused("{\"principals\":{\"agent\":{\"rules\":[],\"mode\":\"audit\"}}}", NULL, "mode");
    refused("{\"principals\":{\"agent\":{\"rule\":[]}}}", NULL, "unknown key \"rule\"");
    refused("{\"principals\":{\"Agent\":{}}}", NULL, "principal \"Agent\"");
    refused("{\"principals\":{\"-x\":{}}}", NULL, "principal");
    refused("{\"principals\":{\"\":{}}}", NULL, "principal");
    refused("{\"principals\":{\"a\":{\"max_connections\":0}}}", NULL, "max_connections");
    refused("{\"principals\":{\"a\":[]}}", NULL, "principal \"a\"");
    refused("{\"principals\":[]}", NULL, "principals");
    refused("{\"idle_timeout_s\":0}", NULL, "idle_timeout_s");
    refused("{\"idle_timeout_s\":1.5}", NULL, "idle_timeout_s");
    refused("{\"allow_all\":true}", NULL, "unknown key \"allow_all\"");
    refused("[]", NULL, "object");
#undef RULE
}

Test(acl, grants_expire_at_exactly_expires_at)
{
    struct acl_config *c = load(
        "{\"principals\":{\"agent\":{\"rules\":[]}}}",
        "{\"grants\":[{\"id\":\"g1\",\"principal\":\"agent\",\"host\":\"api.example.com\","
        "\"expires_at\":2000,\"created_at\":1000,\"reason\":\"deploy\",\"approval_id\":\"ap1\"},"
        "{\"id\":\"g2\",\"principal\":\"agent\",\"host\":\"*.cdn.example\",\"ports\":[80],"
        "\"expires_at\":500}]}");
    const struct acl_principal *p = acl_principal_find(c, "agent");
    const struct acl_rule *r = acl_match(p, "api.example.com", 443, 1999);

    cr_assert_not_null(r);
    cr_expect_str_eq(r->grant_id, "g1");
    cr_expect_eq(r->expires_at, 2000);
    cr_expect_null(acl_match(p, "api.example.com", 443, 2000));
    cr_expect_null(acl_match(p, "api.example.com", 443, 2001));
    cr_expect_null(acl_match(p, "api.example.com", 80, 1500));
    cr_expect_not_null(acl_match(p, "x.cdn.example", 80, 499));
    cr_expect_null(acl_match(p, "x.cdn.example", 80, 500));
    acl_config_unref(c);
}

Test(acl, grant_refusals)
{
    const char *acl = "{\"principals\":{\"agent\":{}}}";

    refused(acl,
            "{\"grants\":[{\"id\":\"g\",\"principal\":\"ghost\",\"host\":\"a.com\","
            "\"expires_at\":5}]}",
            "grant 0 (g): principal \"ghost\"");
    refused(acl, "{\"grants\":[{\"id\":\"g\",\"principal\":\"agent\",\"host\":\"a.com\"}]}",
            "expires_at");
    refused(acl,
            "{\"grants\":[{\"id\":\"g\",\"principal\":\"agent\",\"host\":\"*.com\","
            "\"expires_at\":5}]}",
            "grant 0");
    refused(acl,
            "{\"grants\":[{\"id\":\"g\",\"principal\":\"agent\",\"host\":\"a.com\","
            "\"expires_at\":5, \"addresses\":[\"10.0.0.0/8\"]}]}",
            "unknown key \"addresses\"");
    refused(acl,
            "{\"grants\":[{\"id\":\"g\",\"principal\":\"agent\",\"host\":\"a.com\","
            "\"expires_at\":1000000, \"created_at\":1}]}",
            "grant 0");
    refused(acl, "{\"grants\":[{\"principal\":\"agent\",\"host\":\"a.com\",\"expires_at\":5}]}",
            "grant 0");
    refused(acl, "{\"grant\":[]}", "unknown key");
}

Test(acl, report_mode_and_limits)
{
    struct acl_config *c = load("{\"max_connections\":10,\"idle_timeout_s\":7,"
                                "\"header_timeout_s\":3,\"connect_timeout_s\":4,"
                                "\"principals\":{\"r1\":{\"mode\":\"report\",\"max_connections\":2,"
                                "\"comment\":\"rollout\"}}}",
                                NULL);
    const struct acl_principal *p = acl_principal_find(c, "r1");

    cr_expect_eq(p->mode, ACL_REPORT);
    cr_expect_eq(p->max_connections, 2);
    cr_expect_eq(c->max_connections, 10);
    cr_expect_eq(c->idle_timeout_s, 7);
    cr_expect_eq(c->header_timeout_s, 3);
    cr_expect_eq(c->connect_timeout_s, 4);
    cr_expect_eq(c->refs, 1);
    cr_expect_eq(acl_config_ref(c), c);
    cr_expect_eq(c->refs, 2);
    acl_config_unref(c);
    acl_config_unref(c);
    acl_config_unref(NULL);
}

static char dir[] = "/tmp/test-egress-acl-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(acl, load_files_and_default, .init = setup, .fini = teardown)
{
    const char *const allow[] = {"github.com", "*.nixos.org", NULL};
    const char *const bad_allow[] = {"*", NULL};
    char acl[128], grants[128], err[512];
    struct acl_config *c = NULL;
    const struct acl_principal *p;

    snprintf(acl, sizeof(acl), "%s/acl.json", dir);
    snprintf(grants, sizeof(grants), "%s/grants.json", dir);
    /* no files: osModa's behaviour, "default" on 443 for the given hosts */
    cr_assert_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(c->n_principals, 1);
    p = acl_principal_find(c, "default");
    cr_assert_not_null(p);
    cr_expect(allows(p, "github.com", 443));
    cr_expect(allows(p, "cache.nixos.org", 443));
    cr_expect(!allows(p, "github.com", 80));
    cr_expect(!allows(p, "example.com", 443));
    acl_config_unref(c);
    c = NULL;
    cr_expect_eq(acl_config_load(acl, grants, NULL, &c, err, sizeof(err)), 0);
    cr_expect_eq(acl_principal_find(c, "default")->n_rules, 0, "no --default-allow: nothing");
    acl_config_unref(c);
    c = NULL;
    cr_expect_eq(acl_config_load(acl, grants, bad_allow, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "--default-allow"), "%s", err);

    write_file("acl.json", "{\"principals\":{\"agent\":{\"rules\":[{\"host\":\"a.example\"}]}}}");
    write_file("grants.json", "{\"grants\":[{\"id\":\"g\",\"principal\":\"agent\","
                              "\"host\":\"b.example\",\"expires_at\":4000000000}]}");
    cr_assert_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), 0, "%s", err);
    p = acl_principal_find(c, "agent");
    cr_expect(allows(p, "a.example", 443));
    cr_expect(allows(p, "b.example", 443));
    cr_expect_null(acl_principal_find(c, "default"), "an ACL file replaces --default-allow");
    acl_config_unref(c);
    c = NULL;

    write_file("acl.json", "{\"principals\":{\"agent\":{\"rules\":[{\"host\":\"*.com\"}]}}}");
    cr_expect_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, acl) && strstr(err, "rule 0"), "%s", err);
    write_file("acl.json", "{\"principals\":{\"agent\":{}}, \"principals\":{}}");
    cr_expect_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, acl), "duplicate keys refused: %s", err);
    write_file("acl.json", "{\"principals\":{\"agent\":{}}}");
    write_file("grants.json", "{\"grants\":[{\"id\":\"g\",\"principal\":\"nobody\","
                              "\"host\":\"b.example\",\"expires_at\":4}]}");
    cr_expect_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, grants), "%s", err);
    write_file("grants.json", "not json");
    cr_expect_eq(acl_config_load(acl, grants, allow, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, grants), "%s", err);
    cr_expect_null(c);
}

Test(acl, json_view_leaves_out_expired_grants)
{
    struct acl_config *c =
        load("{\"principals\":{\"agent\":{\"mode\":\"report\",\"rules\":[{\"host\":\"*.a.example\","
             "\"ports\":[443,80],\"comment\":\"c\"},{\"host\":\"db.x\",\"addresses\":[\"10.1.0.0/"
             "16\"]}]},"
             "\"b\":{}}}",
             "{\"grants\":[{\"id\":\"old\",\"principal\":\"agent\",\"host\":\"old.example\","
             "\"expires_at\":100},{\"id\":\"new\",\"principal\":\"agent\",\"host\":\"new.example\","
             "\"expires_at\":300,\"reason\":\"r\"}]}");
    json_t *j = acl_config_json(c, NULL, 200), *rules;
    json_t *one = acl_config_json(c, "b", 200);

    cr_assert_not_null(j);
    rules = json_object_get(json_object_get(json_object_get(j, "principals"), "agent"), "rules");
    cr_assert_eq(json_array_size(rules), 3);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rules, 0), "host")),
                     "*.a.example");
    cr_expect_eq(json_array_size(json_object_get(json_array_get(rules, 0), "ports")), 2);
    cr_expect_str_eq(json_string_value(
                         json_array_get(json_object_get(json_array_get(rules, 1), "addresses"), 0)),
                     "10.1.0.0/16");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rules, 2), "grant_id")),
                     "new");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(j, "principals"), "agent"), "mode")),
                     "report");
    cr_expect_eq(json_object_size(json_object_get(one, "principals")), 1);
    cr_expect_not_null(json_object_get(json_object_get(one, "principals"), "b"));
    json_decref(j);
    json_decref(one);
    acl_config_unref(c);
}

/* Loads {"principals": {...}} built from a JSON value; returns the loader's answer. */
static int load_value(json_t *acl, char *err, size_t errlen)
{
    struct acl_config *c = NULL;
    int e = acl_config_from_json(acl, NULL, &c, err, errlen);

    acl_config_unref(c);
    json_decref(acl);
    return e;
}

static json_t *rules_of(size_t n_rules, size_t n_ports, size_t n_addrs)
{
    json_t *rules = json_array();

    for (size_t i = 0; i < n_rules; i++) {
        json_t *ports = json_array(), *addrs = json_array();
        char host[32];
        for (size_t p = 0; p < n_ports; p++)
            json_array_append_new(ports, json_integer((json_int_t)(1000 + p)));
        for (size_t a = 0; a < n_addrs; a++) {
            char net[32];
            snprintf(net, sizeof(net), "10.%zu.0.0/16", a);
            json_array_append_new(addrs, json_string(net));
        }
        snprintf(host, sizeof(host), "h%zu.example", i);
        json_array_append_new(
            rules, json_pack("{s:s,s:o,s:o}", "host", host, "ports", ports, "addresses", addrs));
    }
    return rules;
}

Test(acl, caps)
{
    char err[512];
    json_t *ps = json_object();

    cr_expect_eq(load_value(json_pack("{s:{s:{s:o}}}", "principals", "a", "rules",
                                      rules_of(ACL_RULES_MAX, 1, 1)),
                            err, sizeof(err)),
                 0, "%s", err);
    cr_expect_eq(load_value(json_pack("{s:{s:{s:o}}}", "principals", "a", "rules",
                                      rules_of(ACL_RULES_MAX + 1, 1, 1)),
                            err, sizeof(err)),
                 -EINVAL);
    cr_expect(strstr(err, "rules"), "%s", err);
    cr_expect_eq(load_value(json_pack("{s:{s:{s:o}}}", "principals", "a", "rules",
                                      rules_of(1, ACL_PORTS_MAX, ACL_NETS_MAX)),
                            err, sizeof(err)),
                 0, "%s", err);
    cr_expect_eq(load_value(json_pack("{s:{s:{s:o}}}", "principals", "a", "rules",
                                      rules_of(1, ACL_PORTS_MAX + 1, 1)),
                            err, sizeof(err)),
                 -EINVAL);
    cr_expect_eq(load_value(json_pack("{s:{s:{s:o}}}", "principals", "a", "rules",
                                      rules_of(1, 1, ACL_NETS_MAX + 1)),
                            err, sizeof(err)),
                 -EINVAL);
    for (int i = 0; i <= ACL_PRINCIPALS_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        json_object_set_new(ps, name, json_object());
    }
    cr_expect_eq(load_value(json_pack("{s:o}", "principals", ps), err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "principals"), "%s", err);
}

Test(acl, grants_count_against_the_rule_cap)
{
    json_t *grants = json_object(), *list = json_array();
    struct acl_config *c = NULL;
    char err[512];
    json_t *acl =
        json_pack("{s:{s:{s:o}}}", "principals", "a", "rules", rules_of(ACL_RULES_MAX, 1, 0 + 1));

    json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i}", "id", "g", "principal", "a", "host",
                                          "x.example", "expires_at", 10));
    json_object_set_new(grants, "grants", list);
    cr_expect_eq(acl_config_from_json(acl, grants, &c, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "grant 0"), "%s", err);
    cr_expect_null(c);
    json_decref(acl);
    json_decref(grants);
}
