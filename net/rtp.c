/* RTP parsing and building (RFC 3550, RFC 8285), receive statistics
 * (RFC 3550 appendix A) and RFC 7983 demux. */
#include "net/rtp.h"

#include <string.h>

#include "base/err.h"
#include "base/wire.h"

int fl_rtp_parse(fl_rtp_view *v, const uint8_t *data, size_t len)
{
    memset(v, 0, sizeof(*v));
    if (len < FL_RTP_HEADER_MIN)
        return FL_EBADMSG;
    v->version = (uint8_t)(data[0] >> 6);
    if (v->version != 2)
        return FL_ENOTSUP;
    v->data = data;
    v->len = len;
    v->padding = (uint8_t)((data[0] >> 5) & 1);
    v->extension = (uint8_t)((data[0] >> 4) & 1);
    v->csrc_count = (uint8_t)(data[0] & 0x0f);
    v->marker = (uint8_t)(data[1] >> 7);
    v->payload_type = (uint8_t)(data[1] & 0x7f);
    v->seq = fl_get_be16(data + 2);
    v->timestamp = fl_get_be32(data + 4);
    v->ssrc = fl_get_be32(data + 8);
    size_t off = FL_RTP_HEADER_MIN + 4u * v->csrc_count;
    if (off > len)
        return FL_EBADMSG;
    v->csrcs = data + FL_RTP_HEADER_MIN;
    if (v->extension) {
        if (len - off < 4)
            return FL_EBADMSG;
        v->ext_profile = fl_get_be16(data + off);
        v->ext_len = 4u * fl_get_be16(data + off + 2);
        off += 4;
        if (len - off < v->ext_len)
            return FL_EBADMSG;
        v->ext_data = data + off;
        off += v->ext_len;
    }
    v->header_len = off;
    size_t body = len - off;
    if (v->padding) {
        if (body == 0 || data[len - 1] == 0 || data[len - 1] > body)
            return FL_EBADMSG;
        v->pad_len = data[len - 1];
    }
    v->payload = data + off;
    v->payload_len = body - v->pad_len;
    return 0;
}

uint32_t fl_rtp_view_csrc(const fl_rtp_view *v, size_t i)
{
    if (i >= v->csrc_count)
        return 0;
    return fl_get_be32(v->csrcs + 4 * i);
}

void fl_rtp_buf_note(fl_buf *b, const fl_rtp_view *v)
{
    const uint8_t *data = fl_buf_data(b);
    b->rtp.parsed = 0;
    if (v->data != data || v->len > b->len || v->payload + v->payload_len > data + v->len)
        return;
    b->rtp = (fl_buf_rtp){ .ssrc = v->ssrc,
                           .timestamp = v->timestamp,
                           .seq = v->seq,
                           .payload_off = (uint32_t)(v->payload - data),
                           .payload_len = (uint32_t)v->payload_len,
                           .payload_type = v->payload_type,
                           .marker = v->marker,
                           .parsed = 1 };
}

int fl_rtp_buf_parse(fl_buf *b)
{
    fl_rtp_view v;
    int rc = fl_rtp_parse(&v, fl_buf_data(b), b->len);
    if (rc < 0) {
        b->rtp.parsed = 0;
        return rc;
    }
    fl_rtp_buf_note(b, &v);
    return 0;
}

int fl_rtp_ext_iter_init(fl_rtp_ext_iter *it, const fl_rtp_view *v)
{
    memset(it, 0, sizeof(*it));
    if (!v->extension)
        return FL_ENOENT;
    if (v->ext_profile == FL_RTP_EXT_ONE_BYTE)
        it->two_byte = 0;
    else if ((v->ext_profile & FL_RTP_EXT_TWO_BYTE_MASK) == FL_RTP_EXT_TWO_BYTE)
        it->two_byte = 1;
    else
        return FL_ENOTSUP;
    it->p = v->ext_data;
    it->end = v->ext_data + v->ext_len;
    return 0;
}

int fl_rtp_ext_iter_next(fl_rtp_ext_iter *it, fl_rtp_ext *e)
{
    while (it->p < it->end) {
        uint8_t b = *it->p;
        if (b == 0) { /* padding byte, both forms */
            it->p++;
            continue;
        }
        size_t avail = (size_t)(it->end - it->p);
        size_t hdr, n;
        if (it->two_byte) {
            if (avail < 2)
                return FL_EBADMSG;
            e->id = b;
            n = it->p[1];
            hdr = 2;
        } else {
            e->id = (uint8_t)(b >> 4);
            if (e->id == 15) { /* reserved: stop processing (RFC 8285 4.2) */
                it->p = it->end;
                return 0;
            }
            n = (size_t)(b & 0x0f) + 1;
            hdr = 1;
        }
        if (avail - hdr < n)
            return FL_EBADMSG;
        e->data = it->p + hdr;
        e->len = n;
        it->p += hdr + n;
        return 1;
    }
    return 0;
}

