/* A simulcast publisher for the load harness (see wr.h): three VP8 layers
 * on SSRCs of their own, offered in the SSRC form (a=ssrc-group:SIM, lowest
 * first), and which layer a viewer gets, told by the trailer of what it
 * receives. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/wr.h"

void wr_peer_simulcast(wr_peer *p, fl_clip *const clips[WR_LAYERS])
{
    p->nlayers = WR_LAYERS;
    for (int k = 0; k < WR_LAYERS; k++) {
        wr_tx *t = &p->layers[k];
        memset(t, 0, sizeof(*t));
        t->clip = clips[k];
        t->layer = k + 1;
        if (k == 0) {
            t->ssrc = p->tx[1].ssrc;
            t->seq = p->tx[1].seq;
            continue;
        }
        do
            t->ssrc = fl_rand_u32(&p->b->rand);
        while (!t->ssrc || t->ssrc == p->tx[0].ssrc || t->ssrc == p->layers[k - 1].ssrc ||
               t->ssrc == p->layers[0].ssrc);
        t->seq = fl_rtp_seq_initial(fl_rand_u32(&p->b->rand));
    }
}

/* The end of the section that starts at m (the next "m=" line or the end). */
static const char *section_end(const char *m)
{
    const char *e = strstr(m + 1, "\r\nm=");
    return e ? e + 2 : m + strlen(m);
}

/* The value of "a=ssrc:<ssrc> msid:" in [from, to) into out[cap]; "" none. */
static void ssrc_msid(const char *from, const char *to, uint32_t ssrc, char *out, size_t cap)
{
    char key[48];
    snprintf(key, sizeof(key), "a=ssrc:%" PRIu32 " msid:", ssrc);
    out[0] = '\0';
    const char *a = strstr(from, key);
    if (!a || a >= to)
        return;
    a += strlen(key);
    size_t n = strcspn(a, "\r\n");
    snprintf(out, cap, "%.*s", (int)n, a);
}

char *wr_simulcast_offer(const wr_peer *p, char *offer)
{
    const char *m = strstr(offer, "m=video ");
    if (!m) {
        free(offer);
        return NULL;
    }
    const char *end = section_end(m);
    char msid[200], lines[1024];
    ssrc_msid(m, end, p->layers[0].ssrc, msid, sizeof(msid));
    size_t n = (size_t)snprintf(lines, sizeof(lines), "a=ssrc-group:SIM");
    for (int k = 0; k < p->nlayers; k++)
        n += (size_t)snprintf(lines + n, sizeof(lines) - n, " %" PRIu32, p->layers[k].ssrc);
    n += (size_t)snprintf(lines + n, sizeof(lines) - n, "\r\n");
    for (int k = 1; k < p->nlayers && n < sizeof(lines); k++) {
        n += (size_t)snprintf(lines + n, sizeof(lines) - n,
                              "a=ssrc:%" PRIu32 " cname:fluobench\r\n", p->layers[k].ssrc);
        if (msid[0] && n < sizeof(lines))
            n += (size_t)snprintf(lines + n, sizeof(lines) - n, "a=ssrc:%" PRIu32 " msid:%s\r\n",
                                  p->layers[k].ssrc, msid);
    }
    if (n >= sizeof(lines)) {
        free(offer);
        return NULL;
    }
    size_t at = (size_t)(end - offer), len = strlen(offer);
    char *out = malloc(len + n + 1);
    if (out) {
        memcpy(out, offer, at);
        memcpy(out + at, lines, n);
        memcpy(out + at + n, offer + at, len - at + 1);
    }
    free(offer);
    return out;
}

int wr_viewer_layer(const wr_peer *p, const uint64_t since[WR_LAYERS], double *share)
{
    uint64_t total = 0, best = 0;
    int layer = -1;
    for (int k = 0; k < WR_LAYERS; k++) {
        uint64_t got = p->rx_layer[k] - (since ? since[k] : 0);
        total += got;
        if (got > best) {
            best = got;
            layer = k;
        }
    }
    *share = total ? (double)best / (double)total : 0;
    return layer;
}
