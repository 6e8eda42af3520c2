/* WebRtcEndpoint: a browser peer. SDP offer/answer (sdp/), ICE on the
 * worker's sockets (engine/ice_transport), DTLS-SRTP and RTP/RTCP
 * (net/transport). Media from the browser leaves through the element's
 * source pads; media reaching its sink pads is rewritten to this leg's own
 * SSRC, sequence numbers and timestamps while it is copied into a send
 * buffer (the one copy), protected in place there, and queued for sendmmsg.
 * RTCP ends here: each leg writes its own SR/RR and REMB; PLI/FIR from the
 * browser go upstream to whoever produces the media, throttled. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/addr.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/ice_transport.h"
#include "engine/webrtc_int.h"
#include "net/rtcp.h"
#include "net/rtp.h"
#include "net/transport.h"
#include "sdp/sdp.h"

FL_LOG_TAG("webrtc");

void fl__wr_raise(webrtc *wr, const fl_event *ev)
{
    if (wr->e)
        fl__element_raise(wr->e, ev);
}

void fl__wr_raise_error(webrtc *wr, const char *type, const char *message)
{
    fl_log(FL_LOG_WARN, "%s: %s", wr->e ? wr->e->name : "webrtc", message);
    fl_event ev = { .type = FL_EVENT_ERROR, .error = { .type = type, .description = message } };
    fl__wr_raise(wr, &ev);
}

/* ---- sending ---- */

static const char *ice_state_name(fl_ice_state s)
{
    static const char *names[] = { "DISCONNECTED", "GATHERING", "CONNECTING",
                                   "CONNECTED",    "READY",     "FAILED" };
    return (unsigned)s < 6 ? names[s] : "FAILED";
}

static enum fl_ice_component_state ice_component_state(fl_ice_state s)
{
    switch (s) {
    case FL_ICE_STATE_DISCONNECTED:
        return FL_ICE_COMPONENT_DISCONNECTED;
    case FL_ICE_STATE_GATHERING:
        return FL_ICE_COMPONENT_GATHERING;
    case FL_ICE_STATE_CONNECTING:
        return FL_ICE_COMPONENT_CONNECTING;
    case FL_ICE_STATE_CONNECTED:
        return FL_ICE_COMPONENT_CONNECTED;
    case FL_ICE_STATE_READY:
        return FL_ICE_COMPONENT_READY;
    case FL_ICE_STATE_FAILED:
        break;
    }
    return FL_ICE_COMPONENT_FAILED;
}

static const char *first_mid(webrtc *wr, int *mline)
{
    for (int i = 0; i < 2; i++) {
        if (wr->st[i].present) {
            *mline = wr->st[i].mline;
            return wr->st[i].mid;
        }
    }
    *mline = 0;
    return "0";
}

static void start_dtls(webrtc *wr)
{
    if (!wr->tr || wr->dtls_started)
        return;
    wr->dtls_started = 1;
    if (fl_transport_start(wr->tr, fl__clock_now(&wr->w->loop)) < 0)
        fl_log(FL_LOG_WARN, "DTLS did not start");
    fl__wr_pump(wr);
}

static void on_ice_event(void *arg, const fl_ice_event *iev)
{
    webrtc *wr = arg;
    char local[300], remote[300];
    int mline;
    fl_event ev = { 0 };
    switch (iev->type) {
    case FL_ICE_EVENT_LOCAL_CANDIDATE:
        if (fl_ice_candidate_write(&iev->candidate, local, sizeof(local)) < 0)
            return;
        ev.type = FL_EVENT_ICE_CANDIDATE;
        ev.ice_candidate.candidate = local;
        ev.ice_candidate.sdp_mid = first_mid(wr, &mline);
        ev.ice_candidate.sdp_mline_index = mline;
        break;
    case FL_ICE_EVENT_GATHERING_DONE:
        ev.type = FL_EVENT_ICE_GATHERING_DONE;
        break;
    case FL_ICE_EVENT_STATE:
        ev.type = FL_EVENT_ICE_COMPONENT_STATE;
        ev.ice_component_state.stream_id = 1;
        ev.ice_component_state.component = iev->component;
        ev.ice_component_state.state = ice_component_state(iev->state);
        wr->ice_state = ice_state_name(iev->state);
        break;
    case FL_ICE_EVENT_SELECTED_PAIR:
        if (fl_ice_candidate_write(&iev->candidate, local, sizeof(local)) < 0 ||
            fl_ice_candidate_write(&iev->remote, remote, sizeof(remote)) < 0)
            return;
        snprintf(wr->pair_local, sizeof(wr->pair_local), "%s", local);
        snprintf(wr->pair_remote, sizeof(wr->pair_remote), "%s", remote);
        ev.type = FL_EVENT_ICE_PAIR_SELECTED;
        ev.ice_pair_selected.stream_id = 1;
        ev.ice_pair_selected.component = iev->component;
        ev.ice_pair_selected.local_candidate = local;
        ev.ice_pair_selected.remote_candidate = remote;
        fl__wr_raise(wr, &ev);
        if (wr->dtls_client)
            start_dtls(wr);
        return;
    default:
        return;
    }
    fl__wr_raise(wr, &ev);
}

