/* codec: the packetizers. Real encoded frames (libvpx VP8 and VP9 encoded
 * here; H.264 from the fixtures of tests/unit/codec/fixtures/ and from
 * libx264 through ffmpeg, with access unit delimiters, several IDRs and
 * big slices) are packetized, every payload checked (size, marker, the
 * descriptor's bits, FU-A S/E, STAP-A), then depacketized by the project's
 * own depacketizers and compared byte for byte with the source. Then the
 * parameter sets a key frame lacks, malformed input, audio and the
 * constructor's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"
#include "codec/pack_int.h" /* the buffers, to see they stop growing */
#include "tests/unit/codec/codec_fixtures.h"

#include <cmocka.h>

#define FIXTURES "tests/unit/codec/fixtures/"
#define BUF      2048 /* payload buffer: above every max_payload used here */

/* ---- frames and payloads ---- */

typedef struct payloads {
    uint8_t (*p)[BUF];
    size_t *len;
    int *marker;
    size_t n, cap;
} payloads;

static void payloads_add(payloads *l, const uint8_t *data, size_t len, int marker)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->p = realloc(l->p, l->cap * sizeof(*l->p));
        l->len = realloc(l->len, l->cap * sizeof(*l->len));
        l->marker = realloc(l->marker, l->cap * sizeof(*l->marker));
        assert_true(l->p && l->len && l->marker);
    }
    memcpy(l->p[l->n], data, len);
    l->len[l->n] = len;
    l->marker[l->n++] = marker;
}

static void payloads_free(payloads *l)
{
    free(l->p);
    free(l->len);
    free(l->marker);
    memset(l, 0, sizeof(*l));
}

static fl_pack *make_pack(fl_codec_kind kind, size_t max, unsigned nls, uint32_t seed)
{
    fl_pack *p = NULL;
    fl_pack_config c = { .codec = kind, .max_payload = max, .nal_length_size = nls, .seed = seed };
    assert_int_equal(fl_pack_create(&p, &c), 0);
    return p;
}

/* Packs one frame: its payloads (at least one, each at most max) go to
 * out, the marker on the last only (video) or on none (audio). */
static void pack_one(fl_pack *p,
                     const uint8_t *data,
                     size_t len,
                     int key,
                     size_t max,
                     payloads *out)
{
    assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ data, len, key }), 0);
    uint8_t buf[BUF];
    int m = -1;
    size_t n, first = out->n;
    while ((n = fl_pack_next(p, buf, sizeof(buf), &m)) > 0) {
        assert_true(n <= max);
        payloads_add(out, buf, n, m);
    }
    assert_int_equal(m, 0); /* the call that ends says no marker */
    assert_true(out->n > first);
}

static void assert_markers(const payloads *l, size_t first, int video)
{
    for (size_t i = first; i < l->n; i++)
        assert_int_equal(l->marker[i], video && i == l->n - 1);
}

/* Feeds payloads [first, l->n) as one frame at ts (sequence numbers
 * continuing from *seq) and collects what comes out. */
static void depack_frame(fl_depack *d,
                         const payloads *l,
                         size_t first,
                         uint32_t ts,
                         uint16_t *seq,
                         frames *out)
{
    for (size_t i = first; i < l->n; i++) {
        fl_depack_packet dp = {
            .payload = l->p[i], .len = l->len[i], .seq = (*seq)++, .ts = ts, .marker = l->marker[i]
        };
        assert_int_equal(fl_depack_push(d, &dp), 0);
        fl_frame f;
        while (fl_depack_pull(d, &f) == 1) {
            frame *c = frames_add(out, f.data, f.len);
            c->key = f.key;
            c->width = f.width;
            c->height = f.height;
        }
    }
}

static fl_depack *make_depack(fl_codec_kind kind)
{
    fl_depack *d = NULL;
    fl_depack_config c = { .codec = kind };
    assert_int_equal(fl_depack_create(&d, &c), 0);
    return d;
}

static void assert_same(const frames *got, const frames *want)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        assert_int_equal(got->f[i].len, want->f[i].len);
        assert_memory_equal(got->f[i].data, want->f[i].data, want->f[i].len);
        assert_int_equal(got->f[i].key, want->f[i].key);
    }
}

