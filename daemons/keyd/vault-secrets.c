/* Secrets in the vault: named, versioned (a put is a rotation), sealed under the master key with
 * their name and version as associated data, listed without values, read only after the read is
 * recorded, with an access log in keyd.db. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "vault-int.h"

#define AAD_MAX (VAULT_SECRET_NAME_MAX + 32)

bool vault_name_valid(const char *name)
{
    size_t n;

    if (!name || !(n = strnlen(name, VAULT_SECRET_NAME_MAX + 1)) || n > VAULT_SECRET_NAME_MAX)
        return false;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
          (name[0] >= '0' && name[0] <= '9')))
        return false;
    if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
        return false;
    return !strstr(name, "..");
}

static void secret_aad(char aad[static AAD_MAX], const char *name, int version)
{
    snprintf(aad, AAD_MAX, "secret|%s|%d", name, version);
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_string((const char *)sqlite3_column_text(st, i));
}

/* vault_secret_put */
struct put {
    struct vault *v;
    const char *name, *actor;
    const uint8_t *value;
    size_t len;
    int version;
    char ts[OSM_TS_LEN + 1];
};

static int current_version(sqlite3 *db, const char *name, int *ret)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db, "SELECT current FROM vault_names WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((r = sqlite3_step(st)) == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    *ret = sqlite3_column_int(st, 0);
    return 0;
}

static int names_full(sqlite3 *db)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM vault_names", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return -EIO;
    return sqlite3_column_int64(st, 0) >= VAULT_SECRETS_MAX ? -ENOSPC : 0;
}

