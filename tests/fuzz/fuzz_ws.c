/* Fuzzes rpc/ws framing. Byte 0 picks the role (bit 0), a small message limit
 * (bit 1) and the input split (bits 2-7); the rest is what the peer sends.
 * Messages are echoed back, as the server does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/rand.h"
#include "rpc/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain_events(fl_ws *ws)
{
    fl_ws_event ev;
    while (fl_ws_poll_event(ws, &ev) == 0) {
        if (ev.data && ev.len > 0 && ev.data[ev.len] != '\0')
            abort();
        if (ev.type == FL_WS_EVENT_TEXT) {
            if (!fl_ws_utf8_valid(ev.data, ev.len))
                abort();
            fl_ws_send_text(ws, ev.data, ev.len);
        } else if (ev.type == FL_WS_EVENT_BINARY) {
            fl_ws_send_binary(ws, ev.data, ev.len);
        } else if (ev.type == FL_WS_EVENT_CLOSE) {
            if (fl_ws_get_state(ws) != FL_WS_CLOSED)
                abort();
            if (!ev.local && ev.code != 1005 && !fl_ws_close_code_valid(ev.code))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fl_rand rnd;
    static int init;
    if (!init) {
        fl_log_configure("*:0");
        fl_rand_seeded_init(&rnd, 1);
        init = 1;
    }
    if (size < 1)
        return 0;
    fl_ws_config cfg = {
        .role = (data[0] & 1) ? FL_WS_CLIENT : FL_WS_SERVER,
        .max_message = (data[0] & 2) ? 64 : 0,
        .rand = &rnd,
    };
    size_t split = (size_t)(data[0] >> 2) + 1;
    fl_ws *ws = NULL;
    if (fl_ws_create(&ws, &cfg) != 0)
        return 0;
    for (size_t off = 1; off < size; off += split) {
        size_t n = size - off < split ? size - off : split;
        fl_ws_handle_input(ws, data + off, n);
        drain_events(ws);
    }
    fl_bytes out;
    if (fl_ws_poll_transmit(ws, &out) == 0)
        fl_bytes_deinit(&out);
    fl_ws_destroy(ws);
    return 0;
}