/* ---- VP8 and VP9 from libvpx ---- */

static frames vp8_src, vp9_src; /* 320x240, 20 frames, key frames 0 and 10 */

static int setup_vpx(void **state)
{
    (void)state;
    if (vpx_encode(vpx_codec_vp8_cx(), 1500, 1, &vp8_src) != 0)
        return -1;
    return vpx_encode(vpx_codec_vp9_cx(), 1500, 1, &vp9_src);
}

static int teardown_vpx(void **state)
{
    (void)state;
    frames_free(&vp8_src);
    frames_free(&vp9_src);
    return 0;
}

static void check_vp8_payloads(const payloads *l, size_t first, unsigned pid, int key)
{
    size_t min = SIZE_MAX, max = 0;
    for (size_t i = first; i < l->n; i++) {
        fl_vp8_desc d;
        assert_int_equal(fl_vp8_desc_parse(&d, l->p[i], l->len[i]), 0);
        assert_int_equal(d.header_len, FL_VP8_DESC_LEN);
        assert_int_equal(d.start, i == first);
        assert_int_equal(d.partition, 0);
        assert_int_equal(d.picture_id, (int)pid);
        min = l->len[i] < min ? l->len[i] : min;
        max = l->len[i] > max ? l->len[i] : max;
    }
    assert_true(max - min <= 1); /* near-equal */
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP8, l->p[first], l->len[first]), key);
}

static void test_vp8_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = { 1200, 300, 64 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint32_t seed = 32760; /* the PictureID wraps at 2^15 on the way */
        fl_pack *p = make_pack(FL_CODEC_VP8, sizes[s], 0, seed);
        fl_depack *d = make_depack(FL_CODEC_VP8);
        payloads l = { 0 };
        frames got = { 0 };
        uint16_t seq = 65500;
        size_t multi = 0;
        for (size_t i = 0; i < vp8_src.n; i++) {
            size_t first = l.n;
            const frame *f = &vp8_src.f[i];
            pack_one(p, f->data, f->len, f->key, sizes[s], &l);
            assert_markers(&l, first, 1);
            check_vp8_payloads(&l, first, (unsigned)((seed + i) % 32768), f->key);
            multi += l.n - first > 1;
            depack_frame(d, &l, first, (uint32_t)i * 3000, &seq, &got);
        }
        assert_true(multi > 0);
        assert_same(&got, &vp8_src);
        assert_int_equal(got.f[0].width, 320);
        assert_int_equal(got.f[0].height, 240);
        fl_pack_stats st;
        fl_pack_get_stats(p, &st);
        assert_int_equal(st.frames, vp8_src.n);
        assert_int_equal(st.payloads, l.n);
        assert_int_equal(st.malformed, 0);
        frames_free(&got);
        payloads_free(&l);
        fl_depack_destroy(d);
        fl_pack_destroy(p);
    }
}

/* RFC 9628 4.2: I|P|L|F|B|E|V|Z, M|PICTURE ID (15 bits), then the SS on a
 * key frame's first packet: N_S|Y|G, WIDTH, HEIGHT. */
static void check_vp9_payloads(const payloads *l, size_t first, unsigned pid, int key)
{
    for (size_t i = first; i < l->n; i++) {
        const uint8_t *q = l->p[i];
        int b = i == first, e = i == l->n - 1, ss = b && key;
        assert_int_equal(q[0], 0x80 | (key ? 0 : 0x40) | (b ? 0x08 : 0) | (e ? 0x04 : 0) |
                                       (ss ? 0x02 : 0));
        assert_int_equal(((q[1] & 0x7f) << 8) | q[2], pid);
        assert_true(q[1] & 0x80);
        if (ss) {
            static const uint8_t want[] = { 0x10, 320 >> 8, 320 & 0xff, 0, 240 };
            assert_memory_equal(q + 3, want, sizeof(want));
        }
    }
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_VP9, l->p[first], l->len[first]), key);
}

