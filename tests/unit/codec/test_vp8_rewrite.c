/* codec/vp8_rewrite: the VP8 payload descriptor in full (every field, its
 * offsets, write-back, truncation) and a viewer's rewrite over switches of
 * source layer (PictureID, TL0PICIDX, KEYIDX continuity), temporal layer
 * dropping with consecutive PictureIDs, reordering and duplicates; and
 * with net/rewrite's skip, the egress's whole numbering over a switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/vp8_rewrite.h"
#include "net/rewrite.h"

#include <cmocka.h>

/* One packet's descriptor as a test writes it. */
typedef struct pk {
    int n, s, part;
    int i, m;
    unsigned pid;
    int l;
    unsigned tl0;
    int t;
    unsigned tid;
    int y;
    int k;
    unsigned key;
    int key_frame; /* the payload header's P bit 0 */
} pk;

static size_t build(uint8_t *b, pk p)
{
    size_t at = 0;
    int x = p.i || p.l || p.t || p.k;
    b[at++] = (uint8_t)(x << 7 | p.n << 5 | p.s << 4 | p.part);
    if (x)
        b[at++] = (uint8_t)(p.i << 7 | p.l << 6 | p.t << 5 | p.k << 4);
    if (p.i && p.m) {
        b[at++] = (uint8_t)(0x80 | ((p.pid >> 8) & 0x7f));
        b[at++] = (uint8_t)(p.pid & 0xff);
    } else if (p.i) {
        b[at++] = (uint8_t)(p.pid & 0x7f);
    }
    if (p.l)
        b[at++] = (uint8_t)p.tl0;
    if (p.t || p.k)
        b[at++] = (uint8_t)((p.tid & 3) << 6 | (p.y & 1) << 5 | (p.key & 0x1f));
    b[at++] = p.key_frame ? 0x10 : 0x11;
    b[at++] = 0xaa;
    b[at++] = 0xbb;
    return at;
}

/* A picture of a stream with temporal layers (15-bit PictureID, L, T, K). */
static pk pic(unsigned pid, unsigned tl0, unsigned tid, int y, unsigned key, int key_frame)
{
    return (pk){ .s = 1,
                 .i = 1,
                 .m = 1,
                 .pid = pid,
                 .l = 1,
                 .tl0 = tl0,
                 .t = 1,
                 .tid = tid,
                 .y = y,
                 .k = 1,
                 .key = key,
                 .key_frame = key_frame };
}

/* Runs one packet through the rewrite; returns its result, and in *out
 * the descriptor as sent (parsed back from the rewritten bytes). */
static int run(fl_vp8_rewrite *vr, pk p, fl_vp8_descriptor *out)
{
    uint8_t b[32], orig[32];
    size_t len = build(b, p);
    memcpy(orig, b, len);
    int r = fl_vp8_rewrite_packet(vr, b, len);
    if (r != 1) {
        assert_memory_equal(b, orig, len); /* a dropped packet is left alone */
        return r;
    }
    assert_int_equal(fl_vp8_descriptor_parse(out, b, len), 0);
    fl_vp8_descriptor in;
    assert_int_equal(fl_vp8_descriptor_parse(&in, orig, len), 0);
    /* only the numbering changed: flags, TID, Y, the frame bytes are kept */
    assert_int_equal(out->header_len, in.header_len);
    assert_int_equal(out->s, in.s);
    assert_int_equal(out->n, in.n);
    assert_int_equal(out->m, in.m);
    assert_int_equal(out->tid, in.tid);
    assert_int_equal(out->y, in.y);
    assert_int_equal(out->keyframe, in.keyframe);
    assert_memory_equal(b + in.header_len, orig + in.header_len, len - in.header_len);
    return r;
}

/* Sends one packet that must go out; returns the values sent. */
static fl_vp8_descriptor sent(fl_vp8_rewrite *vr, pk p)
{
    fl_vp8_descriptor d;
    assert_int_equal(run(vr, p, &d), 1);
    return d;
}

static void dropped(fl_vp8_rewrite *vr, pk p)
{
    fl_vp8_descriptor d;
    assert_int_equal(run(vr, p, &d), 0);
}

