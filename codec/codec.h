/* codec: media payload formats (key-frame detection, depacketizers that
 * turn RTP payloads into whole frames for recording, the H.264 SPS
 * reader) and pre-encoded clips.
 *
 * Clips are the media source of the benchmark harness: a synthetic picture
 * or sound is encoded once (libvpx VP8, libopus) and packetized into RTP
 * payloads that a sender loops in real time. The module is sans-IO: it
 * reads no clock and starts no thread; a sender paces the packets by their
 * send_us and adds loop * duration_ts to their ts.
 *
 * Thread notes: a clip is immutable once built and may be read from any
 * number of threads; fl_clip_* constructors and fl_vp8_desc_* functions are
 * reentrant; a depacketizer has one owner. */
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

/* Builds an H.264 clip: the picture of fl_clip_vp8 encoded with fl_venc's
 * H.264 encoder (openh264, Constrained Baseline, realtime CBR) at width x
 * height (both even), fps and kbps, `seconds` long. The first frame is the
 * only key frame (an IDR with its SPS and PPS); the rate control may drop a
 * frame now and then, so frames <= fps * seconds (a dropped frame leaves a
 * gap in ts and send_us).
 *
 * Packetized with fl_pack per RFC 6184, packetization-mode 1: the SPS and
 * PPS in one STAP-A, a NAL unit that fits max_payload alone, a larger one
 * as FU-A fragments; marker on the last packet of an access unit; keyframe
 * set on every packet of the key frame. Frame i has ts i * 90000 / fps and
 * its packets are spread evenly within the frame interval, as fl_clip_vp8's.
 * On looping, the next loop starts with the key frame again.
 *
 * Returns 0 and a new clip in *out (free with fl_clip_destroy), FL_EINVAL
 * for the arguments fl_clip_vp8 refuses or an odd size, FL_ENOMEM, or FL_EIO
 * if openh264 fails. Costs a few ms of one core per 640x480 frame. */