static void test_vp9_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = { 1200, 200, 64 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        fl_pack *p = make_pack(FL_CODEC_VP9, sizes[s], 0, 40000); /* 40000 mod 2^15 */
        fl_depack *d = make_depack(FL_CODEC_VP9);
        payloads l = { 0 };
        frames got = { 0 };
        uint16_t seq = 7;
        for (size_t i = 0; i < vp9_src.n; i++) {
            size_t first = l.n;
            const frame *f = &vp9_src.f[i];
            pack_one(p, f->data, f->len, f->key, sizes[s], &l);
            assert_markers(&l, first, 1);
            check_vp9_payloads(&l, first, (unsigned)((40000 + i) % 32768), f->key);
            depack_frame(d, &l, first, (uint32_t)i * 3000, &seq, &got);
        }
        assert_same(&got, &vp9_src);
        assert_int_equal(got.f[10].width, 320);
        assert_int_equal(got.f[10].height, 240);
        frames_free(&got);
        payloads_free(&l);
        fl_depack_destroy(d);
        fl_pack_destroy(p);
    }
}

/* A superframe (two frames and the index of annex B) goes whole. */
static void test_vp9_superframe(void **state)
{
    (void)state;
    const frame *a = &vp9_src.f[0], *b = &vp9_src.f[1];
    assert_true(a->len <= 0xffff && b->len <= 0xffff);
    frames want = { 0 };
    frame *sf = frames_add(&want, a->data, a->len);
    frame_append(sf, b->data, b->len);
    uint8_t idx[6] = { 0xc0 | 1 << 3 | 1, (uint8_t)a->len,        (uint8_t)(a->len >> 8),
                       (uint8_t)b->len,   (uint8_t)(b->len >> 8), 0xc0 | 1 << 3 | 1 };
    frame_append(sf, idx, sizeof(idx));
    sf->key = 1;
    fl_pack *p = make_pack(FL_CODEC_VP9, 0, 0, 0);
    fl_depack *d = make_depack(FL_CODEC_VP9);
    payloads l = { 0 };
    frames got = { 0 };
    uint16_t seq = 0;
    pack_one(p, sf->data, sf->len, 1, 1200, &l);
    check_vp9_payloads(&l, 0, 0, 1);
    depack_frame(d, &l, 0, 0, &seq, &got);
    assert_same(&got, &want);
    frames_free(&got);
    frames_free(&want);
    payloads_free(&l);
    fl_depack_destroy(d);
    fl_pack_destroy(p);
}

/* ---- H.264 ---- */

typedef struct nal {
    const uint8_t *p;
    size_t len;
} nal;

typedef struct au {
    nal *nals;
    size_t n;
    int idr;
} au;

typedef struct stream {
    uint8_t *bytes;
    size_t len;
    au *aus;
    size_t n;
    size_t max_nal;
} stream;

static int vcl(uint8_t type)
{
    return type >= 1 && type <= 5;
}

static uint8_t nal_type(const nal *n)
{
    return n->p[0] & 0x1f;
}

static void au_add(au *a, nal n)
{
    a->nals = realloc(a->nals, (a->n + 1) * sizeof(*a->nals));
    assert_non_null(a->nals);
    a->nals[a->n++] = n;
    a->idr |= nal_type(&n) == 5;
}

/* Annex B into access units: a new one at a non-VCL NAL unit after a VCL
 * one, or at a slice starting at macroblock 0 after a VCL one. */
static void split_aus(stream *s)
{
    int prev_vcl = 0;
    size_t i = 0;
    while (i + 3 <= s->len) {
        if (!(s->bytes[i] == 0 && s->bytes[i + 1] == 0 && s->bytes[i + 2] == 1)) {
            i++;
            continue;
        }
        size_t start = i + 3, end = start;
        while (end + 3 <= s->len &&
               !(s->bytes[end] == 0 && s->bytes[end + 1] == 0 && s->bytes[end + 2] <= 1))
            end++;
        if (end + 3 > s->len)
            end = s->len;
        nal n = { s->bytes + start, end - start };
        uint8_t type = nal_type(&n);
        if (!s->n || (prev_vcl && (!vcl(type) || (n.p[1] & 0x80)))) {
            s->aus = realloc(s->aus, (s->n + 1) * sizeof(*s->aus));
            assert_non_null(s->aus);
            memset(&s->aus[s->n++], 0, sizeof(au));
        }
        au_add(&s->aus[s->n - 1], n);
        s->max_nal = n.len > s->max_nal ? n.len : s->max_nal;
        prev_vcl = vcl(type);
        i = end;
    }
}

