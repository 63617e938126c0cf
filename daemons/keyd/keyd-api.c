/* keyd.sock: the operator's routes (osModa's paths where it had them). The socket is 0600, so
 * whoever reaches it is the operator: a person, whose calls count as approved. The executor
 * also dispatches REST-mapped tools through this table with operator = approved, so a route
 * that uses a key or a secret is marked OSM_ROUTE_OPERATOR and no unapproved tool reaches it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/utf8.h"
#include "crypto/encoding.h"
#include "ipc/errors.h"
#include "ipc/json_util.h"
#include "keyd-api.h"
#include "wallets.h"

#define OP OSM_ROUTE_OPERATOR
#define BODY OSM_ROUTE_BODY
#define SLOW OSM_ROUTE_BLOCKING /* a ledger round trip, an fsync, Argon2id */

static struct keyd *K(struct osm_request *req)
{
    return req->userdata;
}

static void caller_of(const struct osm_request *req, char who[static 32], struct keyd_caller *c)
{
    snprintf(who, 32, "%s:%u", req->operator? "operator" : "agent", (unsigned)req->peer.uid);
    c->who = who;
    c->approved = req->operator;
}

static json_t *answer(struct osm_request *req, json_t *out, const struct kerr *e, int status)
{
    if (!out)
        return osm_error(req, e->status ? e->status : 500, e->code ? e->code : "internal", NULL,
                         "%s", e->message);
    req->status = status;
    return out;
}

#define CALLER                                                                                     \
    char who_[32];                                                                                 \
    struct keyd_caller c;                                                                          \
    struct kerr e = {0};                                                                           \
    caller_of(req, who_, &c)

static json_t *health(struct osm_request *req)
{
    return keyd_health(K(req));
}

static json_t *create(struct osm_request *req)
{
    const char *chain, *label;
    json_t *bad = osm_request_unpack(req, "{s:s, s:s}", "chain", &chain, "label", &label);
    CALLER;

    return bad ? bad : answer(req, wallet_create(K(req), &c, chain, label, &e), &e, 201);
}

static json_t *list(struct osm_request *req)
{
    struct kerr e = {0};

    return answer(req, wallet_list(K(req), &e), &e, 200);
}

static json_t *sign(struct osm_request *req)
{
    const char *id, *payload;
    int raw = 0;
    json_t *bad = osm_request_unpack(req, "{s:s, s:s, s?b}", "wallet_id", &id, "payload", &payload,
                                     "raw", &raw);
    CALLER;

    return bad ? bad : answer(req, wallet_sign(K(req), &c, id, payload, raw, &e), &e, 200);
}

static json_t *sign_typed(struct osm_request *req)
{
    const char *id;
    json_t *doc;
    json_t *bad = osm_request_unpack(req, "{s:s, s:o}", "wallet_id", &id, "typed_data", &doc);
    CALLER;

    return bad ? bad : answer(req, wallet_sign_typed(K(req), &c, id, doc, &e), &e, 200);
}

static json_t *send_tx(struct osm_request *req)
{
    CALLER;
    return answer(req, wallet_build_tx(K(req), &c, req->body, true, &e), &e, 200);
}

static json_t *build_tx(struct osm_request *req)
{
    CALLER;
    return answer(req, wallet_build_tx(K(req), &c, req->body, false, &e), &e, 200);
}

static json_t *delete_wallet(struct osm_request *req)
{
    const char *id;
    json_t *bad = osm_request_unpack(req, "{s:s}", "wallet_id", &id);
    CALLER;

    return bad ? bad : answer(req, wallet_delete(K(req), &c, id, &e), &e, 200);
}

static json_t *rotate(struct osm_request *req)
{
    const char *id;
    json_t *bad = osm_request_unpack(req, "{s:s}", "wallet_id", &id);
    CALLER;

    return bad ? bad : answer(req, wallet_rotate(K(req), &c, id, &e), &e, 200);
}

static json_t *import(struct osm_request *req)
{
    const char *chain, *label, *key;
    json_t *bad = osm_request_unpack(req, "{s:s, s:s, s:s}", "chain", &chain, "label", &label,
                                     "private_key", &key);
    CALLER;

    return bad ? bad : answer(req, wallet_import(K(req), &c, chain, label, key, &e), &e, 201);
}

static json_t *export(struct osm_request *req)
{
    const char *id;
    json_t *bad = osm_request_unpack(req, "{s:s}", "wallet_id", &id);
    CALLER;

    return bad ? bad : answer(req, wallet_export(K(req), &c, id, &e), &e, 200);
}

