/* Offer/answer (RFC 3264, RFC 8829's answer rules, RFC 8843 BUNDLE):
 * answering a browser's offer, making our own offer, and reading the
 * answer to it; the same for plain RTP/SRTP with SDES keys (RtpEndpoint,
 * RFC 4568), fl_sdp_local.plain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

FL_LOG_TAG("sdp");

#define MAX_CONF 32

static const char *const default_audio[] = { "opus/48000/2", "PCMU/8000", "PCMA/8000", NULL };
static const char *const default_video[] = { "VP8/90000", "H264/90000", "VP9/90000;profile-id=0",
                                             NULL };

/* One configured codec; `any` when it came without format parameters. */
typedef struct conf_codec {
    fl_sdp_codec c;
    int any;
} conf_codec;

typedef struct conf {
    const fl_sdp_local *local;
    unsigned fb, exts;
    size_t n[2];
    conf_codec codecs[2][MAX_CONF];
} conf;

/* Text that can go on an SDP line: no control characters. */
static int line_safe(const char *s)
{
    for (; s && *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

/* "name/rate[/channels][;fmtp]" */
int fl_sdp_codec_parse(const char *spec, fl_sdp_codec *out)
{
    memset(out, 0, sizeof(*out));
    out->rtx_pt = -1;
    if (!spec || !line_safe(spec))
        return FL_EINVAL;
    const char *semi = strchr(spec, ';');
    size_t n = semi ? (size_t)(semi - spec) : strlen(spec);
    const char *slash = memchr(spec, '/', n);
    if (!slash || slash == spec || (size_t)(slash - spec) >= sizeof(out->name))
        return FL_EINVAL;
    memcpy(out->name, spec, (size_t)(slash - spec));
    char *end;
    unsigned long rate = strtoul(slash + 1, &end, 10);
    if (rate == 0 || rate > UINT32_MAX || end == slash + 1)
        return FL_EINVAL;
    out->clock_rate = (uint32_t)rate;
    if (*end == '/') {
        const char *chs = end + 1;
        unsigned long ch = strtoul(chs, &end, 10);
        if (ch == 0 || ch > 255 || end == chs)
            return FL_EINVAL;
        out->channels = (uint8_t)ch;
    }
    if (end != spec + n)
        return FL_EINVAL;
    if (semi && strlen(semi + 1) >= sizeof(out->fmtp))
        return FL_EINVAL;
    if (semi)
        snprintf(out->fmtp, sizeof(out->fmtp), "%s", semi + 1);
    return 0;
}

static int conf_codec_parse(const char *spec, conf_codec *out)
{
    int rc = fl_sdp_codec_parse(spec, &out->c);
    const char *semi = rc == 0 ? strchr(spec, ';') : NULL;
    out->any = !semi || !semi[1];
    return rc;
}

static size_t len_of(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Plain: ports given for the kinds, keys of their suite's length. */
static int plain_ok(const fl_sdp_local *local)
{
    for (int k = 0; k < 2; k++) {
        const fl_sdp_crypto *c = local->crypto[k];
        if (c &&
            (fl_sdp_crypto_key_len(c->suite) == 0 || c->key_len != fl_sdp_crypto_key_len(c->suite)))
            return 0;
    }
    return 1;
}

static int conf_init(conf *cf, const fl_sdp_local *local)
{
    if (!local->plain &&
        (!local->ice_ufrag || !local->ice_pwd || !local->fingerprint || !local->cname ||
         !local->stream_id || !local->ice_ufrag[0] || !local->ice_pwd[0]))
        return FL_EINVAL;
    if (local->plain && !plain_ok(local))
        return FL_EINVAL;
    if (!line_safe(local->ice_ufrag) || !line_safe(local->ice_pwd) ||
        !line_safe(local->fingerprint) || !line_safe(local->cname) ||
        !line_safe(local->stream_id) || !line_safe(local->address))
        return FL_EINVAL;
    if (len_of(local->ice_ufrag) >= 64 || len_of(local->ice_pwd) >= 256 ||
        len_of(local->fingerprint) >= 160 || len_of(local->cname) >= 64 ||
        len_of(local->stream_id) + sizeof("-application") >= 160 || len_of(local->address) >= 64)
        return FL_EINVAL;
    if (local->ncandidates && !local->candidates)
        return FL_EINVAL;
    memset(cf, 0, sizeof(*cf));
    cf->local = local;
    cf->fb =
            local->fb ? local->fb : FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_FIR | FL_SDP_FB_REMB;
    cf->exts = local->exts ? local->exts
                           : 1u << FL_SDP_EXT_ABS_SEND_TIME | 1u << FL_SDP_EXT_MID |
                                     1u << FL_SDP_EXT_AUDIO_LEVEL | 1u << FL_SDP_EXT_TOFFSET;
    const char *const *lists[2] = { local->audio_codecs ? local->audio_codecs : default_audio,
                                    local->video_codecs ? local->video_codecs : default_video };
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; lists[k][i]; i++) {
            if (cf->n[k] == MAX_CONF || conf_codec_parse(lists[k][i], &cf->codecs[k][cf->n[k]]))
                return FL_EINVAL;
            cf->n[k]++;
        }
    }
    return 0;
}

static int kind_index(fl_sdp_kind kind)
{
    return kind == FL_SDP_KIND_VIDEO ? 1 : 0;
}

/* Name (case-insensitive), clock rate and channels (absent = 1). */
static int same_format_name(const fl_sdp_codec *a, const fl_sdp_codec *b)
{
    return strcasecmp(a->name, b->name) == 0 && a->clock_rate == b->clock_rate &&
           (a->channels ? a->channels : 1) == (b->channels ? b->channels : 1);
}

/* Whether a configured codec of kind index k takes the offered codec c. */
static int conf_has(const conf *cf, int k, const fl_sdp_codec *c)
{
    for (size_t i = 0; i < cf->n[k]; i++) {
        const conf_codec *w = &cf->codecs[k][i];
        if (w->any ? same_format_name(&w->c, c) : fl_sdp_codec_match(&w->c, c))
            return 1;
    }
    return 0;
}

static int sends(fl_sdp_dir d)
{
    return d == FL_SDP_DIR_SENDRECV || d == FL_SDP_DIR_SENDONLY;
}

static int recvs(fl_sdp_dir d)
{
    return d == FL_SDP_DIR_SENDRECV || d == FL_SDP_DIR_RECVONLY;
}

static fl_sdp_dir dir_make(int send, int recv)
{
    return send && recv ? FL_SDP_DIR_SENDRECV
           : send       ? FL_SDP_DIR_SENDONLY
           : recv       ? FL_SDP_DIR_RECVONLY
                        : FL_SDP_DIR_INACTIVE;
}

static int apt_of(const fl_sdp_codec *rtx)
{
    char v[8];
    if (fl__sdp_fmtp_get(rtx->fmtp, "apt", v, sizeof(v)) != 0 || !v[0])
        return -1;
    char *end;
    unsigned long pt = strtoul(v, &end, 10);
    return *end || pt > 127 ? -1 : (int)pt;
}

static const fl_sdp_codec *codec_by_pt(const fl_sdp_codec *codecs, size_t n, int pt)
{
    for (size_t i = 0; i < n; i++) {
        if (codecs[i].pt == pt)
            return &codecs[i];
    }
    return NULL;
}

/* Whether every payload a RED format carries (its fmtp "111/111", RFC
 * 2198) is kept; a RED without that list (video RED) always is. */
static int red_covered(const fl_sdp_media *o, const int *keep, const fl_sdp_codec *red)
{
    const char *p = red->fmtp;
    while (*p) {
        char *end;
        unsigned long pt = strtoul(p, &end, 10);
        if (end == p || pt > 127)
            return 0;
        const fl_sdp_codec *t = codec_by_pt(o->codecs, o->ncodecs, (int)pt);
        if (!t || !keep[t - o->codecs] || t == red)
            return 0;
        p = *end == '/' ? end + 1 : end;
        if (*end && *end != '/')
            return 0;
    }
    return 1;
}

/* The offer's codecs we take, in its order: configured ones (RED only with
 * what it carries), and the RTX of a taken one. */
static void pick_codecs(const conf *cf, const fl_sdp_media *o, fl_sdp_media *a)
{
    int k = kind_index(o->kind);
    unsigned fb = k == 1 ? cf->fb : cf->fb & FL_SDP_FB_TWCC;
    int keep[FL_SDP_MAX_CODECS] = { 0 };
    for (size_t i = 0; i < o->ncodecs; i++)
        keep[i] = strcasecmp(o->codecs[i].name, "rtx") != 0 && conf_has(cf, k, &o->codecs[i]);
    for (size_t i = 0; i < o->ncodecs; i++) {
        if (keep[i] && strcasecmp(o->codecs[i].name, "red") == 0)
            keep[i] = red_covered(o, keep, &o->codecs[i]);
    }
    for (size_t i = 0; i < o->ncodecs; i++) {
        if (strcasecmp(o->codecs[i].name, "rtx") != 0)
            continue;
        const fl_sdp_codec *t = codec_by_pt(o->codecs, o->ncodecs, apt_of(&o->codecs[i]));
        keep[i] = t && keep[t - o->codecs];
    }
    a->ncodecs = 0;
    for (size_t i = 0; i < o->ncodecs; i++) {
        if (!keep[i])
            continue;
        fl_sdp_codec *c = &a->codecs[a->ncodecs++];
        *c = o->codecs[i];
        c->fb &= fb;
        c->rtx_pt = -1;
    }
    for (size_t i = 0; i < a->ncodecs; i++) {
        if (strcasecmp(a->codecs[i].name, "rtx") != 0)
            continue;
        fl_sdp_codec *t = (fl_sdp_codec *)codec_by_pt(a->codecs, a->ncodecs, apt_of(&a->codecs[i]));
        if (t && t->rtx_pt < 0)
            t->rtx_pt = a->codecs[i].pt;
    }
}

static int has_rtx(const fl_sdp_media *m)
{
    for (size_t i = 0; i < m->ncodecs; i++) {
        if (strcasecmp(m->codecs[i].name, "rtx") == 0)
            return 1;
    }
    return 0;
}

/* ICE/DTLS, the a=ssrc of what we send (once per kind), the m= formats. */
static void fill_local(const conf *cf, fl_sdp_media *a, int *ssrc_done)
{
    const fl_sdp_local *l = cf->local;
    if (!l->plain) {
        snprintf(a->ice_ufrag, sizeof(a->ice_ufrag), "%s", l->ice_ufrag);
        snprintf(a->ice_pwd, sizeof(a->ice_pwd), "%s", l->ice_pwd);
        snprintf(a->fingerprint, sizeof(a->fingerprint), "%s", l->fingerprint);
    }
    int k = kind_index(a->kind);
    if (sends(a->dir) && l->ssrc[k] && !ssrc_done[k]) {
        ssrc_done[k] = 1;
        fl_sdp_ssrc *s = &a->ssrcs[a->nssrcs++];
        s->ssrc = l->ssrc[k];
        s->rtx_ssrc = has_rtx(a) && l->rtx_ssrc[k] != l->ssrc[k] ? l->rtx_ssrc[k] : 0;
        snprintf(s->cname, sizeof(s->cname), "%s", l->cname ? l->cname : "");
        if (l->stream_id)
            snprintf(s->msid, sizeof(s->msid), "%s %s-%s", l->stream_id, l->stream_id,
                     a->kind_name);
    }
    size_t n = 0;
    for (size_t i = 0; i < a->ncodecs; i++) {
        int w = snprintf(a->fmt + n, sizeof(a->fmt) - n, "%s%u", n ? " " : "", a->codecs[i].pt);
        if (w < 0 || (size_t)w >= sizeof(a->fmt) - n)
            break;
        n += (size_t)w;
    }
}

static fl_sdp_setup answer_setup(fl_sdp_setup offered)
{
    switch (offered) {
    case FL_SDP_SETUP_ACTPASS:
    case FL_SDP_SETUP_PASSIVE:
        return FL_SDP_SETUP_ACTIVE;
    case FL_SDP_SETUP_ACTIVE:
    case FL_SDP_SETUP_NONE: /* RFC 4145: absent means active */
        return FL_SDP_SETUP_PASSIVE;
    case FL_SDP_SETUP_HOLDCONN:
        break;
    }
    return FL_SDP_SETUP_HOLDCONN;
}

/* 0 when the offered section carries ICE credentials and a fingerprint,
 * else an error naming what is missing. */
static int offered_transport(const fl_sdp_media *o, size_t idx, char *err, size_t errlen)
{
    if (!o->ice_ufrag[0] || !o->ice_pwd[0])
        return fl__sdp_fail(err, errlen, "section %zu: no ICE credentials", idx);
    if (!o->fingerprint[0])
        return fl__sdp_fail(err, errlen, "section %zu: no fingerprint", idx);
    return 0;
}

/* An answer's section starts as the offer's, rejected. */
static void answer_start(const fl_sdp_media *o, fl_sdp_media *a)
{
    a->kind = o->kind;
    memcpy(a->kind_name, o->kind_name, sizeof(a->kind_name));
    memcpy(a->proto, o->proto, sizeof(a->proto));
    memcpy(a->mid, o->mid, sizeof(a->mid));
    memcpy(a->fmt, o->fmt, sizeof(a->fmt));
    a->rejected = 1;
    a->dir = FL_SDP_DIR_INACTIVE;
}

/* Accepts the answer's section a to offered o when o carries its transport
 * (else an error): open, on the discard port, with the DTLS role that
 * answers the offered one. */
static int accept_section(const fl_sdp_media *o,
                          fl_sdp_media *a,
                          size_t idx,
                          char *err,
                          size_t errlen)
{
    int rc = offered_transport(o, idx, err, errlen);
    if (rc < 0)
        return rc;
    a->rejected = 0;
    a->port = 9;
    a->setup = answer_setup(o->setup);
    return 0;
}

/* Whether a layer may use one of the codecs the answer kept. */
static int rid_kept(const fl_sdp_rid *r, const fl_sdp_media *a)
{
    for (size_t i = 0; i < r->npts; i++) {
        if (codec_by_pt(a->codecs, a->ncodecs, r->pts[i]))
            return 1;
    }
    return r->npts == 0;
}

/* The offer's send layers answered as ours to receive (fl_sdp_local's
 * simulcast_recv), with the RID extensions, on a video section we receive. */
static void answer_simulcast(const fl_sdp_media *o, fl_sdp_media *a)
{
    if (o->kind != FL_SDP_KIND_VIDEO || !recvs(a->dir) || !o->ext_ids[FL_SDP_EXT_RID])
        return;
    a->nrids = 0;
    for (size_t i = 0; i < o->nrids && i < FL_SDP_MAX_RIDS; i++) {
        const fl_sdp_rid *r = &o->rids[i];
        if (r->dir != FL_SDP_RID_SEND || !rid_kept(r, a))
            continue;
        fl_sdp_rid *k = &a->rids[a->nrids++];
        memset(k, 0, sizeof(*k));
        memcpy(k->id, r->id, sizeof(k->id));
        k->dir = FL_SDP_RID_RECV;
        k->paused = r->paused;
    }
    if (a->nrids) {
        a->ext_ids[FL_SDP_EXT_RID] = o->ext_ids[FL_SDP_EXT_RID];
        a->ext_ids[FL_SDP_EXT_RRID] = o->ext_ids[FL_SDP_EXT_RRID];
    }
}

/* 1 when the section is accepted, 0 rejected, or an error. */
static int answer_media(const conf *cf,
                        const fl_sdp_media *o,
                        fl_sdp_media *a,
                        fl_sdp_dir want,
                        size_t idx,
                        int *ssrc_done,
                        char *err,
                        size_t errlen)
{
    answer_start(o, a);
    if ((o->kind != FL_SDP_KIND_AUDIO && o->kind != FL_SDP_KIND_VIDEO) || o->rejected ||
        !strstr(o->proto, "RTP/SAVP"))
        return 0;
    pick_codecs(cf, o, a);
    if (!fl_sdp_media_main_codec(a)) {
        a->ncodecs = 0;
        return 0;
    }
    int rc = accept_section(o, a, idx, err, errlen);
    if (rc < 0)
        return rc;
    int we_send = sends(want) && recvs(o->dir), we_recv = recvs(want) && sends(o->dir);
    a->dir = dir_make(we_send, we_recv);
    a->rtcp_mux = o->rtcp_mux;
    a->rtcp_rsize = o->rtcp_rsize;
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++)
        a->ext_ids[e] = cf->exts & (1u << e) ? o->ext_ids[e] : 0;
    if (cf->local->simulcast_recv)
        answer_simulcast(o, a);
    fill_local(cf, a, ssrc_done);
    return 1;
}

