#include "rpc/ws.h"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"

FL_LOG_TAG("ws");

#define WS_GUID            "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_DEFAULT_MAX     (1024 * 1024)
#define WS_OP_CONT         0x0
#define WS_OP_TEXT         0x1
#define WS_OP_BINARY       0x2
#define WS_OP_CLOSE        0x8
#define WS_OP_PING         0x9
#define WS_OP_PONG         0xA
#define WS_MAX_HEADER      14
#define WS_KEY_RAW_LEN     16
#define WS_KEY_BASE64_LEN  24
#define WS_ACCEPT_LEN      28
#define WS_MAX_KEY_ENCODED 64

/* Incremental UTF-8 check: bytes still expected in the current sequence and
 * the range allowed for the next one (RFC 3629 section 4). */
typedef struct utf8_state {
    uint8_t need;
    uint8_t lo;
    uint8_t hi;
} utf8_state;

typedef struct frame_header {
    bool fin;
    bool masked;
    uint8_t opcode;
    uint8_t mask[4];
    size_t header_len;
    uint64_t payload_len;
} frame_header;

struct fl_ws {
    fl_ws_role role;
    fl_ws_state state;
    size_t max_message;
    fl_rand *rand;
    fl_bytes in;
    size_t in_off;
    fl_bytes out;
    fl_bytes msg;
    bool in_message;
    bool msg_delivered;
    uint8_t msg_opcode;
    utf8_state utf8;
    uint8_t ctrl[FL_WS_MAX_CONTROL + 1];
};

/* ---- UTF-8 ---------------------------------------------------------------- */

static bool utf8_lead(utf8_state *st, uint8_t c)
{
    st->lo = 0x80;
    st->hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        st->need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        st->need = 2;
        if (c == 0xE0)
            st->lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            st->hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        st->need = 3;
        if (c == 0xF0)
            st->lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            st->hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return false;
    }
    return true;
}

static bool utf8_feed(utf8_state *st, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (st->need == 0) {
            if (c < 0x80)
                continue;
            if (!utf8_lead(st, c))
                return false;
        } else {
            if (c < st->lo || c > st->hi)
                return false;
            st->need--;
            st->lo = 0x80;
            st->hi = 0xBF;
        }
    }
    return true;
}

bool fl_ws_utf8_valid(const uint8_t *s, size_t len)
{
    utf8_state st = { 0, 0x80, 0xBF };
    return utf8_feed(&st, s, len) && st.need == 0;
}

bool fl_ws_close_code_valid(int code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

/* ---- handshake ------------------------------------------------------------ */

int fl_ws_accept_key(const char *key, char out[29])
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > WS_MAX_KEY_ENCODED)
        return FL_EINVAL;
    char buf[WS_MAX_KEY_ENCODED + sizeof(WS_GUID)];
    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
    unsigned char digest[20];
    if (mbedtls_sha1_ret((const unsigned char *)buf, klen + sizeof(WS_GUID) - 1, digest) != 0)
        return FL_EINVAL;
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)out, 29, &olen, digest, sizeof(digest)) != 0)
        return FL_EINVAL;
    out[olen] = '\0';
    return 0;
}

static bool key_valid(const char *key)
{
    unsigned char raw[WS_KEY_RAW_LEN + 4];
    size_t olen = 0;
    if (!key || strlen(key) != WS_KEY_BASE64_LEN)
        return false;
    if (mbedtls_base64_decode(raw, sizeof(raw), &olen, (const unsigned char *)key,
                              WS_KEY_BASE64_LEN) != 0)
        return false;
    return olen == WS_KEY_RAW_LEN;
}

static int handshake_reject(fl_bytes *out, int status, const char *why)
{
    fl_log(FL_LOG_DEBUG, "handshake rejected: %s", why);
    fl_http_header h[2] = { { "Connection", "close" }, { "Sec-WebSocket-Version", "13" } };
    size_t n = status == 426 ? 2 : 1;
    int rc = fl_http_response_write(out, status, h, n, why, strlen(why));
    return rc == FL_ENOMEM ? rc : FL_EPROTO;
}

