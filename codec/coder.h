/* codec/coder.h: raw media and the codecs that make and read it, for a
 * transcoder (decode, scale, encode) and for test and benchmark sources.
 *
 * Video is I420 (8-bit 4:2:0, three planes); audio is interleaved signed
 * 16-bit PCM. The coded side of every codec is what the payload formats of
 * codec.h take and give: fl_depack's frames in, fl_pack's input out.
 *
 * Libraries: libvpx (VP8, VP9), openh264 (H.264), libopus (Opus), libyuv
 * (scaling). G.711 and the resampler are written here.
 *
 * Threads: every object has one owner and may move between threads between
 * calls (a transcoder's codec thread); the constructors are reentrant. Once
 * warmed up (the first frame of a size), no call allocates. */
#ifndef FL_CODEC_CODER_H
#define FL_CODEC_CODER_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

/* ---- pictures ---- */

typedef struct fl_picture {
    uint8_t *plane[3]; /* Y, U, V */
    int stride[3];     /* bytes per row of each plane */
    int width, height; /* pixels; the chroma planes are (w+1)/2 x (h+1)/2 */
} fl_picture;

/* Allocates the planes of a width x height picture in one block (32-byte
 * aligned rows), contents undefined. 0, FL_EINVAL (a size outside 2..8192),
 * FL_ENOMEM. */
int fl_picture_alloc(fl_picture *p, int width, int height);
/* Frees what fl_picture_alloc gave (the struct is zeroed); a zeroed picture
 * is a no-op. */
void fl_picture_free(fl_picture *p);

/* Scales src into dst at dst's size (libyuv, box filter down, bilinear up);
 * same size: a copy. 0, FL_EINVAL. */
int fl_picture_scale(const fl_picture *src, fl_picture *dst);

/* ---- video decoders ---- */

typedef struct fl_vdec fl_vdec;

/* VP8, VP9 (libvpx) or H.264 (openh264). 0, FL_EINVAL (another kind),
 * FL_ENOMEM, FL_EIO (the library refused to start). */
int fl_vdec_create(fl_vdec **out, fl_codec_kind kind);
void fl_vdec_destroy(fl_vdec *d);

/* Decodes one frame as fl_depack outputs it (a VP8 frame, a VP9 frame or
 * superframe, an H.264 access unit in AVC form: each NAL unit after its
 * 4-byte big-endian length). Returns 1 with *pic a view of the decoded
 * picture, valid until the next call on d; 0 when the frame showed no
 * picture (a hidden VP9 frame, the decoder still buffering); FL_EBADMSG
 * when the decoder refused the frame (the caller asks its source for a
 * key frame: until one comes, later frames may be refused too; a picture
 * wider or taller than 4096 is refused too); FL_EINVAL for no data. Never
 * crashes on any input. */
int fl_vdec_decode(fl_vdec *d, const uint8_t *data, size_t len, fl_picture *pic);

/* ---- video encoders ---- */

typedef struct fl_venc fl_venc;

typedef struct fl_venc_config {
    fl_codec_kind kind; /* VP8, VP9, H264 */
    int width, height;  /* 16..4096, even */
    int fps;            /* the expected frame rate, 1..120 (rate control) */
    int kbps;           /* target bitrate, 10..100000 */
} fl_venc_config;

typedef struct fl_venc_frame {
    const uint8_t *data; /* valid until the next call on the encoder */
    size_t len;
    int key;
} fl_venc_frame;

/* A realtime encoder as a WebRTC sender runs one: one pass, CBR, no lag, no
 * B-frames, key frames only when asked (and the first). VP8 and VP9 through
 * libvpx (VP9 profile 0, no spatial or temporal layers); H.264 through
 * openh264, Constrained Baseline (what browsers negotiate with
 * profile-level-id 42e01f and packetization-mode=1), one slice per picture
 * unless it would not fit a level. 0, FL_EINVAL (a bad config), FL_ENOMEM,
 * FL_EIO. */
int fl_venc_create(fl_venc **out, const fl_venc_config *cfg);
void fl_venc_destroy(fl_venc *e);

/* Encodes pic, whose size must be the config's (FL_EINVAL otherwise).
 * ts90k is its time on a 90 kHz clock, increasing (rate control reads the
 * spacing). force_key: make this a key frame. Returns 1 with *out (a VP8
 * frame; a VP9 frame or superframe; an H.264 access unit in Annex B form,
 * the SPS and PPS before every IDR), 0 when the rate control dropped the
 * frame, FL_EIO when the library failed. */
