/* The master key's sources: the systemd credential keyd-master, the key file (checked: not in
 * the data directory, not a symlink, owned by us, 0400/0600, 32 bytes or 64 hex digits), and
 * the operator's passphrase stretched with Argon2id. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "vault-int.h"

#define KEY_CHECK_CONTEXT "osmoda-keyd master key check v1"
#define KEY_FILE_HINT "create one with: head -c 32 /dev/urandom > FILE; chmod 0400 FILE"

static char *credential_path(const struct vault *v)
{
    char *p;

    if (!v->credentials_dir || !*v->credentials_dir)
        return NULL;
    if (asprintf(&p, "%s/%s", v->credentials_dir, VAULT_CREDENTIAL_NAME) < 0)
        return NULL;
    return p;
}

enum vault_source vault_key_configured(const struct vault *v)
{
    _cleanup_free_ char *cred = credential_path(v);
    struct stat st;

    if (cred && lstat(cred, &st) == 0)
        return VAULT_SOURCE_CREDENTIAL;
    if (v->key_file && *v->key_file)
        return VAULT_SOURCE_KEY_FILE;
    return VAULT_SOURCE_PASSPHRASE;
}

/* 32 raw bytes, or 64 hex digits with an optional line end, into key. */
static int parse_key(const uint8_t *buf, size_t n, struct secbuf *key)
{
    size_t hexlen = n;
    int r;

    if ((r = secbuf_alloc(key, VAULT_KEY_LEN)) < 0)
        return r;
    if (n == VAULT_KEY_LEN) {
        memcpy(key->p, buf, VAULT_KEY_LEN);
        return 0;
    }
    if (hexlen > 0 && buf[hexlen - 1] == '\n')
        hexlen--;
    if (hexlen > 0 && buf[hexlen - 1] == '\r')
        hexlen--;
    if (hexlen == 2 * VAULT_KEY_LEN &&
        sodium_hex2bin(key->p, VAULT_KEY_LEN, (const char *)buf, hexlen, NULL, NULL, NULL) == 0)
        return 0;
    secbuf_free(key);
    return -EINVAL;
}

/* Reads an open key source (at most VAULT_KEYFILE_MAX bytes) into key. */
static int read_key_fd(int fd, const char *what, const char *path, struct secbuf *key, char *err,
                       size_t errlen)
{
    struct secbuf raw = {0};
    size_t n = 0;
    ssize_t k;
    int r;

    if ((r = secbuf_alloc(&raw, VAULT_KEYFILE_MAX + 1)) < 0)
        return r;
    while (n < raw.len && (k = read(fd, raw.p + n, raw.len - n)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = -errno;
            snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(-r));
            secbuf_free(&raw);
            return r;
        }
        n += (size_t)k;
    }
    r = n <= VAULT_KEYFILE_MAX ? parse_key(raw.p, n, key) : -EINVAL;
    secbuf_free(&raw);
    if (r == -EINVAL)
        snprintf(err, errlen,
                 "the %s %s holds %s%zu bytes: it must hold 32 random bytes or 64 hex digits (%s)",
                 what, path, n > VAULT_KEYFILE_MAX ? "more than " : "",
                 n > VAULT_KEYFILE_MAX ? (size_t)VAULT_KEYFILE_MAX : n, KEY_FILE_HINT);
    return r;
}

static int load_credential(const char *path, struct secbuf *key, char *err, size_t errlen)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    struct stat st;

    if (fd < 0) {
        int r = -errno;
        snprintf(err, errlen, "cannot open the systemd credential %s: %s", path, strerror(-r));
        return r;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the systemd credential %s is not a regular file", path);
        return -EINVAL;
    }
    return read_key_fd(fd, "systemd credential", path, key, err, errlen);
}

