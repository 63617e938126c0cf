/* What mcp-session.c and mcp-protocol.c share and nobody else needs. */
#pragma once

#include "mcp.h"

struct pending;

struct mcp_session {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* pending answers, close */
    int refs;
    const struct mcp_server *srv;
    bool initialized; /* initialize answered */
    bool closed;
    char protocol[16];   /* negotiated revision */
    json_t *client_caps; /* set once at initialize */
    int log_level;       /* enum mcp_log_level: notifications below it are dropped */
    json_int_t next_id;  /* of server-to-client requests */
    struct pending *pending;
    size_t n_pending;
    json_t *subscriptions; /* uri → true */
};

/* Hands a client's answer (a JSON-RPC response) to the request waiting for it. */
void mcp_session_deliver(struct mcp_session *s, const json_t *msg);
/* enum mcp_log_level for "debug".."emergency", or -EINVAL. */
int mcp_log_level_parse(const char *name);
