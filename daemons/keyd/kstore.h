/* keyd.db: keyd's one SQLite file (WAL, synchronous=FULL) — wallets, sealed keys, vault secrets,
 * the daily counters, the nonce history, receipts and the access log. Each part creates its own
 * tables (kstore_schema) and changes them only inside kstore_tx, so a check and the change it
 * allows are one transaction: a kill -9 leaves either both or neither. */
#pragma once

#include <sqlite3.h>

struct kstore;

/* Opens (creating, 0600) path. */
int kstore_open(const char *path, struct kstore **ret);
void kstore_close(struct kstore *s); /* NULL-safe */
/* Runs sql (CREATE TABLE IF NOT EXISTS ...) once at start. */
int kstore_schema(struct kstore *s, const char *sql);
/* Runs fn inside BEGIN IMMEDIATE ... COMMIT (rolled back when fn returns < 0), one transaction at
 * a time across threads. Returns fn's result, or -EIO when SQLite failed. */
int kstore_tx(struct kstore *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx);
/* Runs fn for reading (no transaction needed beyond SQLite's own), serialised with kstore_tx. */
int kstore_read(struct kstore *s, int (*fn)(sqlite3 *db, void *ctx), void *ctx);
