/* The credential store: osModa's file and envelope, a key kept elsewhere, every change recorded
 * before it is made, and a redacted view that never holds a secret. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "crypto/encoding.h"
#include "crypto/secret.h"
#include "gw-credkey.h"
#include "gw-credstore.h"

#define CRED_ID_HEX 24 /* "cred_" + 24 hex, as osModa */
#define DEDUPE_PREFIX 16
#define DEFAULT_KEY_FILE "gateway/credstore.key" /* under <state>, beside config/ */

struct gw_credstore {
    pthread_mutex_t lock;
    char *config_dir, *path;
    uint8_t key[GW_KEY_LEN];
    char source[GW_KEY_SOURCE_MAX];
    json_t *doc; /* {version, default_credential_id, credentials[]}, secrets included */
    gw_credstore_record_fn record;
    void *record_ud;
};

/* What each provider's drivers accept (anthropic: claude-code and anthropic; openai: openai). */
static const struct {
    const char *provider, *type;
} kinds[] = {{"anthropic", "api_key"}, {"anthropic", "oauth"}, {"openai", "api_key"}};

/* ---- secrets in json ---------------------------------------------------------------------- */

static void wipe_string(json_t *v)
{
    if (json_is_string(v))
        osm_secret_zero((char *)json_string_value(v), json_string_length(v));
}

static void doc_wipe_free(json_t *doc)
{
    json_t *c;
    size_t i;

    if (!doc)
        return;
    if (doc->refcount == 1)
        json_array_foreach(json_object_get(doc, "credentials"), i, c)
            wipe_string(json_object_get(c, "secret"));
    json_decref(doc);
}

void gw_credstore_forget(json_t *cred)
{
    if (!cred)
        return;
    wipe_string(json_object_get(cred, "secret"));
    json_decref(cred);
}

/* ---- file --------------------------------------------------------------------------------- */

/* Checks the shape the rest of this file relies on. */
static int doc_check(json_t *doc)
{
    json_t *creds = json_object_get(doc, "credentials"), *c, *def;
    size_t i;

    if (!json_is_object(doc) || !json_is_array(creds) || json_array_size(creds) > GW_CREDS_MAX)
        return -EINVAL;
    json_array_foreach(creds, i, c) if (!json_is_string(json_object_get(c, "id")) ||
                                        !json_is_string(json_object_get(c, "secret")) ||
                                        !json_is_string(json_object_get(c, "provider")) ||
                                        !json_is_string(json_object_get(c, "type"))) return -EINVAL;
    def = json_object_get(doc, "default_credential_id");
    if (def && !json_is_string(def) && !json_is_null(def))
        return -EINVAL;
    if (!def)
        json_object_set_new(doc, "default_credential_id", json_null());
    json_object_set_new(doc, "version", json_integer(1));
    return 0;
}

static int doc_parse(const char *text, size_t len, json_t **ret)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);

    if (!doc || doc_check(doc) < 0) {
        doc_wipe_free(doc);
        return -EINVAL;
    }
    *ret = doc;
    return 0;
}

static int store_save(struct gw_credstore *s, json_t *doc)
{
    char *plain = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    _cleanup_free_ char *env = NULL;
    size_t len;

    if (!plain)
        return -ENOMEM;
    len = strlen(plain);
    env = gw_envelope_seal(s->key, plain, len);
    osm_secret_free(plain, len);
    if (!env)
        return -ENOMEM;
    return osm_write_file_atomic(s->path, env, strlen(env), 0600);
}

/* Decrypts an envelope with the key in force, else osModa's key beside it (*migrated). */
static int store_decrypt(struct gw_credstore *s, const char *data, size_t len, json_t **ret,
                         bool *migrated, char *err, size_t errlen)
{
    uint8_t legacy[GW_KEY_LEN];
    char *plain = NULL;
    size_t plen = 0;
    int r = gw_envelope_open(s->key, data, len, &plain, &plen);

    if (r == -EBADMSG && gw_credkey_legacy(s->config_dir, legacy) == 0) {
        r = gw_envelope_open(legacy, data, len, &plain, &plen);
        *migrated = r == 0;
    }
    osm_secret_zero(legacy, sizeof(legacy));
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", s->path,
                 r == -EBADMSG ? "cannot be decrypted with the key from this source (nor with "
                                 "an old .credstore-key beside it): wrong key?"
                               : "not a valid ENC:iv:tag:ciphertext envelope");
        return r;
    }
    r = doc_parse(plain, plen, ret);
    osm_secret_free(plain, plen);
    if (r < 0)
        snprintf(err, errlen, "%s decrypts but is not a credential store", s->path);
    return r;
}

