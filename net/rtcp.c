/* RTCP parse and write (RFC 3550, 4585, 5104, 5506, REMB, transport-cc). */
#include "net/rtcp.h"

#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "net/rtp.h"

/* Writes the 4-byte header; len is the whole packet, a multiple of 4. */
static void wr_hdr(uint8_t *p, int padding, uint8_t count, uint8_t type, size_t len)
{
    p[0] = (uint8_t)(0x80 | (padding ? 0x20 : 0) | (count & 0x1f));
    p[1] = type;
    fl_put_be16(p + 2, (uint16_t)(len / 4 - 1));
}

int fl_rtcp_pkt_parse(fl_rtcp_pkt *p, const uint8_t *data, size_t len)
{
    memset(p, 0, sizeof(*p));
    if (len < 4)
        return FL_EBADMSG;
    if (data[0] >> 6 != 2)
        return FL_EBADMSG;
    size_t plen = ((size_t)fl_get_be16(data + 2) + 1) * 4;
    if (plen > len)
        return FL_EBADMSG;
    p->data = data;
    p->len = plen;
    p->padding = (uint8_t)((data[0] >> 5) & 1);
    p->count = (uint8_t)(data[0] & 0x1f);
    p->type = data[1];
    p->body = data + 4;
    p->body_len = plen - 4;
    if (p->padding) {
        uint8_t pad = data[plen - 1];
        if (pad == 0 || pad > p->body_len)
            return FL_EBADMSG;
        p->body_len -= pad;
    }
    return 0;
}

void fl_rtcp_iter_init(fl_rtcp_iter *it, const uint8_t *data, size_t len)
{
    it->data = data;
    it->len = len;
    it->off = 0;
    it->err = 0;
}

int fl_rtcp_iter_next(fl_rtcp_iter *it, fl_rtcp_pkt *p)
{
    if (it->err)
        return it->err;
    if (it->off >= it->len)
        return 0;
    int r = fl_rtcp_pkt_parse(p, it->data + it->off, it->len - it->off);
    if (r < 0) {
        it->err = r;
        return r;
    }
    it->off += p->len;
    return 1;
}

int fl_rtcp_compound_check(const uint8_t *data, size_t len, int *reduced)
{
    fl_rtcp_iter it;
    fl_rtcp_pkt p;
    int r, first = 1;
    *reduced = 0;
    if (len == 0)
        return FL_EBADMSG;
    fl_rtcp_iter_init(&it, data, len);
    while ((r = fl_rtcp_iter_next(&it, &p)) == 1) {
        if (first && p.type != FL_RTCP_SR && p.type != FL_RTCP_RR)
            *reduced = 1;
        first = 0;
    }
    return r;
}

/* ---- SR / RR ---- */

static void rb_parse(const uint8_t *b, fl_rtcp_report_block *rb)
{
    rb->ssrc = fl_get_be32(b);
    rb->fraction_lost = b[4];
    uint32_t cl = fl_get_be24(b + 5);
    rb->cumulative_lost = (cl & 0x800000u) ? (int32_t)cl - 0x1000000 : (int32_t)cl;
    rb->ext_highest_seq = fl_get_be32(b + 8);
    rb->jitter = fl_get_be32(b + 12);
    rb->lsr = fl_get_be32(b + 16);
    rb->dlsr = fl_get_be32(b + 20);
}

static void rb_write(uint8_t *b, const fl_rtcp_report_block *rb)
{
    int32_t cl = rb->cumulative_lost;
    if (cl > 0x7fffff)
        cl = 0x7fffff;
    if (cl < -0x800000)
        cl = -0x800000;
    fl_put_be32(b, rb->ssrc);
    b[4] = rb->fraction_lost;
    fl_put_be24(b + 5, (uint32_t)cl & 0xffffffu);
    fl_put_be32(b + 8, rb->ext_highest_seq);
    fl_put_be32(b + 12, rb->jitter);
    fl_put_be32(b + 16, rb->lsr);
    fl_put_be32(b + 20, rb->dlsr);
}

