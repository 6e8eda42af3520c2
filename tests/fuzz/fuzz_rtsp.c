/* Fuzzes net/rtsp: the stream reader over a byte stream (byte 0 picks the
 * split), and on each message the values an RTSP client reads from it:
 * Transport, Session, RTP-Info, Content-Base resolved, and the SDP body's
 * control attributes; then the same bytes as a URL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/rtsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const fl_rtsp_item *it)
{
    const char *v = fl_http_head_get(it->head, "Transport");
    if (v) {
        fl_rtsp_transport t, again;
        if (fl_rtsp_transport_parse(&t, v) == 0) {
            char out[512];
            long n = fl_rtsp_transport_write(out, sizeof out, &t);
            if (n < 0 || (size_t)n != strlen(out))
                abort();
            if (fl_rtsp_transport_parse(&again, out) != 0 || again.tcp != t.tcp ||
                again.client_port[0] != t.client_port[0] || again.ssrc != t.ssrc ||
                again.interleaved[1] != t.interleaved[1] ||
                again.server_port[1] != t.server_port[1])
                abort();
        }
    }
    v = fl_http_head_get(it->head, "Session");
    if (v) {
        char id[64];
        unsigned to;
        if (fl_rtsp_session_parse(v, id, sizeof id, &to) == 0 && (!id[0] || to == 0))
            abort();
    }
    v = fl_http_head_get(it->head, "RTP-Info");
    if (v) {
        static fl_rtsp_rtp_info e[4];
        size_t n;
        fl_rtsp_rtp_info_parse(v, e, 4, &n);
        if (n > 4)
            abort();
    }
    char base[FL_RTSP_MAX_URL];
    v = fl_http_head_get(it->head, "Content-Base");
    if (!v || fl_rtsp_url_resolve(base, sizeof base, v, "") != 0)
        strcpy(base, "rtsp://h/x");
    if (it->body) {
        char session[FL_RTSP_MAX_URL], url[FL_RTSP_MAX_URL];
        static char media[4][FL_RTSP_MAX_URL];
        size_t n;
        fl_rtsp_sdp_controls((const char *)it->body, it->body_len, session, sizeof session, media,
                             4, &n);
        for (size_t i = 0; i < n && i < 4; i++)
            fl_rtsp_url_resolve(url, sizeof url, base, media[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fl_rtsp_reader r;
    if (size < 1)
        return 0;
    size_t split = (size_t)data[0] * 4 + 1;
    fl_rtsp_reader_init(&r);
    for (size_t off = 1; off < size;) {
        size_t n = size - off < split ? size - off : split;
        size_t done = 0;
        while (done < n) {
            size_t used = 0;
            fl_rtsp_item it;
            int rc = fl_rtsp_reader_read(&r, data + off + done, n - done, &used, &it);
            if (used > n - done)
                abort();
            if (rc < 0)
                return 0;
            done += used;
            if (rc == 0 && done != n)
                abort();
            if (rc == 1 && it.kind == FL_RTSP_ITEM_FRAME && it.len > 65535)
                abort();
            if (rc == 1 && it.kind != FL_RTSP_ITEM_FRAME)
                check_message(&it);
        }
        off += n;
    }
    if (size < 2048) {
        char uri[2048];
        memcpy(uri, data + 1, size - 1);
        uri[size - 1] = '\0';
        fl_rtsp_url u;
        if (fl_rtsp_url_parse(&u, uri) == 0 && (!u.host[0] || u.port == 0))
            abort();
    }
    return 0;
}