static int store_load(struct gw_credstore *s, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    bool migrated = false;
    int r = osm_read_file(s->path, GW_CREDSTORE_FILE_MAX, &data, &len);

    if (r == -ENOENT) {
        s->doc =
            json_pack("{s:i, s:n, s:[]}", "version", 1, "default_credential_id", "credentials");
        return s->doc ? 0 : -ENOMEM;
    }
    if (r < 0) {
        snprintf(err, errlen, "cannot read %s: %s", s->path, strerror(-r));
        return r;
    }
    if (len >= 4 && memcmp(data, "ENC:", 4) == 0) {
        r = store_decrypt(s, data, len, &s->doc, &migrated, err, errlen);
    } else { /* osModa's plaintext form */
        r = doc_parse(data, len, &s->doc);
        migrated = true;
        if (r < 0)
            snprintf(err, errlen, "%s is neither an envelope nor a credential store", s->path);
    }
    osm_secret_free(data, len);
    if (r < 0 || !migrated)
        return r;
    if ((r = store_save(s, s->doc)) < 0) {
        snprintf(err, errlen, "cannot rewrite %s under the new key: %s", s->path, strerror(-r));
        return r;
    }
    log_warn("gateway.credstore", "migrated=%s key=\"%s\"", s->path, s->source);
    return 0;
}

/* ---- open --------------------------------------------------------------------------------- */

static char *default_key_file(const char *config_dir)
{
    _cleanup_free_ char *state = strdup(config_dir);
    char *slash = state ? strrchr(state, '/') : NULL;

    if (!state)
        return NULL;
    if (slash && slash != state)
        *slash = '\0';
    else
        strcpy(state, ".");
    return osm_path_join(state, DEFAULT_KEY_FILE);
}

static void warn_legacy_key(const struct gw_credstore *s)
{
    _cleanup_free_ char *legacy = osm_path_join(s->config_dir, GW_CREDSTORE_LEGACY_KEY);

    if (legacy && access(legacy, F_OK) == 0)
        log_warn("gateway.credstore",
                 "legacy_key=%s reason=\"osModa's key beside the store is no longer used: the "
                 "store is encrypted with %s; delete the old key file\"",
                 legacy, s->source);
}

int gw_credstore_open(const char *config_dir, const char *key_file, struct gw_credstore **ret,
                      char *err, size_t errlen)
{
    struct gw_credstore *s = calloc(1, sizeof(*s));
    _cleanup_free_ char *def_key = NULL;
    bool made = false;
    int r;

    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->config_dir = strdup(config_dir);
    s->path = osm_path_join(config_dir, GW_CREDSTORE_FILE);
    if (!key_file)
        key_file = def_key = default_key_file(config_dir);
    if (!s->config_dir || !s->path || !key_file) {
        gw_credstore_free(s);
        return -ENOMEM;
    }
    r = gw_credkey_load(config_dir, key_file, s->key, s->source, sizeof(s->source), &made, err,
                        errlen);
    if (r == 0 && made)
        log_info("gateway.credstore",
                 "key_file=%s created=yes reason=\"no key was configured: "
                 "a new random key was written (0600); keep it, the store cannot be read "
                 "without it\"",
                 key_file);
    if (r == 0)
        r = store_load(s, err, errlen);
    if (r < 0) {
        gw_credstore_free(s);
        return r;
    }
    warn_legacy_key(s);
    *ret = s;
    return 0;
}

void gw_credstore_free(struct gw_credstore *s)
{
    if (!s)
        return;
    doc_wipe_free(s->doc);
    osm_secret_zero(s->key, sizeof(s->key));
    pthread_mutex_destroy(&s->lock);
    free(s->config_dir);
    free(s->path);
    free(s);
}

const char *gw_credstore_key_source(const struct gw_credstore *s)
{
    return s->source;
}

void gw_credstore_set_recorder(struct gw_credstore *s, gw_credstore_record_fn record, void *ud)
{
    pthread_mutex_lock(&s->lock);
    s->record = record;
    s->record_ud = ud;
    pthread_mutex_unlock(&s->lock);
}