static void load_file(stream *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    s->bytes = malloc(4 << 20);
    assert_non_null(s->bytes);
    s->len = fread(s->bytes, 1, 4 << 20, f);
    fclose(f);
    assert_true(s->len > 100);
    split_aus(s);
    assert_true(s->n > 1 && s->aus[0].idr);
}

static void stream_free(stream *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->aus[i].nals);
    free(s->aus);
    free(s->bytes);
    memset(s, 0, sizeof(*s));
}

static stream x264; /* ffmpeg/libx264 640x480: AUDs, an IDR every 10 frames */
static char tmp_dir[64];

static int setup_h264(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fluo_pack_XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -v error -y -f lavfi -i testsrc2=size=640x480:rate=30 -frames:v 30 "
             "-c:v libx264 -preset ultrafast -bf 0 -g 10 -x264-params aud=1 -b:v 2M "
             "-f h264 %s/x.h264",
             tmp_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "%s/x.h264", tmp_dir);
    load_file(&x264, cmd);
    return 0;
}

static int teardown_h264(void **state)
{
    (void)state;
    stream_free(&x264);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

enum {
    FORM_ANNEXB = 0, /* else the nal_length_size */
};

static const uint8_t filler[] = { 0x0c, 0xff, 0xff, 0xff, 0x80 };

/* One access unit as the packetizer's input: Annex B (a filler NAL unit
 * added) or length-prefixed; SPS and PPS left out with `strip`. */
static size_t au_input(const au *a, unsigned form, int strip, uint8_t **out)
{
    size_t cap = 64;
    for (size_t k = 0; k < a->n; k++)
        cap += a->nals[k].len + 4;
    uint8_t *o = malloc(cap), *w = o;
    assert_non_null(o);
    for (size_t k = 0; k <= a->n; k++) {
        nal n = k < a->n ? a->nals[k] : (nal){ filler, sizeof(filler) };
        if (k == a->n && form != FORM_ANNEXB)
            break;
        if (strip && (nal_type(&n) == 7 || nal_type(&n) == 8))
            continue;
        if (form == FORM_ANNEXB) {
            static const uint8_t sc[4] = { 0, 0, 0, 1 };
            size_t scl = k == 0 ? 4 : 3; /* both start code lengths */
            memcpy(w, sc + 4 - scl, scl);
            w += scl;
        } else {
            for (unsigned b = 0; b < form; b++)
                *w++ = (uint8_t)(n.len >> (8 * (form - 1 - b)));
        }
        memcpy(w, n.p, n.len);
        w += n.len;
    }
    *out = o;
    return (size_t)(w - o);
}

static void append_avc(frame *f, const uint8_t *p, size_t len)
{
    uint8_t l4[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len };
    frame_append(f, l4, 4);
    frame_append(f, p, len);
}

/* What the depacketizer gives for an access unit: AVC form, AUDs and
 * filler gone, `pre_sps`/`pre_pps` (NULL: none) in front. */
static void au_expected(frames *out, const au *a, int strip, const nal *pre_sps, const nal *pre_pps)
{
    frame *f = frames_add(out, NULL, 0);
    f->key = a->idr;
    if (pre_sps)
        append_avc(f, pre_sps->p, pre_sps->len);
    if (pre_pps)
        append_avc(f, pre_pps->p, pre_pps->len);
    for (size_t k = 0; k < a->n; k++) {
        uint8_t t = nal_type(&a->nals[k]);
        if (t == 9 || t == 12 || (strip && (t == 7 || t == 8)))
            continue;
        append_avc(f, a->nals[k].p, a->nals[k].len);
    }
}

typedef struct h264_counts {
    size_t single, stap, fu;
} h264_counts;

/* Every payload of an access unit: a NAL unit, a STAP-A whose sizes add
 * up, or FU-A fragments from S to E with the NAL unit's NRI and type. */
static void check_h264_payloads(const payloads *l, size_t first, int idr, h264_counts *c)
{
    int in_fu = 0;
    for (size_t i = first; i < l->n; i++) {
        const uint8_t *q = l->p[i];
        uint8_t t = q[0] & 0x1f;
        assert_true(t != 9 && t != 12);
        if (t == 28) {
            assert_true(l->len[i] > 2);
            assert_int_equal(!!(q[1] & 0x80), !in_fu); /* S opens one */
            in_fu = !(q[1] & 0x40);
            c->fu++;
        } else if (t == 24) {
            assert_false(in_fu);
            size_t at = 1, k = 0;
            uint8_t nri = 0;
            for (; at + 2 < l->len[i]; k++) {
                size_t n = (size_t)q[at] << 8 | q[at + 1];
                nri = (q[at + 2] & 0x60) > nri ? (q[at + 2] & 0x60) : nri;
                at += 2 + n;
            }
            assert_int_equal(at, l->len[i]);
            assert_true(k >= 2);
            assert_int_equal(q[0] & 0x60, nri);
            c->stap++;
        } else {
            assert_false(in_fu);
            assert_true(t >= 1 && t <= 23);
            c->single++;
        }
    }
    assert_false(in_fu);
    assert_int_equal(fl_codec_key_frame_start(FL_CODEC_H264, l->p[first], l->len[first]), idr);
}

/* The whole stream through a packetizer and a depacketizer. */
static void h264_round(const stream *s, unsigned form, size_t max, h264_counts *c)
{
    fl_pack *p = make_pack(FL_CODEC_H264, max, form, 0);
    fl_depack *d = make_depack(FL_CODEC_H264);
    payloads l = { 0 };
    frames got = { 0 }, want = { 0 };
    uint16_t seq = 65000;
    for (size_t i = 0; i < s->n; i++) {
        uint8_t *in;
        size_t len = au_input(&s->aus[i], form, 0, &in);
        size_t first = l.n;
        pack_one(p, in, len, s->aus[i].idr, max, &l);
        free(in);
        assert_markers(&l, first, 1);
        check_h264_payloads(&l, first, s->aus[i].idr, c);
        depack_frame(d, &l, first, (uint32_t)i * 3000, &seq, &got);
        au_expected(&want, &s->aus[i], 0, NULL, NULL);
    }
    assert_same(&got, &want);
    frames_free(&got);
    frames_free(&want);
    payloads_free(&l);
    fl_depack_destroy(d);
    fl_pack_destroy(p);
}

static const char *const h264_fixtures[] = {
    FIXTURES "openh264_176x100.h264",
    FIXTURES "x264_high_200x120.h264",
    FIXTURES "x264_444_162x90.h264",
    FIXTURES "x264_interlaced_192x108.h264",
};

static void test_h264_round_trip(void **state)
{
    (void)state;
    static const unsigned forms[] = { FORM_ANNEXB, 4, 2, 1 };
    static const size_t sizes[] = { 1200, 100 };
    size_t singles = 0; /* x264's 640x480 has no NAL unit that goes alone */
    for (size_t k = 0; k <= sizeof(h264_fixtures) / sizeof(h264_fixtures[0]); k++) {
        stream fix;
        const stream *s = &x264;
        if (k < sizeof(h264_fixtures) / sizeof(h264_fixtures[0])) {
            load_file(&fix, h264_fixtures[k]);
            s = &fix;
        }
        h264_counts c = { 0 };
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
            for (size_t m = 0; m < sizeof(sizes) / sizeof(sizes[0]); m++)
                if (forms[f] != 1 || s->max_nal < 256)
                    h264_round(s, forms[f], sizes[m], &c);
        assert_true(c.stap > 0 && c.fu > 0);
        singles += c.single;
        if (s == &fix)
            stream_free(&fix);
    }
    assert_true(singles > 0);
}

/* The first SPS and PPS of a stream. */
static void first_params(const stream *s, nal *sps, nal *pps)
{
    memset(sps, 0, sizeof(*sps));
    memset(pps, 0, sizeof(*pps));
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->aus[i].n; k++) {
            nal *n = &s->aus[i].nals[k];
            if (nal_type(n) == 7 && !sps->p)
                *sps = *n;
            if (nal_type(n) == 8 && !pps->p)
                *pps = *n;
        }
    assert_non_null(sps->p);
    assert_non_null(pps->p);
}

