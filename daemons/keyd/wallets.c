/* Wallet records and their keys in keyd.db. A key is born from randombytes (or imported with a
 * person's approval), sealed by the vault under "wallet|<id>|<version>" at once, and opened only
 * for the length of one signature. Create, delete and rotate change their rows and record their
 * ledger event in one keyd.db transaction: an event that cannot be recorded rolls the change
 * back. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "crypto/encoding.h"
#include "eth.h"
#include "jobs/jobs.h"
#include "sol.h"
#include "wallets.h"

#define KEY_LEN 32
#define AAD_MAX 96

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS wallets(id TEXT PRIMARY KEY, chain TEXT NOT NULL,"
    " label TEXT NOT NULL, address TEXT NOT NULL, key_version INTEGER NOT NULL,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wallet_keys(wallet_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " address TEXT NOT NULL, sealed BLOB NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY(wallet_id, version));"
    "CREATE TABLE IF NOT EXISTS receipts(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " wallet_id TEXT NOT NULL, ts TEXT NOT NULL, action TEXT NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS receipts_wallet ON receipts(wallet_id, id);";

int wallets_init(struct kstore *s)
{
    return kstore_schema(s, schema);
}

static void stmt_done(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(stmt_done)))

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void row_to_wallet(sqlite3_stmt *st, struct wallet *w)
{
    copy_col(w->id, sizeof(w->id), st, 0);
    copy_col(w->chain, sizeof(w->chain), st, 1);
    copy_col(w->label, sizeof(w->label), st, 2);
    copy_col(w->address, sizeof(w->address), st, 3);
    w->key_version = sqlite3_column_int(st, 4);
    copy_col(w->created_at, sizeof(w->created_at), st, 5);
}

#define WALLET_COLS "id, chain, label, address, key_version, created_at"

struct find_ctx {
    const char *id;
    struct wallet *w;
};

static int find_fn(sqlite3 *db, void *ctx)
{
    struct find_ctx *f = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT " WALLET_COLS " FROM wallets WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return -EIO;
    row_to_wallet(st, f->w);
    return 0;
}

int wallet_find(struct keyd *k, const char *id, struct wallet *ret)
{
    struct find_ctx f = {.id = id, .w = ret};

    if (strlen(id) != WALLET_ID_LEN)
        return -ENOENT;
    return kstore_read(k->store, find_fn, &f);
}

static int count_fn(sqlite3 *db, void *ctx)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM wallets", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return -EIO;
    *(int *)ctx = sqlite3_column_int(st, 0);
    return 0;
}

int wallet_count(struct keyd *k)
{
    int n = 0, r = kstore_read(k->store, count_fn, &n);

    return r < 0 ? r : n;
}

static void wallet_aad(const char *id, int version, char out[static AAD_MAX])
{
    snprintf(out, AAD_MAX, "wallet|%s|%d", id, version);
}

struct sealed_ctx {
    const char *id;
    int version;
    uint8_t *blob;
    size_t len;
};

static int sealed_fn(sqlite3 *db, void *ctx)
{
    struct sealed_ctx *s = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const void *b;

    if (sqlite3_prepare_v2(db, "SELECT sealed FROM wallet_keys WHERE wallet_id = ? AND version = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, s->version);
    if (sqlite3_step(st) != SQLITE_ROW)
        return -ENOENT;
    s->len = (size_t)sqlite3_column_bytes(st, 0);
    b = sqlite3_column_blob(st, 0);
    if (!b || !(s->blob = malloc(s->len)))
        return -ENOMEM;
    memcpy(s->blob, b, s->len);
    return 0;
}

int wallet_key(struct keyd *k, const struct wallet *w, struct secbuf *out)
{
    struct sealed_ctx s = {.id = w->id, .version = w->key_version};
    char aad[AAD_MAX];
    int r;

    if ((r = kstore_read(k->store, sealed_fn, &s)) < 0)
        return r;
    wallet_aad(w->id, w->key_version, aad);
    r = vault_unseal(k->vault, aad, s.blob, s.len, out);
    free(s.blob);
    if (r == 0 && out->len != KEY_LEN) {
        secbuf_free(out);
        r = -EBADMSG;
    }
    return r;
}

/* ---- keys ------------------------------------------------------------------------------- */

static bool chain_known(const char *chain)
{
    return strcmp(chain, "ethereum") == 0 || strcmp(chain, "solana") == 0;
}

