/* WebRtcEndpoint's private parts, shared by its files: engine/webrtc.c
 * (signalling: SDP, ICE settings, properties, life) and
 * engine/webrtc_media.c (the packet path: RTP both ways, the transport's
 * events, timers, stats) and
 * engine/webrtc_feedback.c (the RTCP side: reports, PLI/FIR/REMB/NACK from
 * the browser, feedback, congestion control, retransmissions).
 * Worker thread only. */
#ifndef FL_ENGINE_WEBRTC_INT_H
#define FL_ENGINE_WEBRTC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/time.h"
#include "codec/codec.h"
#include "codec/vp8_rewrite.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/ice_transport.h"
#include "net/bwe.h"
#include "net/layers.h"
#include "net/nack.h"
#include "net/rewrite.h"
#include "net/rtcp.h"
#include "net/transport.h"
#include "net/twcc.h"
#include "sdp/sdp.h"

extern const fl__element_type fl__webrtc_type; /* engine/webrtc.c */

#define RTCP_INTERVAL    (1000 * FL_TIME_MS)
#define PLI_MIN_INTERVAL (500 * FL_TIME_MS)
/* a key frame asked for is awaited this long before another request */
#define KEY_FRAME_WAIT    (300 * FL_TIME_MS)
#define REMB_INTERVAL     (1000 * FL_TIME_MS)
#define REMB_CHECK        (100 * FL_TIME_MS)
#define REMB_MIN_BPS      30000ull /* Kurento's floor for minVideoRecvBandwidth */
#define TWCC_MIN_INTERVAL (50 * FL_TIME_MS)
#define TWCC_MAX_INTERVAL (250 * FL_TIME_MS)
#define MAX_QUEUED_CANDS  64
#define MAX_CODEC_PREFS   16
#define SRTP_TAILROOM     16
#define DEFAULT_REMB_BPS  10000000ull /* maxVideoRecvBandwidth 0: unlimited */
#define CERT_LIFETIME_S   (30 * 24 * 3600)

enum {
    SDP_NONE,
    SDP_OFFER_SENT,
    SDP_DONE
};

/* Codecs of a media section the stream may send in (the answer lists
 * every codec both sides have); the parsed descriptions do not outlive
 * the negotiation, so what a switch needs is kept. */
#define FL__WR_ALT_CODECS 16

typedef struct wr_alt {
    fl_sdp_codec codec;
    unsigned fb; /* FL_SDP_FB_* both descriptions agreed for it */
    int rtx_pt;  /* its RTX payload type both have; -1: none */
} wr_alt;

/* A key frame asked of the browser for one of its streams: PLIs go out
 * throttled and coalesced (webrtc_feedback.c's key_due). */
typedef struct wr_keys {
    fl_time last_pli;
    fl_time key_asked; /* a PLI went out and no key frame came since; 0: none */
    int pli_wanted, pli_join;
} wr_keys;

/* One simulcast layer the browser sends (engine/webrtc_simulcast.c): known
 * by its rid (RID simulcast) or its SSRCs (SSRC simulcast, or learnt from
 * the rid extensions of its first packets). */
typedef struct wr_layer {
    char rid[FL_SDP_RID_MAX_LEN + 1]; /* "": SSRC simulcast */
    uint32_t ssrc, rtx_ssrc;          /* 0 until known */
    fl_nack_gen *nack;                /* NULL: no nack negotiated */
    uint64_t nack_given_up;
    wr_keys keys;
    uint64_t packets, key_frames, pli_sent;
} wr_layer;

/* A viewer's egress from a simulcast source: the layer it forwards
 * (net/layers.h chooses, codec/vp8_rewrite.h keeps the VP8 descriptor
 * continuous) and the padding that probes for a higher one. */