int fl_rtp_ext_find(const fl_rtp_view *v, uint8_t id, fl_rtp_ext *e)
{
    fl_rtp_ext_iter it;
    int r = fl_rtp_ext_iter_init(&it, v);
    if (r < 0)
        return r == FL_ENOTSUP ? FL_ENOENT : r;
    while ((r = fl_rtp_ext_iter_next(&it, e)) > 0) {
        if (e->id == id)
            return 0;
    }
    return r < 0 ? r : FL_ENOENT;
}

int fl_rtp_ext_get_abs_send_time(const fl_rtp_ext *e, uint32_t *abs24)
{
    if (e->len != 3)
        return FL_EBADMSG;
    *abs24 = (uint32_t)e->data[0] << 16 | (uint32_t)e->data[1] << 8 | e->data[2];
    return 0;
}

uint64_t fl_rtp_abs_send_time_to_us(uint32_t abs24)
{
    return ((uint64_t)(abs24 & 0xffffffu) * 1000000u) >> 18;
}

int fl_rtp_ext_get_twcc_seq(const fl_rtp_ext *e, uint16_t *seq)
{
    if (e->len != 2)
        return FL_EBADMSG;
    *seq = fl_get_be16(e->data);
    return 0;
}

int fl_rtp_ext_get_string(const fl_rtp_ext *e, const char **s, size_t *len)
{
    if (e->len == 0)
        return FL_EBADMSG;
    *s = (const char *)e->data;
    *len = e->len;
    return 0;
}

int fl_rtp_ext_get_audio_level(const fl_rtp_ext *e, int *voice, uint8_t *level)
{
    if (e->len < 1)
        return FL_EBADMSG;
    *voice = e->data[0] >> 7;
    *level = (uint8_t)(e->data[0] & 0x7f);
    return 0;
}

void fl_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc)
{
    fl_put_be32(pkt + 8, ssrc);
}

void fl_rtp_set_seq(uint8_t *pkt, uint16_t seq)
{
    fl_put_be16(pkt + 2, seq);
}

void fl_rtp_set_timestamp(uint8_t *pkt, uint32_t ts)
{
    fl_put_be32(pkt + 4, ts);
}

void fl_rtp_set_marker(uint8_t *pkt, int marker)
{
    pkt[1] = (uint8_t)((pkt[1] & 0x7f) | (marker ? 0x80 : 0));
}

void fl_rtp_set_payload_type(uint8_t *pkt, uint8_t pt)
{
    pkt[1] = (uint8_t)((pkt[1] & 0x80) | (pt & 0x7f));
}

/* Size of the element data (without padding) and whether two-byte is needed. */
static int ext_block_size(const fl_rtp_header *h, int *two_byte, size_t *size)
{
    int two = h->two_byte;
    for (size_t i = 0; i < h->num_exts; i++) {
        const fl_rtp_ext *e = &h->exts[i];
        if (e->id == 0 || e->len > 255)
            return FL_EINVAL;
        if (e->id > 14 || e->len == 0 || e->len > 16)
            two = 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < h->num_exts; i++)
        n += (two ? 2u : 1u) + h->exts[i].len;
    *two_byte = two;
    *size = (n + 3) & ~(size_t)3;
    return 0;
}

static void ext_block_write(uint8_t *p, const fl_rtp_header *h, int two, size_t size)
{
    fl_put_be16(p, (uint16_t)(two ? FL_RTP_EXT_TWO_BYTE : FL_RTP_EXT_ONE_BYTE));
    fl_put_be16(p + 2, (uint16_t)(size / 4));
    uint8_t *q = p + 4;
    for (size_t i = 0; i < h->num_exts; i++) {
        const fl_rtp_ext *e = &h->exts[i];
        if (two) {
            *q++ = e->id;
            *q++ = (uint8_t)e->len;
        } else {
            *q++ = (uint8_t)(e->id << 4 | (e->len - 1));
        }
        if (e->len)
            memcpy(q, e->data, e->len);
        q += e->len;
    }
    memset(q, 0, (size_t)(p + 4 + size - q));
}