static int reports_parse(const fl_rtcp_pkt *p,
                         size_t off,
                         fl_rtcp_report_block *rbs,
                         size_t *n,
                         const uint8_t **ext,
                         size_t *ext_len)
{
    if (p->body_len < off + 24u * p->count)
        return FL_EBADMSG;
    for (size_t i = 0; i < p->count; i++)
        rb_parse(p->body + off + 24 * i, &rbs[i]);
    *n = p->count;
    off += 24u * p->count;
    *ext = p->body_len > off ? p->body + off : NULL;
    *ext_len = p->body_len - off;
    return 0;
}

int fl_rtcp_sr_parse(const fl_rtcp_pkt *p, fl_rtcp_sr *sr)
{
    if (p->type != FL_RTCP_SR || p->body_len < 24)
        return FL_EBADMSG;
    sr->ssrc = fl_get_be32(p->body);
    sr->ntp = (uint64_t)fl_get_be32(p->body + 4) << 32 | fl_get_be32(p->body + 8);
    sr->rtp_ts = fl_get_be32(p->body + 12);
    sr->packet_count = fl_get_be32(p->body + 16);
    sr->octet_count = fl_get_be32(p->body + 20);
    return reports_parse(p, 24, sr->reports, &sr->num_reports, &sr->ext, &sr->ext_len);
}

static int reports_write(uint8_t *out,
                         size_t cap,
                         uint8_t type,
                         size_t fixed,
                         size_t n,
                         const fl_rtcp_report_block *rbs,
                         const uint8_t *ext,
                         size_t ext_len,
                         size_t *out_len)
{
    if (n > FL_RTCP_MAX_COUNT || ext_len % 4)
        return FL_EINVAL;
    size_t len = 4 + fixed + 24 * n + ext_len;
    if (len > cap)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, (uint8_t)n, type, len);
    for (size_t i = 0; i < n; i++)
        rb_write(out + 4 + fixed + 24 * i, &rbs[i]);
    if (ext_len)
        memcpy(out + 4 + fixed + 24 * n, ext, ext_len);
    *out_len = len;
    return 0;
}

int fl_rtcp_sr_write(uint8_t *out, size_t cap, const fl_rtcp_sr *sr, size_t *out_len)
{
    int r = reports_write(out, cap, FL_RTCP_SR, 24, sr->num_reports, sr->reports, sr->ext,
                          sr->ext_len, out_len);
    if (r < 0)
        return r;
    fl_put_be32(out + 4, sr->ssrc);
    fl_put_be32(out + 8, (uint32_t)(sr->ntp >> 32));
    fl_put_be32(out + 12, (uint32_t)sr->ntp);
    fl_put_be32(out + 16, sr->rtp_ts);
    fl_put_be32(out + 20, sr->packet_count);
    fl_put_be32(out + 24, sr->octet_count);
    return 0;
}

int fl_rtcp_rr_parse(const fl_rtcp_pkt *p, fl_rtcp_rr *rr)
{
    if (p->type != FL_RTCP_RR || p->body_len < 4)
        return FL_EBADMSG;
    rr->ssrc = fl_get_be32(p->body);
    return reports_parse(p, 4, rr->reports, &rr->num_reports, &rr->ext, &rr->ext_len);
}

int fl_rtcp_rr_write(uint8_t *out, size_t cap, const fl_rtcp_rr *rr, size_t *out_len)
{
    int r = reports_write(out, cap, FL_RTCP_RR, 4, rr->num_reports, rr->reports, rr->ext,
                          rr->ext_len, out_len);
    if (r < 0)
        return r;
    fl_put_be32(out + 4, rr->ssrc);
    return 0;
}

/* ---- SDES ---- */

static int sdes_chunk_parse(const uint8_t *b, size_t len, size_t *off, fl_rtcp_sdes_chunk *c)
{
    size_t o = *off;
    if (len - o < 4)
        return FL_EBADMSG;
    c->ssrc = fl_get_be32(b + o);
    o += 4;
    c->num_items = 0;
    for (;;) {
        if (o >= len)
            return FL_EBADMSG; /* no terminating null item */
        if (b[o] == 0)
            break;
        if (len - o < 2 || len - o - 2 < b[o + 1])
            return FL_EBADMSG;
        if (c->num_items == FL_RTCP_SDES_MAX_ITEMS)
            return FL_ENOTSUP;
        fl_rtcp_sdes_item *it = &c->items[c->num_items++];
        it->type = b[o];
        it->len = b[o + 1];
        it->data = b + o + 2;
        o += 2u + it->len;
    }
    /* The null item, then nulls up to the next 32-bit boundary. */
    o = (o + 4) & ~(size_t)3;
    if (o > len)
        return FL_EBADMSG;
    *off = o;
    return 0;
}

