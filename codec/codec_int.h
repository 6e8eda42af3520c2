/* codec/ private declarations: raw frames, the libvpx and libopus wrappers,
 * the synthetic sources and the VP8 descriptor writer. */
#ifndef FL_CODEC_CODEC_INT_H
#define FL_CODEC_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

/* A raw I420 picture: chroma planes are (width+1)/2 x (height+1)/2. */
typedef struct fl__yuv {
    int width, height;
    uint8_t *plane[3];
    int stride[3];
} fl__yuv;

/* One heap block holding the three planes. Returns 0 or FL_ENOMEM. */
int fl__yuv_alloc(fl__yuv *f, int width, int height);
void fl__yuv_free(fl__yuv *f);

/* codec/synth.c: deterministic test sources. */
/* Draws picture `index` of the moving test picture into f. */
void fl__synth_picture(fl__yuv *f, unsigned index);
/* Fills pcm with `samples` interleaved stereo samples of the gliding tone,
 * starting at sample `start` of the sound. */
void fl__synth_tone(int16_t *pcm, size_t samples, uint64_t start);

/* codec/vp8_vpx.c: the libvpx VP8 encoder. */
typedef struct fl__vp8_enc fl__vp8_enc;
/* Realtime one-pass CBR, no lag, no frame dropping, no automatic key frames.
 * Returns 0, FL_ENOMEM or FL_EIO. */
int fl__vp8_enc_create(fl__vp8_enc **out, int width, int height, int fps, int kbps);
/* Called once per encoded frame; data is valid during the call only. A
 * non-zero return stops the encode call and is returned by it. */
typedef int (*fl__vp8_frame_fn)(void *arg, const uint8_t *data, size_t len, int keyframe);
/* Encodes picture number pts (in 1/fps units). Returns 0, FL_EIO or what fn returned. */
int fl__vp8_enc_encode(fl__vp8_enc *e,
                       const fl__yuv *f,
                       int64_t pts,
                       int force_key,
                       fl__vp8_frame_fn fn,
                       void *arg);
void fl__vp8_enc_destroy(fl__vp8_enc *e);

/* codec/opus_lib.c: the libopus encoder, 48 kHz stereo. */
typedef struct fl__opus_enc fl__opus_enc;
int fl__opus_enc_create(fl__opus_enc **out, int kbps);
/* Encodes one frame of `samples` per channel (960 for 20 ms). Returns the
 * packet length (> 0) or FL_EIO. */
int fl__opus_enc_encode(fl__opus_enc *e, const int16_t *pcm, int samples, uint8_t *out, size_t cap);
void fl__opus_enc_destroy(fl__opus_enc *e);

/* codec/vp8.c: writes the FL_VP8_DESC_LEN-byte descriptor (X=1, I=1, M=1). */
void fl__vp8_desc_write(uint8_t *out, int start, int partition, int picture_id);

/* ---- what the packetizers and depacketizers share (codec/depack.c) ---- */

/* A growing byte buffer: grows to the largest content, never shrinks. */
typedef struct fl__grow {
    uint8_t *p;
    size_t len, cap;
} fl__grow;

/* Grows g to hold n more bytes past its len (doubling from 4 KiB). 0 or
 * FL_ENOMEM (g unchanged). */
int fl__grow_reserve(fl__grow *g, size_t n);

/* 1 when k has an RTP payload format here (a packetizer and a
 * depacketizer): VP8, VP9, H.264, Opus, PCMU, PCMA; 0 otherwise. */
int fl__codec_kind_has_rtp(fl_codec_kind k);

/* H.264 NAL unit header |F|NRI|Type| (ITU-T H.264 7.3.1) and the types
 * RFC 6184 5.2 gives RTP's own packets; an FU header |S|E|R|Type| (5.8). */
enum {
    FL__H264_NAL_IDR = 5,
    FL__H264_NAL_SPS = 7,
    FL__H264_NAL_PPS = 8,
    FL__H264_NAL_AUD = 9,
    FL__H264_NAL_FILLER = 12,
    FL__H264_NAL_STAP_A = 24,
    FL__H264_NAL_STAP_B = 25,
    FL__H264_NAL_MTAP16 = 26,
    FL__H264_NAL_MTAP24 = 27,
    FL__H264_NAL_FU_A = 28,
    FL__H264_NAL_FU_B = 29,
};

