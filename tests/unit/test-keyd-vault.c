/* daemons/keyd's vault: the master key sources and their refusals, the passphrase path,
 * lock/unlock, sealing with associated data, secrets (versions, names, limits, access log,
 * events before values, fail-closed emit), delivery as files and credentials, hardening.
 * A real keyd.db (kstore) in a temp dir; the ledger is a callback recording into an array. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "kstore.h"
#include "vault-int.h"
#include "vault.h"

#define NOBODY 65534
#define SECRET "s3cr3t-v4lue-that-must-never-leak"

static char dir[PATH_MAX], data[PATH_MAX + 8], keyfile[PATH_MAX + 16], creds[PATH_MAX + 8];
static char deliver[PATH_MAX + 16], credstore[PATH_MAX + 16], err[1024];
static struct kstore *store;
static struct vault *v;
static json_t *events;
static int fail_emit;
static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t key_b[32] = {42};

static int record(void *ctx, const char *type, const json_t *payload)
{
    (void)ctx;
    if (fail_emit)
        return -EIO;
    json_array_append_new(events, json_pack("{s:s, s:O}", "type", type, "payload", payload));
    return 0;
}

static void setup(void)
{
    char tmpl[] = "/tmp/test-keyd-vault-XXXXXX", db[PATH_MAX + 16];

    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/keyd.key", dir);
    snprintf(creds, sizeof(creds), "%s/creds", dir);
    snprintf(deliver, sizeof(deliver), "%s/deliver", dir);
    snprintf(credstore, sizeof(credstore), "%s/credstore", dir);
    snprintf(db, sizeof(db), "%s/keyd.db", data);
    cr_assert_eq(mkdir(data, 0700), 0);
    cr_assert_eq(mkdir(creds, 0700), 0);
    cr_assert_eq(mkdir(deliver, 0755), 0);
    cr_assert_eq(mkdir(credstore, 0700), 0);
    cr_assert_eq(kstore_open(db, &store), 0);
    events = json_array();
    fail_emit = 0;
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];

    vault_free(v);
    v = NULL;
    kstore_close(store);
    json_decref(events);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(vault, .init = setup, .fini = teardown);

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static int open_with(const char *key_file, const char *cred_dir)
{
    const char *dirs[] = {deliver, NULL};
    struct vault_config cfg = {.data_dir = data,
                               .key_file = key_file,
                               .credentials_dir = cred_dir,
                               .deliver_dirs = dirs,
                               .credstore_dir = credstore,
                               .store = store,
                               .emit = record};

    vault_free(v);
    v = NULL;
    err[0] = '\0';
    return vault_open(&cfg, &v, err, sizeof(err));
}

static void open_key_file(void)
{
    write_file(keyfile, key_a, sizeof(key_a), 0400);
    cr_assert_eq(open_with(keyfile, NULL), 0, "%s", err);
}

static size_t count_events(const char *type)
{
    size_t n = 0, i;
    json_t *e;

    json_array_foreach(events, i,
                       e) if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0) n++;
    return n;
}

static void assert_no_value_in_events(const char *value)
{
    char *all = json_dumps(events, 0);

    cr_assert_not_null(all);
    cr_assert_null(strstr(all, value), "an event holds the value: %s", all);
    free(all);
}

/* secmem */

Test(secmem, alloc_free_idempotent)
{
    struct secbuf b;

    cr_assert_eq(secbuf_alloc(&b, 32), 0);
    cr_assert_not_null(b.p);
    cr_assert_eq(b.len, 32);
    memset(b.p, 0xaa, 32);
    secbuf_free(&b);
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    secbuf_free(&b);
    secbuf_free(NULL);
}

Test(secmem, small_buffers_reused_zeroed_and_never_shared)
{
    enum { N = 1500 }; /* more than the pool holds */
    static struct secbuf b[N];
    struct secbuf big, again;

    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(secbuf_alloc(&b[i], 32), 0);
        memset(b[i].p, (int)(i & 0xff) | 1, 32);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < 32; k++)
            cr_assert_eq(b[i].p[k], (i & 0xff) | 1, "buffer %zu overwritten", i);
    uint8_t *first = b[0].p;
    secbuf_free(&b[0]);
    cr_assert_eq(secbuf_alloc(&again, 64), 0);
    cr_assert_eq(again.p, first, "the freed slot is reused");
    for (size_t k = 0; k < 64; k++)
        cr_assert_eq(again.p[k], 0, "a reused slot comes back zeroed");
    secbuf_free(&again);
    for (size_t i = 1; i < N; i++)
        secbuf_free(&b[i]);
    cr_assert_eq(secbuf_alloc(&big, 100000), 0);
    memset(big.p, 1, big.len);
    secbuf_free(&big);
}

