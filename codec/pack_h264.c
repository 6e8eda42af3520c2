/* H.264 packetizer (RFC 6184, packetization-mode 1).
 *
 * An access unit comes in with its NAL units length-prefixed (1, 2 or 4
 * bytes, as MP4 and Matroska store them) or in Annex B form (start codes
 * 00 00 01 or 00 00 00 01). Access unit delimiters (type 9) and filler data
 * (12) are dropped, and so are NAL unit types 0 and 24-31, which RTP uses
 * for its own packet types. A key frame (an IDR slice, or in->key) whose
 * access unit lacks an SPS or a PPS gets the missing ones first, the latest
 * seen in the stream or the config's.
 *
 * Payloads: NAL units that fit in max_payload are sent alone, or several
 * in a row in one STAP-A (5.7.1: F the OR of theirs, NRI the highest) while
 * they fit; a larger one as FU-A fragments (5.8: FU indicator |F|NRI|28|,
 * FU header |S|E|R|type|, the NAL header byte not repeated). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "codec/codec.h"
#include "codec/codec_int.h"
#include "codec/pack_int.h"

#define NALS_MIN 16

/* What an access unit holds, as it is parsed. */
typedef struct au_info {
    int idr, sps, pps;
    const uint8_t *last_sps, *last_pps;
    size_t last_sps_len, last_pps_len;
} au_info;

static int nals_reserve(fl_pack *p, size_t n)
{
    if (p->nals_cap - p->nnals >= n)
        return 0;
    size_t cap = p->nals_cap ? p->nals_cap : NALS_MIN;
    while (cap - p->nnals < n)
        cap *= 2;
    fl__pack_nal *q = realloc(p->nals, cap * sizeof(*q));
    if (!q)
        return FL_ENOMEM;
    p->nals = q;
    p->nals_cap = cap;
    return 0;
}

/* Takes one NAL unit of the access unit (or drops it). */
static int add_nal(fl_pack *p, au_info *au, const uint8_t *nal, size_t len)
{
    unsigned type = nal[0] & FL__H264_NAL_TYPE;
    if (type == 0 || type >= FL__H264_NAL_STAP_A || type == FL__H264_NAL_AUD ||
        type == FL__H264_NAL_FILLER)
        return 0;
    if (type == FL__H264_NAL_IDR) {
        au->idr = 1;
    } else if (type == FL__H264_NAL_SPS) {
        au->sps = 1;
        au->last_sps = nal;
        au->last_sps_len = len;
    } else if (type == FL__H264_NAL_PPS) {
        au->pps = 1;
        au->last_pps = nal;
        au->last_pps_len = len;
    }
    int r = nals_reserve(p, 1);
    if (r != 0)
        return r;
    p->nals[p->nnals++] = (fl__pack_nal){ nal, len };
    return 0;
}

static int parse_prefixed(fl_pack *p, au_info *au, const uint8_t *d, size_t len)
{
    size_t nls = p->nal_length_size;
    for (size_t at = 0; at < len;) {
        if (len - at < nls)
            return FL_EBADMSG;
        size_t n = 0;
        for (size_t k = 0; k < nls; k++)
            n = n << 8 | d[at + k];
        at += nls;
        if (n > len - at)
            return FL_EBADMSG;
        if (n > 0) {
            int r = add_nal(p, au, d + at, n);
            if (r != 0)
                return r;
        }
        at += n;
    }
    return 0;
}

/* Offset of the next start code (00 00 01) at or after `from`, or len. */
static size_t find_start(const uint8_t *d, size_t len, size_t from)
{
    for (size_t i = from + 2; i < len;) {
        const uint8_t *one = memchr(d + i, 1, len - i);
        if (!one)
            break;
        i = (size_t)(one - d);
        if (d[i - 1] == 0 && d[i - 2] == 0)
            return i - 2;
        i++;
    }
    return len;
}

static int parse_annexb(fl_pack *p, au_info *au, const uint8_t *d, size_t len)
{
    size_t sc = find_start(d, len, 0);
    if (sc == len)
        return FL_EBADMSG;
    for (size_t k = 0; k < sc; k++) /* only zero bytes before the first */
        if (d[k] != 0)
            return FL_EBADMSG;
    for (size_t at = sc + 3; at < len;) {
        size_t next = find_start(d, len, at), end = next;
        while (end > at && d[end - 1] == 0) /* a NAL unit never ends in 00 */
            end--;
        if (end > at) {
            int r = add_nal(p, au, d + at, end - at);
            if (r != 0)
                return r;
        }
        at = next + 3;
    }
    return 0;
}

