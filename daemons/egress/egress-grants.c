/* The operator's grants (<data>/grants.json, format in acl.h): added when the operator approves
 * an egress_request_access call or posts one on egress.sock, revoked by id. Every change is
 * checked against the ACL file first (the whole configuration must load), recorded in the ledger
 * (egress.grant / egress.revoke) and only then made: written to a temporary file, fsynced,
 * renamed over grants.json, the directory fsynced, and the configuration reloaded. Expired grants
 * are pruned at every change. One writer at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "egress-api.h"
#include "egress.h"
#include "events.h"
#include "jobs/jobs.h"

#define GRANT_REASON_MAX 1024 /* bytes of a grant's reason */

static pthread_mutex_t grants_lock = PTHREAD_MUTEX_INITIALIZER;

/* The grants file's array without the expired ones (new reference; missing file: empty). */
static int grants_read(const char *path, time_t now, json_t **ret)
{
    _cleanup_free_ char *text = NULL;
    json_t *root, *grants, *out, *g;
    size_t len, i;
    int r = osm_read_file(path, ACL_FILE_MAX, &text, &len);

    if (r == -ENOENT) {
        *ret = json_array();
        return *ret ? 0 : -ENOMEM;
    }
    if (r < 0)
        return r;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    grants = json_object_get(root, "grants");
    if (!json_is_array(grants)) {
        json_decref(root);
        return -EINVAL;
    }
    out = json_array();
    json_array_foreach(grants, i, g)
    {
        json_int_t exp = json_integer_value(json_object_get(g, "expires_at"));
        if (exp > now)
            json_array_append(out, g);
    }
    json_decref(root);
    *ret = out;
    return out ? 0 : -ENOMEM;
}

static int fsync_dir_of(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    _cleanup_close_ int fd = -1;
    char *slash;

    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

/* Writes grants (lent) to <path>.new, fsynced: 0 or -errno. */
static int grants_stage(const char *path, const json_t *grants, char **ret_tmp)
{
    _cleanup_free_ char *text = NULL, *tmp = NULL;
    json_auto_t *root = json_pack("{s:O}", "grants", grants);
    int r;

    if (!root || asprintf(&tmp, "%s.new", path) < 0)
        return -ENOMEM;
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    r = osm_write_file_atomic(tmp, text, strlen(text), 0600);
    if (r == 0)
        *ret_tmp = TAKE_PTR(tmp);
    return r;
}

/* Checks that the ACL file and the staged grants load together (err says why not). */
static int grants_check(struct egress *eg, const char *staged, char *err, size_t errlen)
{
    struct acl_config *c = NULL;
    int r = acl_config_load(eg->acl_path, staged, eg->default_allow, &c, err, errlen);

    acl_config_unref(c);
    return r;
}

/* Records the change, then puts the staged file in place and reloads. */
static int grants_commit(struct egress *eg, const char *staged, const char *type,
                         const json_t *payload)
{
    char err[512];
    int r = egress_events_record_sync(eg->events, type, payload);

    if (r < 0)
        return -ENOLINK; /* not recorded: not made */
    if (rename(staged, eg->grants_path) < 0)
        return -errno;
    r = fsync_dir_of(eg->grants_path);
    if (r < 0)
        log_warn("egress.grants", "fsync_dir error=%d", r);
    r = egress_reload(eg, err, sizeof(err));
    if (r < 0)
        log_error("egress.grants", "reload error=%d reason=\"%s\"", r, err);
    return 0; /* the grant is on disk; a failed reload keeps the old configuration */
}

/* Applies a new grants array: stage, check, record, commit. */
static int grants_apply(struct egress *eg, const json_t *grants, const char *type,
                        const json_t *payload)
{
    _cleanup_free_ char *staged = NULL;
    char err[512];
    int r = grants_stage(eg->grants_path, grants, &staged);

    if (r < 0)
        return r;
    r = grants_check(eg, staged, err, sizeof(err));
    if (r < 0) {
        log_warn("egress.grants", "refused reason=\"%s\"", err);
        unlink(staged);
        return r;
    }
    r = grants_commit(eg, staged, type, payload);
    if (r < 0)
        unlink(staged);
    return r;
}

static bool principal_known(struct egress *eg, const char *principal)
{
    struct acl_config *c = egress_acl(eg);
    bool known = c && acl_principal_find(c, principal) != NULL;

    acl_config_unref(c);
    return known;
}

/* The grant object (new reference), or NULL on allocation failure. */
static json_t *grant_new(const char *principal, const char *host, const uint16_t *ports,
                         size_t n_ports, int64_t ttl_s, const char *reason, const char *approval_id,
                         time_t now)
{
    char id[OSM_JOB_ID_LEN + 1];
    json_t *p = json_array(), *g;

    osm_uuid(id);
    for (size_t i = 0; p && i < n_ports; i++)
        json_array_append_new(p, json_integer(ports[i]));
    if (!p)
        return NULL;
    if (n_ports == 0)
        json_array_append_new(p, json_integer(443));
    g = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s?}", "id", id, "principal", principal,
                  "host", host, "ports", p, "expires_at", (json_int_t)(now + ttl_s), "created_at",
                  (json_int_t)now, "reason", reason ? reason : "", "approval_id", approval_id);
    return g;
}

