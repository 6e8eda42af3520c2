/* H.264 depacketizer (RFC 6184, packetization modes 0 and 1) and the
 * sequence parameter set reader (ITU-T H.264 7.3.2.1.1).
 *
 * NAL unit header: |F|NRI|Type|. Types 1-23: one NAL unit; 24 STAP-A
 * (2-byte size, NAL unit, repeated); 28 FU-A (FU indicator |F|NRI|28|, FU
 * header |S|E|R|Type|, then a fragment). Access units come out in AVC form:
 * a 4-byte big-endian length before each NAL unit. */
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/wire.h"
#include "codec/codec.h"
#include "codec/codec_int.h"

#define AVC_LEN 4
/* A picture this many macroblocks wide or tall is past any level (and
 * past 65535 pixels). */
#define MAX_MBS 4096

static int append_nal(fl_depack *d, const uint8_t *nal, size_t len)
{
    uint8_t *at = fl__depack_append(d, AVC_LEN + len);
    if (at) {
        fl_put_be32(at, (uint32_t)len);
        memcpy(at + AVC_LEN, nal, len);
    }
    return 0;
}

/* An FU-A that has not ended leaves its NAL unit broken. */
static void close_open_fu(fl_depack *d)
{
    if (d->fu_open) {
        d->fu_open = 0;
        d->broken = 1;
    }
}

static int push_stap_a(fl_depack *d, const uint8_t *p, size_t len)
{
    size_t at = 1;
    if (len < 1 + 2 + 1)
        return FL_EBADMSG;
    while (at < len) { /* check the whole packet before taking any of it */
        if (len - at < 2)
            return FL_EBADMSG;
        size_t n = fl_get_be16(p + at);
        if (n == 0 || n > len - at - 2)
            return FL_EBADMSG;
        at += 2 + n;
    }
    for (at = 1; at < len;) {
        size_t n = fl_get_be16(p + at);
        append_nal(d, p + at + 2, n);
        at += 2 + n;
    }
    return 0;
}

static int push_fu_a(fl_depack *d, const uint8_t *p, size_t len)
{
    if (len < 3 || ((p[1] & FL__H264_FU_S) && (p[1] & FL__H264_FU_E)))
        return FL_EBADMSG;
    if (p[1] & FL__H264_FU_S) {
        close_open_fu(d);
        uint8_t *at = fl__depack_append(d, AVC_LEN + 1 + len - 2);
        if (at) {
            d->fu_open = 1;
            d->fu_at = (size_t)(at - d->buf[d->asm_buf].p);
            at[AVC_LEN] = (uint8_t)((p[0] & 0xe0) | (p[1] & 0x1f));
            memcpy(at + AVC_LEN + 1, p + 2, len - 2);
        }
    } else if (!d->fu_open) {
        d->broken = 1; /* its start was lost */
        return 0;
    } else {
        uint8_t *at = fl__depack_append(d, len - 2);
        if (at)
            memcpy(at, p + 2, len - 2);
    }
    if ((p[1] & FL__H264_FU_E) && d->fu_open && !d->broken) {
        fl__grow *g = &d->buf[d->asm_buf];
        fl_put_be32(g->p + d->fu_at, (uint32_t)(g->len - d->fu_at - AVC_LEN));
        d->fu_open = 0;
    }
    return 0;
}

int fl__h264_push(fl_depack *d, const fl_depack_packet *p)
{
    uint8_t type = p->payload[0] & FL__H264_NAL_TYPE;
    switch (type) {
    case 0:
    case 30:
    case 31:
        return FL_EBADMSG;
    case FL__H264_NAL_STAP_B:
    case FL__H264_NAL_MTAP16:
    case FL__H264_NAL_MTAP24:
    case FL__H264_NAL_FU_B:
        return FL_ENOTSUP;
    default:
        break;
    }
    /* An access unit starts with any packet but a continuing fragment. */
    int start = type != FL__H264_NAL_FU_A || (p->len >= 2 && (p->payload[1] & FL__H264_FU_S));
    fl__depack_begin(d, p->ts, start);
    if (type == FL__H264_NAL_FU_A)
        return push_fu_a(d, p->payload, p->len);
    close_open_fu(d);
    if (type == FL__H264_NAL_STAP_A)
        return push_stap_a(d, p->payload, p->len);
    return append_nal(d, p->payload, p->len);
}

/* ---- parameter sets ---- */

/* Makes nal the set in force; the other slot is written, so a frame made
 * before keeps its pointer. Returns 1 when it changed. */
static int param_set_put(fl__param_set *ps, const uint8_t *nal, size_t len)
{
    if (len == 0 || len > FL_DEPACK_MAX_PARAM_SET)
        return 0;
    if (ps->len[ps->cur] == len && memcmp(ps->data[ps->cur], nal, len) == 0)
        return 0;
    int k = ps->len[ps->cur] ? !ps->cur : ps->cur;
    memcpy(ps->data[k], nal, len);
    ps->len[k] = len;
    ps->cur = k;
    return 1;
}

