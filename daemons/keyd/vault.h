/* The vault (seed 001, "credential vault"): the master key, and secrets with names, versions,
 * rotation and an access log; the wallets' keys are sealed with the same master key.
 *
 * The master key is never stored beside what it encrypts. It comes from, in this order:
 *   1. a systemd credential "keyd-master" ($CREDENTIALS_DIRECTORY/keyd-master, 32 bytes raw or
 *      64 hex digits), for LoadCredential=/LoadCredentialEncrypted= in the unit;
 *   2. the key file of OSMODA_KEYD_KEY_FILE / --key-file: owned by keyd's user, mode 0400 or
 *      0600, not inside the data directory (refused otherwise, with the reason);
 *   3. an operator passphrase given at unlock (POST /vault/unlock on keyd.sock), stretched with
 *      Argon2id (libsodium crypto_pwhash, VAULT_KDF_* below); the salt and a verifier live in
 *      the data directory, the key only in memory.
 * Until one of them is in force the vault is locked: wallets cannot sign and secrets cannot be
 * read. vault_source_text says plainly which is in force (for /health and the log).
 *
 * Sealing: XChaCha20-Poly1305 (libsodium) with a random nonce and the purpose, name and version
 * as associated data, so a sealed blob moved to another name or version does not open.
 *
 * LOCKDOWN: vault_lock zeroes and frees the master key; vault_unlock_again reads the credential
 * or key file again (a passphrase must be given again by the operator). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kstore.h"
#include "secmem.h"

#define VAULT_KEY_LEN 32
#define VAULT_CREDENTIAL_NAME "keyd-master"
#define VAULT_KDF_OPSLIMIT 3                     /* Argon2id t (osModa's) */
#define VAULT_KDF_MEMLIMIT (64ULL * 1024 * 1024) /* Argon2id m = 64 MiB (osModa's) */
#define VAULT_PASSPHRASE_MIN 12
#define VAULT_PASSPHRASE_MAX 1024
#define VAULT_SECRET_NAME_MAX 128 /* [A-Za-z0-9][A-Za-z0-9_.-]* */
#define VAULT_SECRET_MAX (64 * 1024)
#define VAULT_SECRETS_MAX 4096

enum vault_source {
    VAULT_SOURCE_NONE,
    VAULT_SOURCE_CREDENTIAL,
    VAULT_SOURCE_KEY_FILE,
    VAULT_SOURCE_PASSPHRASE,
};

struct vault_config {
    const char *data_dir;            /* <state>/keyd (salt, verifier) */
    const char *key_file;            /* or NULL */
    const char *credentials_dir;     /* $CREDENTIALS_DIRECTORY or NULL */
    const char *const *deliver_dirs; /* NULL-terminated: where secrets may be written as files */
    const char *credstore_dir;       /* systemd credentials are written here (/run/credstore) */
    struct kstore *store;
    /* Records a ledger event and waits until it is durable (agentd): 0 or -errno. A read or a
     * delivery that cannot be recorded does not happen. */
    int (*emit)(void *ctx, const char *type, const json_t *payload);
    void *emit_ctx;
};

struct vault;

/* Opens the vault and takes the master key from the credential or the key file when one is
 * given (a bad key file is an error: -EPERM / -EINVAL with the reason in err). */
int vault_open(const struct vault_config *cfg, struct vault **ret, char *err, size_t errlen);
void vault_free(struct vault *v); /* zeroes the key */

enum vault_source vault_source(const struct vault *v);
const char *vault_source_text(const struct vault *v);
bool vault_unlocked(const struct vault *v);
/* Passphrase unlock. The first unlock sets the passphrase (salt and verifier written); later
 * ones must match (-EACCES). -EALREADY when another source is in force. */
int vault_unlock_passphrase(struct vault *v, const char *pass, size_t len, char *err,
                            size_t errlen);
/* Zeroes the master key (LOCKDOWN, or the operator's lock). */
void vault_lock(struct vault *v);
/* After LOCKDOWN: the credential or key file again; -EACCES for a passphrase vault (the operator
 * unlocks it). */
int vault_unlock_again(struct vault *v, char *err, size_t errlen);
/* {unlocked, source, source_text, kdf?: {algorithm, opslimit, memlimit, last_unlock_ms}, secrets}
 */
json_t *vault_status_json(struct vault *v);

/* Seals plain under aad (e.g. "wallet|<id>|<version>"): *ret malloc'd. -EACCES when locked. */
int vault_seal(struct vault *v, const char *aad, const uint8_t *plain, size_t len, uint8_t **ret,
               size_t *ret_len);
/* Opens a sealed blob into out (allocated by secbuf_alloc): -EACCES locked, -EBADMSG forged,
 * moved or damaged. */
int vault_unseal(struct vault *v, const char *aad, const uint8_t *sealed, size_t len,
                 struct secbuf *out);

/* Secrets. A put stores a new version (1, 2, ...): rotation is a put. actor: who asked (for the
 * ledger event vault.put / vault.rotate, which never holds the value). */
int vault_secret_put(struct vault *v, const char *name, const uint8_t *value, size_t len,
                     const char *actor, json_t **ret_meta);
/* Reads a version (0: the newest): vault.read {name, version, reader} is recorded first; the value
 * goes into out. -ENOENT, -EACCES (locked). */
int vault_secret_read(struct vault *v, const char *name, int version, const char *reader,
                      struct secbuf *out, int *ret_version);
/* [{name, versions, current, created_at, rotated_at, last_read_at}] — never a value. */
json_t *vault_secret_list(struct vault *v);
int vault_secret_delete(struct vault *v, const char *name, const char *actor);
/* The newest reads of name (or of every secret: NULL): [{ts, name, version, reader, how}]. */
json_t *vault_access_log(struct vault *v, const char *name, size_t limit);

/* Delivers a secret to a service: as a file (path under one of deliver_dirs, resolved without
 * following symlinks out of it, written atomically, owner uid/gid and mode set before the value
 * is written) or as a systemd credential (<credstore_dir>/<name>, 0400 root, for LoadCredential=).
 * Recorded as vault.deliver {name, version, to, how, actor} first. */
struct vault_delivery {
    const char *path; /* file delivery, or NULL for a systemd credential */
    uid_t uid;
    gid_t gid;
    mode_t mode; /* at most 0640 */
};
int vault_secret_deliver(struct vault *v, const char *name, int version,
                         const struct vault_delivery *d, const char *actor, json_t **ret);
