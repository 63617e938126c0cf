/* libFuzzer target: agentd's JSON-body routes through the real router and handlers.
 * The first byte picks the route, the rest is the body. Every answer must be JSON with one of
 * the statuses the API documents; crashes, leaks and sanitizer reports are findings. */
#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd-api.h"
#include "agentd.h"
#include "fuzz.h"

static struct agentd ad;
static struct osm_http_server_config server;
static char step_path[128], resolve_path[128];

static const char *route_paths[] = {
    "/memory/ingest",       "/memory/recall",   "/memory/store", "/system/query",
    "/agent/card/generate", "/incident/create", step_path,       resolve_path,
    "/backup/restore",      "/events/append",
};

static int dispatch(const char *path, const char *body, size_t len, char **ret_out, size_t *ret_len)
{
    struct osm_request req = {.method = "POST", .path = path, .operator= true, .userdata = &ad};

    return osm_http_dispatch(&server, &req, "application/json", body, len, ret_out, ret_len);
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
    if (agentd_init(&ad, &cfg) < 0)
        abort();
    server = (struct osm_http_server_config){
        .routes = agentd_routes, .n_routes = agentd_n_routes, .userdata = &ad, .operator= true };
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
    path = route_paths[data[0] % (sizeof(route_paths) / sizeof(route_paths[0]))];
    status = dispatch(path, (const char *)data + 1, size - 1, &out, &len);
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