int fl_rtcp_sdes_parse(const fl_rtcp_pkt *p, fl_rtcp_sdes *s)
{
    if (p->type != FL_RTCP_SDES)
        return FL_EBADMSG;
    size_t off = 0;
    s->num_chunks = p->count;
    for (size_t i = 0; i < p->count; i++) {
        int r = sdes_chunk_parse(p->body, p->body_len, &off, &s->chunks[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

int fl_rtcp_sdes_write(uint8_t *out, size_t cap, const fl_rtcp_sdes *s, size_t *out_len)
{
    if (s->num_chunks > FL_RTCP_MAX_COUNT)
        return FL_EINVAL;
    size_t len = 4;
    for (size_t i = 0; i < s->num_chunks; i++) {
        const fl_rtcp_sdes_chunk *c = &s->chunks[i];
        if (c->num_items > FL_RTCP_SDES_MAX_ITEMS)
            return FL_EINVAL;
        size_t n = 4;
        for (size_t j = 0; j < c->num_items; j++) {
            if (c->items[j].type == 0)
                return FL_EINVAL;
            n += 2u + c->items[j].len;
        }
        len += (n + 4) & ~(size_t)3;
    }
    if (len > cap || len / 4 - 1 > 0xffff)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, (uint8_t)s->num_chunks, FL_RTCP_SDES, len);
    size_t o = 4;
    for (size_t i = 0; i < s->num_chunks; i++) {
        const fl_rtcp_sdes_chunk *c = &s->chunks[i];
        fl_put_be32(out + o, c->ssrc);
        o += 4;
        for (size_t j = 0; j < c->num_items; j++) {
            out[o] = c->items[j].type;
            out[o + 1] = c->items[j].len;
            if (c->items[j].len)
                memcpy(out + o + 2, c->items[j].data, c->items[j].len);
            o += 2u + c->items[j].len;
        }
        size_t end = (o + 4) & ~(size_t)3;
        memset(out + o, 0, end - o);
        o = end;
    }
    *out_len = len;
    return 0;
}

int fl_rtcp_sdes_cname(const fl_rtcp_sdes_chunk *c, const char **s, size_t *len)
{
    for (size_t i = 0; i < c->num_items; i++) {
        if (c->items[i].type == FL_RTCP_SDES_CNAME) {
            *s = (const char *)c->items[i].data;
            *len = c->items[i].len;
            return 0;
        }
    }
    return FL_ENOENT;
}

/* ---- BYE, APP ---- */

int fl_rtcp_bye_parse(const fl_rtcp_pkt *p, fl_rtcp_bye *b)
{
    if (p->type != FL_RTCP_BYE || p->body_len < 4u * p->count)
        return FL_EBADMSG;
    b->num_ssrcs = p->count;
    for (size_t i = 0; i < p->count; i++)
        b->ssrcs[i] = fl_get_be32(p->body + 4 * i);
    b->reason = NULL;
    b->reason_len = 0;
    size_t off = 4u * p->count;
    if (p->body_len > off) {
        uint8_t n = p->body[off];
        if (p->body_len - off - 1 < n)
            return FL_EBADMSG;
        b->reason = p->body + off + 1;
        b->reason_len = n;
    }
    return 0;
}

int fl_rtcp_bye_write(uint8_t *out, size_t cap, const fl_rtcp_bye *b, size_t *out_len)
{
    if (b->num_ssrcs > FL_RTCP_MAX_COUNT)
        return FL_EINVAL;
    size_t rl = b->reason ? (1u + b->reason_len + 3) & ~(size_t)3 : 0;
    size_t len = 4 + 4 * b->num_ssrcs + rl;
    if (len > cap)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, (uint8_t)b->num_ssrcs, FL_RTCP_BYE, len);
    for (size_t i = 0; i < b->num_ssrcs; i++)
        fl_put_be32(out + 4 + 4 * i, b->ssrcs[i]);
    if (rl) {
        uint8_t *r = out + 4 + 4 * b->num_ssrcs;
        memset(r, 0, rl);
        r[0] = b->reason_len;
        if (b->reason_len)
            memcpy(r + 1, b->reason, b->reason_len);
    }
    *out_len = len;
    return 0;
}

int fl_rtcp_app_parse(const fl_rtcp_pkt *p, fl_rtcp_app *a)
{
    if (p->type != FL_RTCP_APP || p->body_len < 8)
        return FL_EBADMSG;
    a->subtype = p->count;
    a->ssrc = fl_get_be32(p->body);
    memcpy(a->name, p->body + 4, 4);
    a->data = p->body + 8;
    a->len = p->body_len - 8;
    return 0;
}

int fl_rtcp_app_write(uint8_t *out, size_t cap, const fl_rtcp_app *a, size_t *out_len)
{
    if (a->subtype > 31)
        return FL_EINVAL;
    size_t dl = (a->len + 3) & ~(size_t)3;
    size_t len = 12 + dl;
    if (len > cap || len / 4 - 1 > 0xffff)
        return FL_EMSGSIZE;
    int pad = dl != a->len;
    wr_hdr(out, pad, a->subtype, FL_RTCP_APP, len);
    fl_put_be32(out + 4, a->ssrc);
    memcpy(out + 8, a->name, 4);
    if (a->len)
        memcpy(out + 12, a->data, a->len);
    if (pad) {
        memset(out + 12 + a->len, 0, dl - a->len);
        out[len - 1] = (uint8_t)(dl - a->len);
    }
    *out_len = len;
    return 0;
}

/* ---- feedback ---- */

int fl_rtcp_fb_parse(const fl_rtcp_pkt *p, fl_rtcp_fb *fb)
{
    if ((p->type != FL_RTCP_RTPFB && p->type != FL_RTCP_PSFB) || p->body_len < 8)
        return FL_EBADMSG;
    fb->fmt = p->count;
    fb->type = p->type;
    fb->sender_ssrc = fl_get_be32(p->body);
    fb->media_ssrc = fl_get_be32(p->body + 4);
    fb->fci = p->body + 8;
    fb->fci_len = p->body_len - 8;
    return 0;
}

int fl_rtcp_fb_write(uint8_t *out, size_t cap, const fl_rtcp_fb *fb, size_t *out_len)
{
    if (fb->fmt > 31 || fb->fci_len % 4)
        return FL_EINVAL;
    size_t len = 12 + fb->fci_len;
    if (len > cap || len / 4 - 1 > 0xffff)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, fb->fmt, fb->type, len);
    fl_put_be32(out + 4, fb->sender_ssrc);
    fl_put_be32(out + 8, fb->media_ssrc);
    if (fb->fci_len)
        memcpy(out + 12, fb->fci, fb->fci_len);
    *out_len = len;
    return 0;
}

size_t fl_rtcp_nack_count(const fl_rtcp_fb *fb)
{
    return fb->fci_len / 4;
}

void fl_rtcp_nack_item(const fl_rtcp_fb *fb, size_t i, uint16_t *pid, uint16_t *blp)
{
    *pid = fl_get_be16(fb->fci + 4 * i);
    *blp = fl_get_be16(fb->fci + 4 * i + 2);
}

size_t fl_rtcp_nack_expand(const fl_rtcp_fb *fb, uint16_t *seqs, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < fl_rtcp_nack_count(fb); i++) {
        uint16_t pid, blp;
        fl_rtcp_nack_item(fb, i, &pid, &blp);
        if (n < cap)
            seqs[n] = pid;
        n++;
        for (unsigned b = 0; b < 16; b++) {
            if (!(blp & (1u << b)))
                continue;
            if (n < cap)
                seqs[n] = (uint16_t)(pid + b + 1);
            n++;
        }
    }
    return n;
}

