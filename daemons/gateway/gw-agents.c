/* agents.json: the agents a chat can reach, their channels and bindings, checked field by field
 * from one table, written atomically, every change recorded before it is made. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/timeutil.h"
#include "gw-agents.h"

#define MODEL_MAX 128
#define DISPLAY_NAME_MAX 100
#define CHANNEL_MAX 32
#define PROFILE_PATH_MAX 1024

struct gw_agents {
    pthread_mutex_t lock;
    char *path, *state_dir;
    json_t *doc; /* {version, agents[], bindings[]} */
    gw_agents_record_fn record;
    void *record_ud;
};

/* The runtimes agents may name: the drivers' names (claude-code, anthropic, openai). A local
 * list until the drivers' table (gw_drivers) is linked into this build. */
static const char *const runtimes[] = {"claude-code", "anthropic", "openai"};

bool gw_agents_runtime_known(const char *runtime)
{
    for (size_t i = 0; i < ELEMENTSOF(runtimes); i++)
        if (strcmp(runtimes[i], runtime) == 0)
            return true;
    return false;
}

/* ---- field checks ------------------------------------------------------------------------- */

typedef int (*field_check_fn)(const struct gw_agents *a, const json_t *v, char *err, size_t len);

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

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

static int check_id(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_string(v) && name_ok(json_string_value(v), GW_AGENT_ID_MAX))
        return 0;
    return snprintf(err, len, "id must match [a-z0-9_-]{1,%d}", GW_AGENT_ID_MAX), -EINVAL;
}

static int check_runtime(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_string(v) && gw_agents_runtime_known(json_string_value(v)))
        return 0;
    return snprintf(err, len, "runtime must be one of claude-code, anthropic, openai"), -EINVAL;
}

static int check_model(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_string(v) && text_ok(json_string_value(v), MODEL_MAX))
        return 0;
    return snprintf(err, len, "model must be a string of 1..%d characters", MODEL_MAX), -EINVAL;
}

static int check_display(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_string(v) && text_ok(json_string_value(v), DISPLAY_NAME_MAX))
        return 0;
    return snprintf(err, len, "display_name must be a string of 1..%d characters",
                    DISPLAY_NAME_MAX),
           -EINVAL;
}

static int check_bool(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_boolean(v))
        return 0;
    return snprintf(err, len, "enabled must be true or false"), -EINVAL;
}

static int check_cred(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_null(v) || (json_is_string(v) && name_ok(json_string_value(v), 64)))
        return 0;
    return snprintf(err, len, "credential_id must be a credential id or null"), -EINVAL;
}

static int check_channels(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    json_t *c;
    size_t i, j;

    (void)a;
    if (!json_is_array(v) || json_array_size(v) > GW_AGENT_CHANNELS_MAX)
        goto bad;
    json_array_foreach(v, i, c)
    {
        if (!json_is_string(c) || !name_ok(json_string_value(c), CHANNEL_MAX))
            goto bad;
        for (j = 0; j < i; j++)
            if (json_equal(c, json_array_get(v, j)))
                goto bad;
    }
    return 0;
bad:
    snprintf(err, len, "channels must be at most %d different names [a-z0-9_-]{1,%d}",
             GW_AGENT_CHANNELS_MAX, CHANNEL_MAX);
    return -EINVAL;
}

/* An absolute path under the state directory without "." or ".." segments. */
static int check_path(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    const char *p = json_string_value(v);
    size_t n = strlen(a->state_dir);

    if (json_is_null(v))
        return 0;
    if (!p || !text_ok(p, PROFILE_PATH_MAX) || strncmp(p, a->state_dir, n) != 0 || p[n] != '/')
        goto bad;
    for (const char *s = p + n; *s; s++)
        if (*s == '/' && (strncmp(s, "/../", 4) == 0 || strcmp(s, "/..") == 0 ||
                          strncmp(s, "/./", 3) == 0 || strcmp(s, "/.") == 0 || s[1] == '/'))
            goto bad;
    return 0;
bad:
    snprintf(err, len, "profile paths must lie under %s/ without \"..\" or \".\"", a->state_dir);
    return -EINVAL;
}

static int check_ts(const struct gw_agents *a, const json_t *v, char *err, size_t len)
{
    (void)a;
    if (json_is_string(v) && json_string_length(v) <= 64)
        return 0;
    return snprintf(err, len, "updated_at must be a timestamp string"), -EINVAL;
}

static const struct field {
    const char *name;
    bool required, patchable;
    field_check_fn check;
} fields[] = {
    {"id", true, false, check_id},
    {"runtime", true, true, check_runtime},
    {"model", true, true, check_model},
    {"enabled", true, true, check_bool},
    {"display_name", false, true, check_display},
    {"credential_id", false, true, check_cred},
    {"channels", false, true, check_channels},
    {"profile_dir", false, true, check_path},
    {"system_prompt_file", false, true, check_path},
    {"updated_at", false, false, check_ts},
};