static int key_fresh(const char *chain, struct secbuf *key)
{
    int r = secbuf_alloc(key, KEY_LEN);

    if (r < 0)
        return r;
    do
        randombytes_buf(key->p, KEY_LEN);
    while (strcmp(chain, "ethereum") == 0 && !eth_key_valid(key->p));
    return 0;
}

static int key_address(const char *chain, const uint8_t key[static KEY_LEN],
                       char out[static WALLET_ADDR_MAX + 1])
{
    uint8_t addr[ETH_ADDR_LEN], pk[SOL_PUBKEY_LEN];
    struct secbuf sk = {0};
    int r;

    if (strcmp(chain, "ethereum") == 0) {
        if ((r = eth_address_of_key(key, addr)) < 0)
            return r;
        eth_address_text(addr, out);
        return 0;
    }
    if ((r = secbuf_alloc(&sk, SOL_SECRET_LEN)) < 0)
        return r;
    r = sol_keypair(key, pk, sk.p);
    secbuf_free(&sk);
    if (r == 0)
        sol_address_text(pk, out);
    return r;
}

/* ---- create, import, rotate ------------------------------------------------------------- */

struct put_ctx {
    struct keyd *k;
    const struct wallet *w;
    const uint8_t *sealed;
    size_t sealed_len;
    bool rotate;
    const char *event;
    const json_t *payload;
};