void fl__pack_h264_keep(fl_pack *p, const uint8_t *nal, size_t len)
{
    if (len == 0 || len > FL__PACK_MAX_PARAM_SET)
        return;
    unsigned type = nal[0] & FL__H264_NAL_TYPE;
    if (type == FL__H264_NAL_SPS) {
        memcpy(p->sps, nal, len);
        p->sps_len = len;
    } else if (type == FL__H264_NAL_PPS) {
        memcpy(p->pps, nal, len);
        p->pps_len = len;
    }
}

/* Puts the kept parameter sets the key frame lacks in front of it. */
static int prepend_params(fl_pack *p, const au_info *au)
{
    fl__pack_nal add[2];
    size_t n = 0;
    if (!au->sps && p->sps_len)
        add[n++] = (fl__pack_nal){ p->sps, p->sps_len };
    if (!au->pps && p->pps_len)
        add[n++] = (fl__pack_nal){ p->pps, p->pps_len };
    if (n == 0)
        return 0;
    int r = nals_reserve(p, n);
    if (r != 0)
        return r;
    memmove(p->nals + n, p->nals, p->nnals * sizeof(*p->nals));
    memcpy(p->nals, add, n * sizeof(*add));
    p->nnals += n;
    return 0;
}

int fl__pack_h264_frame(fl_pack *p, const fl_pack_input *in)
{
    p->nnals = 0;
    p->nal = 0;
    p->fu_at = 0;
    int r = fl__pack_copy_frame(p, in);
    if (r != 0)
        return r;

    au_info au = { 0 };
    if (p->nal_length_size)
        r = parse_prefixed(p, &au, p->frame.p, p->frame.len);
    else
        r = parse_annexb(p, &au, p->frame.p, p->frame.len);
    if (r == 0 && p->nnals == 0)
        r = FL_EBADMSG; /* nothing to send */
    if (r == 0 && (au.idr || in->key) && !(au.sps && au.pps))
        r = prepend_params(p, &au);
    if (r != 0) {
        p->nnals = 0;
        return r;
    }
    if (au.sps)
        fl__pack_h264_keep(p, au.last_sps, au.last_sps_len);
    if (au.pps)
        fl__pack_h264_keep(p, au.last_pps, au.last_pps_len);
    return 0;
}

/* nals[first..end) in one STAP-A. */
static size_t write_stap_a(const fl_pack *p, size_t first, size_t end, uint8_t *out)
{
    uint8_t f = 0, nri = 0;
    size_t at = 1;
    for (size_t i = first; i < end; i++) {
        const fl__pack_nal *n = &p->nals[i];
        f |= n->p[0] & FL__H264_NAL_F;
        if ((n->p[0] & FL__H264_NAL_NRI) > nri)
            nri = n->p[0] & FL__H264_NAL_NRI;
        fl_put_be16(out + at, (uint16_t)n->len);
        memcpy(out + at + 2, n->p, n->len);
        at += 2 + n->len;
    }
    out[0] = (uint8_t)(f | nri | FL__H264_NAL_STAP_A);
    return at;
}

static size_t write_fu_a(fl_pack *p, uint8_t *out)
{
    const fl__pack_nal *n = &p->nals[p->nal];
    if (p->fu_at == 0)
        p->fu_at = 1; /* the header byte goes into the FU indicator and header */
    size_t m = n->len - p->fu_at;
    if (m > p->max_payload - 2)
        m = p->max_payload - 2;
    out[0] = (uint8_t)((n->p[0] & (FL__H264_NAL_F | FL__H264_NAL_NRI)) | FL__H264_NAL_FU_A);
    out[1] =
            (uint8_t)((p->fu_at == 1 ? FL__H264_FU_S : 0) |
                      (p->fu_at + m == n->len ? FL__H264_FU_E : 0) | (n->p[0] & FL__H264_NAL_TYPE));
    memcpy(out + 2, n->p + p->fu_at, m);
    p->fu_at += m;
    if (p->fu_at == n->len) {
        p->fu_at = 0;
        p->nal++;
    }
    return 2 + m;
}

size_t fl__pack_h264_next(fl_pack *p, uint8_t *out, int *marker)
{
    if (p->nal >= p->nnals)
        return 0;
    const fl__pack_nal *n = &p->nals[p->nal];
    size_t len;
    if (p->fu_at || n->len > p->max_payload) {
        len = write_fu_a(p, out);
    } else {
        /* the NAL units after it that fit along, in one STAP-A */
        size_t total = 1 + 2 + n->len, end = p->nal + 1;
        while (end < p->nnals && total + 2 + p->nals[end].len <= p->max_payload)
            total += 2 + p->nals[end++].len;
        if (end == p->nal + 1) {
            memcpy(out, n->p, n->len);
            len = n->len;
        } else {
            len = write_stap_a(p, p->nal, end, out);
        }
        p->nal = end;
    }
    *marker = p->nal == p->nnals;
    if (*marker)
        p->pending = 0;
    return len;
}