/* The first payload of a key frame: a STAP-A that starts with sps, pps. */
static void assert_params_first(const uint8_t *q, size_t len, const nal *sps, const nal *pps)
{
    assert_int_equal(q[0] & 0x1f, 24);
    assert_true(len >= 1 + 4 + sps->len + pps->len);
    assert_int_equal((size_t)q[1] << 8 | q[2], sps->len);
    assert_memory_equal(q + 3, sps->p, sps->len);
    const uint8_t *r = q + 3 + sps->len;
    assert_int_equal((size_t)r[0] << 8 | r[1], pps->len);
    assert_memory_equal(r + 2, pps->p, pps->len);
}

/* Key frames without SPS/PPS get them first: from the config (`cfg`), or
 * the latest the stream brought (`from_stream`: the first access unit keeps
 * its own, and the config's are a different stream's, to be superseded). */
static void params_case(const stream *s, const stream *other, int from_stream)
{
    nal sps, pps, osps, opps;
    first_params(s, &sps, &pps);
    first_params(other, &osps, &opps);
    const nal *cs = from_stream ? &osps : &sps, *cp = from_stream ? &opps : &pps;
    fl_pack *p = NULL;
    fl_pack_config cfg = { .codec = FL_CODEC_H264,
                           .max_payload = 1200,
                           .nal_length_size = 4,
                           .sps = cs->p,
                           .sps_len = cs->len,
                           .pps = cp->p,
                           .pps_len = cp->len };
    assert_int_equal(fl_pack_create(&p, &cfg), 0);
    fl_depack *d = make_depack(FL_CODEC_H264);
    payloads l = { 0 };
    frames got = { 0 }, want = { 0 };
    uint16_t seq = 1;
    size_t idrs = 0;
    for (size_t i = 0; i < s->n; i++) {
        const au *a = &s->aus[i];
        int strip = !(from_stream && i == 0);
        uint8_t *in;
        size_t len = au_input(a, 4, strip, &in), first = l.n;
        pack_one(p, in, len, a->idr, 1200, &l);
        free(in);
        if (a->idr) { /* its own (i == 0 with from_stream), or the kept ones */
            assert_params_first(l.p[first], l.len[first], &sps, &pps);
            idrs++;
        }
        depack_frame(d, &l, first, (uint32_t)i * 3000, &seq, &got);
        au_expected(&want, a, strip, a->idr && strip ? &sps : NULL, a->idr && strip ? &pps : NULL);
    }
    assert_true(idrs >= 2);
    assert_same(&got, &want);
    frames_free(&got);
    frames_free(&want);
    payloads_free(&l);
    fl_depack_destroy(d);
    fl_pack_destroy(p);
}