static void on_ice_data(void *arg, fl_buf *buf, const fl_addr *from)
{
    webrtc *wr = arg;
    (void)from;
    if (!wr->tr) {
        fl_buf_unref(buf);
        return;
    }
    int rc = fl_transport_handle_input(wr->tr, fl__clock_now(&wr->w->loop), buf);
    if (rc < 0)
        fl_log(FL_LOG_TRACE, "datagram dropped: %s", fl_strerror(rc));
    fl__wr_pump(wr);
}

static int ensure_ice(webrtc *wr, fl_ice_role role)
{
    if (wr->ice)
        return 0;
    fl__ice_transport_config cfg = {
        .role = role,
        .network_interfaces = wr->ifaces,
        .loopback = 1,
        .min_port = (uint16_t)wr->min_port,
        .max_port = (uint16_t)wr->max_port,
        .ice_tcp = wr->ice_tcp,
        .turn_url = wr->turn_url,
        .mux = fl__worker_mux(wr->w),
    };
    if (wr->stun_addr[0] && wr->stun_port > 0 &&
        fl_addr_parse(&cfg.stun_server, wr->stun_addr, (uint16_t)wr->stun_port) < 0)
        fl_log(FL_LOG_WARN, "stunServerAddress %s is not an IP address: not used", wr->stun_addr);
    if (wr->ext4[0])
        fl_addr_parse(&cfg.external_v4, wr->ext4, 0);
    if (wr->ext6[0])
        fl_addr_parse(&cfg.external_v6, wr->ext6, 0);
    fl__ice_transport_callbacks cbs = { .on_event = on_ice_event, .on_data = on_ice_data };
    int rc = fl__ice_transport_create(&wr->ice, &wr->w->loop, wr->w->pool, &cfg, &cbs, wr);
    if (rc < 0)
        return rc;
    if (wr->gather_wanted && !wr->gathering) {
        wr->gathering = 1;
        fl__ice_transport_gather(wr->ice);
    }
    return 0;
}

static void add_remote_candidate(webrtc *wr, const char *cand)
{
    int rc = fl__ice_transport_add_remote_candidate(wr->ice, cand);
    if (rc < 0)
        fl_log(FL_LOG_DEBUG, "remote candidate not used (%s): %s", fl_strerror(rc), cand);
}

/* ---- negotiation ---- */

static fl_cert *worker_cert(fl__worker *w)
{
    if (!w->cert) {
        int64_t now_s = fl_time_wall_ms() / 1000;
        if (fl_cert_generate(&w->cert, "fluo", now_s - 24 * 3600, CERT_LIFETIME_S, NULL) < 0)
            return NULL;
    }
    return w->cert;
}

/* Splits "a,b,c" into entries of list (pointing into buf, which is
 * modified); NULL-terminated; NULL when s is empty (the defaults). */
static const char *const *split_codecs(char *buf, const char **list)
{
    if (!buf[0])
        return NULL;
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok && n < MAX_CODEC_PREFS - 1;
         tok = strtok_r(NULL, ", ", &save))
        list[n++] = tok;
    list[n] = NULL;
    return n ? list : NULL;
}

void fl__wr_local_init(webrtc *wr, fl__wr_local *lp)
{
    memset(lp, 0, sizeof(*lp));
    snprintf(lp->ab, sizeof(lp->ab), "%s", wr->audio_codecs);
    snprintf(lp->vb, sizeof(lp->vb), "%s", wr->video_codecs);
    fl_sdp_local *l = &lp->local;
    l->audio_codecs = split_codecs(lp->ab, lp->al);
    l->video_codecs = split_codecs(lp->vb, lp->vl);
    l->cname = wr->cname;
    l->stream_id = wr->stream_id;
    l->ssrc[0] = wr->ssrc[0];
    l->ssrc[1] = wr->ssrc[1];
    l->rtx_ssrc[0] = wr->rtx_ssrc[0];
    l->rtx_ssrc[1] = wr->rtx_ssrc[1];
    /* NACK/RTX, PLI/FIR, REMB and transport-cc; abs-send-time for our
     * receive-side estimate and the peer's, transport-wide sequence
     * numbers for the feedback a browser sender runs its estimator on */
    l->fb = FL_SDP_FB_NACK | FL_SDP_FB_PLI | FL_SDP_FB_FIR | FL_SDP_FB_REMB | FL_SDP_FB_TWCC;
    l->exts = 1u << FL_SDP_EXT_ABS_SEND_TIME | 1u << FL_SDP_EXT_TWCC | 1u << FL_SDP_EXT_MID |
              1u << FL_SDP_EXT_AUDIO_LEVEL | 1u << FL_SDP_EXT_TOFFSET;
    fl_rand_fill(fl__clock_rand(&wr->w->loop), &l->session_id, sizeof(l->session_id));
    l->session_id &= 0x3fffffffffffffffull;
    l->session_version = 2;
}