static void put_sps(fl_depack *d, const uint8_t *nal, size_t len)
{
    if (param_set_put(&d->sps, nal, len))
        d->sps_info_ok = fl_h264_sps_parse(&d->sps_info, nal, len) == 0;
}

int fl__h264_finish(fl_depack *d, fl__grow *g)
{
    if (d->fu_open)
        return FL_EBADMSG;
    const uint8_t *sps = NULL, *pps = NULL;
    size_t sps_len = 0, pps_len = 0;
    int key = 0, slices = 0;
    for (size_t at = 0; at < g->len;) {
        if (g->len - at < AVC_LEN + 1)
            return FL_EBADMSG;
        size_t n = fl_get_be32(g->p + at);
        if (n == 0 || n > g->len - at - AVC_LEN)
            return FL_EBADMSG;
        const uint8_t *nal = g->p + at + AVC_LEN;
        uint8_t type = nal[0] & FL__H264_NAL_TYPE;
        /* the picture's first slice starts at macroblock 0 (first_mb_in_slice
         * ue(v) 0: a 1 bit), or its start was lost */
        if (type >= 1 && type <= FL__H264_NAL_IDR && slices++ == 0 && (n < 2 || !(nal[1] & 0x80)))
            return FL_EBADMSG;
        if (type == FL__H264_NAL_IDR)
            key = 1;
        else if (type == FL__H264_NAL_SPS)
            sps = nal, sps_len = n;
        else if (type == FL__H264_NAL_PPS)
            pps = nal, pps_len = n;
        at += AVC_LEN + n;
    }
    if (g->len == 0)
        return FL_EBADMSG;
    /* only the last of each kind: one slot change per frame at most */
    if (sps)
        put_sps(d, sps, sps_len);
    if (pps)
        param_set_put(&d->pps, pps, pps_len);
    d->key = key;
    if (key && d->sps_info_ok) {
        d->width = d->sps_info.width;
        d->height = d->sps_info.height;
    }
    return 0;
}

void fl__h264_frame_params(const fl_depack *d, fl_frame *f)
{
    if (d->sps.len[d->sps.cur]) {
        f->sps = d->sps.data[d->sps.cur];
        f->sps_len = d->sps.len[d->sps.cur];
    }
    if (d->pps.len[d->pps.cur]) {
        f->pps = d->pps.data[d->pps.cur];
        f->pps_len = d->pps.len[d->pps.cur];
    }
}

/* ---- sprop-parameter-sets (RFC 6184 8.1): base64 NAL units, comma separated ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes s[0..n) (padding optional). Returns the length or FL_EBADMSG. */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return FL_EBADMSG;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap)
                return FL_EBADMSG;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    return bits >= 6 ? FL_EBADMSG : (int)len; /* one lone character is no byte */
}

int fl__h264_set_fmtp(fl_depack *d, const char *fmtp)
{
    static const char key[] = "sprop-parameter-sets";
    const char *s = fmtp;
    while (*s) {
        while (*s == ' ' || *s == ';')
            s++;
        size_t n = strcspn(s, ";");
        if (n > sizeof(key) && strncasecmp(s, key, sizeof(key) - 1) == 0 &&
            s[sizeof(key) - 1] == '=')
            break;
        s += n;
    }
    if (!*s)
        return 0;
    s += sizeof(key);
    /* all or nothing: every set is decoded before any is taken */
    uint8_t sets[2][FL_DEPACK_MAX_PARAM_SET];
    size_t lens[2] = { 0 };
    while (*s && *s != ';') {
        size_t n = strcspn(s, ",; ");
        uint8_t nal[FL_DEPACK_MAX_PARAM_SET];
        int len = b64_decode(s, n, nal, sizeof(nal));
        if (len <= 0)
            return FL_EBADMSG;
        int k = (nal[0] & FL__H264_NAL_TYPE) == FL__H264_NAL_SPS   ? 0
                : (nal[0] & FL__H264_NAL_TYPE) == FL__H264_NAL_PPS ? 1
                                                                   : -1;
        if (k >= 0) {
            memcpy(sets[k], nal, (size_t)len);
            lens[k] = (size_t)len;
        }
        s += n;
        while (*s == ',' || *s == ' ')
            s++;
    }
    fl_h264_sps info;
    if (lens[0] && fl_h264_sps_parse(&info, sets[0], lens[0]) != 0)
        return FL_EBADMSG;
    if (lens[0])
        put_sps(d, sets[0], lens[0]);
    if (lens[1])
        param_set_put(&d->pps, sets[1], lens[1]);
    return 0;
}

/* ---- the sequence parameter set ---- */

/* Profiles whose SPS carries chroma_format_idc and the scaling lists. */
static int high_profile(unsigned p)
{
    switch (p) {
    case 100:
    case 110:
    case 122:
    case 244:
    case 44:
    case 83:
    case 86:
    case 118:
    case 128:
    case 138:
    case 139:
    case 134:
    case 135:
        return 1;
    default:
        return 0;
    }
}

