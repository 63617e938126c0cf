/* C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint) and the append-only log file
 * of signed checkpoint notes kept outside the database. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

#define OSM_CHECKPOINT_LOG_MAX (256u << 20) /* bytes of ledger.checkpoints read by verify */

struct osm_checkpoint {
    char origin[OSM_NOTE_NAME_MAX + 1];
    int64_t size;
    uint8_t root[OSM_MERKLE_HASH_LEN];
};

/* "<origin>\n<size>\n<base64 root>\n" (new string). */
int osm_checkpoint_format(const char *origin, int64_t size,
                          const uint8_t root[static OSM_MERKLE_HASH_LEN], char **ret_body);
/* Parses the checkpoint body of a signed note (signatures are not checked here). Extension
 * lines after the root are allowed and ignored. -EBADMSG when malformed. */
int osm_checkpoint_parse(const char *note, size_t len, struct osm_checkpoint *ret);
/* Splits a log of notes written back to back and calls fn(ud, note, len, offset) for each
 * piece: a note ends after the signature lines ("— ...") that follow its blank line, and the
 * next starts at the following line. Garbage becomes pieces that fail to parse; nothing is
 * skipped. Stops at fn's first negative return and returns it. */
int osm_checkpoint_log_split(const char *data, size_t len,
                             int (*fn)(void *ud, const char *note, size_t len, size_t offset),
                             void *ud);
