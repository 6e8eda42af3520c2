/* fluo-bench depack: nanoseconds per RTP packet for what a recorder does
 * with each received packet before muxing (net/jitter push and pop, then
 * codec/depack push and pull), for the VP8 and Opus load clips, against
 * copying the same payload bytes once (the floor any frame assembly pays)
 * in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "bench/bench.h"
#include "codec/codec.h"
#include "net/jitter.h"
#include "net/rtp.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile size_t sink;

/* The clip looped `loops` times through a jitter buffer and a
 * depacketizer; every 50th pair of packets arrives swapped. One loop of
 * RTP packets is written before the clock starts (the bench holds a
 * reference to each) and reused, with the sequence number and timestamp
 * set in place, as a receive ring would be. Returns ns per packet, or -1
 * when a frame is missing. */
static double run_clip(const fl_clip *c, fl_codec_kind kind, int loops)
{
    fl_buf_pool *pool = NULL;
    fl_jitter *j = NULL;
    fl_depack *d = NULL;
    fl_jitter_config jc = { .clock_rate = c->clock_rate };
    fl_depack_config dc = { .codec = kind };
    size_t total = (size_t)loops * c->n;
    fl_buf **pkts = calloc(c->n, sizeof(*pkts));
    if (!pkts || fl_buf_pool_create(&pool, 1500, 0, c->n, 0) != 0 ||
        fl_jitter_create(&j, &jc) != 0 || fl_depack_create(&d, &dc) != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const fl_clip_packet *p = &c->pkts[i];
        fl_rtp_header h = {
            .payload_type = 96, .seq = 0, .timestamp = 0, .ssrc = 1, .marker = p->marker
        };
        pkts[i] = fl_buf_pool_get(pool);
        if (!pkts[i] || fl_rtp_buf_write(pkts[i], 0, &h, p->payload, p->len) != 0)
            return -1;
    }
    size_t frames = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < total; i++) {
        size_t k = i % 50 == 25 && i + 1 < total ? i + 1 : i % 50 == 26 ? i - 1 : i;
        fl_buf *b = pkts[k % c->n];
        uint32_t ts = c->pkts[k % c->n].ts + (uint32_t)(k / c->n) * c->duration_ts;
        fl_rtp_set_seq(fl_buf_data(b), (uint16_t)k);
        fl_rtp_set_timestamp(fl_buf_data(b), ts);
        b->rtp.seq = (uint16_t)k;
        b->rtp.timestamp = ts;
        fl_jitter_push(j, fl_buf_ref(b), (fl_time)i);
        unsigned lost;
        fl_buf *out;
        while (fl_jitter_pop(j, (fl_time)i, &out, &lost) == 1) {
            fl_depack_packet dp = { fl_buf_data(out) + out->rtp.payload_off,
                                    out->rtp.payload_len,
                                    out->rtp.seq,
                                    out->rtp.timestamp,
                                    out->rtp.marker,
                                    (int)lost };
            fl_depack_push(d, &dp);
            fl_buf_unref(out);
            fl_frame f;
            while (fl_depack_pull(d, &f) == 1) {
                sink += f.len;
                frames++;
            }
        }
    }
    double ns = (now_ns() - t0) / (double)total;
    for (size_t i = 0; i < c->n; i++)
        fl_buf_unref(pkts[i]);
    free(pkts);
    fl_jitter_destroy(j);
    fl_depack_destroy(d);
    fl_buf_pool_destroy(pool);
    /* every frame out but the last (it ends at the next timestamp or marker) */
    return frames + 1 >= (size_t)loops * c->frames ? ns : -1;
}

/* The floor: each payload copied once into a frame buffer. */
static double run_copy(const fl_clip *c, int loops)
{
    uint8_t *frame = malloc(1 << 20);
    if (!frame)
        return -1;
    size_t at = 0, total = (size_t)loops * c->n;
    double t0 = now_ns();
    for (size_t i = 0; i < total; i++) {
        const fl_clip_packet *p = &c->pkts[i % c->n];
        if (at + p->len > (1 << 20))
            at = 0;
        memcpy(frame + at, p->payload, p->len);
        at += p->len;
        if (p->marker) {
            sink += frame[0];
            at = 0;
        }
    }
    double ns = (now_ns() - t0) / (double)total;
    free(frame);
    return ns;
}

void fl_bench_depack_usage(FILE *out)
{
    fprintf(out, "  depack [--loops N]\n"
                 "      ns per RTP packet through a jitter buffer and a depacketizer (VP8\n"
                 "      640x480 1.5 Mbit/s and Opus clips) against one copy of the payload\n");
}

int fl_bench_depack_run(int argc, char **argv)
{
    int loops = 2000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--loops") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            loops = atoi(argv[++i]);
        } else {
            fl_bench_depack_usage(stderr);
            return 2;
        }
    }
    fl_clip *vp8 = NULL, *opus = NULL;
    if (fl_clip_vp8(&vp8, 640, 480, 30, 1500, 2, 1200) != 0 || fl_clip_opus(&opus, 64, 2) != 0) {
        fprintf(stderr, "fluo-bench depack: cannot build the clips\n");
        return 1;
    }
    double vp8_ns = run_clip(vp8, FL_CODEC_VP8, loops);
    double opus_ns = run_clip(opus, FL_CODEC_OPUS, loops * 10);
    double copy_ns = run_copy(vp8, loops);
    size_t packets = (size_t)loops * vp8->n;
    fl_clip_destroy(vp8);
    fl_clip_destroy(opus);
    if (vp8_ns < 0 || opus_ns < 0 || copy_ns <= 0) {
        fprintf(stderr, "fluo-bench depack: frames went missing\n");
        return 1;
    }
    printf("depack vp8_packets=%zu vp8_ns=%.1f opus_ns=%.1f copy_ns=%.1f vp8_over_copy=%.2f\n",
           packets, vp8_ns, opus_ns, copy_ns, vp8_ns / copy_ns);
    return 0;
}
