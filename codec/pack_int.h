/* codec/ packetizers' private declarations: the fl_pack object shared by
 * pack.c (create, dispatch, the audio formats, stats), pack_vpx.c (VP8,
 * VP9) and pack_h264.c (H.264). */
#ifndef FL_CODEC_PACK_INT_H
#define FL_CODEC_PACK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "codec/codec_int.h"

/* Largest parameter set kept for prepending (SPS/PPS, header byte included). */
#define FL__PACK_MAX_PARAM_SET FL_DEPACK_MAX_PARAM_SET

/* One NAL unit to send: into the frame's copy or the kept parameter sets. */
typedef struct fl__pack_nal {
    const uint8_t *p;
    size_t len;
} fl__pack_nal;

struct fl_pack {
    fl_codec_kind codec;
    size_t max_payload;
    unsigned nal_length_size;

    fl__grow frame; /* the frame's copy */
    int pending;    /* payloads of the frame are left to take */

    /* VP8, VP9, G.711, Opus: the frame as `parts` pieces of near-equal size
     * (their descriptors counted in: the first piece carries first_extra
     * more descriptor bytes than the others) */
    size_t parts, part, base, rem, at, first_extra;
    uint16_t picture_id;      /* of the frame in flight */
    uint16_t next_picture_id; /* of the next frame */
    int key;
    uint16_t width, height; /* VP9 key frame size (SS); 0: unknown */

    /* H.264: the access unit's NAL units in sending order */
    fl__pack_nal *nals;
    size_t nnals, nals_cap;
    size_t nal;   /* the next to send */
    size_t fu_at; /* the FU-A in progress: next byte of nals[nal] (0: none) */
    uint8_t sps[FL__PACK_MAX_PARAM_SET], pps[FL__PACK_MAX_PARAM_SET];
    size_t sps_len, pps_len; /* the latest seen (or the config's); 0: none */

    fl_pack_stats stats;
};

/* codec/pack.c: copies in->data to p->frame (its buffer kept). 0 or FL_ENOMEM. */
int fl__pack_copy_frame(fl_pack *p, const fl_pack_input *in);
/* Size of piece `i` of the split, descriptors included. */
size_t fl__pack_piece(const fl_pack *p, size_t i);

/* codec/pack_vpx.c: take a frame already copied to p->frame; write the next payload. */
int fl__pack_vp8_frame(fl_pack *p, const fl_pack_input *in);
size_t fl__pack_vp8_next(fl_pack *p, uint8_t *out, int *marker);
int fl__pack_vp9_frame(fl_pack *p, const fl_pack_input *in);
size_t fl__pack_vp9_next(fl_pack *p, uint8_t *out, int *marker);

/* codec/pack_h264.c: parse and plan the access unit in in->data (copied to
 * p->frame here); write the next payload. */
int fl__pack_h264_frame(fl_pack *p, const fl_pack_input *in);
size_t fl__pack_h264_next(fl_pack *p, uint8_t *out, int *marker);
/* Keeps a parameter set (type 7 or 8) for later key frames. */
void fl__pack_h264_keep(fl_pack *p, const uint8_t *nal, size_t len);

#endif