static json_t *receipts(struct osm_request *req)
{
    const char *id = osm_request_query(req, "wallet_id");
    struct kerr e = {0};
    int64_t limit;
    json_t *bad = osm_request_query_int(req, "limit", 100, 1, WALLET_RECEIPTS_MAX, &limit);

    return bad ? bad : answer(req, wallet_receipts(K(req), id, limit, &e), &e, 200);
}

static json_t *policy_get(struct osm_request *req)
{
    struct keyd *k = K(req);
    json_t *out;

    pthread_rwlock_rdlock(&k->policy_lock);
    out = json_pack("{s:o?, s:o?, s:b}", "policy", kpolicy_json(k->policy), "usage",
                    kpolicy_usage(k->policy, k->store, keyd_now()), "from_file", k->policy_loaded);
    pthread_rwlock_unlock(&k->policy_lock);
    return out;
}

int keyd_policy_reload(struct keyd *k, char *err, size_t len)
{
    struct kpolicy *p = NULL, *old;
    int r = kpolicy_load(k->policy_path, &p, err, len);

    if (r < 0)
        return r;
    pthread_rwlock_wrlock(&k->policy_lock);
    old = k->policy;
    k->policy = p;
    k->policy_loaded = access(k->policy_path, F_OK) == 0;
    pthread_rwlock_unlock(&k->policy_lock);
    kpolicy_free(old);
    return 0;
}

static json_t *policy_reload(struct osm_request *req)
{
    char err[256] = "";
    int r = keyd_policy_reload(K(req), err, sizeof(err));

    json_auto_t *ev = NULL;

    if (r < 0)
        return osm_error(req, 422, "invalid_policy", NULL,
                         "the policy was not reloaded (the old one stays): %s",
                         err[0] ? err : strerror(-r));
    log_info("policy.reload", "path=%s", K(req)->policy_path);
    ev = json_pack("{s:s, s:b}", "path", K(req)->policy_path, "from_file", K(req)->policy_loaded);
    if (ev) /* the file changed already: the event says it is in force, it cannot undo it */
        keyd_emit(K(req), "wallet.policy_reload", ev);
    return policy_get(req);
}

static json_t *lockdown(struct osm_request *req)
{
    CALLER;
    (void)e;
    keyd_lockdown(K(req), c.who);
    return json_pack("{s:b, s:b}", "lockdown", true, "vault_unlocked",
                     vault_unlocked(K(req)->vault));
}

static json_t *unlock(struct osm_request *req)
{
    int r;
    CALLER;
    (void)e;

    if ((r = keyd_unlock(K(req), c.who)) == -EBUSY)
        return osm_error(req, 409, "lockdown_file", NULL,
                         "the system lockdown file is still present: root lifts it first "
                         "(agentctl unlock)");
    if (r < 0)
        return osm_error(req, 503, "not_recorded", NULL, "the unlock could not be recorded");
    return json_pack("{s:b, s:b}", "lockdown", false, "vault_unlocked",
                     vault_unlocked(K(req)->vault));
}

/* ---- the vault -------------------------------------------------------------------------- */

static json_t *vault_status(struct osm_request *req)
{
    return vault_status_json(K(req)->vault);
}

static json_t *vault_unlock(struct osm_request *req)
{
    const char *pass;
    size_t len;
    char err[256] = "";
    int r;
    json_t *bad = osm_request_unpack(req, "{s:s%}", "passphrase", &pass, &len);

    if (bad)
        return bad;
    if (keyd_locked_down(K(req)))
        return osm_error(req, 423, "lockdown", NULL, "keyd is in lockdown: POST /unlock first");
    r = vault_unlock_passphrase(K(req)->vault, pass, len, err, sizeof(err));
    if (r == -EACCES)
        return osm_error(req, 403, "wrong_passphrase", NULL, "%s", err[0] ? err : "refused");
    if (r == -EALREADY)
        return osm_error(req, 409, "other_source", NULL, "%s",
                         err[0] ? err : "another master key source is in force");
    if (r < 0)
        return osm_error(req, 422, "invalid_passphrase", NULL, "%s", err[0] ? err : strerror(-r));
    return vault_status_json(K(req)->vault);
}

static json_t *vault_lock_route(struct osm_request *req)
{
    vault_lock(K(req)->vault);
    return vault_status_json(K(req)->vault);
}

static json_t *secrets_list(struct osm_request *req)
{
    json_t *out = vault_secret_list(K(req)->vault);

    return out ? out : osm_error(req, 503, "store_failed", NULL, "keyd.db could not be read");
}

