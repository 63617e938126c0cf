/* agentctl: finding a signed checkpoint in ledger.db or in ledger.checkpoints and checking its
 * signature against ledger.pub (through lib/ledger's note and checkpoint parsers). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "ctl.h"
#include "ledger/checkpoint.h"

#define PUB_MAX 4096

void ctl_checkpoint_clear(struct ctl_checkpoint *cp)
{
    free(cp->note);
    *cp = (struct ctl_checkpoint){0};
}

struct log_search {
    int64_t size; /* 0: the last note */
    const char *found;
    size_t found_len;
};

static int log_piece(void *ud, const char *note, size_t len, size_t offset)
{
    struct log_search *s = ud;
    struct osm_checkpoint cp;

    if (osm_checkpoint_parse(note, len, &cp) == 0 && (s->size == 0 || cp.size == s->size)) {
        s->found = note;
        s->found_len = len;
    }
    return 0;
}

/* The note of tree size (0 = the last one) in the checkpoint log, as a new string. */
static int log_find(const struct ctl *c, int64_t size, char **ret)
{
    _cleanup_free_ char *path = ctl_state_path(c, OSM_LEDGER_CHECKPOINT_LOG), *data = NULL;
    struct log_search s = {.size = size};
    size_t n;
    int r;

    if (!path)
        return -ENOMEM;
    if ((r = osm_read_file(path, OSM_CHECKPOINT_LOG_MAX, &data, &n)) < 0)
        return r;
    osm_checkpoint_log_split(data, n, log_piece, &s);
    if (!s.found)
        return -ENOENT;
    *ret = strndup(s.found, s.found_len);
    return *ret ? 0 : -ENOMEM;
}

/* The note of tree size (0 = newest) from the database, else from the log. */
static int note_find(const struct ctl *c, struct osm_ledger *l, int64_t size,
                     struct ctl_checkpoint *cp)
{
    int64_t db_size = 0;
    char *note = NULL;
    int r = osm_ledger_latest_checkpoint(l, &db_size, &note);

    if (r == 0 && (size == 0 || size == db_size)) {
        cp->note = note;
        cp->source = "database";
        return 0;
    }
    free(note);
    if (r < 0 && r != -ENOENT)
        return r;
    cp->source = "log";
    return log_find(c, size, &cp->note);
}

static const char *verify_error(int r)
{
    switch (r) {
    case 0:
        return NULL;
    case -ENOKEY:
        return "no signature by the key in " OSM_LEDGER_PUB_NAME;
    case -EKEYREJECTED:
        return "the signature does not verify";
    default:
        return "malformed signed note";
    }
}

/* Checks cp's signature against ledger.pub; sets cp->key_name and cp->sig_error. */
static void signature_check(const struct ctl *c, struct ctl_checkpoint *cp)
{
    _cleanup_free_ char *path = ctl_state_path(c, OSM_LEDGER_PUB_NAME), *pub = NULL;
    size_t n = 0;

    if (!path || osm_read_file(path, PUB_MAX, &pub, &n) < 0) {
        cp->sig_error = "cannot read " OSM_LEDGER_PUB_NAME;
        return;
    }
    if (osm_note_verifier_parse(pub, n, &cp->key) < 0) {
        cp->sig_error = OSM_LEDGER_PUB_NAME " is not a verifier key";
        return;
    }
    cp->sig_error = verify_error(osm_note_verify(cp->note, strlen(cp->note), &cp->key));
}

int ctl_checkpoint_find(const struct ctl *c, struct osm_ledger *l, int64_t size,
                        struct ctl_checkpoint *ret)
{
    int r = note_find(c, l, size, ret);

    if (r == -ENOENT && size)
        return ctl_fail("no signed checkpoint of tree size %" PRId64, size);
    if (r == -ENOENT)
        return ctl_fail("no signed checkpoint yet (agentd signs one every %d events or %d s)",
                        OSM_CHECKPOINT_EVERY_EVENTS, OSM_CHECKPOINT_EVERY_SECONDS);
    if (r < 0)
        return ctl_fail("cannot read checkpoints: %s", strerror(-r));
    if (osm_checkpoint_parse(ret->note, strlen(ret->note), &ret->body) < 0)
        return ctl_fail("the newest checkpoint in the %s is malformed", ret->source);
    signature_check(c, ret);
    return CTL_OK;
}
