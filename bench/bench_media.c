/* The clips, streams and clocks of bench/bench_media.h. */
#include "bench/bench_media.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/err.h"
#include "net/rtp.h"

int64_t xb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double xb_thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double xb_process_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void xb_sleep_until_us(int64_t t)
{
    struct timespec ts = { (time_t)(t / 1000000), (long)(t % 1000000) * 1000 };
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

void xb_sleep_ms(int ms)
{
    xb_sleep_until_us(xb_now_us() + (int64_t)ms * 1000);
}

void xb_clip_free(xb_clip *c)
{
    for (size_t i = 0; c->frame && i < c->frames; i++)
        free(c->frame[i]);
    free(c->frame);
    free(c->len);
    free(c->ts);
    fl_clip_destroy(c->clip);
    memset(c, 0, sizeof(*c));
}

/* Depacketizes one loop of the clip into c->frame (copies). */
int xb_clip_frames(xb_clip *c)
{
    fl_depack *d = NULL;
    fl_depack_config dc = { .codec = c->kind };
    const fl_clip *k = c->clip;
    c->frame = calloc(k->frames, sizeof(*c->frame));
    c->len = calloc(k->frames, sizeof(*c->len));
    c->ts = calloc(k->frames, sizeof(*c->ts));
    if (!c->frame || !c->len || !c->ts || fl_depack_create(&d, &dc) != 0)
        return FL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i <= k->n && rc == 0; i++) {
        if (i < k->n) {
            const fl_clip_packet *p = &k->pkts[i];
            fl_depack_packet dp = { p->payload, p->len, (uint16_t)i, p->ts, p->marker, 0 };
            rc = fl_depack_push(d, &dp);
        } else {
            fl_depack_flush(d);
        }
        fl_frame f;
        while (rc == 0 && fl_depack_pull(d, &f) == 1) {
            if (c->frames >= k->frames || !(c->frame[c->frames] = malloc(f.len))) {
                rc = FL_ENOMEM;
                break;
            }
            memcpy(c->frame[c->frames], f.data, f.len);
            c->len[c->frames] = f.len;
            c->ts[c->frames++] = f.rtp_ts;
        }
    }
    fl_depack_destroy(d);
    if (rc == 0 && c->frames != k->frames)
        rc = FL_EBADMSG;
    c->fps = (double)c->frames * 1e6 / (double)k->duration_us;
    return rc;
}

/* Pushes the stream's next packet: the clip's payload under an RTP header
 * of this loop (sequence numbers and timestamps go on across loops, and
 * VP8 picture ids too). */
int xb_stream_push(xb_stream *st)
{
    const fl_clip *k = st->c->clip;
    const fl_clip_packet *p = &k->pkts[st->next];
    uint8_t pkt[FL_ENGINE_PACKET_MAX];
    fl_rtp_header h = { .marker = p->marker,
                        .payload_type = st->c->pt,
                        .seq = st->seq++,
                        .timestamp = p->ts + (uint32_t)st->loop * k->duration_ts,
                        .ssrc = st->ssrc };
    size_t len;
    int rc = fl_rtp_write(pkt, sizeof(pkt), &h, p->payload, p->len, 0, &len);
    if (rc == 0 && st->c->kind == FL_CODEC_VP8) {
        fl_vp8_desc desc;
        rc = fl_vp8_desc_parse(&desc, p->payload, p->len);
        int pid = (int)(((uint64_t)desc.picture_id + st->loop * st->c->frames) %
                        FL_VP8_PICTURE_ID_MOD);
        if (rc == 0)
            rc = fl_vp8_desc_set_picture_id(pkt + FL_RTP_HEADER_MIN, p->len, pid);
    }
    if (rc == 0)
        rc = fl_element_push(st->src, FL_MEDIA_VIDEO, pkt, len, NULL, NULL);
    if (++st->next == k->n) {
        st->next = 0;
        st->loop++;
    }
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double xb_median(const double *v, int n, double *lo, double *hi)
{
    double s[XB_MEDIAN_MAX];
    if (n > XB_MEDIAN_MAX)
        n = XB_MEDIAN_MAX;
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    *lo = s[0];
    *hi = s[n - 1];
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