/* The VmFlags line of the mapping holding p, from /proc/self/smaps. */
static void vmflags_of(const void *p, char *ret, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false;

    cr_assert_not_null(f);
    ret[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;

        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(ret, size, "%s", line);
            break;
        }
    }
    fclose(f);
}

#ifdef __SANITIZE_ADDRESS__
#define MLOCK_SEEN false /* AddressSanitizer turns mlock into a no-op */
#else
#define MLOCK_SEEN true
#endif

Test(secmem, locked_and_not_dumped)
{
    struct secbuf small, big;
    char flags[512];

    cr_assert_eq(secbuf_alloc(&small, 32), 0);
    cr_assert_eq(secbuf_alloc(&big, 8192), 0);
    vmflags_of(small.p, flags, sizeof(flags));
    cr_assert(!MLOCK_SEEN || strstr(flags, " lo"), "pool not mlocked: %s", flags);
    cr_assert_not_null(strstr(flags, " dd"), "pool not excluded from core dumps: %s", flags);
    vmflags_of(big.p, flags, sizeof(flags));
    cr_assert(!MLOCK_SEEN || strstr(flags, " lo"), "buffer not mlocked: %s", flags);
    cr_assert_not_null(strstr(flags, " dd"), "buffer not excluded from core dumps: %s", flags);
    secbuf_free(&small);
    secbuf_free(&big);
}

Test(secmem, harden_in_a_child)
{
    pid_t pid = fork();
    int status;

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit rl;

        if (prctl(PR_GET_DUMPABLE) != 1 || secmem_harden_process() != 0)
            _exit(2);
        if (prctl(PR_GET_DUMPABLE) != 0 || getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 ||
            rl.rlim_max != 0)
            _exit(3);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "child status %d", WEXITSTATUS(status));
}

/* master key sources */

Test(vault, key_file_raw)
{
    open_key_file();
    cr_assert(vault_unlocked(v));
    cr_assert_eq(vault_source(v), VAULT_SOURCE_KEY_FILE);
    cr_assert_not_null(strstr(vault_source_text(v), "from the key file"));
    cr_assert_not_null(strstr(vault_source_text(v), keyfile));
    cr_assert_not_null(strstr(vault_source_text(v), "(outside the data directory)"));
}

Test(vault, key_file_hex_0600)
{
    char hex[66];

    sodium_bin2hex(hex, sizeof(hex), key_a, sizeof(key_a));
    strcat(hex, "\n");
    write_file(keyfile, hex, strlen(hex), 0600);
    cr_assert_eq(open_with(keyfile, NULL), 0, "%s", err);
    /* the same key as the raw file: a secret sealed under one opens under the other */
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)"x", 1, "op", NULL), 0);
    write_file(keyfile, key_a, sizeof(key_a), 0400);
    cr_assert_eq(open_with(keyfile, NULL), 0, "%s", err);
    struct secbuf out;
    cr_assert_eq(vault_secret_read(v, "db", 0, "op", &out, NULL), 0);
    secbuf_free(&out);
}

Test(vault, key_file_inside_data_dir_refused)
{
    char inside[PATH_MAX + 32];

    snprintf(inside, sizeof(inside), "%s/master.key", data);
    write_file(inside, key_a, sizeof(key_a), 0400);
    cr_assert_eq(open_with(inside, NULL), -EPERM);
    cr_assert_null(v);
    cr_assert_not_null(strstr(err, "inside the data directory"), "%s", err);
    cr_assert_not_null(strstr(err, "move it"), "%s", err);
    /* below it, and through a ".." that leads back into it */
    snprintf(inside, sizeof(inside), "%s/sub", data);
    cr_assert_eq(mkdir(inside, 0700), 0);
    snprintf(inside, sizeof(inside), "%s/sub/../master.key", data);
    cr_assert_eq(open_with(inside, NULL), -EPERM);
    cr_assert_not_null(strstr(err, "inside the data directory"), "%s", err);
}

Test(vault, key_file_symlink_refused)
{
    char link[PATH_MAX + 16];

    write_file(keyfile, key_a, sizeof(key_a), 0400);
    snprintf(link, sizeof(link), "%s/link.key", dir);
    cr_assert_eq(symlink(keyfile, link), 0);
    cr_assert_eq(open_with(link, NULL), -EPERM);
    cr_assert_not_null(strstr(err, "is a symlink"), "%s", err);
}

Test(vault, key_file_readable_by_others_refused)
{
    static const mode_t bad[] = {0640, 0604, 0644, 0700, 0440};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(keyfile, key_a, sizeof(key_a), bad[i]);
        cr_assert_eq(open_with(keyfile, NULL), -EPERM, "mode %o", bad[i]);
        cr_assert_not_null(strstr(err, "chmod 0400"), "%s", err);
    }
}

