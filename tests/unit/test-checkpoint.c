/* Signed notes and checkpoints: the Go sumdb/note known answer, key strings, checkpoint bodies,
 * the checkpoint log splitter on good and hostile input, and the ledger's signing key files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "crypto/sha256.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"

/* golang.org/x/mod/sumdb/note's documented example. */
// clang-format off
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_NOTE                                                                                    \
    GO_TEXT                                                                                        \
        "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"   \
        "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
// clang-format on
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"

struct key {
    char name[OSM_NOTE_NAME_MAX + 1];
    uint8_t seed[32], pk[32], sk[64], kh[4];
};

static void key_from_signer(const char *skey, struct key *k)
{
    cr_assert_eq(osm_note_signer_parse(skey, strlen(skey), k->name, k->seed), 0);
    cr_assert_eq(osm_ed25519_keypair(k->seed, k->pk, k->sk), 0);
    cr_assert_eq(osm_note_key_hash(k->name, k->pk, k->kh), 0);
}

static void key_new(const char *name, struct key *k)
{
    char *skey = NULL;

    cr_assert_eq(osm_ed25519_seed_random(k->seed), 0);
    cr_assert_eq(osm_note_signer_format(name, k->seed, &skey), 0);
    key_from_signer(skey, k);
    free(skey);
}

static void verifier_of(const struct key *k, struct osm_note_key *v)
{
    char *s = NULL;

    cr_assert_eq(osm_note_verifier_format(k->name, k->pk, &s), 0);
    cr_assert_eq(osm_note_verifier_parse(s, strlen(s), v), 0);
    free(s);
}

Test(note, go_known_answer)
{
    struct key k;
    struct osm_note_key v;
    char *vkey = NULL, *note = NULL, *skey = NULL;

    key_from_signer(GO_SKEY, &k);
    cr_assert_str_eq(k.name, "PeterNeumann");
    cr_assert_eq(osm_note_verifier_format(k.name, k.pk, &vkey), 0);
    cr_assert_str_eq(vkey, GO_VKEY "\n");
    cr_assert_eq(osm_note_signer_format(k.name, k.seed, &skey), 0);
    cr_assert_str_eq(skey, GO_SKEY "\n");
    cr_assert_eq(osm_note_sign(GO_TEXT, strlen(GO_TEXT), k.name, k.kh, k.sk, &note), 0);
    cr_assert_str_eq(note, GO_NOTE);
    cr_assert_eq(osm_note_verifier_parse(GO_VKEY, strlen(GO_VKEY), &v), 0);
    cr_assert_eq(osm_note_verify(GO_NOTE, strlen(GO_NOTE), &v), 0);
    free(vkey);
    free(note);
    free(skey);
}

Test(note, wrong_key_and_tampering_detected)
{
    struct osm_note_key peter, enoch;
    char note[] = GO_NOTE;

    cr_assert_eq(osm_note_verifier_parse(GO_VKEY, strlen(GO_VKEY), &peter), 0);
    cr_assert_eq(osm_note_verifier_parse(ENOCH_VKEY, strlen(ENOCH_VKEY), &enoch), 0);
    cr_assert_eq(osm_note_verify(note, strlen(note), &enoch), -ENOKEY);
    note[3] = 'Y';
    cr_assert_eq(osm_note_verify(note, strlen(note), &peter), -EKEYREJECTED);
    /* Same name, another key: the key hash differs, so it is not this key's signature. */
    memcpy(enoch.name, "PeterNeumann", sizeof("PeterNeumann"));
    cr_assert_eq(osm_note_verify(GO_NOTE, strlen(GO_NOTE), &enoch), -ENOKEY);
}