int fl_clip_h264(fl_clip **out,
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

/* Payload formats known here: the video ones the packet path looks into
 * (key frames) and the audio ones a recorder writes. */
typedef enum fl_codec_kind {
    FL_CODEC_OTHER = 0,
    FL_CODEC_VP8,
    FL_CODEC_VP9,
    FL_CODEC_H264,
    FL_CODEC_OPUS,
    FL_CODEC_PCMU,
    FL_CODEC_PCMA,
} fl_codec_kind;

/* The kind for an SDP encoding name, case-insensitive ("VP8", "vp9",
 * "H264", "opus", "PCMU", "PCMA"; others OTHER). */
fl_codec_kind fl_codec_kind_of(const char *name);

/* The SDP encoding name of a kind ("VP8", "opus", ...; "other" for OTHER). */
const char *fl_codec_kind_name(fl_codec_kind kind);

/* 1 for VP8, VP9 and H.264 (a kind with key frames), 0 otherwise. */
int fl_codec_kind_is_video(fl_codec_kind kind);

/* 1 when this RTP payload begins a key frame: VP8 S=1, PID=0 and the
 * payload header's P bit clear; VP9 B set and P clear; H.264 an IDR slice
 * or an SPS (single NAL, inside STAP-A, or the first FU-A fragment). 0
 * otherwise, for anything malformed, and for every audio kind (no key
 * frames to wait for). */
int fl_codec_key_frame_start(fl_codec_kind kind, const uint8_t *payload, size_t len);

/* ---- depacketizers: RTP payloads in, whole frames out ----
 *
 * One fl_depack per received stream, fed with the payloads of its RTP
 * packets in sequence order (what a jitter buffer, net/jitter.h, releases)
 * and polled for whole frames (access units):
 *
 *     fl_depack_push(d, &(fl_depack_packet){ payload, len, seq, ts, marker, lost_before });
 *     while (fl_depack_pull(d, &frame) == 1)
 *         write frame.data (frame.len bytes) at frame.rtp_ts;
 *     if (fl_depack_wants_key(d)) ask the sender for a key frame (PLI);
 *
 * Formats:
 * - VP8 (RFC 7741): the payload descriptor is stripped; a frame runs from
 *   the packet with S=1 and PID=0 to the marker (or to the next timestamp),
 *   its partitions concatenated; key from the payload header's P bit.
 * - VP9 (RFC 9628): flexible and non-flexible descriptors, with the
 *   scalability structure (SS); a layer frame runs from B to E, and the
 *   layer frames of one picture (same timestamp, up to the marker) make one
 *   frame: a lone layer frame as it is, several as a VP9 superframe (their
 *   concatenation and a superframe index, VP9 bitstream spec annex B).
 * - H.264 (RFC 6184, packetization modes 0 and 1): single NAL units,
 *   STAP-A and FU-A; STAP-B, MTAP16/24 and FU-B (interleaved mode) are
 *   refused and counted. Out in AVC form: each NAL unit preceded by its
 *   length, 4 bytes big-endian. An access unit ends at the marker or at the
 *   next timestamp.
 * - Opus (RFC 7587), PCMU and PCMA (RFC 3551): one packet, one frame,
 *   always key.
 *
 * Loss: a frame with a packet missing (lost_before, a sequence number gap,
 * a layer frame or FU-A that does not end, an H.264 picture whose first
 * slice does not start at macroblock 0, a VP9 picture whose first layer
 * frame depends on a layer below, a malformed packet) is dropped whole,
 * never output broken. Video frames are output only from a key
 * frame on: at the start, and after a dropped frame, frames are dropped
 * until the next key frame, and fl_depack_wants_key says 1 meanwhile.
 * Frames over max_frame bytes are dropped the same way.
 *
 * Memory: the depacketizer keeps its frames in buffers of its own that
 * grow to the largest frame seen, then stop allocating. Not thread-safe:
 * one owner. */

#define FL_DEPACK_DEF_MAX_FRAME (4u << 20)
/* Largest parameter set remembered (SPS/PPS); a larger one is not kept. */
#define FL_DEPACK_MAX_PARAM_SET 512

typedef struct fl_depack fl_depack;

typedef struct fl_depack_config {
    fl_codec_kind codec;
    uint32_t clock_rate; /* RTP clock, Hz; 0: the format's own (90000 video,
                            48000 Opus, 8000 G.711); informational */
    const char *fmtp;    /* the a=fmtp parameters ("packetization-mode=1;
                            sprop-parameter-sets=Z0Kg...,aM4..."), or NULL;
                            H.264 takes its first SPS/PPS from it; copied */
    size_t max_frame;    /* bytes; 0: FL_DEPACK_DEF_MAX_FRAME */
} fl_depack_config;

typedef struct fl_depack_packet {
    const uint8_t *payload; /* the RTP payload (padding removed); read during push only */
    size_t len;             /* 0: a padding-only packet (only its sequence number counts) */
    uint16_t seq;
    uint32_t ts;
    int marker;
    int lost_before; /* packets known missing just before this one (the
                        jitter buffer gave up on them); > 0 counts as a gap
                        even when seq follows the last one (a reset) */
} fl_depack_packet;

/* One access unit. The pointers are into the depacketizer and valid until
 * the next fl_depack_push (or destroy) on it. */
typedef struct fl_frame {
    fl_codec_kind codec;
    const uint8_t *data; /* VP8/VP9 frame, H.264 AVC-form access unit, Opus/G.711 packet */
    size_t len;
    uint32_t rtp_ts;
    int key;                  /* decoding can start here (always 1 for audio) */
    uint16_t width, height;   /* video key frames when the payload tells (VP8 key
                                 frame header, VP9 SS or uncompressed header,
                                 H.264 SPS); 0 otherwise */
    const uint8_t *sps, *pps; /* H.264: the parameter sets in force (the latest
                                 seen in the stream, or sprop-parameter-sets), NAL
                                 header byte included, no length prefix; NULL
                                 before any, and for other formats */
    size_t sps_len, pps_len;
} fl_frame;

typedef struct fl_depack_stats {
    uint64_t packets;     /* pushed, padding included */
    uint64_t frames;      /* output */
    uint64_t key_frames;  /* output */
    uint64_t gaps;        /* pushes that came after a gap */
    uint64_t dropped;     /* frames dropped: a packet missing, malformed or too big */
    uint64_t skipped;     /* whole frames dropped while waiting for a key frame */
    uint64_t malformed;   /* packets refused as malformed (FL_EBADMSG) */
    uint64_t unsupported; /* H.264 STAP-B, MTAP16, MTAP24, FU-B packets refused */
    uint64_t too_big;     /* frames dropped over max_frame */
    uint64_t unpulled;    /* frames a push found not pulled (dropped then) */
} fl_depack_stats;

/* Creates a depacketizer for cfg->codec (not OTHER). Returns 0, FL_EINVAL
 * (no cfg, OTHER or an unknown kind) or FL_ENOMEM. A malformed
 * sprop-parameter-sets is ignored (the stream's own SPS/PPS are used). */
int fl_depack_create(fl_depack **out, const fl_depack_config *cfg);
void fl_depack_destroy(fl_depack *d);

/* Takes one packet (its bytes are copied as needed, not kept). Frames it
 * completes are ready for fl_depack_pull; frames from the previous push
 * that were not pulled are dropped (counted). Returns 0, FL_EBADMSG for a
 * malformed payload or FL_ENOTSUP for an H.264 packet type of the
 * interleaved mode: either way the frame in progress is dropped. */
int fl_depack_push(fl_depack *d, const fl_depack_packet *p);

/* Ends the frame in progress as if the next timestamp had come (the end of
 * a stream): a frame that lacks nothing but its marker becomes ready. */
void fl_depack_flush(fl_depack *d);

/* 1 and the next ready frame in *out (call again), 0 when none is left. */
int fl_depack_pull(fl_depack *d, fl_frame *out);

/* 1 while video frames are being dropped for want of a key frame (a frame
 * was lost, or none came yet): a PLI should go upstream. */
int fl_depack_wants_key(const fl_depack *d);

void fl_depack_get_stats(const fl_depack *d, fl_depack_stats *out);

/* ---- H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1) ---- */

typedef struct fl_h264_sps {
    uint8_t profile_idc;
    uint8_t constraint_flags; /* the byte after profile_idc */
    uint8_t level_idc;
    uint8_t sps_id;
    uint8_t chroma_format_idc; /* 1 (4:2:0) unless a high profile says otherwise */
    uint8_t bit_depth_luma, bit_depth_chroma;
    uint8_t frame_mbs_only;
    uint16_t width, height; /* pixels, cropping applied */
} fl_h264_sps;

/* Parses an SPS NAL unit (header byte included, emulation prevention bytes
 * as on the wire: they are skipped while reading). Reads up to the frame
 * cropping; the VUI is not read. Returns 0, or FL_EBADMSG when it is not an
 * SPS, ends early, or holds values out of range (a picture wider or taller
 * than 65535 pixels, or empty after cropping). */
int fl_h264_sps_parse(fl_h264_sps *out, const uint8_t *nal, size_t len);

/* ---- packetizers: whole frames in, RTP payloads out ----
 *
 * The reverse of the depacketizers, for a sender of frames read from a
 * file (a player): one fl_pack per stream, given a frame, then polled for
 * its payloads, each at most max_payload bytes:
 *
 *     fl_pack_frame(p, &(fl_pack_input){ data, len, key });
 *     while ((n = fl_pack_next(p, buf, sizeof(buf), &marker)) > 0)
 *         send an RTP packet: payload buf[0..n), the frame's timestamp,
 *         M = marker;
 *
 * Formats:
 * - VP8 (RFC 7741): a 4-byte descriptor (X=1, I=1, 15-bit PictureID
 *   counting frames from a random start, S=1 on the first packet), the
 *   frame split into near-equal parts; M on the last.
 * - VP9 (RFC 9628, non-flexible mode): a descriptor with I (15-bit
 *   PictureID), B on the first and E on the last packet of the frame, P
 *   clear on key frames (and set otherwise); a superframe (libvpx's hidden
 *   frame with the shown one) goes whole as one frame, as decoders take
 *   it; M on the last.
 * - H.264 (RFC 6184, packetization-mode 1): the input is an access unit
 *   with NAL units preceded by their length (nal_length_size bytes: 1, 2
 *   or 4) or, with nal_length_size 0, in Annex B form (start codes). A key
 *   frame (an IDR) that carries no SPS/PPS is sent after them, in one
 *   STAP-A, from the config's (or the latest seen in the stream). A NAL
 *   unit that fits is sent alone; a larger one as FU-A fragments; M on
 *   the last packet of the access unit. Access unit delimiters and filler
 *   data are dropped, and NAL unit types 0 and 24-31 (RTP's own).
 * - Opus (RFC 7587), PCMU, PCMA (RFC 3551): the frame is the payload
 *   (G.711 frames over max_payload are split on sample boundaries, one
 *   byte a sample: a piece's timestamp is the frame's plus the bytes of
 *   the pieces before it); M is 0 (a player marks the first packet of a
 *   talkspurt itself).
 *
 * Memory: the packetizer keeps a copy of the frame in a buffer that grows
 * to the largest frame, then stops allocating. One owner. */

typedef struct fl_pack fl_pack;

typedef struct fl_pack_config {
    fl_codec_kind codec;      /* not OTHER */
    size_t max_payload;       /* bytes per payload; 0: 1200; at least 64 */
    unsigned nal_length_size; /* H.264 input: 1, 2, 4; 0 Annex B */
    /* H.264: parameter sets to send before a key frame that lacks them
     * (NAL header byte included, no length or start code); may be NULL */
    const uint8_t *sps, *pps;
    size_t sps_len, pps_len;
    uint32_t seed; /* the first PictureID (VP8, VP9) */
} fl_pack_config;

typedef struct fl_pack_input {
    const uint8_t *data;
    size_t len;
    int key; /* a key frame (video) */
} fl_pack_input;

/* 0, FL_EINVAL (no cfg, OTHER, max_payload under 64, a bad
 * nal_length_size), FL_ENOMEM. */
int fl_pack_create(fl_pack **out, const fl_pack_config *cfg);
void fl_pack_destroy(fl_pack *p);

/* Takes a frame (copied); payloads of a previous frame not yet taken are
 * dropped. 0, FL_EBADMSG for a malformed frame (an H.264 NAL length past
 * the end, no start code, nothing left to send, an empty frame),
 * FL_EMSGSIZE for an Opus frame over max_payload, FL_ENOMEM. */
int fl_pack_frame(fl_pack *p, const fl_pack_input *in);

/* Writes the next payload of the frame into out (cap at least
 * max_payload: a smaller cap gets 0 and takes nothing) and returns its
 * length, with *marker set; 0 when the frame is all sent. */
size_t fl_pack_next(fl_pack *p, uint8_t *out, size_t cap, int *marker);

typedef struct fl_pack_stats {
    uint64_t frames;
    uint64_t payloads;
    uint64_t bytes;
    uint64_t malformed;
} fl_pack_stats;

void fl_pack_get_stats(const fl_pack *p, fl_pack_stats *out);

#endif
