/* The vault: opening it with the master key from the credential or key file, the passphrase
 * unlock, lock and unlock again (LOCKDOWN), sealing with XChaCha20-Poly1305 and the status.
 * The key sources are in vault-key.c, secrets in vault-secrets.c, delivery in vault-deliver.c. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "common/timeutil.h"
#include "vault-int.h"

#define SEAL_FORMAT 1 /* first byte of a sealed blob: XChaCha20-Poly1305, random nonce */
#define SEAL_HEADER (1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define SEAL_OVERHEAD (SEAL_HEADER + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define SEAL_PLAIN_MAX (16u * 1024 * 1024)
#define KDF_PARAMS_LEN (VAULT_SALT_LEN + 16) /* salt, opslimit, memlimit (LE u64) */
#define KDF_OPSLIMIT_MAX 64                  /* stored costs above these are refused */
#define KDF_MEMLIMIT_MAX (4ULL * 1024 * 1024 * 1024)

static const char vault_schema[] =
    "CREATE TABLE IF NOT EXISTS vault_meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vault_names(name TEXT PRIMARY KEY, current INTEGER NOT NULL,"
    " created_at TEXT NOT NULL, rotated_at TEXT, last_read_at TEXT);"
    "CREATE TABLE IF NOT EXISTS vault_secrets(name TEXT NOT NULL, version INTEGER NOT NULL,"
    " sealed BLOB NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,"
    " PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS vault_access(id INTEGER PRIMARY KEY, ts TEXT NOT NULL,"
    " name TEXT NOT NULL, version INTEGER NOT NULL, reader TEXT NOT NULL, how TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS vault_access_name ON vault_access(name, id);";

static const char *const source_names[] = {
    [VAULT_SOURCE_NONE] = "none",
    [VAULT_SOURCE_CREDENTIAL] = "credential",
    [VAULT_SOURCE_KEY_FILE] = "key_file",
    [VAULT_SOURCE_PASSPHRASE] = "passphrase",
};