int fl_rtp_write(uint8_t *out,
                 size_t cap,
                 const fl_rtp_header *h,
                 const uint8_t *payload,
                 size_t payload_len,
                 size_t pad_len,
                 size_t *out_len)
{
    if (h->csrc_count > FL_RTP_MAX_CSRC || pad_len > 255 || h->payload_type > 127)
        return FL_EINVAL;
    int two = 0;
    size_t ext = 0;
    if (h->num_exts) {
        int r = ext_block_size(h, &two, &ext);
        if (r < 0)
            return r;
        if (ext / 4 > 0xffff)
            return FL_EINVAL;
    }
    size_t hl = FL_RTP_HEADER_MIN + 4u * h->csrc_count + (h->num_exts ? 4 + ext : 0);
    if (cap < hl || cap - hl < payload_len || cap - hl - payload_len < pad_len)
        return FL_EMSGSIZE;
    out[0] = (uint8_t)(0x80 | (pad_len ? 0x20 : 0) | (h->num_exts ? 0x10 : 0) | h->csrc_count);
    out[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->payload_type);
    fl_put_be16(out + 2, h->seq);
    fl_put_be32(out + 4, h->timestamp);
    fl_put_be32(out + 8, h->ssrc);
    for (size_t i = 0; i < h->csrc_count; i++)
        fl_put_be32(out + 12 + 4 * i, h->csrcs[i]);
    if (h->num_exts)
        ext_block_write(out + 12 + 4u * h->csrc_count, h, two, ext);
    if (payload_len)
        memcpy(out + hl, payload, payload_len);
    if (pad_len) {
        memset(out + hl + payload_len, 0, pad_len - 1);
        out[hl + payload_len + pad_len - 1] = (uint8_t)pad_len;
    }
    *out_len = hl + payload_len + pad_len;
    return 0;
}

int fl_rtp_buf_write(fl_buf *b,
                     size_t reserve,
                     const fl_rtp_header *h,
                     const uint8_t *payload,
                     size_t payload_len)
{
    size_t cap = (size_t)b->cap - b->off, n = 0;
    b->rtp.parsed = 0;
    if (cap < reserve)
        return FL_EMSGSIZE;
    int rc = fl_rtp_write(fl_buf_data(b), cap - reserve, h, payload, payload_len, 0, &n);
    if (rc < 0)
        return rc;
    b->len = (uint32_t)n;
    b->rtp = (fl_buf_rtp){ .ssrc = h->ssrc,
                           .timestamp = h->timestamp,
                           .payload_off = (uint32_t)(n - payload_len),
                           .payload_len = (uint32_t)payload_len,
                           .seq = h->seq,
                           .payload_type = h->payload_type,
                           .marker = h->marker,
                           .parsed = 1 };
    return 0;
}

void fl_rtp_unwrapper_init(fl_rtp_unwrapper *u)
{
    u->last = 0;
    u->started = 0;
}

static uint64_t unwrap(fl_rtp_unwrapper *u, uint64_t v, unsigned bits)
{
    uint64_t range = (uint64_t)1 << bits;
    if (!u->started) {
        u->started = 1;
        u->last = range + v;
        return u->last;
    }
    uint64_t mask = range - 1;
    uint64_t diff = (v - u->last) & mask; /* forward distance mod range */
    uint64_t out;
    if (diff < range / 2)
        out = u->last + diff;
    else
        out = u->last - (range - diff);
    if (out > u->last) /* keep the newest */
        u->last = out;
    return out;
}

uint64_t fl_rtp_seq_unwrap(fl_rtp_unwrapper *u, uint16_t seq)
{
    return unwrap(u, seq, 16);
}

uint64_t fl_rtp_ts_unwrap(fl_rtp_unwrapper *u, uint32_t ts)
{
    return unwrap(u, ts, 32);
}

/* ---- receive statistics (RFC 3550 A.1, A.3, A.8) ---- */

#define RTP_SEQ_MOD (1u << 16)

void fl_rtp_rx_stats_init(fl_rtp_rx_stats *s)
{
    memset(s, 0, sizeof(*s));
}

static void stats_init_seq(fl_rtp_rx_stats *s, uint16_t seq)
{
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = RTP_SEQ_MOD + 1; /* so seq == bad_seq is false */
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
    s->window = 1;
}

