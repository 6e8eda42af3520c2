/* WebRtcEndpoint's private parts, shared by its files: engine/webrtc.c
 * (signalling: SDP, ICE settings, properties, life) and
 * engine/webrtc_media.c (the packet path: RTP both ways, RTCP, feedback,
 * congestion control, stats). Worker thread only. */
#ifndef FL_ENGINE_WEBRTC_INT_H
#define FL_ENGINE_WEBRTC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/time.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/ice_transport.h"
#include "net/transport.h"
#include "sdp/sdp.h"

#define RTCP_INTERVAL    (1000 * FL_TIME_MS)
#define PLI_MIN_INTERVAL (500 * FL_TIME_MS)
#define MAX_QUEUED_CANDS 64
#define MAX_CODEC_PREFS  16
#define SRTP_TAILROOM    16
#define DEFAULT_REMB_BPS 10000000ull /* maxVideoRecvBandwidth 0: unlimited */
#define CERT_LIFETIME_S  (30 * 24 * 3600)

enum {
    SDP_NONE,
    SDP_OFFER_SENT,
    SDP_DONE
};

typedef struct wr_stream {
    int present; /* an accepted section of this kind */
    int send, recv;
    int mline;
    char mid[32];
    fl_sdp_codec codec; /* the negotiated main codec */
    uint32_t ssrc;      /* ours */
    /* egress: rewriting the upstream's numbering into ours */
    int started, have_src;
    uint32_t src_ssrc;
    uint16_t seq_delta, last_seq;
    uint32_t ts_delta, last_ts;
    fl_time last_time;
    uint32_t packets, octets;
    int codec_error; /* the Error event about a format mismatch was raised */
    /* the source's format last compared with ours, the worker's
     * links_changed then (0 before any: a link always bumps it), the verdict */
    const fl_sdp_codec *checked_caps;
    uint64_t caps_links;
    int caps_fit;
    int transcoding_said; /* NOT_TRANSCODING was raised */
    /* ingress */
    uint32_t remote_ssrc; /* latest SSRC seen from the browser */
    fl_time last_pli;
    int pli_wanted;
    uint64_t pli_sent, pli_recv, fir_recv, nack_recv, remb_recv;
} wr_stream;

typedef struct webrtc {
    fl_element *e; /* NULL once torn down */
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
    uint32_t ssrc[2];
    int connected, media_connected;
    /* ICE as the read-only properties report it */
    const char *ice_state;                  /* NULL before the first state change */
    char pair_local[300], pair_remote[300]; /* the selected pair; "" before */
    wr_stream st[2];                        /* audio, video */
    uint8_t pt_kind[128]; /* payload type -> FL_MEDIA_AUDIO/VIDEO; 0: not forwarded */
    fl_time next_rtcp;
    /* FLUO_CAPTURE_DIR: the first decrypted packets from the browser are
     * written there, one file each (test fixtures, debugging) */
    const char *capture_dir;
    unsigned captured_rtp[2], captured_rtcp;
} webrtc;

static inline webrtc *fl__wr_impl(fl_element *e)
{
    return e->impl;
}

static inline int fl__wr_kind_index(unsigned media)
{
    return media == FL_MEDIA_AUDIO ? 0 : media == FL_MEDIA_VIDEO ? 1 : -1;
}

/* engine/webrtc.c */
void fl__wr_raise(webrtc *wr, const fl_event *ev);
void fl__wr_raise_error(webrtc *wr, const char *type, const char *message);

/* engine/webrtc_media.c */
/* Sends what the transport queued. */
void fl__wr_flush_tx(webrtc *wr);
/* Runs the transport: datagrams out, events up, next deadline. */
void fl__wr_pump(webrtc *wr);
void fl__wr_schedule(webrtc *wr);
void fl__wr_on_timer(uv_timer_t *h);
void fl__wr_receive(fl_element *e, fl__pad *sink, fl_buf *buf);
void fl__wr_linked(fl_element *e, fl__pad *sink);
void fl__wr_key_frame(fl_element *e, unsigned media);
const fl_sdp_codec *fl__wr_caps(fl_element *e, unsigned media);
void fl__wr_stats(fl_element *e, unsigned media, fl__json *j);

#endif