/* Every field and offset, for the shapes a descriptor takes. */
static void test_parse_fields(void **state)
{
    (void)state;
    fl_vp8_descriptor d;
    /* X=1 N=1 S=1 PID=3; I L T K; 15-bit 0x1234; TL0 0xfe; TID 2 Y KEYIDX 21 */
    const uint8_t full[] = { 0xb3, 0xf0, 0x92, 0x34, 0xfe, 0xb5, 0x9d, 0x01 };
    assert_int_equal(fl_vp8_descriptor_parse(&d, full, sizeof(full)), 0);
    assert_int_equal(d.x, 1);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.s, 1);
    assert_int_equal(d.partition, 3);
    assert_true(d.i && d.l && d.t && d.k && d.m);
    assert_int_equal(d.picture_id, 0x1234);
    assert_int_equal(d.tl0picidx, 0xfe);
    assert_int_equal(d.tid, 2);
    assert_int_equal(d.y, 1);
    assert_int_equal(d.keyidx, 21);
    assert_int_equal(d.picture_id_at, 2);
    assert_int_equal(d.tl0picidx_at, 4);
    assert_int_equal(d.tk_at, 5);
    assert_int_equal(d.header_len, 6);
    assert_false(d.keyframe); /* PID 3 */

    /* 7-bit PictureID, K without T (TID and Y not read), key frame */
    const uint8_t k_only[] = { 0x90, 0x90, 0x05, 0xe7, 0x10 };
    assert_int_equal(fl_vp8_descriptor_parse(&d, k_only, sizeof(k_only)), 0);
    assert_true(d.i && !d.l && !d.t && d.k && !d.m);
    assert_int_equal(d.picture_id, 5);
    assert_int_equal(d.tid, 0);
    assert_int_equal(d.y, 0);
    assert_int_equal(d.keyidx, 7);
    assert_int_equal(d.tk_at, 3);
    assert_int_equal(d.tl0picidx_at, 0);
    assert_int_equal(d.header_len, 4);
    assert_true(d.keyframe);

    /* no extension at all */
    const uint8_t bare[] = { 0x10, 0x11 };
    assert_int_equal(fl_vp8_descriptor_parse(&d, bare, sizeof(bare)), 0);
    assert_false(d.x || d.i || d.l || d.t || d.k);
    assert_int_equal(d.header_len, 1);
    assert_false(d.keyframe); /* P=1 */

    /* L and T without I */
    const uint8_t lt[] = { 0x80, 0x60, 0x09, 0x40, 0x00 };
    assert_int_equal(fl_vp8_descriptor_parse(&d, lt, sizeof(lt)), 0);
    assert_int_equal(d.picture_id_at, 0);
    assert_int_equal(d.tl0picidx_at, 2);
    assert_int_equal(d.tl0picidx, 9);
    assert_int_equal(d.tk_at, 3);
    assert_int_equal(d.tid, 1);
    assert_int_equal(d.y, 0);
}

/* Write-back: the same values give the same bytes; new values parse back,
 * out of range ones taken mod the field, nothing else touched. */
static void test_write_round_trip(void **state)
{
    (void)state;
    uint8_t b[32];
    pk shapes[] = {
        pic(0x7abc, 200, 3, 1, 31, 0),
        { .s = 1, .i = 1, .pid = 100, .key_frame = 1 },
        { .i = 1, .m = 1, .pid = 5, .k = 1, .key = 3 },
        { .l = 1, .tl0 = 1, .t = 1, .tid = 1 },
        { .s = 1 },
    };
    for (size_t n = 0; n < sizeof(shapes) / sizeof(shapes[0]); n++) {
        size_t len = build(b, shapes[n]);
        uint8_t orig[32];
        memcpy(orig, b, len);
        fl_vp8_descriptor d;
        assert_int_equal(fl_vp8_descriptor_parse(&d, b, len), 0);
        fl_vp8_descriptor_write(b, &d);
        assert_memory_equal(b, orig, len);
        fl_vp8_descriptor w = d;
        w.picture_id = 0xffff; /* 15 bits: 0x7fff; 7 bits: 0x7f */
        w.tl0picidx = 77;
        w.keyidx = 0x3f;
        w.tid = 2;
        w.y = 0;
        fl_vp8_descriptor_write(b, &w);
        fl_vp8_descriptor e;
        assert_int_equal(fl_vp8_descriptor_parse(&e, b, len), 0);
        assert_int_equal(e.header_len, d.header_len);
        assert_int_equal(e.picture_id, !d.i ? 0 : d.m ? 0x7fff : 0x7f);
        assert_int_equal(e.tl0picidx, d.l ? 77 : 0);
        assert_int_equal(e.keyidx, d.k ? 31 : 0);
        assert_int_equal(e.tid, d.t ? 2 : 0);
        assert_int_equal(e.m, d.m);
        assert_int_equal(b[0], orig[0]);
        if (d.x)
            assert_int_equal(b[1], orig[1]);
        assert_memory_equal(b + d.header_len, orig + d.header_len, len - d.header_len);
    }
}