int fl_rtcp_nack_write(uint8_t *out,
                       size_t cap,
                       uint32_t sender_ssrc,
                       uint32_t media_ssrc,
                       const uint16_t *lost,
                       size_t n,
                       size_t *out_len)
{
    if (cap < 12)
        return FL_EMSGSIZE;
    size_t o = 12;
    size_t i = 0;
    while (i < n) {
        uint16_t pid = lost[i++];
        uint16_t blp = 0;
        while (i < n) {
            uint16_t d = (uint16_t)(lost[i] - pid);
            if (d == 0) { /* repeated entry */
                i++;
                continue;
            }
            if (d > 16)
                break;
            blp = (uint16_t)(blp | (1u << (d - 1)));
            i++;
        }
        if (cap - o < 4 || o / 4 > 0xffff)
            return FL_EMSGSIZE;
        fl_put_be16(out + o, pid);
        fl_put_be16(out + o + 2, blp);
        o += 4;
    }
    wr_hdr(out, 0, FL_RTCP_FMT_NACK, FL_RTCP_RTPFB, o);
    fl_put_be32(out + 4, sender_ssrc);
    fl_put_be32(out + 8, media_ssrc);
    *out_len = o;
    return 0;
}

size_t fl_rtcp_fir_count(const fl_rtcp_fb *fb)
{
    return fb->fci_len / 8;
}