static json_t *secret_error(struct osm_request *req, int r)
{
    if (r == -EACCES)
        return osm_error(req, 503, "vault_locked", NULL, "the vault is locked: unlock it first");
    if (r == -ENOENT)
        return osm_error(req, 404, "not_found", NULL, "no such secret (or version)");
    if (r == -EINVAL || r == -E2BIG)
        return osm_error(req, 422, "invalid_secret", NULL,
                         "name must be [A-Za-z0-9][A-Za-z0-9_.-]* (at most %d), a value at most "
                         "%d bytes",
                         VAULT_SECRET_NAME_MAX, VAULT_SECRET_MAX);
    return osm_error_errno(req, r, "the vault refused (%s)", strerror(-r));
}

/* A value as text ("value") or as bytes ("value_base64"). */
static int secret_value(struct osm_request *req, uint8_t *buf, size_t cap, size_t *ret_len)
{
    const char *text = osm_json_str(req->body, "value", NULL);
    const char *b64 = osm_json_str(req->body, "value_base64", NULL);

    if (!text == !b64)
        return -EINVAL;
    if (b64)
        return osm_base64_decode(b64, strlen(b64), buf, cap, ret_len);
    if ((*ret_len = strlen(text)) > cap)
        return -E2BIG;
    memcpy(buf, text, *ret_len);
    return 0;
}

static json_t *secret_store(struct osm_request *req, const char *name)
{
    struct secbuf v = {0};
    json_t *meta = NULL;
    size_t len = 0;
    int r;
    CALLER;
    (void)e;

    if (keyd_locked_down(K(req)))
        return osm_error(req, 423, "lockdown", NULL, "keyd is in lockdown");
    if ((r = secbuf_alloc(&v, VAULT_SECRET_MAX)) < 0)
        return secret_error(req, r);
    if ((r = secret_value(req, v.p, v.len, &len)) < 0) {
        secbuf_free(&v);
        return osm_error(req, 422, "invalid_value", NULL,
                         "give exactly one of value (text) or value_base64, at most %d bytes",
                         VAULT_SECRET_MAX);
    }
    r = vault_secret_put(K(req)->vault, name, v.p, len, c.who, &meta);
    secbuf_free(&v);
    return r < 0 ? secret_error(req, r) : (req->status = 201, meta);
}

static json_t *secret_put(struct osm_request *req)
{
    const char *name = osm_json_str(req->body, "name", NULL);

    if (!name)
        return osm_error(req, 422, "invalid_arguments", NULL, "name is required (a string)");
    return secret_store(req, name);
}

static json_t *secret_rotate(struct osm_request *req)
{
    return secret_store(req, req->param[0]);
}

static json_t *secret_delete(struct osm_request *req)
{
    int r;
    CALLER;
    (void)e;

    if ((r = vault_secret_delete(K(req)->vault, req->param[0], c.who)) < 0)
        return secret_error(req, r);
    return json_pack("{s:s, s:b}", "name", req->param[0], "deleted", true);
}

static json_t *secret_read(struct osm_request *req)
{
    struct secbuf v = {0};
    int64_t version;
    int got = 0, r;
    json_t *bad = osm_request_query_int(req, "version", 0, 0, INT32_MAX, &version), *out;
    CALLER;
    (void)e;

    if (bad)
        return bad;
    if (keyd_locked_down(K(req)))
        return osm_error(req, 423, "lockdown", NULL, "keyd is in lockdown");
    r = vault_secret_read(K(req)->vault, req->param[0], (int)version, c.who, &v, &got);
    if (r < 0)
        return secret_error(req, r);
    char *b64 = malloc(OSM_BASE64_LEN(v.len) + 1);
    if (!b64 || osm_base64_encode(v.p, v.len, b64, OSM_BASE64_LEN(v.len) + 1) < 0)
        out = osm_error(req, 500, "internal", NULL, "out of memory");
    else
        out = json_pack("{s:s, s:i, s:s}", "name", req->param[0], "version", got, "value_base64",
                        b64);
    if (out && req->status == 200 && osm_utf8_valid((const char *)v.p, v.len) &&
        !memchr(v.p, 0, v.len))
        json_object_set_new(out, "value", json_stringn((const char *)v.p, v.len));
    secbuf_free(&v);
    free(b64);
    return out;
}