static void test_h264_params(void **state)
{
    (void)state;
    stream fix;
    load_file(&fix, h264_fixtures[1]);
    params_case(&x264, &fix, 0);
    params_case(&x264, &fix, 1);

    /* no parameter sets anywhere: the key frame goes as it is */
    fl_pack *p = make_pack(FL_CODEC_H264, 1200, 4, 0);
    uint8_t *in;
    size_t len = au_input(&x264.aus[0], 4, 1, &in);
    payloads l = { 0 };
    pack_one(p, in, len, 1, 1200, &l);
    for (size_t i = 0; i < l.n; i++) {
        uint8_t t = l.p[i][0] & 0x1f;
        assert_true(t != 7 && t != 8 && (t != 24 || (l.p[i][3] & 0x1f) != 7));
    }
    free(in);
    payloads_free(&l);
    fl_pack_destroy(p);
    stream_free(&fix);
}

/* Malformed frames: FL_EBADMSG, nothing to take, counted; the payloads a
 * frame before left untaken are dropped too. */
static void test_h264_malformed(void **state)
{
    (void)state;

    static const struct {
        unsigned nls;
        uint8_t b[16];
        size_t len;
    } bad[] = {
        { 4, { 0, 0, 0, 9, 0x65, 0x88 }, 6 },             /* a length past the end */
        { 4, { 0, 0, 0, 2, 0x65, 0x88, 0, 0 }, 8 },       /* a length cut short */
        { 2, { 0, 2, 0x65, 0x88, 0, 5, 0x41 }, 7 },       /* the second past the end */
        { 1, { 3, 0x09, 0x10, 0 }, 4 },                   /* only an AUD */
        { 0, { 0x65, 0x88, 0x84 }, 3 },                   /* no start code */
        { 0, { 7, 0, 0, 1, 0x65, 0x88 }, 6 },             /* bytes before it */
        { 0, { 0, 0, 1, 0x0c, 0xff, 0, 0, 1, 0x09 }, 9 }, /* filler and AUD only */
        { 4, { 0 }, 0 },                                  /* empty */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fl_pack *p = make_pack(FL_CODEC_H264, 64, bad[i].nls, 0);
        static const uint8_t good[] = { 0, 0, 0, 3, 0x65, 0x88, 0x84 };
        uint8_t buf[BUF];
        int m;
        if (bad[i].nls == 4)
            assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ good, sizeof(good), 1 }), 0);
        assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ bad[i].b, bad[i].len, 1 }), FL_EBADMSG);
        assert_int_equal(fl_pack_next(p, buf, sizeof(buf), &m), 0);
        fl_pack_stats st;
        fl_pack_get_stats(p, &st);
        assert_int_equal(st.malformed, 1);
        assert_int_equal(st.payloads, 0);
        /* and it goes on with the next frame */
        static const uint8_t ok[] = { 0, 0, 1, 0x41, 0x9a, 0x02 };
        fl_pack_destroy(p);
        p = make_pack(FL_CODEC_H264, 64, 0, 0);
        assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ ok, sizeof(ok), 0 }), 0);
        assert_int_equal(fl_pack_next(p, buf, sizeof(buf), &m), 3);
        assert_memory_equal(buf, ok + 3, 3);
        assert_int_equal(m, 1);
        fl_pack_destroy(p);
    }
}

