/* Helpers shared by the ledger's unit tests: temp dirs, handles, appends, problem counting. */
#pragma once

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "ledger/ledger.h"

struct tl {
    char dir[64];
    char *db, *log, *pub;
    struct osm_ledger *l;
    struct osm_ledger_signer *signer;
};

struct tl_problems {
    int count[8];
    int64_t first_id[8];
    int total;
};

static inline void tl_open(struct tl *t)
{
    cr_assert_eq(osm_ledger_open(t->db, OSM_LEDGER_RDWR | OSM_LEDGER_NO_FSYNC, &t->l), 0);
}

static inline void tl_setup(struct tl *t)
{
    memset(t, 0, sizeof(*t));
    strcpy(t->dir, "/tmp/osm-ledger-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    t->db = osm_path_join(t->dir, OSM_LEDGER_DB_NAME);
    t->log = osm_path_join(t->dir, OSM_LEDGER_CHECKPOINT_LOG);
    t->pub = osm_path_join(t->dir, OSM_LEDGER_PUB_NAME);
    tl_open(t);
    cr_assert_eq(osm_ledger_signer_load(t->dir, &t->signer), 0);
}

static inline int tl_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline void tl_teardown(struct tl *t)
{
    osm_ledger_close(t->l);
    osm_ledger_signer_free(t->signer);
    nftw(t->dir, tl_rm, 8, FTW_DEPTH | FTW_PHYS);
    free(t->db);
    free(t->log);
    free(t->pub);
}

static inline void tl_reopen(struct tl *t)
{
    osm_ledger_close(t->l);
    tl_open(t);
}

/* Appends n events, one per transaction, with payloads {"n":<first..>}. */
static inline void tl_append(struct tl *t, int n)
{
    static int counter;

    for (int i = 0; i < n; i++) {
        char payload[64];
        struct osm_ledger_entry e = {.type = "test.event", .actor = "tester", .payload = payload};
        e.payload_len = (size_t)snprintf(payload, sizeof(payload), "{\"n\":%d}", counter++);
        cr_assert_eq(osm_ledger_append(t->l, &e, 1), 0);
        cr_assert_eq(e.result, 0);
    }
}

static inline void tl_checkpoint(struct tl *t)
{
    cr_assert_eq(osm_ledger_checkpoint(t->l, t->signer, t->log, NULL), 0);
}

static inline void tl_on_problem(void *ud, enum osm_ledger_problem p, int64_t id, const char *a,
                                 const char *b)
{
    struct tl_problems *pr = ud;

    if (pr->count[p]++ == 0)
        pr->first_id[p] = id;
    pr->total++;
}

/* Verifies with the log and the public key; returns the report, problems counted in *pr. */
static inline struct osm_ledger_verify_report tl_verify(struct tl *t, struct tl_problems *pr)
{
    struct osm_ledger_verify_report rep;
    struct osm_ledger_verify_opts o = {
        .pub_path = t->pub, .checkpoint_log = t->log, .problem = tl_on_problem, .userdata = pr};

    memset(pr, 0, sizeof(*pr));
    cr_assert_eq(osm_ledger_verify(t->l, &o, &rep), 0);
    cr_assert_eq(rep.errors, pr->total);
    return rep;
}

/* Runs one SQL statement on a raw connection (the attacker's view). */
static inline void tl_sql(struct tl *t, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    cr_assert_eq(sqlite3_open(t->db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
    sqlite3_close(db);
}