/* Truncated anywhere inside the descriptor, or with no frame byte: refused. */
static void test_parse_truncated(void **state)
{
    (void)state;
    const uint8_t full[] = { 0xb3, 0xf0, 0x92, 0x34, 0xfe, 0xb5, 0x9d };
    fl_vp8_descriptor d;
    for (size_t len = 0; len < 7; len++)
        assert_int_equal(fl_vp8_descriptor_parse(&d, full, len), FL_EBADMSG);
    assert_int_equal(fl_vp8_descriptor_parse(&d, full, 7), 0);
    const uint8_t seven[] = { 0x90, 0x80, 0x05 };
    assert_int_equal(fl_vp8_descriptor_parse(&d, seven, 3), FL_EBADMSG);
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    uint8_t b[8];
    memcpy(b, full, 6);
    assert_int_equal(fl_vp8_rewrite_packet(&vr, b, 6), FL_EBADMSG);
    assert_memory_equal(b, full, 6);
    assert_int_equal(vr.bad, 1);
}

/* One source, nothing dropped: every value goes out as it came. */
static void test_one_source_unchanged(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    for (unsigned n = 0; n < 100; n++) {
        unsigned pid = (32700 + n) & 0x7fff; /* wraps */
        fl_vp8_descriptor d =
                sent(&vr, pic(pid, (250 + n / 4) & 0xff, n % 4 ? 1 : 0, 0, 9, n == 0));
        assert_int_equal(d.picture_id, pid);
        assert_int_equal(d.tl0picidx, (250 + n / 4) & 0xff);
        assert_int_equal(d.keyidx, 9);
    }
    assert_int_equal(vr.dropped_tid + vr.dropped_late + vr.bad, 0);
}

/* A switch: the new layer's key frame gets the next PictureID, TL0PICIDX
 * and KEYIDX; within it the offsets hold; back to the first layer, again. */
static void test_switch_continuity(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    for (unsigned n = 0; n < 10; n++)
        sent(&vr, pic(1000 + n, 50 + n, 0, 0, 3, n == 0));
    fl_vp8_rewrite_switch(&vr);
    fl_vp8_descriptor d = sent(&vr, pic(20000, 7, 0, 0, 30, 1));
    assert_int_equal(d.picture_id, 1010);
    assert_int_equal(d.tl0picidx, 60);
    assert_int_equal(d.keyidx, 4);
    for (unsigned n = 1; n < 10; n++) {
        d = sent(&vr, pic(20000 + n, (7 + n) & 0xff, 0, 0, n < 5 ? 30 : 31, 0));
        assert_int_equal(d.picture_id, 1010 + n);
        assert_int_equal(d.tl0picidx, 60 + n);
        assert_int_equal(d.keyidx, n < 5 ? 4 : 5); /* its own key index step kept */
    }
    fl_vp8_rewrite_switch(&vr);
    d = sent(&vr, pic(1500, 80, 0, 0, 4, 1));
    assert_int_equal(d.picture_id, 1020);
    assert_int_equal(d.tl0picidx, 70);
    assert_int_equal(d.keyidx, 6);
    assert_int_equal(vr.switches, 2);

    /* wrap of every field at a switch: from the top of each range */
    fl_vp8_rewrite_init(&vr);
    sent(&vr, pic(0x7fff, 255, 0, 0, 31, 1));
    fl_vp8_rewrite_switch(&vr);
    d = sent(&vr, pic(3, 3, 0, 0, 3, 1));
    assert_int_equal(d.picture_id, 0);
    assert_int_equal(d.tl0picidx, 0);
    assert_int_equal(d.keyidx, 0);
}

/* 7-bit PictureIDs: the viewer's sequence mod 128, across a wrap and a
 * switch between 15-bit and 7-bit layers; the field keeps its size. */
