/* The vault's parts share this: its state, and helpers between vault.c (open, lock, seal,
 * status), vault-key.c (the master key sources), vault-secrets.c and vault-deliver.c. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "vault.h"

#define VAULT_UNLOCK_FAIL_DELAY_MS 1000 /* after a wrong passphrase, before the next attempt */
#define VAULT_SALT_LEN 16               /* crypto_pwhash_SALTBYTES */
#define VAULT_CHECK_LEN 32              /* keyed BLAKE2b of a constant: the key check */
#define VAULT_KEYFILE_MAX 66            /* 64 hex digits and a line end */
#define VAULT_TEXT_MAX 1024

struct vault {
    char *data_dir, *key_file, *credentials_dir, *credstore_dir;
    char **deliver_dirs; /* NULL-terminated */
    struct kstore *store;
    int (*emit)(void *ctx, const char *type, const json_t *payload);
    void *emit_ctx;

    pthread_rwlock_t key_lock; /* key and source: readers seal and open, writers lock/unlock */
    struct secbuf key;
    enum vault_source source;     /* in force; NONE while locked */
    enum vault_source configured; /* credential or key file found at open, else passphrase */
    char *credential_path;        /* when configured == CREDENTIAL */
    unsigned lock_epoch;          /* vault_lock calls, under key_lock */

    pthread_mutex_t unlock_lock; /* one passphrase attempt at a time */
    atomic_bool passphrase_set;
    atomic_llong last_unlock_ms; /* Argon2id time of the last passphrase unlock, -1: none */
    atomic_uint failed_unlocks;

    /* fixed at open, so that vault_source_text can lend them */
    char text_on[VAULT_TEXT_MAX], text_off[VAULT_TEXT_MAX], text_new[VAULT_TEXT_MAX];
};

#define _cleanup_stmt_ __attribute__((cleanup(vault_finalizep)))
static inline void vault_finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

/* vault-key.c: reads the credential or key file into key (a new secbuf); -errno, err says why. */
int vault_key_load(struct vault *v, struct secbuf *key, char *err, size_t errlen);
/* Finds which source is configured (credential present, key file given, else passphrase). */
enum vault_source vault_key_configured(const struct vault *v);
/* Argon2id of pass under salt with the given cost into key (a new secbuf). */
int vault_key_derive(const char *pass, size_t len, const uint8_t salt[VAULT_SALT_LEN],
                     unsigned long long ops, size_t mem, struct secbuf *key);
/* The key check: BLAKE2b-256 keyed by the master key over a constant. */
void vault_key_check(const struct secbuf *key, uint8_t out[VAULT_CHECK_LEN]);

/* vault.c: keyd.db's vault_meta table (k → v). */
int vault_meta_get(sqlite3 *db, const char *k, void *buf, size_t size, size_t *ret_len);
int vault_meta_put(sqlite3 *db, const char *k, const void *buf, size_t len);

/* vault-secrets.c: a valid secret name ([A-Za-z0-9][A-Za-z0-9_.-]*, no "..", bounded). */
bool vault_name_valid(const char *name);

/* One recorded access of a secret (a read or a delivery): inside one keyd.db transaction the
 * version is found and opened, the access log row written and the event (type, payload with
 * "version" added) recorded; then, still inside it, deliver runs when given. A failing step
 * rolls back the row and leaves out empty. */
struct vault_access {
    const char *name;
    int version; /* 0: newest */
    const char *reader, *how;
    const char *type;
    json_t *payload; /* lent; "version" is set in it */
    int (*deliver)(void *ctx, const struct secbuf *value);
    void *deliver_ctx;
};
int vault_secret_access(struct vault *v, const struct vault_access *a, struct secbuf *out,
                        int *ret_version);