Test(note, key_strings_reject_mangling)
{
    static const char plus_key[] = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";
    struct osm_note_key v;
    char buf[sizeof(GO_VKEY)];
    char seed_name[OSM_NOTE_NAME_MAX + 1];
    uint8_t seed[32];

    cr_assert_eq(osm_note_verifier_parse(plus_key, strlen(plus_key), &v), 0);
    cr_assert_str_eq(v.name, "TEST");
    for (size_t len = 0; len < strlen(GO_VKEY); len++)
        cr_assert_neq(osm_note_verifier_parse(GO_VKEY, len, &v), 0, "prefix %zu", len);
    memcpy(buf, GO_VKEY, sizeof(buf));
    buf[14] = buf[14] == '0' ? '1' : '0'; /* key hash */
    cr_assert_eq(osm_note_verifier_parse(buf, strlen(buf), &v), -EBADMSG);
    cr_assert_eq(osm_note_verifier_parse("bad name+c74f20a3+ARpc", 22, &v), -EBADMSG);
    cr_assert_eq(osm_note_signer_parse(GO_VKEY, strlen(GO_VKEY), seed_name, seed), -EBADMSG);
    cr_assert_eq(osm_note_signer_parse(GO_SKEY, strlen(GO_SKEY) - 1, seed_name, seed), -EBADMSG);
}

Test(note, key_hash_is_sha256_of_name_newline_alg_key)
{
    struct key k;
    uint8_t buf[64], d[32];
    size_t n = strlen("PeterNeumann");

    key_from_signer(GO_SKEY, &k);
    memcpy(buf, "PeterNeumann\n\x01", n + 2);
    memcpy(buf + n + 2, k.pk, 32);
    osm_sha256(buf, n + 34, d);
    cr_assert_arr_eq(d, k.kh, 4);
    cr_assert_eq(k.kh[0], 0xc7);
}