/* ---- views -------------------------------------------------------------------------------- */

/* At most 12 leading and 4 trailing characters, and never more than a third of a short secret,
 * so a 10-byte secret is not shown whole as osModa's preview would. */
static json_t *secret_preview(const char *secret)
{
    size_t len = strlen(secret), head = len / 3 < 12 ? len / 3 : 12,
           tail = len / 6 < 4 ? len / 6 : 4;
    char buf[12 + 3 + 4 + 1];

    snprintf(buf, sizeof(buf), "%.*s\u2026%s", (int)head, secret, secret + len - tail);
    return json_string(buf);
}

static json_t *redact(const json_t *cred)
{
    json_t *out = json_object(), *v;
    const char *k;

    if (!out)
        return NULL;
    json_object_foreach((json_t *)cred, k, v) if (strcmp(k, "secret") != 0)
        json_object_set(out, k, v);
    json_object_set_new(out, "secret_preview",
                        secret_preview(json_string_value(json_object_get(cred, "secret"))));
    return out;
}

/* What the ledger gets: who and what, never the secret or its preview. */
static json_t *ledger_view(const json_t *cred)
{
    static const char *const keys[] = {"id", "label", "provider", "type", "base_url"};
    json_t *out = json_object();

    for (size_t i = 0; out && i < ELEMENTSOF(keys); i++) {
        json_t *v = json_object_get(cred, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    return out;
}

json_t *gw_credstore_list(struct gw_credstore *s)
{
    json_t *out, *list = json_array(), *c;
    size_t i;

    pthread_mutex_lock(&s->lock);
    json_array_foreach(json_object_get(s->doc, "credentials"), i, c)
        json_array_append_new(list, redact(c));
    out = json_pack("{s:O, s:o}", "default_credential_id",
                    json_object_get(s->doc, "default_credential_id"), "credentials", list);
    pthread_mutex_unlock(&s->lock);
    return out;
}

int gw_credstore_count(struct gw_credstore *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = (int)json_array_size(json_object_get(s->doc, "credentials"));
    pthread_mutex_unlock(&s->lock);
    return n;
}

static json_t *find(json_t *doc, const char *id, size_t *ret_index)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(doc, "credentials"), i,
                       c) if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
    {
        if (ret_index)
            *ret_index = i;
        return c;
    }
    return NULL;
}

int gw_credstore_get(struct gw_credstore *s, const char *id, json_t **ret)
{
    json_t *c;

    pthread_mutex_lock(&s->lock);
    c = find(s->doc, id, NULL);
    *ret = c ? json_deep_copy(c) : NULL;
    pthread_mutex_unlock(&s->lock);
    return c ? (*ret ? 0 : -ENOMEM) : -ENOENT;
}

/* ---- validation --------------------------------------------------------------------------- */

static bool text_ok(const char *s, size_t max_chars)
{
    size_t chars = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        chars += (*p & 0xc0) != 0x80;
    }
    return chars > 0 && chars <= max_chars;
}

static bool label_ok(const char *label)
{
    return text_ok(label, GW_CRED_LABEL_MAX);
}

static bool secret_ok(const char *secret)
{
    size_t n = strlen(secret);

    if (n < GW_SECRET_MIN || n > GW_SECRET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (secret[i] <= 0x20 || secret[i] >= 0x7f)
            return false;
    return true;
}

static bool kind_ok(const char *provider, const char *type)
{
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
        if (strcmp(kinds[i].provider, provider) == 0 && strcmp(kinds[i].type, type) == 0)
            return true;
    return false;
}

/* Validates {label?, provider, type, secret, base_url?} into a new credential (no id yet). */
static int input_check(const json_t *in, json_t **ret, char *err, size_t errlen)
{
    const char *label = NULL, *provider, *type, *secret, *base_url = NULL;
    json_error_t e;
    bool loopback;
    char def_label[64];
    char ts[OSM_TS_LEN + 1];

    if (json_unpack_ex((json_t *)in, &e, JSON_STRICT, "{s?s, s:s, s:s, s:s, s?s}", "label", &label,
                       "provider", &provider, "type", &type, "secret", &secret, "base_url",
                       &base_url) < 0) {
        snprintf(err, errlen, "%s", e.text);
        return -EINVAL;
    }
    if (label && !label_ok(label))
        return snprintf(err, errlen, "label must be 1..%d characters without control characters",
                        GW_CRED_LABEL_MAX),
               -EINVAL;
    if (!kind_ok(provider, type))
        return snprintf(err, errlen,
                        "provider and type must be anthropic with api_key or oauth, or openai "
                        "with api_key"),
               -EINVAL;
    if (!secret_ok(secret))
        return snprintf(err, errlen,
                        "secret must be %d..%d printable ASCII characters without spaces",
                        GW_SECRET_MIN, GW_SECRET_MAX),
               -EINVAL;
    if (base_url && gw_credstore_url_check(base_url, &loopback, err, errlen) < 0)
        return -EINVAL;
    snprintf(def_label, sizeof(def_label), "%s %s", provider, type);
    osm_now_ts(ts);
    *ret =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "created_at", ts, "label", label ? label : def_label,
                  "provider", provider, "type", type, "secret", secret);
    if (*ret && base_url)
        json_object_set_new(*ret, "base_url", json_string(base_url));
    return *ret ? 0 : -ENOMEM;
}