/* True when path lies in dir or below it, both resolved. */
static bool inside_dir(const char *path, const char *dir)
{
    _cleanup_free_ char *pcopy = strdup(path);
    _cleanup_free_ char *parent = NULL, *rdir = NULL;
    char *slash;
    size_t n;

    if (!pcopy || !dir)
        return false;
    slash = strrchr(pcopy, '/');
    if (!slash)
        parent = realpath(".", NULL);
    else {
        *slash = '\0';
        parent = realpath(slash == pcopy ? "/" : pcopy, NULL);
    }
    if (!parent || !(rdir = realpath(dir, NULL)))
        return false;
    n = strlen(rdir);
    if (strcmp(rdir, "/") == 0)
        return true;
    return strncmp(parent, rdir, n) == 0 && (parent[n] == '\0' || parent[n] == '/');
}

/* The key file's checks, each with the reason and the fix; 0 or -EPERM/-EINVAL/-ENOENT. */
static int check_key_file(const char *path, const char *data_dir, const struct stat *st, char *err,
                          size_t errlen)
{
    mode_t mode = st->st_mode & 07777;

    if (S_ISLNK(st->st_mode)) {
        snprintf(err, errlen,
                 "the key file %s is a symlink: give the path of the key file itself, not of a "
                 "link to it",
                 path);
        return -EPERM;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "the key file %s is not a regular file (%s)", path, KEY_FILE_HINT);
        return -EINVAL;
    }
    if (inside_dir(path, data_dir)) {
        snprintf(err, errlen,
                 "the key file %s is inside the data directory %s: the master key must not sit "
                 "beside what it encrypts; move it to another directory (e.g. /etc/osmoda/) and "
                 "point --key-file or OSMODA_KEYD_KEY_FILE at it",
                 path, data_dir);
        return -EPERM;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, errlen,
                 "the key file %s is owned by uid %u, not by keyd's user (uid %u): chown %u %s",
                 path, (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
        return -EPERM;
    }
    if (mode != 0400 && mode != 0600) {
        snprintf(err, errlen,
                 "the key file %s has mode %04o: only keyd's user may read it, chmod 0400 %s", path,
                 (unsigned)mode, path);
        return -EPERM;
    }
    return 0;
}

static int load_key_file(const char *path, const char *data_dir, struct secbuf *key, char *err,
                         size_t errlen)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    if (lstat(path, &st) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot use the key file %s: %s (%s)", path, strerror(-r),
                 KEY_FILE_HINT);
        return r;
    }
    if ((r = check_key_file(path, data_dir, &st, err, errlen)) < 0)
        return r;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot open the key file %s: %s", path, strerror(-r));
        return r == -ELOOP ? -EPERM : r;
    }
    /* check what was opened too, in case the file was swapped after lstat */
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((r = check_key_file(path, data_dir, &st, err, errlen)) < 0)
        return r;
    return read_key_fd(fd, "key file", path, key, err, errlen);
}

int vault_key_load(struct vault *v, struct secbuf *key, char *err, size_t errlen)
{
    _cleanup_free_ char *cred = credential_path(v);
    struct stat st;

    if (cred && lstat(cred, &st) == 0)
        return load_credential(cred, key, err, errlen);
    if (v->key_file && *v->key_file)
        return load_key_file(v->key_file, v->data_dir, key, err, errlen);
    snprintf(err, errlen, "no systemd credential %s and no key file: unlock with a passphrase",
             VAULT_CREDENTIAL_NAME);
    return -ENOKEY;
}

int vault_key_derive(const char *pass, size_t len, const uint8_t salt[VAULT_SALT_LEN],
                     unsigned long long ops, size_t mem, struct secbuf *key)
{
    int r;

    if ((r = secbuf_alloc(key, VAULT_KEY_LEN)) < 0)
        return r;
    if (crypto_pwhash(key->p, VAULT_KEY_LEN, pass, len, salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        secbuf_free(key);
        return -ENOMEM; /* libsodium fails only when it cannot get the memory */
    }
    return 0;
}

void vault_key_check(const struct secbuf *key, uint8_t out[VAULT_CHECK_LEN])
{
    crypto_generichash(out, VAULT_CHECK_LEN, (const uint8_t *)KEY_CHECK_CONTEXT,
                       strlen(KEY_CHECK_CONTEXT), key->p, key->len);
}