int fl_ws_handshake_server_accept(const fl_http_head *req, fl_bytes *out)
{
    const char *upgrade = fl_http_head_get(req, "Upgrade");
    const char *conn = fl_http_head_get(req, "Connection");
    const char *version = fl_http_head_get(req, "Sec-WebSocket-Version");
    const char *key = fl_http_head_get(req, "Sec-WebSocket-Key");
    if (req->kind != FL_HTTP_REQUEST || strcmp(req->method, "GET") != 0)
        return handshake_reject(out, 400, "not a GET");
    if (req->version_minor < 1 || !fl_http_head_get(req, "Host"))
        return handshake_reject(out, 400, "not HTTP/1.1 with Host");
    if (!upgrade || !fl_http_token_list_has(upgrade, "websocket"))
        return handshake_reject(out, 400, "no Upgrade: websocket");
    if (!conn || !fl_http_token_list_has(conn, "upgrade"))
        return handshake_reject(out, 400, "no Connection: upgrade");
    if (!version || strcmp(version, "13") != 0)
        return handshake_reject(out, 426, "unsupported Sec-WebSocket-Version");
    if (!key_valid(key))
        return handshake_reject(out, 400, "bad Sec-WebSocket-Key");
    char accept[WS_ACCEPT_LEN + 1];
    int rc = fl_ws_accept_key(key, accept);
    if (rc != 0)
        return handshake_reject(out, 400, "bad Sec-WebSocket-Key");
    fl_http_header h[3] = {
        { "Upgrade", "websocket" },
        { "Connection", "Upgrade" },
        { "Sec-WebSocket-Accept", accept },
    };
    return fl_http_response_write(out, 101, h, 3, NULL, 0);
}

int fl_ws_handshake_client_write(fl_bytes *out,
                                 const char *host,
                                 const char *target,
                                 fl_rand *rand,
                                 char key_out[25])
{
    uint8_t raw[WS_KEY_RAW_LEN];
    size_t olen = 0;
    fl_rand_fill(rand ? rand : fl_rand_system(), raw, sizeof(raw));
    if (mbedtls_base64_encode((unsigned char *)key_out, 25, &olen, raw, sizeof(raw)) != 0)
        return FL_EINVAL;
    key_out[olen] = '\0';
    fl_http_header h[5] = {
        { "Host", host },
        { "Upgrade", "websocket" },
        { "Connection", "Upgrade" },
        { "Sec-WebSocket-Key", key_out },
        { "Sec-WebSocket-Version", "13" },
    };
    return fl_http_request_write(out, "GET", target, h, 5);
}

int fl_ws_handshake_client_check(const fl_http_head *resp, const char *key)
{
    if (resp->kind != FL_HTTP_RESPONSE || resp->status != 101)
        return FL_EPROTO;
    const char *upgrade = fl_http_head_get(resp, "Upgrade");
    const char *conn = fl_http_head_get(resp, "Connection");
    const char *accept = fl_http_head_get(resp, "Sec-WebSocket-Accept");
    if (!upgrade || !fl_http_token_list_has(upgrade, "websocket"))
        return FL_EPROTO;
    if (!conn || !fl_http_token_list_has(conn, "upgrade"))
        return FL_EPROTO;
    /* We asked for no extension and no subprotocol. */
    if (fl_http_head_get(resp, "Sec-WebSocket-Extensions") ||
        fl_http_head_get(resp, "Sec-WebSocket-Protocol"))
        return FL_EPROTO;
    char expect[WS_ACCEPT_LEN + 1];
    if (!accept || fl_ws_accept_key(key, expect) != 0 || strcmp(accept, expect) != 0)
        return FL_EPROTO;
    return 0;
}

/* ---- object --------------------------------------------------------------- */

int fl_ws_create(fl_ws **out, const fl_ws_config *cfg)
{
    if (cfg->role != FL_WS_SERVER && cfg->role != FL_WS_CLIENT)
        return FL_EINVAL;
    fl_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return FL_ENOMEM;
    ws->role = cfg->role;
    ws->state = FL_WS_OPEN;
    ws->max_message = cfg->max_message ? cfg->max_message : WS_DEFAULT_MAX;
    ws->rand = cfg->rand ? cfg->rand : fl_rand_system();
    fl_bytes_init(&ws->in);
    fl_bytes_init(&ws->out);
    fl_bytes_init(&ws->msg);
    *out = ws;
    return 0;
}

void fl_ws_destroy(fl_ws *ws)
{
    if (!ws)
        return;
    fl_bytes_deinit(&ws->in);
    fl_bytes_deinit(&ws->out);
    fl_bytes_deinit(&ws->msg);
    free(ws);
}

fl_ws_state fl_ws_get_state(const fl_ws *ws)
{
    return ws->state;
}

