/* libFuzzer target: a SafeSwitch plan for the nix-profile and nixos backends
 * (daemons/watch/switch-nix*.c), as an agent could send it. The input is parsed as JSON and
 * validated by both backends, and checked as a path by the store path and normalised path
 * predicates. validate must answer 0 with a target or -EINVAL with a reason, nothing else; a
 * path the store path check accepts is a normalised one directly under /nix/store. Nothing
 * here can change the host: validate reads links and runs nix-store only for a path that
 * exists in the store. */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "switch-backend.h"
#include "switch-nix.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static void check_validate(const struct switch_backend *b, const json_t *plan)
{
    static const struct switch_env env = {.nixos_profile = "/nonexistent-osmoda-fuzz/system"};
    char target[PATH_MAX] = "", err[512] = "";
    int r = b->validate(&env, plan, target, sizeof(target), err, sizeof(err));

    assert(r == 0 || r == -EINVAL);
    assert(r == 0 ? target[0] == '/' : err[0] != '\0');
}

static void check_path(const char *s)
{
    if (switch_nix_store_path_syntax(s)) {
        assert(strncmp(s, SWITCH_NIX_STORE_DIR "/", strlen(SWITCH_NIX_STORE_DIR "/")) == 0);
        assert(!strchr(s + strlen(SWITCH_NIX_STORE_DIR "/"), '/'));
        assert(switch_nix_path_normalised(s));
    }
    if (switch_nix_path_normalised(s)) {
        assert(s[0] == '/' && !strstr(s, "//") && !strstr(s, "/./") && !strstr(s, "/../"));
        assert(s[strlen(s) - 1] != '/');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    json_t *plan;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_path(s);
    free(s);
    plan = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (plan) {
        check_validate(&switch_backend_nix_profile, plan);
        check_validate(&switch_backend_nixos, plan);
        json_decref(plan);
    }
    return 0;
}