int fl_venc_encode(fl_venc *e,
                   const fl_picture *pic,
                   uint32_t ts90k,
                   int force_key,
                   fl_venc_frame *out);

/* Changes the target bitrate (10..100000 kbps, clamped) from the next
 * frame on, without a key frame. 0 or FL_EIO. */
int fl_venc_set_bitrate(fl_venc *e, int kbps);

/* ---- audio ---- */

/* Most samples per channel one decode gives: 120 ms at 48 kHz. */
#define FL_AUDIO_MAX_FRAME 5760

typedef struct fl_adec fl_adec;

/* Opus (48 kHz out), PCMU or PCMA (8 kHz out), giving `channels` (1 or 2)
 * interleaved channels whatever the stream carries. 0, FL_EINVAL,
 * FL_ENOMEM, FL_EIO. */
int fl_adec_create(fl_adec **out, fl_codec_kind kind, int channels);
void fl_adec_destroy(fl_adec *d);
/* Its output rate, Hz. */
int fl_adec_rate(const fl_adec *d);

/* Decodes one RTP payload into pcm (room for cap samples per channel, at
 * least FL_AUDIO_MAX_FRAME for Opus). data NULL: conceals one lost frame
 * of `cap` samples per channel at most (Opus: the last frame's length;
 * G.711: silence of the last frame's length). Returns samples per channel,
 * FL_EBADMSG for a packet the decoder refused, FL_EINVAL. */
int fl_adec_decode(fl_adec *d, const uint8_t *data, size_t len, int16_t *pcm, size_t cap);

typedef struct fl_aenc fl_aenc;

typedef struct fl_aenc_config {
    fl_codec_kind kind; /* OPUS (48 kHz, 20 ms frames), PCMU, PCMA (8 kHz, 20 ms) */
    int channels;       /* 1 or 2 (G.711: 1 only) */
    int kbps;           /* Opus: 6..510 (0: 32 mono, 64 stereo); G.711: ignored */
} fl_aenc_config;

/* 0, FL_EINVAL, FL_ENOMEM, FL_EIO. Opus is set up as a WebRTC sender's:
 * VBR, in-band FEC off, application VOIP for mono, AUDIO for stereo. */
int fl_aenc_create(fl_aenc **out, const fl_aenc_config *cfg);
void fl_aenc_destroy(fl_aenc *e);
int fl_aenc_rate(const fl_aenc *e);
/* Samples per channel of one frame: 960 (Opus), 160 (G.711). */
int fl_aenc_frame_samples(const fl_aenc *e);

/* Encodes exactly one frame (fl_aenc_frame_samples per channel,
 * interleaved) into out (cap bytes; 1275 is always enough). Returns the
 * payload's bytes, FL_EMSGSIZE for a cap too small, FL_EIO. */
int fl_aenc_encode(fl_aenc *e, const int16_t *pcm, uint8_t *out, size_t cap);

/* Changes Opus's target bitrate (6..510 kbps, clamped); G.711: no-op. 0 or
 * FL_EIO. */
int fl_aenc_set_bitrate(fl_aenc *e, int kbps);

/* G.711 (ITU-T G.711), one sample at a time. */
uint8_t fl_g711_ulaw_encode(int16_t s);
int16_t fl_g711_ulaw_decode(uint8_t u);
uint8_t fl_g711_alaw_encode(int16_t s);
int16_t fl_g711_alaw_decode(uint8_t a);

/* ---- resampling and channels ---- */

typedef struct fl_resampler fl_resampler;

/* A resampler between two rates (8000..192000 Hz), `channels` (1 or 2)
 * interleaved: a windowed-sinc low-pass filter, stateful across calls so a
 * stream of frames resamples as one signal. Equal rates: a copy. 0,
 * FL_EINVAL, FL_ENOMEM. */
int fl_resampler_create(fl_resampler **out, int in_rate, int out_rate, int channels);
void fl_resampler_destroy(fl_resampler *r);

/* Resamples in_frames samples per channel into out (room for out_cap per
 * channel) and returns how many it wrote. Output lags input by the
 * filter's delay (a few samples), and the count per call varies by one
 * around in_frames * out_rate / in_rate; cap at least that plus 2. */
size_t fl_resample(fl_resampler *r,
                   const int16_t *in,
                   size_t in_frames,
                   int16_t *out,
                   size_t out_cap);

/* Converts `frames` samples per channel between channel counts (1 or 2):
 * stereo to mono averages, mono to stereo duplicates, same: a copy. in and
 * out must not overlap. */
void fl_pcm_channels(const int16_t *in, int in_ch, int16_t *out, int out_ch, size_t frames);

#endif
