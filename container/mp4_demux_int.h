/* container/ private: what the MP4 demuxer's two files share (mp4_demux.c:
 * the top-level boxes, fragments, the order frames come out in, seeking;
 * mp4_moov.c: the moov, its tracks and sample tables). */
#ifndef FL_CONTAINER_MP4_DEMUX_INT_H
#define FL_CONTAINER_MP4_DEMUX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "container/container.h"

#define MP4_FOURCC(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* The samples of every table held at once (a moov's tracks together, or one
 * fragment's): 24 bytes each, so at most 240 MB for a file that has them. */
#define MP4_MAX_SAMPLES (10u * 1000 * 1000)

/* A sample: where its bytes are and its decode time, in its track's
 * timescale (the edit list not applied). */
struct mp4_sample {
    int64_t off;
    int64_t dts;
    uint32_t size : 31; /* 1..FL_DEMUX_MAX_UNIT */
    uint32_t key : 1;
    int32_t cto; /* composition offset: pts = dts + cto */
};

struct mp4_track {
    uint32_t id;        /* tkhd's track_ID */
    uint32_t timescale; /* mdhd's */
    int video;          /* else audio: every sample is a key frame */
    int skip;           /* FL_CODEC_OTHER: its samples are not read */
    int chunked;        /* G.711 with one sample per byte: a chunk per frame */
    /* The edit list: times are shifted by -media_start ticks, then
     * +empty_us (an initial empty edit). */
    int64_t media_start;
    int64_t empty_us;
    int64_t end_ticks; /* the sample table's end (stts's sum), 0 if none */
    uint8_t *extra;    /* the codec's private data (owned; info points in) */
    /* trex: the fragments' defaults */
    uint32_t trex_duration, trex_size, trex_flags;
    /* The samples in decode order: the moov's sample table or the current
     * fragment's; s grows to the largest and is reused. */
    struct mp4_sample *s;
    size_t n, cap, next;
    int64_t frag_dts; /* a fragment without tfdt starts here */
};

/* A bounds-checked reader over a box's payload: reading past the end sets
 * bad and gives zeros. */
struct mp4_rd {
    const uint8_t *p;
    size_t len, at;
    int bad;
};

uint8_t fl__mp4_u8(struct mp4_rd *r);
uint16_t fl__mp4_u16(struct mp4_rd *r);
uint32_t fl__mp4_u32(struct mp4_rd *r);
uint64_t fl__mp4_u64(struct mp4_rd *r);
void fl__mp4_skip(struct mp4_rd *r, size_t n);

/* A box inside a buffer: its type and payload (after the header). */
struct mp4_box {
    uint32_t type;
    const uint8_t *p;
    size_t len;
};

/* The next box of p..len from *at (moved past it): 1; 0 at the end;
 * FL_EBADMSG when a header runs past len. A size of 0 runs to len. */
int fl__mp4_box_next(const uint8_t *p, size_t len, size_t *at, struct mp4_box *b);

/* Whole-movie facts from the moov. */
struct mp4_movie {
    uint32_t timescale;
    int64_t duration_us; /* mvhd's, or mehd's; -1 unknown */
    int fragmented;      /* an mvex: moof fragments may follow */
    size_t nsamples;     /* in the tracks' sample tables together */
};

/* Parses a whole moov (its payload p..len) into tracks (at most
 * FL_DEMUX_MAX_TRACKS video and audio tracks, the rest ignored), their
 * sample tables and info->tracks/ntracks. file_size (-1 unknown) bounds the
 * samples: a table is cut at the first sample past the end (a truncated
 * file plays up to it). 0, FL_EBADMSG or FL_ENOMEM; on error the tracks
 * are left for fl__mp4_tracks_free. */
int fl__mp4_moov_parse(const uint8_t *p,
                       size_t len,
                       int64_t file_size,
                       struct mp4_track *tracks,
                       size_t *ntracks,
                       struct mp4_movie *movie,
                       fl_demux_info *info);

void fl__mp4_tracks_free(struct mp4_track *tracks, size_t ntracks);

/* Room for n samples in t->s (kept when it already has it): 0 or
 * FL_ENOMEM. */
int fl__mp4_samples_reserve(struct mp4_track *t, size_t n);

/* Ticks of a timescale to microseconds, rounded to the nearest, for any
 * int64 tick count. */
int64_t fl__mp4_ticks_to_us(int64_t t, uint32_t timescale);

#endif
