/* Fuzzes the SDP module (sdp/): whatever parses must write back to text
 * that parses to the same lines; the structured view must be fillable or
 * refused cleanly, and an offer that describes must be answerable (or
 * refused) with a fixed local side, the answer's text parsing back to the
 * same figures and being accepted by fl_sdp_process_answer against the
 * offer, with and without simulcast_recv (the answer's layers read back
 * the same); the same for a plain RTP/SDES answer (RtpEndpoint). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "sdp/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const candidates[] = {
    "candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host",
};

/* Our answer, read back, must be one the offerer's side accepts. */
static void offerer_reads(const fl_sdp_desc *offer, const fl_sdp_desc *back)
{
    static fl_sdp_desc *copy;
    if (!copy)
        copy = malloc(sizeof(*copy));
    memcpy(copy, offer, sizeof(*copy));
    char err[128];
    if (fl_sdp_process_answer(copy, back, err, sizeof(err)) != 0)
        abort();
}

/* The simulcast figures of a section are within their bounds. */
static void layers_sane(const fl_sdp_media *m)
{
    if (m->nrids > FL_SDP_MAX_RIDS || m->nsim > FL_SDP_MAX_RIDS)
        abort();
    for (size_t i = 0; i < m->nrids; i++) {
        const fl_sdp_rid *r = &m->rids[i];
        size_t n = strnlen(r->id, sizeof(r->id));
        if (n == 0 || n > FL_SDP_RID_MAX_LEN || r->npts > FL_SDP_RID_MAX_PTS ||
            (r->dir != FL_SDP_RID_SEND && r->dir != FL_SDP_RID_RECV))
            abort();
    }
}

static void same_layers(const fl_sdp_media *m, const fl_sdp_media *n)
{
    if (n->nrids != m->nrids)
        abort();
    for (size_t k = 0; k < m->nrids; k++) {
        if (strcmp(n->rids[k].id, m->rids[k].id) != 0 || n->rids[k].dir != m->rids[k].dir ||
            n->rids[k].paused != m->rids[k].paused)
            abort();
    }
}

static void answer(const fl_sdp_desc *offer, fl_sdp_desc *ans, fl_sdp_desc *back, int simulcast)
{
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.ice_ufrag = "fuzz";
    l.ice_pwd = "0123456789abcdefghijklmn";
    l.fingerprint = "sha-256 00:11:22:33";
    l.cname = "cname";
    l.stream_id = "stream";
    l.ssrc[0] = 1;
    l.ssrc[1] = 2;
    l.rtx_ssrc[1] = 3;
    l.ncandidates = 1;
    l.candidates = candidates;
    l.end_of_candidates = 1;
    l.simulcast_recv = simulcast;
    char *text, err[128];
    int rc = fl_sdp_answer(offer, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_SENDONLY, ans, &text, err,
                           sizeof(err));
    if (rc != 0) {
        if (text)
            abort();
        return;
    }
    fl_sdp *s;
    if (fl_sdp_parse(&s, text, strlen(text), err, sizeof(err)) != 0)
        abort();
    if (fl_sdp_describe(s, back, err, sizeof(err)) != 0 || back->nmedia != ans->nmedia)
        abort();
    for (size_t i = 0; i < ans->nmedia; i++) {
        const fl_sdp_media *m = &ans->media[i], *n = &back->media[i];
        if (n->rejected != m->rejected || strcmp(n->mid, m->mid) != 0)
            abort();
        if (!m->rejected && (n->ncodecs != m->ncodecs || n->dir != m->dir ||
                             memcmp(n->ext_ids, m->ext_ids, sizeof(m->ext_ids)) != 0 ||
                             n->nssrcs != m->nssrcs || n->setup != m->setup))
            abort();
        same_layers(m, n);
        if (!simulcast && m->nrids)
            abort();
    }
    offerer_reads(offer, back);
    fl_sdp_destroy(s);
    free(text);
}

/* The same as an RtpEndpoint (plain RTP, SDES on video): the answer reads
 * back with its ports, addresses and key, and the offerer takes it. */
static void answer_plain(const fl_sdp_desc *offer, fl_sdp_desc *ans, fl_sdp_desc *back)
{
    static fl_sdp_crypto key = { .tag = 1, .suite = FL_SDP_AES_CM_128_HMAC_SHA1_80, .key_len = 30 };
    fl_sdp_local l;
    memset(&l, 0, sizeof(l));
    l.plain = 1;
    l.address = "192.0.2.1";
    l.port[0] = 5000;
    l.port[1] = 5002;
    l.crypto[1] = &key;
    l.ssrc[0] = 1;
    char *text, err[128];
    if (fl_sdp_answer(offer, &l, FL_SDP_DIR_SENDRECV, FL_SDP_DIR_RECVONLY, ans, &text, err,
                      sizeof(err)) != 0) {
        if (text)
            abort();
        return;
    }
    fl_sdp *s;
    if (fl_sdp_parse(&s, text, strlen(text), err, sizeof(err)) != 0)
        abort();
    if (fl_sdp_describe(s, back, err, sizeof(err)) != 0 || back->nmedia != ans->nmedia)
        abort();
    for (size_t i = 0; i < ans->nmedia; i++) {
        const fl_sdp_media *m = &ans->media[i], *n = &back->media[i];
        if (n->rejected != m->rejected)
            abort();
        if (!m->rejected &&
            (n->port != m->port || n->rtcp_port != m->rtcp_port || n->ncrypto != m->ncrypto ||
             strcmp(n->addr, "192.0.2.1") != 0 || n->comedia != m->comedia ||
             memcmp(n->crypto, m->crypto, sizeof(m->crypto)) != 0 || n->ncodecs != m->ncodecs))
            abort();
    }
    fl_sdp_destroy(s);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    static fl_sdp_desc *d, *a, *b;
    if (!init) {
        fl_log_configure("*:none");
        d = malloc(sizeof(*d));
        a = malloc(sizeof(*a));
        b = malloc(sizeof(*b));
        init = 1;
    }
    fl_sdp *s, *t;
    char err[128];
    if (fl_sdp_parse(&s, (const char *)data, size, err, sizeof(err)) != 0)
        return 0;
    char *out = fl_sdp_write(s);
    if (!out)
        abort();
    if (fl_sdp_parse(&t, out, strlen(out), err, sizeof(err)) != 0)
        abort();
    char *again = fl_sdp_write(t);
    if (!again || strcmp(out, again) != 0)
        abort();
    free(again);
    fl_sdp_destroy(t);
    free(out);
    if (fl_sdp_describe(s, d, err, sizeof(err)) == 0) {
        fl_sdp_media_main_codec(&d->media[0]);
        for (size_t i = 0; i < d->nmedia; i++)
            layers_sane(&d->media[i]);
        answer(d, a, b, 0);
        answer(d, a, b, 1);
        answer_plain(d, a, b);
    }
    fl_sdp_destroy(s);
    return 0;
}
