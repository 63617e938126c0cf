/* Testing a credential: its format as the drivers expect it, then, for a base_url on loopback
 * only, a real GET of the model list with the credential. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "crypto/secret.h"
#include "gw-credstore.h"
#include "gw-credtest.h"

struct reply {
    char *data;
    size_t len;
};

static json_t *result(bool ok, const char *error)
{
    json_t *r = json_pack("{s:b, s:s}", "ok", ok, "checked", "format");

    if (r && error)
        json_object_set_new(r, "error", json_string(error));
    return r;
}

/* osModa's checks: an Anthropic secret of ≥ 20 characters with the prefix of its type; a hosted
 * OpenAI key starting with sk-. NULL when the format is good, else the reason. */
static const char *format_problem(const char *provider, const char *type, const char *secret,
                                  bool has_url)
{
    if (strcmp(provider, "anthropic") == 0) {
        if (strlen(secret) < GW_ANTHROPIC_SECRET_MIN)
            return "an Anthropic credential is at least 20 characters";
        if (strcmp(type, "oauth") == 0 && strncmp(secret, "sk-ant-oat", 10) != 0)
            return "an Anthropic OAuth token starts with sk-ant-oat";
        if (strcmp(type, "api_key") == 0 && strncmp(secret, "sk-ant-api", 10) != 0)
            return "an Anthropic API key starts with sk-ant-api";
        return NULL;
    }
    if (!has_url && strncmp(secret, "sk-", 3) != 0)
        return "an OpenAI API key starts with sk-";
    return NULL;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    char *grown;

    n *= size;
    if (r->len + n > GW_CREDTEST_REPLY_MAX || !(grown = realloc(r->data, r->len + n + 1)))
        return 0;
    memcpy(grown + r->len, p, n);
    r->data = grown;
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

static char *models_url(const char *base)
{
    size_t n = strlen(base);
    char *url;

    while (n > 0 && base[n - 1] == '/')
        n--;
    bool has_v1 = n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0;
    if (asprintf(&url, "%.*s%s", (int)n, base, has_v1 ? "/models" : "/v1/models") < 0)
        return NULL;
    return url;
}

static struct curl_slist *auth_headers(const char *provider, const char *type, const char *secret)
{
    struct curl_slist *h = NULL;
    char *line = NULL;
    bool anthropic = strcmp(provider, "anthropic") == 0;

    if (anthropic)
        h = curl_slist_append(h, "anthropic-version: 2023-06-01");
    if (asprintf(&line, "%s%s",
                 anthropic && strcmp(type, "api_key") == 0 ? "x-api-key: "
                                                           : "Authorization: Bearer ",
                 secret) < 0)
        return h;
    h = curl_slist_append(h, line);
    osm_secret_free(line, strlen(line));
    return h;
}

static void headers_wipe_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        osm_secret_zero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static json_t *model_list(const struct reply *r)
{
    json_t *doc = json_loadb(r->data ? r->data : "", r->len, 0, NULL), *list = json_array(), *m;
    size_t i;

    json_array_foreach(json_object_get(doc, "data"), i, m)
    {
        json_t *id = json_object_get(m, "id");
        if (json_is_string(id) && json_array_size(list) < GW_CREDTEST_MODELS_MAX)
            json_array_append(list, id);
    }
    json_decref(doc);
    return list;
}

static json_t *request(const char *base, const char *provider, const char *type, const char *secret)
{
    _cleanup_free_ char *url = models_url(base);
    struct reply rep = {0};
    struct curl_slist *h = auth_headers(provider, type, secret);
    CURL *c = curl_easy_init();
    char why[160];
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    json_t *out;

    if (c && url) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)GW_CREDTEST_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &rep);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    headers_wipe_free(h);
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "request failed: %s", curl_easy_strerror(rc));
    else if (status == 401 || status == 403)
        snprintf(why, sizeof(why), "HTTP %ld \u2014 invalid credential", status);
    else if (status != 200)
        snprintf(why, sizeof(why), "HTTP %ld", status);
    out = result(rc == CURLE_OK && status == 200, rc == CURLE_OK && status == 200 ? NULL : why);
    if (out) {
        json_object_set_new(out, "checked", json_string("request"));
        if (rc == CURLE_OK && status == 200)
            json_object_set_new(out, "model_list", model_list(&rep));
    }
    free(rep.data);
    return out;
}

json_t *gw_credtest_run(const json_t *cred)
{
    const char *provider = json_string_value(json_object_get(cred, "provider"));
    const char *type = json_string_value(json_object_get(cred, "type"));
    const char *secret = json_string_value(json_object_get(cred, "secret"));
    const char *base = json_string_value(json_object_get(cred, "base_url"));
    const char *problem;
    char why[256];
    bool loopback = false;

    if (!provider || !type || !secret)
        return result(false, "the credential is incomplete");
    if ((problem = format_problem(provider, type, secret, base != NULL)))
        return result(false, problem);
    if (!base || gw_credstore_url_check(base, &loopback, why, sizeof(why)) < 0 || !loopback)
        return result(true, NULL); /* the format is all that is checked off this machine */
    return request(base, provider, type, secret);
}