static void test_seven_bit(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    pk p = { .s = 1, .i = 1, .m = 1, .pid = 5000, .key_frame = 1 };
    assert_int_equal(sent(&vr, p).picture_id, 5000);
    fl_vp8_rewrite_switch(&vr);
    for (unsigned n = 0; n < 20; n++) {
        pk q = { .s = 1, .i = 1, .pid = (120 + n) & 0x7f, .key_frame = n == 0 };
        fl_vp8_descriptor d = sent(&vr, q);
        assert_int_equal(d.m, 0);
        assert_int_equal(d.picture_id, (5001 + n) & 0x7f);
    }
    /* a 15-bit packet inside the 7-bit source is refused */
    p.pid = 139;
    p.key_frame = 0;
    fl_vp8_descriptor d;
    assert_int_equal(run(&vr, p, &d), FL_EBADMSG);
    fl_vp8_rewrite_switch(&vr);
    p.pid = 9;
    p.key_frame = 1;
    assert_int_equal(sent(&vr, p).picture_id, 5021);
}

/* L1T3 (TIDs 0 2 1 2 ...), target TL0, then TL1: dropped pictures are
 * offset out, so the PictureIDs sent stay consecutive; TL0PICIDX too. */
static void test_temporal_drop(void **state)
{
    (void)state;
    static const unsigned tids[4] = { 0, 2, 1, 2 };
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    unsigned next = 300, tl0 = 0;
    for (unsigned n = 0; n < 40; n++) {
        pk p = pic(300 + n, n / 4, tids[n % 4], n % 4 != 0, 1, n == 0);
        if (tids[n % 4] > 0) {
            dropped(&vr, p);
            continue;
        }
        fl_vp8_descriptor d = sent(&vr, p);
        assert_int_equal(d.picture_id, next++);
        assert_int_equal(d.tl0picidx, tl0++);
    }
    assert_int_equal(vr.dropped_tid, 30);
    /* up to TL1: from the first TL1 picture with Y (n = 42) */
    fl_vp8_rewrite_set_target_tid(&vr, 1);
    for (unsigned n = 40; n < 80; n++) {
        pk p = pic(300 + n, n / 4, tids[n % 4], n % 4 != 0, 1, 0);
        if (tids[n % 4] > 1) {
            dropped(&vr, p);
            continue;
        }
        assert_int_equal(sent(&vr, p).picture_id, next++);
    }
    /* down to TL0 at once */
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    dropped(&vr, pic(380, 20, 1, 1, 1, 0));
    assert_int_equal(sent(&vr, pic(381, 20, 0, 0, 1, 0)).picture_id, next++);
}

/* Up from TL0 to TL2: layer by layer, each at a Y picture of the next
 * layer up; a picture without Y waits; a key frame allows all at once. */
static void test_temporal_up_needs_sync(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    sent(&vr, pic(10, 0, 0, 0, 0, 1));
    fl_vp8_rewrite_set_target_tid(&vr, 2);
    dropped(&vr, pic(11, 0, 2, 1, 0, 0)); /* TL2 with Y, but TL1 not yet */
    dropped(&vr, pic(12, 0, 1, 0, 0, 0)); /* TL1 without Y */
    sent(&vr, pic(13, 1, 0, 0, 0, 0));
    assert_int_equal(sent(&vr, pic(14, 1, 1, 1, 0, 0)).picture_id, 12); /* TL1 sync */
    dropped(&vr, pic(15, 1, 2, 0, 0, 0));                               /* TL2 no Y */
    assert_int_equal(sent(&vr, pic(16, 1, 1, 0, 0, 0)).picture_id, 13);
    assert_int_equal(sent(&vr, pic(17, 1, 2, 1, 0, 0)).picture_id, 14); /* TL2 sync */
    assert_int_equal(sent(&vr, pic(18, 2, 2, 0, 0, 0)).picture_id, 15);
    /* a key frame: down to 0 then target 3 is in force from it */
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    fl_vp8_rewrite_set_target_tid(&vr, 3);
    dropped(&vr, pic(19, 2, 3, 1, 0, 0));
    assert_int_equal(sent(&vr, pic(20, 3, 0, 0, 1, 1)).picture_id, 16);
    assert_int_equal(sent(&vr, pic(21, 3, 3, 0, 1, 0)).picture_id, 17);
    /* out of range targets are clamped */
    fl_vp8_rewrite_set_target_tid(&vr, 9);
    assert_int_equal(vr.target_tid, FL_VP8_TID_ALL);
    fl_vp8_rewrite_set_target_tid(&vr, -1);
    assert_int_equal(vr.target_tid, 0);
}