/* An application section of SCTP over DTLS for data channels: RFC 8841's
 * "UDP/DTLS/SCTP webrtc-datachannel" (TCP/DTLS/SCTP too), or the legacy
 * "DTLS/SCTP <port>" with a=sctpmap. */
static int datachannel_section(const fl_sdp_media *o)
{
    if (o->kind != FL_SDP_KIND_APPLICATION || o->rejected)
        return 0;
    if (strcmp(o->proto, "UDP/DTLS/SCTP") == 0 || strcmp(o->proto, "TCP/DTLS/SCTP") == 0)
        return strcmp(o->fmt, "webrtc-datachannel") == 0;
    return strcmp(o->proto, "DTLS/SCTP") == 0 && o->sctp_legacy;
}

/* Our SCTP figures on a data channel section. */
static void fill_sctp(const fl_sdp_local *l, fl_sdp_media *a)
{
    a->sctp_port = l->sctp_port ? l->sctp_port : 5000;
    a->max_message_size = l->max_message_size ? l->max_message_size : 262144;
    snprintf(a->ice_ufrag, sizeof(a->ice_ufrag), "%s", l->ice_ufrag);
    snprintf(a->ice_pwd, sizeof(a->ice_pwd), "%s", l->ice_pwd);
    snprintf(a->fingerprint, sizeof(a->fingerprint), "%s", l->fingerprint);
    if (a->sctp_legacy)
        snprintf(a->fmt, sizeof(a->fmt), "%u", a->sctp_port);
}

