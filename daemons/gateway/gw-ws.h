/* WebSocket connections (RFC 6455, framing by wslay) on one epoll thread for all of them, so
 * 500 idle chat sockets cost a few MB, not 500 threads. The HTTP layer answers the upgrade
 * (101, Sec-WebSocket-Accept) and hands the socket over with gw_ws_adopt.
 *
 * The limits of osModa's chat relay, enforced here: a server ping every GW_WS_PING_S, closed
 * (1000/4003 "idle") after GW_WS_IDLE_S without a message from the client (pongs do not count);
 * frames and messages at most GW_WS_FRAME_MAX (1009 "too big" otherwise); text must be UTF-8
 * (1007); backpressure: when more than GW_WS_PAUSE_BYTES wait to be sent, the client is told
 * {"type":"backpressure_pause"} and further messages are dropped (counted) until the queue is
 * below GW_WS_RESUME_BYTES ({"type":"backpressure_resume"}). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_WS_PING_S 30
#define GW_WS_IDLE_S 600
#define GW_WS_FRAME_MAX (64 * 1024)
#define GW_WS_PAUSE_BYTES (1024 * 1024)
#define GW_WS_RESUME_BYTES (256 * 1024)
#define GW_WS_CONNS_MAX 4096

struct gw_ws;
struct gw_ws_conn;

struct gw_ws_handlers {
    /* A text message from the client (complete, UTF-8 checked), on the ws thread: must not block.
     */
    void (*on_text)(struct gw_ws_conn *c, const char *text, size_t len, void *ud);
    /* The connection is gone (after on_text calls end); ud may be freed here. */
    void (*on_close)(struct gw_ws_conn *c, void *ud);
};

/* ping_s / idle_s: 0 for the defaults (tests pass small values through the gateway's flags). */
int gw_ws_new(unsigned ping_s, unsigned idle_s, struct gw_ws **ret);
int gw_ws_start(struct gw_ws *w);
void gw_ws_free(struct gw_ws *w); /* closes every connection (1001 "going away") */

/* Takes over fd after the 101 answer (extra: bytes already read past the handshake). */
int gw_ws_adopt(struct gw_ws *w, int fd, const char *extra, size_t extra_len,
                const struct gw_ws_handlers *h, void *ud, struct gw_ws_conn **ret);
/* Queues a text message, from any thread: 0; -EAGAIN dropped while paused; -EPIPE closed. */
int gw_ws_send_text(struct gw_ws_conn *c, const char *text, size_t len);
/* The same, queued even while paused: for the few messages a client must not miss (the end of a
 * turn), never for a stream. */
int gw_ws_send_text_always(struct gw_ws_conn *c, const char *text, size_t len);
/* Closes with code and reason, from any thread. */
void gw_ws_close(struct gw_ws_conn *c, uint16_t code, const char *reason);
void gw_ws_conn_ref(struct gw_ws_conn *c);
void gw_ws_conn_unref(struct gw_ws_conn *c);

struct gw_ws_stats {
    uint64_t open, opened, closed_idle, dropped_paused, messages_in, messages_out;
};
void gw_ws_get_stats(struct gw_ws *w, struct gw_ws_stats *ret);

/* For tests and fuzzing: runs bytes a client sent through the frame layer with this part's
 * limits and message checks, as one connection would (what the server answers is discarded).
 * h->on_text sees each complete text message; the connection has no part, so sending on it
 * fails with -EPIPE. Returns the close code the server sent, 0 when it sent none. */
uint16_t gw_ws_feed(const uint8_t *data, size_t len, const struct gw_ws_handlers *h, void *ud);

/* The upgrade handshake: the Sec-WebSocket-Accept value for key (28 chars + NUL), or -EINVAL
 * for a key that is not 16 bytes of base64. */
int gw_ws_accept_key(const char *key, char out[static 29]);
