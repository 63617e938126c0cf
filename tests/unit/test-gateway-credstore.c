/* The gateway's credential store: osModa's envelope written and read by an independent AES-GCM
 * implementation here (OpenSSL EVP with osModa's 16-byte IV), the key sources, migration from
 * osModa's key beside the store, fail-closed recording, the preview, base_url checks, and the
 * agent selection of agents.json. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "crypto/encoding.h"
#include "gw-agents.h"
#include "gw-credstore.h"

static char dir[] = "/tmp/test-gw-cred-XXXXXX";
static char config[128], keyfile[128], store[256];
static const char *const KEY_HEX =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static int events;

static void setup(void)
{
    cr_assert(mkdtemp(strcpy(dir, "/tmp/test-gw-cred-XXXXXX")));
    snprintf(config, sizeof(config), "%s/config", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/keys/k", dir);
    snprintf(store, sizeof(store), "%s/%s", config, GW_CREDSTORE_FILE);
    cr_assert_eq(mkdir(config, 0700), 0);
    unsetenv(GW_CREDSTORE_KEY_ENV);
    unsetenv("CREDENTIALS_DIRECTORY");
    events = 0;
}

static void teardown(void)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(gateway_credstore, .init = setup, .fini = teardown);

static int ok_recorder(void *ud, const char *type, const json_t *payload)
{
    (void)ud;
    (void)type;
    cr_assert_null(json_object_get(payload, "secret"));
    events++;
    return 0;
}

static int failing_recorder(void *ud, const char *type, const json_t *payload)
{
    (void)ud;
    (void)type;
    (void)payload;
    return -ECONNREFUSED;
}

/* osModa's writer, independently: ENC:<iv>:<tag>:<ct>, AES-256-GCM, 16-byte IV, no AAD. */
static void osmoda_seal(const uint8_t key[32], const char *plain, const char *path)
{
    uint8_t iv[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6}, tag[16], ct[4096];
    char ivh[33], tagh[33], cth[8193];
    int n = 0, f = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    FILE *out;

    cr_assert(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL));
    cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 16, NULL));
    cr_assert(EVP_EncryptInit_ex(c, NULL, NULL, key, iv));
    cr_assert(EVP_EncryptUpdate(c, ct, &n, (const uint8_t *)plain, (int)strlen(plain)));
    cr_assert(EVP_EncryptFinal_ex(c, ct + n, &f));
    cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag));
    EVP_CIPHER_CTX_free(c);
    osm_hex_encode(iv, 16, ivh);
    osm_hex_encode(tag, 16, tagh);
    osm_hex_encode(ct, (size_t)(n + f), cth);
    cr_assert(out = fopen(path, "w"));
    fprintf(out, "ENC:%s:%s:%s", ivh, tagh, cth);
    fclose(out);
}

/* osModa's reader, independently: the plaintext of an envelope (new string) or NULL. */
static char *osmoda_open(const uint8_t key[32], const char *path)
{
    char *data = NULL, *colon;
    size_t len = 0;
    uint8_t iv[16], tag[16], ct[8192], pt[8192];
    int n = 0, f = 0, ok;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    cr_assert_eq(osm_read_file(path, 1 << 20, &data, &len), 0);
    cr_assert_eq(strncmp(data, "ENC:", 4), 0);
    cr_assert_eq(osm_hex_decode(data + 4, 32, iv, 16), 0);
    cr_assert_eq(osm_hex_decode(data + 37, 32, tag, 16), 0);
    colon = data + 69;
    cr_assert_eq(colon[0], ':');
    size_t ctlen = strlen(colon + 1) / 2;
    cr_assert_eq(osm_hex_decode(colon + 1, 2 * ctlen, ct, ctlen), 0);
    ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 16, NULL) &&
         EVP_DecryptInit_ex(c, NULL, NULL, key, iv) &&
         EVP_DecryptUpdate(c, pt, &n, ct, (int)ctlen) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) &&
         EVP_DecryptFinal_ex(c, pt + n, &f);
    EVP_CIPHER_CTX_free(c);
    free(data);
    return ok ? strndup((char *)pt, (size_t)(n + f)) : NULL;
}

static const char OSMODA_STORE[] =
    "{\"version\":1,\"default_credential_id\":\"cred_0123456789abcdef01234567\","
    "\"credentials\":[{\"id\":\"cred_0123456789abcdef01234567\",\"created_at\":"
    "\"2025-01-01T00:00:00.000Z\",\"label\":\"osModa\",\"provider\":\"anthropic\",\"type\":"
    "\"oauth\",\"secret\":\"sk-ant-oat01-secret-secret-secret\"}]}";