/* The offer's first data channel section, when we take data channels.
 * 1 accepted, 0 rejected, or an error. */
static int answer_app(const conf *cf,
                      const fl_sdp_media *o,
                      fl_sdp_media *a,
                      size_t idx,
                      int *taken,
                      char *err,
                      size_t errlen)
{
    answer_start(o, a);
    if (!cf->local->datachannels || *taken || !datachannel_section(o))
        return 0;
    int rc = accept_section(o, a, idx, err, errlen);
    if (rc < 0)
        return rc;
    *taken = 1;
    a->dir = FL_SDP_DIR_SENDRECV;
    a->sctp_legacy = o->sctp_legacy;
    fill_sctp(cf->local, a);
    return 1;
}

/* RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF: whether SRTP, whether feedback. */
static int plain_proto(const char *proto, int *secure, int *feedback)
{
    static const char *const names[] = { "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF" };
    for (int i = 0; i < 4; i++) {
        if (strcmp(proto, names[i]) == 0) {
            *secure = i >= 2;
            *feedback = i % 2;
            return 1;
        }
    }
    return 0;
}

/* The offer's first a=crypto line of `suite`, one without an MKI first.
 * An MKI is not used (fl_srtp reads none in packets), as Kurento does: its
 * rtp-receiver tutorial offers "|2^31|1:1" and its senders send no MKI. */
