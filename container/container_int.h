/* container/ private declarations: each format's muxer behind fl_mux
 * (container/mux.c checks what every format shares and dispatches). */
#ifndef FL_CONTAINER_CONTAINER_INT_H
#define FL_CONTAINER_CONTAINER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "container/container.h"

typedef struct fl__mux_ops {
    /* A frame mux.c has checked (track in range, time not going back). */
    int (*write)(void *impl, const fl_mux_frame *f);
    int (*finish)(void *impl);
    void (*stats)(const void *impl, fl_mux_stats *out);
    void (*destroy)(void *impl);
} fl__mux_ops;

/* container/webm.c: FL_MUX_WEBM and FL_MUX_MKV. */
int fl__webm_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg);
/* container/mp4.c: FL_MUX_MP4. */
int fl__mp4_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg);

/* ---- container/avcc.c: H.264's decoder configuration, for both muxers.
 * Input is the caller's (a depacketizer's, from the network): read within
 * the lengths given. Reentrant. ---- */

/* An avcC never needs more than this beside its SPS and PPS. */
#define FL__AVCC_OVERHEAD 16

/* 1 when sps looks like an SPS NAL unit (type 7, the profile, constraint
 * and level bytes present) and pps like a PPS (type 8), each at most
 * 65535 bytes (avcC's 16-bit lengths); 0 otherwise. */
int fl__h264_param_sets_ok(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len);

/* Writes the AVCDecoderConfigurationRecord (ISO/IEC 14496-15) for one SPS
 * and one PPS (checked by fl__h264_param_sets_ok) at out: 4-byte NAL
 * lengths; for profiles other than Baseline, Main and Extended the chroma
 * format and bit depths that codec/'s fl_h264_sps_parse reads from the SPS
 * (left out when the SPS does not parse). Returns its length, or 0 when
 * cap (at least sps_len + pps_len + FL__AVCC_OVERHEAD is enough) is too
 * small. */
size_t fl__avcc_write(uint8_t *out,
                      size_t cap,
                      const uint8_t *sps,
                      size_t sps_len,
                      const uint8_t *pps,
                      size_t pps_len);

/* ---- demuxers: container/demux.c holds the bytes, each format parses ----
 *
 * A format's parser asks for the bytes it needs with fl__demux_get: a
 * pointer into the window when they are held, FL_EAGAIN otherwise (the
 * want is recorded and the caller's bytes come through fl_demux_feed). A
 * parser is written to be retried: it changes its state only after it has
 * all the bytes of a step, and one step takes one range (a pointer from an
 * earlier fl__demux_get may move when another is asked for). */

typedef struct fl__demux_io {
    int64_t size; /* the file's, -1 unknown */
    int64_t end;  /* where the file was found to end (a short feed); -1 unknown */
    uint8_t *buf; /* bytes held: [off, off + len) of the file */
    size_t len, cap;
    int64_t off;
    int64_t want_off; /* what the last FL_EAGAIN asked for */
    size_t want_len;
} fl__demux_io;

/* n (1..FL_DEMUX_MAX_UNIT) bytes at offset: 0 and *p; FL_EAGAIN (want
 * set); FL_EOF when they would run past the end of the file (its size or a
 * short read); FL_EBADMSG for n out of bounds or a negative offset. */
int fl__demux_get(fl__demux_io *io, int64_t offset, size_t n, const uint8_t **p);

/* Up to n bytes at offset, fewer when the file ends first: 0 with *p and
 * *got (>= 1); FL_EAGAIN; FL_EOF when offset is at or past the end. */
int fl__demux_get_some(fl__demux_io *io, int64_t offset, size_t n, const uint8_t **p, size_t *got);

typedef struct fl__demux_ops {
    /* 1 and a frame, FL_EAGAIN, FL_EOF or an error (as fl_demux_read);
     * fills info once the header is read and sets *ready. */
    int (*read)(void *impl, fl__demux_io *io, fl_demux_info *info, int *ready, fl_demux_frame *out);
    /* As fl_demux_seek, after demux.c checked the header is read, the file
     * seekable and pts_us within range. */
    int (*seek)(void *impl, fl__demux_io *io, int64_t pts_us);
    void (*destroy)(void *impl);
} fl__demux_ops;

/* container/mkv_demux.c: FL_DEMUX_MATROSKA. */
int fl__mkv_demux_create(void **impl, const fl__demux_ops **ops);
/* container/mp4_demux.c: FL_DEMUX_MP4. */
int fl__mp4_demux_create(void **impl, const fl__demux_ops **ops);

#endif