void fl_rtcp_fir_get(const fl_rtcp_fb *fb, size_t i, fl_rtcp_fir_entry *e)
{
    e->ssrc = fl_get_be32(fb->fci + 8 * i);
    e->seq = fb->fci[8 * i + 4];
}

int fl_rtcp_fir_write(uint8_t *out,
                      size_t cap,
                      uint32_t sender_ssrc,
                      const fl_rtcp_fir_entry *entries,
                      size_t n,
                      size_t *out_len)
{
    if (n > 8000)
        return FL_EINVAL;
    size_t len = 12 + 8 * n;
    if (len > cap)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, FL_RTCP_FMT_FIR, FL_RTCP_PSFB, len);
    fl_put_be32(out + 4, sender_ssrc);
    fl_put_be32(out + 8, 0); /* RFC 5104: media source SSRC unused, 0 */
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = out + 12 + 8 * i;
        fl_put_be32(e, entries[i].ssrc);
        e[4] = entries[i].seq;
        e[5] = e[6] = e[7] = 0;
    }
    *out_len = len;
    return 0;
}

/* ---- REMB ---- */

int fl_rtcp_remb_parse(const fl_rtcp_fb *fb, fl_rtcp_remb *r)
{
    if (fb->type != FL_RTCP_PSFB || fb->fmt != FL_RTCP_FMT_AFB || fb->fci_len < 8 ||
        memcmp(fb->fci, "REMB", 4) != 0)
        return FL_ENOENT;
    size_t n = fb->fci[4];
    if (fb->fci_len - 8 < 4 * n)
        return FL_EBADMSG;
    r->sender_ssrc = fb->sender_ssrc;
    r->exp = (uint8_t)(fb->fci[5] >> 2);
    r->mantissa = fl_get_be24(fb->fci + 5) & 0x3ffffu;
    r->num_ssrcs = n;
    for (size_t i = 0; i < n; i++)
        r->ssrcs[i] = fl_get_be32(fb->fci + 8 + 4 * i);
    return 0;
}

uint64_t fl_rtcp_remb_bitrate(const fl_rtcp_remb *r)
{
    if (r->exp > 46) /* 18 + 46 bits: saturate */
        return UINT64_MAX;
    return (uint64_t)r->mantissa << r->exp;
}

void fl_rtcp_remb_set_bitrate(fl_rtcp_remb *r, uint64_t bps)
{
    uint8_t e = 0;
    while ((bps >> e) > 0x3ffffu && e < 63)
        e++;
    r->exp = e;
    r->mantissa = (uint32_t)(bps >> e) & 0x3ffffu;
}

