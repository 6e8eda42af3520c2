/* The VP8 payload descriptor in full (RFC 7741 4.2) and a viewer's
 * rewrite of it over a changing source layer (simulcast), sans-IO.
 *
 *   0 1 2 3 4 5 6 7
 *  |X|R|N|S|R| PID |        always
 *  |I|L|T|K| RSV   |        if X
 *  |M| PictureID   |        if I (M: 15-bit PictureID, one more byte)
 *  |   TL0PICIDX   |        if L
 *  |TID|Y| KEYIDX  |        if T or K
 *
 * A viewer of a simulcast publisher gets one layer at a time, and each
 * layer numbers its pictures on its own. fl_vp8_rewrite makes the viewer
 * see one PictureID sequence, one TL0PICIDX sequence and one KEYIDX
 * sequence across switches, and drops the temporal layers above a target:
 *
 *     fl_vp8_rewrite_init(&vr);
 *     fl_vp8_rewrite_set_target_tid(&vr, 1);     // from the layer choice
 *     fl_vp8_rewrite_switch(&vr);                // the next packet is another
 *                                                // layer's, a key frame's
 *     r = fl_vp8_rewrite_packet(&vr, payload, len);  // the egress's own copy
 *     if (r == 1) ... rewrite the RTP header (net/rewrite), send
 *     else        ... drop it (net/rewrite's fl_rewrite_skip: no seq gap)
 *
 * The rules:
 * - Within a source the mapping is a fixed offset per field, so that a
 *   reordered or duplicated packet gets the numbers its picture got.
 * - On a switch, the new source's first packet carrying a field sets that
 *   field's offset: PictureID, TL0PICIDX and KEYIDX go out as the last ones
 *   sent plus one (mod 2^15 or 2^7, 2^8, 2^5).
 * - A PictureID may run with gaps (RFC 7741 does not forbid them) but a
 *   receiver reads a gap as a lost picture and waits for it. So pictures
 *   dropped here are offset out: each dropped picture moves the offset
 *   down by one, and the viewer's PictureIDs stay consecutive.
 * - Temporal layers: a picture whose TID is above the target is dropped.
 *   A lower target applies at once; a higher one layer by layer, each from
 *   the first picture of the next layer up that has Y (layer sync: it
 *   needs only TL0), or all at once from a key frame.
 * - Reordering: the last FL_VP8_REWRITE_PICTURES pictures are remembered,
 *   with their decision and offset; a late packet of one of them gets the
 *   same. A late picture never seen before gets the offset of the nearest
 *   one before it that is remembered (a packet arriving before its
 *   picture's first), or is dropped when there is none (older than the
 *   source's first picture, or too old). A late picture is dropped when
 *   its TID is above the target, and its number is then not reused.
 * - Packets without a PictureID (I=0) are forwarded or dropped by their
 *   TID alone; a picture starts at S=1, PID=0.
 *
 * The descriptor's length never changes: a 7-bit PictureID stays 7 bits
 * (the viewer's sequence taken mod 128). No allocation, no clock. One
 * owner (the egress's loop). */
#ifndef FL_CODEC_VP8_REWRITE_H
#define FL_CODEC_VP8_REWRITE_H

#include <stddef.h>
#include <stdint.h>

/* Every field of the descriptor, and where the rewritable ones are. */
typedef struct fl_vp8_descriptor {
    uint8_t x, n, s;       /* extension present, non-reference, start of partition */
    uint8_t partition;     /* PID */
    uint8_t i, l, t, k;    /* PictureID, TL0PICIDX, TID, KEYIDX present */
    uint8_t m;             /* 15-bit PictureID */
    uint16_t picture_id;   /* when i: 0..127 or 0..32767 */
    uint8_t tl0picidx;     /* when l */
    uint8_t tid;           /* when t: 0..3 */
    uint8_t y;             /* when t: layer sync */
    uint8_t keyidx;        /* when k: 0..31 */
    uint8_t keyframe;      /* S=1, PID=0 and the payload header's P bit 0 */
    uint8_t picture_id_at; /* byte offsets in the payload, 0 when absent */
    uint8_t tl0picidx_at;
    uint8_t tk_at; /* the TID|Y|KEYIDX byte (T or K) */
    uint8_t header_len;
} fl_vp8_descriptor;

/* Parses the descriptor at the start of an RTP payload. R bits are
 * ignored; L, T and K are taken as they come (none requires another).
 * Returns 0, or FL_EBADMSG when the payload ends inside the descriptor or
 * holds no VP8 byte after it (`d` is then unspecified). */
int fl_vp8_descriptor_parse(fl_vp8_descriptor *d, const uint8_t *payload, size_t len);

/* Writes d's picture_id, tl0picidx and keyidx (and tid, y) into the
 * payload d was parsed from, at d's offsets; the fields d does not carry
 * are left alone, values are taken mod the field's range. The payload must
 * be the caller's (not a shared buffer) and at least d->header_len long. */
void fl_vp8_descriptor_write(uint8_t *payload, const fl_vp8_descriptor *d);

/* Pictures remembered for late packets; a power of two. */
#define FL_VP8_REWRITE_PICTURES 32
/* A target TID that drops nothing. */
#define FL_VP8_TID_ALL 3

typedef struct fl_vp8_rewrite_picture {
    uint16_t src;   /* the source's PictureID, unwrapped to 15 bits */
    uint16_t delta; /* the offset after this picture (mod 2^15) */
    uint8_t state;  /* 0 empty, 1 forwarded, 2 dropped */
} fl_vp8_rewrite_picture;

typedef struct fl_vp8_rewrite {
    /* the viewer's sequences: the last values sent (have_*: any sent) */
    uint8_t have_pid, have_tl0, have_key;
    uint16_t last_pid; /* 15 bits; a 7-bit field shows it mod 128 */
    uint8_t last_tl0;
    uint8_t last_key;
    /* the current source: whether each offset is set, and the offsets */
    uint8_t src_pid, src_tl0, src_key;
    uint8_t src_wide; /* its PictureID field is 15 bits */
    uint16_t pid_delta;
    uint8_t tl0_delta;
    uint8_t key_delta;
    uint16_t high; /* the newest source picture seen (unwrapped) */
    fl_vp8_rewrite_picture pics[FL_VP8_REWRITE_PICTURES];
    /* temporal layers: the target asked for and the one in force */
    uint8_t target_tid;
    uint8_t tid;
    uint64_t switches;     /* sources */
    uint64_t dropped_tid;  /* packets: above the target */
    uint64_t dropped_late; /* packets: older than what is remembered, or than the source */
    uint64_t bad;          /* packets: descriptor not parsed */
} fl_vp8_rewrite;

/* Nothing sent yet; every temporal layer forwarded. */
void fl_vp8_rewrite_init(fl_vp8_rewrite *vr);

/* The packets from now on come from another source (another layer, or
 * another publisher); the first of them should begin a key frame. */
void fl_vp8_rewrite_switch(fl_vp8_rewrite *vr);

/* The highest TID forwarded (FL_VP8_TID_ALL: all). */
void fl_vp8_rewrite_set_target_tid(fl_vp8_rewrite *vr, int tid);

/* One packet's VP8 payload, in the caller's own buffer: rewritten in place
 * (same length). Returns 1: send it, 0: drop it (a temporal layer above
 * the target, or too late), FL_EBADMSG: drop it, the descriptor is bad
 * (the payload is left as it was). */
int fl_vp8_rewrite_packet(fl_vp8_rewrite *vr, uint8_t *payload, size_t len);

#endif