static int make_local(webrtc *wr, fl__wr_local *lp)
{
    fl_cert *cert = worker_cert(wr->w);
    if (!cert)
        return FL_ETLS;
    fl_ice_agent *agent = fl__ice_transport_agent(wr->ice);
    fl__wr_local_init(wr, lp);
    lp->local.ice_ufrag = fl_ice_agent_local_ufrag(agent);
    lp->local.ice_pwd = fl_ice_agent_local_pwd(agent);
    lp->local.fingerprint = fl_cert_fingerprint(cert);
    lp->local.datachannels = wr->use_dc;
    lp->local.simulcast_recv = 1; /* the layers a browser offers to send */
    return 0;
}

/* The direction the settings allow (recvonly, sendonly). */
static fl_sdp_dir wanted_dir(webrtc *wr)
{
    return wr->recvonly   ? FL_SDP_DIR_RECVONLY
           : wr->sendonly ? FL_SDP_DIR_SENDONLY
                          : FL_SDP_DIR_SENDRECV;
}

/* Parses and describes an SDP text; *copy is the text as fl_sdp_write
 * gives it back. FL_EBADMSG (reason in err), FL_ENOMEM. */
static int parse_desc(const char *text, fl_sdp_desc **out, char **copy, char *err, size_t errlen)
{
    fl_sdp *s = NULL;
    int rc = fl_sdp_parse(&s, text, strlen(text), err, errlen);
    if (rc < 0)
        return rc;
    fl_sdp_desc *d = calloc(1, sizeof(*d));
    if (!d) {
        fl_sdp_destroy(s);
        return FL_ENOMEM;
    }
    if ((rc = fl_sdp_describe(s, d, err, errlen)) < 0) {
        free(d);
        fl_sdp_destroy(s);
        return rc;
    }
    *copy = fl_sdp_write(s);
    fl_sdp_destroy(s);
    if (!*copy) {
        free(d);
        return FL_ENOMEM;
    }
    *out = d;
    return 0;
}

const fl_sdp_media *fl__wr_streams_from(webrtc *wr, char *err, size_t errlen)
{
    const fl_sdp_desc *l = wr->local, *r = wr->remote;
    const fl_sdp_media *rm0 = NULL;
    memset(wr->pt_kind, 0, sizeof(wr->pt_kind));
    memset(wr->pt_rtx, 0, sizeof(wr->pt_rtx));
    for (size_t i = 0; i < l->nmedia && i < r->nmedia; i++) {
        const fl_sdp_media *lm = &l->media[i], *rm = &r->media[i];
        if (lm->rejected || rm->rejected || lm->port == 0)
            continue;
        if (!rm0)
            rm0 = rm;
        int k = lm->kind == FL_SDP_KIND_AUDIO ? 0 : lm->kind == FL_SDP_KIND_VIDEO ? 1 : -1;
        const fl_sdp_codec *c = fl_sdp_media_main_codec(lm);
        if (k < 0 || !c || wr->st[k].present)
            continue;
        wr_stream *st = &wr->st[k];
        st->present = 1;
        st->mline = (int)i;
        snprintf(st->mid, sizeof(st->mid), "%s", lm->mid);
        st->codec = *c;
        st->send = lm->dir == FL_SDP_DIR_SENDRECV || lm->dir == FL_SDP_DIR_SENDONLY;
        st->recv = lm->dir == FL_SDP_DIR_SENDRECV || lm->dir == FL_SDP_DIR_RECVONLY;
        st->ssrc = wr->ssrc[k];
        /* the peer may send in any codec of the section (RFC 3264 6.1) */
        for (size_t j = 0; j < lm->ncodecs && j < FL_SDP_MAX_CODECS; j++) {
            const fl_sdp_codec *o = &lm->codecs[j];
            if (strcasecmp(o->name, "rtx") == 0)
                continue;
            /* pt_kind demultiplexes BUNDLE: the first section to name a
             * number has it */
            unsigned kind = k == 0 ? FL_MEDIA_AUDIO : FL_MEDIA_VIDEO;
            if (!wr->pt_kind[o->pt & 127])
                wr->pt_kind[o->pt & 127] = (uint8_t)kind;
            if (o->rtx_pt >= 0 && o->rtx_pt < 128 && o->rtx_pt != (o->pt & 127)) {
                if (!wr->pt_kind[o->rtx_pt])
                    wr->pt_kind[o->rtx_pt] = (uint8_t)kind;
                wr->pt_rtx[k][o->rtx_pt] = 1;
            }
        }
    }
    if (!rm0)
        snprintf(err, errlen, "no media section was accepted");
    return rm0;
}

/* Sets up streams, ICE remote side and the DTLS transport from the local
 * (negotiated) and remote descriptions. */