int fl_rtcp_remb_write(uint8_t *out, size_t cap, const fl_rtcp_remb *r, size_t *out_len)
{
    if (r->num_ssrcs > FL_RTCP_REMB_MAX_SSRCS || r->exp > 63 || r->mantissa > 0x3ffffu)
        return FL_EINVAL;
    size_t len = 20 + 4 * r->num_ssrcs;
    if (len > cap)
        return FL_EMSGSIZE;
    wr_hdr(out, 0, FL_RTCP_FMT_AFB, FL_RTCP_PSFB, len);
    fl_put_be32(out + 4, r->sender_ssrc);
    fl_put_be32(out + 8, 0);
    memcpy(out + 12, "REMB", 4);
    out[16] = (uint8_t)r->num_ssrcs;
    fl_put_be24(out + 17, (uint32_t)r->exp << 18 | r->mantissa);
    for (size_t i = 0; i < r->num_ssrcs; i++)
        fl_put_be32(out + 20 + 4 * i, r->ssrcs[i]);
    *out_len = len;
    return 0;
}

/* ---- transport-wide congestion control ---- */

/* Decodes the status chunks into pkts[0..count).symbol;
 * returns the offset after the chunks or a negative error. */
static int twcc_chunks(const uint8_t *b,
                       size_t len,
                       size_t count,
                       fl_rtcp_twcc_packet *pkts,
                       size_t *off)
{
    size_t o = *off, k = 0;
    while (k < count) {
        if (len - o < 2)
            return FL_EBADMSG;
        uint16_t c = fl_get_be16(b + o);
        o += 2;
        if (!(c & 0x8000)) { /* run length: 2-bit symbol, 13-bit length */
            uint8_t sym = (uint8_t)((c >> 13) & 3);
            size_t run = c & 0x1fffu;
            if (run == 0 || sym == 3)
                return FL_EBADMSG;
            for (size_t i = 0; i < run && k < count; i++, k++)
                pkts[k].symbol = sym;
        } else if (!(c & 0x4000)) { /* 14 one-bit symbols */
            for (int i = 13; i >= 0 && k < count; i--, k++)
                pkts[k].symbol = (uint8_t)((c >> i) & 1);
        } else { /* 7 two-bit symbols */
            for (int i = 6; i >= 0 && k < count; i--, k++) {
                uint8_t sym = (uint8_t)((c >> (2 * i)) & 3);
                if (sym == 3)
                    return FL_EBADMSG;
                pkts[k].symbol = sym;
            }
        }
    }
    *off = o;
    return 0;
}

int fl_rtcp_twcc_parse(const fl_rtcp_fb *fb,
                       fl_rtcp_twcc *t,
                       fl_rtcp_twcc_packet *pkts,
                       size_t cap,
                       size_t *n)
{
    if (fb->type != FL_RTCP_RTPFB || fb->fmt != FL_RTCP_FMT_TWCC || fb->fci_len < 8)
        return FL_EBADMSG;
    const uint8_t *b = fb->fci;
    size_t len = fb->fci_len;
    t->sender_ssrc = fb->sender_ssrc;
    t->media_ssrc = fb->media_ssrc;
    t->base_seq = fl_get_be16(b);
    t->status_count = fl_get_be16(b + 2);
    uint32_t ref = fl_get_be24(b + 4);
    t->ref_time = (ref & 0x800000u) ? (int32_t)ref - 0x1000000 : (int32_t)ref;
    t->fb_count = b[7];
    size_t count = t->status_count;
    *n = count;
    size_t o = 8;
    if (count == 0)
        return FL_EBADMSG;
    if (count > cap)
        return FL_EMSGSIZE;
    int r = twcc_chunks(b, len, count, pkts, &o);
    if (r < 0)
        return r;
    int64_t t_us = (int64_t)t->ref_time * FL_RTCP_TWCC_REF_US;
    for (size_t k = 0; k < count; k++) {
        fl_rtcp_twcc_packet *p = &pkts[k];
        p->seq = (uint16_t)(t->base_seq + k);
        p->delta = 0;
        if (p->symbol == FL_RTCP_TWCC_SMALL_DELTA) {
            if (len - o < 1)
                return FL_EBADMSG;
            p->delta = b[o];
            o += 1;
        } else if (p->symbol == FL_RTCP_TWCC_LARGE_DELTA) {
            if (len - o < 2)
                return FL_EBADMSG;
            p->delta = (int16_t)fl_get_be16(b + o);
            o += 2;
        }
        t_us += (int64_t)p->delta * FL_RTCP_TWCC_DELTA_US;
        p->arrival_us = p->symbol == FL_RTCP_TWCC_NOT_RECEIVED ? 0 : t_us;
    }
    return 0;
}