#define FL__H264_NAL_F    0x80u
#define FL__H264_NAL_NRI  0x60u
#define FL__H264_NAL_TYPE 0x1fu
#define FL__H264_FU_S     0x80u
#define FL__H264_FU_E     0x40u

/* ---- depacketizers (codec/depack.c, depack_h264.c, depack_vpx.c) ---- */

/* Most layer frames of one VP9 picture (the superframe index holds 8). */
#define FL__VP9_MAX_LAYERS 8

/* Two slots per parameter set kind, written in turn: a frame's pointer stays
 * good while a later frame of the same push brings a new one. */
typedef struct fl__param_set {
    uint8_t data[2][FL_DEPACK_MAX_PARAM_SET];
    size_t len[2];
    int cur; /* slot in force; len[cur] == 0: none yet */
} fl__param_set;

struct fl_depack {
    fl_codec_kind codec;
    int video;
    size_t max_frame;

    /* buf[asm_buf] holds the frame being assembled; ready frames hold the others */
    fl__grow buf[3];
    int asm_buf;
    fl_frame ready[2];
    int ready_buf[2];
    int nready, pulled;

    /* the frame being assembled */
    int active;  /* a frame is open at ts */
    int broken;  /* it lacks something: dropped at its end, bytes no longer kept */
    int too_big; /* it went over max_frame */
    uint32_t ts;
    int key;
    uint16_t width, height;

    /* H.264: offset of the length prefix of the FU-A being reassembled */
    int fu_open;
    size_t fu_at;
    fl__param_set sps, pps;
    fl_h264_sps sps_info;
    int sps_info_ok;

    /* VP9: layer frames of the picture */
    int in_layer;
    int layers;
    size_t layer_at[FL__VP9_MAX_LAYERS + 1];
    int first_p; /* P bit of the picture's first packet */
    int max_sid;
    int ss_layers; /* SS entries with sizes from the picture's SS; 0: none */
    uint16_t ss_width[8], ss_height[8];

    int have_seq;
    uint16_t last_seq;
    int waiting_key; /* video: frames are dropped until a key frame */
    int want_key;    /* a frame was dropped while waiting */
    fl_depack_stats stats;
};

/* codec/depack.c, for the formats' files. */
/* Opens a frame at ts unless one is open; `start` 0: its beginning is
 * missing (it opens broken). */
void fl__depack_begin(fl_depack *d, uint32_t ts, int start);
/* Marks the open frame broken (opening one at ts if none is). */
void fl__depack_break(fl_depack *d, uint32_t ts);
/* Appends to the open frame unless it is broken; going over max_frame
 * breaks it. Returns a pointer to the n bytes to fill, or NULL. */
uint8_t *fl__depack_append(fl_depack *d, size_t n);
/* Ends the open frame: complete and wanted, it becomes ready. */
void fl__depack_end(fl_depack *d);

/* The formats: push one non-empty payload (the frame at p->ts is open or
 * not), and check and finish a frame at its end (0: keep, else broken). */
int fl__h264_push(fl_depack *d, const fl_depack_packet *p);
int fl__h264_finish(fl_depack *d, fl__grow *g);
int fl__h264_set_fmtp(fl_depack *d, const char *fmtp);
void fl__h264_frame_params(const fl_depack *d, fl_frame *f);
int fl__vp8_push(fl_depack *d, const fl_depack_packet *p);
int fl__vp8_finish(fl_depack *d, fl__grow *g);
int fl__vp9_push(fl_depack *d, const fl_depack_packet *p);
int fl__vp9_finish(fl_depack *d, fl__grow *g);
/* Resets a format's per-frame state when a frame opens. */
void fl__vp9_frame_reset(fl_depack *d);

/* A bit reader over big-endian bits, optionally skipping H.264 emulation
 * prevention bytes (00 00 03). Reading past the end sets err and gives 0. */
typedef struct fl__bits {
    const uint8_t *p;
    size_t len, at;
    unsigned cur; /* bits of p[at - 1] not read yet, at the top of `left` */
    int left;
    int epb, zeros;
    int err;
} fl__bits;

void fl__bits_init(fl__bits *b, const uint8_t *p, size_t len, int epb);
uint32_t fl__bits_read(fl__bits *b, int n); /* n <= 32 */
uint32_t fl__bits_ue(fl__bits *b);          /* exp-Golomb, up to 2^32 - 2 */
int64_t fl__bits_se(fl__bits *b);

#endif
