/* The API part's pieces on their own: rate-limit buckets, the Idempotency-Key table, CEF lines,
 * and the OpenAPI document against the route tables the gateway really serves. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gw-api-internal.h"
#include "gw-http.h"
#include "gw-idempotency.h"
#include "gw-ratelimit.h"

extern const char gw_openapi_doc[];
extern const size_t gw_openapi_doc_len;

/* ---- rate limits ------------------------------------------------------------------------- */

Test(gw_rate, allows_per_min_then_refuses_with_retry_after)
{
    struct gw_rate *r;
    unsigned retry = 0;

    cr_assert_eq(gw_rate_new(&r), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(gw_rate_take(r, "t:a:r", 3, 1000, &retry), 0);
    cr_assert_eq(gw_rate_take(r, "t:a:r", 3, 1000, &retry), -EBUSY);
    cr_assert_eq(retry, 21); /* one token every 20 s, rounded up */
    /* another key has its own bucket */
    cr_assert_eq(gw_rate_take(r, "t:b:r", 3, 1000, &retry), 0);
    /* refilled with time: one token 20 s later, not two */
    cr_assert_eq(gw_rate_take(r, "t:a:r", 3, 21000, &retry), 0);
    cr_assert_eq(gw_rate_take(r, "t:a:r", 3, 21000, &retry), -EBUSY);
    /* 0 is no limit */
    for (int i = 0; i < 100; i++)
        cr_assert_eq(gw_rate_take(r, "t:c:r", 0, 1000, &retry), 0);
    gw_rate_free(r);
}

Test(gw_rate, a_full_table_reuses_the_least_recent_bucket)
{
    struct gw_rate *r;
    unsigned retry;
    char key[32];

    cr_assert_eq(gw_rate_new(&r), 0);
    cr_assert_eq(gw_rate_take(r, "victim", 1, 1, &retry), 0);
    cr_assert_eq(gw_rate_take(r, "victim", 1, 1, &retry), -EBUSY);
    /* many other keys, later: the table stays bounded and keeps working */
    for (int i = 0; i < 4 * GW_RATE_SLOTS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert_eq(gw_rate_take(r, key, 1, 2 + i, &retry), 0);
        cr_assert_eq(gw_rate_take(r, key, 1, 2 + i, &retry), -EBUSY, "%s", key);
    }
    gw_rate_free(r);
}

/* ---- idempotency ------------------------------------------------------------------------- */

static void digest(const char *token, const char *key, uint8_t out[32])
{
    gw_idem_digest(token, "POST", "/api/v1/approvals/x/deny", key, out);
}

Test(gw_idem, replays_refuses_other_bodies_and_forgets_failures)
{
    struct gw_idem *t;
    struct gw_idem_answer a = {0};
    uint8_t k[32], k2[32], b1[32] = {1}, b2[32] = {2};

    cr_assert_eq(gw_idem_new(8, 100, &t), 0);
    digest("tok", "key-0123456789abcdef", k);
    cr_assert_eq(gw_idem_begin(t, k, b1, 10, &a), GW_IDEM_NEW);
    cr_assert_eq(gw_idem_begin(t, k, b1, 10, &a), GW_IDEM_IN_FLIGHT);
    cr_assert_eq(gw_idem_finish(t, k, 200, "{\"ok\":true}", 11), 0);
    cr_assert_eq(gw_idem_begin(t, k, b1, 50, &a), GW_IDEM_REPLAY);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.body, "{\"ok\":true}");
    free(a.body);
    cr_assert_eq(gw_idem_begin(t, k, b2, 50, &a), GW_IDEM_REUSED);
    /* after the TTL the key is new again */
    cr_assert_eq(gw_idem_begin(t, k, b2, 111, &a), GW_IDEM_NEW);
    gw_idem_abort(t, k);
    cr_assert_eq(gw_idem_begin(t, k, b1, 111, &a), GW_IDEM_NEW); /* the failure left nothing */
    /* the same key from another token is another entry */
    digest("other", "key-0123456789abcdef", k2);
    cr_assert_eq(gw_idem_begin(t, k2, b2, 111, &a), GW_IDEM_NEW);
    gw_idem_free(t);
}

