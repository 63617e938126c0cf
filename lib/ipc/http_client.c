/* The HTTP client over unix sockets (libcurl, one easy handle per call). */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/limits.h"
#include "common/macro.h"
#include "http_client.h"
#include "json_util.h"

#define REPLY_MAX (OSM_BODY_MAX * 64) /* replies larger than this are refused */

#define IDLE_HANDLES_MAX 8

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *idle[IDLE_HANDLES_MAX];
static size_t n_idle;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Easy handles are kept between calls, each with its open connection: a daemon serving one
 * thread per connection would otherwise start a thread for every call. A handle is used by one
 * call at a time, whichever thread makes it. */
static CURL *handle_take(void)
{
    CURL *curl = NULL;

    pthread_mutex_lock(&idle_mu);
    if (n_idle > 0)
        curl = idle[--n_idle];
    pthread_mutex_unlock(&idle_mu);
    if (curl) {
        curl_easy_reset(curl); /* options only: the connection cache survives */
        return curl;
    }
    return curl_easy_init();
}

static void handle_give(CURL *curl)
{
    pthread_mutex_lock(&idle_mu);
    if (n_idle < IDLE_HANDLES_MAX) {
        idle[n_idle++] = curl;
        curl = NULL;
    }
    pthread_mutex_unlock(&idle_mu);
    if (curl)
        curl_easy_cleanup(curl);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct osm_http_reply *r = ud;
    size_t n = size * nmemb;
    char *nb;

    if (r->body_len + n > REPLY_MAX)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    nb = realloc(r->body, r->body_len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->body_len, data, n);
    r->body = nb;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static int curl_error_to_errno(CURLcode c, const char *socket_path)
{
    struct stat st;

    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return stat(socket_path, &st) < 0 ? -ENOENT : -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_WRITE_ERROR:
        return -EFBIG;
    case CURLE_ABORTED_BY_CALLBACK:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

static void parse_reply(struct osm_http_reply *r)
{
    char err[64];

    if (r->body_len > 0)
        r->json = osm_json_parse(r->body, r->body_len, err, sizeof(err));
    if (!r->body) {
        r->body = calloc(1, 1);
    }
}

/* libcurl calls this about once a second while a transfer waits, and more often as data
 * flows: a non-zero return aborts the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const atomic_bool *cancel = ud;

    return atomic_load(cancel) ? 1 : 0;
}

int osm_http_call(const char *socket_path, const char *method, const char *path, const json_t *body,
                  long timeout_ms, struct osm_http_reply *ret)
{
    return osm_http_call_cancellable(socket_path, method, path, body, timeout_ms, NULL, ret);
}

int osm_http_call_cancellable(const char *socket_path, const char *method, const char *path,
                              const json_t *body, long timeout_ms, const atomic_bool *cancel,
                              struct osm_http_reply *ret)
{
    _cleanup_free_ char *url = NULL, *payload = NULL;
    struct curl_slist *headers = NULL;
    CURL *curl;
    CURLcode c;
    int r = 0;

    memset(ret, 0, sizeof(*ret));
    pthread_once(&curl_once, curl_init_once);
    if (asprintf(&url, "http://localhost%s", path) < 0)
        return -ENOMEM;
    if (body && !(payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)))
        return -ENOMEM;
    curl = handle_take();
    if (!curl)
        return -ENOMEM;
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     timeout_ms > 0 ? timeout_ms : (long)OSM_HTTP_CLIENT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, ret);
    if (cancel) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)cancel);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    if (payload) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    c = curl_easy_perform(curl);
    if (c == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ret->status);
        parse_reply(ret);
    } else {
        r = curl_error_to_errno(c, socket_path);
        osm_http_reply_clear(ret);
    }
    curl_slist_free_all(headers);
    handle_give(curl);
    return r;
}

void osm_http_reply_clear(struct osm_http_reply *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