static const fl_sdp_crypto *offered_crypto(const fl_sdp_media *o, fl_sdp_crypto_suite suite)
{
    const fl_sdp_crypto *with_mki = NULL;
    for (size_t i = 0; i < o->ncrypto && i < FL_SDP_MAX_CRYPTO; i++) {
        if (o->crypto[i].suite != suite)
            continue;
        if (o->crypto[i].mki_len == 0)
            return &o->crypto[i];
        if (!with_mki)
            with_mki = &o->crypto[i];
    }
    return with_mki;
}

static void local_addr(const fl_sdp_local *l, fl_sdp_media *m)
{
    snprintf(m->addr, sizeof(m->addr), "%s", l->address ? l->address : "0.0.0.0");
    m->addr_ip6 = strchr(m->addr, ':') != NULL;
}

/* A plain RTP section (fl_sdp_local.plain): the first of each kind, its
 * profile kept, SRTP only with our suite offered. 1 accepted, 0 rejected,
 * or an error. */
static int answer_plain(const conf *cf,
                        const fl_sdp_media *o,
                        fl_sdp_media *a,
                        fl_sdp_dir want,
                        size_t idx,
                        int *ssrc_done,
                        int *taken,
                        char *err,
                        size_t errlen)
{
    const fl_sdp_local *l = cf->local;
    int k = kind_index(o->kind), secure, feedback;
    answer_start(o, a);
    if ((o->kind != FL_SDP_KIND_AUDIO && o->kind != FL_SDP_KIND_VIDEO) || o->rejected || taken[k] ||
        !l->port[k] || !plain_proto(o->proto, &secure, &feedback))
        return 0;
    const fl_sdp_crypto *ours = l->crypto[k];
    const fl_sdp_crypto *theirs = ours ? offered_crypto(o, ours->suite) : NULL;
    if (secure != (ours != NULL) || (ours && !theirs))
        return 0;
    pick_codecs(cf, o, a);
    if (!fl_sdp_media_main_codec(a)) {
        a->ncodecs = 0;
        return 0;
    }
    if (!o->addr[0])
        return fl__sdp_fail(err, errlen, "section %zu: no connection address", idx);
    taken[k] = 1;
    a->rejected = 0;
    a->port = l->port[k];
    int we_send = sends(want) && recvs(o->dir), we_recv = recvs(want) && sends(o->dir);
    a->dir = dir_make(we_send, we_recv);
    a->rtcp_mux = o->rtcp_mux;
    a->rtcp_rsize = o->rtcp_rsize && feedback;
    a->rtcp_port = a->rtcp_mux || a->port == 65535 ? 0 : (uint16_t)(a->port + 1);
    a->comedia = o->comedia == 1 ? 2 : o->comedia == 2 ? 1 : 0;
    for (size_t i = 0; i < a->ncodecs && !feedback; i++)
        a->codecs[i].fb = 0;
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++)
        a->ext_ids[e] = cf->exts & (1u << e) ? o->ext_ids[e] : 0;
    if (ours) {
        a->crypto[0] = *ours;
        a->crypto[0].tag = theirs->tag;
        a->crypto[0].lifetime = 0;
        a->crypto[0].mki = a->crypto[0].mki_len = 0;
        a->ncrypto = 1;
    }
    local_addr(l, a);
    fill_local(cf, a, ssrc_done);
    return 1;
}