/* Pictures of several packets; late and duplicate packets map as their
 * picture did, across dropped pictures; a picture first seen late gets
 * the offset of the one before it; too late or before the source's first
 * picture: dropped. */
static void test_reorder_and_duplicates(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    pk a = pic(100, 1, 0, 0, 0, 1);
    assert_int_equal(sent(&vr, a).picture_id, 100);
    pk a2 = a;
    a2.s = 0;
    a2.key_frame = 0;
    dropped(&vr, pic(101, 1, 1, 1, 0, 0)); /* TL1: offset out */
    pk b = pic(102, 2, 0, 0, 0, 0);
    assert_int_equal(sent(&vr, b).picture_id, 101);
    /* a late second packet of picture 100, and a duplicate of 102 */
    assert_int_equal(sent(&vr, a2).picture_id, 100);
    assert_int_equal(sent(&vr, b).picture_id, 101);
    /* the rest of the dropped picture: dropped too */
    pk d2 = pic(101, 1, 1, 1, 0, 0);
    d2.s = 0;
    dropped(&vr, d2);
    /* 104 before 103 (its TL0 sibling): 103 comes late, never seen */
    assert_int_equal(sent(&vr, pic(104, 4, 0, 0, 0, 0)).picture_id, 103);
    assert_int_equal(sent(&vr, pic(103, 3, 0, 0, 0, 0)).picture_id, 102);
    assert_int_equal(sent(&vr, pic(103, 3, 0, 0, 0, 0)).picture_id, 102);
    /* a late picture above the target: dropped, its number left unused */
    assert_int_equal(sent(&vr, pic(106, 5, 0, 0, 0, 0)).picture_id, 105);
    dropped(&vr, pic(105, 4, 2, 0, 0, 0));
    assert_int_equal(sent(&vr, pic(107, 6, 0, 0, 0, 0)).picture_id, 106);
    /* far ahead: a gap in the source (lost pictures) stays a gap */
    assert_int_equal(sent(&vr, pic(200, 7, 0, 0, 0, 0)).picture_id, 199);
    /* too late: more than FL_VP8_REWRITE_PICTURES back */
    uint64_t late = vr.dropped_late;
    dropped(&vr, pic(200 - FL_VP8_REWRITE_PICTURES, 5, 0, 0, 0, 0));
    assert_int_equal(vr.dropped_late, late + 1);
    /* a late one within the window but before any remembered: dropped */
    dropped(&vr, pic(190, 5, 0, 0, 0, 0));
    assert_int_equal(vr.dropped_late, late + 2);
    /* after a switch: a packet older than the new source's first */
    fl_vp8_rewrite_switch(&vr);
    assert_int_equal(sent(&vr, pic(5000, 9, 0, 0, 2, 1)).picture_id, 200);
    dropped(&vr, pic(4999, 8, 0, 0, 2, 0));
    assert_int_equal(vr.dropped_late, late + 3);
}

/* A key frame far behind the newest picture: the source numbers afresh
 * (a publisher restarted its encoder without a switch said). */
static void test_restart_on_key_frame(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    for (unsigned n = 0; n < 5; n++)
        sent(&vr, pic(30000 + n, n, 0, 0, 0, n == 0));
    dropped(&vr, pic(29004, 0, 0, 0, 0, 0)); /* not a key frame: late */
    assert_int_equal(vr.dropped_late, 1);
    assert_int_equal(sent(&vr, pic(29004, 0, 0, 0, 0, 1)).picture_id, 30005);
    assert_int_equal(sent(&vr, pic(29005, 1, 0, 0, 0, 0)).picture_id, 30006);
}