/* ---- base_url ----------------------------------------------------------------------------- */

static bool host_forbidden(const char *host)
{
    static const char *const names[] = {"metadata", "metadata.google.internal", "instance-data",
                                        "instance-data.ec2.internal"};
    struct in_addr a4;
    struct in6_addr a6;

    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (strcasecmp(host, names[i]) == 0)
            return true;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 16) == 0xa9fe /* 169.254/16 */ || (a >> 24) == 0 ||
               a == 0x646464c8 /* 100.100.100.200 */;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LINKLOCAL(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
               IN6_IS_ADDR_V4MAPPED(&a6) ||
               (a6.s6_addr[0] == 0xfd && a6.s6_addr[1] == 0x00 && a6.s6_addr[2] == 0x0e &&
                a6.s6_addr[3] == 0xc2);
    return false;
}

static bool host_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* A DNS name whose last label starts with a letter (so no decimal or hex IPv4 spellings). */
static bool dns_name_ok(const char *host)
{
    const char *last = strrchr(host, '.');

    last = last ? last + 1 : host;
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
        strlen(host))
        return false;
    return (*last >= 'a' && *last <= 'z') || (*last >= 'A' && *last <= 'Z');
}

/* Splits scheme://host[:port][/path] into host (brackets removed); path printable. */
static int url_host(const char *url, bool *https, char *host, size_t hostlen)
{
    const char *h, *end, *port;
    size_t n;

    if (strncmp(url, "https://", 8) == 0)
        *https = true, h = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        *https = false, h = url + 7;
    else
        return -EINVAL;
    for (const char *p = url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#' || *p == '\\')
            return -EINVAL;
    end = h + strcspn(h, "/");
    if (memchr(h, '@', (size_t)(end - h)))
        return -EINVAL;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close)
            return -EINVAL;
        port = close + 1;
        h++;
        n = (size_t)(close - h);
    } else {
        port = memchr(h, ':', (size_t)(end - h));
        port = port ? port : end;
        n = (size_t)(port - h);
    }
    if (port < end && (*port != ':' || port + 1 == end ||
                       strspn(port + 1, "0123456789") != (size_t)(end - port - 1) ||
                       end - port - 1 > 5 || atoi(port + 1) < 1 || atoi(port + 1) > 65535))
        return -EINVAL;
    if (n == 0 || n >= hostlen)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    return 0;
}

int gw_credstore_url_check(const char *url, bool *ret_loopback, char *err, size_t errlen)
{
    char host[256];
    struct in6_addr a6;
    struct in_addr a4;
    bool https;

    if (strlen(url) > GW_CRED_URL_MAX || url_host(url, &https, host, sizeof(host)) < 0)
        return snprintf(err, errlen,
                        "base_url must be https://host[:port][/path] (no user, query or "
                        "fragment), at most %d characters",
                        GW_CRED_URL_MAX),
               -EINVAL;
    if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1 &&
        !dns_name_ok(host))
        return snprintf(err, errlen, "base_url's host is not a valid name or address"), -EINVAL;
    if (host_forbidden(host))
        return snprintf(err, errlen,
                        "base_url may not name a link-local or cloud metadata address"),
               -EINVAL;
    *ret_loopback = host_loopback(host);
    if (!https && !*ret_loopback)
        return snprintf(err, errlen,
                        "base_url must be https (plain http only on 127.0.0.1 or localhost)"),
               -EINVAL;
    return 0;
}