static int apply(webrtc *wr, char *err, size_t errlen)
{
    const fl_sdp_desc *l = wr->local, *r = wr->remote;
    const fl_sdp_media *rm0 = fl__wr_streams_from(wr, err, errlen);
    if (!rm0)
        return FL_ENOTSUP;
    int rc = fl__ice_transport_set_remote_credentials(wr->ice, rm0->ice_ufrag, rm0->ice_pwd);
    if (rc < 0) {
        snprintf(err, errlen, "the remote ICE credentials were refused");
        return rc;
    }
    wr->remote_set = 1;
    for (size_t i = 0; i < r->nmedia; i++) {
        for (size_t c = 0; c < r->media[i].ncandidates; c++)
            add_remote_candidate(wr, r->media[i].candidates[c]);
        if (r->media[i].end_of_candidates)
            add_remote_candidate(wr, "");
    }
    for (size_t i = 0; i < wr->nqueued; i++) {
        add_remote_candidate(wr, wr->queued[i]);
        free(wr->queued[i]);
    }
    wr->nqueued = 0;

    /* our a=setup says who starts DTLS */
    fl_sdp_setup ours = FL_SDP_SETUP_NONE;
    for (size_t i = 0; i < l->nmedia; i++) {
        if (!l->media[i].rejected && l->media[i].setup != FL_SDP_SETUP_NONE) {
            ours = l->media[i].setup;
            break;
        }
    }
    if (ours == FL_SDP_SETUP_ACTPASS) /* we offered: the answer decided */
        ours = rm0->setup == FL_SDP_SETUP_ACTIVE ? FL_SDP_SETUP_PASSIVE : FL_SDP_SETUP_ACTIVE;
    wr->dtls_client = ours == FL_SDP_SETUP_ACTIVE;
    fl_transport_config tc = {
        .cert = worker_cert(wr->w),
        .role = wr->dtls_client ? FL_DTLS_ROLE_CLIENT : FL_DTLS_ROLE_SERVER,
        .remote_fingerprint = rm0->fingerprint,
        .pool = wr->w->pool,
    };
    if ((rc = fl__wr_data_setup(wr, l, r)) < 0) {
        snprintf(err, errlen, "no SCTP association for data channels: %s", fl_strerror(rc));
        return rc;
    }
    tc.app_data = rc;
    for (int k = 0; k < 2; k++) {
        if (wr->st[k].present && tc.n_clock_rates < FL_TRANSPORT_MAX_CLOCK_RATES) {
            tc.clock_rates[tc.n_clock_rates].payload_type = wr->st[k].codec.pt;
            tc.clock_rates[tc.n_clock_rates++].rate = wr->st[k].codec.clock_rate;
        }
    }
    if ((rc = fl_transport_create(&wr->tr, &tc)) < 0) {
        snprintf(err, errlen, "the DTLS transport could not be made: %s", fl_strerror(rc));
        return rc;
    }
    for (int k = 0; k < 2; k++)
        wr->st[k].tr = wr->st[k].present ? wr->tr : NULL;
    if ((rc = fl__wr_media_setup(wr, l, r)) < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (!wr->dtls_client)
        start_dtls(wr);
    return 0;
}

/* An RtpEndpoint's descriptions and their texts hold SDES keys (a=crypto):
 * wiped before they are freed. */
static void drop_desc(webrtc *wr, fl_sdp_desc **d)
{
    if (*d && wr->plain)
        explicit_bzero(*d, sizeof(**d));
    free(*d);
    *d = NULL;
}

static void drop_text(webrtc *wr, char **t)
{
    if (*t && wr->plain)
        explicit_bzero(*t, strlen(*t));
    free(*t);
    *t = NULL;
}

/* Forgets a failed negotiation step so it can be tried again; after a
 * failed answer the offer we made stays. */
static void sdp_reset(webrtc *wr, int keep_local)
{
    drop_desc(wr, &wr->remote);
    drop_text(wr, &wr->remote_sdp);
    fl__wr_media_reset(wr);
    fl__wr_data_free(wr);
    memset(wr->st, 0, sizeof(wr->st));
    if (wr->plain)
        fl__rtp_reset(wr, keep_local);
    if (wr->tr) {
        fl_transport_destroy(wr->tr);
        wr->tr = NULL;
        wr->dtls_started = 0;
    }
    if (keep_local)
        return;
    drop_desc(wr, &wr->local);
    drop_text(wr, &wr->local_sdp);
    wr->sdp_state = SDP_NONE;
}

/* The session is set up: only the texts stay (the descriptors' readers),
 * the parsed descriptions (about 330 kB each) go. */
static void negotiated(webrtc *wr)
{
    drop_desc(wr, &wr->local);
    drop_desc(wr, &wr->remote);
    wr->sdp_state = SDP_DONE;
}

/* Our side of a negotiation: the ICE transport (controlled when answering
 * an offer) and what we bring to the SDP (into lp). */
static int webrtc_begin(webrtc *wr,
                        const fl_sdp_desc *offer,
                        fl__wr_local *lp,
                        char *err,
                        size_t errlen)
{
    int rc = ensure_ice(wr, offer ? FL_ICE_ROLE_CONTROLLED : FL_ICE_ROLE_CONTROLLING);
    if (rc < 0) {
        snprintf(err, errlen, "no media socket could be opened: %s", fl_strerror(rc));
        return rc;
    }
    if ((rc = make_local(wr, lp)) < 0) {
        snprintf(err, errlen, "no DTLS certificate");
        return rc;
    }
    return 0;
}

/* The description of ours the step makes, once it was applied. */
static int negotiated_with(webrtc *wr,
                           const fl__wr_sdp_ops *ops,
                           char **out,
                           char *err,
                           size_t errlen)
{
    int rc = ops->apply(wr, err, errlen);
    if (rc < 0)
        return rc;
    negotiated(wr);
    *out = wr->local_sdp;
    return 0;
}

static int process_offer(webrtc *wr,
                         const fl__wr_sdp_ops *ops,
                         const char *text,
                         char **out,
                         char *err,
                         size_t errlen)
{
    if (wr->sdp_state != SDP_NONE) {
        snprintf(err, errlen, "a session was negotiated already: renegotiation is not supported");
        return FL_ESTATE;
    }
    int rc = parse_desc(text, &wr->remote, &wr->remote_sdp, err, errlen);
    if (rc < 0)
        return rc;
    fl__wr_local lp;
    if ((rc = ops->begin(wr, wr->remote, &lp, err, errlen)) < 0)
        return rc;
    if (!(wr->local = calloc(1, sizeof(*wr->local))))
        return FL_ENOMEM;
    fl_sdp_dir want = wanted_dir(wr);
    rc = fl_sdp_answer(wr->remote, &lp.local, want, want, wr->local, &wr->local_sdp, err, errlen);
    if (rc < 0)
        return rc;
    return negotiated_with(wr, ops, out, err, errlen);
}

/* Our direction for one kind when offering: what the endpoint allows,
 * narrowed by OfferOptions.offerToReceive<Kind> false (we only send). */
static fl_sdp_dir offer_dir(webrtc *wr, int receive)
{
    fl_sdp_dir d = wanted_dir(wr);
    if (receive)
        return d;
    return d == FL_SDP_DIR_RECVONLY ? FL_SDP_DIR_INACTIVE : FL_SDP_DIR_SENDONLY;
}

/* recv_audio, recv_video: OfferOptions' offerToReceiveAudio/Video. Both
 * kinds are always offered. */
static int generate_offer(webrtc *wr,
                          const fl__wr_sdp_ops *ops,
                          int recv_audio,
                          int recv_video,
                          char **out,
                          char *err,
                          size_t errlen)
{
    if (wr->sdp_state != SDP_NONE) {
        snprintf(err, errlen,
                 "an offer or answer was made already: renegotiation is not supported");
        return FL_ESTATE;
    }
    fl__wr_local lp;
    int rc = ops->begin(wr, NULL, &lp, err, errlen);
    if (rc < 0)
        return rc;
    if (!(wr->local = calloc(1, sizeof(*wr->local))))
        return FL_ENOMEM;
    rc = fl_sdp_offer(&lp.local, 1, offer_dir(wr, recv_audio), 1, offer_dir(wr, recv_video),
                      wr->local, &wr->local_sdp);
    if (rc < 0) {
        snprintf(err, errlen, "no offer could be made: %s", fl_strerror(rc));
        return rc;
    }
    wr->sdp_state = SDP_OFFER_SENT;
    *out = wr->local_sdp;
    return 0;
}

static int process_answer(webrtc *wr,
                          const fl__wr_sdp_ops *ops,
                          const char *text,
                          char **out,
                          char *err,
                          size_t errlen)
{
    if (wr->sdp_state != SDP_OFFER_SENT) {
        snprintf(err, errlen, "processAnswer needs an offer made by generateOffer first");
        return FL_ESTATE;
    }
    int rc = parse_desc(text, &wr->remote, &wr->remote_sdp, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = fl_sdp_process_answer(wr->local, wr->remote, err, errlen)) < 0)
        return rc;
    return negotiated_with(wr, ops, out, err, errlen);
}