Test(gw_idem, a_full_table_drops_the_oldest_finished_entry)
{
    struct gw_idem *t;
    struct gw_idem_answer a = {0};
    uint8_t k[5][32], b[32] = {0};
    char key[32];

    cr_assert_eq(gw_idem_new(4, 1000, &t), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "key-%d-0123456789abc", i);
        digest("tok", key, k[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(gw_idem_begin(t, k[i], b, 10 + i, &a), GW_IDEM_NEW);
        cr_assert_eq(gw_idem_finish(t, k[i], 200, "{}", 2), 0);
    }
    cr_assert_eq(gw_idem_begin(t, k[4], b, 20, &a), GW_IDEM_NEW);    /* drops k[0] */
    cr_assert_eq(gw_idem_begin(t, k[3], b, 20, &a), GW_IDEM_REPLAY); /* the newest stays */
    free(a.body);
    cr_assert_eq(gw_idem_begin(t, k[0], b, 20, &a), GW_IDEM_NEW); /* k[0] was forgotten */
    gw_idem_free(t);
    /* running calls are never dropped: a table full of them refuses */
    cr_assert_eq(gw_idem_new(1, 1000, &t), 0);
    cr_assert_eq(gw_idem_begin(t, k[0], b, 10, &a), GW_IDEM_NEW);
    cr_assert_eq(gw_idem_begin(t, k[1], b, 10, &a), -ENOSPC);
    gw_idem_free(t);
}

Test(gw_idem, key_syntax)
{
    cr_assert(gw_idem_key_valid("abcdefghijklmnop"));
    cr_assert(gw_idem_key_valid("A_b-0123456789xyz"));
    cr_assert_not(gw_idem_key_valid("short"));
    cr_assert_not(gw_idem_key_valid("has a space in it!"));
    char big[GW_IDEM_KEY_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_not(gw_idem_key_valid(big));
    big[GW_IDEM_KEY_MAX] = '\0';
    cr_assert(gw_idem_key_valid(big));
}

/* ---- CEF --------------------------------------------------------------------------------- */

Test(gw_cef, line_escapes_header_and_extension)
{
    int sev = -1;
    char *line = gw_cef_line(7, "2026-01-01T00:00:00.000Z", "approval.denied", "uid:0",
                             "{\"why\":\"a=b\\\\c\"}", "ab12", &sev);

    cr_assert_not_null(line);
    cr_assert_eq(sev, 6);
    cr_assert(strncmp(line, "CEF:0|osModa|osmoda-gateway|", 28) == 0, "%s", line);
    cr_assert(strstr(line, "|approval.denied|approval.denied|6|externalId=7 "), "%s", line);
    cr_assert(strstr(line, "suser=uid:0 cs1Label=hash cs1=ab12 "), "%s", line);
    cr_assert(strstr(line, "msg={\"why\":\"a\\=b\\\\\\\\c\"}"), "%s", line);
    free(line);
    line = gw_cef_line(8, "t", "tool.call", "agentd", "{\"decision\":\"deny\"}", "h", &sev);
    cr_assert_eq(sev, 5);
    free(line);
    line = gw_cef_line(9, "t", "a|b", "x", "{}", "h", &sev);
    cr_assert(strstr(line, "|a\\|b|a\\|b|2|"), "%s", line);
    free(line);
}

/* ---- the OpenAPI document against the routes ---------------------------------------------- */

static const struct {
    const struct gw_route *routes;
    const size_t *n;
} tables[] = {
    {gw_auth_routes, &gw_auth_n_routes},
    {gw_config_routes, &gw_config_n_routes},
    {gw_api_routes, &gw_api_n_routes},
};

Test(gw_openapi, documents_every_health_auth_config_and_api_route)
{
    json_error_t e;
    json_t *doc = json_loadb(gw_openapi_doc, gw_openapi_doc_len, 0, &e);
    json_t *paths = json_object_get(doc, "paths");
    char method[8];

    cr_assert_not_null(doc, "%s", e.text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const struct gw_route *r = &tables[t].routes[i];
            size_t k;
            for (k = 0; r->method[k] && k < sizeof(method) - 1; k++)
                method[k] = (char)(r->method[k] | 0x20);
            method[k] = '\0';
            cr_assert_not_null(json_object_get(json_object_get(paths, r->pattern), method),
                               "%s %s is served but not documented", r->method, r->pattern);
        }
    json_decref(doc);
}
