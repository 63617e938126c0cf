/* Recovers the id of a JSON-RPC request from bytes that are not parsed as a whole (a message over
 * the size cap), so that the error answering it carries the id its client waits for. A bounded,
 * incremental scan of the top-level object: it follows strings (escapes included) and nesting,
 * keeps only the raw tokens of the top-level "id" value and of keys short enough to be "id" or
 * "method", and decodes them with jansson at the end. Memory is fixed; time is linear. */
#include <string.h>

#include "mcp.h"

enum {
    SCAN_START,       /* before the opening brace */
    SCAN_KEY_WAIT,    /* depth 1: a key or the closing brace */
    SCAN_KEY,         /* inside a key string */
    SCAN_COLON,       /* after a key */
    SCAN_VALUE_WAIT,  /* after the colon */
    SCAN_VALUE_STR,   /* inside a top-level string value */
    SCAN_VALUE_LIT,   /* a top-level number, true, false or null */
    SCAN_NESTED,      /* inside an object or array value (depth > 1) */
    SCAN_AFTER_VALUE, /* a comma or the closing brace */
    SCAN_DONE,        /* the object closed */
    SCAN_FAILED,      /* not the shape of a JSON object: stop looking */
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void mcp_id_scan_init(struct mcp_id_scan *s)
{
    memset(s, 0, sizeof(*s));
    s->state = SCAN_START;
}

/* Appends c to the raw token being kept; a token that does not fit is marked and dropped. */
static void keep(char *buf, size_t cap, size_t *len, bool *overflow, char c)
{
    if (*len < cap)
        buf[(*len)++] = c;
    else
        *overflow = true;
}

/* Decodes the captured key (raw bytes between the quotes) and names which member it opens. */
static void key_done(struct mcp_id_scan *s)
{
    char raw[sizeof(s->key) + 2];
    json_t *k;
    const char *name;

    s->key_is_id = s->key_is_method = false;
    if (s->key_overflow)
        return;
    raw[0] = '"';
    memcpy(raw + 1, s->key, s->key_len);
    raw[s->key_len + 1] = '"';
    k = json_loadb(raw, s->key_len + 2, JSON_DECODE_ANY, NULL);
    name = json_string_value(k);
    if (name && json_string_length(k) == strlen(name)) {
        s->key_is_id = strcmp(name, "id") == 0;
        s->key_is_method = strcmp(name, "method") == 0;
    }
    json_decref(k);
}

/* A top-level value ended: when it was the id, remember it (a second id makes the id unknown). */
static void value_done(struct mcp_id_scan *s)
{
    if (s->key_is_method)
        s->has_method = true;
    if (!s->key_is_id)
        return;
    if (s->n_ids < 2)
        s->n_ids++;
    s->id_complete = !s->value_overflow;
}

/* The first byte of a top-level value; only the id's is kept. */
static void value_start(struct mcp_id_scan *s, char c)
{
    if (!s->key_is_id)
        return;
    s->value_len = 0;
    s->value_overflow = false;
    keep(s->value, sizeof(s->value), &s->value_len, &s->value_overflow, c);
}

/* One byte in a string: tracks escapes; returns true when c closed the string. */
static bool string_byte(struct mcp_id_scan *s, char c)
{
    if (s->escape) {
        s->escape = false;
        return false;
    }
    if (c == '\\') {
        s->escape = true;
        return false;
    }
    return c == '"';
}

static void step(struct mcp_id_scan *s, char c)
{
    switch (s->state) {
    case SCAN_START:
        if (c == '{')
            s->state = SCAN_KEY_WAIT;
        else if (!is_ws(c))
            s->state = SCAN_FAILED;
        return;
    case SCAN_KEY_WAIT:
        if (c == '"') {
            s->key_len = 0;
            s->key_overflow = false;
            s->state = SCAN_KEY;
        } else if (c == '}') {
            s->state = SCAN_DONE;
        } else if (!is_ws(c)) {
            s->state = SCAN_FAILED;
        }
        return;
    case SCAN_KEY: {
        bool closed = string_byte(s, c);
        if (closed) {
            key_done(s);
            s->state = SCAN_COLON;
        } else {
            keep(s->key, sizeof(s->key), &s->key_len, &s->key_overflow, c);
        }
        return;
    }
    case SCAN_COLON:
        if (c == ':')
            s->state = SCAN_VALUE_WAIT;
        else if (!is_ws(c))
            s->state = SCAN_FAILED;
        return;
    case SCAN_VALUE_WAIT:
        if (is_ws(c))
            return;
        if (c == ',' || c == '}' || c == ']' || c == ':') {
            s->state = SCAN_FAILED;
            return;
        }
        value_start(s, c);
        if (c == '"') {
            s->state = SCAN_VALUE_STR;
        } else if (c == '{' || c == '[') {
            s->depth = 2;
            s->state = SCAN_NESTED;
        } else {
            s->state = SCAN_VALUE_LIT;
        }
        return;
    case SCAN_VALUE_STR:
        if (s->key_is_id)
            keep(s->value, sizeof(s->value), &s->value_len, &s->value_overflow, c);
        if (string_byte(s, c)) {
            value_done(s);
            s->state = SCAN_AFTER_VALUE;
        }
        return;
    case SCAN_VALUE_LIT:
        if (is_ws(c) || c == ',' || c == '}') {
            value_done(s);
            s->state = SCAN_AFTER_VALUE;
            step(s, c);
        } else if (s->key_is_id) {
            keep(s->value, sizeof(s->value), &s->value_len, &s->value_overflow, c);
        }
        return;
    case SCAN_NESTED:
        if (s->in_string) {
            s->in_string = !string_byte(s, c);
        } else if (c == '"') {
            s->in_string = true;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if ((c == '}' || c == ']') && --s->depth == 1) {
            value_done(s);
            s->state = SCAN_AFTER_VALUE;
        }
        return;
    case SCAN_AFTER_VALUE:
        if (c == ',')
            s->state = SCAN_KEY_WAIT;
        else if (c == '}')
            s->state = SCAN_DONE;
        else if (!is_ws(c))
            s->state = SCAN_FAILED;
        return;
    default: /* SCAN_DONE, SCAN_FAILED: the rest does not matter */
        return;
    }
}

void mcp_id_scan_feed(struct mcp_id_scan *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len && s->state < SCAN_DONE; i++)
        step(s, buf[i]);
}

json_t *mcp_id_scan_result(const struct mcp_id_scan *s)
{
    json_t *id;

    if (s->n_ids != 1 || !s->id_complete || !s->has_method)
        return NULL;
    id = json_loadb(s->value, s->value_len, JSON_DECODE_ANY, NULL);
    if (json_is_integer(id) || json_is_string(id))
        return id;
    json_decref(id);
    return NULL;
}

json_t *mcp_id_recover(const char *buf, size_t len)
{
    struct mcp_id_scan s;

    mcp_id_scan_init(&s);
    mcp_id_scan_feed(&s, buf, len);
    return mcp_id_scan_result(&s);
}