/* No PictureID: packets go or not by TID; a picture starts at S=1 PID=0. */
static void test_no_picture_id(void **state)
{
    (void)state;
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    fl_vp8_rewrite_set_target_tid(&vr, 0);
    pk p = { .s = 1, .l = 1, .tl0 = 40, .t = 1, .tid = 0, .key_frame = 1 };
    fl_vp8_rewrite_switch(&vr);
    assert_int_equal(sent(&vr, p).tl0picidx, 40);
    p.key_frame = 0;
    p.tid = 1;
    p.y = 1;
    dropped(&vr, p);
    p.s = 0;
    dropped(&vr, p); /* the rest of it */
    fl_vp8_rewrite_set_target_tid(&vr, 1);
    dropped(&vr, p); /* not a picture's start: no sync */
    p.s = 1;
    sent(&vr, p); /* a TL1 picture with Y starts */
    p.s = 0;
    sent(&vr, p);
    p.s = 1;
    p.tid = 0;
    p.tl0 = 41;
    assert_int_equal(sent(&vr, p).tl0picidx, 41);
    /* no extension: always sent */
    pk bare = { .s = 1 };
    sent(&vr, bare);
}

/* What an egress does with both rewrites: two simulcast layers (2 packets
 * a picture, L1T3), the viewer on layer A with TL0+TL1, then on layer B
 * from its key frame with everything. The viewer sees consecutive sequence
 * numbers, PictureIDs that go up by one a picture, TL0PICIDX by one a TL0
 * picture, across the drops and the switch. */
static void test_with_rtp_rewrite(void **state)
{
    (void)state;
    static const unsigned tids[4] = { 0, 2, 1, 2 };
    fl_vp8_rewrite vr;
    fl_vp8_rewrite_init(&vr);
    fl_vp8_rewrite_set_target_tid(&vr, 1);
    fl_rewrite rw;
    fl_rewrite_config c = { .ssrc = 7, .payload_type = 96, .clock_rate = 90000 };
    fl_rewrite_init(&rw, &c);
    int have = 0, sent_n = 0;
    uint16_t last_seq = 0, last_pid = 0;
    uint8_t last_tl0 = 0;
    for (int src = 0; src < 2; src++) {
        uint32_t ssrc = src ? 0xbbbbu : 0xaaaau;
        uint16_t seq = src ? 65500 : 5000;
        unsigned pid0 = src ? 32750 : 100;
        if (src) {
            fl_vp8_rewrite_switch(&vr);
            fl_vp8_rewrite_set_target_tid(&vr, FL_VP8_TID_ALL);
        }
        for (unsigned n = 0; n < 40; n++) {
            for (int part = 0; part < 2; part++, seq++) {
                pk p = pic((pid0 + n) & 0x7fff, (src * 50 + n / 4) & 0xff, tids[n % 4], 1, 0,
                           n == 0 && part == 0);
                p.s = part == 0;
                uint8_t b[32];
                size_t len = build(b, p);
                fl_buf_rtp in = { .ssrc = ssrc,
                                  .seq = seq,
                                  .timestamp = n * 3000u,
                                  .payload_type = 96,
                                  .parsed = 1 };
                if (fl_vp8_rewrite_packet(&vr, b, len) != 1) {
                    assert_true(src == 0 && tids[n % 4] == 2);
                    fl_rewrite_skip(&rw, &in);
                    continue;
                }
                fl_rtp_header h;
                assert_int_equal(fl_rewrite_packet(&rw, n * 33 * 1000, &in, &h), 1);
                fl_vp8_descriptor d;
                assert_int_equal(fl_vp8_descriptor_parse(&d, b, len), 0);
                if (have) {
                    assert_int_equal(h.seq, (uint16_t)(last_seq + 1));
                    assert_int_equal(d.picture_id, (last_pid + (part == 0)) & 0x7fff);
                    if (d.tid == 0 && part == 0)
                        assert_int_equal(d.tl0picidx, (uint8_t)(last_tl0 + 1));
                }
                have = 1;
                sent_n++;
                last_seq = h.seq;
                last_pid = d.picture_id;
                if (d.tid == 0)
                    last_tl0 = d.tl0picidx;
            }
        }
    }
    assert_int_equal(sent_n, 40 + 80);
    assert_int_equal(rw.skipped, 40);
    assert_int_equal(rw.switches, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_one_source_unchanged),
        cmocka_unit_test(test_switch_continuity),
        cmocka_unit_test(test_seven_bit),
        cmocka_unit_test(test_temporal_drop),
        cmocka_unit_test(test_temporal_up_needs_sync),
        cmocka_unit_test(test_reorder_and_duplicates),
        cmocka_unit_test(test_restart_on_key_frame),
        cmocka_unit_test(test_no_picture_id),
        cmocka_unit_test(test_with_rtp_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