Test(vault, key_file_owned_by_another_refused)
{
    if (geteuid() != 0)
        cr_skip_test("chown to another user needs root");
    write_file(keyfile, key_a, sizeof(key_a), 0400);
    cr_assert_eq(chown(keyfile, NOBODY, NOBODY), 0);
    cr_assert_eq(open_with(keyfile, NULL), -EPERM);
    cr_assert_not_null(strstr(err, "owned by uid 65534"), "%s", err);
    cr_assert_not_null(strstr(err, "chown"), "%s", err);
}

Test(vault, key_file_wrong_size_or_format_refused)
{
    char hex[65];

    write_file(keyfile, key_a, 31, 0400);
    cr_assert_eq(open_with(keyfile, NULL), -EINVAL);
    cr_assert_not_null(strstr(err, "holds 31 bytes"), "%s", err);
    cr_assert_not_null(strstr(err, "32 random bytes or 64 hex digits"), "%s", err);
    write_file(keyfile, key_a, 0, 0400);
    cr_assert_eq(open_with(keyfile, NULL), -EINVAL);
    memset(hex, 'z', 64);
    write_file(keyfile, hex, 64, 0400);
    cr_assert_eq(open_with(keyfile, NULL), -EINVAL);
    char big[200] = {0};
    write_file(keyfile, big, sizeof(big), 0400);
    cr_assert_eq(open_with(keyfile, NULL), -EINVAL);
    cr_assert_not_null(strstr(err, "more than"), "%s", err);
    cr_assert_eq(mkdir(keyfile, 0700) == 0 || unlink(keyfile) == 0, 1);
}

Test(vault, key_file_missing)
{
    cr_assert_eq(open_with(keyfile, NULL), -ENOENT);
    cr_assert_not_null(strstr(err, keyfile), "%s", err);
}

Test(vault, credential_wins_over_key_file)
{
    char cred[PATH_MAX + 32];

    write_file(keyfile, key_b, sizeof(key_b), 0400);
    snprintf(cred, sizeof(cred), "%s/keyd-master", creds);
    write_file(cred, key_a, sizeof(key_a), 0400);
    cr_assert_eq(open_with(keyfile, creds), 0, "%s", err);
    cr_assert_eq(vault_source(v), VAULT_SOURCE_CREDENTIAL);
    cr_assert_not_null(strstr(vault_source_text(v), "systemd credential keyd-master"));
    cr_assert_not_null(strstr(vault_source_text(v), "is not used"));
    /* sealed under the credential's key (key_a): opens with the key file holding key_a */
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)"x", 1, "op", NULL), 0);
    write_file(keyfile, key_a, sizeof(key_a), 0400);
    cr_assert_eq(open_with(keyfile, NULL), 0, "%s", err);
    cr_assert_eq(vault_source(v), VAULT_SOURCE_KEY_FILE);
    /* a credential directory without keyd-master falls through to the key file */
    cr_assert_eq(unlink(cred), 0);
    cr_assert_eq(open_with(keyfile, creds), 0, "%s", err);
    cr_assert_eq(vault_source(v), VAULT_SOURCE_KEY_FILE);
}

Test(vault, credential_bad_format)
{
    char cred[PATH_MAX + 32];

    snprintf(cred, sizeof(cred), "%s/keyd-master", creds);
    write_file(cred, "short", 5, 0400);
    cr_assert_eq(open_with(NULL, creds), -EINVAL);
    cr_assert_not_null(strstr(err, "systemd credential"), "%s", err);
}

Test(vault, another_key_refused)
{
    open_key_file();
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)"x", 1, "op", NULL), 0);
    write_file(keyfile, key_b, sizeof(key_b), 0400);
    cr_assert_eq(open_with(keyfile, NULL), -EPERM);
    cr_assert_not_null(strstr(err, "not the one the vault"), "%s", err);
}

Test(vault, no_source_is_locked)
{
    uint8_t *sealed;
    size_t n;
    json_t *st;

    cr_assert_eq(open_with(NULL, NULL), 0, "%s", err);
    cr_assert_not(vault_unlocked(v));
    cr_assert_eq(vault_source(v), VAULT_SOURCE_NONE);
    cr_assert_not_null(strstr(vault_source_text(v), "locked: no master key; unlock with a "
                                                    "passphrase"));
    cr_assert_not_null(strstr(vault_source_text(v), "POST /vault/unlock"));
    cr_assert_eq(vault_seal(v, "a", (const uint8_t *)"x", 1, &sealed, &n), -EACCES);
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)"x", 1, "op", NULL), -EACCES);
    st = vault_status_json(v);
    cr_assert(json_is_false(json_object_get(st, "unlocked")));
    cr_assert_str_eq(json_string_value(json_object_get(st, "source")), "none");
    cr_assert_not_null(json_object_get(st, "kdf"));
    cr_assert(json_is_null(json_object_get(json_object_get(st, "kdf"), "last_unlock_ms")));
    json_decref(st);
}

