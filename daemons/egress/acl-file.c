/* The ACL's files: the operator's acl.json (or, without one, osModa's --default-allow hosts) and
 * the grants file, read with their size capped and handed to acl_config_from_json; a refusal
 * names the file it is about. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "common/fileio.h"
#include "common/macro.h"

/* osModa's behaviour without an ACL file: "default" may reach the given hosts on 443. */
static json_t *default_acl(const char *const *default_allow)
{
    json_t *rules = json_array();

    for (size_t i = 0; default_allow && default_allow[i]; i++)
        json_array_append_new(rules, json_pack("{s:s}", "host", default_allow[i]));
    return json_pack("{s:{s:{s:s,s:o}}}", "principals", "default", "mode", "enforce", "rules",
                     rules);
}

/* Reads a JSON file; a missing file leaves *ret NULL and returns 0. */
static int read_json(const char *path, json_t **ret, char *err, size_t errlen)
{
    _cleanup_free_ char *data = NULL;
    json_error_t jerr;
    size_t len;
    int e;

    *ret = NULL;
    if (!path)
        return 0;
    e = osm_read_file(path, ACL_FILE_MAX, &data, &len);
    if (e == -ENOENT)
        return 0;
    if (e < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-e));
        return e;
    }
    *ret = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*ret) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return -EINVAL;
    }
    return 0;
}

int acl_config_load(const char *acl_path, const char *grants_path, const char *const *default_allow,
                    struct acl_config **ret, char *err, size_t errlen)
{
    json_auto_t *acl = NULL, *grants = NULL;
    const char *acl_name = acl_path;
    char msg[512];
    int e;

    if (err && errlen)
        err[0] = '\0';
    if ((e = read_json(acl_path, &acl, err, errlen)) < 0 ||
        (e = read_json(grants_path, &grants, err, errlen)) < 0)
        return e;
    if (!acl) {
        acl_name = "--default-allow";
        if (!(acl = default_acl(default_allow)))
            return -ENOMEM;
    }
    e = acl_config_from_json(acl, grants, ret, msg, sizeof(msg));
    if (e == -EINVAL && err && errlen) {
        bool in_grants = strncmp(msg, "grant", 5) == 0;
        snprintf(err, errlen, "%s: %s", in_grants ? grants_path : acl_name, msg);
    }
    return e;
}