/* Once its buffers have held the largest frame, a packetizer allocates
 * no more: a second pass over the stream keeps them as they are. */
static void test_h264_warm_no_alloc(void **state)
{
    (void)state;
    fl_pack *p = make_pack(FL_CODEC_H264, 1200, 4, 0);
    uint8_t *frame_buf = NULL;
    fl__pack_nal *nals = NULL;
    size_t frame_cap = 0, nals_cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < x264.n; i++) {
            uint8_t *in;
            size_t len = au_input(&x264.aus[i], 4, i > 0, &in);
            payloads l = { 0 };
            pack_one(p, in, len, x264.aus[i].idr, 1200, &l);
            payloads_free(&l);
            free(in);
        }
        if (pass == 0) {
            frame_buf = p->frame.p;
            frame_cap = p->frame.cap;
            nals = p->nals;
            nals_cap = p->nals_cap;
        }
    }
    assert_ptr_equal(p->frame.p, frame_buf);
    assert_int_equal(p->frame.cap, frame_cap);
    assert_ptr_equal(p->nals, nals);
    assert_int_equal(p->nals_cap, nals_cap);
    fl_pack_destroy(p);
}

/* ---- audio, and the rest ---- */

static void test_audio(void **state)
{
    (void)state;
    uint8_t frame_bytes[1000];
    for (size_t i = 0; i < sizeof(frame_bytes); i++)
        frame_bytes[i] = (uint8_t)(i * 7 + 3);
    /* Opus: one frame, one payload, no marker */
    fl_pack *p = make_pack(FL_CODEC_OPUS, 0, 0, 0);
    payloads l = { 0 };
    pack_one(p, frame_bytes, 160, 1, 1200, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.len[0], 160);
    assert_memory_equal(l.p[0], frame_bytes, 160);
    assert_markers(&l, 0, 0);
    fl_depack *d = make_depack(FL_CODEC_OPUS);
    frames got = { 0 };
    uint16_t seq = 0;
    depack_frame(d, &l, 0, 960, &seq, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.f[0].len, 160);
    assert_memory_equal(got.f[0].data, frame_bytes, 160);
    frames_free(&got);
    fl_depack_destroy(d);
    fl_pack_destroy(p);
    /* an Opus packet over max_payload cannot be split */
    p = make_pack(FL_CODEC_OPUS, 100, 0, 0);
    assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ frame_bytes, 101, 1 }), FL_EMSGSIZE);
    fl_pack_destroy(p);

    /* G.711: split on sample (byte) boundaries at max_payload */
    for (int k = 0; k < 2; k++) {
        p = make_pack(k ? FL_CODEC_PCMA : FL_CODEC_PCMU, 400, 0, 0);
        payloads g = { 0 };
        pack_one(p, frame_bytes, sizeof(frame_bytes), 1, 400, &g);
        assert_int_equal(g.n, 3);
        assert_int_equal(g.len[0], 400);
        assert_int_equal(g.len[1], 400);
        assert_int_equal(g.len[2], 200);
        for (size_t i = 0; i < 3; i++)
            assert_memory_equal(g.p[i], frame_bytes + 400 * i, g.len[i]);
        assert_markers(&g, 0, 0);
        payloads_free(&g);
        fl_pack_destroy(p);
    }
    payloads_free(&l);
}

