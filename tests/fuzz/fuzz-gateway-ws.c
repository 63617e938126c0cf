/* Arbitrary bytes from a client through the gateway's WebSocket frame layer: wslay's parser with
 * our callbacks and limits (64 KB frames and messages, UTF-8 text, text only). Every message
 * handed to on_text must be within the limit and valid UTF-8, and every close code sent must be
 * one a server may send (or none). */
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "fuzz.h"
#include "gw-ws.h"

static void on_text(struct gw_ws_conn *c, const char *text, size_t len, void *ud)
{
    if (len > GW_WS_FRAME_MAX || !osm_utf8_valid(text, len))
        abort();
    if (gw_ws_send_text(c, text, len) == 0) /* the conn has no part: nothing may be sent */
        abort();
    (*(size_t *)ud)++;
}

static void on_close(struct gw_ws_conn *c, void *ud)
{
    (void)c;
    (void)ud;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct gw_ws_handlers h = {on_text, on_close};
    size_t n = 0;
    uint16_t code = gw_ws_feed(data, size, &h, &n);

    /* 1005: a close without a status code, which a server may send */
    if (code != 0 && (code < 1000 || code == 1004 || code == 1006 || (code > 1011 && code < 3000) ||
                      code >= 5000))
        abort();
    return 0;
}