/* sealing */

Test(vault, seal_unseal_aad)
{
    uint8_t *sealed;
    size_t n;
    struct secbuf out;

    open_key_file();
    cr_assert_eq(vault_seal(v, "wallet|1|1", key_b, sizeof(key_b), &sealed, &n), 0);
    cr_assert_eq(vault_unseal(v, "wallet|1|1", sealed, n, &out), 0);
    cr_assert_eq(out.len, sizeof(key_b));
    cr_assert_eq(memcmp(out.p, key_b, sizeof(key_b)), 0);
    secbuf_free(&out);
    /* moved to another name or version */
    cr_assert_eq(vault_unseal(v, "wallet|2|1", sealed, n, &out), -EBADMSG);
    cr_assert_null(out.p);
    cr_assert_eq(vault_unseal(v, "wallet|1|2", sealed, n, &out), -EBADMSG);
    /* tampered anywhere, or cut */
    for (size_t i = 0; i < n; i += 7) {
        sealed[i] ^= 1;
        cr_assert_eq(vault_unseal(v, "wallet|1|1", sealed, n, &out), -EBADMSG, "byte %zu", i);
        sealed[i] ^= 1;
    }
    cr_assert_eq(vault_unseal(v, "wallet|1|1", sealed, n - 1, &out), -EBADMSG);
    cr_assert_eq(vault_unseal(v, "wallet|1|1", sealed, 3, &out), -EBADMSG);
    /* locked */
    vault_lock(v);
    cr_assert_eq(vault_unseal(v, "wallet|1|1", sealed, n, &out), -EACCES);
    free(sealed);
}

Test(vault, lock_and_unlock_again)
{
    uint8_t *sealed;
    size_t n;
    struct secbuf out;

    open_key_file();
    cr_assert_eq(vault_seal(v, "a", (const uint8_t *)"x", 1, &sealed, &n), 0);
    vault_lock(v);
    cr_assert_not(vault_unlocked(v));
    cr_assert_null(v->key.p, "the key is freed (and zeroed by sodium_free)");
    cr_assert_not_null(strstr(vault_source_text(v), "locked"));
    cr_assert_not_null(strstr(vault_source_text(v), keyfile));
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)"x", 1, "op", NULL), -EACCES);
    cr_assert_eq(vault_unlock_again(v, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(vault_source(v), VAULT_SOURCE_KEY_FILE);
    cr_assert_eq(vault_unseal(v, "a", sealed, n, &out), 0);
    secbuf_free(&out);
    /* the key file changed under a locked vault: refused */
    vault_lock(v);
    write_file(keyfile, key_b, sizeof(key_b), 0400);
    cr_assert_eq(vault_unlock_again(v, err, sizeof(err)), -EPERM);
    cr_assert_not(vault_unlocked(v));
    free(sealed);
}

/* the passphrase */

#define PASS "correct horse battery staple"

Test(vault, passphrase_set_lock_wrong_right, .timeout = 120)
{
    struct secbuf out;
    json_t *st, *kdf;
    int64_t t0;

    cr_assert_eq(open_with(NULL, NULL), 0, "%s", err);
    cr_assert_not_null(strstr(vault_source_text(v), "first passphrase"));
    cr_assert_eq(vault_unlock_passphrase(v, "short", 5, err, sizeof(err)), -EINVAL);
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(vault_source(v), VAULT_SOURCE_PASSPHRASE);
    cr_assert_not_null(strstr(vault_source_text(v), "passphrase"));
    cr_assert_eq(vault_secret_put(v, "db", (const uint8_t *)SECRET, strlen(SECRET), "op", NULL), 0);
    st = vault_status_json(v);
    kdf = json_object_get(st, "kdf");
    cr_assert_str_eq(json_string_value(json_object_get(kdf, "algorithm")), "argon2id13");
    cr_assert_eq(json_integer_value(json_object_get(kdf, "opslimit")), VAULT_KDF_OPSLIMIT);
    cr_assert_eq(json_integer_value(json_object_get(kdf, "memlimit")), VAULT_KDF_MEMLIMIT);
    cr_assert(json_is_integer(json_object_get(kdf, "last_unlock_ms")));
    cr_assert_eq(json_integer_value(json_object_get(st, "secrets")), 1);
    json_decref(st);

    vault_lock(v);
    cr_assert_eq(vault_unlock_again(v, err, sizeof(err)), -EACCES);
    t0 = osm_monotonic_ms();
    cr_assert_eq(vault_unlock_passphrase(v, "wrong horse battery", 19, err, sizeof(err)), -EACCES);
    cr_assert_geq(osm_monotonic_ms() - t0, VAULT_UNLOCK_FAIL_DELAY_MS, "the wrong one is held");
    cr_assert_str_eq(err, "wrong passphrase");
    cr_assert_not(vault_unlocked(v));
    st = vault_status_json(v);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(st, "kdf"), "failed_unlocks")),
                 1);
    json_decref(st);

    /* a new process (another vault on the same keyd.db) needs the same passphrase */
    cr_assert_eq(open_with(NULL, NULL), 0, "%s", err);
    cr_assert_null(strstr(vault_source_text(v), "first passphrase"));
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(vault_secret_read(v, "db", 0, "op", &out, NULL), 0);
    cr_assert_eq(memcmp(out.p, SECRET, strlen(SECRET)), 0);
    secbuf_free(&out);
}

