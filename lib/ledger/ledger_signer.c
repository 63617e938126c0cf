/* The checkpoint signing key: <state>/ledger.key (0600, "PRIVATE+KEY+..." signer string) and
 * <state>/ledger.pub (0644, the verifier key), created on first use. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "crypto/secret.h"
#include "ledger_internal.h"

#define KEY_FILE_MAX 1024
#define KEY_NAME_SUFFIX "/osmoda-ledger"

/* "<hostname>/osmoda-ledger", with characters a key name cannot hold replaced by '-'. */
static void key_name_default(char ret[static OSM_NOTE_NAME_MAX + 1])
{
    char host[OSM_NOTE_NAME_MAX + 1 - sizeof(KEY_NAME_SUFFIX)] = "localhost";

    if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '+' || (unsigned char)*p >= 0x7f)
            *p = '-';
    strcpy(ret, host);
    strcat(ret, KEY_NAME_SUFFIX);
}

static int key_create(const char *path)
{
    uint8_t seed[OSM_ED25519_SEED_LEN];
    char name[OSM_NOTE_NAME_MAX + 1];
    char *text = NULL;
    int r = osm_ed25519_seed_random(seed);

    key_name_default(name);
    if (r >= 0)
        r = osm_note_signer_format(name, seed, &text);
    osm_secret_zero(seed, sizeof(seed));
    if (r < 0)
        return r;
    r = osm_write_file_atomic(path, text, strlen(text), 0600);
    osm_secret_free(text, strlen(text));
    return r;
}

static int signer_from_text(const char *text, size_t len, struct osm_ledger_signer *s)
{
    uint8_t seed[OSM_ED25519_SEED_LEN];
    int r = osm_note_signer_parse(text, len, s->name, seed);

    if (r >= 0)
        r = osm_ed25519_keypair(seed, s->pk, s->sk);
    osm_secret_zero(seed, sizeof(seed));
    if (r >= 0)
        r = osm_note_key_hash(s->name, s->pk, s->key_hash);
    return r;
}

/* Writes ledger.pub unless it exists. */
static int pub_ensure(const char *state_dir, const struct osm_ledger_signer *s)
{
    _cleanup_free_ char *path = osm_path_join(state_dir, OSM_LEDGER_PUB_NAME);
    _cleanup_free_ char *text = NULL;
    int r;

    if (!path)
        return -ENOMEM;
    if (access(path, F_OK) == 0)
        return 0;
    r = osm_note_verifier_format(s->name, s->pk, &text);
    return r < 0 ? r : osm_write_file_atomic(path, text, strlen(text), 0644);
}

static int signer_load(const char *path, struct osm_ledger_signer *s)
{
    char buf[KEY_FILE_MAX];
    size_t len = 0;
    int r = osm_read_secret_file(path, buf, KEY_FILE_MAX, &len);

    if (r == -ENOENT) {
        r = key_create(path);
        if (r >= 0)
            r = osm_read_secret_file(path, buf, KEY_FILE_MAX, &len);
    }
    if (r >= 0)
        r = signer_from_text(buf, len, s);
    osm_secret_zero(buf, sizeof(buf));
    return r;
}

int osm_ledger_signer_load(const char *state_dir, struct osm_ledger_signer **ret)
{
    _cleanup_free_ char *path = osm_path_join(state_dir, OSM_LEDGER_KEY_NAME);
    struct osm_ledger_signer *s;
    int r;

    if (!path)
        return -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    r = signer_load(path, s);
    if (r >= 0)
        r = pub_ensure(state_dir, s);
    if (r < 0) {
        osm_ledger_signer_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void osm_ledger_signer_free(struct osm_ledger_signer *s)
{
    osm_secret_free(s, sizeof(*s));
}
