/* Fuzzes base/http head parsing (byte 0 picks request or response and the
 * split), the write-back of what parsed, and the WebSocket handshake checks
 * on top of it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/http.h"
#include "base/log.h"
#include "rpc/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const fl_http_head *h)
{
    fl_bytes out;
    fl_bytes_init(&out);
    int rc;
    if (h->kind == FL_HTTP_REQUEST)
        rc = fl_http_request_write(&out, h->method, h->target, h->headers, h->header_count);
    else
        rc = fl_http_response_write(&out, h->status, h->headers, h->header_count, NULL, 0);
    if (rc == 0) {
        static fl_http_head again;
        size_t used = 0;
        fl_http_head_init(&again, h->kind);
        if (fl_http_head_parse(&again, out.data, out.len, &used) != 0 || used != out.len)
            abort();
        if (again.header_count != h->header_count)
            abort();
        for (size_t i = 0; i < h->header_count; i++) {
            if (strcmp(again.headers[i].name, h->headers[i].name) != 0 ||
                strcmp(again.headers[i].value, h->headers[i].value) != 0)
                abort();
        }
    }
    fl_bytes_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fl_http_head h;
    static int init;
    if (!init) {
        fl_log_configure("*:0");
        init = 1;
    }
    if (size < 1)
        return 0;
    fl_http_kind kind = (data[0] & 1) ? FL_HTTP_RESPONSE : FL_HTTP_REQUEST;
    size_t split = (size_t)(data[0] >> 1) + 1;
    fl_http_head_init(&h, kind);
    int rc = FL_EAGAIN;
    for (size_t off = 1; off < size && rc == FL_EAGAIN; off += split) {
        size_t n = size - off < split ? size - off : split;
        size_t used = 0;
        rc = fl_http_head_parse(&h, data + off, n, &used);
        if (used > n)
            abort();
    }
    if (rc != 0)
        return 0;
    check_round_trip(&h);
    fl_bytes out;
    fl_bytes_init(&out);
    if (kind == FL_HTTP_REQUEST) {
        fl_ws_handshake_server_accept(&h, &out);
    } else {
        fl_ws_handshake_client_check(&h, "dGhlIHNhbXBsZSBub25jZQ==");
    }
    const char *c = fl_http_head_get(&h, "Connection");
    if (c)
        fl_http_token_list_has(c, "upgrade");
    fl_bytes_deinit(&out);
    return 0;
}