/* Status chunk encoder. Symbols are gathered until the next one no longer
 * fits any chunk type; then the gathered ones go out as a run-length chunk
 * if all equal, as 14 one-bit symbols if there are 14, else as 7 two-bit
 * symbols with the rest kept. This is the layout libwebrtc produces, so
 * its feedback parses and writes back to the same bytes. */
typedef struct twcc_enc {
    uint8_t syms[14];
    size_t size;
    int all_same;
    int has_large;
    uint8_t *out;
    size_t cap;
    size_t o;
    int err;
} twcc_enc;

static void enc_put(twcc_enc *e, uint16_t c)
{
    if (e->cap - e->o < 2) {
        e->err = FL_EMSGSIZE;
        return;
    }
    fl_put_be16(e->out + e->o, c);
    e->o += 2;
}

static void enc_vector(twcc_enc *e, size_t n, int two_bit)
{
    unsigned v = two_bit ? 0xc000u : 0x8000u;
    for (size_t k = 0; k < n; k++) {
        if (two_bit)
            v |= (unsigned)e->syms[k] << (2 * (6 - k));
        else
            v |= (unsigned)e->syms[k] << (13 - k);
    }
    enc_put(e, (uint16_t)v);
}

static void enc_reset_flags(twcc_enc *e)
{
    e->all_same = 1;
    e->has_large = 0;
    for (size_t k = 0; k < e->size; k++) {
        e->all_same &= e->syms[k] == e->syms[0];
        e->has_large |= e->syms[k] == FL_RTCP_TWCC_LARGE_DELTA;
    }
}

static int enc_can_add(const twcc_enc *e, uint8_t s)
{
    if (e->size < 7)
        return 1;
    if (e->size < 14 && !e->has_large && s != FL_RTCP_TWCC_LARGE_DELTA)
        return 1;
    return e->all_same && s == e->syms[0] && e->size < 0x1fff;
}

static void enc_emit(twcc_enc *e)
{
    if (e->all_same) {
        enc_put(e, (uint16_t)((unsigned)e->syms[0] << 13 | e->size));
        e->size = 0;
    } else if (e->size == 14) {
        enc_vector(e, 14, 0);
        e->size = 0;
    } else {
        enc_vector(e, 7, 1);
        memmove(e->syms, e->syms + 7, e->size - 7);
        e->size -= 7;
    }
    enc_reset_flags(e);
}

static void enc_add(twcc_enc *e, uint8_t s)
{
    if (!enc_can_add(e, s))
        enc_emit(e);
    if (e->size < 14)
        e->syms[e->size] = s;
    e->all_same = (e->size == 0 || e->all_same) && s == e->syms[0];
    e->has_large |= s == FL_RTCP_TWCC_LARGE_DELTA;
    e->size++;
}

static void enc_finish(twcc_enc *e)
{
    if (e->size == 0)
        return;
    if (e->all_same)
        enc_put(e, (uint16_t)((unsigned)e->syms[0] << 13 | e->size));
    else if (e->size <= 7)
        enc_vector(e, e->size, 1);
    else
        enc_vector(e, e->size, 0);
}