Test(gateway_credstore, opens_an_osmoda_store_with_the_env_key_and_writes_one_osmoda_reads)
{
    uint8_t key[32];
    struct gw_credstore *s;
    char err[512];
    json_t *list, *in, *c = NULL;
    char *plain;

    osm_hex_decode(KEY_HEX, 64, key, 32);
    osmoda_seal(key, OSMODA_STORE, store);
    setenv(GW_CREDSTORE_KEY_ENV, KEY_HEX, 1);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(gw_credstore_key_source(s), "the environment variable OSMODA_CREDSTORE_KEY");
    cr_assert_eq(access(keyfile, F_OK), -1, "no key file when the environment has the key");
    list = gw_credstore_list(s);
    cr_assert_str_eq(json_string_value(json_object_get(list, "default_credential_id")),
                     "cred_0123456789abcdef01234567");
    json_decref(list);
    gw_credstore_set_recorder(s, ok_recorder, NULL);
    in = json_pack("{s:s, s:s, s:s}", "provider", "openai", "type", "api_key", "secret",
                   "sk-second-secret-1234");
    cr_assert_eq(gw_credstore_add(s, in, &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(events, 1);
    plain = osmoda_open(key, store);
    cr_assert_not_null(plain, "osModa's reader opens what we wrote");
    cr_assert(strstr(plain, "sk-second-secret-1234"));
    cr_assert(strstr(plain, "\"default_credential_id\""));
    free(plain);
    json_decref(in);
    json_decref(c);
    gw_credstore_free(s);
}

Test(gateway_credstore, migrates_from_the_key_beside_the_store)
{
    uint8_t legacy[32];
    char path[400], err[512], *plain;
    struct gw_credstore *s;
    FILE *f;

    memset(legacy, 0x5a, sizeof(legacy));
    snprintf(path, sizeof(path), "%s/%s", config, GW_CREDSTORE_LEGACY_KEY);
    cr_assert(f = fopen(path, "wb"));
    fwrite(legacy, 1, 32, f);
    fclose(f);
    osmoda_seal(legacy, OSMODA_STORE, store);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_credstore_count(s), 1);
    cr_assert_null(osmoda_open(legacy, store), "rewritten under the new key");
    cr_assert_eq(access(path, F_OK), 0, "the old key is left for the operator to delete");
    gw_credstore_free(s);
    /* reopens with the new key alone */
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_credstore_count(s), 1);
    gw_credstore_free(s);
    (void)plain;
}

Test(gateway_credstore, tampered_store_or_bad_key_is_refused)
{
    uint8_t key[32];
    char *data = NULL, err[512];
    size_t len;
    struct gw_credstore *s = NULL;

    osm_hex_decode(KEY_HEX, 64, key, 32);
    osmoda_seal(key, OSMODA_STORE, store);
    cr_assert_eq(osm_read_file(store, 1 << 20, &data, &len), 0);
    data[len - 1] = data[len - 1] == '0' ? '1' : '0';
    cr_assert_eq(osm_write_file_atomic(store, data, len, 0600), 0);
    free(data);
    setenv(GW_CREDSTORE_KEY_ENV, KEY_HEX, 1);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), -EBADMSG);
    cr_assert(strstr(err, "wrong key"));
    setenv(GW_CREDSTORE_KEY_ENV, "abcd", 1);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "64 hex"));
}

Test(gateway_credstore, systemd_credential_comes_before_the_key_file)
{
    char cred[400], err[512];
    struct gw_credstore *s;
    FILE *f;

    snprintf(cred, sizeof(cred), "%s/%s", dir, GW_CREDSTORE_SYSTEMD_CRED);
    cr_assert(f = fopen(cred, "w"));
    fprintf(f, "%s\n", KEY_HEX);
    fclose(f);
    chmod(cred, 0600);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(gw_credstore_key_source(s), "systemd credential gateway-credstore"));
    gw_credstore_free(s);
}