static void stats_jitter(fl_rtp_rx_stats *s, uint32_t rtp_ts, uint32_t arrival)
{
    uint32_t transit = arrival - rtp_ts;
    if (s->have_transit) {
        int32_t d = (int32_t)(transit - s->transit);
        uint32_t ad = d < 0 ? (uint32_t) - (int64_t)d : (uint32_t)d;
        /* A.8: J += (|D| - J) / 16, kept scaled by 16. */
        s->jitter_q4 = s->jitter_q4 + ad - ((s->jitter_q4 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = 1;
}

/* Older-than-max packet inside the window: duplicate or reorder. */
static int stats_old(fl_rtp_rx_stats *s, uint16_t udelta)
{
    uint16_t back = (uint16_t)(RTP_SEQ_MOD - udelta);
    if (back < 64) {
        uint64_t bit = (uint64_t)1 << back;
        if (s->window & bit) {
            s->duplicates++;
            return 0;
        }
        s->window |= bit;
    }
    s->out_of_order++;
    return 1;
}

int fl_rtp_rx_stats_update(fl_rtp_rx_stats *s, uint16_t seq, uint32_t rtp_ts, uint32_t arrival)
{
    if (!s->started) {
        stats_init_seq(s, seq);
        s->max_seq = (uint16_t)(seq - 1);
        s->probation = FL_RTP_MIN_SEQUENTIAL;
        s->started = 1;
    }
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (s->probation) {
        if (seq == (uint16_t)(s->max_seq + 1)) {
            s->probation--;
            s->max_seq = seq;
            if (s->probation == 0) {
                stats_init_seq(s, seq);
                s->received++;
                stats_jitter(s, rtp_ts, arrival);
                return 1;
            }
        } else {
            s->probation = FL_RTP_MIN_SEQUENTIAL - 1;
            s->max_seq = seq;
        }
        return 0;
    }
    if (udelta == 0) {
        s->duplicates++;
        return 0;
    }
    if (udelta < FL_RTP_MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += RTP_SEQ_MOD;
        s->window = udelta >= 64 ? 1 : (s->window << udelta) | 1;
        s->max_seq = seq;
    } else if (udelta <= RTP_SEQ_MOD - FL_RTP_MAX_MISORDER) {
        /* A very large jump: two sequential packets make a restart. */
        if (seq == s->bad_seq) {
            stats_init_seq(s, seq);
        } else {
            s->bad_seq = (seq + 1u) & (RTP_SEQ_MOD - 1);
            return 0;
        }
    } else if (!stats_old(s, udelta)) {
        return 0;
    }
    s->received++;
    stats_jitter(s, rtp_ts, arrival);
    return 1;
}

uint32_t fl_rtp_rx_stats_expected(const fl_rtp_rx_stats *s)
{
    uint32_t ext_max = s->cycles + s->max_seq;
    return ext_max - s->base_seq + 1;
}

int64_t fl_rtp_rx_stats_lost(const fl_rtp_rx_stats *s)
{
    return (int64_t)fl_rtp_rx_stats_expected(s) - (int64_t)s->received;
}

void fl_rtp_rx_stats_report(fl_rtp_rx_stats *s, fl_rtp_report *r)
{
    uint32_t expected = fl_rtp_rx_stats_expected(s);
    int64_t lost = fl_rtp_rx_stats_lost(s);
    if (s->probation || !s->started) {
        expected = 0;
        lost = 0;
    }
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    r->cumulative_lost = (int32_t)lost;
    uint32_t exp_int = expected - s->expected_prior;
    uint32_t rec_int = s->received - s->received_prior;
    s->expected_prior = expected;
    s->received_prior = s->received;
    int64_t lost_int = (int64_t)exp_int - (int64_t)rec_int;
    if (exp_int == 0 || lost_int <= 0)
        r->fraction_lost = 0;
    else
        r->fraction_lost = (uint8_t)((lost_int << 8) / exp_int);
    r->ext_highest_seq = s->cycles + s->max_seq;
    r->jitter = s->jitter_q4 >> 4;
}

fl_demux_kind fl_demux_classify(uint8_t b)
{
    if (b <= 3)
        return FL_DEMUX_STUN;
    if (b >= 16 && b <= 19)
        return FL_DEMUX_ZRTP;
    if (b >= 20 && b <= 63)
        return FL_DEMUX_DTLS;
    if (b >= 64 && b <= 79)
        return FL_DEMUX_TURN_CHANNEL;
    if (b >= 128 && b <= 191)
        return FL_DEMUX_RTP;
    return FL_DEMUX_OTHER;
}

int fl_demux_is_rtcp(const uint8_t *data, size_t len)
{
    if (len < 2)
        return 0;
    uint8_t pt = (uint8_t)(data[1] & 0x7f);
    return pt >= 64 && pt <= 95;
}
