/* container: the file formats media is recorded to (and, later, played
 * from), written here: WebM/Matroska (EBML) and MP4 (ISO BMFF, fragmented).
 *
 * Sans-IO: a muxer takes whole coded frames with their presentation times
 * and hands bytes to a caller's write callback; it opens no file, reads no
 * clock and starts no thread. engine/ owns the file and writes what it is
 * given, in order, off the packet path.
 *
 * Crash safety is the muxer's contract with its writer: every call of
 * `write` with offset FL_MUX_APPEND carries a whole unit (the header, a
 * whole WebM Cluster, a whole MP4 moof+mdat fragment), and a file that
 * ends after any such unit plays up to it. The writer must therefore write
 * each call's bytes whole before the next (one write(2) of the buffer, or a
 * queue that keeps call boundaries). At fl_mux_finish the muxer may append
 * a last unit (Cues, an index) and then patch bytes it wrote before
 * (offset >= 0: the segment size, the duration): those patches only ever
 * make a complete file better; a file cut before them still plays.
 *
 * Threads: a muxer belongs to one thread; calls are reentrant across
 * muxers. */
#ifndef FL_CONTAINER_CONTAINER_H
#define FL_CONTAINER_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

typedef enum fl_mux_format {
    FL_MUX_WEBM, /* WebM: VP8, VP9, Opus only (the WebM profile of Matroska) */
    FL_MUX_MKV,  /* Matroska: also H.264 (V_MPEG4/ISO/AVC), PCMU, PCMA (A_MS/ACM) */
    FL_MUX_MP4,  /* fragmented MP4: H.264 (avc1), Opus (Opus + dOps) */
} fl_mux_format;

typedef enum fl_mux_codec {
    FL_MUX_VP8,
    FL_MUX_VP9,
    FL_MUX_H264,
    FL_MUX_OPUS,
    FL_MUX_PCMU,
    FL_MUX_PCMA,
} fl_mux_codec;

#define FL_MUX_MAX_TRACKS 4

typedef struct fl_mux_track {
    fl_mux_codec codec;
    uint32_t sample_rate; /* audio: 48000 Opus, 8000 G.711; video: 0 */
    unsigned channels;    /* audio: 1 or 2; video: 0 */
} fl_mux_track;

/* A whole coded frame (an access unit) of one track. */
typedef struct fl_mux_frame {
    unsigned track; /* index into the tracks given at create */
    int64_t pts_us; /* presentation time from the recording's start, >= 0,
                     * never decreasing within a track */
    int key;        /* a random access point (video key frame; audio: 1) */
    const uint8_t *data;
    size_t len;
    /* Video key frames: the picture size the frame codes (0: unknown; a
     * track's header waits for its first known size). */
    uint16_t width, height;
    /* H.264 key frames: the SPS and PPS in force (NAL units without start
     * code or length); the frame's data is in AVC form: each NAL unit
     * preceded by its length, 4 bytes big endian. */
    const uint8_t *sps, *pps;
    size_t sps_len, pps_len;
} fl_mux_frame;

#define FL_MUX_APPEND (-1)

typedef struct fl_mux_output {
    /* Writes len bytes at `offset` (FL_MUX_APPEND: after everything
     * appended so far). The bytes are the muxer's and valid during the
     * call only. Returns 0, or a negative FL_E* code that the muxer returns
     * from the call that wrote (the writer remembers its own failure: a
     * full disk is reported once, by the engine). */
    int (*write)(void *arg, int64_t offset, const uint8_t *data, size_t len);
    void *arg;
} fl_mux_output;

typedef struct fl_mux fl_mux;

typedef struct fl_mux_config {
    fl_mux_format format;
    const fl_mux_track *tracks;
    size_t ntracks; /* 1..FL_MUX_MAX_TRACKS */
    fl_mux_output out;
    /* A new WebM cluster or MP4 fragment starts at a video key frame once
     * this much time has passed in the current one (or, with no video
     * track, every interval); 0: 1 s. A cluster is also closed when it
     * would pass 30 s or 32 MiB, key frame or not. */
    int64_t fragment_us;
} fl_mux_config;

