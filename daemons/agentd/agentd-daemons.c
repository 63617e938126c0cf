/* The daemons socket (agentd-daemons.sock, group osmoda-daemons, 0660): what the other daemons
 * need of agentd — recording their typed events and holding calls for a person's approval —
 * with the daemon named by the kernel, never by the request. The name is the peer's executable
 * (SO_PEERCRED pid → /proc/PID/exe) without its "osmoda-" prefix: osmoda-watch is "watch", the
 * name its executor gives its tools' approvals. In dev mode every process runs as one user and
 * the socket is 0600, so the name is still the executable's, but any of that user's programs
 * can connect: the operator/daemon split is not a boundary there (README). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentd-api.h"
#include "agentd-approvals.h"
#include "agentd-util.h"
#include "agentd.h"
#include "common/log.h"
#include "crypto/encoding.h"
#include "ledger/ledger.h"

#define DAEMON_PREFIX "osmoda-"
#define DELETED_SUFFIX " (deleted)"

int agentd_daemon_name(const struct ucred *peer, char *buf, size_t len)
{
    char link[64], exe[PATH_MAX];
    const char *base;
    ssize_t n;
    size_t k;

    if (peer->pid <= 0)
        return -ESRCH;
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)peer->pid);
    n = readlink(link, exe, sizeof(exe) - 1);
    if (n <= 0)
        return -ESRCH;
    exe[n] = '\0';
    k = strlen(exe);
    if (k > strlen(DELETED_SUFFIX) && strcmp(exe + k - strlen(DELETED_SUFFIX), DELETED_SUFFIX) == 0)
        exe[k - strlen(DELETED_SUFFIX)] = '\0';
    base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    if (strncmp(base, DAEMON_PREFIX, strlen(DAEMON_PREFIX)) == 0 && base[strlen(DAEMON_PREFIX)])
        base += strlen(DAEMON_PREFIX);
    snprintf(buf, len, "%s", base);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              *p == '.'))
            *p = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : '-';
    return buf[0] && strlen(buf) < AGENTD_DAEMON_NAME_MAX && osm_ledger_name_valid(buf) ? 0
                                                                                        : -EINVAL;
}

/* The calling daemon's name, or an envelope (new reference). */
static json_t *caller(struct osm_request *req, char name[static AGENTD_DAEMON_NAME_MAX])
{
    if (agentd_daemon_name(&req->peer, name, AGENTD_DAEMON_NAME_MAX) == 0)
        return NULL;
    return osm_error(req, 403, "unknown_daemon", NULL,
                     "the calling process could not be named from its credentials");
}

json_t *agentd_daemons_events_append(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name);

    if (err)
        return err;
    if (!json_is_object(req->body))
        return osm_error(req, 400, "bad_request", NULL, "the body must be a JSON object");
    /* The actor is who called, whatever the body says. */
    json_object_set_new(req->body, "actor", json_string(name));
    return agentd_events_append(req);
}

json_t *agentd_daemons_events_append_batch(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name);

    return err ? err : agentd_events_append_batch(req, name);
}

json_t *agentd_daemons_approval_open(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name), *args = NULL, *preview = NULL;
    struct osm_approval_request a = {0};
    json_int_t call_id = 0;
    int r;

    if (err)
        return err;
    if ((err = osm_request_unpack(req, "{s:s, s:s, s:o, s:s, s:s, s?I, s:s, s?s, s?o}", "id", &a.id,
                                  "tool", &a.tool, "arguments", &args, "args_hash", &a.args_hash,
                                  "job_id", &a.job_id, "call_id", &call_id, "reason", &a.reason,
                                  "path", &a.path, "preview", &preview)))
        return err;
    if (!json_is_object(args) || strlen(a.reason) > AGENTD_APPROVAL_REASON_MAX ||
        strlen(a.args_hash) != OSM_EXEC_HASH_LEN || !osm_ledger_name_valid(a.tool))
        return agentd_field_error(req, "arguments", "or another field is malformed");
    json_decref(agentd_approval_row(AGENTD(req), a.id, &r));
    if (r != -ENOENT)
        return r == 0 ? osm_error(req, 409, "conflict", NULL, "approval %s exists", a.id)
                      : agentd_read_error(req, r, "approvals");
    a.arguments = args;
    a.preview = json_is_null(preview) ? NULL : preview;
    a.call_id = call_id;
    a.actor = name;
    r = agentd_approval_open(AGENTD(req), name, &a);
    if (r == -EINVAL)
        return agentd_field_error(req, "id", "must be a fresh uuid (or the preview is too large)");
    if (r < 0)
        return agentd_record_error(req, r, "approval.requested");
    req->status = 201;
    return json_pack("{s:s, s:s}", "id", a.id, "daemon", name);
}

