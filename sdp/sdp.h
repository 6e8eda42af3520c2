/* SDP (RFC 8866) parse and write, and offer/answer (RFC 3264) for WebRTC:
 * BUNDLE (RFC 8843), rtcp-mux, rtcp-rsize, msid, ssrc/ssrc-group:FID, ICE and
 * DTLS attributes, simulcast (RFC 8851 a=rid, RFC 8853 a=simulcast, and
 * a=ssrc-group:SIM), extmap, rtcp-fb, directions; codec negotiation by name
 * and fmtp (never by payload number), answers keeping the offerer's payload
 * numbers. Sans-IO and allocation-light: nothing here is on the media path.
 *
 *     fl_sdp *s;
 *     fl_sdp_parse(&s, text, len, err, sizeof err);   // exact, unknown lines kept
 *     char *again = fl_sdp_write(s);                  // == text (CRLF endings)
 *     fl_sdp_desc *d = calloc(1, sizeof *d);
 *     fl_sdp_describe(s, d, err, sizeof err);          // structured view
 *
 * An answer or an offer of our own is produced as text plus its structured
 * view; the negotiated figures (codecs, extension ids, directions, ssrcs,
 * ICE/DTLS parameters of both sides) are read from the two descs. */
#ifndef FL_SDP_SDP_H
#define FL_SDP_SDP_H

#include <stddef.h>
#include <stdint.h>

#define FL_SDP_MAX_MEDIA      16
#define FL_SDP_MAX_CODECS     32
#define FL_SDP_MAX_SSRCS      8
#define FL_SDP_MAX_CANDIDATES 32
#define FL_SDP_MAX_LEN        65536 /* longest SDP text accepted */
#define FL_SDP_MAX_RIDS       4     /* simulcast layers kept per section */
#define FL_SDP_RID_MAX_PTS    8     /* payload types kept from a=rid pt= */
#define FL_SDP_RID_MAX_LEN    15    /* longest rid-id kept (one-byte extension: 16 bytes) */

/* Media kinds; the same bits as the engine's FL_MEDIA_AUDIO/VIDEO. */
typedef enum fl_sdp_kind {
    FL_SDP_KIND_AUDIO = 1,
    FL_SDP_KIND_VIDEO = 2,
    FL_SDP_KIND_APPLICATION = 4,
    FL_SDP_KIND_OTHER = 8, /* any other m= media: always rejected */
} fl_sdp_kind;

typedef enum fl_sdp_dir {
    FL_SDP_DIR_SENDRECV = 0,
    FL_SDP_DIR_SENDONLY,
    FL_SDP_DIR_RECVONLY,
    FL_SDP_DIR_INACTIVE,
} fl_sdp_dir;

typedef enum fl_sdp_setup {
    FL_SDP_SETUP_NONE = 0, /* absent */
    FL_SDP_SETUP_ACTPASS,
    FL_SDP_SETUP_ACTIVE, /* DTLS client */
    FL_SDP_SETUP_PASSIVE,
    FL_SDP_SETUP_HOLDCONN,
} fl_sdp_setup;

/* a=rtcp-fb values, as bits. */
enum {
    FL_SDP_FB_NACK = 1,  /* nack */
    FL_SDP_FB_PLI = 2,   /* nack pli */
    FL_SDP_FB_FIR = 4,   /* ccm fir */
    FL_SDP_FB_REMB = 8,  /* goog-remb */
    FL_SDP_FB_TWCC = 16, /* transport-cc */
};

/* The header extensions fluo knows (a=extmap URIs). */
typedef enum fl_sdp_ext {
    FL_SDP_EXT_ABS_SEND_TIME = 0, /* http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time */
    FL_SDP_EXT_TWCC, /* http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01 */
    FL_SDP_EXT_MID,  /* urn:ietf:params:rtp-hdrext:sdes:mid */
    FL_SDP_EXT_RID,  /* urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id */
    FL_SDP_EXT_RRID, /* urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id */
    FL_SDP_EXT_AUDIO_LEVEL, /* urn:ietf:params:rtp-hdrext:ssrc-audio-level */
    FL_SDP_EXT_TOFFSET,     /* urn:ietf:params:rtp-hdrext:toffset */
    FL_SDP_EXT_COUNT
} fl_sdp_ext;

