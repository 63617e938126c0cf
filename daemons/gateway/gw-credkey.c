/* The credential store's key (never beside the ciphertext) and osModa's envelope. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "crypto/encoding.h"
#include "crypto/secret.h"
#include "gw-credkey.h"
#include "gw-credstore.h"

#define KEY_TEXT_MAX 128

/* 64 hex digits (surrounding whitespace ignored) or exactly 32 raw bytes. */
static int key_parse(const char *buf, size_t len, uint8_t key[static GW_KEY_LEN])
{
    size_t start = 0;

    if (len == GW_KEY_LEN) {
        memcpy(key, buf, GW_KEY_LEN);
        return 0;
    }
    while (start < len && strchr(" \t\r\n", buf[start]))
        start++;
    while (len > start && strchr(" \t\r\n", buf[len - 1]))
        len--;
    return osm_hex_decode(buf + start, len - start, key, GW_KEY_LEN);
}

static int key_from_env(uint8_t key[static GW_KEY_LEN], char *err, size_t errlen)
{
    const char *v = getenv(GW_CREDSTORE_KEY_ENV);

    if (!v || !*v)
        return 0;
    if (strlen(v) != 2 * GW_KEY_LEN || osm_hex_decode(v, strlen(v), key, GW_KEY_LEN) < 0) {
        snprintf(err, errlen, "%s is set but is not 64 hex digits", GW_CREDSTORE_KEY_ENV);
        return -EINVAL;
    }
    return 1;
}

static int key_read_file(const char *path, uint8_t key[static GW_KEY_LEN], const char *what,
                         char *err, size_t errlen)
{
    char buf[KEY_TEXT_MAX];
    size_t n = 0;
    int r = osm_read_secret_file(path, buf, sizeof(buf), &n);

    if (r == 0 && key_parse(buf, n, key) < 0)
        r = -EINVAL;
    osm_secret_zero(buf, sizeof(buf));
    if (r < 0)
        snprintf(err, errlen, "%s %s: %s", what, path,
                 r == -EPERM    ? "group or others may access it (chmod 600)"
                 : r == -ELOOP  ? "is a symlink"
                 : r == -EINVAL ? "is not a regular file holding 64 hex digits or 32 bytes"
                                : strerror(-r));
    return r;
}

static int key_from_systemd(uint8_t key[static GW_KEY_LEN], char *path, size_t pathlen, char *err,
                            size_t errlen)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    int r;

    if (!dir || !*dir)
        return 0;
    snprintf(path, pathlen, "%s/%s", dir, GW_CREDSTORE_SYSTEMD_CRED);
    if (access(path, F_OK) < 0)
        return 0;
    r = key_read_file(path, key, "systemd credential", err, errlen);
    return r < 0 ? r : 1;
}

/* True when path's directory is config_dir or below it (both resolved). */
static bool inside_dir(const char *path, const char *config_dir)
{
    _cleanup_free_ char *copy = strdup(path);
    char dir_real[PATH_MAX], conf_real[PATH_MAX];
    char *slash;
    size_t n;

    if (!copy)
        return true;
    slash = strrchr(copy, '/');
    if (slash == copy)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(copy, ".");
    if (!realpath(copy, dir_real) || !realpath(config_dir, conf_real))
        return true; /* cannot tell: refuse */
    n = strlen(conf_real);
    return strncmp(dir_real, conf_real, n) == 0 && (dir_real[n] == '\0' || dir_real[n] == '/');
}

static int key_create(const char *path, uint8_t key[static GW_KEY_LEN])
{
    char hex[2 * GW_KEY_LEN + 2];
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int r;

    if (fd < 0)
        return -errno;
    randombytes_buf(key, GW_KEY_LEN);
    osm_hex_encode(key, GW_KEY_LEN, hex);
    strcat(hex, "\n");
    r = osm_write_all(fd, hex, strlen(hex));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    osm_secret_zero(hex, sizeof(hex));
    if (r < 0)
        unlink(path);
    return r;
}

static int key_check_owner(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return -errno;
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "key file %s is a symlink", path);
        return -ELOOP;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "key file %s is owned by uid %u, not the gateway's user (uid %u)",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -EPERM;
    }
    return 0;
}

static int key_from_file(const char *config_dir, const char *path, uint8_t key[static GW_KEY_LEN],
                         bool *made, char *err, size_t errlen)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int r;

    if (!dir)
        return -ENOMEM;
    if (slash && slash != dir) {
        *slash = '\0';
        if ((r = osm_mkdir_p(dir, 0700)) < 0) {
            snprintf(err, errlen, "cannot make the key file's directory %s: %s", dir, strerror(-r));
            return r;
        }
    }
    if (inside_dir(path, config_dir)) {
        snprintf(err, errlen,
                 "key file %s is inside the config directory %s: keep the key away from the "
                 "store",
                 path, config_dir);
        return -EPERM;
    }
    r = key_create(path, key);
    if (r == 0)
        return *made = true, 0;
    if (r != -EEXIST) {
        snprintf(err, errlen, "cannot create key file %s: %s", path, strerror(-r));
        return r;
    }
    if ((r = key_check_owner(path, err, errlen)) < 0)
        return r;
    return key_read_file(path, key, "key file", err, errlen);
}