static int damage_kdf(sqlite3 *db, void *ctx)
{
    (void)ctx;
    /* memlimit (the last 8 bytes, little-endian) set to 2^63 */
    return sqlite3_exec(db,
                        "UPDATE vault_meta SET v = substr(v, 1, 24) || x'0000000000000080' "
                        "WHERE k = 'kdf'",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

Test(vault, passphrase_damaged_costs_refused, .timeout = 120)
{
    cr_assert_eq(open_with(NULL, NULL), 0, "%s", err);
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), 0, "%s", err);
    vault_lock(v);
    cr_assert_eq(kstore_tx(store, damage_kdf, NULL), 0);
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), -EBADMSG);
    cr_assert_not(vault_unlocked(v));
}

Test(vault, passphrase_not_for_key_vaults)
{
    open_key_file();
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), -EALREADY);
    cr_assert_not_null(strstr(err, "key file"), "%s", err);
    /* the same data opened without the key file: a passphrase cannot be its key */
    cr_assert_eq(open_with(NULL, NULL), 0, "%s", err);
    cr_assert_eq(vault_unlock_passphrase(v, PASS, strlen(PASS), err, sizeof(err)), -EACCES);
    cr_assert_not_null(strstr(err, "credential or key file"), "%s", err);
}

/* secrets */

Test(vault, put_rotate_read_list)
{
    struct secbuf out;
    json_t *meta = NULL, *list, *e;
    int ver = 0;

    open_key_file();
    cr_assert_eq(vault_secret_put(v, "db.password", (const uint8_t *)"one-" SECRET,
                                  4 + strlen(SECRET), "operator", &meta),
                 0);
    cr_assert_eq(json_integer_value(json_object_get(meta, "version")), 1);
    json_decref(meta);
    cr_assert_eq(vault_secret_put(v, "db.password", (const uint8_t *)"two-" SECRET,
                                  4 + strlen(SECRET), "operator", NULL),
                 0);
    cr_assert_eq(vault_secret_read(v, "db.password", 0, "svc", &out, &ver), 0);
    cr_assert_eq(ver, 2);
    cr_assert_eq(out.len, 4 + strlen(SECRET));
    cr_assert_eq(memcmp(out.p, "two-", 4), 0);
    secbuf_free(&out);
    cr_assert_eq(vault_secret_read(v, "db.password", 1, "svc", &out, &ver), 0);
    cr_assert_eq(ver, 1);
    cr_assert_eq(memcmp(out.p, "one-", 4), 0);
    secbuf_free(&out);
    cr_assert_eq(vault_secret_read(v, "db.password", 3, "svc", &out, &ver), -ENOENT);
    cr_assert_eq(vault_secret_read(v, "nothing", 0, "svc", &out, &ver), -ENOENT);

    list = vault_secret_list(v);
    cr_assert_eq(json_array_size(list), 1);
    e = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "db.password");
    cr_assert_eq(json_integer_value(json_object_get(e, "versions")), 2);
    cr_assert_eq(json_integer_value(json_object_get(e, "current")), 2);
    cr_assert(json_is_string(json_object_get(e, "rotated_at")));
    cr_assert(json_is_string(json_object_get(e, "last_read_at")));
    cr_assert_null(json_object_get(e, "value"));
    json_decref(list);

    cr_assert_eq(count_events("vault.put"), 1);
    cr_assert_eq(count_events("vault.rotate"), 1);
    cr_assert_eq(count_events("vault.read"), 2);
    e = json_object_get(json_array_get(events, 2), "payload");
    cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "db.password");
    cr_assert_eq(json_integer_value(json_object_get(e, "version")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(e, "reader")), "svc");
    assert_no_value_in_events(SECRET);
}

