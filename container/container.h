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

#endif
