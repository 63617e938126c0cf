/* libFuzzer target: the /config bodies through the real stores — credential adds and relabels,
 * agents.json PUT and PATCH — and base_url checks, in a temporary config directory with a
 * recorder that accepts every event. The first byte picks the entry point, the rest is the body
 * (parsed as the router does). Every answer must be 0 or a documented errno; a change that
 * succeeds must leave the store readable; crashes, leaks and sanitizer reports are findings. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "gw-agents.h"
#include "gw-credstore.h"

static struct gw_credstore *creds;
static struct gw_agents *agents;
static char state_dir[] = "/tmp/fuzz-gw-config-XXXXXX";

static int accept_event(void *ud, const char *type, const json_t *payload)
{
    (void)ud;
    assert(strncmp(type, "gateway.", 8) == 0);
    assert(!json_object_get(payload, "secret"));
    return 0;
}

static int exists(const char *id, void *ud)
{
    json_t *c = NULL;
    int r = gw_credstore_get(ud, id, &c);

    gw_credstore_forget(c);
    return r == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char config[256], key[256], err[512];

    (void)argc;
    (void)argv;
    assert(mkdtemp(state_dir));
    snprintf(config, sizeof(config), "%s/config", state_dir);
    snprintf(key, sizeof(key), "%s/key", state_dir);
    assert(mkdir(config, 0700) == 0);
    unsetenv("OSMODA_CREDSTORE_KEY");
    unsetenv("CREDENTIALS_DIRECTORY");
    assert(gw_credstore_open(config, key, &creds, err, sizeof(err)) == 0);
    assert(gw_agents_open(config, state_dir, &agents, err, sizeof(err)) == 0);
    gw_credstore_set_recorder(creds, accept_event, NULL);
    gw_agents_set_recorder(agents, accept_event, NULL);
    return 0;
}

static void add(const json_t *body)
{
    char err[512];
    json_t *c = NULL;
    int r = gw_credstore_add(creds, body, &c, err, sizeof(err));

    assert(r == 0 || r == -EINVAL);
    if (r == 0) {
        assert(!json_object_get(c, "secret"));
        assert(gw_credstore_relabel(creds, json_string_value(json_object_get(c, "id")), "again",
                                    NULL) == 0);
        assert(gw_credstore_delete(creds, json_string_value(json_object_get(c, "id"))) == 0);
    }
    json_decref(c);
}

static void relabel(const json_t *body)
{
    const char *label = json_string_value(json_object_get(body, "label"));
    int r = gw_credstore_relabel(creds, "cred_nope", label ? label : "", NULL);

    assert(r == -ENOENT || r == -EINVAL);
}

static void put(const json_t *body)
{
    char err[512];
    int r = gw_agents_put(agents, body, exists, creds, err, sizeof(err));

    assert(r == 0 || r == -EINVAL);
    if (r == 0)
        assert(gw_agents_reload(agents, err, sizeof(err)) == 0);
}

static void patch(const json_t *body)
{
    char err[512];
    json_t *ag = NULL;
    int r = gw_agents_patch(agents, "fuzz", body, &ag, err, sizeof(err));

    assert(r == 0 || r == -EINVAL || r == -ENOENT);
    json_decref(ag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body;
    char *text, err[512];
    bool loopback;

    if (size < 1)
        return 0;
    if (data[0] % 5 == 4) {
        text = strndup((const char *)data + 1, size - 1);
        if (text)
            (void)gw_credstore_url_check(text, &loopback, err, sizeof(err));
        free(text);
        return 0;
    }
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    switch (data[0] % 5) {
    case 0:
        add(body);
        break;
    case 1:
        relabel(body);
        break;
    case 2:
        put(body);
        break;
    default:
        patch(body);
    }
    json_decref(body);
    return 0;
}