Test(vault, read_fails_closed_when_the_event_fails)
{
    struct secbuf out = {(uint8_t *)1, 1};
    json_t *log;

    open_key_file();
    cr_assert_eq(vault_secret_put(v, "api", (const uint8_t *)SECRET, strlen(SECRET), "op", NULL),
                 0);
    fail_emit = 1;
    cr_assert_eq(vault_secret_read(v, "api", 0, "svc", &out, NULL), -EIO);
    cr_assert_null(out.p, "no value without its event");
    cr_assert_eq(out.len, 0);
    log = vault_access_log(v, NULL, 10);
    cr_assert_eq(json_array_size(log), 0, "the access row is rolled back");
    json_decref(log);
    log = vault_secret_list(v);
    cr_assert(json_is_null(json_object_get(json_array_get(log, 0), "last_read_at")));
    json_decref(log);
    /* a put that cannot be recorded is not stored */
    cr_assert_eq(vault_secret_put(v, "api", (const uint8_t *)"new", 3, "op", NULL), -EIO);
    cr_assert_eq(vault_secret_put(v, "other", (const uint8_t *)"new", 3, "op", NULL), -EIO);
    fail_emit = 0;
    log = vault_secret_list(v);
    cr_assert_eq(json_array_size(log), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(log, 0), "current")), 1);
    json_decref(log);
    cr_assert_eq(vault_secret_delete(v, "api", "op"), 0);
    cr_assert_eq(count_events("vault.delete"), 1);
}

static int exec_sql(sqlite3 *db, void *ctx)
{
    return sqlite3_exec(db, ctx, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

Test(vault, moved_or_tampered_secret_refused)
{
    struct secbuf out;

    open_key_file();
    cr_assert_eq(vault_secret_put(v, "a", (const uint8_t *)"AAAA", 4, "op", NULL), 0);
    cr_assert_eq(vault_secret_put(v, "b", (const uint8_t *)"BBBB", 4, "op", NULL), 0);
    cr_assert_eq(vault_secret_put(v, "b", (const uint8_t *)"CCCC", 4, "op", NULL), 0);
    /* b's blobs swapped between versions, a's replaced by b's */
    static const char *const moves[] = {
        "UPDATE vault_secrets SET version = 9 WHERE name = 'b' AND version = 1;"
        "UPDATE vault_secrets SET version = 1 WHERE name = 'b' AND version = 2;"
        "UPDATE vault_secrets SET version = 2 WHERE name = 'b' AND version = 9;",
        "UPDATE vault_secrets SET sealed = (SELECT sealed FROM vault_secrets WHERE name = 'b' "
        "AND version = 1) WHERE name = 'a'",
    };
    for (size_t i = 0; i < 2; i++)
        cr_assert_eq(kstore_tx(store, exec_sql, (void *)moves[i]), 0);
    cr_assert_eq(vault_secret_read(v, "b", 1, "svc", &out, NULL), -EBADMSG);
    cr_assert_null(out.p);
    cr_assert_eq(vault_secret_read(v, "b", 2, "svc", &out, NULL), -EBADMSG);
    cr_assert_eq(vault_secret_read(v, "a", 0, "svc", &out, NULL), -EBADMSG);
    cr_assert_eq(count_events("vault.read"), 0);
}

Test(vault, names_and_sizes)
{
    static const char *const bad[] = {"",   "a/b", "..", "a..b",         ".hidden",
                                      "-x", "a b", "ä",  "../etc/passwd"};
    char longname[VAULT_SECRET_NAME_MAX + 2];
    uint8_t *big = calloc(1, VAULT_SECRET_MAX + 1);

    open_key_file();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(vault_secret_put(v, bad[i], (const uint8_t *)"x", 1, "op", NULL), -EINVAL,
                     "%s", bad[i]);
    cr_assert_eq(vault_secret_put(v, NULL, (const uint8_t *)"x", 1, "op", NULL), -EINVAL);
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(vault_secret_put(v, longname, (const uint8_t *)"x", 1, "op", NULL), -EINVAL);
    longname[VAULT_SECRET_NAME_MAX] = '\0';
    cr_assert_eq(vault_secret_put(v, longname, (const uint8_t *)"x", 1, "op", NULL), 0);
    cr_assert_eq(vault_secret_put(v, "big", big, VAULT_SECRET_MAX + 1, "op", NULL), -E2BIG);
    cr_assert_eq(vault_secret_put(v, "big", big, VAULT_SECRET_MAX, "op", NULL), 0);
    cr_assert_eq(count_events("vault.put"), 2);
    free(big);
}

static int fill_names(sqlite3 *db, void *ctx)
{
    (void)ctx;
    return sqlite3_exec(db,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                        "4095) INSERT INTO vault_names(name, current, created_at) SELECT 'f' || i, "
                        "1, 'x' FROM n",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -EIO;
}

Test(vault, at_most_secrets_max_names)
{
    open_key_file();
    cr_assert_eq(kstore_tx(store, fill_names, NULL), 0);
    cr_assert_eq(vault_secret_put(v, "last", (const uint8_t *)"x", 1, "op", NULL), 0);
    cr_assert_eq(vault_secret_put(v, "one-more", (const uint8_t *)"x", 1, "op", NULL), -ENOSPC);
    /* a new version of an existing name is still fine */
    cr_assert_eq(vault_secret_put(v, "last", (const uint8_t *)"y", 1, "op", NULL), 0);
}

Test(vault, delete_and_access_log)
{
    struct secbuf out;
    json_t *log, *e;

    open_key_file();
    cr_assert_eq(vault_secret_put(v, "a", (const uint8_t *)"A", 1, "op", NULL), 0);
    cr_assert_eq(vault_secret_put(v, "b", (const uint8_t *)"B", 1, "op", NULL), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(vault_secret_read(v, i == 1 ? "b" : "a", 0, i ? "web" : "cron", &out, NULL),
                     0);
        secbuf_free(&out);
    }
    log = vault_access_log(v, NULL, 10);
    cr_assert_eq(json_array_size(log), 3);
    e = json_array_get(log, 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "a", "newest first");
    cr_assert_str_eq(json_string_value(json_object_get(e, "reader")), "web");
    cr_assert_str_eq(json_string_value(json_object_get(e, "how")), "read");
    cr_assert_eq(json_integer_value(json_object_get(e, "version")), 1);
    cr_assert(json_is_string(json_object_get(e, "ts")));
    json_decref(log);
    log = vault_access_log(v, "a", 1);
    cr_assert_eq(json_array_size(log), 1);
    json_decref(log);
    log = vault_access_log(v, "b", 10);
    cr_assert_eq(json_array_size(log), 1);
    json_decref(log);

    cr_assert_eq(vault_secret_delete(v, "a", "op"), 0);
    cr_assert_eq(vault_secret_delete(v, "a", "op"), -ENOENT);
    cr_assert_eq(vault_secret_read(v, "a", 0, "web", &out, NULL), -ENOENT);
    e = json_object_get(json_array_get(events, json_array_size(events) - 1), "payload");
    cr_assert_eq(json_integer_value(json_object_get(e, "versions")), 1);
    log = vault_secret_list(v);
    cr_assert_eq(json_array_size(log), 1);
    json_decref(log);
    log = vault_access_log(v, "a", 10);
    cr_assert_eq(json_array_size(log), 2, "the history of a deleted secret stays");
    json_decref(log);
}

static void *put_many(void *arg)
{
    for (int i = 0; i < 10; i++)
        if (vault_secret_put(v, "shared", (const uint8_t *)"x", 1, "op", NULL) != 0)
            return arg;
    return NULL;
}

Test(vault, concurrent_rotations_get_distinct_versions)
{
    pthread_t t[8];
    void *failed;
    json_t *list;

    open_key_file();
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, put_many, (void *)"failed"), 0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(pthread_join(t[i], &failed), 0);
        cr_assert_null(failed, "a put failed");
    }
    list = vault_secret_list(v);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "versions")), 80);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "current")), 80);
    json_decref(list);
    cr_assert_eq(count_events("vault.put") + count_events("vault.rotate"), 80);
}