static int put_rows(sqlite3 *db, struct put *p, const uint8_t *sealed, size_t sealed_len)
{
    _cleanup_stmt_ sqlite3_stmt *ins = NULL, *name = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO vault_secrets(name, version, sealed, created_at, "
                           "created_by) VALUES(?, ?, ?, ?, ?)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO vault_names(name, current, created_at) VALUES(?1, ?2, ?3) "
                           "ON CONFLICT(name) DO UPDATE SET current = ?2, rotated_at = ?3",
                           -1, &name, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(ins, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 2, p->version);
    sqlite3_bind_blob(ins, 3, sealed, (int)sealed_len, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, p->ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, p->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(name, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(name, 2, p->version);
    sqlite3_bind_text(name, 3, p->ts, -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_step(name) != SQLITE_DONE)
        return -EIO;
    return 0;
}

static int put_tx(sqlite3 *db, void *ctx)
{
    struct put *p = ctx;
    _cleanup_free_ uint8_t *sealed = NULL;
    json_auto_t *ev = NULL;
    char aad[AAD_MAX];
    size_t sealed_len;
    int cur = 0, r;

    if ((r = current_version(db, p->name, &cur)) == -ENOENT)
        r = names_full(db);
    if (r < 0)
        return r;
    p->version = cur + 1;
    secret_aad(aad, p->name, p->version);
    if ((r = vault_seal(p->v, aad, p->value, p->len, &sealed, &sealed_len)) < 0 ||
        (r = put_rows(db, p, sealed, sealed_len)) < 0)
        return r;
    if (!(ev = json_pack("{s:s, s:i, s:s}", "name", p->name, "version", p->version, "actor",
                         p->actor)))
        return -ENOMEM;
    return p->v->emit(p->v->emit_ctx, p->version == 1 ? "vault.put" : "vault.rotate", ev);
}

int vault_secret_put(struct vault *v, const char *name, const uint8_t *value, size_t len,
                     const char *actor, json_t **ret_meta)
{
    struct put p = {.v = v, .name = name, .actor = actor ? actor : "", .value = value, .len = len};
    int r;

    if (!vault_name_valid(name) || (!value && len) || len > VAULT_SECRET_MAX)
        return len > VAULT_SECRET_MAX ? -E2BIG : -EINVAL;
    if (!vault_unlocked(v))
        return -EACCES;
    osm_now_ts(p.ts);
    if ((r = kstore_tx(v->store, put_tx, &p)) < 0)
        return r;
    if (ret_meta && !(*ret_meta = json_pack("{s:s, s:i, s:s}", "name", name, "version", p.version,
                                            "created_at", p.ts)))
        return -ENOMEM;
    return 0;
}

/* vault_secret_access: the one way a value leaves keyd.db */
struct access {
    struct vault *v;
    const struct vault_access *a;
    struct secbuf value;
    int version;
    char ts[OSM_TS_LEN + 1];
};

static int fetch_open(sqlite3 *db, struct access *x)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char aad[AAD_MAX];
    int r;

    if (x->version == 0 && (r = current_version(db, x->a->name, &x->version)) < 0)
        return r;
    if (sqlite3_prepare_v2(db, "SELECT sealed FROM vault_secrets WHERE name = ? AND version = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, x->a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, x->version);
    if ((r = sqlite3_step(st)) == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    secret_aad(aad, x->a->name, x->version);
    return vault_unseal(x->v, aad, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                        &x->value);
}

static int log_access(sqlite3 *db, struct access *x)
{
    _cleanup_stmt_ sqlite3_stmt *ins = NULL, *upd = NULL;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO vault_access(ts, name, version, reader, how) "
                           "VALUES(?, ?, ?, ?, ?)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE vault_names SET last_read_at = ? WHERE name = ?", -1, &upd,
                           NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(ins, 1, x->ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, x->a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 3, x->version);
    sqlite3_bind_text(ins, 4, x->a->reader, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, x->a->how, -1, SQLITE_STATIC);
    sqlite3_bind_text(upd, 1, x->ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(upd, 2, x->a->name, -1, SQLITE_STATIC);
    return sqlite3_step(ins) == SQLITE_DONE && sqlite3_step(upd) == SQLITE_DONE ? 0 : -EIO;
}

static int access_tx(sqlite3 *db, void *ctx)
{
    struct access *x = ctx;
    int r;

    if ((r = fetch_open(db, x)) < 0 || (r = log_access(db, x)) < 0)
        goto fail;
    if (json_object_set_new(x->a->payload, "version", json_integer(x->version)) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = x->v->emit(x->v->emit_ctx, x->a->type, x->a->payload)) < 0)
        goto fail;
    if (x->a->deliver && (r = x->a->deliver(x->a->deliver_ctx, &x->value)) < 0)
        goto fail;
    return 0;
fail:
    secbuf_free(&x->value);
    return r;
}

int vault_secret_access(struct vault *v, const struct vault_access *a, struct secbuf *out,
                        int *ret_version)
{
    struct access x = {.v = v, .a = a, .version = a->version};
    int r;

    if (out)
        *out = (struct secbuf){0};
    if (!vault_name_valid(a->name) || a->version < 0)
        return -EINVAL;
    if (!vault_unlocked(v))
        return -EACCES;
    osm_now_ts(x.ts);
    if ((r = kstore_tx(v->store, access_tx, &x)) < 0) {
        secbuf_free(&x.value); /* the commit failed after the value was opened */
        return r;
    }
    if (ret_version)
        *ret_version = x.version;
    if (out)
        *out = x.value;
    else
        secbuf_free(&x.value);
    return 0;
}

int vault_secret_read(struct vault *v, const char *name, int version, const char *reader,
                      struct secbuf *out, int *ret_version)
{
    json_auto_t *ev =
        json_pack("{s:s, s:s}", "name", name ? name : "", "reader", reader ? reader : "");
    struct vault_access a = {.name = name,
                             .version = version,
                             .reader = reader ? reader : "",
                             .how = "read",
                             .type = "vault.read",
                             .payload = ev};

    *out = (struct secbuf){0};
    if (!ev)
        return -ENOMEM;
    return vault_secret_access(v, &a, out, ret_version);
}

/* vault_secret_list */
static int list_tx(sqlite3 *db, void *ctx)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    json_t *arr = ctx;
    int r;

    if (sqlite3_prepare_v2(db,
                           "SELECT n.name, (SELECT COUNT(*) FROM vault_secrets s WHERE s.name = "
                           "n.name), n.current, n.created_at, n.rotated_at, n.last_read_at FROM "
                           "vault_names n ORDER BY n.name",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(
                arr, json_pack("{s:s, s:i, s:i, s:o, s:o, s:o}", "name",
                               (const char *)sqlite3_column_text(st, 0), "versions",
                               sqlite3_column_int(st, 1), "current", sqlite3_column_int(st, 2),
                               "created_at", column_json(st, 3), "rotated_at", column_json(st, 4),
                               "last_read_at", column_json(st, 5))) < 0)
            return -ENOMEM;
    return r == SQLITE_DONE ? 0 : -EIO;
}

json_t *vault_secret_list(struct vault *v)
{
    json_t *arr = json_array();

    if (arr && kstore_read(v->store, list_tx, arr) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* vault_secret_delete */
struct del {
    struct vault *v;
    const char *name, *actor;
};

static int del_tx(sqlite3 *db, void *ctx)
{
    struct del *d = ctx;
    _cleanup_stmt_ sqlite3_stmt *s = NULL, *n = NULL;
    json_auto_t *ev = NULL;
    int cur, r;

    if ((r = current_version(db, d->name, &cur)) < 0)
        return r;
    if (sqlite3_prepare_v2(db, "DELETE FROM vault_secrets WHERE name = ?", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM vault_names WHERE name = ?", -1, &n, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(s, 1, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(n, 1, d->name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE || sqlite3_step(n) != SQLITE_DONE)
        return -EIO;
    if (!(ev = json_pack("{s:s, s:i, s:s}", "name", d->name, "versions", sqlite3_changes(db),
                         "actor", d->actor)))
        return -ENOMEM;
    return d->v->emit(d->v->emit_ctx, "vault.delete", ev);
}

int vault_secret_delete(struct vault *v, const char *name, const char *actor)
{
    struct del d = {v, name, actor ? actor : ""};

    if (!vault_name_valid(name))
        return -EINVAL;
    return kstore_tx(v->store, del_tx, &d);
}

/* vault_access_log */
struct logq {
    const char *name;
    size_t limit;
    json_t *arr;
};

static int log_tx(sqlite3 *db, void *ctx)
{
    struct logq *q = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db,
                           "SELECT ts, name, version, reader, how FROM vault_access WHERE ?1 IS "
                           "NULL OR name = ?1 ORDER BY id DESC LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (q->name)
        sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)q->limit);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(q->arr,
                                  json_pack("{s:s, s:s, s:i, s:s, s:s}", "ts",
                                            (const char *)sqlite3_column_text(st, 0), "name",
                                            (const char *)sqlite3_column_text(st, 1), "version",
                                            sqlite3_column_int(st, 2), "reader",
                                            (const char *)sqlite3_column_text(st, 3), "how",
                                            (const char *)sqlite3_column_text(st, 4))) < 0)
            return -ENOMEM;
    return r == SQLITE_DONE ? 0 : -EIO;
}

json_t *vault_access_log(struct vault *v, const char *name, size_t limit)
{
    struct logq q = {name, limit, json_array()};

    if (!q.arr || kstore_read(v->store, log_tx, &q) < 0) {
        json_decref(q.arr);
        return NULL;
    }
    return q.arr;
}