static void test_create_and_misuse(void **state)
{
    (void)state;
    fl_pack *p = NULL;
    fl_pack_config c = { .codec = FL_CODEC_OTHER };
    assert_int_equal(fl_pack_create(&p, &c), FL_EINVAL);
    c = (fl_pack_config){ .codec = FL_CODEC_VP8, .max_payload = 63 };
    assert_int_equal(fl_pack_create(&p, &c), FL_EINVAL);
    c = (fl_pack_config){ .codec = FL_CODEC_H264, .nal_length_size = 3 };
    assert_int_equal(fl_pack_create(&p, &c), FL_EINVAL);
    assert_int_equal(fl_pack_create(&p, NULL), FL_EINVAL);
    assert_null(p);

    /* a buffer under max_payload gets nothing; the frame waits */
    p = make_pack(FL_CODEC_VP8, 0, 0, 0);
    static const uint8_t vp8[] = { 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a };
    uint8_t buf[BUF];
    int m;
    assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ vp8, sizeof(vp8), 1 }), 0);
    assert_int_equal(fl_pack_next(p, buf, 1199, &m), 0);
    assert_int_equal(fl_pack_next(p, buf, 1200, &m), FL_VP8_DESC_LEN + sizeof(vp8));
    assert_int_equal(m, 1);
    assert_int_equal(fl_pack_next(p, buf, 1200, &m), 0);
    /* an empty frame */
    assert_int_equal(fl_pack_frame(p, &(fl_pack_input){ vp8, 0, 1 }), FL_EBADMSG);
    fl_pack_destroy(p);
    fl_pack_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest vpx[] = {
        cmocka_unit_test(test_vp8_round_trip),
        cmocka_unit_test(test_vp9_round_trip),
        cmocka_unit_test(test_vp9_superframe),
    };
    const struct CMUnitTest h264[] = {
        cmocka_unit_test(test_h264_round_trip),
        cmocka_unit_test(test_h264_params),
        cmocka_unit_test(test_h264_malformed),
        cmocka_unit_test(test_h264_warm_no_alloc),
    };
    const struct CMUnitTest other[] = {
        cmocka_unit_test(test_audio),
        cmocka_unit_test(test_create_and_misuse),
    };
    int failed = cmocka_run_group_tests_name("pack_vpx", vpx, setup_vpx, teardown_vpx);
    failed += cmocka_run_group_tests_name("pack_h264", h264, setup_h264, teardown_h264);
    failed += cmocka_run_group_tests_name("pack", other, NULL, NULL);
    return failed;
}
