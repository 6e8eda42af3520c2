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

#endif