static void add_candidates(const fl_sdp_local *l, fl_sdp_media *m)
{
    for (size_t i = 0; i < l->ncandidates && m->ncandidates < FL_SDP_MAX_CANDIDATES; i++) {
        const char *c = l->candidates[i];
        if (!c)
            continue;
        int prefixed = strncmp(c, "candidate:", 10) == 0;
        int n = snprintf(m->candidates[m->ncandidates], sizeof(m->candidates[0]), "%s%s",
                         prefixed ? "" : "candidate:", c);
        if (n > 0 && (size_t)n < sizeof(m->candidates[0]) && line_safe(c))
            m->ncandidates++;
    }
    m->end_of_candidates = l->end_of_candidates;
}

/* Candidates in the first accepted section; a BUNDLE group of the accepted
 * sections the offer bundled. */
static void answer_session(const fl_sdp_desc *offer, const fl_sdp_local *l, fl_sdp_desc *answer)
{
    answer->session_id = l->session_id;
    answer->session_version = l->session_version;
    answer->ice_lite = l->ice_lite;
    int first = 1;
    for (size_t i = 0; i < answer->nmedia; i++) {
        fl_sdp_media *m = &answer->media[i];
        if (m->rejected)
            continue;
        if (first)
            add_candidates(l, m);
        first = 0;
        for (size_t b = 0; b < offer->nbundle && m->mid[0]; b++) {
            if (strcmp(offer->bundle[b], m->mid) == 0) {
                memcpy(answer->bundle[answer->nbundle++], m->mid, sizeof(m->mid));
                break;
            }
        }
    }
}