/* ---- a=crypto (SDES, RFC 4568; AES-256 suites RFC 6188) ---- */

typedef enum fl_sdp_crypto_suite {
    FL_SDP_CRYPTO_NONE = 0,
    /* "AES_CM_128_HMAC_SHA1_80" in SDP; Kurento's CryptoSuite
     * AES_128_CM_HMAC_SHA1_80 */
    FL_SDP_AES_CM_128_HMAC_SHA1_80,
    FL_SDP_AES_CM_128_HMAC_SHA1_32,
    FL_SDP_AES_256_CM_HMAC_SHA1_80, /* "AES_256_CM_HMAC_SHA1_80" (RFC 6188) */
    FL_SDP_AES_256_CM_HMAC_SHA1_32,
} fl_sdp_crypto_suite;

#define FL_SDP_CRYPTO_MAX_KEY 46 /* master key + salt: 30 bytes for AES-128, 46 for AES-256 */
#define FL_SDP_MAX_CRYPTO     8

/* One a=crypto line with a single inline key. */
typedef struct fl_sdp_crypto {
    int tag; /* 1..999999999 */
    fl_sdp_crypto_suite suite;
    uint8_t key[FL_SDP_CRYPTO_MAX_KEY]; /* the inline key||salt, decoded */
    size_t key_len;                     /* fl_sdp_crypto_key_len(suite) */
    uint64_t lifetime;                  /* packets ("|2^31" or "|1048576"); 0 when absent */
    uint32_t mki, mki_len;              /* "|MKI:LEN"; mki_len 0 when absent */
} fl_sdp_crypto;

/* Parses the value after "a=crypto:" ("1 AES_CM_128_HMAC_SHA1_80
 * inline:<base64>[|lifetime][|MKI:len] [session params]") into out.
 * FL_ENOTSUP for a suite not listed above (the caller skips that line) and
 * for the session parameters UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP,
 * UNAUTHENTICATED_SRTP and a KDR other than 0 (libsrtp derives keys once;
 * other session parameters are accepted and ignored); an MKI value wider
 * than 32 bits is FL_EBADMSG;
 * FL_EBADMSG (reason in err, which may be NULL) for a bad tag, a key method
 * other than inline, bad base64, a key of the wrong length for its suite,
 * more than one key, a bad lifetime or MKI. Keys are never put in err. */
int fl_sdp_crypto_parse(const char *value, fl_sdp_crypto *out, char *err, size_t errlen);

/* Writes "<tag> <suite> inline:<base64 key||salt>[|2^n|lifetime][|MKI:LEN]"
 * into out (NUL-terminated). FL_EMSGSIZE when cap is too small, FL_EINVAL
 * for an unknown suite, a key_len not the suite's or a tag out of range. */
int fl_sdp_crypto_write(const fl_sdp_crypto *c, char *out, size_t cap);

/* The SDP name of a suite ("AES_CM_128_HMAC_SHA1_80"); "" for NONE/unknown. */
const char *fl_sdp_crypto_suite_name(fl_sdp_crypto_suite s);

/* The suite an SDP name stands for (case-sensitive, as RFC 4568 registers
 * them); FL_SDP_CRYPTO_NONE when unknown. */
fl_sdp_crypto_suite fl_sdp_crypto_suite_parse(const char *sdp_name);

/* Master key + salt length in bytes: 30 (AES-128) or 46 (AES-256); 0 NONE. */
size_t fl_sdp_crypto_key_len(fl_sdp_crypto_suite s);

/* The URI of a known extension. */
const char *fl_sdp_ext_uri(fl_sdp_ext ext);