typedef struct wr_sim_out {
    int active; /* the source sends layers */
    fl_layers ly;
    fl_vp8_rewrite vr;
    int cur, target; /* spatial layers forwarded and wanted; -1: none */
    int tid;         /* the highest TID forwarded (FL_VP8_TID_ALL: all) */
    int tid_chosen;  /* the layer choice's (the highest measured when all) */
    uint64_t switches;
    fl_time key_wanted_at; /* a key frame of target asked for at; 0: none */
    /* bytes per layer and TID in the current second */
    fl_time next_update;
    int vp8; /* the stream sends VP8: its descriptor is rewritten */
    /* probing: padding up to probe_bps while a higher layer would fit the
     * cap, until the viewer's estimate fits it or falls */
    uint64_t probe_bps, probe_remb;
    fl_time probe_at, probe_next, probe_backoff;
    uint64_t probe_owed; /* bytes */
    uint64_t padding_packets, padding_bytes;
} wr_sim_out;

typedef struct wr_stream {
    int present; /* an accepted section of this kind */
    int send, recv;
    int mline;
    char mid[32];
    fl_sdp_codec codec; /* the negotiated main codec (what the peer is taken to send) */
    unsigned fb;        /* FL_SDP_FB_* both descriptions agreed for it */
    wr_alt alt[FL__WR_ALT_CODECS];
    size_t nalt;
    int sending;     /* the codec sent: an index in alt, -1 the main one */
    int main_rtx_pt; /* the main codec's agreed RTX payload type, -1: none */
    uint32_t ssrc;   /* ours */
    /* the transport it goes over: a WebRtcEndpoint's one BUNDLE transport
     * (webrtc.tr), an RtpEndpoint's own (wr_plain.tr); not owned */
    fl_transport *tr;
    /* egress: the upstream's numbering rewritten into ours (net/rewrite) */
    fl_rewrite rw;
    uint32_t packets, octets;
    int codec_error; /* the Error event about a format mismatch was raised */
    /* the source's format last compared with ours, on which sink pad, the
     * worker's graph_gen then (0 before any: a link always bumps it), the
     * verdict (and the source's payload type given to rw) */
    const fl__pad *caps_sink;
    uint64_t caps_gen;
    int caps_fit;
    int transcoding_said; /* MediaTranscodingStateChanged raised: 0 none, 1 NOT_, 2 TRANSCODING */
    /* egress: retransmissions (net/nack), abs-send-time stamped */
    fl_nack_history *hist; /* NULL: the peer did not negotiate nack */
    int rtx_pt;            /* RTX payload type of the codec sent, -1: plain resends */
    uint32_t rtx_ssrc;
    uint16_t rtx_seq;
    uint64_t rtx_sent, resent_plain, nack_unanswered;
    fl_remb_bound remb_bound; /* video: the REMB as what the source may send */
    fl_resend_budget rb;      /* what resends may take of the peer's REMB */
    uint64_t nack_held;       /* asked-for packets not resent: over that budget */
    fl_time lost_key_at;      /* a key frame last asked for it: it wanted what was too old */
    /* ingress */
    uint32_t remote_ssrc; /* latest SSRC seen from the browser */
    fl_codec_kind kind;   /* for key-frame starts */
    fl_nack_gen *nack;    /* NULL: no nack negotiated */
    uint64_t nacks_sent, nack_seqs_sent, rtx_recv, rtx_unneeded;
    uint64_t nack_given_up; /* of net/nack's count, what we acted on */
    wr_keys keys;
    uint64_t key_frames;
    /* simulcast received: its layers, lowest first (0: not simulcast), the
     * rid extensions' ids, and the layer, TID and key-frame start of the
     * last packet media_in passed (noted on its buffer) */
    int nlayers;
    wr_layer lay[FL_LAYERS_SPATIAL];
    uint8_t rid_id, rrid_id;
    uint8_t in_layer, in_tid, in_key;
    uint64_t sim_unknown; /* packets of no known layer, dropped */
    /* simulcast sent (egress) */
    wr_sim_out so;
    uint64_t pli_sent, pli_recv, fir_recv, nack_recv, remb_recv;
} wr_stream;

/* An RtpEndpoint's stream (engine/rtp_endpoint.c): its own transport
 * (net/transport PLAIN or SDES) on its own UDP socket pair, and where the
 * peer is. */