int fl_sdp_answer(const fl_sdp_desc *offer,
                  const fl_sdp_local *local,
                  fl_sdp_dir want_audio,
                  fl_sdp_dir want_video,
                  fl_sdp_desc *answer,
                  char **text,
                  char *err,
                  size_t errlen)
{
    *text = NULL;
    if (err && errlen)
        err[0] = '\0';
    memset(answer, 0, sizeof(*answer));
    conf *cf = malloc(sizeof(*cf));
    if (!cf)
        return FL_ENOMEM;
    int rc = conf_init(cf, local);
    if (rc != 0) {
        fl__sdp_fail(err, errlen, "local parameters missing or malformed");
        rc = FL_EINVAL;
        goto out;
    }
    size_t accepted = 0;
    int ssrc_done[2] = { 0, 0 }, taken[2] = { 0, 0 }, app_taken = 0;
    answer->nmedia = offer->nmedia < FL_SDP_MAX_MEDIA ? offer->nmedia : FL_SDP_MAX_MEDIA;
    for (size_t i = 0; i < answer->nmedia; i++) {
        const fl_sdp_media *o = &offer->media[i];
        fl_sdp_dir want = o->kind == FL_SDP_KIND_VIDEO ? want_video : want_audio;
        if (local->plain)
            rc = answer_plain(cf, o, &answer->media[i], want, i, ssrc_done, taken, err, errlen);
        else if (o->kind == FL_SDP_KIND_APPLICATION)
            rc = answer_app(cf, o, &answer->media[i], i, &app_taken, err, errlen);
        else
            rc = answer_media(cf, o, &answer->media[i], want, i, ssrc_done, err, errlen);
        if (rc < 0)
            goto out;
        accepted += (size_t)rc;
    }
    rc = 0;
    if (accepted == 0) {
        rc = FL_ENOTSUP;
        fl__sdp_fail(err, errlen, "no section of the offer could be accepted");
        goto out;
    }
    if (local->plain) {
        answer->session_id = local->session_id;
        answer->session_version = local->session_version;
    } else {
        answer_session(offer, local, answer);
    }
    *text = fl__sdp_desc_write(answer, local->address, local->plain);
    if (!*text)
        rc = FL_ENOMEM;
out:
    if (rc != 0) {
        fl_log(FL_LOG_DEBUG, "no answer: %s", err && errlen ? err : fl_strerror(rc));
        memset(answer, 0, sizeof(*answer));
    }
    free(cf);
    return rc;
}

/* Payload numbers of our offer: RFC 3551's static ones, then from 96. */
static int offer_pt(const fl_sdp_codec *c, int *next)
{
    static const struct {
        const char *name;
        int pt;
    } fixed[] = { { "PCMU", 0 }, { "PCMA", 8 }, { "G722", 9 }, { "CN", 13 } };

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcasecmp(c->name, fixed[i].name) == 0 && c->clock_rate == 8000 && c->channels <= 1)
            return fixed[i].pt;
    }
    return *next <= 127 ? (*next)++ : -1;
}

static const char *default_fmtp(const char *name)
{
    if (strcasecmp(name, "opus") == 0)
        return "minptime=10;useinbandfec=1";
    if (strcasecmp(name, "H264") == 0)
        return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    if (strcasecmp(name, "telephone-event") == 0)
        return "0-15";
    return "";
}

static int offer_codecs(const conf *cf, int k, fl_sdp_media *m, int *next)
{
    unsigned fb = k == 1 ? cf->fb : cf->fb & FL_SDP_FB_TWCC;
    for (size_t i = 0; i < cf->n[k]; i++) {
        const conf_codec *w = &cf->codecs[k][i];
        int rtx = k == 1 && !fl__sdp_codec_is_aux(w->c.name);
        int pt = offer_pt(&w->c, next);
        if (pt < 0 || m->ncodecs + 1u + (unsigned)rtx > FL_SDP_MAX_CODECS)
            return FL_ERANGE;
        fl_sdp_codec *c = &m->codecs[m->ncodecs++];
        *c = w->c;
        c->pt = (uint8_t)pt;
        c->fb = fl__sdp_codec_is_aux(c->name) ? 0 : fb;
        if (w->any)
            snprintf(c->fmtp, sizeof(c->fmtp), "%s", default_fmtp(c->name));
        if (!rtx)
            continue;
        int rpt = offer_pt(&(fl_sdp_codec){ .name = "rtx" }, next);
        if (rpt < 0)
            return FL_ERANGE;
        fl_sdp_codec *r = &m->codecs[m->ncodecs++];
        memset(r, 0, sizeof(*r));
        r->pt = (uint8_t)rpt;
        snprintf(r->name, sizeof(r->name), "rtx");
        r->clock_rate = c->clock_rate;
        snprintf(r->fmtp, sizeof(r->fmtp), "apt=%d", pt);
        r->rtx_pt = -1;
        c->rtx_pt = rpt;
    }
    return 0;
}

static int ext_for_kind(int e, int k)
{
    if (e == FL_SDP_EXT_AUDIO_LEVEL)
        return k == 0;
    if (e == FL_SDP_EXT_TOFFSET || e == FL_SDP_EXT_RID || e == FL_SDP_EXT_RRID)
        return k == 1;
    return 1;
}

