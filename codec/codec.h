/* codec: media payload formats and pre-encoded clips.
 *
 * Clips are the media source of the benchmark harness: a synthetic picture
 * or sound is encoded once (libvpx VP8, libopus) and packetized into RTP
 * payloads that a sender loops in real time. The module is sans-IO: it
 * reads no clock and starts no thread; a sender paces the packets by their
 * send_us and adds loop * duration_ts to their ts.
 *
 * Thread notes: a clip is immutable once built and may be read from any
 * number of threads; fl_clip_* constructors and fl_vp8_desc_* functions are
 * reentrant. */
#ifndef FL_CODEC_CODEC_H
#define FL_CODEC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define FL_VP8_CLOCK_RATE  90000
#define FL_OPUS_CLOCK_RATE 48000
/* Bytes of the payload descriptor fl_clip_vp8 writes (X, I, 15-bit PictureID). */
#define FL_VP8_DESC_LEN       4
#define FL_VP8_PICTURE_ID_MOD 32768

typedef struct fl_clip_packet {
    const uint8_t *payload; /* RTP payload, VP8 payload descriptor included; owned by the clip */
    size_t len;
    uint32_t ts;      /* RTP timestamp from the clip start, clock units */
    uint32_t send_us; /* when to send it, microseconds from the clip start */
    uint8_t marker;   /* the RTP M bit: VP8, last packet of a frame (RFC 7741 4.1);
                         Opus, 1 on the clip's first packet only (start of a talkspurt) */
    uint8_t keyframe; /* belongs to a key frame; Opus: always 1 (any packet starts decoding) */
} fl_clip_packet;

typedef struct fl_clip {
    uint32_t clock_rate;  /* 90000 VP8, 48000 Opus */
    uint32_t duration_ts; /* RTP clock units of one loop (the next loop's ts starts there) */
    uint64_t duration_us; /* the next loop's send_us starts there */
    size_t n;             /* packets */
    fl_clip_packet *pkts; /* in send order; pkts[0] starts a key frame (VP8) */
    uint64_t bytes;       /* payload bytes in one loop */
    size_t frames;
} fl_clip;

/* Builds a VP8 clip: a synthetic moving picture (a drifting diagonal
 * gradient with light grain, a bouncing square and the frame number drawn
 * in; different every frame) encoded with libvpx VP8 realtime CBR at
 * width x height, fps and kbps, `seconds` long. The first frame is the only
 * key frame; no frame is dropped, so frames == fps * seconds.
 *
 * Packetized per RFC 7741: every payload starts with a 4-byte descriptor
 * (X=1, I=1, 15-bit PictureID starting at 0 and increasing by one per frame;
 * S=1 on the first packet of a frame only, PID=0 throughout, as libwebrtc
 * sends a non-partitioned frame) and holds at most max_payload bytes; a
 * frame is split into packets of near-equal size. Frame i has ts
 * i * 90000 / fps and its k packets are spread evenly within the frame
 * interval: packet j is sent at frame_us + j * interval_us / k.
 *
 * On looping, the next loop starts with the key frame again; a sender that
 * wants continuous picture ids rewrites them with fl_vp8_desc_set_picture_id
 * in its copy (loop * frames added, mod 2^15).
 *
 * Returns 0 and a new clip in *out (free with fl_clip_destroy), FL_EINVAL for
 * sizes outside 16..4096, fps outside 1..120, kbps outside 10..100000,
 * seconds outside 1..3600 or max_payload below 64, FL_ENOMEM, or FL_EIO if
 * libvpx fails. Costs about 4 ms of one core per 640x480 frame (1.2 s for
 * 10 s at 30 fps), on the calling thread. */
int fl_clip_vp8(fl_clip **out,
                int width,
                int height,
                int fps,
                int kbps,
                int seconds,
                size_t max_payload);

/* Builds an Opus clip: a stereo tone that changes pitch every 250 ms (an
 * arpeggio between 220 and 554 Hz, the right channel a fifth above the left) encoded with libopus
 * at 48 kHz stereo, 20 ms frames, VBR at `kbps`, `seconds` long. One packet
 * per frame (RFC 7587 payload: the Opus packet itself), ts step 960, send_us
 * step 20000. Returns 0, FL_EINVAL for kbps outside 6..510 or seconds outside
 * 1..3600, FL_ENOMEM, or FL_EIO if libopus fails. */
int fl_clip_opus(fl_clip **out, int kbps, int seconds);

/* Frees a clip and its payloads. NULL is a no-op. */
void fl_clip_destroy(fl_clip *c);

/* VP8 payload descriptor (RFC 7741 4.2) and the key-frame bit of the payload header (4.3). */
typedef struct fl_vp8_desc {
    uint8_t start;     /* S bit */
    uint8_t partition; /* PID */
    int picture_id;    /* -1 absent; 7 or 15 bits as sent */
    int keyframe;      /* S=1, PID=0 and the payload header's P bit is 0 */
    size_t header_len; /* descriptor bytes */
} fl_vp8_desc;

/* Parses the descriptor at the start of an RTP payload, in place. Returns 0,
 * or FL_EBADMSG when the payload ends inside the descriptor or holds no VP8
 * byte after it. */
int fl_vp8_desc_parse(fl_vp8_desc *out, const uint8_t *payload, size_t len);

/* Writes picture_id (mod 2^15, or mod 2^7 for a 7-bit field) into the
 * descriptor of a payload the caller owns (a sender's copy of a clip
 * packet). Returns 0, FL_EBADMSG for a bad descriptor, or FL_ENOENT when it
 * carries no PictureID. */
int fl_vp8_desc_set_picture_id(uint8_t *payload, size_t len, int picture_id);

/* Video payload formats known by the packet path. */
typedef enum fl_codec_kind {
    FL_CODEC_OTHER = 0,
    FL_CODEC_VP8,
    FL_CODEC_VP9,
    FL_CODEC_H264,
} fl_codec_kind;

/* The kind for an SDP encoding name ("VP8", "vp9", "H264"; others OTHER). */
fl_codec_kind fl_codec_kind_of(const char *name);

/* 1 when this RTP payload begins a key frame: VP8 S=1, PID=0 and the
 * payload header's P bit clear; VP9 B set and P clear; H.264 an IDR slice
 * or an SPS (single NAL, inside STAP-A, or the first FU-A fragment). 0
 * otherwise, and for anything malformed. */
int fl_codec_key_frame_start(fl_codec_kind kind, const uint8_t *payload, size_t len);

#endif