/* ---- changes ------------------------------------------------------------------------------ */

/* Records the event, saves next and makes it current (consuming next either way). */
static int commit(struct gw_credstore *s, json_t *next, const char *type, json_t *payload)
{
    int r;

    if (!payload || !next) {
        json_decref(payload);
        doc_wipe_free(next);
        return -ENOMEM;
    }
    r = s->record ? s->record(s->record_ud, type, payload) : -ENOTCONN;
    json_decref(payload);
    if (r < 0) {
        doc_wipe_free(next);
        return -ENOTCONN;
    }
    if ((r = store_save(s, next)) < 0) {
        doc_wipe_free(next);
        return r;
    }
    doc_wipe_free(s->doc);
    s->doc = next;
    return 0;
}

static void new_id(char out[static 5 + CRED_ID_HEX + 1])
{
    uint8_t b[CRED_ID_HEX / 2];

    randombytes_buf(b, sizeof(b));
    memcpy(out, "cred_", 5);
    osm_hex_encode(b, sizeof(b), out + 5);
}

static int add_locked(struct gw_credstore *s, json_t *cred, const char *source, json_t **ret)
{
    json_t *next, *payload;
    char id[5 + CRED_ID_HEX + 1];
    int r;

    if (json_array_size(json_object_get(s->doc, "credentials")) >= GW_CREDS_MAX)
        return -ENOSPC;
    new_id(id);
    json_object_set_new(cred, "id", json_string(id));
    next = json_deep_copy(s->doc);
    if (next && json_array_size(json_object_get(next, "credentials")) == 0)
        json_object_set_new(next, "default_credential_id", json_string(id));
    if (next)
        json_array_append_new(json_object_get(next, "credentials"), json_deep_copy(cred));
    payload = ledger_view(cred);
    if (payload && source)
        json_object_set_new(payload, "source", json_string(source));
    if ((r = commit(s, next, "gateway.credential.add", payload)) == 0 && ret)
        *ret = redact(cred);
    return r;
}

int gw_credstore_add(struct gw_credstore *s, const json_t *in, json_t **ret, char *err,
                     size_t errlen)
{
    json_t *cred = NULL;
    int r = input_check(in, &cred, err, errlen);

    if (r < 0)
        return r;
    pthread_mutex_lock(&s->lock);
    r = add_locked(s, cred, NULL, ret);
    pthread_mutex_unlock(&s->lock);
    gw_credstore_forget(cred);
    if (r == -ENOSPC)
        snprintf(err, errlen, "the store holds at most %d credentials", GW_CREDS_MAX);
    return r;
}

int gw_credstore_relabel(struct gw_credstore *s, const char *id, const char *label, json_t **ret)
{
    json_t *next, *c, *payload;
    int r;

    if (!label_ok(label))
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    if (!find(s->doc, id, NULL)) {
        pthread_mutex_unlock(&s->lock);
        return -ENOENT;
    }
    next = json_deep_copy(s->doc);
    c = next ? find(next, id, NULL) : NULL;
    if (c)
        json_object_set_new(c, "label", json_string(label));
    else
        doc_wipe_free(TAKE_PTR(next));
    payload = c ? ledger_view(c) : NULL;
    r = commit(s, next, "gateway.credential.relabel", payload);
    if (r == 0 && ret)
        *ret = redact(find(s->doc, id, NULL));
    pthread_mutex_unlock(&s->lock);
    return r;
}