static const struct field *field_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(fields); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Checks every key of obj (patch: only the patchable ones; else the required ones present). */
static int agent_check(const struct gw_agents *a, const json_t *obj, bool patch, char *err,
                       size_t len)
{
    const struct field *f;
    const char *k;
    json_t *v;
    int r;

    if (!json_is_object(obj))
        return snprintf(err, len, "each agent must be an object"), -EINVAL;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!(f = field_find(k)) || (patch && !f->patchable))
            return snprintf(err, len, "%s field: %.64s", f ? "not changeable" : "unknown", k),
                   -EINVAL;
        if ((r = f->check(a, v, err, len)) < 0)
            return r;
    }
    for (size_t i = 0; !patch && i < ELEMENTSOF(fields); i++)
        if (fields[i].required && !json_object_get(obj, fields[i].name))
            return snprintf(err, len, "agent lacks %s", fields[i].name), -EINVAL;
    return 0;
}

/* A stored agent from a checked input: defaults filled, updated_at now. */
static json_t *agent_normalise(const json_t *in)
{
    char ts[OSM_TS_LEN + 1];
    json_t *out = json_deep_copy(in);

    if (!out)
        return NULL;
    osm_now_ts(ts);
    if (!json_object_get(out, "display_name"))
        json_object_set(out, "display_name", json_object_get(out, "id"));
    if (!json_object_get(out, "credential_id"))
        json_object_set_new(out, "credential_id", json_null());
    if (!json_object_get(out, "channels"))
        json_object_set_new(out, "channels", json_array());
    json_object_set_new(out, "updated_at", json_string(ts));
    return out;
}

static json_t *agent_find(json_t *doc, const char *id, size_t *ret_index)
{
    json_t *ag;
    size_t i;

    json_array_foreach(json_object_get(doc, "agents"), i,
                       ag) if (strcmp(json_string_value(json_object_get(ag, "id")), id) == 0)
    {
        if (ret_index)
            *ret_index = i;
        return ag;
    }
    return NULL;
}

static int bindings_check(json_t *doc, const json_t *bindings, char *err, size_t len)
{
    const char *channel, *agent_id;
    json_error_t e;
    json_t *b;
    size_t i, j;

    if (!json_is_array(bindings) || json_array_size(bindings) > GW_AGENTS_MAX)
        return snprintf(err, len, "bindings must be an array of at most %d", GW_AGENTS_MAX),
               -EINVAL;
    json_array_foreach(bindings, i, b)
    {
        if (json_unpack_ex(b, &e, JSON_STRICT, "{s:s, s:s}", "channel", &channel, "agent_id",
                           &agent_id) < 0)
            return snprintf(err, len, "binding %zu: %s", i, e.text), -EINVAL;
        if (!name_ok(channel, CHANNEL_MAX) || !agent_find(doc, agent_id, NULL))
            return snprintf(err, len,
                            "binding %zu: channel must be a name and agent_id one of "
                            "the agents",
                            i),
                   -EINVAL;
        for (j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(bindings, j), "channel"),
                           json_object_get(b, "channel")))
                return snprintf(err, len, "binding %zu: channel %s bound twice", i, channel),
                       -EINVAL;
    }
    return 0;
}

/* A whole new document from a PUT body or the file: checked, normalised (new reference). */
static int doc_check(const struct gw_agents *a, const json_t *in, bool from_file,
                     int (*credential_exists)(const char *id, void *ud), void *ud, json_t **ret,
                     char *err, size_t len)
{
    json_t *agents = NULL, *bindings = NULL, *ag, *cred, *out;
    json_error_t e;
    int version = 1, r;
    size_t i;

    if (json_unpack_ex((json_t *)in, &e, JSON_STRICT, "{s?i, s:o, s?o}", "version", &version,
                       "agents", &agents, "bindings", &bindings) < 0)
        return snprintf(err, len, "%s", e.text), -EINVAL;
    if (version != 1 || !json_is_array(agents) || json_array_size(agents) > GW_AGENTS_MAX)
        return snprintf(err, len, "version must be 1 and agents an array of at most %d",
                        GW_AGENTS_MAX),
               -EINVAL;
    out = json_pack("{s:i, s:[], s:[]}", "version", 1, "agents", "bindings");
    json_array_foreach(agents, i, ag)
    {
        if ((r = agent_check(a, ag, false, err, len)) < 0)
            goto fail;
        cred = json_object_get(ag, "credential_id");
        r = -EINVAL;
        if (agent_find(out, json_string_value(json_object_get(ag, "id")), NULL)) {
            snprintf(err, len, "agent id %s appears twice",
                     json_string_value(json_object_get(ag, "id")));
            goto fail;
        }
        if (json_is_string(cred) && credential_exists &&
            !credential_exists(json_string_value(cred), ud)) {
            snprintf(err, len, "credential %s does not exist", json_string_value(cred));
            goto fail;
        }
        json_array_append_new(json_object_get(out, "agents"),
                              from_file ? json_deep_copy(ag) : agent_normalise(ag));
    }
    if (bindings && (r = bindings_check(out, bindings, err, len)) < 0)
        goto fail;
    if (bindings)
        json_object_set_new(out, "bindings", json_deep_copy(bindings));
    *ret = out;
    return 0;
fail:
    json_decref(out);
    return r;
}