/* delivery */

static void read_back(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    n = read(fd, buf, size - 1);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
}

Test(vault, deliver_file)
{
    char path[PATH_MAX + 32], buf[128];
    struct vault_delivery d = {.path = path, .uid = NOBODY, .gid = NOBODY, .mode = 0640};
    json_t *ret = NULL, *log;
    struct stat st;

    if (geteuid() != 0)
        cr_skip_test("chown to another user needs root");
    open_key_file();
    cr_assert_eq(vault_secret_put(v, "app", (const uint8_t *)SECRET, strlen(SECRET), "op", NULL),
                 0);
    snprintf(path, sizeof(path), "%s/app", deliver);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/app/env", deliver);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "operator", &ret), 0);
    cr_assert_str_eq(json_string_value(json_object_get(ret, "to")), path);
    cr_assert_str_eq(json_string_value(json_object_get(ret, "mode")), "0640");
    json_decref(ret);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0640);
    cr_assert_eq(st.st_uid, NOBODY);
    cr_assert_eq(st.st_gid, NOBODY);
    read_back(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, SECRET);
    /* replaced atomically by the next delivery, no temporary left */
    d.mode = 0600;
    cr_assert_eq(vault_secret_deliver(v, "app", 1, &d, "operator", NULL), 0);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s/app | wc -l) = 1", deliver);
    cr_assert_eq(system(cmd), 0, "only the delivered file in the directory");

    cr_assert_eq(count_events("vault.deliver"), 2);
    json_t *p = json_object_get(json_array_get(events, 1), "payload");
    cr_assert_str_eq(json_string_value(json_object_get(p, "to")), path);
    cr_assert_str_eq(json_string_value(json_object_get(p, "how")), "file");
    cr_assert_str_eq(json_string_value(json_object_get(p, "actor")), "operator");
    cr_assert_eq(json_integer_value(json_object_get(p, "version")), 1);
    assert_no_value_in_events(SECRET);
    log = vault_access_log(v, "app", 10);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "how")), "file");
    json_decref(log);
}