typedef struct fl_sdp_codec {
    uint8_t pt;
    char name[32];       /* as written: "VP8", "H264", "opus", "PCMU", "rtx", ... */
    uint32_t clock_rate; /* Hz */
    uint8_t channels;    /* 0 when absent (1 for audio) */
    char fmtp[256];      /* the a=fmtp parameters, "" when none */
    unsigned fb;         /* FL_SDP_FB_* bits from a=rtcp-fb:<pt> and a=rtcp-fb:* */
    int rtx_pt;          /* the payload type of its RTX (a=fmtp apt=<pt>); -1 none */
} fl_sdp_codec;

/* Which way a simulcast layer (a=rid, a=simulcast part) goes, seen from the
 * side that wrote the description. */
typedef enum fl_sdp_rid_dir {
    FL_SDP_RID_SEND = 1,
    FL_SDP_RID_RECV = 2,
} fl_sdp_rid_dir;

/* One simulcast layer: an a=simulcast entry (the first alternative of its
 * layer that an a=rid line of the same direction defines) with that line's
 * figures (RFC 8851). */
typedef struct fl_sdp_rid {
    char id[FL_SDP_RID_MAX_LEN + 1]; /* rid-id: the value of the sdes:rtp-stream-id extension */
    fl_sdp_rid_dir dir;
    int paused; /* written "~id" in a=simulcast */
    /* pt=: the payload types the layer may use, those of the m= line only;
     * npts 0: any of the section's. */
    size_t npts;
    uint8_t pts[FL_SDP_RID_MAX_PTS];
    /* max-width, max-height (pixels), max-fps, max-br (bits/s); 0 when absent
     * or not a whole number */
    uint32_t max_width, max_height, max_fps, max_br;
} fl_sdp_rid;

typedef struct fl_sdp_ssrc {
    uint32_t ssrc;
    uint32_t rtx_ssrc; /* from a=ssrc-group:FID <ssrc> <rtx>; 0 none */
    char cname[64];    /* "" when absent */
    char msid[160];    /* a=ssrc:<ssrc> msid:<stream> <track>, or the media's a=msid */
} fl_sdp_ssrc;