/* FL_EINVAL for a codec the format cannot hold (H.264 in WebM, G.711 in
 * MP4, ...), no track or too many; FL_ENOMEM. Nothing is written before
 * the first frame. */
int fl_mux_create(fl_mux **out, const fl_mux_config *cfg);

/* Takes one frame. The header is written once every track that will carry
 * media has shown what its header needs (a video track: a key frame with
 * its size, and for H.264 its SPS/PPS), or once 2 s of media have waited
 * for a track that sends nothing (it is then left out, or written empty);
 * frames before a video track's first key frame are dropped. Frames are
 * held until the unit they belong to is whole, then written.
 * FL_EINVAL for a frame that breaks the rules above (track out of range,
 * time going back, no data, more than 16 MiB, an SPS or PPS pointer and
 * length that disagree or over 65535 bytes), which is dropped and changes
 * nothing; FL_ESTATE after finish; the write callback's error. */
int fl_mux_write(fl_mux *m, const fl_mux_frame *f);

/* Writes what is held and completes the file (MP4: the last fragment and
 * an mfra index; WebM: the last cluster, Cues, then patches the segment
 * size, Duration and SeekHead). After it, fl_mux_write fails. */
int fl_mux_finish(fl_mux *m);

typedef struct fl_mux_stats {
    uint64_t frames;         /* taken */
    uint64_t frames_dropped; /* before a track's first key frame, or refused */
    uint64_t units;          /* clusters or fragments written */
    uint64_t bytes;          /* appended */
    int64_t duration_us;     /* of what was written */
} fl_mux_stats;

void fl_mux_get_stats(const fl_mux *m, fl_mux_stats *out);

/* Frees the muxer (without finishing: what was written stays playable). */
void fl_mux_destroy(fl_mux *m);

/* ---- demuxers: the reverse of the muxers ----
 *
 * A demuxer reads a WebM/Matroska or MP4 (plain or fragmented ISO BMFF)
 * file and gives its tracks and whole coded frames in presentation order
 * across tracks (interleaved as the file holds them, which is close to
 * that). Sans-IO, pull style: it never reads a file itself but says which
 * bytes it needs next, and the caller (engine/, from a file or an HTTP
 * stream) gives them:
 *
 *     fl_demux_create(&d, &(fl_demux_config){ .size = file_size });
 *     for (;;) {
 *         int rc = fl_demux_read(d, &frame);
 *         if (rc == 1) send frame;
 *         else if (rc == FL_EAGAIN) {
 *             fl_demux_want(d, &offset, &len);
 *             read at least len bytes (fewer only at the end of the file)
 *             at offset, then fl_demux_feed(d, offset, bytes, n);
 *         } else if (rc == FL_EOF) break;  (the end)
 *         else error (FL_EBADMSG: corrupt; FL_ENOTSUP: not a format known)
 *     }
 *
 * The first reads parse the header (fl_demux_info is valid once
 * fl_demux_read has returned a frame or FL_EOF, or fl_demux_ready says 1).
 * A caller may give more bytes than wanted (a read-ahead): the demuxer
 * keeps what is contiguous with what it needs. Bytes given at another
 * offset than the one wanted are ignored (FL_EINVAL).
 *
 * The format is found from the first bytes (EBML header: Matroska/WebM;
 * an ftyp/moov/moof/styp box: MP4). Every length, offset and count in the
 * file is checked against the bytes and the file size: a corrupt or
 * truncated file gives FL_EBADMSG (or FL_EOF at a clean cut between
 * frames), never a read outside what was given. Memory is bounded: an
 * element or box over FL_DEMUX_MAX_UNIT bytes is refused (FL_EBADMSG).
 *
 * Frames: video as the codec's bitstream (VP8/VP9 frames; H.264 access
 * units in AVC form, each NAL unit preceded by its length in
 * nal_length_size bytes, as the file holds them); audio one packet per
 * frame (Matroska lacing is undone; a G.711 block may hold many samples).
 *
 * Not thread-safe: one owner. */