static int put_rows(sqlite3 *db, const struct put_ctx *p)
{
    static const char ins_wallet[] = "INSERT INTO wallets(" WALLET_COLS ") VALUES(?,?,?,?,?,?)";
    static const char upd_wallet[] = "UPDATE wallets SET address = ?4, key_version = ?5 "
                                     "WHERE id = ?1";
    static const char ins_key[] = "INSERT INTO wallet_keys VALUES(?,?,?,?,?)";
    _cleanup_stmt_ sqlite3_stmt *a = NULL, *b = NULL;
    const struct wallet *w = p->w;

    if (sqlite3_prepare_v2(db, p->rotate ? upd_wallet : ins_wallet, -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins_key, -1, &b, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(a, 1, w->id, -1, SQLITE_STATIC);
    if (!p->rotate) {
        sqlite3_bind_text(a, 2, w->chain, -1, SQLITE_STATIC);
        sqlite3_bind_text(a, 3, w->label, -1, SQLITE_STATIC);
        sqlite3_bind_text(a, 6, w->created_at, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(a, 4, w->address, -1, SQLITE_STATIC);
    sqlite3_bind_int(a, 5, w->key_version);
    sqlite3_bind_text(b, 1, w->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(b, 2, w->key_version);
    sqlite3_bind_text(b, 3, w->address, -1, SQLITE_STATIC);
    sqlite3_bind_blob(b, 4, p->sealed, (int)p->sealed_len, SQLITE_STATIC);
    sqlite3_bind_text(b, 5, w->created_at, -1, SQLITE_STATIC);
    if (sqlite3_step(a) != SQLITE_DONE || sqlite3_changes(db) != 1 ||
        sqlite3_step(b) != SQLITE_DONE)
        return -EIO;
    return 0;
}

static int put_fn(sqlite3 *db, void *ctx)
{
    struct put_ctx *p = ctx;
    int r = put_rows(db, p);

    return r < 0 ? r : keyd_emit(p->k, p->event, p->payload);
}

static json_t *wallet_json(const struct wallet *w)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", w->id, "chain", w->chain, "label",
                     w->label, "address", w->address, "key_version", w->key_version, "created_at",
                     w->created_at);
}

static json_t *event_payload(const struct keyd_caller *c, const struct wallet *w,
                             const char *action)
{
    char ts[OSM_TS_LEN + 1];

    osm_now_ts(ts);
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "wallet_id", w->id, "action", action,
                     "chain", w->chain, "address", w->address, "key_version", w->key_version,
                     "requested_by", c->who, "timestamp", ts);
}

static void *store_error(struct kerr *e, int r, const char *what)
{
    if (r == -EACCES)
        return kerr_set(e, 503, "vault_locked", "the vault is locked: unlock it first");
    if (r == -ENOENT)
        return kerr_set(e, 404, "not_found", "no such wallet");
    return kerr_set(e, 503, "not_recorded", "%s failed (%s): nothing changed", what, strerror(-r));
}

/* Seals key for w (version w->key_version) and writes it with its event. */
static json_t *store_key(struct keyd *k, const struct keyd_caller *c, struct wallet *w,
                         const uint8_t *key, const char *action, bool rotate, struct kerr *e)
{
    char aad[AAD_MAX], event[32];
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    json_auto_t *payload = NULL;
    int r;

    if ((r = key_address(w->chain, key, w->address)) < 0)
        return kerr_set(e, 422, "invalid_key", "the key is not a valid %s key", w->chain);
    wallet_aad(w->id, w->key_version, aad);
    if ((r = vault_seal(k->vault, aad, key, KEY_LEN, &sealed, &sealed_len)) < 0)
        return store_error(e, r, action);
    snprintf(event, sizeof(event), "wallet.%s", action);
    payload = event_payload(c, w, action);
    struct put_ctx p = {.k = k,
                        .w = w,
                        .sealed = sealed,
                        .sealed_len = sealed_len,
                        .rotate = rotate,
                        .event = event,
                        .payload = payload};
    r = payload ? kstore_tx(k->store, put_fn, &p) : -ENOMEM;
    free(sealed);
    if (r < 0)
        return store_error(e, r, action);
    return wallet_json(w);
}

bool wallet_ready(struct keyd *k, struct kerr *e)
{
    if (keyd_locked_down(k))
        return kerr_set(e, 423, "lockdown", "keyd is in lockdown: no key is used or changed"),
               false;
    if (!vault_unlocked(k->vault))
        return kerr_set(e, 503, "vault_locked", "the vault is locked: unlock it first"), false;
    return true;
}

static json_t *new_wallet(struct keyd *k, const struct keyd_caller *c, const char *chain,
                          const char *label, const uint8_t *key, const char *action, struct kerr *e)
{
    struct wallet w = {.key_version = 1};
    int n;

    if (!chain_known(chain))
        return kerr_set(e, 422, "invalid_chain", "chain must be \"ethereum\" or \"solana\"");
    if (!label[0] || strlen(label) > WALLET_LABEL_MAX)
        return kerr_set(e, 422, "invalid_label", "label must be 1 to %d bytes", WALLET_LABEL_MAX);
    if (!wallet_ready(k, e))
        return NULL;
    if ((n = wallet_count(k)) < 0 || n >= WALLET_COUNT_MAX)
        return kerr_set(e, n < 0 ? 503 : 409, n < 0 ? "store_failed" : "too_many_wallets",
                        "no more wallets can be created");
    osm_uuid(w.id);
    snprintf(w.chain, sizeof(w.chain), "%s", chain);
    snprintf(w.label, sizeof(w.label), "%s", label);
    osm_now_ts(w.created_at);
    return store_key(k, c, &w, key, action, false, e);
}

json_t *wallet_create(struct keyd *k, const struct keyd_caller *c, const char *chain,
                      const char *label, struct kerr *e)
{
    struct secbuf key = {0};
    json_t *out;

    if (!chain_known(chain))
        return kerr_set(e, 422, "invalid_chain", "chain must be \"ethereum\" or \"solana\"");
    if (key_fresh(chain, &key) < 0)
        return kerr_set(e, 503, "no_memory", "no locked memory for a key");
    out = new_wallet(k, c, chain, label, key.p, "create", e);
    secbuf_free(&key);
    return out;
}

json_t *wallet_rotate(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e)
{
    struct secbuf key = {0};
    struct wallet w;
    json_t *out;

    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id);
    if (!wallet_ready(k, e))
        return NULL;
    if (key_fresh(w.chain, &key) < 0)
        return kerr_set(e, 503, "no_memory", "no locked memory for a key");
    w.key_version++;
    out = store_key(k, c, &w, key.p, "rotate", true, e);
    secbuf_free(&key);
    return out;
}

static bool person_allowed(struct keyd *k, bool import)
{
    bool ok;

    pthread_rwlock_rdlock(&k->policy_lock);
    ok = import ? kpolicy_import_allowed(k->policy) : kpolicy_export_allowed(k->policy);
    pthread_rwlock_unlock(&k->policy_lock);
    return ok;
}

json_t *wallet_import(struct keyd *k, const struct keyd_caller *c, const char *chain,
                      const char *label, const char *key_hex, struct kerr *e)
{
    struct secbuf key = {0};
    size_t n = strlen(key_hex);
    json_t *out;

    if (!person_allowed(k, true))
        return kerr_set(e, 403, "import_disabled", "the policy does not allow importing keys");
    if (!c->approved)
        return kerr_set(e, 403, "approval_required", "an import needs a person's approval");
    if (n > 2 && key_hex[0] == '0' && (key_hex[1] == 'x' || key_hex[1] == 'X'))
        key_hex += 2, n -= 2;
    if (secbuf_alloc(&key, KEY_LEN) < 0)
        return kerr_set(e, 503, "no_memory", "no locked memory for a key");
    if (osm_hex_decode(key_hex, n, key.p, KEY_LEN) < 0 ||
        (strcmp(chain, "ethereum") == 0 && !eth_key_valid(key.p))) {
        secbuf_free(&key);
        return kerr_set(e, 422, "invalid_key", "private_key must be 32 bytes of hex (a valid key)");
    }
    out = new_wallet(k, c, chain, label, key.p, "import", e);
    secbuf_free(&key);
    return out;
}

json_t *wallet_export(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e)
{
    struct secbuf key = {0};
    char hex[2 * KEY_LEN + 1];
    json_auto_t *ev = NULL;
    struct wallet w;
    json_t *out;
    int r;

    if (!person_allowed(k, false))
        return kerr_set(e, 403, "export_disabled", "the policy does not allow exporting keys");
    if (!c->approved)
        return kerr_set(e, 403, "approval_required", "an export needs a person's approval");
    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id);
    if (!wallet_ready(k, e))
        return NULL;
    if (!(ev = event_payload(c, &w, "export")) || (r = keyd_emit(k, "wallet.export", ev)) < 0)
        return kerr_set(e, 503, "not_recorded", "the export could not be recorded: refused");
    if ((r = wallet_key(k, &w, &key)) < 0)
        return store_error(e, r, "export");
    osm_hex_encode(key.p, KEY_LEN, hex);
    secbuf_free(&key);
    out =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "wallet_id", w.id, "chain", w.chain, "address",
                  w.address, "key_version", w.key_version, "private_key", hex, "format",
                  strcmp(w.chain, "ethereum") == 0 ? "secp256k1 private key" : "ed25519 seed");
    sodium_memzero(hex, sizeof(hex));
    return out;
}