/* One m= section. */
typedef struct fl_sdp_media {
    fl_sdp_kind kind;
    char kind_name[32]; /* as written: "audio", "video", "application", ... */
    char proto[48];     /* "UDP/TLS/RTP/SAVPF", ... */
    uint16_t port;      /* 0: rejected (or bundle-only) */
    int rejected;       /* port 0 and not a=bundle-only */
    char mid[32];       /* "" when absent */
    fl_sdp_dir dir;     /* sendrecv when no attribute */
    int rtcp_mux, rtcp_rsize;
    /* Codecs in the order of the m= line (RTX entries included, named "rtx"). */
    size_t ncodecs;
    fl_sdp_codec codecs[FL_SDP_MAX_CODECS];
    /* Negotiated extension ids, by fl_sdp_ext; 0 when absent. */
    uint8_t ext_ids[FL_SDP_EXT_COUNT];
    size_t nssrcs;
    fl_sdp_ssrc ssrcs[FL_SDP_MAX_SSRCS];
    /* ICE and DTLS: the media's own, or the session's when the media has
     * none ("" / NONE when neither). */
    char ice_ufrag[64];
    char ice_pwd[256];
    char fingerprint[160]; /* "sha-256 AB:CD:..." (the a=fingerprint value) */
    fl_sdp_setup setup;
    /* a=candidate values (without "a=" and "candidate:" kept: the whole
     * "candidate:..." string as a browser's addIceCandidate takes it). */
    size_t ncandidates;
    char candidates[FL_SDP_MAX_CANDIDATES][256];
    int end_of_candidates;
    uint32_t bandwidth_as_kbps; /* b=AS; 0 when absent */
    /* The m= line's formats as written ("111 63 9 0 8", "webrtc-datachannel"),
     * cut at a space when longer; a rejected section is answered with them. */
    char fmt[256];
    /* Plain RTP (RtpEndpoint) figures. */
    char addr[64]; /* the c= address of the section (its own, else the session's); "" when none */
    int addr_ip6;  /* c=IN IP6 */
    uint16_t rtcp_port; /* a=rtcp:<port> (RFC 3605); 0 when absent */
    char rtcp_addr[64]; /* a=rtcp:<port> IN IP4 <addr>; "" when absent */
    /* a=crypto lines with a known suite, in order (unknown suites skipped; a
     * malformed line makes describe fail with FL_EBADMSG naming the line). */
    size_t ncrypto;
    fl_sdp_crypto crypto[FL_SDP_MAX_CRYPTO];
    /* a=direction (RFC 4145 as Kurento's tutorial uses it): 0 absent,
     * 1 active (the peer connects/sends first: learn its address from its
     * first packet), 2 passive, 3 both. */
    int comedia;
    /* Data channels (RFC 8841): a=sctp-port, or the legacy form's port
     * (m=application <port> DTLS/SCTP 5000 with a=sctpmap:5000
     * webrtc-datachannel <streams>); 0 when absent. */
    uint16_t sctp_port;
    uint32_t max_message_size; /* a=max-message-size; 0 when absent */
    int sctp_legacy;           /* the DTLS/SCTP form with a=sctpmap */
    /* RID simulcast (RFC 8853): the layers of a=simulcast in its order, send
     * part first, at most FL_SDP_MAX_RIDS (later layers dropped). The order
     * is the sender's (Chromium: its sendEncodings, commonly lowest first);
     * SDP does not say which layer is larger unless a=rid restricts it, so
     * the streams' own resolutions tell. A layer's alternatives ("a,b")
     * give its first one with an a=rid line of the part's direction; a
     * layer with none is dropped. No a=simulcast: nrids 0 (a=rid lines alone
     * are not simulcast). */
    size_t nrids;
    fl_sdp_rid rids[FL_SDP_MAX_RIDS];
    /* SSRC simulcast: the first a=ssrc-group:SIM, in its order (lowest
     * layer first, as Chromium writes it; at most FL_SDP_MAX_RIDS), each
     * with its RTX SSRC from a=ssrc-group:FID (0 none); nsim 0 when absent
     * or when it lists an ssrc twice. */
    size_t nsim;
    uint32_t sim_ssrc[FL_SDP_MAX_RIDS], sim_rtx[FL_SDP_MAX_RIDS];
} fl_sdp_media;

typedef struct fl_sdp_desc {
    uint64_t session_id; /* o= */
    uint64_t session_version;
    int ice_lite;
    /* a=group:BUNDLE mids (the first group only), in order. */
    size_t nbundle;
    char bundle[FL_SDP_MAX_MEDIA][32];
    size_t nmedia;
    fl_sdp_media media[FL_SDP_MAX_MEDIA];
} fl_sdp_desc;

/* ---- text ---- */

typedef struct fl_sdp fl_sdp;

/* Parses SDP text (CRLF or LF line endings). Keeps every line, unknown
 * ones included, so fl_sdp_write gives the same lines back (with CRLF).
 * FL_EBADMSG with a reason in err ("line 3: m= line needs 4 fields") for
 * text that is not SDP: no v=0 first, a line not "<letter>=<value>", a
 * malformed o=/c=/m= line, more than FL_SDP_MAX_MEDIA sections, text longer
 * than FL_SDP_MAX_LEN, a NUL byte. err may be NULL. */
int fl_sdp_parse(fl_sdp **out, const char *text, size_t len, char *err, size_t errlen);

/* The text (malloc'd, NUL-terminated, CRLF line endings); NULL when out of
 * memory. */
char *fl_sdp_write(const fl_sdp *s);

void fl_sdp_destroy(fl_sdp *s);