int gw_credkey_load(const char *config_dir, const char *key_file, uint8_t key[static GW_KEY_LEN],
                    char *ret_source, size_t source_len, bool *ret_made, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int r;

    *ret_made = false;
    if ((r = key_from_env(key, err, errlen)) != 0) {
        snprintf(ret_source, source_len, "the environment variable %s", GW_CREDSTORE_KEY_ENV);
        return r < 0 ? r : 0;
    }
    if ((r = key_from_systemd(key, path, sizeof(path), err, errlen)) != 0) {
        snprintf(ret_source, source_len, "the systemd credential %s (%s)",
                 GW_CREDSTORE_SYSTEMD_CRED, path);
        return r < 0 ? r : 0;
    }
    if ((r = key_from_file(config_dir, key_file, key, ret_made, err, errlen)) < 0)
        return r;
    snprintf(ret_source, source_len, "the key file %s%s", key_file,
             *ret_made ? " (made on this start)" : "");
    return 0;
}

int gw_credkey_legacy(const char *config_dir, uint8_t key[static GW_KEY_LEN])
{
    _cleanup_free_ char *path = osm_path_join(config_dir, GW_CREDSTORE_LEGACY_KEY);
    char *data = NULL;
    size_t len = 0;
    int r;

    if (!path)
        return -ENOMEM;
    if ((r = osm_read_file(path, 4096, &data, &len)) < 0)
        return r;
    if (len >= GW_KEY_LEN)
        memcpy(key, data, GW_KEY_LEN);
    osm_secret_free(data, len);
    return len >= GW_KEY_LEN ? 0 : -EINVAL;
}

/* ---- the envelope ------------------------------------------------------------------------ */

static int gcm(bool enc, const uint8_t *key, const uint8_t *iv, uint8_t *tag, const uint8_t *in,
               size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok;

    if (!ctx || len > INT_MAX)
        return EVP_CIPHER_CTX_free(ctx), -ENOMEM;
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GW_GCM_IV_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) == 1 &&
         EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
         (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GW_GCM_TAG_LEN, tag) == 1) &&
         EVP_CipherFinal_ex(ctx, out + n, &fin) == 1 &&
         (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GW_GCM_TAG_LEN, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -EBADMSG;
}

char *gw_envelope_seal(const uint8_t key[static GW_KEY_LEN], const char *plain, size_t len)
{
    uint8_t iv[GW_GCM_IV_LEN], tag[GW_GCM_TAG_LEN];
    _cleanup_free_ uint8_t *ct = malloc(len + 16);
    size_t out_len = 4 + 2 * GW_GCM_IV_LEN + 1 + 2 * GW_GCM_TAG_LEN + 1 + 2 * len + 1;
    char *out = malloc(out_len), *p;

    if (!ct || !out) {
        free(out);
        return NULL;
    }
    randombytes_buf(iv, sizeof(iv));
    if (gcm(true, key, iv, tag, (const uint8_t *)plain, len, ct) < 0) {
        free(out);
        return NULL;
    }
    p = stpcpy(out, "ENC:");
    osm_hex_encode(iv, sizeof(iv), p);
    p = stpcpy(p + 2 * sizeof(iv), ":");
    osm_hex_encode(tag, sizeof(tag), p);
    p = stpcpy(p + 2 * sizeof(tag), ":");
    osm_hex_encode(ct, len, p);
    return out;
}

int gw_envelope_open(const uint8_t key[static GW_KEY_LEN], const char *env, size_t env_len,
                     char **ret_plain, size_t *ret_len)
{
    uint8_t iv[GW_GCM_IV_LEN], tag[GW_GCM_TAG_LEN];
    const char *iv_hex = env + 4, *tag_hex, *ct_hex;
    size_t ct_len;
    _cleanup_free_ uint8_t *ct = NULL;
    char *plain;

    while (env_len > 0 && strchr(" \t\r\n", env[env_len - 1]))
        env_len--;
    if (env_len < 4 + 2 * GW_GCM_IV_LEN + 2 + 2 * GW_GCM_TAG_LEN || memcmp(env, "ENC:", 4) != 0)
        return -EINVAL;
    tag_hex = iv_hex + 2 * GW_GCM_IV_LEN + 1;
    ct_hex = tag_hex + 2 * GW_GCM_TAG_LEN + 1;
    if (tag_hex[-1] != ':' || ct_hex[-1] != ':' || (env_len - (size_t)(ct_hex - env)) % 2)
        return -EINVAL;
    ct_len = (env_len - (size_t)(ct_hex - env)) / 2;
    ct = malloc(ct_len + 1);
    plain = malloc(ct_len + 16 + 1);
    if (!ct || !plain)
        return free(plain), -ENOMEM;
    if (osm_hex_decode(iv_hex, 2 * GW_GCM_IV_LEN, iv, sizeof(iv)) < 0 ||
        osm_hex_decode(tag_hex, 2 * GW_GCM_TAG_LEN, tag, sizeof(tag)) < 0 ||
        osm_hex_decode(ct_hex, 2 * ct_len, ct, ct_len) < 0)
        return free(plain), -EINVAL;
    if (gcm(false, key, iv, tag, ct, ct_len, (uint8_t *)plain) < 0) {
        osm_secret_free(plain, ct_len + 17);
        return -EBADMSG;
    }
    plain[ct_len] = '\0';
    *ret_plain = plain;
    *ret_len = ct_len;
    return 0;
}