/* ---- the calls it answers (fl_element_invoke) ---- */

static const fl__method webrtc_methods[] = {
    { "processOffer", M_PROCESS_OFFER, 1, 1 },
    { "generateOffer", M_GENERATE_OFFER, 0, 2 },
    { "processAnswer", M_PROCESS_ANSWER, 1, 1 },
    { "getLocalSessionDescriptor", M_GET_LOCAL, 0, 0 },
    { "getRemoteSessionDescriptor", M_GET_REMOTE, 0, 0 },
    { "gatherCandidates", M_GATHER, 0, 0 },
    { "addIceCandidate", M_ADD_CANDIDATE, 1, 3 },
    { "createDataChannel", M_CREATE_DATA_CHANNEL, 0, 5 },
    { "closeDataChannel", M_CLOSE_DATA_CHANNEL, 1, 1 },
    { NULL, 0, 0, 0 },
};

/* generateOffer's arguments, offerToReceiveAudio and offerToReceiveVideo
 * ("true" when not given). */
static int offer_options(const fl__invocation *inv, int *recv)
{
    for (size_t i = 0; i < 2; i++) {
        const char *v = i < inv->nargs ? inv->args[i] : "true";
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return FL_EINVAL;
        recv[i] = v[0] == 't';
    }
    return 0;
}

/* processOffer, generateOffer, processAnswer: a step refused for its order
 * changes nothing; one that fails is undone. getLocalSessionDescriptor,
 * getRemoteSessionDescriptor: the texts. */
