/* A camera's video for the load scenarios (see wr.h): libvpx's clip with
 * its key frame grown to a camera's size. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/wr.h"

#define MAX_PAYLOAD 1150

typedef struct camera_clip {
    fl_clip pub; /* first: the clip handed out */
    uint8_t *data;
} camera_clip;

/* Bytes of a clip's first frame (the key frame) and its packet count. */
static size_t key_frame(const fl_clip *c, size_t *npkts)
{
    size_t bytes = 0, n = 0;
    while (n < c->n && c->pkts[n].ts == c->pkts[0].ts)
        bytes += c->pkts[n++].len;
    *npkts = n;
    return bytes;
}

/* libvpx's clip whose bytes over a loop, the key frame grown to key_bytes,
 * come to about kbps: encoded at what the growth leaves of the budget,
 * then once more corrected by what the rate control missed by. */
static int encode(fl_clip **out, int w, int h, int kbps, int key_s, size_t key_bytes)
{
    double loop_s = key_s, grow_kbps = (double)key_bytes * 8 / (loop_s * 1000);
    double enc_kbps = kbps - grow_kbps;
    for (int pass = 0;; pass++) {
        if (enc_kbps < 50)
            return FL_EINVAL;
        int rc = fl_clip_vp8(out, w, h, 30, (int)enc_kbps, key_s, MAX_PAYLOAD);
        if (rc < 0)
            return rc;
        size_t nkey, kb = key_frame(*out, &nkey);
        double got = (double)((*out)->bytes - kb + (kb > key_bytes ? kb : key_bytes)) * 8 /
                     (loop_s * 1000);
        if (pass == 1 || (got > 0.97 * kbps && got < 1.03 * kbps))
            return 0;
        enc_kbps *= (kbps - grow_kbps) / (got - grow_kbps);
        fl_clip_destroy(*out);
    }
}

int wr_camera_clip(fl_clip **out, int kbps, int key_s, size_t key_bytes)
{
    return wr_camera_clip_sized(out, 640, 480, kbps, key_s, key_bytes);
}

int wr_camera_clip_sized(fl_clip **out,
                         int width,
                         int height,
                         int kbps,
                         int key_s,
                         size_t key_bytes)
{
    *out = NULL;
    fl_clip *enc;
    int rc = encode(&enc, width, height, kbps, key_s, key_bytes);
    if (rc < 0)
        return rc;
    size_t nkey, kb = key_frame(enc, &nkey);
    size_t body = MAX_PAYLOAD - FL_VP8_DESC_LEN;
    size_t extra = kb < key_bytes ? (key_bytes - kb + body - 1) / body : 0;
    camera_clip *c = calloc(1, sizeof(*c));
    fl_clip_packet *pkts = calloc(enc->n + extra, sizeof(*pkts));
    uint8_t *data = malloc(enc->bytes + extra * MAX_PAYLOAD);
    if (!c || !pkts || !data) {
        free(c);
        free(pkts);
        free(data);
        fl_clip_destroy(enc);
        return FL_ENOMEM;
    }
    c->pub = *enc;
    c->pub.pkts = pkts;
    c->data = data;
    uint8_t *w = data;
    uint64_t bytes = 0;
    uint32_t seed = 0x2545f491u;
    for (size_t i = 0, o = 0; i < enc->n; i++) {
        fl_clip_packet *k = &pkts[o++];
        *k = enc->pkts[i];
        memcpy(w, k->payload, k->len);
        k->payload = w;
        w += k->len;
        bytes += k->len;
        if (i + 1 != nkey || !extra)
            continue;
        /* the key frame's last packet: the filler follows it, the marker
         * moves to the filler's last packet; the filler continues the
         * partition (S=0) with the key frame's descriptor otherwise */
        k->marker = 0;
        for (size_t e = 0; e < extra; e++) {
            fl_clip_packet *f = &pkts[o++];
            *f = enc->pkts[i];
            f->marker = e + 1 == extra;
            memcpy(w, enc->pkts[0].payload, FL_VP8_DESC_LEN);
            w[0] &= (uint8_t)~0x10;
            for (size_t j = FL_VP8_DESC_LEN; j < MAX_PAYLOAD; j++) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                w[j] = (uint8_t)seed;
            }
            f->payload = w;
            f->len = MAX_PAYLOAD;
            w += MAX_PAYLOAD;
            bytes += MAX_PAYLOAD;
        }
    }
    c->pub.n = enc->n + extra;
    c->pub.bytes = bytes;
    fl_clip_destroy(enc);
    *out = &c->pub;
    return 0;
}

void wr_camera_clip_destroy(fl_clip *clip)
{
    if (!clip)
        return;
    camera_clip *c = (camera_clip *)clip;
    free(c->pub.pkts);
    free(c->data);
    free(c);
}