json_t *agentd_daemons_approval_grant(struct osm_request *req)
{
    const char *tool, *hash, *path = NULL;
    char id[OSM_EXEC_ID_LEN + 1];
    json_t *err;
    int r;

    if ((err = osm_request_unpack(req, "{s:s, s:s, s?s}", "tool", &tool, "args_hash", &hash, "path",
                                  &path)))
        return err;
    r = agentd_grant_find(AGENTD(req), tool, hash, path, id);
    if (r == -ENOENT)
        return json_pack("{s:n}", "approval_id");
    if (r < 0)
        return agentd_read_error(req, r, "grants");
    return json_pack("{s:s}", "approval_id", id);
}

json_t *agentd_daemons_approval_cancel(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name);
    int r;

    if (err)
        return err;
    r = agentd_approval_cancel(AGENTD(req), name, req->param[0]);
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no approval %s of %s", req->param[0], name);
    if (r == -EALREADY)
        return osm_error(req, 409, "not_pending", NULL, "approval %s was decided first",
                         req->param[0]);
    if (r < 0)
        return agentd_record_error(req, r, "approval.cancelled");
    return json_pack("{s:s, s:s}", "id", req->param[0], "status", "cancelled");
}

json_t *agentd_daemons_approval_decision(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name), *d = NULL;
    int r;

    if (err)
        return err;
    r = agentd_approval_decision(AGENTD(req), name, req->param[0], &d);
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no approval %s of %s", req->param[0], name);
    if (r == -EAGAIN) {
        req->status = 202;
        return json_pack("{s:s, s:s}", "id", req->param[0], "status", "pending");
    }
    return r < 0 ? agentd_read_error(req, r, "approval") : d;
}

json_t *agentd_daemons_approvals_wait(struct osm_request *req)
{
    char name[AGENTD_DAEMON_NAME_MAX];
    json_t *err = caller(req, name), *ids = NULL, *out = NULL, *v;
    json_int_t wait_s = AGENTD_WAIT_MAX_S;
    size_t i;
    int r;

    if (err)
        return err;
    if ((err = osm_request_unpack(req, "{s:o, s?I}", "ids", &ids, "wait_s", &wait_s)))
        return err;
    if (!json_is_array(ids) || json_array_size(ids) > AGENTD_WAIT_IDS_MAX)
        return agentd_field_error(req, "ids", "must be an array of at most 1000 approval ids");
    json_array_foreach(ids, i, v) if (!json_is_string(v)) return agentd_field_error(
        req, "ids", "must hold strings");
    if (wait_s < 0 || wait_s > AGENTD_WAIT_MAX_S)
        return agentd_field_error(req, "wait_s", "must be from 0 to 60");
    r = agentd_approvals_wait(AGENTD(req), name, ids, wait_s * 1000, &out);
    return r < 0 ? agentd_read_error(req, r, "approvals") : out;
}

json_t *agentd_daemons_key(struct osm_request *req)
{
    char hex[2 * 32 + 1];

    osm_hex_encode(AGENTD(req)->sign_pk, 32, hex);
    return json_pack("{s:s, s:s}", "algorithm", "ed25519", "public_key", hex);
}