/* Delivery, shared with the vault_deliver tool: {name, version?, path?, uid?, gid?, mode?}. */
json_t *keyd_deliver(struct keyd *k, const struct keyd_caller *c, const char *name,
                     const json_t *body, struct kerr *e)
{
    json_int_t version = 0, uid = getuid(), gid = getgid(), mode = 0400;
    const char *path = NULL;
    struct vault_delivery d;
    json_error_t jerr;
    json_t *out = NULL;
    int r;

    if (json_unpack_ex((json_t *)body, &jerr, 0, "{s?I, s?s, s?I, s?I, s?I}", "version", &version,
                       "path", &path, "uid", &uid, "gid", &gid, "mode", &mode) < 0)
        return kerr_set(e, 422, "invalid_arguments", "%s", jerr.text);
    if (version < 0 || version > INT32_MAX || uid < 0 || uid > UINT32_MAX - 1 || gid < 0 ||
        gid > UINT32_MAX - 1 || mode < 0 || (mode & ~0640))
        return kerr_set(e, 422, "invalid_arguments",
                        "version, uid and gid are whole numbers; mode is at most 0640");
    if (keyd_locked_down(k))
        return kerr_set(e, 423, "lockdown", "keyd is in lockdown");
    d = (struct vault_delivery){
        .path = path, .uid = (uid_t)uid, .gid = (gid_t)gid, .mode = (mode_t)mode};
    r = vault_secret_deliver(k->vault, name, (int)version, &d, c->who, &out);
    if (r == -EACCES)
        return kerr_set(e, 503, "vault_locked", "the vault is locked: unlock it first");
    if (r == -ENOENT)
        return kerr_set(e, 404, "not_found", "no such secret (or version)");
    if (r == -EPERM || r == -EXDEV)
        return kerr_set(e, 403, "forbidden_path", "the path is not under a delivery directory");
    if (r < 0)
        return kerr_set(e, 422, "delivery_failed", "the secret was not delivered (%s)",
                        strerror(-r));
    return out;
}

static json_t *secret_deliver(struct osm_request *req)
{
    CALLER;
    return answer(req, keyd_deliver(K(req), &c, req->param[0], req->body, &e), &e, 200);
}

static json_t *access_log(struct osm_request *req)
{
    int64_t limit;
    json_t *bad = osm_request_query_int(req, "limit", 100, 1, 1000, &limit), *out;

    if (bad)
        return bad;
    out = vault_access_log(K(req)->vault, osm_request_query(req, "name"), (size_t)limit);
    return out ? out : osm_error(req, 503, "store_failed", NULL, "keyd.db could not be read");
}

static const struct osm_route routes[] = {
    {"GET", "/health", health, 0},
    {"POST", "/wallet/create", create, BODY | SLOW},
    {"GET", "/wallet/list", list, 0},
    {"POST", "/wallet/sign", sign, BODY | OP | SLOW},
    {"POST", "/wallet/sign_typed_data", sign_typed, BODY | OP | SLOW},
    {"POST", "/wallet/send", send_tx, BODY | OP | SLOW},
    {"POST", "/wallet/build_tx", build_tx, BODY | OP | SLOW},
    {"POST", "/wallet/delete", delete_wallet, BODY | OP | SLOW},
    {"POST", "/wallet/rotate", rotate, BODY | OP | SLOW},
    {"POST", "/wallet/import", import, BODY | OP | SLOW},
    {"POST", "/wallet/export", export, BODY | OP | SLOW},
    {"GET", "/wallet/receipt", receipts, 0},
    {"GET", "/policy", policy_get, 0},
    {"POST", "/policy", policy_reload, OSM_ROUTE_BODY_OPTIONAL | OP},
    {"POST", "/lockdown", lockdown, OSM_ROUTE_BODY_OPTIONAL | OP | SLOW},
    {"POST", "/unlock", unlock, OSM_ROUTE_BODY_OPTIONAL | OP | SLOW},
    {"GET", "/vault/status", vault_status, 0},
    {"POST", "/vault/unlock", vault_unlock, BODY | OP | SLOW},
    {"POST", "/vault/lock", vault_lock_route, OSM_ROUTE_BODY_OPTIONAL | OP},
    {"GET", "/vault/secrets", secrets_list, 0},
    {"POST", "/vault/secrets", secret_put, BODY | OP | SLOW},
    {"GET", "/vault/secrets/{name}", secret_read, OP | SLOW},
    {"POST", "/vault/secrets/{name}/rotate", secret_rotate, BODY | OP | SLOW},
    {"POST", "/vault/secrets/{name}/delete", secret_delete, OSM_ROUTE_BODY_OPTIONAL | OP | SLOW},
    {"POST", "/vault/secrets/{name}/deliver", secret_deliver, BODY | OP | SLOW},
    {"GET", "/vault/access_log", access_log, OP},
};

const struct osm_route *keyd_api_routes(size_t *ret_n)
{
    *ret_n = ELEMENTSOF(routes);
    return routes;
}