/* ---- file --------------------------------------------------------------------------------- */

static int doc_save(struct gw_agents *a, const json_t *doc)
{
    _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (!text)
        return -ENOMEM;
    return osm_write_file_atomic(a->path, text, strlen(text), 0640);
}

static int doc_load(struct gw_agents *a, json_t **ret, char *err, size_t len)
{
    _cleanup_free_ char *data = NULL;
    json_error_t e;
    json_t *in;
    size_t n = 0;
    int r = osm_read_file(a->path, GW_AGENTS_FILE_MAX, &data, &n);

    if (r == -ENOENT) {
        *ret = json_pack("{s:i, s:[], s:[]}", "version", 1, "agents", "bindings");
        return *ret ? 0 : -ENOMEM;
    }
    if (r < 0)
        return snprintf(err, len, "cannot read %s: %s", a->path, strerror(-r)), r;
    if (!(in = json_loadb(data, n, JSON_REJECT_DUPLICATES, &e)))
        return snprintf(err, len, "%s: %s (line %d)", a->path, e.text, e.line), -EINVAL;
    r = doc_check(a, in, true, NULL, NULL, ret, err, len);
    json_decref(in);
    return r;
}

int gw_agents_open(const char *config_dir, const char *state_dir, struct gw_agents **ret, char *err,
                   size_t errlen)
{
    struct gw_agents *a = calloc(1, sizeof(*a));
    int r;

    if (!a)
        return -ENOMEM;
    pthread_mutex_init(&a->lock, NULL);
    a->path = osm_path_join(config_dir, GW_AGENTS_FILE);
    a->state_dir = strdup(state_dir);
    if (!a->path || !a->state_dir) {
        gw_agents_free(a);
        return -ENOMEM;
    }
    if ((r = doc_load(a, &a->doc, err, errlen)) < 0) {
        gw_agents_free(a);
        return r;
    }
    *ret = a;
    return 0;
}

void gw_agents_free(struct gw_agents *a)
{
    if (!a)
        return;
    json_decref(a->doc);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a->state_dir);
    free(a);
}

void gw_agents_set_recorder(struct gw_agents *a, gw_agents_record_fn record, void *ud)
{
    pthread_mutex_lock(&a->lock);
    a->record = record;
    a->record_ud = ud;
    pthread_mutex_unlock(&a->lock);
}