Test(vault, deliver_refusals_change_nothing)
{
    char path[PATH_MAX + 64], out[PATH_MAX + 16], link[PATH_MAX + 32];
    struct vault_delivery d = {.path = path, .uid = (uid_t)-1, .gid = (gid_t)-1, .mode = 0600};
    struct stat st;

    open_key_file();
    cr_assert_eq(vault_secret_put(v, "app", (const uint8_t *)SECRET, strlen(SECRET), "op", NULL),
                 0);
    snprintf(out, sizeof(out), "%s/outside", dir);
    cr_assert_eq(mkdir(out, 0755), 0);
    /* a symlinked directory inside the delivery directory pointing out */
    snprintf(link, sizeof(link), "%s/out", deliver);
    cr_assert_eq(symlink(out, link), 0);
    snprintf(path, sizeof(path), "%s/out/env", deliver);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EPERM);
    snprintf(path, sizeof(path), "%s/../outside/env", deliver);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EINVAL);
    snprintf(path, sizeof(path), "%s/env", out);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EPERM);
    snprintf(path, sizeof(path), "%s-sibling/env", deliver);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EPERM);
    snprintf(path, sizeof(path), "deliver/env");
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EINVAL);
    snprintf(path, sizeof(path), "%s/env", out);
    /* the target itself a symlink out, or a directory */
    snprintf(link, sizeof(link), "%s/env", deliver);
    cr_assert_eq(symlink(path, link), 0);
    snprintf(path, sizeof(path), "%s/env", deliver);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EPERM);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link is left as it was");
    snprintf(path, sizeof(path), "%s/dir", deliver);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EINVAL);
    /* too open a mode, a missing secret */
    snprintf(path, sizeof(path), "%s/ok", deliver);
    d.mode = 0644;
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EINVAL);
    d.mode = 0600;
    cr_assert_eq(vault_secret_deliver(v, "nope", 0, &d, "op", NULL), -ENOENT);
    /* the event fails: no file */
    fail_emit = 1;
    cr_assert_eq(vault_secret_deliver(v, "app", 0, &d, "op", NULL), -EIO);
    fail_emit = 0;
    cr_assert_eq(lstat(path, &st), -1);
    snprintf(path, sizeof(path), "%s/env", out);
    cr_assert_eq(lstat(path, &st), -1, "nothing written outside");
    cr_assert_eq(count_events("vault.deliver"), 0);
    cr_assert_eq(count_events("vault.read"), 0);
}

Test(vault, deliver_credential)
{
    char path[PATH_MAX + 32], buf[128];
    struct vault_delivery d = {.path = NULL};
    json_t *ret = NULL;
    struct stat st;

    open_key_file();
    cr_assert_eq(
        vault_secret_put(v, "db.pass", (const uint8_t *)SECRET, strlen(SECRET), "op", NULL), 0);
    cr_assert_eq(vault_secret_deliver(v, "db.pass", 0, &d, "operator", &ret), 0);
    snprintf(path, sizeof(path), "%s/db.pass", credstore);
    cr_assert_str_eq(json_string_value(json_object_get(ret, "how")), "credential");
    cr_assert_str_eq(json_string_value(json_object_get(ret, "to")), path);
    cr_assert_str_eq(json_string_value(json_object_get(ret, "mode")), "0400");
    cr_assert_eq(json_integer_value(json_object_get(ret, "uid")), geteuid());
    json_decref(ret);
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0400);
    cr_assert_eq(st.st_uid, geteuid());
    read_back(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, SECRET);
    assert_no_value_in_events(SECRET);
    /* again (a rotation delivered): replaced, still 0400 */
    cr_assert_eq(vault_secret_put(v, "db.pass", (const uint8_t *)"v2", 2, "op", NULL), 0);
    cr_assert_eq(vault_secret_deliver(v, "db.pass", 0, &d, "operator", NULL), 0);
    read_back(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "v2");
}

Test(vault, status_json)
{
    json_t *st;

    open_key_file();
    st = vault_status_json(v);
    cr_assert(json_is_true(json_object_get(st, "unlocked")));
    cr_assert_str_eq(json_string_value(json_object_get(st, "source")), "key_file");
    cr_assert_str_eq(json_string_value(json_object_get(st, "source_text")), vault_source_text(v));
    cr_assert_null(json_object_get(st, "kdf"));
    cr_assert_eq(json_integer_value(json_object_get(st, "secrets")), 0);
    json_decref(st);
}
