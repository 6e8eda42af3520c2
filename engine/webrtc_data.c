/* WebRtcEndpoint's data channels (useDataChannels): an SCTP association
 * (net/sctp) over the endpoint's DTLS session once it is connected, its
 * channels' messages out of the element's DATA source pad and the DATA
 * reaching its sink pad sent on the channel of the same label (opened
 * from our side when the peer has none), createDataChannel and
 * closeDataChannel, the DataChannelOpened/Closed events and the channels'
 * statistics.
 *
 * A message travels the graph as one or more buffers of the worker's pool
 * (a message of 256 KiB does not fit one), each starting with the header
 * of webrtc_int.h's FL__DATA_* (the source's channel, its label and
 * options on the first piece, text or binary, first/last), consecutive:
 * an element pushes a message's pieces one after another, and a sink puts
 * them back together before sending the message whole. Worker thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"
#include "engine/engine_int.h"
#include "engine/webrtc_int.h"
#include "net/dcep.h"
#include "net/sctp.h"
#include "net/transport.h"

FL_LOG_TAG("webrtc");

struct wr_data {
    uint16_t remote_port, local_port;
    uint32_t remote_max;
    fl_sctp *sctp;
    /* a message from the DATA sink pad being put together */
    uint8_t *rx;
    size_t rx_len, rx_cap, rx_total;
    int rx_active, rx_channel;
    int rx_binary;
    uint64_t dropped;
};

#define DATA_IDX 2 /* FL_MEDIA_DATA's index among the default pads */

int fl__wr_data_setup(webrtc *wr, const fl_sdp_desc *l, const fl_sdp_desc *r)
{
    for (size_t i = 0; i < l->nmedia && i < r->nmedia; i++) {
        const fl_sdp_media *lm = &l->media[i], *rm = &r->media[i];
        if (lm->kind != FL_SDP_KIND_APPLICATION || lm->rejected || rm->rejected)
            continue;
        if (!wr->dc && !(wr->dc = calloc(1, sizeof(*wr->dc))))
            return FL_ENOMEM;
        wr->dc->local_port = lm->sctp_port;
        wr->dc->remote_port = rm->sctp_port ? rm->sctp_port : FL_SCTP_DEFAULT_PORT;
        /* RFC 8841 6.1: absent means 64 KiB; 0 means no limit given */
        wr->dc->remote_max = !rm->max_message_size && !rm->sctp_legacy ? 65536
                             : rm->max_message_size                    ? rm->max_message_size
                                                                       : FL_SCTP_DEFAULT_MAX_MSG;
        /* made now, so channels asked for before DTLS is up wait in it;
         * started once DTLS is connected */
        fl_sctp_config cfg = {
            .local_port = wr->dc->local_port,
            .remote_port = wr->dc->remote_port,
            .dtls_client = wr->dtls_client,
            .remote_max_message_size = wr->dc->remote_max,
        };
        int rc = wr->dc->sctp ? 0 : fl_sctp_create(&wr->dc->sctp, &cfg);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

void fl__wr_data_free(webrtc *wr)
{
    if (!wr->dc)
        return;
    fl_sctp_destroy(wr->dc->sctp);
    free(wr->dc->rx);
    free(wr->dc);
    wr->dc = NULL;
}

void fl__wr_data_connected(webrtc *wr)
{
    wr_data *dc = wr->dc;
    if (!dc || !dc->sctp)
        return;
    int rc = fl_sctp_start(dc->sctp, fl__clock_now(&wr->w->loop));
    if (rc < 0 && rc != FL_ESTATE) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the SCTP association for data channels could not start: %s",
                 fl_strerror(rc));
        fl__wr_raise_error(wr, "DATA_CHANNEL_FAILED", msg);
    }
}

void fl__wr_data_input(webrtc *wr, const fl_buf *b)
{
    if (wr->dc && wr->dc->sctp)
        fl_sctp_handle_input(wr->dc->sctp, fl__clock_now(&wr->w->loop), b->data + b->off, b->len);
}

/* ---- messages out of the DATA source pad ---- */