int gw_credstore_delete(struct gw_credstore *s, const char *id)
{
    json_t *next, *creds, *payload;
    const char *def;
    size_t i;
    int r;

    pthread_mutex_lock(&s->lock);
    if (!find(s->doc, id, NULL)) {
        pthread_mutex_unlock(&s->lock);
        return -ENOENT;
    }
    payload = ledger_view(find(s->doc, id, NULL));
    next = json_deep_copy(s->doc);
    creds = json_object_get(next, "credentials");
    if (next && find(next, id, &i)) {
        wipe_string(json_object_get(json_array_get(creds, i), "secret"));
        json_array_remove(creds, i);
        def = json_string_value(json_object_get(next, "default_credential_id"));
        if (def && strcmp(def, id) == 0)
            json_object_set_new(next, "default_credential_id",
                                json_array_size(creds)
                                    ? json_copy(json_object_get(json_array_get(creds, 0), "id"))
                                    : json_null());
    }
    r = commit(s, next, "gateway.credential.delete", payload);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int gw_credstore_set_default(struct gw_credstore *s, const char *id)
{
    json_t *next, *payload;
    int r;

    pthread_mutex_lock(&s->lock);
    if (!find(s->doc, id, NULL)) {
        pthread_mutex_unlock(&s->lock);
        return -ENOENT;
    }
    next = json_deep_copy(s->doc);
    if (next)
        json_object_set_new(next, "default_credential_id", json_string(id));
    payload = ledger_view(find(s->doc, id, NULL));
    r = commit(s, next, "gateway.credential.default", payload);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int gw_credstore_tested(struct gw_credstore *s, const char *id, bool ok, const char *error)
{
    char ts[OSM_TS_LEN + 1];
    json_t *next, *c;
    int r;

    osm_now_ts(ts);
    pthread_mutex_lock(&s->lock);
    next = json_deep_copy(s->doc);
    c = next ? find(next, id, NULL) : NULL;
    if (!c) {
        pthread_mutex_unlock(&s->lock);
        doc_wipe_free(next);
        return next ? -ENOENT : -ENOMEM;
    }
    json_object_set_new(c, "last_tested_at", json_string(ts));
    json_object_set_new(c, "last_test_ok", json_boolean(ok));
    json_object_set_new(c, "last_test_error", ok || !error ? json_null() : json_string(error));
    if ((r = store_save(s, next)) == 0) {
        doc_wipe_free(s->doc);
        s->doc = next;
    } else {
        doc_wipe_free(next);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- bootstrap ---------------------------------------------------------------------------- */

static bool same_cred(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"label", "provider", "type"};

    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
            return false;
    return strncmp(json_string_value(json_object_get(a, "secret")),
                   json_string_value(json_object_get(b, "secret")), DEDUPE_PREFIX) == 0;
}

static bool known_locked(struct gw_credstore *s, const json_t *cred)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(s->doc, "credentials"), i,
                       c) if (same_cred(c, cred)) return true;
    return false;
}

/* Absorbs one entry: 1 added, 0 skipped (a duplicate or invalid), -errno. */
static int bootstrap_one(struct gw_credstore *s, const json_t *entry, size_t i)
{
    char why[256];
    json_t *cred = NULL;
    int r = input_check(entry, &cred, why, sizeof(why));

    if (r < 0) {
        log_warn("gateway.credstore", "bootstrap_entry=%zu skipped=yes reason=\"%s\"", i, why);
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    if (!known_locked(s, cred) && (r = add_locked(s, cred, "bootstrap", NULL)) == 0)
        r = 1;
    pthread_mutex_unlock(&s->lock);
    gw_credstore_forget(cred);
    return r;
}

int gw_credstore_bootstrap(struct gw_credstore *s, char *err, size_t errlen)
{
    _cleanup_free_ char *path = osm_path_join(s->config_dir, GW_CREDSTORE_BOOTSTRAP);
    json_t *doc, *entry;
    char *data = NULL;
    size_t len = 0, i;
    int r, added = 0;

    if (!path)
        return -ENOMEM;
    if ((r = osm_read_file(path, GW_CREDSTORE_FILE_MAX, &data, &len)) < 0)
        return r == -ENOENT ? 0 : (snprintf(err, errlen, "cannot read %s", path), r);
    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    osm_secret_free(data, len);
    if (!json_is_array(json_object_get(doc, "credentials")))
        log_warn("gateway.credstore", "bootstrap=%s reason=\"not {credentials: [...]}\"", path);
    json_array_foreach(json_object_get(doc, "credentials"), i, entry)
    {
        if ((r = bootstrap_one(s, entry, i)) < 0)
            break;
        added += r;
    }
    json_array_foreach(json_object_get(doc, "credentials"), i, entry)
        wipe_string(json_object_get(entry, "secret"));
    json_decref(doc);
    if (r < 0) {
        snprintf(err, errlen, "%s kept: %s", path,
                 r == -ENOTCONN ? "the ledger could not record the change" : strerror(-r));
        return r;
    }
    if (unlink(path) < 0) {
        snprintf(err, errlen, "cannot delete %s: %s", path, strerror(errno));
        return -errno;
    }
    return added;
}