size_t fl_ws_pending(const fl_ws *ws)
{
    return ws->out.len;
}

bool fl_ws_input_held(const fl_ws *ws)
{
    return ws->state != FL_WS_CLOSED && (ws->in.len > ws->in_off || ws->in_message);
}

int fl_ws_poll_transmit(fl_ws *ws, fl_bytes *out)
{
    if (ws->out.len == 0)
        return FL_EAGAIN;
    *out = ws->out;
    fl_bytes_init(&ws->out);
    return 0;
}

int fl_ws_handle_input(fl_ws *ws, const uint8_t *data, size_t len)
{
    if (ws->state == FL_WS_CLOSED || len == 0)
        return 0;
    if (ws->in_off > 0) {
        fl_bytes_consume(&ws->in, ws->in_off);
        ws->in_off = 0;
    }
    return fl_bytes_append(&ws->in, data, len);
}

/* ---- frame writer --------------------------------------------------------- */

static int write_frame(fl_ws *ws, uint8_t opcode, const uint8_t *payload, size_t len)
{
    uint8_t hdr[WS_MAX_HEADER];
    size_t n = 0;
    uint8_t mask_bit = ws->role == FL_WS_CLIENT ? 0x80 : 0;
    hdr[n++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        hdr[n++] = (uint8_t)(mask_bit | len);
    } else if (len <= 0xFFFF) {
        hdr[n++] = (uint8_t)(mask_bit | 126);
        hdr[n++] = (uint8_t)(len >> 8);
        hdr[n++] = (uint8_t)len;
    } else {
        hdr[n++] = (uint8_t)(mask_bit | 127);
        for (int i = 7; i >= 0; i--)
            hdr[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t key[4] = { 0, 0, 0, 0 };
    if (mask_bit) {
        fl_rand_fill(ws->rand, key, sizeof(key));
        memcpy(hdr + n, key, 4);
        n += 4;
    }
    int rc = fl_bytes_reserve(&ws->out, n + len);
    if (rc != 0)
        return rc;
    fl_bytes_append(&ws->out, hdr, n);
    uint8_t *dst = ws->out.data + ws->out.len;
    if (len > 0)
        memcpy(dst, payload, len);
    if (mask_bit) {
        for (size_t i = 0; i < len; i++)
            dst[i] ^= key[i & 3];
    }
    ws->out.len += len;
    return 0;
}

int fl_ws_send_text(fl_ws *ws, const void *data, size_t len)
{
    if (ws->state != FL_WS_OPEN)
        return FL_ECLOSED;
    if (!fl_ws_utf8_valid(data, len))
        return FL_EINVAL;
    return write_frame(ws, WS_OP_TEXT, data, len);
}

int fl_ws_send_binary(fl_ws *ws, const void *data, size_t len)
{
    if (ws->state != FL_WS_OPEN)
        return FL_ECLOSED;
    return write_frame(ws, WS_OP_BINARY, data, len);
}

int fl_ws_send_ping(fl_ws *ws, const void *data, size_t len)
{
    if (ws->state != FL_WS_OPEN)
        return FL_ECLOSED;
    if (len > FL_WS_MAX_CONTROL)
        return FL_EINVAL;
    return write_frame(ws, WS_OP_PING, data, len);
}

/* Queues a close frame; `reason` may be NULL. */
static int write_close(fl_ws *ws, int code, const uint8_t *reason, size_t reason_len)
{
    uint8_t payload[FL_WS_MAX_CONTROL];
    if (code == 0)
        return write_frame(ws, WS_OP_CLOSE, NULL, 0);
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (reason_len > 0)
        memcpy(payload + 2, reason, reason_len);
    return write_frame(ws, WS_OP_CLOSE, payload, 2 + reason_len);
}

int fl_ws_send_close(fl_ws *ws, int code, const char *reason)
{
    if (ws->state != FL_WS_OPEN)
        return FL_ECLOSED;
    if (code != 0 && !fl_ws_close_code_valid(code))
        return FL_EINVAL;
    size_t rlen = code != 0 && reason ? strlen(reason) : 0;
    if (rlen > FL_WS_MAX_REASON) {
        rlen = FL_WS_MAX_REASON;
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    if (!fl_ws_utf8_valid((const uint8_t *)reason, rlen))
        return FL_EINVAL;
    int rc = write_close(ws, code, (const uint8_t *)reason, rlen);
    if (rc != 0)
        return rc;
    ws->state = FL_WS_CLOSING;
    return 0;
}

/* ---- frame parser --------------------------------------------------------- */

/* The peer broke the protocol: queue our close (unless one is out already),
 * stop reading and report it. */
static int fail(fl_ws *ws, int code, const char *why, fl_ws_event *ev)
{
    fl_log(FL_LOG_DEBUG, "closing with %d: %s", code, why);
    if (ws->state == FL_WS_OPEN)
        write_close(ws, code, (const uint8_t *)why, strlen(why));
    ws->state = FL_WS_CLOSED;
    fl_bytes_clear(&ws->in);
    ws->in_off = 0;
    memset(ev, 0, sizeof(*ev));
    ev->type = FL_WS_EVENT_CLOSE;
    ev->code = code;
    ev->reason = why;
    ev->reason_len = strlen(why);
    ev->local = true;
    return 0;
}

/* Checks what the first two bytes say. Returns 0 or a close code. */
static int check_first_bytes(const fl_ws *ws, uint8_t b0, uint8_t b1, const char **why)
{
    uint8_t op = b0 & 0x0F;
    bool control = (op & 0x08) != 0;
    if (b0 & 0x70)
        return *why = "reserved bits set", FL_WS_CLOSE_PROTOCOL;
    if (op > WS_OP_BINARY && op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
        return *why = "unknown opcode", FL_WS_CLOSE_PROTOCOL;
    if (control && !(b0 & 0x80))
        return *why = "fragmented control frame", FL_WS_CLOSE_PROTOCOL;
    if (control && (b1 & 0x7F) > FL_WS_MAX_CONTROL)
        return *why = "control frame too long", FL_WS_CLOSE_PROTOCOL;
    if (ws->role == FL_WS_SERVER && !(b1 & 0x80))
        return *why = "unmasked frame", FL_WS_CLOSE_PROTOCOL;
    if (ws->role == FL_WS_CLIENT && (b1 & 0x80))
        return *why = "masked frame", FL_WS_CLOSE_PROTOCOL;
    if (op == WS_OP_CONT && !ws->in_message)
        return *why = "continuation without a start", FL_WS_CLOSE_PROTOCOL;
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && ws->in_message)
        return *why = "new message inside a fragmented one", FL_WS_CLOSE_PROTOCOL;
    return 0;
}

/* Returns 0 with *h filled, FL_EAGAIN, or a close code (> 0). */
static int parse_header(const fl_ws *ws,
                        const uint8_t *p,
                        size_t avail,
                        frame_header *h,
                        const char **why)
{
    if (avail < 2)
        return FL_EAGAIN;
    int code = check_first_bytes(ws, p[0], p[1], why);
    if (code != 0)
        return code;
    h->fin = (p[0] & 0x80) != 0;
    h->opcode = p[0] & 0x0F;
    h->masked = (p[1] & 0x80) != 0;
    uint8_t len7 = p[1] & 0x7F;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    h->header_len = 2 + ext + (h->masked ? 4 : 0);
    if (avail < h->header_len)
        return FL_EAGAIN;
    h->payload_len = len7;
    if (ext > 0) {
        h->payload_len = 0;
        for (size_t i = 0; i < ext; i++)
            h->payload_len = (h->payload_len << 8) | p[2 + i];
    }
    if (h->payload_len >> 63)
        return *why = "length with the top bit set", FL_WS_CLOSE_PROTOCOL;
    if (h->masked)
        memcpy(h->mask, p + 2 + ext, 4);
    if (!(h->opcode & 0x08) && h->payload_len > ws->max_message - ws->msg.len)
        return *why = "message too big", FL_WS_CLOSE_TOO_BIG;
    return 0;
}

static void unmask_copy(uint8_t *dst, const uint8_t *src, size_t len, const frame_header *h)
{
    if (len > 0)
        memcpy(dst, src, len);
    if (!h->masked)
        return;
    for (size_t i = 0; i < len; i++)
        dst[i] ^= h->mask[i & 3];
}

static int handle_close(fl_ws *ws, size_t len, fl_ws_event *ev)
{
    int code = FL_WS_CLOSE_NO_STATUS;
    if (len == 1)
        return fail(ws, FL_WS_CLOSE_PROTOCOL, "one-byte close payload", ev);
    if (len >= 2) {
        code = (ws->ctrl[0] << 8) | ws->ctrl[1];
        if (!fl_ws_close_code_valid(code))
            return fail(ws, FL_WS_CLOSE_PROTOCOL, "invalid close code", ev);
        if (!fl_ws_utf8_valid(ws->ctrl + 2, len - 2))
            return fail(ws, FL_WS_CLOSE_INVALID_DATA, "close reason not UTF-8", ev);
    }
    if (ws->state == FL_WS_OPEN) {
        int rc = write_close(ws, len >= 2 ? code : 0, ws->ctrl + 2, len >= 2 ? len - 2 : 0);
        if (rc != 0)
            return rc;
    }
    ws->state = FL_WS_CLOSED;
    memset(ev, 0, sizeof(*ev));
    ev->type = FL_WS_EVENT_CLOSE;
    ev->code = code;
    ev->reason = (const char *)(len >= 2 ? ws->ctrl + 2 : ws->ctrl + len);
    ev->reason_len = len >= 2 ? len - 2 : 0;
    return 0;
}

static int handle_control(fl_ws *ws, const frame_header *h, const uint8_t *payload, fl_ws_event *ev)
{
    size_t len = (size_t)h->payload_len;
    unmask_copy(ws->ctrl, payload, len, h);
    ws->ctrl[len] = '\0';
    if (h->opcode == WS_OP_CLOSE)
        return handle_close(ws, len, ev);
    if (h->opcode == WS_OP_PING && ws->state == FL_WS_OPEN) {
        int rc = write_frame(ws, WS_OP_PONG, ws->ctrl, len);
        if (rc != 0)
            return rc;
    }
    memset(ev, 0, sizeof(*ev));
    ev->type = h->opcode == WS_OP_PING ? FL_WS_EVENT_PING : FL_WS_EVENT_PONG;
    ev->data = ws->ctrl;
    ev->len = len;
    return 0;
}

/* Returns 0 with an event, FL_EAGAIN when the message is not complete yet,
 * FL_ENOMEM. */
static int handle_data(fl_ws *ws, const frame_header *h, const uint8_t *payload, fl_ws_event *ev)
{
    size_t len = (size_t)h->payload_len;
    if (h->opcode != WS_OP_CONT) {
        ws->in_message = true;
        ws->msg_opcode = h->opcode;
        ws->utf8 = (utf8_state){ 0, 0x80, 0xBF };
        fl_bytes_clear(&ws->msg);
    }
    int rc = fl_bytes_reserve(&ws->msg, len + 1);
    if (rc != 0)
        return rc;
    uint8_t *dst = ws->msg.data + ws->msg.len;
    unmask_copy(dst, payload, len, h);
    ws->msg.len += len;
    bool text = ws->msg_opcode == WS_OP_TEXT;
    if (text && !utf8_feed(&ws->utf8, dst, len))
        return fail(ws, FL_WS_CLOSE_INVALID_DATA, "invalid UTF-8", ev);
    if (!h->fin)
        return FL_EAGAIN;
    if (text && ws->utf8.need != 0)
        return fail(ws, FL_WS_CLOSE_INVALID_DATA, "truncated UTF-8", ev);
    ws->in_message = false;
    ws->msg_delivered = true;
    ws->msg.data[ws->msg.len] = '\0';
    memset(ev, 0, sizeof(*ev));
    ev->type = text ? FL_WS_EVENT_TEXT : FL_WS_EVENT_BINARY;
    ev->data = ws->msg.data;
    ev->len = ws->msg.len;
    return 0;
}

int fl_ws_poll_event(fl_ws *ws, fl_ws_event *ev)
{
    if (ws->msg_delivered) {
        fl_bytes_clear(&ws->msg);
        ws->msg_delivered = false;
    }
    while (ws->state != FL_WS_CLOSED) {
        const uint8_t *p = ws->in.data + ws->in_off;
        size_t avail = ws->in.len - ws->in_off;
        frame_header h;
        const char *why = "";
        int rc = parse_header(ws, p, avail, &h, &why);
        if (rc > 0)
            return fail(ws, rc, why, ev);
        if (rc != 0)
            return rc;
        if (avail - h.header_len < h.payload_len)
            return FL_EAGAIN;
        ws->in_off += h.header_len + (size_t)h.payload_len;
        if (h.opcode & 0x08)
            return handle_control(ws, &h, p + h.header_len, ev);
        rc = handle_data(ws, &h, p + h.header_len, ev);
        if (rc != FL_EAGAIN)
            return rc;
    }
    return FL_EAGAIN;
}
