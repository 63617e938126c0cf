/* libFuzzer target: keyd's JSON-body routes through the real router and handlers (wallets,
 * signing, typed data, transactions, secrets), on a real keyd.db, a real vault opened with a key
 * file and the default policy. agentd's daemons socket is stood in for by a route that answers
 * every /events/append with 201 (a whole agentd per input would be too slow for a fuzzer; the
 * integration tests run the real one). The first byte picks the route; its second bit puts the
 * Ethereum or the Solana wallet's id into an object body that has no wallet_id, so the fuzzer
 * reaches past the lookup. Every answer must be JSON with a status the API documents. */
#include <assert.h>
#include <fcntl.h>
#include <sodium.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ipc/errors.h"
#include "keyd-api.h"
#include "wallets.h"

static struct keyd k;
static struct osm_http_server_config server;
static char eth_id[WALLET_ID_LEN + 1], sol_id[WALLET_ID_LEN + 1];

static const char *const paths[] = {
    "/wallet/create",   "/wallet/sign",   "/wallet/sign_typed_data", "/wallet/send",
    "/wallet/build_tx", "/wallet/rotate", "/wallet/import",          "/wallet/export",
    "/vault/secrets",   "/policy",
};

static json_t *append(struct osm_request *req)
{
    req->status = 201;
    return json_pack("{s:i, s:s, s:s}", "id", 1, "ts", "2026-01-01T00:00:00.000Z", "hash", "00");
}

static const struct osm_route ledger_routes[] = {{"POST", "/events/append", append, 0}};

static int dispatch(const char *path, const char *body, size_t len, char **ret_out, size_t *ret_len)
{
    struct osm_request req = {.method = "POST",
                              .path = path,
                              .operator= true,
                              .userdata = &k,
                              .peer = {.pid = getpid(), .uid = getuid(), .gid = getgid()}};

    return osm_http_dispatch(&server, &req, "application/json", body, len, ret_out, ret_len);
}

static void wallet(const char *chain, char id[static WALLET_ID_LEN + 1])
{
    char body[64], *out = NULL;
    size_t len;
    json_t *v;

    snprintf(body, sizeof(body), "{\"chain\":\"%s\",\"label\":\"fuzz\"}", chain);
    assert(dispatch("/wallet/create", body, strlen(body), &out, &len) == 201);
    v = json_loads(out, 0, NULL);
    assert(v);
    snprintf(id, WALLET_ID_LEN + 1, "%s", json_string_value(json_object_get(v, "id")));
    json_decref(v);
    free(out);
}

static int vault_emit(void *ctx, const char *type, const json_t *payload)
{
    return keyd_emit(ctx, type, payload);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/fuzz-keyd-XXXXXX";
    static char data[256], keyfile[256], db[256], sock[256], lock[256], policy[256];
    static const char *const deliver[] = {NULL};
    struct osm_http_server_config ledger = {.routes = ledger_routes, .n_routes = 1};
    struct osm_http_server *srv;
    uint8_t key[32];
    char err[256];
    int fd;

    if (!mkdtemp(dir))
        abort();
    snprintf(data, sizeof(data), "%s/keyd", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/master.key", dir);
    snprintf(db, sizeof(db), "%s/keyd/keyd.db", dir);
    snprintf(sock, sizeof(sock), "%s/agentd-daemons.sock", dir);
    snprintf(lock, sizeof(lock), "%s/lockdown", dir);
    snprintf(policy, sizeof(policy), "%s/keyd/policy.json", dir);
    randombytes_buf(key, sizeof(key));
    if (mkdir(data, 0700) < 0 || (fd = open(keyfile, O_WRONLY | O_CREAT, 0600)) < 0 ||
        write(fd, key, sizeof(key)) != sizeof(key) || close(fd) < 0)
        abort();
    if (osm_http_server_start_unix(&ledger, sock, 0600, &srv) < 0)
        abort();
    k = (struct keyd){.run_dir = dir,
                      .state_dir = dir,
                      .data_dir = data,
                      .policy_path = policy,
                      .daemons_socket = sock,
                      .lockdown_path = lock};
    pthread_rwlock_init(&k.policy_lock, NULL);
    struct vault_config vc = {.data_dir = data,
                              .key_file = keyfile,
                              .deliver_dirs = deliver,
                              .credstore_dir = dir,
                              .emit = vault_emit,
                              .emit_ctx = &k};
    if (kstore_open(db, &k.store) < 0 || wallets_init(k.store) < 0 ||
        kpolicy_store_init(k.store) < 0)
        abort();
    vc.store = k.store;
    if (vault_open(&vc, &k.vault, err, sizeof(err)) < 0 ||
        keyd_policy_reload(&k, err, sizeof(err)) < 0)
        abort();
    server = (struct osm_http_server_config){.userdata = &k, .operator= true };
    server.routes = keyd_api_routes(&server.n_routes);
    wallet("ethereum", eth_id);
    wallet("solana", sol_id);
    return 0;
}

static bool status_expected(int status)
{
    static const int ok[] = {200, 201, 400, 403, 404, 409, 413, 422, 429};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (status == ok[i])
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL, *body = NULL;
    size_t len = 0, blen;
    json_t *v, *in;
    const char *path;
    int status;

    if (size == 0)
        return 0;
    path = paths[(data[0] >> 1) % (sizeof(paths) / sizeof(paths[0]))];
    in = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (json_is_object(in) && !json_object_get(in, "wallet_id")) {
        json_object_set_new(in, "wallet_id", json_string(data[0] & 1 ? sol_id : eth_id));
        body = json_dumps(in, JSON_COMPACT);
    }
    json_decref(in);
    blen = body ? strlen(body) : size - 1;
    status = dispatch(path, body ? body : (const char *)data + 1, blen, &out, &len);
    free(body);
    if (!status_expected(status)) {
        fprintf(stderr, "unexpected status %d on %s: %.*s\n", status, path, (int)len, out);
        abort();
    }
    v = out ? json_loadb(out, len, JSON_DECODE_ANY, NULL) : NULL;
    if (!v) {
        fprintf(stderr, "response to %s is not JSON\n", path);
        abort();
    }
    json_decref(v);
    free(out);
    return 0;
}