typedef struct wr_plain {
    fl_transport *tr;            /* owned; NULL before negotiation */
    struct fl__udp *rtp, *rtcp;  /* rtcp: NULL with rtcp-mux */
    int comedia;                 /* the peer's addresses are learnt from its packets */
    fl_addr peer_rtp, peer_rtcp; /* family 0: not known (yet) */
    uint64_t auth_failed;        /* srtp_auth when an Error last said so */
    uint64_t soft_limits;        /* key_soft_limits last seen */
} wr_plain;

/* A data channel message (or a piece of one) on a DATA pad: this header,
 * then on the first piece the channel's label and protocol, then bytes of
 * the message. engine/webrtc_data.c writes and reads it. */
#define FL__DATA_MAGIC  0xdc
#define FL__DATA_HEADER 21

enum {
    FL__DATA_BINARY = 1, /* else text */
    FL__DATA_FIRST = 2,  /* label and protocol follow the header */
    FL__DATA_LAST = 4,
};
/* [0] magic, [1] flags, [2..3] the source's channel id, [4..7] the whole
 * message's length, [8..9] label length, [10..11] protocol length (0 but
 * on the first piece), [12] bit 0: unordered, [13..16] maxRetransmits,
 * [17..20] maxPacketLifeTime (-1: none), big-endian. */

typedef struct wr_data wr_data; /* engine/webrtc_data.c */

typedef struct webrtc {
    fl_element *e; /* NULL once torn down */
    /* an RtpEndpoint (engine/rtp_endpoint.c): no ICE, no DTLS; a transport
     * and socket pair per stream in pl[] */
    int plain;
    wr_plain pl[2];
    void *rtp; /* rtp_endpoint.c's own settings and state */
    fl__worker *w;
    fl__deadline timer;
    int pending_closes;
    /* settings (Kurento property names in set_property) */
    char stun_addr[256];
    int stun_port;
    char turn_url[512];
    char ext4[64], ext6[64];
    char ifaces[256];
    int ice_tcp;
    int min_port, max_port;
    int recvonly, sendonly;
    char audio_codecs[512], video_codecs[512];
    int min_vrecv, max_vrecv, min_vsend, max_vsend, max_arecv;
    /* RembParams that apply (webrtc.c set_remb_params); 0: unset */
    int remb_on_connect, remb_up_losses;
    double remb_decrement;
    /* ICE and DTLS */
    fl__ice_transport *ice;
    fl_transport *tr;
    int dtls_client, dtls_started;
    int gather_wanted, gathering;
    char *queued[MAX_QUEUED_CANDS];
    size_t nqueued;
    int remote_set; /* remote credentials given to the agent */
    /* SDP */
    int sdp_state;
    fl_sdp_desc *local, *remote;
    char *local_sdp, *remote_sdp;
    char cname[24], stream_id[40];
    uint32_t ssrc[2], rtx_ssrc[2];
    int connected, media_connected;
    /* congestion control: header extension ids (0: not negotiated), the
     * transport-cc feedback we send, our receive-side estimate (net/bwe)
     * and the REMB we tell the browser */
    uint8_t ast_id, twcc_id;
    fl_twcc_rx *twcc;
    uint64_t twcc_packets;
    fl_time twcc_rate_at; /* the last report's time and bytes received */
    uint64_t twcc_rate_bytes;
    fl_bwe *bwe;
    uint64_t remb_sent_bps;
    fl_time remb_sent_at, next_remb_check;
    /* ICE as the read-only properties report it */
    const char *ice_state;                  /* NULL before the first state change */
    char pair_local[300], pair_remote[300]; /* the selected pair; "" before */
    wr_stream st[2];                        /* audio, video */
    uint8_t pt_kind[128]; /* payload type -> FL_MEDIA_AUDIO/VIDEO; 0: not forwarded */
    /* 1: the peer's RTX payload type for stream [k]'s kind (by stream: an
     * RtpEndpoint's sections are separate RTP sessions, each numbering its
     * payload types itself) */
    uint8_t pt_rtx[2][128];
    fl_time next_rtcp;
    /* FLUO_CAPTURE_DIR: the first decrypted packets from the browser are
     * written there, one file each (test fixtures, debugging) */
    const char *capture_dir;
    unsigned captured_rtp[2], captured_rtcp;
    /* data channels: useDataChannels, and once negotiated their state */
    int use_dc;
    wr_data *dc;
} webrtc;