/* Fills the structured view of s. FL_EBADMSG (reason in err) for an SDP
 * whose attributes contradict themselves in a way that matters here (an
 * a=rtpmap for a payload type not on the m= line is ignored, not an error;
 * a missing c= is not an error), and for simulcast lines against their
 * grammar (RFC 8851, 8853, 5576): an a=rid without an id of letters, digits,
 * '-' and '_', or without send/recv, or with a pt= entry that is not a
 * payload type; an a=simulcast without a send/recv list, with a direction
 * twice, an empty or malformed entry, or twice in a section; an
 * a=ssrc-group:SIM without ssrcs or with something else. Unknown a=rid
 * parameters, rids a=simulcast names that no a=rid line defines, and ids
 * longer than FL_SDP_RID_MAX_LEN are not errors: those layers are left out. */
int fl_sdp_describe(const fl_sdp *s, fl_sdp_desc *out, char *err, size_t errlen);

/* ---- offer/answer ---- */

/* What one side brings to a negotiation. Codec lists are "name/rate" or
 * "name/rate/channels" strings, NULL-terminated, in preference order
 * (Kurento's SdpEndpoint audioCodecs/videoCodecs); NULL: the defaults
 * "opus/48000/2", "PCMU/8000", "PCMA/8000" and "VP8/90000", "H264/90000".
 * H.264 is matched as RFC 6184 says: same packetization-mode (absent = 0)
 * and same profile_idc + profile-iop constraint of profile-level-id (level
 * may differ; absent = 42e01f, constrained baseline). RTX is kept for a kept codec when
 * the offer has it (apt), with the offerer's numbers. An entry may carry
 * format parameters after a ';' ("H264/90000;packetization-mode=1;
 * profile-level-id=42e01f"): it then takes the offered formats
 * fl_sdp_codec_match finds equal to it; an entry without parameters takes
 * every offered format of that name, rate and channels. */
