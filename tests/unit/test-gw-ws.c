/* gw-ws.c: the handshake key and the frame layer (wslay with our limits and checks), fed from
 * memory as a connection would be. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw-ws.h"

struct seen {
    size_t n, len;
    char last[256];
    int send_r;
};

static void on_text(struct gw_ws_conn *c, const char *text, size_t len, void *ud)
{
    struct seen *s = ud;

    s->n++;
    s->len = len;
    memcpy(s->last, text, len < sizeof(s->last) - 1 ? len : sizeof(s->last) - 1);
    s->send_r = gw_ws_send_text(c, "x", 1);
}

static void on_close(struct gw_ws_conn *c, void *ud)
{
    (void)c;
    (void)ud;
}

static const struct gw_ws_handlers handlers = {on_text, on_close};

/* A masked client frame of payload into buf; its length. */
static size_t frame(uint8_t *buf, int fin, int opcode, const void *payload, size_t n)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    size_t o = 0;

    buf[o++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        buf[o++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        buf[o++] = 0x80 | 126;
        buf[o++] = (uint8_t)(n >> 8);
        buf[o++] = (uint8_t)n;
    } else {
        buf[o++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            buf[o++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(buf + o, mask, 4);
    o += 4;
    for (size_t i = 0; i < n; i++)
        buf[o + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    return o + n;
}

static uint16_t feed_text(const char *payload, size_t n, struct seen *s)
{
    uint8_t *buf = malloc(n + 16);
    size_t len = frame(buf, 1, 1, payload, n);
    uint16_t code = gw_ws_feed(buf, len, &handlers, s);

    free(buf);
    return code;
}

Test(gw_ws, accept_key_of_rfc6455)
{
    char out[29];

    cr_assert_eq(gw_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(gw_ws, accept_key_refuses_what_is_not_16_bytes_of_base64)
{
    const char *bad[] = {NULL,
                         "",
                         "abc",
                         "dGhlIHNhbXBsZSBub25jZQ=",
                         "dGhlIHNhbXBsZSBub25jZQ==x",
                         "dGhlIHNhbXBsZSBub25j!Q==",
                         "dGhlIHNhbXBsZSBub25jZXg="};
    char out[29];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(gw_ws_accept_key(bad[i], out), -EINVAL, "key %zu", i);
}

Test(gw_ws, a_text_message_is_delivered_and_nothing_can_be_sent_without_the_part)
{
    struct seen s = {0};

    cr_assert_eq(feed_text("{\"type\":\"chat\"}", 15, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.last, "{\"type\":\"chat\"}");
    cr_assert_eq(s.send_r, -EPIPE);
}

Test(gw_ws, frames_up_to_64k_pass_and_one_byte_more_is_1009)
{
    char *big = malloc(GW_WS_FRAME_MAX + 1);
    struct seen s = {0};

    memset(big, 'a', GW_WS_FRAME_MAX + 1);
    cr_assert_eq(feed_text(big, GW_WS_FRAME_MAX, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.len, GW_WS_FRAME_MAX);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(feed_text(big, GW_WS_FRAME_MAX + 1, &s), 1009);
    cr_assert_eq(s.n, 0);
    free(big);
}

Test(gw_ws, a_fragmented_message_over_64k_is_1009)
{
    size_t half = GW_WS_FRAME_MAX / 2 + 1;
    char *part = malloc(half);
    uint8_t *buf = malloc(2 * half + 32);
    struct seen s = {0};
    size_t len;

    memset(part, 'b', half);
    len = frame(buf, 0, 1, part, half);
    len += frame(buf + len, 1, 0, part, half);
    cr_assert_eq(gw_ws_feed(buf, len, &handlers, &s), 1009);
    cr_assert_eq(s.n, 0);
    free(part);
    free(buf);
}

Test(gw_ws, invalid_utf8_is_1007_and_binary_is_1003)
{
    uint8_t buf[32];
    struct seen s = {0};

    cr_assert_eq(feed_text("{\"\xc3\x28\"}", 6, &s), 1007);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(gw_ws_feed(buf, frame(buf, 1, 2, "\x00\x01", 2), &handlers, &s), 1003);
    cr_assert_eq(s.n, 0);
}

Test(gw_ws, an_unmasked_client_frame_is_a_protocol_error)
{
    const uint8_t buf[] = {0x81, 0x02, 'h', 'i'};
    struct seen s = {0};

    cr_assert_eq(gw_ws_feed(buf, sizeof(buf), &handlers, &s), 1002);
    cr_assert_eq(s.n, 0);
}

Test(gw_ws, a_close_is_answered)
{
    uint8_t buf[32];
    struct seen s = {0};

    cr_assert_eq(gw_ws_feed(buf,
                            frame(buf, 1, 8,
                                  "\x03\xe8"
                                  "bye",
                                  5),
                            &handlers, &s),
                 1000);
}

Test(gw_ws, the_part_starts_and_stops_empty)
{
    struct gw_ws *w;
    struct gw_ws_stats st;

    cr_assert_eq(gw_ws_new(0, 0, &w), 0);
    cr_assert_eq(gw_ws_start(w), 0);
    gw_ws_get_stats(w, &st);
    cr_assert_eq(st.open + st.opened + st.messages_in, 0);
    cr_assert_eq(gw_ws_adopt(w, -1, NULL, 0, &handlers, NULL, NULL), -EBADF);
    gw_ws_free(w);
}