/* Pushes one message, cut into pieces that each fit a buffer. */
static void push_message(webrtc *wr, int id, int binary, const uint8_t *data, size_t len)
{
    fl__pad *src = wr->e ? wr->e->defaults[DATA_IDX] : NULL;
    fl_sctp_channel_info ci;
    if (!src || !src->nsinks || fl_sctp_channel_get(wr->dc->sctp, id, &ci) != 0)
        return;
    size_t ll = strlen(ci.label), pl = strlen(ci.protocol), off = 0;
    int first = 1;
    do {
        fl_buf *b = fl_buf_pool_get(wr->w->pool);
        if (!b)
            break;
        size_t room = fl_buf_tailroom(b);
        size_t meta = FL__DATA_HEADER + (first ? ll + pl : 0);
        if (meta >= room) { /* a label too long to travel */
            fl_buf_unref(b);
            wr->dc->dropped++;
            break;
        }
        size_t n = len - off < room - meta ? len - off : room - meta;
        uint8_t *h = fl_buf_data(b);
        h[0] = FL__DATA_MAGIC;
        h[1] = (uint8_t)((binary ? FL__DATA_BINARY : 0) | (first ? FL__DATA_FIRST : 0) |
                         (off + n == len ? FL__DATA_LAST : 0));
        fl_put_be16(h + 2, (uint16_t)id);
        fl_put_be32(h + 4, (uint32_t)len);
        fl_put_be16(h + 8, (uint16_t)(first ? ll : 0));
        fl_put_be16(h + 10, (uint16_t)(first ? pl : 0));
        h[12] = (uint8_t)(ci.ordered ? 0 : 1);
        fl_put_be32(h + 13, (uint32_t)ci.max_retransmits);
        fl_put_be32(h + 17, (uint32_t)ci.max_packet_life_time);
        uint8_t *p = h + FL__DATA_HEADER;
        if (first) {
            memcpy(p, ci.label, ll);
            memcpy(p + ll, ci.protocol, pl);
            p += ll + pl;
        }
        if (n)
            memcpy(p, data + off, n);
        b->len = (uint32_t)(meta + n);
        fl__pad_push(src, b);
        fl_buf_unref(b);
        off += n;
        first = 0;
    } while (off < len && wr->e);
}

static void raise_channel(webrtc *wr, enum fl_event_type type, int id)
{
    fl_event ev = { .type = type, .data_channel = { .channel_id = id } };
    fl__wr_raise(wr, &ev);
}

/* SCTP's packets into DTLS, and out; 1 when there were some. */
static int flush(webrtc *wr)
{
    uint8_t pkt[FL_SCTP_PACKET_MAX];
    size_t n;
    int any = 0;
    while (fl_sctp_poll_transmit(wr->dc->sctp, pkt, sizeof(pkt), &n) == 0) {
        if (wr->tr)
            fl_transport_send_data(wr->tr, pkt, n);
        any = 1;
    }
    fl__wr_flush_tx(wr);
    return any;
}

/* SCTP's packets into DTLS, its events up. */
void fl__wr_data_pump(webrtc *wr)
{
    wr_data *dc = wr->dc;
    if (!dc || !dc->sctp)
        return;
    fl_sctp_event ev;
    for (int rounds = 0; rounds < 4; rounds++) {
        int any = flush(wr);
        while (wr->dc && fl_sctp_poll_event(dc->sctp, &ev) == 0) {
            any = 1;
            switch (ev.type) {
            case FL_SCTP_EVENT_UP:
                fl_log(FL_LOG_INFO, "%s: SCTP association up", wr->e ? wr->e->name : "?");
                break;
            case FL_SCTP_EVENT_DOWN:
                fl_log(FL_LOG_INFO, "%s: SCTP association ended", wr->e ? wr->e->name : "?");
                break;
            case FL_SCTP_EVENT_OPEN:
                raise_channel(wr, FL_EVENT_DATA_CHANNEL_OPENED, ev.channel);
                break;
            case FL_SCTP_EVENT_CLOSED:
                raise_channel(wr, FL_EVENT_DATA_CHANNEL_CLOSED, ev.channel);
                break;
            case FL_SCTP_EVENT_MESSAGE:
                push_message(wr, ev.channel, ev.binary, ev.data, ev.len);
                break;
            }
        }
        if (!any || !wr->dc)
            break;
    }
}

