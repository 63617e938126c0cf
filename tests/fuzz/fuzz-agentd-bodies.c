/* libFuzzer target: agentd's JSON-body routes through the real router and handlers, on the
 * operator socket's table and the daemons socket's (with this process as the calling daemon).
 * The first byte picks the route, the rest is the body. Every answer must be JSON with one of
 * the statuses the API documents; crashes, leaks and sanitizer reports are findings. */
#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd.h"
#include "fuzz.h"

static struct agentd ad;
static struct osm_http_server_config server, daemons;
static char step_path[128], resolve_path[128];

static const struct {
    const char *path;
    const struct osm_http_server_config *table;
} routes[] = {
    {"/memory/ingest", &server},  {"/memory/recall", &server},       {"/memory/store", &server},
    {"/system/query", &server},   {"/agent/card/generate", &server}, {"/incident/create", &server},
    {step_path, &server},         {resolve_path, &server},           {"/backup/restore", &server},
    {"/events/append", &server},  {"/approvals/open", &daemons},     {"/approvals/grant", &daemons},
    {"/events/append", &daemons},
};

static int dispatch_on(const struct osm_http_server_config *table, const char *path,
                       const char *body, size_t len, char **ret_out, size_t *ret_len)
{
    struct osm_request req = {.method = "POST",
                              .path = path,
                              .operator= table == & server,
                              .userdata = &ad,
                              .peer = {.pid = getpid(), .uid = getuid(), .gid = getgid()}};

    return osm_http_dispatch(table, &req, "application/json", body, len, ret_out, ret_len);
}

static int dispatch(const char *path, const char *body, size_t len, char **ret_out, size_t *ret_len)
{
    return dispatch_on(&server, path, body, len, ret_out, ret_len);
}

/* An incident to aim the step and resolve routes at. */
static void incident_setup(void)
{
    static const char body[] = "{\"name\":\"fuzz\"}";
    char *out = NULL;
    size_t len;
    json_t *v;

    assert(dispatch("/incident/create", body, strlen(body), &out, &len) == 200);
    v = json_loads(out, 0, NULL);
    assert(v);
    snprintf(step_path, sizeof(step_path), "/incident/%s/step",
             json_string_value(json_object_get(v, "id")));
    snprintf(resolve_path, sizeof(resolve_path), "/incident/%s/resolve",
             json_string_value(json_object_get(v, "id")));
    json_decref(v);
    free(out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/fuzz-agentd-XXXXXX";
    static char sock[256], backups[256];
    struct agentd_config cfg = {.no_listen = true, .unsafe_no_fsync = true};

    if (!mkdtemp(dir))
        abort();
    snprintf(sock, sizeof(sock), "%s/agentd.sock", dir);
    snprintf(backups, sizeof(backups), "%s/backups", dir);
    setenv("OSMODA_RUN_DIR", dir, 1);
    cfg.state_flag = dir;
    cfg.socket_flag = sock;
    cfg.backup_dir = backups;
    if (agentd_init(&ad, &cfg) < 0 || agentd_tools_init(&ad) < 0)
        abort();
    server = (struct osm_http_server_config){
        .routes = agentd_routes, .n_routes = agentd_n_routes, .userdata = &ad, .operator= true };
    daemons = (struct osm_http_server_config){
        .routes = agentd_daemons_routes, .n_routes = agentd_n_daemons_routes, .userdata = &ad};
    incident_setup();
    return 0;
}

static bool status_expected(int status)
{
    static const int ok[] = {200, 201, 400, 404, 409, 413, 422};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (status == ok[i])
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    char *out = NULL;
    size_t len = 0;
    json_t *v;
    int status;

    if (size == 0)
        return 0;
    size_t k = data[0] % (sizeof(routes) / sizeof(routes[0]));
    path = routes[k].path;
    status = dispatch_on(routes[k].table, path, (const char *)data + 1, size - 1, &out, &len);
    if (!status_expected(status)) {
        fprintf(stderr, "unexpected status %d on %s: %.*s\n", status, path, (int)len, out);
        abort();
    }
    v = out ? json_loadb(out, len, JSON_DECODE_ANY, NULL) : NULL;
    if (!v) {
        fprintf(stderr, "response to %s is not JSON\n", path);
        abort();
    }
    json_decref(v);
    free(out);
    return 0;
}