int gw_agents_reload(struct gw_agents *a, char *err, size_t errlen)
{
    json_t *doc = NULL;
    int r = doc_load(a, &doc, err, errlen);

    if (r < 0)
        return r;
    pthread_mutex_lock(&a->lock);
    json_decref(a->doc);
    a->doc = doc;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

json_t *gw_agents_json(struct gw_agents *a)
{
    json_t *out;

    pthread_mutex_lock(&a->lock);
    out = json_deep_copy(a->doc);
    pthread_mutex_unlock(&a->lock);
    return out;
}

void gw_agents_counts(struct gw_agents *a, int *ret_total, int *ret_enabled)
{
    json_t *ag;
    size_t i;

    pthread_mutex_lock(&a->lock);
    *ret_total = (int)json_array_size(json_object_get(a->doc, "agents"));
    *ret_enabled = 0;
    json_array_foreach(json_object_get(a->doc, "agents"), i, ag) *ret_enabled +=
        json_is_true(json_object_get(ag, "enabled"));
    pthread_mutex_unlock(&a->lock);
}

/* ---- changes ------------------------------------------------------------------------------ */

/* Records the event, saves next and makes it current (consuming next and payload). */
static int commit(struct gw_agents *a, json_t *next, const char *type, json_t *payload)
{
    int r = -ENOMEM;

    if (next && payload) {
        r = a->record ? a->record(a->record_ud, type, payload) : -ENOTCONN;
        if (r < 0)
            r = -ENOTCONN;
        else if ((r = doc_save(a, next)) == 0) {
            json_decref(a->doc);
            a->doc = TAKE_PTR(next);
        }
    }
    json_decref(next);
    json_decref(payload);
    return r;
}

static json_t *ids_of(const json_t *doc)
{
    json_t *ids = json_array(), *ag;
    size_t i;

    json_array_foreach(json_object_get(doc, "agents"), i, ag)
        json_array_append(ids, json_object_get(ag, "id"));
    return ids;
}

int gw_agents_put(struct gw_agents *a, const json_t *doc,
                  int (*credential_exists)(const char *id, void *ud), void *ud, char *err,
                  size_t errlen)
{
    json_t *next = NULL;
    int r = doc_check(a, doc, false, credential_exists, ud, &next, err, errlen);

    if (r < 0)
        return r;
    pthread_mutex_lock(&a->lock);
    r = commit(a, next, "gateway.agents.put",
               json_pack("{s:o, s:I}", "agents", ids_of(next), "bindings",
                         (json_int_t)json_array_size(json_object_get(next, "bindings"))));
    pthread_mutex_unlock(&a->lock);
    return r;
}

int gw_agents_patch(struct gw_agents *a, const char *id, const json_t *fields_in, json_t **ret,
                    char *err, size_t errlen)
{
    char ts[OSM_TS_LEN + 1];
    json_t *next, *ag;
    int r;

    if ((r = agent_check(a, fields_in, true, err, errlen)) < 0)
        return r;
    if (json_object_size(fields_in) == 0)
        return snprintf(err, errlen, "nothing to change"), -EINVAL;
    osm_now_ts(ts);
    pthread_mutex_lock(&a->lock);
    next = agent_find(a->doc, id, NULL) ? json_deep_copy(a->doc) : NULL;
    if (!(ag = next ? agent_find(next, id, NULL) : NULL)) {
        pthread_mutex_unlock(&a->lock);
        json_decref(next);
        return -ENOENT;
    }
    json_object_update(ag, (json_t *)fields_in);
    json_object_set_new(ag, "updated_at", json_string(ts));
    *ret = json_deep_copy(ag);
    r = commit(a, next, "gateway.agents.patch",
               json_pack("{s:s, s:O}", "id", id, "fields", fields_in));
    pthread_mutex_unlock(&a->lock);
    if (r < 0)
        json_decref(TAKE_PTR(*ret));
    return r;
}

int gw_agents_delete(struct gw_agents *a, const char *id)
{
    json_t *next, *bindings, *b;
    size_t i;
    int r;

    pthread_mutex_lock(&a->lock);
    next = agent_find(a->doc, id, NULL) ? json_deep_copy(a->doc) : NULL;
    if (!next || !agent_find(next, id, &i)) {
        pthread_mutex_unlock(&a->lock);
        return -ENOENT;
    }
    json_array_remove(json_object_get(next, "agents"), i);
    bindings = json_object_get(next, "bindings");
    for (i = json_array_size(bindings); i-- > 0;) {
        b = json_array_get(bindings, i);
        if (strcmp(json_string_value(json_object_get(b, "agent_id")), id) == 0)
            json_array_remove(bindings, i);
    }
    r = commit(a, next, "gateway.agents.delete", json_pack("{s:s}", "id", id));
    pthread_mutex_unlock(&a->lock);
    return r;
}

static bool enabled(const json_t *ag)
{
    return json_is_true(json_object_get(ag, "enabled"));
}

static bool lists_channel(const json_t *ag, const char *channel)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(ag, "channels"), i,
                       c) if (strcmp(json_string_value(c), channel) == 0) return true;
    return false;
}

/* explicit agentId → the channel's binding → for "web" the first enabled listing it → the
 * first enabled. */
static json_t *select_locked(json_t *doc, const char *agent_id, const char *channel)
{
    json_t *ag, *b;
    size_t i;

    if (agent_id)
        return (ag = agent_find(doc, agent_id, NULL)) && enabled(ag) ? ag : NULL;
    json_array_foreach(
        json_object_get(doc, "bindings"), i,
        b) if (channel && strcmp(json_string_value(json_object_get(b, "channel")), channel) == 0 &&
               (ag = agent_find(doc, json_string_value(json_object_get(b, "agent_id")), NULL)) &&
               enabled(ag)) return ag;
    if (channel && strcmp(channel, "web") == 0)
        json_array_foreach(json_object_get(doc, "agents"), i,
                           ag) if (enabled(ag) && lists_channel(ag, "web")) return ag;
    json_array_foreach(json_object_get(doc, "agents"), i, ag) if (enabled(ag)) return ag;
    return NULL;
}

json_t *gw_agents_select(struct gw_agents *a, const char *agent_id, const char *channel)
{
    json_t *ag;

    pthread_mutex_lock(&a->lock);
    ag = select_locked(a->doc, agent_id, channel);
    ag = ag ? json_deep_copy(ag) : NULL;
    pthread_mutex_unlock(&a->lock);
    return ag;
}