static inline webrtc *fl__wr_impl(fl_element *e)
{
    return e->impl;
}

/* The endpoint's n-th transport (from 0), NULL past the last: a
 * WebRtcEndpoint's one BUNDLE transport, an RtpEndpoint's one per stream;
 * *k: the stream it serves alone, -1 for every stream. */
static inline fl_transport *fl__wr_transport(const webrtc *wr, int n, int *k)
{
    *k = -1;
    if (!wr->plain)
        return n == 0 ? wr->tr : NULL;
    for (int i = 0; i < 2; i++) {
        if (wr->pl[i].tr && n-- == 0) {
            *k = i;
            return wr->pl[i].tr;
        }
    }
    return NULL;
}

static inline int fl__wr_kind_index(unsigned media)
{
    return media == FL_MEDIA_AUDIO ? 0 : media == FL_MEDIA_VIDEO ? 1 : -1;
}

/* engine/webrtc.c */
void fl__wr_raise(webrtc *wr, const fl_event *ev);
void fl__wr_raise_error(webrtc *wr, const char *type, const char *message);

/* The element type's parts an RtpEndpoint shares: the state made at init
 * (SSRCs, CNAME, the timer), torn down at fini (with the RtpEndpoint's
 * sockets: fl__rtp_close), freed once every part closed. */
int fl__wr_init(fl_element *e);
void fl__wr_fini(fl_element *e);
void fl__wr_part_closed(void *wr); /* a part that fl__wr_fini counted closed */
int fl__wr_set_property(fl_element *e, const char *name, const char *value);
int fl__wr_get_property(fl_element *e, const char *name, char *out, size_t cap);

/* The calls of both endpoints (fl__method ids). */
enum {
    M_PROCESS_OFFER,
    M_GENERATE_OFFER,
    M_PROCESS_ANSWER,
    M_GET_LOCAL,
    M_GET_REMOTE,
    M_GATHER,
    M_ADD_CANDIDATE,
    M_CREATE_DATA_CHANNEL,
    M_CLOSE_DATA_CHANNEL,
};

/* What our side brings to the SDP (the codec lists point into ab/vb). */
typedef struct fl__wr_local {
    fl_sdp_local local;
    char ab[512], vb[512];
    const char *al[MAX_CODEC_PREFS], *vl[MAX_CODEC_PREFS];
} fl__wr_local;

/* Everything but the ICE and DTLS parts: codecs, CNAME, SSRCs, feedback,
 * extensions, session id. */
void fl__wr_local_init(webrtc *wr, fl__wr_local *lp);
/* The direction the settings allow (recvonly, sendonly). */
/* The streams (st[]) and payload type maps from wr->local and wr->remote;
 * the first accepted remote section, or NULL (reason in err) when none. */
const fl_sdp_media *fl__wr_streams_from(webrtc *wr, char *err, size_t errlen);

/* What an endpoint does around the SDP steps (processOffer, generateOffer,
 * processAnswer: fl__wr_sdp_step runs them, checks the text's size and
 * order, and undoes a step that failed). */
typedef struct fl__wr_sdp_ops {
    /* Our side before a description of ours is made: its transport or
     * sockets and what we bring to the SDP (into lp); `offer` is the
     * remote offer being answered, NULL when we offer. */
    int (*begin)(webrtc *wr, const fl_sdp_desc *offer, fl__wr_local *lp, char *err, size_t errlen);
    /* Streams, transports and feedback from the negotiated descriptions. */
    int (*apply)(webrtc *wr, char *err, size_t errlen);
} fl__wr_sdp_ops;

/* Runs an SDP step, or answers get{Local,Remote}SessionDescriptor. */
int fl__wr_sdp_step(webrtc *wr, fl__invocation *inv, const fl__wr_sdp_ops *ops);

/* engine/rtp_endpoint.c: the RtpEndpoint's parts the shared code calls
 * (wr->plain only) */
