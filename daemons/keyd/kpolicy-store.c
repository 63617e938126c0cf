/* The policy's state in keyd.db: daily counters per UTC day and the nonce history that refuses
 * a second, different transaction for a nonce already signed. The check, the count and the
 * nonce record are one kstore_tx transaction, so concurrent sends cannot both take the last
 * unit of a limit and a kill -9 leaves all of it or none. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpolicy-internal.h"

#define SCOPE_MAX 32
#define HASH_LEN 32
#define SENDER_MAX 64 /* longer than any address of ours */

static const char schema[] =
    /* amount: base units as decimal text (they do not fit SQLite's 64-bit integers) */
    "CREATE TABLE IF NOT EXISTS policy_counters ("
    " day TEXT NOT NULL, scope TEXT NOT NULL,"
    " count INTEGER NOT NULL, amount TEXT NOT NULL,"
    " PRIMARY KEY (day, scope));"
    /* nonce: the uint64 stored as its two's-complement int64 (unique all the same) */
    "CREATE TABLE IF NOT EXISTS policy_nonces ("
    " chain_key TEXT NOT NULL, sender TEXT NOT NULL, nonce INTEGER NOT NULL,"
    " unsigned_hash BLOB NOT NULL, raw BLOB NOT NULL, day TEXT NOT NULL,"
    " PRIMARY KEY (chain_key, sender, nonce));";

int kpolicy_store_init(struct kstore *s)
{
    return kstore_schema(s, schema);
}

struct commit {
    const struct kpolicy *p;
    const struct kp_request *r;
    const struct kp_nonce *n;
    char day[KP_DAY_LEN + 1];
    char sender[SENDER_MAX + 1];
    uint8_t **ret_prev;
    size_t *ret_prev_len;
    char *reason;
    size_t len;
};

static void say(struct commit *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct commit *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->reason || !c->len)
        return;
    va_start(ap, fmt);
    vsnprintf(c->reason, c->len, fmt, ap);
    va_end(ap);
}

static void finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(finalizep)))

/* The day's counter of scope: 0 (zeros when there is none yet) or -EIO. */
static int counter_get(sqlite3 *db, const char *day, const char *scope, int64_t *ret_count,
                       amount_t *ret_amount)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int rc;

    *ret_count = 0;
    *ret_amount = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT count, amount FROM policy_counters"
                           " WHERE day = ? AND scope = ?",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return -EIO;
    *ret_count = sqlite3_column_int64(st, 0);
    return amount_parse_base((const char *)sqlite3_column_text(st, 1), ret_amount) < 0 ? -EIO : 0;
}

static int counter_put(sqlite3 *db, const char *day, const char *scope, int64_t count,
                       amount_t amount)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    char text[AMOUNT_TEXT_MAX + 1];

    amount_format_base(amount, text);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO policy_counters (day, scope, count, amount)"
                           " VALUES (?, ?, ?, ?) ON CONFLICT (day, scope) DO UPDATE SET"
                           " count = excluded.count, amount = excluded.amount",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, count) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        return -EIO;
    return 0;
}

/* The sender as the nonce history keys it: an Ethereum address in lower case, so that its
 * EIP-55 and lower-case texts are one signer. */
static void sender_key(const struct kp_nonce *n, char out[static SENDER_MAX + 1])
{
    bool eth = strncmp(n->chain_key, "ethereum", 8) == 0;
    size_t i;

    for (i = 0; i < SENDER_MAX && n->from[i]; i++)
        out[i] = eth && n->from[i] >= 'A' && n->from[i] <= 'F' ? (char)(n->from[i] - 'A' + 'a')
                                                               : n->from[i];
    out[i] = '\0';
}

/* 0 when n is new, 1 when it is the same transaction signed before (*ret_prev set), -EEXIST
 * when its nonce signed another one. */