int fl__wr_sdp_step(webrtc *wr, fl__invocation *inv, const fl__wr_sdp_ops *ops)
{
    int id = inv->method->id, recv[2];
    if (id == M_GET_LOCAL || id == M_GET_REMOTE) { /* the descriptors: "" before any */
        inv->result = id == M_GET_LOCAL ? wr->local_sdp : wr->remote_sdp;
        return 0;
    }
    char *made = NULL, *why = inv->why;
    size_t cap = sizeof(inv->why);
    const char *sdp = inv->nargs ? inv->args[0] : "";
    int rc;
    if (id == M_GENERATE_OFFER) {
        if ((rc = offer_options(inv, recv)) < 0)
            return rc;
        rc = generate_offer(wr, ops, recv[0], recv[1], &made, why, cap);
    } else if (strlen(sdp) > FL_SDP_MAX_LEN) {
        snprintf(why, cap, "the SDP is longer than 64 KiB");
        return FL_EBADMSG;
    } else if (id == M_PROCESS_OFFER) {
        rc = process_offer(wr, ops, sdp, &made, why, cap);
    } else {
        rc = process_answer(wr, ops, sdp, &made, why, cap);
    }
    if (rc < 0 && rc != FL_ESTATE)
        sdp_reset(wr, id == M_PROCESS_ANSWER);
    inv->result = made;
    return rc;
}

static const fl__wr_sdp_ops webrtc_sdp = {
    .begin = webrtc_begin,
    .apply = apply,
};

static int gather(webrtc *wr)
{
    if (wr->gather_wanted)
        return 0;
    wr->gather_wanted = 1;
    if (!wr->ice || wr->gathering)
        return 0;
    wr->gathering = 1;
    return fl__ice_transport_gather(wr->ice);
}

/* addIceCandidate(candidate, sdpMid, sdpMLineIndex): one BUNDLE transport,
 * so every candidate is for it and the other two are not needed. A refused
 * line says why; one with an mDNS name is taken with a note saying so. */
static int add_candidate(webrtc *wr, fl__invocation *inv)
{
    const char *cand = inv->args[0], *note = NULL;
    if (cand[0]) {
        fl_ice_candidate parsed;
        const char *why;
        int rc = fl_ice_candidate_parse_why(&parsed, cand, strlen(cand), &why);
        if (rc == FL_ENOTSUP) { /* the peer's address comes as peer-reflexive */
            note = "taken with its mDNS .local name not resolved (fluo has no mDNS resolver): "
                   "the peer's address is learnt from its checks instead";
        } else if (rc < 0) {
            snprintf(inv->why, sizeof(inv->why), "Invalid ICE candidate '%.200s': %s", cand, why);
            return FL_EINVAL;
        }
    }
    if (wr->remote_set) {
        add_remote_candidate(wr, cand);
    } else if (wr->nqueued >= MAX_QUEUED_CANDS) {
        snprintf(inv->why, sizeof(inv->why),
                 "%d ICE candidates are queued already, waiting for the remote description",
                 MAX_QUEUED_CANDS);
        return FL_EBUSY;
    } else {
        if (!(wr->queued[wr->nqueued] = strdup(cand)))
            return FL_ENOMEM;
        wr->nqueued++;
    }
    inv->result = note;
    return 0;
}

static int webrtc_invoke(fl_element *e, fl__invocation *inv)
{
    webrtc *wr = fl__wr_impl(e);
    switch (inv->method->id) {
    case M_PROCESS_OFFER:
    case M_GENERATE_OFFER:
    case M_PROCESS_ANSWER:
    case M_GET_LOCAL:
    case M_GET_REMOTE:
        return fl__wr_sdp_step(wr, inv, &webrtc_sdp);
    case M_GATHER:
        return gather(wr);
    case M_ADD_CANDIDATE:
        return add_candidate(wr, inv);
    case M_CREATE_DATA_CHANNEL:
    case M_CLOSE_DATA_CHANNEL:
        return fl__wr_data_invoke(wr, inv);
    default:
        return FL_ENOTSUP;
    }
}

/* ---- media from the pipeline ---- */

typedef struct prop {
    const char *name;
    size_t off;
    int kind; /* 's': string of size len, 'i': int, 'b': boolean */
    size_t len;
    int ice; /* fixed once the ICE transport exists */
} prop;

#define PS(n, f, ice)                                              \
    {                                                              \
        n, offsetof(webrtc, f), 's', sizeof(((webrtc *)0)->f), ice \
    }
#define PI(n, f, ice)                       \
    {                                       \
        n, offsetof(webrtc, f), 'i', 0, ice \
    }
#define PB(n, f, ice)                       \
    {                                       \
        n, offsetof(webrtc, f), 'b', 0, ice \
    }