#define FL_DEMUX_MAX_UNIT   (64u << 20) /* 64 MiB: a box, a cluster, a frame */
#define FL_DEMUX_MAX_TRACKS 8

typedef enum fl_demux_format {
    FL_DEMUX_UNKNOWN = 0,
    FL_DEMUX_MATROSKA, /* WebM or Matroska */
    FL_DEMUX_MP4,      /* plain or fragmented */
} fl_demux_format;

typedef struct fl_demux_track {
    unsigned id;            /* the file's track number */
    int video;              /* 1 video, 0 audio */
    fl_codec_kind codec;    /* FL_CODEC_OTHER: a codec fluo does not send */
    char codec_name[32];    /* as the file names it: "V_VP8", "avc1", "mp4a", "A_AAC"... */
    uint32_t sample_rate;   /* audio */
    unsigned channels;      /* audio */
    uint16_t width, height; /* video, from the header (0: unknown) */
    /* H.264: the first SPS and PPS of the avcC (NAL header byte included,
     * no length), and the NAL length size of the frames (1, 2 or 4) */
    const uint8_t *sps, *pps;
    size_t sps_len, pps_len;
    unsigned nal_length_size;
    /* the codec's private data as the file holds it (avcC, OpusHead/dOps
     * payload, ...), or NULL */
    const uint8_t *extra;
    size_t extra_len;
} fl_demux_track;

typedef struct fl_demux_info {
    fl_demux_format format;
    size_t ntracks;
    fl_demux_track tracks[FL_DEMUX_MAX_TRACKS];
    int64_t duration_us; /* -1 when the file does not say */
    int seekable;        /* 1: fl_demux_seek can work (an index: Cues, a
                            sample table, an mfra; or a WebM whose
                            clusters can be scanned) */
} fl_demux_info;

typedef struct fl_demux_frame {
    unsigned track;      /* index into fl_demux_info.tracks */
    int64_t pts_us;      /* presentation time */
    int64_t dts_us;      /* decode time (== pts_us unless frames are reordered) */
    int key;             /* random access point (audio: 1) */
    const uint8_t *data; /* valid until the next call on the demuxer */
    size_t len;
} fl_demux_frame;

typedef struct fl_demux fl_demux;

typedef struct fl_demux_config {
    int64_t size; /* bytes in the file; -1: unknown (a stream: seeking
                     and an index at the end are not used) */
} fl_demux_config;

int fl_demux_create(fl_demux **out, const fl_demux_config *cfg);
void fl_demux_destroy(fl_demux *d);

/* 1 and the next frame in *out; FL_EAGAIN when it needs bytes (see
 * fl_demux_want); FL_EOF at the end; FL_EBADMSG for a corrupt file,
 * FL_ENOTSUP for an unknown format (the error repeats on later calls).
 * Frames of tracks whose codec is FL_CODEC_OTHER are skipped. */
int fl_demux_read(fl_demux *d, fl_demux_frame *out);

/* The bytes it needs next: at least *len (> 0) from *offset. */
void fl_demux_want(const fl_demux *d, int64_t *offset, size_t *len);

/* Gives n bytes read at offset (copied). 0, FL_EINVAL when offset is not
 * where it wants bytes, FL_ENOMEM. n < len is taken as the end of the file
 * when offset + n reaches the size, or the file size is unknown. */
int fl_demux_feed(fl_demux *d, int64_t offset, const uint8_t *data, size_t n);

/* 1 once the header is read (fl_demux_info is valid). */
int fl_demux_ready(const fl_demux *d);
const fl_demux_info *fl_demux_info_get(const fl_demux *d);

/* Moves to the last video key frame at or before pts_us (the first key
 * frame when none is; with no video track, the audio frame there); the
 * following fl_demux_read calls give frames from it on (every track from
 * that key frame's time: the first video frame given is that key frame).
 * Returns 0 (reads then want bytes as needed: an index may be read
 * first), FL_ENOTSUP when the file is not seekable, FL_ERANGE outside
 * 0..duration. */
int fl_demux_seek(fl_demux *d, int64_t pts_us);

#endif