typedef struct fl_sdp_local {
    const char *ice_ufrag, *ice_pwd; /* required */
    const char *fingerprint;         /* "sha-256 AB:..", required */
    int ice_lite;
    const char *const *audio_codecs; /* NULL: defaults */
    const char *const *video_codecs;
    unsigned fb; /* rtcp-fb offered/accepted for video (audio: TWCC only);
                    0: NACK|PLI|FIR|REMB */
    /* extensions offered/accepted, bit (1 << fl_sdp_ext); 0: abs-send-time,
     * mid, audio-level, toffset. */
    unsigned exts;
    const char *cname;     /* a=ssrc cname; required */
    const char *stream_id; /* a=msid stream; required */
    /* Our sending SSRCs (and RTX SSRC, 0: none) per kind index (0 audio,
     * 1 video); written as a=ssrc lines on sections where we send. */
    uint32_t ssrc[2], rtx_ssrc[2];
    uint64_t session_id; /* o= */
    uint64_t session_version;
    const char *address; /* o= and c= address; NULL: "0.0.0.0" (IN IP4) */
    /* Candidate values to include ("candidate:..."), in the first (bundled)
     * section only; may be 0. end_of_candidates adds a=end-of-candidates. */
    size_t ncandidates;
    const char *const *candidates;
    int end_of_candidates;
    /* Plain RTP (RtpEndpoint): no ICE, no DTLS, no BUNDLE, no candidates, no
     * a=mid/msid requirement; each accepted section gets its own port,
     * port[kind index: 0 audio, 1 video] on `address`, with "c=IN IP4|IP6
     * <address>" (IP6 when address contains ':'), a=rtcp-mux when the offer
     * has it (else RTCP is port+1, written as a=rtcp:<port+1>),
     * a=direction:passive when the offer says a=direction:active (active when
     * it says passive; none otherwise), and, when crypto[kind] is set, SRTP:
     * an answer takes the offer's first a=crypto line of crypto[kind]->suite
     * (one without an MKI first; an MKI is ignored, as Kurento does: its
     * tutorial offers "|2^31|1:1" and its senders put no MKI in packets)
     * and answers it with the OFFER's tag and OUR key (crypto[kind]->key); an
     * offer of ours lists crypto[kind] with tag 1. Profiles: an answer keeps
     * the offer's proto ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF";
     * rtcp-fb only for the F ones); a section is rejected (port 0) when it is
     * SAVP/SAVPF and we have no crypto, when we have crypto and it is
     * AVP/AVPF or has no a=crypto line of our suite. Our offer uses RTP/AVPF,
     * or RTP/SAVPF with crypto. ice_ufrag/ice_pwd/fingerprint are ignored
     * (may be NULL) when plain. An accepted section of an offer with no c=
     * at all is FL_EBADMSG ("no connection address"); c=IN IP4 0.0.0.0 is
     * allowed (COMEDIA peers write it). Only the first section of each kind
     * is accepted (one port per kind); port[kind] 0 rejects that kind.
     * cname and stream_id may be NULL (no a=ssrc cname/msid). */
    int plain;
    uint16_t port[2];
    const fl_sdp_crypto *crypto[2]; /* not owned; read during the call */
    /* Data channels (WebRtcEndpoint's useDataChannels): an answer accepts
     * the offer's first application section of SCTP over DTLS (RFC 8841's
     * "UDP/DTLS/SCTP webrtc-datachannel", or the legacy "DTLS/SCTP 5000"
     * with a=sctpmap, answered in the same form), an offer adds one after
     * the media (RFC 8841's form). Without it application sections are
     * rejected. sctp_port 0: 5000; max_message_size 0: 262144. */
    int datachannels;
    uint16_t sctp_port;
    uint32_t max_message_size;
    /* Receiving simulcast (answers only; not with plain): a video section we
     * receive whose offer has a=simulcast send layers (fl_sdp_media.rids)
     * and the sdes:rtp-stream-id extension is answered with "a=rid:<id>
     * recv" for each layer and "a=simulcast:recv <id>;<id>..." in the offer's
     * order (a paused layer stays paused), and accepts the rtp-stream-id and
     * repaired-rtp-stream-id extensions with the offer's ids, whatever
     * `exts` says; a layer whose pt= list names no codec we kept is left out.
     * The answer's view records the layers (dir FL_SDP_RID_RECV). 0: the
     * answer is as without simulcast (no a=rid/a=simulcast, the extensions
     * as `exts` says), so a browser sends one layer. SSRC simulcast
     * (a=ssrc-group:SIM) needs nothing in the answer. */
    int simulcast_recv;
} fl_sdp_local;

/* Answers an offer (RFC 3264, RFC 8843 BUNDLE, RFC 8829's answer rules):
 * each audio/video section gets the codecs both sides have, in the
 * offerer's order and with the offerer's payload numbers, with the rtcp-fb
 * and extensions both have (the offer's ids), direction answered from
 * `want` for that kind (FL_SDP_DIR_SENDRECV: mirror the offer; SENDONLY:
 * we only send, so sendonly when the offer can receive, else inactive;
 * RECVONLY likewise), setup active when the offer says actpass or passive
 * (passive when it says active), rtcp-mux and rtcp-rsize when offered, all
 * accepted sections in one BUNDLE group when the offer has one.
 * Application sections (but data channels: fl_sdp_local.datachannels),
 * other kinds and sections with no common codec are rejected (port 0,
 * kept in place). FL_EBADMSG (reason in err) when the
 * offer has no ICE credentials or no fingerprint on an accepted section,
 * FL_ENOTSUP when nothing could be accepted. The text is malloc'd. */
int fl_sdp_answer(const fl_sdp_desc *offer,
                  const fl_sdp_local *local,
                  fl_sdp_dir want_audio,
                  fl_sdp_dir want_video,
                  fl_sdp_desc *answer,
                  char **text,
                  char *err,
                  size_t errlen);