static int nonce_lookup(sqlite3 *db, struct commit *c)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const struct kp_nonce *n = c->n;
    const void *hash, *raw;
    int rc, hash_len, raw_len;
    uint8_t *copy;

    if (sqlite3_prepare_v2(db,
                           "SELECT unsigned_hash, raw FROM policy_nonces"
                           " WHERE chain_key = ? AND sender = ? AND nonce = ?",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, n->chain_key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, c->sender, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)n->nonce) != SQLITE_OK)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return -EIO;
    hash = sqlite3_column_blob(st, 0);
    hash_len = sqlite3_column_bytes(st, 0);
    if (hash_len != HASH_LEN || memcmp(hash, n->unsigned_hash, HASH_LEN) != 0) {
        say(c, "nonce %llu of %s on %s was already signed for another transaction",
            (unsigned long long)n->nonce, n->from, n->chain_key);
        return -EEXIST;
    }
    raw = sqlite3_column_blob(st, 1);
    raw_len = sqlite3_column_bytes(st, 1);
    if (!(copy = malloc(raw_len > 0 ? (size_t)raw_len : 1)))
        return -ENOMEM;
    if (raw_len > 0)
        memcpy(copy, raw, (size_t)raw_len);
    *c->ret_prev = copy;
    *c->ret_prev_len = (size_t)raw_len;
    say(c, "the same transaction was signed before: returned again, not counted");
    return 1;
}