int vault_meta_get(sqlite3 *db, const char *k, void *buf, size_t size, size_t *ret_len)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int n, r;

    if (sqlite3_prepare_v2(db, "SELECT v FROM vault_meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    if ((r = sqlite3_step(st)) == SQLITE_DONE)
        return -ENOENT;
    if (r != SQLITE_ROW)
        return -EIO;
    n = sqlite3_column_bytes(st, 0);
    if ((size_t)n > size)
        return -EBADMSG;
    memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
    *ret_len = (size_t)n;
    return 0;
}

int vault_meta_put(sqlite3 *db, const char *k, const void *buf, size_t len)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO vault_meta(k, v) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

/* The key check: the first key the vault sees is remembered (as a keyed hash), and a later
 * source giving another key is refused, so that nothing is sealed under two keys. */
static int check_tx(sqlite3 *db, void *ctx)
{
    uint8_t *want = ctx, have[VAULT_CHECK_LEN];
    size_t n;
    int r = vault_meta_get(db, "key_check", have, sizeof(have), &n);

    if (r == -ENOENT)
        return vault_meta_put(db, "key_check", want, VAULT_CHECK_LEN);
    if (r < 0)
        return r;
    return n == VAULT_CHECK_LEN && sodium_memcmp(have, want, n) == 0 ? 0 : -EPERM;
}

static int key_matches(struct vault *v, const struct secbuf *key, char *err, size_t errlen)
{
    uint8_t check[VAULT_CHECK_LEN];
    int r;

    vault_key_check(key, check);
    r = kstore_tx(v->store, check_tx, check);
    if (r == -EPERM)
        snprintf(err, errlen,
                 "this master key is not the one the vault in %s was sealed with: give that "
                 "key again (or move the data directory away to start an empty vault)",
                 v->data_dir);
    else if (r < 0)
        snprintf(err, errlen, "cannot read keyd.db: %s", strerror(-r));
    return r;
}

static void set_texts(struct vault *v)
{
    const char *kf = v->key_file && *v->key_file ? v->key_file : NULL;

    switch (v->configured) {
    case VAULT_SOURCE_CREDENTIAL:
        snprintf(v->text_on, sizeof(v->text_on),
                 "master key from the systemd credential %s (%s)%s%s%s", VAULT_CREDENTIAL_NAME,
                 v->credential_path, kf ? "; the key file " : "", kf ? kf : "",
                 kf ? " is not used" : "");
        break;
    case VAULT_SOURCE_KEY_FILE:
        snprintf(v->text_on, sizeof(v->text_on),
                 "master key from the key file %s (outside the data directory)", kf);
        break;
    default:
        snprintf(v->text_on, sizeof(v->text_on),
                 "master key from the operator's passphrase (Argon2id), held in memory only");
        snprintf(v->text_off, sizeof(v->text_off),
                 "locked: no master key; unlock with a passphrase: agentctl vault unlock / POST "
                 "/vault/unlock on keyd.sock");
        snprintf(v->text_new, sizeof(v->text_new),
                 "locked: no master key; unlock with a passphrase: agentctl vault unlock / POST "
                 "/vault/unlock on keyd.sock (the first passphrase given becomes the vault's)");
        return;
    }
    snprintf(v->text_off, sizeof(v->text_off),
             "locked: no master key in memory (zeroed by LOCKDOWN or the operator); unlocking "
             "reads it again from the %s %s: agentctl unlock / POST /unlock on keyd.sock",
             v->configured == VAULT_SOURCE_CREDENTIAL ? "systemd credential" : "key file",
             v->configured == VAULT_SOURCE_CREDENTIAL ? v->credential_path : kf);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int copy_config(struct vault *v, const struct vault_config *cfg)
{
    size_t n = 0;

    v->data_dir = dup_or_null(cfg->data_dir);
    v->key_file = dup_or_null(cfg->key_file);
    v->credentials_dir = dup_or_null(cfg->credentials_dir);
    v->credstore_dir = dup_or_null(cfg->credstore_dir);
    while (cfg->deliver_dirs && cfg->deliver_dirs[n])
        n++;
    if (!(v->deliver_dirs = calloc(n + 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v->deliver_dirs[i] = strdup(cfg->deliver_dirs[i])))
            return -ENOMEM;
    if (!v->data_dir || (cfg->key_file && !v->key_file) ||
        (cfg->credentials_dir && !v->credentials_dir) || (cfg->credstore_dir && !v->credstore_dir))
        return -ENOMEM;
    return 0;
}

static int has_kdf(sqlite3 *db, void *ctx)
{
    uint8_t buf[KDF_PARAMS_LEN];
    size_t n;

    (void)ctx;
    return vault_meta_get(db, "kdf", buf, sizeof(buf), &n) == 0 ? 1 : 0;
}

/* Takes the key from the credential or the key file, checked against the vault's key. */
static int load_source(struct vault *v, struct secbuf *key, char *err, size_t errlen)
{
    int r;

    if ((r = vault_key_load(v, key, err, errlen)) < 0)
        return r;
    if ((r = key_matches(v, key, err, errlen)) < 0)
        secbuf_free(key);
    return r;
}

int vault_open(const struct vault_config *cfg, struct vault **ret, char *err, size_t errlen)
{
    struct vault *v;
    int r;

    if (!cfg->data_dir || !cfg->store || !cfg->emit) {
        snprintf(err, errlen, "the vault needs a data directory, keyd.db and the ledger");
        return -EINVAL;
    }
    if (sodium_init() < 0 || !(v = calloc(1, sizeof(*v))))
        return -ENOMEM;
    pthread_rwlock_init(&v->key_lock, NULL);
    pthread_mutex_init(&v->unlock_lock, NULL);
    v->store = cfg->store;
    v->emit = cfg->emit;
    v->emit_ctx = cfg->emit_ctx;
    atomic_init(&v->last_unlock_ms, -1);
    if ((r = copy_config(v, cfg)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((r = kstore_schema(v->store, vault_schema)) < 0) {
        snprintf(err, errlen, "cannot create the vault's tables in keyd.db");
        goto fail;
    }
    v->configured = vault_key_configured(v);
    if (v->configured == VAULT_SOURCE_CREDENTIAL &&
        asprintf(&v->credential_path, "%s/%s", v->credentials_dir, VAULT_CREDENTIAL_NAME) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    set_texts(v);
    atomic_store(&v->passphrase_set, kstore_read(v->store, has_kdf, NULL) == 1);
    if (v->configured != VAULT_SOURCE_PASSPHRASE) {
        if ((r = load_source(v, &v->key, err, errlen)) < 0)
            goto fail;
        v->source = v->configured;
    }
    *ret = v;
    return 0;
fail:
    vault_free(v);
    return r;
}

void vault_free(struct vault *v)
{
    if (!v)
        return;
    secbuf_free(&v->key);
    pthread_rwlock_destroy(&v->key_lock);
    pthread_mutex_destroy(&v->unlock_lock);
    free(v->data_dir);
    free(v->key_file);
    free(v->credentials_dir);
    free(v->credstore_dir);
    free(v->credential_path);
    for (size_t i = 0; v->deliver_dirs && v->deliver_dirs[i]; i++)
        free(v->deliver_dirs[i]);
    free(v->deliver_dirs);
    free(v);
}

enum vault_source vault_source(const struct vault *v)
{
    struct vault *m = (struct vault *)v; /* the lock is not part of the value */
    enum vault_source s;

    pthread_rwlock_rdlock(&m->key_lock);
    s = v->source;
    pthread_rwlock_unlock(&m->key_lock);
    return s;
}

const char *vault_source_text(const struct vault *v)
{
    if (vault_source(v) != VAULT_SOURCE_NONE)
        return v->text_on;
    if (v->configured == VAULT_SOURCE_PASSPHRASE && !atomic_load(&v->passphrase_set))
        return v->text_new;
    return v->text_off;
}

bool vault_unlocked(const struct vault *v)
{
    return vault_source(v) != VAULT_SOURCE_NONE;
}

static unsigned lock_epoch(struct vault *v)
{
    unsigned e;

    pthread_rwlock_rdlock(&v->key_lock);
    e = v->lock_epoch;
    pthread_rwlock_unlock(&v->key_lock);
    return e;
}

/* Puts key in force (taking it and freeing the one it replaces), unless the vault was locked
 * since epoch: an unlock that began before a LOCKDOWN must not undo it (-EBUSY, key freed). */
static int install_key(struct vault *v, struct secbuf *key, enum vault_source src, unsigned epoch)
{
    int r = 0;

    pthread_rwlock_wrlock(&v->key_lock);
    if (v->lock_epoch != epoch)
        r = -EBUSY;
    else {
        secbuf_free(&v->key);
        v->key = *key;
        *key = (struct secbuf){0};
        v->source = src;
    }
    pthread_rwlock_unlock(&v->key_lock);
    secbuf_free(key);
    return r;
}

void vault_lock(struct vault *v)
{
    pthread_rwlock_wrlock(&v->key_lock);
    secbuf_free(&v->key);
    v->source = VAULT_SOURCE_NONE;
    v->lock_epoch++;
    pthread_rwlock_unlock(&v->key_lock);
}

int vault_unlock_again(struct vault *v, char *err, size_t errlen)
{
    unsigned epoch = lock_epoch(v);
    struct secbuf key = {0};
    int r;

    if (v->configured == VAULT_SOURCE_PASSPHRASE) {
        snprintf(err, errlen, "%s", v->text_off);
        return -EACCES;
    }
    if ((r = load_source(v, &key, err, errlen)) < 0)
        return r;
    if ((r = install_key(v, &key, v->configured, epoch)) < 0)
        snprintf(err, errlen, "the vault was locked again while unlocking: try again");
    return r;
}

/* The passphrase path: kdf = salt ‖ opslimit ‖ memlimit in vault_meta, the key check beside. */
struct kdf_params {
    uint8_t salt[VAULT_SALT_LEN];
    unsigned long long ops;
    size_t mem;
    bool found;
    bool other_key; /* no kdf, but a key check: sealed under a credential or key file */
};

static void u64_put(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t u64_get(const uint8_t *p)
{
    uint64_t x = 0;

    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static int kdf_get_tx(sqlite3 *db, void *ctx)
{
    struct kdf_params *k = ctx;
    uint8_t buf[KDF_PARAMS_LEN], check[VAULT_CHECK_LEN];
    size_t n;
    int r = vault_meta_get(db, "kdf", buf, sizeof(buf), &n);

    if (r == -ENOENT) {
        k->other_key = vault_meta_get(db, "key_check", check, sizeof(check), &n) == 0;
        return 0;
    }
    if (r < 0 || n != KDF_PARAMS_LEN)
        return r < 0 ? r : -EBADMSG;
    memcpy(k->salt, buf, VAULT_SALT_LEN);
    k->ops = u64_get(buf + VAULT_SALT_LEN);
    k->mem = (size_t)u64_get(buf + VAULT_SALT_LEN + 8);
    /* stored costs outside what libsodium accepts, or beyond a sane memory, are damage */
    if (k->ops < crypto_pwhash_OPSLIMIT_MIN || k->ops > KDF_OPSLIMIT_MAX ||
        k->mem < crypto_pwhash_MEMLIMIT_MIN || k->mem > KDF_MEMLIMIT_MAX)
        return -EBADMSG;
    k->found = true;
    return 0;
}

struct kdf_set {
    const struct kdf_params *k;
    const uint8_t *check;
};

static int kdf_set_tx(sqlite3 *db, void *ctx)
{
    const struct kdf_set *s = ctx;
    uint8_t buf[KDF_PARAMS_LEN];
    size_t n;
    int r;

    if (vault_meta_get(db, "kdf", buf, sizeof(buf), &n) == 0)
        return -EEXIST;
    memcpy(buf, s->k->salt, VAULT_SALT_LEN);
    u64_put(buf + VAULT_SALT_LEN, s->k->ops);
    u64_put(buf + VAULT_SALT_LEN + 8, s->k->mem);
    if ((r = vault_meta_put(db, "kdf", buf, sizeof(buf))) < 0)
        return r;
    return vault_meta_put(db, "key_check", s->check, VAULT_CHECK_LEN);
}

static int key_check_tx(sqlite3 *db, void *ctx)
{
    size_t n;

    return vault_meta_get(db, "key_check", ctx, VAULT_CHECK_LEN, &n);
}

static void delay_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* Derives the key and checks it (or, the first time, sets the passphrase): 0 and key, or
 * -EACCES for a wrong passphrase. */
static int passphrase_key(struct vault *v, const char *pass, size_t len, struct secbuf *key,
                          char *err, size_t errlen)
{
    struct kdf_params k = {.ops = VAULT_KDF_OPSLIMIT, .mem = VAULT_KDF_MEMLIMIT};
    uint8_t check[VAULT_CHECK_LEN], want[VAULT_CHECK_LEN];
    int64_t t0;
    int r;

    if ((r = kstore_read(v->store, kdf_get_tx, &k)) < 0)
        return r;
    if (k.other_key) {
        snprintf(err, errlen,
                 "the vault in %s was sealed with a master key from a credential or key file, "
                 "not a passphrase: give that key",
                 v->data_dir);
        return -EACCES;
    }
    if (!k.found)
        randombytes_buf(k.salt, sizeof(k.salt));
    t0 = osm_monotonic_ms();
    if ((r = vault_key_derive(pass, len, k.salt, k.ops, k.mem, key)) < 0)
        return r;
    atomic_store(&v->last_unlock_ms, osm_monotonic_ms() - t0);
    vault_key_check(key, check);
    if (!k.found) {
        r = kstore_tx(v->store, kdf_set_tx, &(struct kdf_set){&k, check});
        if (r == 0)
            atomic_store(&v->passphrase_set, true);
    } else if ((r = kstore_read(v->store, key_check_tx, want)) == 0 &&
               sodium_memcmp(check, want, sizeof(check)) != 0) {
        r = -EACCES;
        snprintf(err, errlen, "wrong passphrase");
    }
    if (r < 0)
        secbuf_free(key);
    if (r < 0 && r != -EACCES)
        snprintf(err, errlen,
                 "cannot store or read the passphrase's salt and verifier in "
                 "keyd.db: %s",
                 strerror(-r));
    return r;
}

int vault_unlock_passphrase(struct vault *v, const char *pass, size_t len, char *err, size_t errlen)
{
    unsigned epoch = lock_epoch(v);
    struct secbuf key = {0};
    int r;

    if (v->configured != VAULT_SOURCE_PASSPHRASE) {
        snprintf(err, errlen, "no passphrase is used: the %s", v->text_on);
        return -EALREADY;
    }
    if (!pass || len < VAULT_PASSPHRASE_MIN || len > VAULT_PASSPHRASE_MAX) {
        snprintf(err, errlen, "a passphrase has %d to %d bytes", VAULT_PASSPHRASE_MIN,
                 VAULT_PASSPHRASE_MAX);
        return -EINVAL;
    }
    /* one attempt at a time, and a wrong one holds the next back: guesses are serialised at
     * one per (Argon2id + VAULT_UNLOCK_FAIL_DELAY_MS) whoever sends them */
    pthread_mutex_lock(&v->unlock_lock);
    r = passphrase_key(v, pass, len, &key, err, errlen);
    if (r == -EACCES) {
        atomic_fetch_add(&v->failed_unlocks, 1);
        delay_ms(VAULT_UNLOCK_FAIL_DELAY_MS);
    }
    pthread_mutex_unlock(&v->unlock_lock);
    if (r < 0)
        return r;
    if ((r = install_key(v, &key, VAULT_SOURCE_PASSPHRASE, epoch)) < 0)
        snprintf(err, errlen, "the vault was locked again while unlocking: try again");
    return r;
}

static int count_tx(sqlite3 *db, void *ctx)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM vault_names", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        return -EIO;
    *(json_int_t *)ctx = sqlite3_column_int64(st, 0);
    return 0;
}

static json_t *kdf_json(struct vault *v)
{
    struct kdf_params k = {.ops = VAULT_KDF_OPSLIMIT, .mem = VAULT_KDF_MEMLIMIT};
    long long ms = atomic_load(&v->last_unlock_ms);

    kstore_read(v->store, kdf_get_tx, &k);
    return json_pack("{s:s, s:I, s:I, s:o, s:b, s:i}", "algorithm", "argon2id13", "opslimit",
                     (json_int_t)k.ops, "memlimit", (json_int_t)k.mem, "last_unlock_ms",
                     ms < 0 ? json_null() : json_integer(ms), "passphrase_set",
                     atomic_load(&v->passphrase_set), "failed_unlocks",
                     (int)atomic_load(&v->failed_unlocks));
}

json_t *vault_status_json(struct vault *v)
{
    enum vault_source s = vault_source(v);
    json_int_t secrets = 0;
    json_t *o;

    if (kstore_read(v->store, count_tx, &secrets) < 0)
        secrets = -1;
    o = json_pack("{s:b, s:s, s:s, s:s, s:I}", "unlocked", s != VAULT_SOURCE_NONE, "source",
                  source_names[s], "configured", source_names[v->configured], "source_text",
                  vault_source_text(v), "secrets", secrets);
    if (o && v->configured == VAULT_SOURCE_PASSPHRASE)
        json_object_set_new(o, "kdf", kdf_json(v));
    return o;
}

int vault_seal(struct vault *v, const char *aad, const uint8_t *plain, size_t len, uint8_t **ret,
               size_t *ret_len)
{
    uint8_t *out;
    int r = 0;

    if (!aad || len > SEAL_PLAIN_MAX)
        return -EINVAL;
    if (!(out = malloc(len + SEAL_OVERHEAD)))
        return -ENOMEM;
    out[0] = SEAL_FORMAT;
    randombytes_buf(out + 1, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    pthread_rwlock_rdlock(&v->key_lock);
    if (!v->key.p)
        r = -EACCES;
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HEADER, NULL, plain, len,
                                                   (const uint8_t *)aad, strlen(aad), NULL, out + 1,
                                                   v->key.p);
    pthread_rwlock_unlock(&v->key_lock);
    if (r < 0) {
        free(out);
        return r;
    }
    *ret = out;
    *ret_len = len + SEAL_OVERHEAD;
    return 0;
}

int vault_unseal(struct vault *v, const char *aad, const uint8_t *sealed, size_t len,
                 struct secbuf *out)
{
    struct secbuf plain = {0};
    int r;

    *out = (struct secbuf){0};
    if (!aad)
        return -EINVAL;
    if (!sealed || len < SEAL_OVERHEAD || sealed[0] != SEAL_FORMAT)
        return -EBADMSG;
    if ((r = secbuf_alloc(&plain, len - SEAL_OVERHEAD)) < 0)
        return r;
    pthread_rwlock_rdlock(&v->key_lock);
    if (!v->key.p)
        r = -EACCES;
    else if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.p, NULL, NULL, sealed + SEAL_HEADER,
                                                        len - SEAL_HEADER, (const uint8_t *)aad,
                                                        strlen(aad), sealed + 1, v->key.p) != 0)
        r = -EBADMSG;
    pthread_rwlock_unlock(&v->key_lock);
    if (r < 0) {
        secbuf_free(&plain);
        return r;
    }
    *out = plain;
    return 0;
}
