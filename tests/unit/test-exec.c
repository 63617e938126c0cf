/* lib/exec: capability tokens and signed decisions (canonical strings, signatures, tampering,
 * expiry, the two accepted token forms) and the rate limits per tool and caller. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/timeutil.h"
#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "exec/exec-internal.h"
#include "exec/token.h"
#include "tools/registry.h"

static uint8_t pk[32], sk[64], other_pk[32], other_sk[64];

static void keys(void)
{
    uint8_t seed[32];

    memset(seed, 7, sizeof(seed));
    cr_assert_eq(osm_ed25519_keypair(seed, pk, sk), 0);
    memset(seed, 9, sizeof(seed));
    cr_assert_eq(osm_ed25519_keypair(seed, other_pk, other_sk), 0);
}

static void sign_hex(const uint8_t key[64], const char *msg, char out[129])
{
    uint8_t sig[64];

    cr_assert_eq(osm_ed25519_sign(key, msg, strlen(msg), sig), 0);
    osm_hex_encode(sig, sizeof(sig), out);
}

/* A token expiring secs from now, signed with key. */
static json_t *token(const uint8_t key[64], const char *to, const char *perm, int64_t secs)
{
    char exp[OSM_TS_LEN + 1], buf[OSM_TOKEN_CANONICAL_MAX], sig[129];
    json_t *perms = json_pack("[s]", perm);
    int64_t now = osm_realtime_ms();

    osm_format_ts((time_t)(now / 1000 + secs), 0, exp);
    cr_assert_eq(osm_token_canonical("t-1", to, perms, exp, buf, sizeof(buf)), 0);
    sign_hex(key, buf, sig);
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "id", "t-1", "granted_to", to, "permissions",
                     perms, "created_at", exp, "expires_at", exp, "signature", sig);
}

Test(exec, token_canonical_is_osmodas_string_and_refuses_ambiguity, .init = keys)
{
    char buf[256];
    json_t *perms = json_pack("[s, s]", "a", "b");

    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "i|g|a,b|e");
    cr_assert_eq(osm_token_canonical("i|x", "g", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "g,h", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "", perms, "e", buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, 5), -EINVAL); /* too small */
    json_array_append_new(perms, json_string("c,d"));
    cr_assert_eq(osm_token_canonical("i", "g", perms, "e", buf, sizeof(buf)), -EINVAL);
    json_decref(perms);
}

Test(exec, token_verify_signature_expiry_and_shape, .init = keys)
{
    json_t *t = token(sk, "uid:0", "system_health", 600);
    const char *why = NULL;

    cr_assert_eq(osm_token_verify(pk, t, &why), 0);
    cr_assert_eq(osm_token_verify(other_pk, t, &why), -EKEYREJECTED);
    json_array_append_new(json_object_get(t, "permissions"), json_string("shell_exec"));
    cr_assert_eq(osm_token_verify(pk, t, &why), -EKEYREJECTED, "widened permissions pass");
    json_decref(t);
    t = token(sk, "uid:0", "system_health", -5);
    cr_assert_eq(osm_token_verify(pk, t, &why), -ETIME);
    json_object_del(t, "signature");
    cr_assert_eq(osm_token_verify(pk, t, &why), -EINVAL);
    json_decref(t);
    t = json_string("not an object");
    cr_assert_eq(osm_token_verify(pk, t, &why), -EINVAL);
    json_decref(t);
}

Test(exec, token_parse_takes_the_object_or_its_json_text, .init = keys)
{
    json_t *t = token(sk, "uid:0", "system_health", 600);
    char *text = json_dumps(t, JSON_COMPACT);
    json_t *as_text = json_string(text), *parsed = osm_token_parse(as_text), *again;
    const char *why;

    cr_assert(json_equal(parsed, t));
    cr_assert_eq(osm_token_verify(pk, parsed, &why), 0);
    again = osm_token_parse(t);
    cr_assert_eq(again, t); /* the same object, a new reference */
    json_decref(again);
    json_t *bad[] = {json_string("{not json"), json_string("[1,2]"), json_integer(3),
                     json_string("\"just text\"")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(osm_token_parse(bad[i]), "case %zu", i);
        json_decref(bad[i]);
    }
    free(text);
    json_decref(as_text);
    json_decref(parsed);
    json_decref(t);
}

static json_t *decision(const uint8_t key[64], const char *daemon, const char *verdict)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "a-1", "daemon", daemon,
                          "tool", "notes_clear", "args_hash", "ab", "decision", verdict, "mode",
                          "once", "expires_at", "");
    char buf[1024], sig[129];

    cr_assert_eq(osm_decision_canonical(d, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "osmoda-decision-v1|a-1|watch|notes_clear|ab|approved|once|");
    sign_hex(key, buf, sig);
    json_object_set_new(d, "signature", json_string(sig));
    return d;
}

Test(exec, decisions_verify_only_untouched_and_with_agentds_key, .init = keys)
{
    static const char *const fields[] = {"id", "daemon", "tool", "args_hash", "decision", "mode"};
    json_t *d = decision(sk, "watch", "approved");

    cr_assert(osm_decision_verify(pk, d));
    cr_assert_not(osm_decision_verify(other_pk, d));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *t = json_deep_copy(d);
        json_object_set_new(t, fields[i], json_string("changed"));
        cr_assert_not(osm_decision_verify(pk, t), "a changed %s still verifies", fields[i]);
        json_decref(t);
    }
    json_object_set_new(d, "daemon", json_string("wat|ch"));
    cr_assert_not(osm_decision_verify(pk, d));
    json_decref(d);
}

Test(exec, rate_limits_count_per_tool_and_caller)
{
    const struct osm_exec_rate rules[] = {{"@shell", 3, 60}, {"@privileged", 1, 60}};
    const struct osm_tool *shell = osm_tool_find("shell_exec", NULL);
    const struct osm_tool *read = osm_tool_find("file_read", NULL);
    const struct osm_tool *mint = osm_tool_find("capability_mint", NULL);
    const struct osm_exec_rate *hit = NULL;
    struct exec_rates *r = NULL;

    cr_assert_eq(exec_rates_new(rules, 2, &r), 0);
    for (int i = 0; i < 2; i++) /* shell_exec is privileged too: 1 per minute */
        cr_assert_eq(exec_rate_ok(r, shell, 1000, &hit), i == 0);
    cr_assert_str_eq(hit->tool, "@privileged");
    for (int i = 0; i < 10; i++)
        cr_assert(exec_rate_ok(r, read, 1000, &hit), "reads are not limited here");
    cr_assert(exec_rate_ok(r, shell, 1001, &hit), "another caller has its own budget");
    cr_assert_not(exec_rate_ok(r, mint, 1001, &hit));
    exec_rates_free(r);
    cr_assert_eq(exec_rates_new((const struct osm_exec_rate[]){{"*", 0, 60}}, 1, &r), -EINVAL);
}

Test(exec, default_rates_keep_osmodas_shell_limit)
{
    const struct osm_tool *shell = osm_tool_find("sandbox_exec", NULL);
    const struct osm_exec_rate *hit = NULL;
    struct exec_rates *r = NULL;
    int ok = 0;

    cr_assert_eq(exec_rates_new(NULL, 0, &r), 0);
    for (int i = 0; i < 100; i++)
        ok += exec_rate_ok(r, shell, 0, &hit);
    cr_assert_eq(ok, OSM_EXEC_SHELL_RATE_CALLS);
    exec_rates_free(r);
}