void fl__wr_data_timeout(webrtc *wr, fl_time now)
{
    if (wr->dc && wr->dc->sctp && fl_sctp_poll_timeout(wr->dc->sctp) <= now)
        fl_sctp_handle_timeout(wr->dc->sctp, now);
}

fl_time fl__wr_data_deadline(const webrtc *wr)
{
    return wr->dc && wr->dc->sctp ? fl_sctp_poll_timeout(wr->dc->sctp) : FL_TIME_NEVER;
}

/* ---- DATA reaching the sink pad ---- */

/* Our channel for the source's label: the first open one of that label,
 * else one we open with the source's options. */
static int channel_for(webrtc *wr, const uint8_t *h, const char *label, const char *protocol)
{
    int id = fl_sctp_channel_find(wr->dc->sctp, label);
    if (id >= 0)
        return id;
    int32_t rexmit = (int32_t)fl_get_be32(h + 13), life = (int32_t)fl_get_be32(h + 17);
    int rc =
            fl_sctp_open_channel(wr->dc->sctp, label, protocol, !(h[12] & 1), life, rexmit, 0, &id);
    return rc < 0 ? rc : id;
}

static int rx_first(wr_data *dc, webrtc *wr, const uint8_t *h, size_t len)
{
    size_t ll = fl_get_be16(h + 8), pl = fl_get_be16(h + 10);
    if (FL__DATA_HEADER + ll + pl > len)
        return FL_EBADMSG;
    char label[1024], protocol[256];
    if (ll >= sizeof(label) || pl >= sizeof(protocol))
        return FL_EMSGSIZE;
    memcpy(label, h + FL__DATA_HEADER, ll);
    label[ll] = '\0';
    memcpy(protocol, h + FL__DATA_HEADER + ll, pl);
    protocol[pl] = '\0';
    int id = channel_for(wr, h, label, protocol);
    if (id < 0)
        return id;
    size_t total = fl_get_be32(h + 4);
    if (total > dc->remote_max)
        return FL_EMSGSIZE;
    if (total > dc->rx_cap) {
        uint8_t *n = realloc(dc->rx, total);
        if (!n)
            return FL_ENOMEM;
        dc->rx = n;
        dc->rx_cap = total;
    }
    dc->rx_active = 1;
    dc->rx_channel = id;
    dc->rx_binary = h[1] & FL__DATA_BINARY;
    dc->rx_total = total;
    dc->rx_len = 0;
    return (int)(FL__DATA_HEADER + ll + pl);
}

void fl__wr_data_receive(webrtc *wr, fl__pad *sink, fl_buf *buf)
{
    wr_data *dc = wr->dc;
    const uint8_t *h = fl_buf_data(buf);
    size_t len = buf->len;
    (void)sink;
    if (!dc || !dc->sctp || len < FL__DATA_HEADER || h[0] != FL__DATA_MAGIC)
        goto drop;
    int skip = FL__DATA_HEADER;
    if (h[1] & FL__DATA_FIRST) {
        skip = rx_first(dc, wr, h, len);
        if (skip < 0) {
            dc->rx_active = 0;
            goto count;
        }
    } else if (!dc->rx_active) {
        goto count; /* a piece whose start we did not take */
    }
    size_t n = len - (size_t)skip;
    if (dc->rx_len + n > dc->rx_total) {
        dc->rx_active = 0;
        goto count;
    }
    memcpy(dc->rx + dc->rx_len, h + skip, n);
    dc->rx_len += n;
    if (h[1] & FL__DATA_LAST) {
        dc->rx_active = 0;
        if (dc->rx_len != dc->rx_total ||
            fl_sctp_send(dc->sctp, dc->rx_channel, dc->rx_binary, dc->rx, dc->rx_len) < 0)
            goto count;
        /* packets only: a message read now would be pushed while this
         * element forwards (a loopback would drop it) */
        flush(wr);
    }
    fl_buf_unref(buf);
    return;
count:
    dc->dropped++;
drop:
    fl_buf_unref(buf);
}