static int nonce_insert(sqlite3 *db, struct commit *c)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    const struct kp_nonce *n = c->n;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO policy_nonces"
                           " (chain_key, sender, nonce, unsigned_hash, raw, day)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, n->chain_key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, c->sender, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)n->nonce) != SQLITE_OK ||
        sqlite3_bind_blob(st, 4, n->unsigned_hash, HASH_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(st, 5, n->raw, (int)n->raw_len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 6, c->day, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        return -EIO;
    return 0;
}

/* A send: one more send and amount more today, within both daily limits. */
static int count_send(sqlite3 *db, struct commit *c, const struct kp_chain_policy *cp)
{
    char scope[SCOPE_MAX], sent[AMOUNT_TEXT_MAX + 1], lim[AMOUNT_TEXT_MAX + 1];
    amount_t amount, total;
    int64_t count;
    int r;

    snprintf(scope, sizeof(scope), "send:%s", cp->name);
    if ((r = counter_get(db, c->day, scope, &count, &amount)) < 0)
        return r;
    if (count >= cp->max_sends_per_day) {
        say(c, "%s: %lld sends today (UTC %s), max_sends_per_day is %lld", cp->name,
            (long long)count, c->day, (long long)cp->max_sends_per_day);
        return -EDQUOT;
    }
    total = amount + c->r->amount;
    if (total < amount || total > cp->max_per_day) {
        amount_format(amount, cp->decimals, sent);
        amount_format(cp->max_per_day, cp->decimals, lim);
        say(c, "%s: %s sent today (UTC %s), max_per_day %s leaves no room for this send", cp->name,
            sent, c->day, lim);
        return -EDQUOT;
    }
    return counter_put(db, c->day, scope, count + 1, total);
}

/* A message signature (all chains together) or a raw one (counted, limited by approval). */
static int count_signature(sqlite3 *db, struct commit *c, const char *scope, int64_t limit)
{
    amount_t unused;
    int64_t count;
    int r;

    if ((r = counter_get(db, c->day, scope, &count, &unused)) < 0)
        return r;
    if (count >= limit) {
        say(c, "%lld message signatures today (UTC %s), messages_per_day is %lld", (long long)count,
            c->day, (long long)limit);
        return -EDQUOT;
    }
    return counter_put(db, c->day, scope, count + 1, 0);
}

static int commit_tx(sqlite3 *db, void *ctx)
{
    struct commit *c = ctx;
    const struct kp_chain_policy *cp = kpolicy_chain(c->p, c->r->chain);
    int r;

    if (c->n && (r = nonce_lookup(db, c)) != 0)
        return r;
    switch (c->r->action) {
    case KP_SEND:
        if (!cp) {
            say(c, "unknown chain");
            return -EINVAL;
        }
        r = count_send(db, c, cp);
        break;
    case KP_SIGN_MESSAGE:
        r = count_signature(db, c, "message", c->p->messages_per_day);
        break;
    case KP_SIGN_RAW:
        r = count_signature(db, c, "raw", KP_NO_COUNT);
        break;
    default:
        r = 0; /* import and export: approved one by one, not counted */
    }
    if (r < 0)
        return r;
    return c->n ? nonce_insert(db, c) : 0;
}

static bool nonce_valid(const struct kp_nonce *n)
{
    return n->chain_key && n->from && strnlen(n->from, SENDER_MAX + 1) <= SENDER_MAX &&
           n->unsigned_hash && n->raw && n->raw_len > 0 && n->raw_len <= INT32_MAX;
}

int kpolicy_commit(const struct kpolicy *p, struct kstore *s, const struct kp_request *r,
                   const struct kp_nonce *n, time_t now, uint8_t **ret_prev, size_t *ret_prev_len,
                   char *reason, size_t len)
{
    struct commit c = {p, r, n, "", "", ret_prev, ret_prev_len, reason, len};

    if ((n && (!nonce_valid(n) || !ret_prev || !ret_prev_len)) || kpolicy_day(now, c.day) < 0)
        return -EINVAL;
    if (n)
        sender_key(n, c.sender);
    if (reason && len)
        reason[0] = '\0';
    return kstore_tx(s, commit_tx, &c);
}

/* ---- usage -------------------------------------------------------------------------------- */

struct usage {
    const struct kpolicy *p;
    const char *day;
    json_t *out;
};

static json_t *limit_amount_json(amount_t a, unsigned decimals)
{
    char text[AMOUNT_TEXT_MAX + 1];

    if (a == KP_NO_LIMIT)
        return json_null();
    amount_format(a, decimals, text);
    return json_string(text);
}

static json_t *count_limit_json(int64_t n)
{
    return n == KP_NO_COUNT ? json_null() : json_integer(n);
}

static json_t *chain_usage(sqlite3 *db, const struct kp_chain_policy *cp, const char *day)
{
    char scope[SCOPE_MAX], sent[AMOUNT_TEXT_MAX + 1];
    amount_t amount, remaining = KP_NO_LIMIT;
    int64_t count;

    snprintf(scope, sizeof(scope), "send:%s", cp->name);
    if (counter_get(db, day, scope, &count, &amount) < 0)
        return NULL;
    if (cp->max_per_day != KP_NO_LIMIT)
        remaining = amount >= cp->max_per_day ? 0 : cp->max_per_day - amount;
    amount_format(amount, cp->decimals, sent);
    return json_pack("{s:I, s:o, s:s, s:o, s:o}", "sends", (json_int_t)count, "max_sends_per_day",
                     count_limit_json(cp->max_sends_per_day), "sent", sent, "max_per_day",
                     limit_amount_json(cp->max_per_day, cp->decimals), "remaining",
                     limit_amount_json(remaining, cp->decimals));
}

static int usage_read(sqlite3 *db, void *ctx)
{
    struct usage *u = ctx;
    json_t *chains = json_object();
    amount_t unused;
    int64_t messages, raw;

    for (size_t i = 0; chains && i < KP_CHAINS; i++)
        if (json_object_set_new(chains, u->p->chains[i].name,
                                chain_usage(db, &u->p->chains[i], u->day)) < 0) {
            json_decref(chains);
            return -EIO;
        }
    if (!chains || counter_get(db, u->day, "message", &messages, &unused) < 0 ||
        counter_get(db, u->day, "raw", &raw, &unused) < 0) {
        json_decref(chains);
        return -EIO;
    }
    u->out = json_pack("{s:s, s:o, s:{s:I, s:o}, s:I}", "day", u->day, "chains", chains, "messages",
                       "count", (json_int_t)messages, "limit",
                       count_limit_json(u->p->messages_per_day), "raw", (json_int_t)raw);
    return u->out ? 0 : -ENOMEM;
}

json_t *kpolicy_usage(const struct kpolicy *p, struct kstore *s, time_t now)
{
    char day[KP_DAY_LEN + 1];
    struct usage u = {p, day, NULL};

    if (kpolicy_day(now, day) < 0 || kstore_read(s, usage_read, &u) < 0)
        return NULL;
    return u.out;
}
