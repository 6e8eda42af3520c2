/* codec/ private declarations: raw frames, the libvpx and libopus wrappers,
 * the synthetic sources and the VP8 descriptor writer. */
#ifndef FL_CODEC_CODEC_INT_H
#define FL_CODEC_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

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

#endif