static bool grant_args_valid(const char *host, const uint16_t *ports, size_t n_ports, int64_t ttl_s,
                             const char *reason, char norm[static ACL_HOST_MAX + 1])
{
    if (acl_host_normalize(host, norm) < 0 || n_ports > ACL_PORTS_MAX)
        return false;
    for (size_t i = 0; i < n_ports; i++)
        if (ports[i] == 0)
            return false;
    return ttl_s >= 1 && ttl_s <= ACL_GRANT_TTL_MAX_S &&
           (!reason || strlen(reason) <= GRANT_REASON_MAX);
}

int egress_grant_add(struct egress *eg, const char *principal, const char *host,
                     const uint16_t *ports, size_t n_ports, int64_t ttl_s, const char *reason,
                     const char *approval_id, json_t **ret)
{
    char norm[ACL_HOST_MAX + 1];
    time_t now = time(NULL);
    json_auto_t *grants = NULL, *g = NULL;
    int r;

    if (!principal || !grant_args_valid(host, ports, n_ports, ttl_s, reason, norm))
        return -EINVAL;
    if (!principal_known(eg, principal))
        return -ENOENT;
    g = grant_new(principal, norm, ports, n_ports, ttl_s, reason, approval_id, now);
    if (!g)
        return -ENOMEM;
    pthread_mutex_lock(&grants_lock);
    r = grants_read(eg->grants_path, now, &grants);
    if (r == 0 && json_array_append(grants, g) < 0)
        r = -ENOMEM;
    if (r == 0)
        r = grants_apply(eg, grants, "egress.grant", g);
    pthread_mutex_unlock(&grants_lock);
    if (r == 0 && ret)
        *ret = json_incref(g);
    return r;
}

/* The index of grant id in grants, or -1. */
static ssize_t grant_find(const json_t *grants, const char *id)
{
    const json_t *g;
    size_t i;

    json_array_foreach(grants, i, g)
    {
        const char *gid = json_string_value(json_object_get(g, "id"));
        if (gid && strcmp(gid, id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

int egress_grant_revoke(struct egress *eg, const char *id)
{
    json_auto_t *grants = NULL, *payload = NULL;
    ssize_t i;
    int r;

    pthread_mutex_lock(&grants_lock);
    r = grants_read(eg->grants_path, time(NULL), &grants);
    i = r == 0 ? grant_find(grants, id) : -1;
    if (r == 0 && i < 0)
        r = -ENOENT;
    if (r == 0) {
        payload = json_deep_copy(json_array_get(grants, (size_t)i));
        json_array_remove(grants, (size_t)i);
        r = payload ? grants_apply(eg, grants, "egress.revoke", payload) : -ENOMEM;
    }
    pthread_mutex_unlock(&grants_lock);
    return r;
}