/* ---- calls ---- */

static int parse_bool(const char *v, int dflt, int *out)
{
    if (!v || !v[0]) {
        *out = dflt;
        return 0;
    }
    if (strcmp(v, "true") && strcmp(v, "false"))
        return FL_EINVAL;
    *out = v[0] == 't';
    return 0;
}

static int parse_int(const char *v, int *out)
{
    if (!v || !v[0]) {
        *out = -1;
        return 0;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < -1 || x > 0xffff)
        return FL_EINVAL;
    *out = (int)x;
    return 0;
}

static int create_channel(webrtc *wr, fl__invocation *inv)
{
    const char *a[5] = { "", "true", "", "", "" };
    for (size_t i = 0; i < inv->nargs && i < 5; i++)
        a[i] = inv->args[i];
    int ordered, life, rexmit, id;
    if (parse_bool(a[1], 1, &ordered) < 0 || parse_int(a[2], &life) < 0 ||
        parse_int(a[3], &rexmit) < 0) {
        snprintf(inv->why, sizeof(inv->why),
                 "ordered must be a boolean, maxPacketLifeTime and maxRetransmits -1 to 65535");
        return FL_EINVAL;
    }
    if (life >= 0 && rexmit >= 0) {
        snprintf(inv->why, sizeof(inv->why),
                 "maxPacketLifeTime and maxRetransmits cannot both be set");
        return FL_EINVAL;
    }
    int rc = fl_sctp_open_channel(wr->dc->sctp, a[0], a[4], ordered, life, rexmit, 0, &id);
    if (rc < 0) {
        snprintf(inv->why, sizeof(inv->why), "the data channel could not be opened: %s",
                 fl_strerror(rc));
        return rc;
    }
    fl__wr_data_pump(wr);
    return 0;
}

int fl__wr_data_invoke(webrtc *wr, fl__invocation *inv)
{
    if (!wr->dc || !wr->dc->sctp) {
        snprintf(inv->why, sizeof(inv->why),
                 "no data channels: the endpoint was not created with useDataChannels, or "
                 "the SDP negotiation (done first) did not take them");
        return FL_ESTATE;
    }
    if (strcmp(inv->method->name, "createDataChannel") == 0)
        return create_channel(wr, inv);
    char *end;
    long id = strtol(inv->args[0], &end, 10);
    if (!inv->args[0][0] || *end || fl_sctp_close_channel(wr->dc->sctp, (int)id) < 0) {
        snprintf(inv->why, sizeof(inv->why), "no data channel %.32s", inv->args[0]);
        return FL_ENOENT;
    }
    fl__wr_data_pump(wr);
    return 0;
}

/* ---- statistics ---- */

void fl__wr_data_stats(webrtc *wr, fl__stats_out *out)
{
    if (!wr || !wr->dc || !wr->dc->sctp)
        return;
    static const char *const states[] = { "connecting", "open", "closing", "closed" };
    fl_sctp_stats st;
    fl_sctp_get_stats(wr->dc->sctp, &st);
    fl_stats *s = fl__stats_add(out, FL_STATS_PEER_CONNECTION);
    if (!s)
        return;
    s->peer_connection.data_channels_opened = (int64_t)st.channels_opened;
    s->peer_connection.data_channels_closed = (int64_t)st.channels_closed;
    fl_sctp_channel_info ci;
    int iter = 0;
    while (fl_sctp_channel_next(wr->dc->sctp, &iter, &ci)) {
        if (!(s = fl__stats_add(out, FL_STATS_DATA_CHANNEL)))
            return;
        fl_stats_data_channel *d = &s->data_channel;
        snprintf(d->label, sizeof(d->label), "%s", ci.label);
        snprintf(d->protocol, sizeof(d->protocol), "%s", ci.protocol);
        d->id = ci.id;
        d->state = states[(unsigned)ci.state < 4 ? ci.state : 3];
        d->messages_sent = (int64_t)ci.messages_sent;
        d->bytes_sent = (int64_t)ci.bytes_sent;
        d->messages_received = (int64_t)ci.messages_received;
        d->bytes_received = (int64_t)ci.bytes_received;
    }
}