/* An offer of our own: one audio section when `audio`, one video section
 * when `video` (mids "0", "1" in that order), with the directions given,
 * every configured codec (payload numbers from 96 for dynamic ones, RTX for
 * video codecs), setup actpass, BUNDLE, rtcp-mux, rtcp-rsize. With
 * local->plain: RTP/AVPF (RTP/SAVPF and a=crypto with tag 1 when
 * crypto[kind] is set) on port[kind], a=rtcp-mux with a=rtcp:<port+1> (RTCP
 * there unless the answer takes rtcp-mux: fl_sdp_process_answer says which
 * in rtcp_mux/rtcp_port), no mid, ICE, DTLS or BUNDLE; FL_EINVAL when
 * port[kind] is 0 for a kind offered. */
int fl_sdp_offer(const fl_sdp_local *local,
                 int audio,
                 fl_sdp_dir audio_dir,
                 int video,
                 fl_sdp_dir video_dir,
                 fl_sdp_desc *offer,
                 char **text);

/* Checks an answer against the offer we made (same sections in the same
 * order, kinds matching, codecs a subset of ours by payload number, ICE and
 * fingerprint present on accepted sections) and rewrites `offer`'s view to
 * the negotiated one: codecs the answer kept (in the answer's order),
 * extension ids the answer kept, our direction as the answer implies, our
 * setup (active/passive: the DTLS role the answer leaves us), the answer's
 * BUNDLE group, and rejected sections. FL_EBADMSG (reason in err)
 * otherwise, leaving `offer` unchanged. A plain offer (RTP/AVP(F),
 * RTP/SAVP(F): fl_sdp_local.plain) needs no ICE or fingerprint; with SRTP
 * the answer's section must carry an a=crypto line with one of our tags and
 * its suite (FL_EBADMSG otherwise), and `offer`'s section keeps only that
 * line of ours (ncrypto 1). The peer's address, ports and key are read from
 * the answer's view (addr, port, rtcp_port, crypto[0]). */
int fl_sdp_process_answer(fl_sdp_desc *offer, const fl_sdp_desc *answer, char *err, size_t errlen);

/* Whether two codecs are the same format (name case-insensitive, clock
 * rate, channels, and for H.264 the RFC 6184 rules above: the profile is
 * what profile_idc and the profile-iop flags name together, so 42e01f and
 * 42c01f are both constrained baseline, 42001f baseline; VP9 profile-id and
 * AV1 profile must be equal too, absent = 0). */
int fl_sdp_codec_match(const fl_sdp_codec *a, const fl_sdp_codec *b);

/* A codec as configuration writes it, "NAME/RATE[/CHANNELS][;fmtp]" (the
 * entries of fl_sdp_local's codec lists): name, clock rate, channels and
 * fmtp set, pt 0, rtx_pt -1. 0, or FL_EINVAL for anything else (a line
 * break included). */
int fl_sdp_codec_parse(const char *spec, fl_sdp_codec *out);

/* The section's first codec that is not RTX/red/ulpfec/CN/telephone-event
 * (what the other side will send and we will send), or NULL. */
const fl_sdp_codec *fl_sdp_media_main_codec(const fl_sdp_media *m);

/* The layer (index in m->rids) whose id is the len bytes at rid (the value
 * of an sdes:rtp-stream-id or repaired-rtp-stream-id header extension, not
 * NUL-terminated) among the layers of direction dir; -1 when none. */
int fl_sdp_media_rid_layer(const fl_sdp_media *m, fl_sdp_rid_dir dir, const char *rid, size_t len);

/* The SSRC simulcast layer (index in m->sim_ssrc) that ssrc is the media
 * or the RTX of (*rtx set to 1 for an RTX SSRC, 0 otherwise; rtx may be
 * NULL); -1 when none. */
int fl_sdp_media_ssrc_layer(const fl_sdp_media *m, uint32_t ssrc, int *rtx);

/* Our direction flips: what the remote's `dir` means for us. */
fl_sdp_dir fl_sdp_dir_reverse(fl_sdp_dir dir);

#endif