/* Sends what its transports queued, each stream to its peer. */
void fl__rtp_flush_tx(webrtc *wr);
/* With each report interval's statistics of the transport of stream k:
 * OnKeySoftLimit and an Error when SRTP refuses the peer's packets. */
void fl__rtp_reports(webrtc *wr, int k, const fl_transport_stats *ts);
/* A failed negotiation step: transports and (unless keep_local: our offer
 * stays) sockets go. */
void fl__rtp_reset(webrtc *wr, int keep_local);
/* At fini: closes the sockets, each counted in wr->pending_closes. */
void fl__rtp_close(webrtc *wr);
/* At the end: frees the transports and the settings. */
void fl__rtp_free(webrtc *wr);

/* engine/webrtc_media.c */
/* Sends what the transport queued. */
void fl__wr_flush_tx(webrtc *wr);
/* Runs the transport: datagrams out, events up, next deadline. */
void fl__wr_pump(webrtc *wr);
void fl__wr_schedule(webrtc *wr);
void fl__wr_on_timer(uv_timer_t *h);
void fl__wr_receive(fl_element *e, fl__pad *sink, fl_buf *buf);
void fl__wr_linked(fl_element *e, fl__pad *sink);
void fl__wr_reroute(fl_element *e, fl__pad *sink);
int fl__wr_receiving(fl_element *e, unsigned media);
void fl__wr_key_frame(fl_element *e, unsigned media, int join);
void fl__wr_key_frame_layer(fl_element *e, unsigned media, int layer, int join);
const fl_sdp_codec *fl__wr_caps(fl_element *e, unsigned media);

/* The stream sends in the negotiated codec `in` fits (NULL: the main one):
 * its payload type, clock rate and RTX from now on; what the peer sends is
 * still taken as negotiated. 1 when one fits (or in is NULL), 0 when none
 * does (nothing changes then). */
int fl__wr_send_codec(webrtc *wr, wr_stream *st, const fl_sdp_codec *in);

/* The name of the codec the stream sends in. */
const char *fl__wr_sent_codec_name(const wr_stream *st);
int fl__wr_sender_report(fl_element *e,
                         unsigned media,
                         uint32_t ssrc,
                         uint32_t *rtp_ts,
                         fl_time *sent);
void fl__wr_stats(fl_element *e, unsigned media, fl__stats_out *out);

/* engine/webrtc_feedback.c */
/* An SR for each stream we send on, else one RR; their loss and RTT go to
 * the feedback loops. */
void fl__wr_send_reports(webrtc *wr, fl_time now);
/* A compound RTCP packet from the browser (decrypted). */
void fl__wr_on_rtcp(webrtc *wr, fl_buf *b);
uint64_t fl__wr_bitrate(fl_element *e, unsigned media);
/* A key frame wanted from the browser on st (see key_due there). */
void fl__wr_ask_key_frame(webrtc *wr, wr_stream *st, fl_time now, int join);
/* Transport-wide: transport-cc feedback and the estimator see every RTP
 * packet from the browser, padding and retransmissions included. */
void fl__wr_note_arrival(webrtc *wr, const fl_rtp_view *v, fl_time arrival, size_t size);
/* An RTP packet from the browser on st (after note_arrival): an RTX packet
 * turned back into its original in place (ev->rtp parsed again). 0: drop
 * it (a padding probe, a bad retransmission), 1: forward it. */
int fl__wr_media_in(webrtc *wr, wr_stream *st, fl_transport_event *ev);
/* Sends the feedback that is due (NACK, transport-cc, REMB, PLI). */
void fl__wr_feedback(webrtc *wr, fl_time now);
fl_time fl__wr_feedback_deadline(const webrtc *wr);
/* With each report interval's statistics of a transport (of stream k
 * alone; -1: of every stream): loss, RTT. */
void fl__wr_feedback_reports(webrtc *wr, int k, const fl_transport_stats *ts);
/* A key frame wanted of one simulcast layer the browser sends on st. */
void fl__wr_ask_layer_key_frame(webrtc *wr, wr_stream *st, int layer, fl_time now, int join);

