/* libFuzzer target: the policy file (<state>/policy.json: rules and the "secrets" section) as
 * osm_policy_load reads it, and the secrets section alone through osm_pathset_add_json with the
 * paths it names matched back. Whatever the file says, it must never crash, a refused file must
 * come with a message, and the built-in secrets and the protected paths must stay denied. */
#include <assert.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy/policy.h"
#include "policy/secrets.h"

static char dir[PATH_MAX], policy_path[PATH_MAX + 16], key_path[PATH_MAX + 16];

static void cleanup(void)
{
    unlink(policy_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char tmpl[] = "/tmp/fuzz-policy-XXXXXX";

    if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
        abort();
    atexit(cleanup);
    snprintf(policy_path, sizeof(policy_path), "%s/policy.json", dir);
    snprintf(key_path, sizeof(key_path), "%s/ledger.key", dir);
    return 0;
}

static enum osm_policy_decision decide(const struct osm_policy *p, const char *tool,
                                       enum osm_tool_class cls, const char *path)
{
    json_t *args = json_pack("{s:s}", "path", path);
    struct osm_policy_query q = {.tool = tool, .cls = cls, .ring = 2, .args = args};
    struct osm_policy_verdict v;

    assert(args);
    osm_policy_decide(p, &q, &v);
    json_decref(args);
    assert(memchr(v.rule, '\0', sizeof(v.rule)) && memchr(v.detail, '\0', sizeof(v.detail)));
    return v.decision;
}

static void load(const uint8_t *data, size_t size)
{
    const char *prot[] = {key_path, NULL};
    struct osm_policy *p = NULL;
    char err[512] = "";
    int fd = open(policy_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r;

    assert(fd >= 0);
    assert(write(fd, data, size) == (ssize_t)size);
    close(fd);
    r = osm_policy_load(policy_path, prot, geteuid(), &p, err, sizeof(err));
    if (r < 0) {
        assert(!p && err[0] && memchr(err, '\0', sizeof(err)));
        return;
    }
    assert(decide(p, "file_read", OSM_CLASS_READ, "/etc/shadow") == OSM_POLICY_DENY);
    assert(decide(p, "file_read", OSM_CLASS_READ, key_path) == OSM_POLICY_DENY);
    assert(decide(p, "file_write", OSM_CLASS_REVERSIBLE, policy_path) == OSM_POLICY_DENY);
    assert(decide(p, "file_read", OSM_CLASS_READ, "/proc/self/root/etc/hostname") ==
           OSM_POLICY_DENY);
    osm_policy_free(p);
}

/* The secrets section alone: every string it holds is matched as a path. */
static void section(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *v;
    struct osm_pathset *s = NULL;
    char err[512];
    size_t i;

    if (!doc)
        return;
    assert(osm_pathset_new(&s) == 0);
    if (osm_pathset_add_json(s, doc, err, sizeof(err)) < 0)
        assert(memchr(err, '\0', sizeof(err)));
    json_array_foreach(doc, i, v)
    {
        const char *text = json_is_string(v) ? json_string_value(v)
                                             : json_string_value(json_object_get(v, "path"));
        if (text && text[0] == '/')
            (void)osm_pathset_match(s, text, i % 2);
    }
    for (size_t k = 0; k < osm_pathset_size(s); k++)
        assert(osm_pathset_pattern(s, k)[0] == '/');
    osm_pathset_free(s);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size);
    section(data, size);
    return 0;
}
