/* libFuzzer target: agentd's whole request path after the HTTP framing — route matching, query
 * arguments, content type, body parsing and validation, and the handler — on a real agentd in a
 * temporary directory. Input: byte 0 picks the method, then "PATH[?QUERY]\n", then one byte picks
 * the content type, then the body. Every response must be valid JSON with a known status, and an
 * error response must be the envelope. */
#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd.h"
#include "fuzz.h"

static struct agentd ad;
static struct osm_http_server_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/osm-fuzz-http-XXXXXX";
    struct agentd_config c = {.no_listen = true, .unsafe_no_fsync = true};

    if (!mkdtemp(dir))
        abort();
    c.state_flag = dir;
    c.backup_dir = dir;
    if (agentd_init(&ad, &c) < 0)
        abort();
    cfg = (struct osm_http_server_config){
        .routes = agentd_routes, .n_routes = agentd_n_routes, .userdata = &ad, .operator= false };
    return 0;
}

/* Splits "a=1&b=2" in place into the request's query arguments, as MHD would. */
static void split_query(char *q, struct osm_request *req)
{
    for (char *tok = strtok(q, "&"); tok && req->n_query < OSM_HTTP_MAX_QUERY_ARGS;
         tok = strtok(NULL, "&")) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        req->query[req->n_query].key = tok;
        req->query[req->n_query].value = eq ? eq : "";
        req->n_query++;
    }
}

static void check_response(int status, const char *out, size_t len)
{
    json_error_t err;
    json_t *j;

    assert(status >= 200 && status < 600);
    j = json_loadb(out, len, 0, &err);
    assert(j);
    if (status >= 400) {
        assert(json_is_string(json_object_get(j, "error")));
        assert(json_is_string(json_object_get(j, "message")));
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "POST", "DELETE", "PUT"};
    static const char *types[] = {"application/json", NULL, "text/plain", "application/json; x"};
    struct osm_request req = {0};
    char *path, *nl, *q, *out = NULL;
    size_t out_len, rest;
    int status;

    if (size < 3)
        return 0;
    path = strndup((const char *)data + 1, size - 1);
    nl = strchr(path, '\n');
    if (!nl || path[0] != '/' ||
        /* backup/create writes archives; exercised by its own tests, too slow to fuzz here */
        strstr(path, "/backup/create")) {
        free(path);
        return 0;
    }
    *nl = '\0';
    rest = size - 1 - (size_t)(nl - path) - 1;
    q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        split_query(q, &req);
    }
    req.method = methods[data[0] % 4];
    req.path = path;
    const uint8_t *body = data + (size - rest);
    const char *ct = rest ? types[body[0] % 4] : NULL;
    status = osm_http_dispatch(&cfg, &req, ct, rest ? (const char *)body + 1 : "",
                               rest ? rest - 1 : 0, &out, &out_len);
    check_response(status, out, out_len);
    free(out);
    free(path);
    return 0;
}