Test(gateway_credstore, a_change_that_cannot_be_recorded_is_not_made)
{
    struct gw_credstore *s;
    char err[512];
    json_t *in = json_pack("{s:s, s:s, s:s}", "provider", "anthropic", "type", "api_key", "secret",
                           "sk-ant-api03-abcdefghijklmnop"),
           *c = NULL;

    cr_assert_eq(gw_credstore_open(config, keyfile, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gw_credstore_add(s, in, &c, err, sizeof(err)), -ENOTCONN, "no recorder");
    gw_credstore_set_recorder(s, failing_recorder, NULL);
    cr_assert_eq(gw_credstore_add(s, in, &c, err, sizeof(err)), -ENOTCONN);
    cr_assert_eq(access(store, F_OK), -1);
    cr_assert_eq(gw_credstore_count(s), 0);
    gw_credstore_set_recorder(s, ok_recorder, NULL);
    cr_assert_eq(gw_credstore_add(s, in, &c, err, sizeof(err)), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "secret_preview")),
                     "sk-ant-ap\u2026mnop"); /* 29 chars: a third and a sixth at most */
    gw_credstore_set_recorder(s, failing_recorder, NULL);
    cr_assert_eq(gw_credstore_delete(s, json_string_value(json_object_get(c, "id"))), -ENOTCONN);
    cr_assert_eq(gw_credstore_count(s), 1);
    json_decref(c);
    json_decref(in);
    gw_credstore_free(s);
}

Test(gateway_credstore, base_url_rules)
{
    static const struct {
        const char *url;
        int r;
        bool loopback;
    } cases[] = {
        {"https://api.anthropic.com", 0, false},
        {"https://llm.internal.example:8443/v1", 0, false},
        {"http://127.0.0.1:8080/v1", 0, true},
        {"http://localhost:11434", 0, true},
        {"http://[::1]:8080", 0, true},
        {"https://10.0.0.5/v1", 0, false},
        {"http://10.0.0.5/v1", -EINVAL, false},
        {"http://example.com", -EINVAL, false},
        {"https://169.254.169.254/", -EINVAL, false},
        {"https://[fe80::1]/", -EINVAL, false},
        {"https://[fd00:ec2::254]/", -EINVAL, false},
        {"https://metadata.google.internal", -EINVAL, false},
        {"https://100.100.100.200/", -EINVAL, false},
        {"https://0x7f000001/", -EINVAL, false},
        {"https://2130706433/", -EINVAL, false},
        {"https://a@b.com/", -EINVAL, false},
        {"https://b.com:0/", -EINVAL, false},
        {"https://b.com:99999/", -EINVAL, false},
        {"https://b.com/x?y", -EINVAL, false},
        {"file:///etc/passwd", -EINVAL, false},
        {"https://", -EINVAL, false},
    };
    char err[256];
    bool lb;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb = false;
        cr_assert_eq(gw_credstore_url_check(cases[i].url, &lb, err, sizeof(err)), cases[i].r, "%s",
                     cases[i].url);
        if (cases[i].r == 0)
            cr_assert_eq(lb, cases[i].loopback, "%s", cases[i].url);
    }
}

static int no_credentials(const char *id, void *ud)
{
    (void)id;
    (void)ud;
    return 1;
}

Test(gateway_credstore, agent_selection_follows_osmoda)
{
    struct gw_agents *a;
    char err[512];
    json_t *doc, *ag;

    cr_assert_eq(gw_agents_open(config, dir, &a, err, sizeof(err)), 0, "%s", err);
    cr_assert_null(gw_agents_select(a, NULL, "web"), "nothing configured");
    gw_agents_set_recorder(a, ok_recorder, NULL);
    doc = json_loads(
        "{\"agents\": ["
        "{\"id\": \"first\", \"runtime\": \"openai\", \"model\": \"m\", \"enabled\": true,"
        " \"channels\": [\"api\"]},"
        "{\"id\": \"webby\", \"runtime\": \"anthropic\", \"model\": \"m\", \"enabled\": true,"
        " \"channels\": [\"web\"]},"
        "{\"id\": \"off\", \"runtime\": \"openai\", \"model\": \"m\", \"enabled\": false}],"
        " \"bindings\": [{\"channel\": \"telegram\", \"agent_id\": \"first\"}]}",
        0, NULL);
    cr_assert_not_null(doc);
    cr_assert_eq(gw_agents_put(a, doc, no_credentials, NULL, err, sizeof(err)), 0, "%s", err);
    ag = gw_agents_select(a, NULL, "web");
    cr_assert_str_eq(json_string_value(json_object_get(ag, "id")), "webby");
    json_decref(ag);
    ag = gw_agents_select(a, NULL, "telegram");
    cr_assert_str_eq(json_string_value(json_object_get(ag, "id")), "first");
    json_decref(ag);
    ag = gw_agents_select(a, NULL, "whatsapp");
    cr_assert_str_eq(json_string_value(json_object_get(ag, "id")), "first");
    json_decref(ag);
    cr_assert_null(gw_agents_select(a, "off", "web"), "an explicit agent must be enabled");
    cr_assert_null(gw_agents_select(a, "nobody", "web"));
    json_decref(doc);
    gw_agents_free(a);
}