Test(checkpoint, format_sign_parse_verify)
{
    struct key k;
    struct osm_note_key v;
    struct osm_checkpoint cp;
    uint8_t root[32];
    char *body = NULL, *note = NULL;

    memset(root, 0xab, sizeof(root));
    key_new("host/osmoda-ledger", &k);
    verifier_of(&k, &v);
    cr_assert_eq(osm_checkpoint_format(k.name, 1234, root, &body), 0);
    cr_assert_str_eq(body,
                     "host/osmoda-ledger\n1234\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    cr_assert_eq(osm_note_sign(body, strlen(body), k.name, k.kh, k.sk, &note), 0);
    cr_assert_eq(strncmp(note + strlen(body), "\n\xe2\x80\x94 host/osmoda-ledger ", 22), 0);
    cr_assert_eq(osm_checkpoint_parse(note, strlen(note), &cp), 0);
    cr_assert_str_eq(cp.origin, "host/osmoda-ledger");
    cr_assert_eq(cp.size, 1234);
    cr_assert_arr_eq(cp.root, root, 32);
    cr_assert_eq(osm_note_verify(note, strlen(note), &v), 0);
    free(body);
    free(note);
}

static void expect_bad_body(const char *body)
{
    struct key k;
    struct osm_checkpoint cp;
    char *note = NULL;

    key_from_signer(GO_SKEY, &k);
    cr_assert_eq(osm_note_sign(body, strlen(body), k.name, k.kh, k.sk, &note), 0);
    cr_assert_eq(osm_checkpoint_parse(note, strlen(note), &cp), -EBADMSG, "%s", body);
    free(note);
}

Test(checkpoint, malformed_bodies_rejected)
{
    struct osm_checkpoint cp;
    const char *unsigned_body = "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n";

    expect_bad_body("o\n01\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    expect_bad_body("o\n-1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    expect_bad_body("o\n99999999999999999999\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    expect_bad_body("o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqw==\n");
    expect_bad_body("o\n1\n");
    expect_bad_body("o\n1 \nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    cr_assert_eq(osm_checkpoint_parse(unsigned_body, strlen(unsigned_body), &cp), -EBADMSG);
}

struct pieces {
    int good, bad;
    size_t offsets[16];
};

static int count_piece(void *ud, const char *note, size_t len, size_t offset)
{
    struct pieces *p = ud;
    struct osm_checkpoint cp;

    if (p->good + p->bad < 16)
        p->offsets[p->good + p->bad] = offset;
    if (osm_checkpoint_parse(note, len, &cp) == 0)
        p->good++;
    else
        p->bad++;
    return 0;
}

static char *signed_checkpoint(const struct key *k, int64_t size)
{
    uint8_t root[32] = {(uint8_t)size};
    char *body = NULL, *note = NULL;

    cr_assert_eq(osm_checkpoint_format(k->name, size, root, &body), 0);
    cr_assert_eq(osm_note_sign(body, strlen(body), k->name, k->kh, k->sk, &note), 0);
    free(body);
    return note;
}

Test(checkpoint, log_split_back_to_back_notes_and_garbage)
{
    struct key k;
    struct pieces p = {0};
    char *a, *b, *c, *log = NULL;

    key_new("h/osmoda-ledger", &k);
    a = signed_checkpoint(&k, 1);
    b = signed_checkpoint(&k, 2);
    c = signed_checkpoint(&k, 3);
    cr_assert(asprintf(&log, "%s%s%s", a, b, c) > 0);
    cr_assert_eq(osm_checkpoint_log_split(log, strlen(log), count_piece, &p), 0);
    cr_assert_eq(p.good, 3);
    cr_assert_eq(p.bad, 0);
    cr_assert_eq(p.offsets[1], strlen(a));
    cr_assert_eq(p.offsets[2], strlen(a) + strlen(b));
    free(log);
    memset(&p, 0, sizeof(p));
    cr_assert(asprintf(&log, "%sjunk\n\n\xe2\x80\x94 x\n%s\xff\xfe%.20s", a, b, c) > 0);
    cr_assert_eq(osm_checkpoint_log_split(log, strlen(log), count_piece, &p), 0);
    cr_assert_eq(p.good, 2);
    cr_assert_eq(p.bad, 2);
    free(log);
    free(a);
    free(b);
    free(c);
}

static int parse_piece(void *ud, const char *note, size_t len, size_t offset)
{
    struct osm_checkpoint cp;
    struct osm_note_key *v = ud;
    int r = osm_checkpoint_parse(note, len, &cp);

    cr_assert(r == 0 || r == -EBADMSG);
    r = osm_note_verify(note, len, v);
    cr_assert(r == 0 || r == -EBADMSG || r == -ENOKEY || r == -EKEYREJECTED);
    return 0;
}

/* Random mutations of a valid log must never crash the splitter or the parsers. */
Test(checkpoint, hostile_logs_never_crash)
{
    struct key k;
    struct osm_note_key v;
    char *a = NULL, *b = NULL, *log = NULL;
    size_t len;

    key_new("h/osmoda-ledger", &k);
    verifier_of(&k, &v);
    a = signed_checkpoint(&k, 7);
    b = signed_checkpoint(&k, 8);
    cr_assert(asprintf(&log, "%s%s", a, b) > 0);
    len = strlen(log);
    srand(42);
    for (int iter = 0; iter < 20000; iter++) {
        char *m = malloc(len);
        memcpy(m, log, len);
        for (int j = 0; j < 1 + iter % 8; j++)
            m[(size_t)rand() % len] =
                (char)(iter % 3 == 0 ? "\n \xe2\x80\x94+=A"[rand() % 8] : rand());
        osm_checkpoint_log_split(m, (size_t)rand() % (len + 1), parse_piece, &v);
        free(m);
    }
    free(log);
    free(a);
    free(b);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

Test(signer, creates_key_files_and_refuses_readable_key)
{
    char dir[] = "/tmp/osm-signer-XXXXXX";
    struct osm_ledger_signer *s = NULL, *s2 = NULL;
    struct osm_note_key v;
    struct stat st;
    char *key = NULL, *pub = NULL, *text = NULL;
    size_t len;

    cr_assert_not_null(mkdtemp(dir));
    key = osm_path_join(dir, OSM_LEDGER_KEY_NAME);
    pub = osm_path_join(dir, OSM_LEDGER_PUB_NAME);
    cr_assert_eq(osm_ledger_signer_load(dir, &s), 0);
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(pub, &st), 0);
    cr_assert_eq(st.st_mode & 0044, 0044);
    cr_assert_eq(osm_read_file(pub, 4096, &text, &len), 0);
    cr_assert_eq(osm_note_verifier_parse(text, len, &v), 0);
    cr_assert(strlen(v.name) > 14 && strcmp(v.name + strlen(v.name) - 14, "/osmoda-ledger") == 0,
              "%s", v.name);
    cr_assert_eq(osm_ledger_signer_load(dir, &s2), 0); /* same key again */
    osm_ledger_signer_free(s2);
    cr_assert_eq(chmod(key, 0640), 0);
    cr_assert_eq(osm_ledger_signer_load(dir, &s2), -EPERM);
    osm_ledger_signer_free(s);
    osm_ledger_signer_free(NULL);
    free(text);
    free(key);
    free(pub);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
