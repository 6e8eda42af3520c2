/* bench/bench_media.h: what the in-process benchmarks (transcode,
 * composite) share: clips depacketized into frames for a bare reference,
 * streams that push a clip's packets into an AppSource in real time, and
 * the clocks they are timed with. */
#ifndef FL_BENCH_BENCH_MEDIA_H
#define FL_BENCH_BENCH_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"
#include "engine/fluo.h"

/* One clip, and its frames depacketized once for the reference. */
typedef struct xb_clip {
    fl_clip *clip;
    fl_codec_kind kind;
    uint8_t pt;
    const char *caps; /* the videoCaps of the AppSource pushing it */
    uint8_t **frame;
    size_t *len;
    uint32_t *ts;
    size_t frames;
    double fps; /* frames a second of the clip */
} xb_clip;

/* One AppSource's schedule. */
typedef struct xb_stream {
    fl_element *src;
    const xb_clip *c;
    size_t next;   /* packet of the clip */
    uint64_t loop; /* loops done */
    uint16_t seq;
    uint32_t ssrc;
    int64_t offset_us; /* from the run's start */
} xb_stream;

/* Monotonic wall clock, this thread's CPU time and the process's (user +
 * sys), in microseconds; sleeping until a monotonic time. */
int64_t xb_now_us(void);
double xb_thread_cpu_us(void);
double xb_process_cpu_us(void);
void xb_sleep_until_us(int64_t t);
void xb_sleep_ms(int ms);
/* The median of n values (1..XB_MEDIAN_MAX; v left as it is), their least
 * in *lo and greatest in *hi. */
#define XB_MEDIAN_MAX 64
double xb_median(const double *v, int n, double *lo, double *hi);
/* Frees a clip's frames and the clip. */
void xb_clip_free(xb_clip *c);
/* Depacketizes one loop of c->clip into c->frame (copies): 0 or a code. */
int xb_clip_frames(xb_clip *c);
/* Pushes the stream's next packet into its AppSource: the clip's payload
 * under an RTP header of this loop (sequence numbers, timestamps and VP8
 * picture ids go on across loops). 0 or a code. */
int xb_stream_push(xb_stream *st);

#endif