static const prop props[] = {
    PS("stunServerAddress", stun_addr, 1),
    PI("stunServerPort", stun_port, 1),
    PS("turnUrl", turn_url, 1),
    PS("externalIPv4", ext4, 1),
    PS("externalIPv6", ext6, 1),
    PS("networkInterfaces", ifaces, 1),
    PB("iceTcp", ice_tcp, 1),
    PI("minPort", min_port, 1),
    PI("maxPort", max_port, 1),
    PB("recvonly", recvonly, 1),
    PB("sendonly", sendonly, 1),
    PS("audioCodecs", audio_codecs, 1),
    PS("videoCodecs", video_codecs, 1),
    PB("useDataChannels", use_dc, 1),
    PI("minVideoRecvBandwidth", min_vrecv, 0),
    PI("maxVideoRecvBandwidth", max_vrecv, 0),
    PI("minVideoSendBandwidth", min_vsend, 0),
    PI("maxVideoSendBandwidth", max_vsend, 0),
    PI("maxAudioRecvBandwidth", max_arecv, 0),
};

static const prop *prop_find(const char *name)
{
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (strcmp(props[i].name, name) == 0)
            return &props[i];
    }
    return NULL;
}

/* Kurento's RembParams as "name=value,..." (the rpc side flattens the
 * object). Those that fit fluo's rate control (net/bwe, GCC) are taken:
 * rembOnConnect (the REMB and the estimate before anything is known),
 * upLosses (the loss, /256, above which the estimate is cut) and
 * decrementFactor (the cut); the others tune Kurento's own loss-based
 * ramp, which fluo does not run: FL_ENOTSUP, nothing changed. */
static int set_remb_params(webrtc *wr, const char *value)
{
    /* name, lowest and highest value taken (the ends exclusive for the
     * factor), and the value as it will be stored */
    static const struct {
        const char *name;
        double lo, hi;
        int open;
    } fields[3] = { { "rembOnConnect", 0, 0x7fffffff, 0 },
                    { "upLosses", 0, 255, 0 },
                    { "decrementFactor", 0, 1, 1 } };

    double v[3] = { wr->remb_on_connect, wr->remb_up_losses, wr->remb_decrement };
    char buf[512];
    if (strlen(value) >= sizeof(buf))
        return FL_EINVAL;
    snprintf(buf, sizeof(buf), "%s", value);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '='), *end;
        if (!eq)
            return FL_EINVAL;
        *eq = 0;
        double x = strtod(eq + 1, &end);
        size_t f = 0;
        while (f < 3 && strcmp(kv, fields[f].name) != 0)
            f++;
        if (f == 3)
            return FL_ENOTSUP;
        if (!eq[1] || *end || x < fields[f].lo || x > fields[f].hi ||
            (fields[f].open && (x == fields[f].lo || x == fields[f].hi)))
            return FL_EINVAL;
        v[f] = x;
    }
    wr->remb_on_connect = (int)v[0];
    wr->remb_up_losses = (int)v[1];
    wr->remb_decrement = v[2];
    return 0;
}

int fl__wr_set_property(fl_element *e, const char *name, const char *value)
{
    webrtc *wr = fl__wr_impl(e);
    const prop *p = prop_find(name);
    if (wr && strcmp(name, "rembParams") == 0)
        return set_remb_params(wr, value);
    if (!wr || !p)
        return FL_ENOTSUP;
    if (p->ice && wr->ice)
        return FL_ESTATE;
    char *field = (char *)wr + p->off;
    if (p->kind == 's') {
        if (strlen(value) >= p->len)
            return FL_EINVAL;
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    if (p->kind == 'b') {
        if (strcmp(value, "true") && strcmp(value, "false"))
            return FL_EINVAL;
        *(int *)field = strcmp(value, "true") == 0;
        return 0;
    }
    char *end;
    long v = strtol(value, &end, 10);
    if (!value[0] || *end || v < 0 || v > 0x7fffffff)
        return FL_EINVAL;
    *(int *)field = (int)v;
    return 0;
}

int fl__wr_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    webrtc *wr = fl__wr_impl(e);
    const prop *p = prop_find(name);
    if (wr && strcmp(name, "rembParams") == 0) { /* what applies, as set_remb_params takes it */
        int n = snprintf(out, cap, "upLosses=%d", wr->remb_up_losses ? wr->remb_up_losses : 26);
        if (wr->remb_on_connect > 0 && n > 0 && (size_t)n < cap)
            n += snprintf(out + n, cap - (size_t)n, ",rembOnConnect=%d", wr->remb_on_connect);
        if (wr->remb_decrement > 0 && n > 0 && (size_t)n < cap)
            snprintf(out + n, cap - (size_t)n, ",decrementFactor=%g", wr->remb_decrement);
        return 0;
    }
    if (wr && strcmp(name, "mediaState") == 0) {
        snprintf(out, cap, "%s", wr->media_connected ? "CONNECTED" : "DISCONNECTED");
        return 0;
    }
    if (wr && strcmp(name, "connectionState") == 0) {
        snprintf(out, cap, "%s", wr->connected ? "CONNECTED" : "DISCONNECTED");
        return 0;
    }
    /* one ICE stream, one component (rtcp-mux): the selected pair as
     * "local\nremote", the component's state, the DTLS state; "" before */
    if (wr && strcmp(name, "ICECandidatePairs") == 0) {
        if (wr->pair_local[0])
            snprintf(out, cap, "%s\n%s", wr->pair_local, wr->pair_remote);
        else if (cap)
            out[0] = '\0';
        return 0;
    }
    if (wr && strcmp(name, "IceConnectionState") == 0) {
        snprintf(out, cap, "%s", wr->ice_state ? wr->ice_state : "");
        return 0;
    }
    if (wr && strcmp(name, "DtlsConnectionState") == 0) {
        static const char *names[] = { "NEW", "CONNECTING", "CONNECTED", "CLOSED", "FAILED" };
        unsigned st = wr->tr ? (unsigned)fl_transport_get_state(wr->tr) : 0;
        snprintf(out, cap, "%s", !wr->tr ? "" : st < 5 ? names[st] : "FAILED");
        return 0;
    }
    if (!wr || !p)
        return FL_ENOTSUP;
    const char *field = (const char *)wr + p->off;
    if (p->kind == 's')
        snprintf(out, cap, "%s", field);
    else if (p->kind == 'b')
        snprintf(out, cap, "%s", *(const int *)field ? "true" : "false");
    else
        snprintf(out, cap, "%d", *(const int *)field);
    return 0;
}