/* scaling_list() of 7.3.2.1.1.1: only read, the values are not kept. */
static void skip_scaling_list(fl__bits *b, int size)
{
    int64_t last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int64_t delta = fl__bits_se(b);
            if (delta < -128 || delta > 127) {
                b->err = 1;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

/* The part before pic_width_in_mbs_minus1 that only needs reading. */
static void skip_frame_num_and_poc(fl__bits *b)
{
    if (fl__bits_ue(b) > 12) /* log2_max_frame_num_minus4 */
        b->err = 1;
    uint32_t poc_type = fl__bits_ue(b);
    if (poc_type == 0) {
        if (fl__bits_ue(b) > 12) /* log2_max_pic_order_cnt_lsb_minus4 */
            b->err = 1;
    } else if (poc_type == 1) {
        fl__bits_read(b, 1); /* delta_pic_order_always_zero_flag */
        fl__bits_se(b);      /* offset_for_non_ref_pic */
        fl__bits_se(b);      /* offset_for_top_to_bottom_field */
        uint32_t n = fl__bits_ue(b);
        if (n > 255)
            b->err = 1;
        for (uint32_t i = 0; i < n && !b->err; i++)
            fl__bits_se(b); /* offset_for_ref_frame */
    } else if (poc_type > 2) {
        b->err = 1;
    }
    fl__bits_ue(b);      /* max_num_ref_frames */
    fl__bits_read(b, 1); /* gaps_in_frame_num_value_allowed_flag */
}

int fl_h264_sps_parse(fl_h264_sps *out, const uint8_t *nal, size_t len)
{
    if (!out || !nal || len < 4 || (nal[0] & FL__H264_NAL_TYPE) != FL__H264_NAL_SPS)
        return FL_EBADMSG;
    fl__bits b;
    fl__bits_init(&b, nal + 1, len - 1, 1);
    fl_h264_sps s = { .chroma_format_idc = 1, .bit_depth_luma = 8, .bit_depth_chroma = 8 };
    s.profile_idc = (uint8_t)fl__bits_read(&b, 8);
    s.constraint_flags = (uint8_t)fl__bits_read(&b, 8);
    s.level_idc = (uint8_t)fl__bits_read(&b, 8);
    uint32_t id = fl__bits_ue(&b);
    if (id > 31)
        return FL_EBADMSG;
    s.sps_id = (uint8_t)id;
    int separate_planes = 0;
    if (high_profile(s.profile_idc)) {
        uint32_t chroma = fl__bits_ue(&b);
        if (chroma > 3)
            return FL_EBADMSG;
        s.chroma_format_idc = (uint8_t)chroma;
        if (chroma == 3)
            separate_planes = (int)fl__bits_read(&b, 1);
        uint32_t luma = fl__bits_ue(&b), chroma_depth = fl__bits_ue(&b);
        if (luma > 6 || chroma_depth > 6)
            return FL_EBADMSG;
        s.bit_depth_luma = (uint8_t)(8 + luma);
        s.bit_depth_chroma = (uint8_t)(8 + chroma_depth);
        fl__bits_read(&b, 1);       /* qpprime_y_zero_transform_bypass_flag */
        if (fl__bits_read(&b, 1)) { /* seq_scaling_matrix_present_flag */
            int lists = chroma != 3 ? 8 : 12;
            for (int i = 0; i < lists && !b.err; i++)
                if (fl__bits_read(&b, 1))
                    skip_scaling_list(&b, i < 6 ? 16 : 64);
        }
    }
    skip_frame_num_and_poc(&b);
    uint32_t w_mbs = fl__bits_ue(&b) + 1;
    uint32_t h_units = fl__bits_ue(&b) + 1;
    s.frame_mbs_only = (uint8_t)fl__bits_read(&b, 1);
    if (!s.frame_mbs_only)
        fl__bits_read(&b, 1); /* mb_adaptive_frame_field_flag */
    fl__bits_read(&b, 1);     /* direct_8x8_inference_flag */
    uint32_t crop[4] = { 0 }; /* left, right, top, bottom */
    if (fl__bits_read(&b, 1))
        for (int i = 0; i < 4; i++)
            crop[i] = fl__bits_ue(&b);
    if (b.err || w_mbs > MAX_MBS || h_units > MAX_MBS)
        return FL_EBADMSG;

    /* 7.4.2.1.1: the crop unit follows the chroma sampling */
    int chroma_type = separate_planes ? 0 : s.chroma_format_idc;
    uint64_t unit_x = 1, unit_y = 2 - s.frame_mbs_only;
    if (chroma_type != 0) {
        unit_x = chroma_type == 3 ? 1 : 2;
        unit_y *= chroma_type == 1 ? 2 : 1;
    }
    uint64_t w = (uint64_t)w_mbs * 16, h = (uint64_t)h_units * 16 * (2 - s.frame_mbs_only);
    uint64_t cw = unit_x * ((uint64_t)crop[0] + crop[1]);
    uint64_t ch = unit_y * ((uint64_t)crop[2] + crop[3]);
    if (cw >= w || ch >= h || w - cw > UINT16_MAX || h - ch > UINT16_MAX)
        return FL_EBADMSG;
    s.width = (uint16_t)(w - cw);
    s.height = (uint16_t)(h - ch);
    *out = s;
    return 0;
}
