/* libFuzzer target: a SafeSwitch files plan as the begin route hands it to the files backend's
 * validation, and the same bytes as a persisted switch record read back at start. A plan that
 * passes names only absolute, normalised paths outside the protected directories; a refused one
 * says why; a record that parses serializes and parses back to the same session. Validation only
 * looks at the filesystem (it opens directories, never writes). */
#include <assert.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ipc/json_util.h"
#include "switch-internal.h"

static char dir[PATH_MAX];
static const char *protected_dirs[2];

static void cleanup(void)
{
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char tmpl[] = "/tmp/fuzz-switch-XXXXXX";

    if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
        abort();
    atexit(cleanup);
    protected_dirs[0] = dir;
    return 0;
}

static void plan(const json_t *j)
{
    static char target[SWITCH_TARGET_MAX];
    struct switch_env env = {.store_dir = dir, .protected_dirs = protected_dirs};
    char err[256] = "";
    int r;

    memset(target, 0, 8192);
    r = switch_backend_files.validate(&env, j, target, sizeof(target), err, sizeof(err));
    if (r < 0) {
        assert(err[0] != '\0');
        return;
    }
    assert(target[0] == '/');
    for (const char *t = target; *t; t += strlen(t) + 1) {
        assert(t[0] == '/' && !strstr(t, "/../") && !strstr(t, "//"));
        size_t n = strlen(dir);
        assert(strncmp(t, dir, n) != 0 || (t[n] != '\0' && t[n] != '/'));
    }
}

static void record(const json_t *j)
{
    struct switch_session *s = NULL, *again = NULL;
    json_t *out, *back;

    if (switch_session_from_json(j, &s) < 0)
        return;
    out = switch_session_json(s, true);
    assert(out);
    assert(switch_session_from_json(out, &again) == 0);
    back = switch_session_json(again, true);
    assert(json_equal(out, back));
    json_decref(out);
    json_decref(back);
    switch_session_free(s);
    switch_session_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    json_t *j = osm_json_parse((const char *)data, size, err, sizeof(err));

    if (!j)
        return 0;
    if (json_is_object(j)) {
        plan(j);
        record(j);
    }
    json_decref(j);
    return 0;
}