static void wr_free(webrtc *wr)
{
    fl__wr_data_free(wr);
    fl__wr_media_reset(wr);
    if (wr->plain)
        fl__rtp_free(wr);
    for (size_t i = 0; i < wr->nqueued; i++)
        free(wr->queued[i]);
    if (wr->tr)
        fl_transport_destroy(wr->tr);
    drop_desc(wr, &wr->local);
    drop_desc(wr, &wr->remote);
    drop_text(wr, &wr->local_sdp);
    drop_text(wr, &wr->remote_sdp);
    free(wr);
}

void fl__wr_part_closed(void *arg)
{
    webrtc *wr = arg;
    if (--wr->pending_closes == 0)
        wr_free(wr);
}

static void on_timer_closed(uv_handle_t *h)
{
    fl__wr_part_closed(h->data);
}

int fl__wr_init(fl_element *e)
{
    webrtc *wr = calloc(1, sizeof(*wr));
    if (!wr)
        return FL_ENOMEM;
    wr->e = e;
    wr->w = e->worker;
    wr->capture_dir = getenv("FLUO_CAPTURE_DIR");
    /* at least 1 ms: a 0 ms timer re-armed from its own callback would run
     * again before the loop polls any socket */
    fl__deadline_init(&wr->timer, &wr->w->loop, fl__wr_on_timer, wr, 1);
    fl_rand *r = fl__clock_rand(&wr->w->loop);
    char uuid[37];
    fl_rand_uuid(r, uuid);
    snprintf(wr->stream_id, sizeof(wr->stream_id), "%s", uuid);
    for (size_t i = 0; i < 16; i++)
        wr->cname[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[fl_rand_u32(r) % 36];
    do {
        wr->ssrc[0] = fl_rand_u32(r);
        wr->ssrc[1] = fl_rand_u32(r);
        wr->rtx_ssrc[0] = fl_rand_u32(r);
        wr->rtx_ssrc[1] = fl_rand_u32(r);
    } while (!wr->ssrc[0] || !wr->ssrc[1] || !wr->rtx_ssrc[0] || !wr->rtx_ssrc[1] ||
             wr->ssrc[0] == wr->ssrc[1] || wr->rtx_ssrc[0] == wr->rtx_ssrc[1] ||
             wr->rtx_ssrc[0] == wr->ssrc[0] || wr->rtx_ssrc[0] == wr->ssrc[1] ||
             wr->rtx_ssrc[1] == wr->ssrc[0] || wr->rtx_ssrc[1] == wr->ssrc[1]);
    e->impl = wr;
    return 0;
}

void fl__wr_fini(fl_element *e)
{
    webrtc *wr = fl__wr_impl(e);
    if (!wr)
        return;
    e->impl = NULL;
    wr->e = NULL;
    if (wr->tr && wr->connected) {
        fl_transport_close(wr->tr);
        fl__wr_flush_tx(wr);
    }
    wr->pending_closes = 1;
    fl__deadline_close(&wr->timer, on_timer_closed);
    if (wr->ice) {
        wr->pending_closes++;
        fl__ice_transport_close(wr->ice, fl__wr_part_closed, wr);
        wr->ice = NULL;
    }
    if (wr->plain)
        fl__rtp_close(wr);
}

const fl__element_type fl__webrtc_type = {
    .simulcast = 1,
    .name = FL_ELEMENT_WEBRTC,
    .spreads = 1,
    .receive = fl__wr_receive,
    .init = fl__wr_init,
    .fini = fl__wr_fini,
    .key_frame = fl__wr_key_frame,
    .key_frame_layer = fl__wr_key_frame_layer,
    .caps = fl__wr_caps,
    .sender_report = fl__wr_sender_report,
    .set_property = fl__wr_set_property,
    .get_property = fl__wr_get_property,
    .stats = fl__wr_stats,
    .linked = fl__wr_linked,
    .reroute = fl__wr_reroute,
    .bitrate = fl__wr_bitrate,
    .receiving = fl__wr_receiving,
    .methods = webrtc_methods,
    .invoke = webrtc_invoke,
};
