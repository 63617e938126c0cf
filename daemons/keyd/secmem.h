/* Memory for keys: libsodium's guarded allocations (mlocked, MADV_DONTDUMP, guard pages,
 * zeroed on free), and the process settings that keep keys out of core dumps and ptrace. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct secbuf {
    uint8_t *p; /* sodium_malloc'd */
    size_t len;
};

/* 0 or -ENOMEM (also when the memory cannot be locked: a key must never reach swap). */
int secbuf_alloc(struct secbuf *b, size_t len);
/* Zeroes and frees; NULL-safe, idempotent. */
void secbuf_free(struct secbuf *b);
/* PR_SET_DUMPABLE 0 and RLIMIT_CORE 0: no core dump, no ptrace by the same uid. Call first in
 * main. 0 or -errno. */
int secmem_harden_process(void);