static int offer_media(const conf *cf,
                       int k,
                       fl_sdp_dir dir,
                       fl_sdp_desc *d,
                       int *next,
                       int *ssrc_done)
{
    fl_sdp_media *m = &d->media[d->nmedia];
    m->kind = k == 1 ? FL_SDP_KIND_VIDEO : FL_SDP_KIND_AUDIO;
    snprintf(m->kind_name, sizeof(m->kind_name), "%s", k == 1 ? "video" : "audio");
    snprintf(m->proto, sizeof(m->proto), "UDP/TLS/RTP/SAVPF");
    snprintf(m->mid, sizeof(m->mid), "%zu", d->nmedia);
    m->port = 9;
    m->dir = (unsigned)dir <= FL_SDP_DIR_INACTIVE ? dir : FL_SDP_DIR_SENDRECV;
    m->rtcp_mux = m->rtcp_rsize = 1;
    m->setup = FL_SDP_SETUP_ACTPASS;
    const fl_sdp_local *l = cf->local;
    if (l->plain) {
        if (!l->port[k] || l->port[k] == 65535)
            return FL_EINVAL;
        snprintf(m->proto, sizeof(m->proto), "%s", l->crypto[k] ? "RTP/SAVPF" : "RTP/AVPF");
        m->mid[0] = '\0';
        m->port = l->port[k];
        m->rtcp_port = (uint16_t)(m->port + 1);
        m->rtcp_rsize = 0;
        m->setup = FL_SDP_SETUP_NONE;
        if (l->crypto[k]) {
            m->crypto[0] = *l->crypto[k];
            m->crypto[0].tag = 1;
            m->ncrypto = 1;
        }
        local_addr(l, m);
    }
    int rc = offer_codecs(cf, k, m, next);
    if (rc != 0)
        return rc;
    if (!fl_sdp_media_main_codec(m))
        return FL_EINVAL;
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++) {
        if (cf->exts & (1u << e) && ext_for_kind(e, k))
            m->ext_ids[e] = (uint8_t)(e + 1);
    }
    fill_local(cf, m, ssrc_done);
    if (!l->plain)
        memcpy(d->bundle[d->nbundle++], m->mid, sizeof(m->mid));
    d->nmedia++;
    return 0;
}

/* Our data channel section (RFC 8841's form), after the media. */
static void offer_app(const conf *cf, fl_sdp_desc *d)
{
    fl_sdp_media *m = &d->media[d->nmedia];
    m->kind = FL_SDP_KIND_APPLICATION;
    snprintf(m->kind_name, sizeof(m->kind_name), "application");
    snprintf(m->proto, sizeof(m->proto), "UDP/DTLS/SCTP");
    snprintf(m->fmt, sizeof(m->fmt), "webrtc-datachannel");
    snprintf(m->mid, sizeof(m->mid), "%zu", d->nmedia);
    m->port = 9;
    m->setup = FL_SDP_SETUP_ACTPASS;
    fill_sctp(cf->local, m);
    memcpy(d->bundle[d->nbundle++], m->mid, sizeof(m->mid));
    d->nmedia++;
}

int fl_sdp_offer(const fl_sdp_local *local,
                 int audio,
                 fl_sdp_dir audio_dir,
                 int video,
                 fl_sdp_dir video_dir,
                 fl_sdp_desc *offer,
                 char **text)
{
    *text = NULL;
    memset(offer, 0, sizeof(*offer));
    if (!audio && !video)
        return FL_EINVAL;
    conf *cf = malloc(sizeof(*cf));
    if (!cf)
        return FL_ENOMEM;
    int rc = conf_init(cf, local);
    int next = 96, ssrc_done[2] = { 0, 0 };
    if (rc == 0 && audio)
        rc = offer_media(cf, 0, audio_dir, offer, &next, ssrc_done);
    if (rc == 0 && video)
        rc = offer_media(cf, 1, video_dir, offer, &next, ssrc_done);
    if (rc == 0 && local->datachannels && !local->plain)
        offer_app(cf, offer);
    if (rc == 0) {
        offer->session_id = local->session_id;
        offer->session_version = local->session_version;
        offer->ice_lite = local->plain ? 0 : local->ice_lite;
        if (!local->plain)
            add_candidates(local, &offer->media[0]);
        *text = fl__sdp_desc_write(offer, local->address, local->plain);
        if (!*text)
            rc = FL_ENOMEM;
    }
    if (rc != 0)
        memset(offer, 0, sizeof(*offer));
    free(cf);
    return rc;
}

/* Our codecs the answer kept, in its order, with the feedback both have. */
static int answered_codecs(fl_sdp_media *o,
                           const fl_sdp_media *a,
                           size_t idx,
                           char *err,
                           size_t errlen)
{
    fl_sdp_codec kept[FL_SDP_MAX_CODECS];
    size_t n = 0;
    for (size_t i = 0; i < a->ncodecs; i++) {
        const fl_sdp_codec *ours = codec_by_pt(o->codecs, o->ncodecs, a->codecs[i].pt);
        if (!ours || (a->codecs[i].name[0] && strcasecmp(ours->name, a->codecs[i].name) != 0))
            return fl__sdp_fail(err, errlen, "section %zu: payload %u is not in the offer", idx,
                                a->codecs[i].pt);
        kept[n] = *ours;
        kept[n].fb &= a->codecs[i].fb;
        n++;
    }
    if (!n)
        return fl__sdp_fail(err, errlen, "section %zu: no codec", idx);
    for (size_t i = 0; i < n; i++) {
        if (kept[i].rtx_pt >= 0 && !codec_by_pt(kept, n, kept[i].rtx_pt))
            kept[i].rtx_pt = -1;
    }
    memcpy(o->codecs, kept, n * sizeof(kept[0]));
    o->ncodecs = n;
    return 0;
}