/* The request made of the browser is answered: a key frame came. */
static inline void fl__wr_keys_answered(wr_keys *ks)
{
    ks->key_asked = 0;
    ks->pli_wanted = 0;
    ks->pli_join = 0;
}

/* The browser's NACK for what we sent on st. 1 when it asked for video
 * too old to resend: it cannot decode on without a key frame, which it
 * would ask for itself only seconds later (at most once a second). */
int fl__wr_answer_nack(webrtc *wr, wr_stream *st, const fl_rtcp_fb *fb, fl_time now);

/* engine/webrtc_data.c: data channels */
/* From the negotiated descriptions (wr->dtls_client known): 1 when a data
 * channel section was accepted (its SCTP association made, channels may be
 * asked for), 0 when none, FL_ENOMEM / FL_EIO. */
int fl__wr_data_setup(webrtc *wr, const fl_sdp_desc *l, const fl_sdp_desc *r);
void fl__wr_data_free(webrtc *wr);
/* DTLS connected: the SCTP association starts (its INIT goes). */
void fl__wr_data_connected(webrtc *wr);
/* A DTLS application data record from the peer. */
void fl__wr_data_input(webrtc *wr, const fl_buf *b);
/* SCTP packets out, its events up (messages out of the DATA source pad). */
void fl__wr_data_pump(webrtc *wr);
void fl__wr_data_timeout(webrtc *wr, fl_time now);
fl_time fl__wr_data_deadline(const webrtc *wr);
/* DATA reaching a sink pad (consumes buf). */
void fl__wr_data_receive(webrtc *wr, fl__pad *sink, fl_buf *buf);
/* createDataChannel, closeDataChannel. */
int fl__wr_data_invoke(webrtc *wr, fl__invocation *inv);
void fl__wr_data_stats(webrtc *wr, fl__stats_out *out);

/* abs-send-time (6.18 fixed-point seconds, 24 bits) for `now`. */
static inline void fl__wr_abs_send_time(fl_time now, uint8_t out[3])
{
    uint32_t v = (uint32_t)(((uint64_t)now << 18) / (uint64_t)FL_TIME_SEC) & 0xffffffu;
    out[0] = (uint8_t)(v >> 16);
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)v;
}

/* After negotiation: NACK, RTX, transport-cc and the estimator as the
 * local and remote descriptions agreed them. FL_ENOMEM. */
int fl__wr_media_setup(webrtc *wr, const fl_sdp_desc *l, const fl_sdp_desc *r);
/* Frees what media_setup made (a failed negotiation, teardown). */
void fl__wr_media_reset(webrtc *wr);

/* engine/webrtc_simulcast.c */
/* The simulcast layers of stream k (index 1: video) from the negotiated
 * sections, lowest first: the answer's rids (RID simulcast) or the
 * offer's SIM group (SSRC simulcast); none otherwise. Resets the egress's
 * layer choice. */
void fl__wr_sim_setup(wr_stream *st, int k, const fl_sdp_media *lm, const fl_sdp_media *rm);
/* media_in for a simulcast stream: the packet's layer found (from its SSRC,
 * or learnt from its rid extension), an RTX packet turned back into its
 * original, NACKs and key frames per layer; st->in_* set. 0: drop it. */
int fl__wr_sim_in(webrtc *wr, wr_stream *st, fl_transport_event *ev);
/* The egress's decision for a packet of a simulcast source (buf->rtp.layer
 * set): 1 forward it (*head, *head_len: the rewritten start of its payload
 * to write over the copy, 0 bytes when none), 0 drop it. */
int fl__wr_sim_out(webrtc *wr,
                   wr_stream *st,
                   fl__pad *sink,
                   const fl_buf *buf,
                   fl_time now,
                   uint8_t *head,
                   size_t *head_len);
/* The viewer's stream has a new source: its layers chosen afresh, its VP8
 * numbering continued. */
void fl__wr_sim_relink(wr_stream *st, fl__pad *sink);
/* The viewer's PLI: a key frame of the layer it gets (1), or 0 when the
 * stream is not forwarding a simulcast layer. */
int fl__wr_sim_key_frame(webrtc *wr, wr_stream *st, fl__pad *sink);

#endif