/* ---- list, delete ----------------------------------------------------------------------- */

static int list_fn(sqlite3 *db, void *ctx)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    struct wallet w;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT " WALLET_COLS " FROM wallets ORDER BY created_at, id", -1,
                           &st, NULL) != SQLITE_OK)
        return -EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_wallet(st, &w);
        if (json_array_append_new(ctx, wallet_json(&w)) < 0)
            return -ENOMEM;
    }
    return rc == SQLITE_DONE ? 0 : -EIO;
}

json_t *wallet_list(struct keyd *k, struct kerr *e)
{
    json_auto_t *a = json_array();

    if (!a || kstore_read(k->store, list_fn, a) < 0)
        return kerr_set(e, 503, "store_failed", "keyd.db could not be read");
    return json_incref(a);
}

struct del_ctx {
    struct keyd *k;
    const char *id;
    const json_t *payload;
};

static int del_fn(sqlite3 *db, void *ctx)
{
    struct del_ctx *d = ctx;
    _cleanup_stmt_ sqlite3_stmt *a = NULL, *b = NULL;

    if (sqlite3_prepare_v2(db, "DELETE FROM wallets WHERE id = ?", -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM wallet_keys WHERE wallet_id = ?", -1, &b, NULL) !=
            SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(a, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(b, 1, d->id, -1, SQLITE_STATIC);
    if (sqlite3_step(a) != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(db) != 1)
        return -ENOENT;
    if (sqlite3_step(b) != SQLITE_DONE)
        return -EIO;
    return keyd_emit(d->k, "wallet.delete", d->payload);
}

json_t *wallet_delete(struct keyd *k, const struct keyd_caller *c, const char *id, struct kerr *e)
{
    json_auto_t *payload = NULL;
    struct wallet w;
    int r;

    if (wallet_find(k, id, &w) < 0)
        return kerr_set(e, 404, "not_found", "no wallet %s", id);
    if (keyd_locked_down(k))
        return kerr_set(e, 423, "lockdown", "keyd is in lockdown: no key is used or changed");
    if (!(payload = event_payload(c, &w, "delete")))
        return kerr_set(e, 503, "no_memory", "out of memory");
    struct del_ctx d = {.k = k, .id = w.id, .payload = payload};
    if ((r = kstore_tx(k->store, del_fn, &d)) < 0)
        return store_error(e, r, "delete");
    return json_pack("{s:s, s:b}", "wallet_id", w.id, "deleted", true);
}