/* An answer to a plain section of ours: the same profile, an address, and
 * with SRTP an a=crypto line answering one of ours (its tag and suite; an
 * MKI is not used); RTCP muxed only when the answer says so. */
static int answered_plain(fl_sdp_media *o,
                          const fl_sdp_media *a,
                          size_t idx,
                          char *err,
                          size_t errlen)
{
    if (strcmp(o->proto, a->proto) != 0)
        return fl__sdp_fail(err, errlen, "section %zu: profile %s, the offer's %s", idx, a->proto,
                            o->proto);
    if (!a->addr[0])
        return fl__sdp_fail(err, errlen, "section %zu: no connection address", idx);
    if (o->ncrypto) {
        const fl_sdp_crypto *ours = NULL;
        for (size_t j = 0; j < a->ncrypto && !ours; j++) {
            for (size_t i = 0; i < o->ncrypto && !ours; i++) {
                if (a->crypto[j].tag == o->crypto[i].tag &&
                    a->crypto[j].suite == o->crypto[i].suite)
                    ours = &o->crypto[i];
            }
        }
        if (!ours)
            return fl__sdp_fail(err, errlen, "section %zu: no a=crypto line answering ours", idx);
        o->crypto[0] = *ours;
        o->ncrypto = 1;
    }
    o->rtcp_mux = a->rtcp_mux;
    if (o->rtcp_mux)
        o->rtcp_port = 0;
    o->rtcp_rsize = o->rtcp_rsize && a->rtcp_rsize;
    return 0;
}

static int answered_media(fl_sdp_media *o,
                          const fl_sdp_media *a,
                          size_t idx,
                          char *err,
                          size_t errlen)
{
    if (o->kind != a->kind || strcmp(o->kind_name, a->kind_name) != 0)
        return fl__sdp_fail(err, errlen, "section %zu: kind differs from the offer", idx);
    if (o->mid[0] && a->mid[0] && strcmp(o->mid, a->mid) != 0)
        return fl__sdp_fail(err, errlen, "section %zu: mid differs from the offer", idx);
    if (o->rejected && !a->rejected)
        return fl__sdp_fail(err, errlen, "section %zu: accepted but not offered", idx);
    if (a->rejected) {
        o->rejected = 1;
        o->port = 0;
        o->ncodecs = 0;
        o->dir = FL_SDP_DIR_INACTIVE;
        return 0;
    }
    /* ours was plain: an RTP profile without ICE (a WebRTC offer has it) */
    int secure, feedback;
    int plain = plain_proto(o->proto, &secure, &feedback) && !o->ice_ufrag[0];
    if (plain) {
        int rc = answered_plain(o, a, idx, err, errlen);
        if (rc != 0)
            return rc;
    } else if (!a->ice_ufrag[0] || !a->ice_pwd[0]) {
        return fl__sdp_fail(err, errlen, "section %zu: no ICE credentials", idx);
    } else if (!a->fingerprint[0]) {
        return fl__sdp_fail(err, errlen, "section %zu: no fingerprint", idx);
    } else if (a->setup == FL_SDP_SETUP_ACTPASS) {
        return fl__sdp_fail(err, errlen, "section %zu: setup actpass in an answer", idx);
    }
    if (strstr(o->proto, "RTP/")) {
        int rc = answered_codecs(o, a, idx, err, errlen);
        if (rc != 0)
            return rc;
    }
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++)
        o->ext_ids[e] = o->ext_ids[e] ? a->ext_ids[e] : 0;
    fl_sdp_dir theirs = fl_sdp_dir_reverse(a->dir);
    o->dir = dir_make(sends(theirs) && sends(o->dir), recvs(theirs) && recvs(o->dir));
    if (!plain)
        o->setup = a->setup == FL_SDP_SETUP_PASSIVE    ? FL_SDP_SETUP_ACTIVE
                   : a->setup == FL_SDP_SETUP_HOLDCONN ? FL_SDP_SETUP_HOLDCONN
                                                       : FL_SDP_SETUP_PASSIVE;
    return 0;
}

int fl_sdp_process_answer(fl_sdp_desc *offer, const fl_sdp_desc *answer, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (answer->nmedia != offer->nmedia)
        return fl__sdp_fail(err, errlen, "the answer has %zu sections, the offer %zu",
                            answer->nmedia, offer->nmedia);
    fl_sdp_desc *n = malloc(sizeof(*n));
    if (!n)
        return FL_ENOMEM;
    memcpy(n, offer, sizeof(*n));
    int rc = 0;
    for (size_t i = 0; i < n->nmedia && rc == 0; i++)
        rc = answered_media(&n->media[i], &answer->media[i], i, err, errlen);
    if (rc == 0) {
        n->nbundle = answer->nbundle;
        memcpy(n->bundle, answer->bundle, sizeof(n->bundle));
        memcpy(offer, n, sizeof(*n));
    }
    explicit_bzero(n, sizeof(*n)); /* a plain offer's SDES keys */
    free(n);
    return rc;
}
