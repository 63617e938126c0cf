/* The executor's checks of what agentd signed: a presented capability token limits a call to
 * exactly its permissions (and never pre-approves it: the policy still applies), a decision
 * releases a held call only when it is agentd's and this daemon's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exec-internal.h"
#include "token.h"

static bool permits(const json_t *perms, const struct osm_tool *tool)
{
    char cls[64];
    size_t i;
    json_t *p;

    snprintf(cls, sizeof(cls), "class:%s", osm_tool_class_name(tool->cls));
    json_array_foreach(perms, i, p)
    {
        const char *s = json_string_value(p);
        if (s && (strcmp(s, tool->name) == 0 || strcmp(s, cls) == 0))
            return true;
    }
    return false;
}

/* "uid:<n>" must be the caller; any other holder is a label. */
static bool holder_ok(const char *granted_to, const struct ucred *peer)
{
    char want[32];

    if (strncmp(granted_to, "uid:", 4) != 0)
        return true;
    snprintf(want, sizeof(want), "uid:%u", (unsigned)peer->uid);
    return strcmp(want, granted_to) == 0;
}

int exec_token_check(const struct osm_exec *e, const json_t *token, const struct osm_tool *tool,
                     const struct ucred *peer, const char **ret_reason)
{
    int r = osm_token_verify(e->signer_pk, token, ret_reason);

    if (r < 0)
        return r;
    if (!holder_ok(json_string_value(json_object_get(token, "granted_to")), peer)) {
        *ret_reason = "token granted to another uid";
        return -EACCES;
    }
    if (!permits(json_object_get(token, "permissions"), tool)) {
        *ret_reason = "tool not within the token's permissions";
        return -EACCES;
    }
    return 0;
}

int exec_decision_check(const struct osm_exec *e, const json_t *d)
{
    const char *daemon = json_string_value(json_object_get(d, "daemon"));

    if (!osm_decision_verify(e->signer_pk, d))
        return -EBADMSG;
    return daemon && strcmp(daemon, e->daemon) == 0 ? 0 : -EPERM;
}