int fl_rtcp_twcc_write(uint8_t *out,
                       size_t cap,
                       const fl_rtcp_twcc *t,
                       const fl_rtcp_twcc_packet *pkts,
                       size_t n,
                       size_t *out_len)
{
    if (n == 0 || n > 0xffff)
        return FL_EINVAL;
    if (cap < 20)
        return FL_EMSGSIZE;
    twcc_enc e = { .all_same = 1, .out = out, .cap = cap, .o = 20 };
    for (size_t i = 0; i < n && !e.err; i++) {
        if (pkts[i].symbol > 2)
            return FL_EINVAL;
        enc_add(&e, pkts[i].symbol);
    }
    if (!e.err)
        enc_finish(&e);
    if (e.err)
        return e.err;
    size_t o = e.o;
    for (size_t i = 0; i < n; i++) {
        int32_t d = pkts[i].delta;
        if (pkts[i].symbol == FL_RTCP_TWCC_SMALL_DELTA) {
            if (d < 0 || d > 255)
                return FL_EINVAL;
            if (cap - o < 1)
                return FL_EMSGSIZE;
            out[o++] = (uint8_t)d;
        } else if (pkts[i].symbol == FL_RTCP_TWCC_LARGE_DELTA) {
            if (d < INT16_MIN || d > INT16_MAX)
                return FL_EINVAL;
            if (cap - o < 2)
                return FL_EMSGSIZE;
            fl_put_be16(out + o, (uint16_t)(int16_t)d);
            o += 2;
        }
    }
    size_t len = (o + 3) & ~(size_t)3;
    if (len > cap || len / 4 - 1 > 0xffff)
        return FL_EMSGSIZE;
    int pad = len != o;
    if (pad) {
        memset(out + o, 0, len - o);
        out[len - 1] = (uint8_t)(len - o);
    }
    wr_hdr(out, pad, FL_RTCP_FMT_TWCC, FL_RTCP_RTPFB, len);
    fl_put_be32(out + 4, t->sender_ssrc);
    fl_put_be32(out + 8, t->media_ssrc);
    fl_put_be16(out + 12, t->base_seq);
    fl_put_be16(out + 14, (uint16_t)n);
    fl_put_be24(out + 16, (uint32_t)t->ref_time & 0xffffffu);
    out[19] = t->fb_count;
    *out_len = len;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int fl_rtcp_twcc_build(uint8_t *out,
                       size_t cap,
                       uint32_t sender_ssrc,
                       uint32_t media_ssrc,
                       uint8_t fb_count,
                       const uint16_t *seqs,
                       const int64_t *arrival_us,
                       size_t n,
                       size_t *out_len)
{
    if (n == 0)
        return FL_EINVAL;
    for (size_t i = 1; i < n; i++) {
        if (!fl_rtp_seq_lt(seqs[i - 1], seqs[i]))
            return FL_EINVAL;
    }
    size_t span = (size_t)(uint16_t)(seqs[n - 1] - seqs[0]) + 1;
    if (span > FL_RTCP_TWCC_BUILD_MAX)
        return FL_ERANGE;
    fl_rtcp_twcc_packet pkts[FL_RTCP_TWCC_BUILD_MAX];
    fl_rtcp_twcc t = { .sender_ssrc = sender_ssrc,
                       .media_ssrc = media_ssrc,
                       .base_seq = seqs[0],
                       .fb_count = fb_count };
    int64_t ref = floor_div(arrival_us[0], FL_RTCP_TWCC_REF_US);
    /* The 24-bit field wraps; deltas are relative to the full value. */
    t.ref_time = (int32_t)(ref & 0x7fffff) - (int32_t)(ref & 0x800000);
    int64_t last = ref * (FL_RTCP_TWCC_REF_US / FL_RTCP_TWCC_DELTA_US);
    size_t j = 0;
    for (size_t k = 0; k < span; k++) {
        fl_rtcp_twcc_packet *p = &pkts[k];
        p->seq = (uint16_t)(seqs[0] + k);
        p->symbol = FL_RTCP_TWCC_NOT_RECEIVED;
        p->delta = 0;
        p->arrival_us = 0;
        if (j < n && seqs[j] == p->seq) {
            int64_t q = floor_div(arrival_us[j], FL_RTCP_TWCC_DELTA_US);
            int64_t d = q - last;
            if (d < INT16_MIN || d > INT16_MAX)
                return FL_ERANGE;
            p->delta = (int32_t)d;
            p->symbol = (d >= 0 && d <= 255) ? FL_RTCP_TWCC_SMALL_DELTA : FL_RTCP_TWCC_LARGE_DELTA;
            p->arrival_us = arrival_us[j];
            last = q;
            j++;
        }
    }
    return fl_rtcp_twcc_write(out, cap, &t, pkts, span, out_len);
}

int64_t fl_rtcp_rtt_us(uint32_t arrival_mid, uint32_t lsr, uint32_t dlsr)
{
    if (lsr == 0)
        return -1;
    uint32_t rtt = arrival_mid - lsr - dlsr;
    if ((int32_t)rtt < 0)
        return 0;
    return (int64_t)(((uint64_t)rtt * 1000000u) >> 16);
}
