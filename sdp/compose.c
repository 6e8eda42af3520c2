/* Writing our own descriptions (answers and offers) from their structured
 * view, in the order and shape Chromium writes them, which its
 * setRemoteDescription accepts; plain RTP sections (RtpEndpoint) in the
 * shape Kurento's RtpEndpoint and ffmpeg's SDP have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

static const char *const setup_names[] = { "", "actpass", "active", "passive", "holdconn" };
static const char *const dir_names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

static void write_codec(fl__sdp_str *s, const fl_sdp_codec *c)
{
    if (c->channels)
        fl__sdp_str_add(s, "a=rtpmap:%u %s/%u/%u\r\n", c->pt, c->name, (unsigned)c->clock_rate,
                        c->channels);
    else
        fl__sdp_str_add(s, "a=rtpmap:%u %s/%u\r\n", c->pt, c->name, (unsigned)c->clock_rate);
    if (c->fb & FL_SDP_FB_REMB)
        fl__sdp_str_add(s, "a=rtcp-fb:%u goog-remb\r\n", c->pt);
    if (c->fb & FL_SDP_FB_TWCC)
        fl__sdp_str_add(s, "a=rtcp-fb:%u transport-cc\r\n", c->pt);
    if (c->fb & FL_SDP_FB_FIR)
        fl__sdp_str_add(s, "a=rtcp-fb:%u ccm fir\r\n", c->pt);
    if (c->fb & FL_SDP_FB_NACK)
        fl__sdp_str_add(s, "a=rtcp-fb:%u nack\r\n", c->pt);
    if (c->fb & FL_SDP_FB_PLI)
        fl__sdp_str_add(s, "a=rtcp-fb:%u nack pli\r\n", c->pt);
    if (c->fmtp[0])
        fl__sdp_str_add(s, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
}

static void write_ssrcs(fl__sdp_str *s, const fl_sdp_media *m)
{
    for (size_t i = 0; i < m->nssrcs; i++) {
        const fl_sdp_ssrc *x = &m->ssrcs[i];
        if (x->rtx_ssrc)
            fl__sdp_str_add(s, "a=ssrc-group:FID %u %u\r\n", (unsigned)x->ssrc,
                            (unsigned)x->rtx_ssrc);
    }
    for (size_t i = 0; i < m->nssrcs; i++) {
        const fl_sdp_ssrc *x = &m->ssrcs[i];
        uint32_t both[2] = { x->ssrc, x->rtx_ssrc };
        for (int k = 0; k < 2 && both[k]; k++) {
            if (x->cname[0])
                fl__sdp_str_add(s, "a=ssrc:%u cname:%s\r\n", (unsigned)both[k], x->cname);
            if (x->msid[0])
                fl__sdp_str_add(s, "a=ssrc:%u msid:%s\r\n", (unsigned)both[k], x->msid);
        }
    }
}

/* a=mid, the extensions by id, the direction. */
static void write_mid_exts_dir(fl__sdp_str *s, const fl_sdp_media *m)
{
    if (m->mid[0])
        fl__sdp_str_add(s, "a=mid:%s\r\n", m->mid);
    for (unsigned id = 1; id < 256; id++) {
        for (int e = 0; e < FL_SDP_EXT_COUNT; e++) {
            if (m->ext_ids[e] == id) {
                fl__sdp_str_add(s, "a=extmap:%u %s\r\n", id, fl_sdp_ext_uri((fl_sdp_ext)e));
                break;
            }
        }
    }
    fl__sdp_str_add(s, "a=%s\r\n", dir_names[(unsigned)m->dir <= 3 ? m->dir : 0]);
}

/* ICE credentials and options, DTLS fingerprint and setup. */
static void write_ice_dtls(fl__sdp_str *s, const fl_sdp_media *m, int ice_lite)
{
    fl__sdp_str_add(s, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", m->ice_ufrag, m->ice_pwd);
    if (!ice_lite)
        fl__sdp_str_add(s, "a=ice-options:trickle\r\n");
    fl__sdp_str_add(s, "a=fingerprint:%s\r\n", m->fingerprint);
    if (m->setup != FL_SDP_SETUP_NONE && (unsigned)m->setup <= FL_SDP_SETUP_HOLDCONN)
        fl__sdp_str_add(s, "a=setup:%s\r\n", setup_names[m->setup]);
}

/* ICE, DTLS, mid, extensions, direction, msid, RTCP. */
static void write_attrs(fl__sdp_str *s, const fl_sdp_media *m, int ice_lite)
{
    write_ice_dtls(s, m, ice_lite);
    write_mid_exts_dir(s, m);
    if (m->nssrcs && m->ssrcs[0].msid[0])
        fl__sdp_str_add(s, "a=msid:%s\r\n", m->ssrcs[0].msid);
    if (m->rtcp_mux)
        fl__sdp_str_add(s, "a=rtcp-mux\r\n");
    if (m->rtcp_rsize)
        fl__sdp_str_add(s, "a=rtcp-rsize\r\n");
}

/* A data channel section: ICE, DTLS, mid and the SCTP figures (RFC 8841,
 * or the legacy a=sctpmap form); no direction, no RTCP. */
static void write_app_media(fl__sdp_str *s,
                            const fl_sdp_media *m,
                            const char *ipv,
                            const char *addr,
                            int ice_lite)
{
    fl__sdp_str_add(s, "m=application %u %s %s\r\nc=IN %s %s\r\n", m->port, m->proto, m->fmt, ipv,
                    addr);
    for (size_t i = 0; i < m->ncandidates; i++)
        fl__sdp_str_add(s, "a=%s\r\n", m->candidates[i]);
    if (m->end_of_candidates)
        fl__sdp_str_add(s, "a=end-of-candidates\r\n");
    write_ice_dtls(s, m, ice_lite);
    if (m->mid[0])
        fl__sdp_str_add(s, "a=mid:%s\r\n", m->mid);
    if (m->sctp_legacy)
        fl__sdp_str_add(s, "a=sctpmap:%u webrtc-datachannel 1024\r\n", m->sctp_port);
    else
        fl__sdp_str_add(s, "a=sctp-port:%u\r\n", m->sctp_port);
    if (m->max_message_size)
        fl__sdp_str_add(s, "a=max-message-size:%u\r\n", (unsigned)m->max_message_size);
}

static void write_media(fl__sdp_str *s,
                        const fl_sdp_media *m,
                        const char *ipv,
                        const char *addr,
                        int ice_lite)
{
    if (!m->rejected && m->kind == FL_SDP_KIND_APPLICATION) {
        write_app_media(s, m, ipv, addr, ice_lite);
        return;
    }
    if (m->rejected) {
        fl__sdp_str_add(s, "m=%s 0 %s %s\r\nc=IN %s %s\r\n", m->kind_name, m->proto,
                        m->fmt[0] ? m->fmt : "0", ipv, addr);
        if (m->mid[0])
            fl__sdp_str_add(s, "a=mid:%s\r\n", m->mid);
        return;
    }
    fl__sdp_str_add(s, "m=%s %u %s", m->kind_name, m->port, m->proto);
    for (size_t i = 0; i < m->ncodecs; i++)
        fl__sdp_str_add(s, " %u", m->codecs[i].pt);
    if (m->ncodecs == 0)
        fl__sdp_str_add(s, " %s", m->fmt[0] ? m->fmt : "0");
    fl__sdp_str_add(s, "\r\nc=IN %s %s\r\n", ipv, addr);
    if (m->bandwidth_as_kbps)
        fl__sdp_str_add(s, "b=AS:%u\r\n", (unsigned)m->bandwidth_as_kbps);
    fl__sdp_str_add(s, "a=rtcp:9 IN %s %s\r\n", ipv, addr);
    for (size_t i = 0; i < m->ncandidates; i++)
        fl__sdp_str_add(s, "a=%s\r\n", m->candidates[i]);
    if (m->end_of_candidates)
        fl__sdp_str_add(s, "a=end-of-candidates\r\n");
    write_attrs(s, m, ice_lite);
    for (size_t i = 0; i < m->ncodecs; i++)
        write_codec(s, &m->codecs[i]);
    write_ssrcs(s, m);
    fl__sdp_simulcast_write(s, m);
}

/* A plain RTP section: its own port and c=, a=rtcp when not muxed, the
 * COMEDIA role, the a=crypto line; no ICE, DTLS or candidates. */
static void write_plain_media(fl__sdp_str *s,
                              const fl_sdp_media *m,
                              const char *ipv,
                              const char *addr)
{
    static const char *const comedia[] = { "", "active", "passive", "both" };
    fl__sdp_str_add(s, "m=%s %u %s", m->kind_name, m->rejected ? 0 : m->port, m->proto);
    for (size_t i = 0; i < m->ncodecs && !m->rejected; i++)
        fl__sdp_str_add(s, " %u", m->codecs[i].pt);
    if (m->rejected || m->ncodecs == 0)
        fl__sdp_str_add(s, " %s", m->fmt[0] ? m->fmt : "0");
    fl__sdp_str_add(s, "\r\nc=IN %s %s\r\n", ipv, addr);
    if (m->rejected) {
        if (m->mid[0])
            fl__sdp_str_add(s, "a=mid:%s\r\n", m->mid);
        return;
    }
    if (m->bandwidth_as_kbps)
        fl__sdp_str_add(s, "b=AS:%u\r\n", (unsigned)m->bandwidth_as_kbps);
    if (m->rtcp_port)
        fl__sdp_str_add(s, "a=rtcp:%u\r\n", m->rtcp_port);
    write_mid_exts_dir(s, m);
    if (m->comedia > 0 && m->comedia <= 3)
        fl__sdp_str_add(s, "a=direction:%s\r\n", comedia[m->comedia]);
    for (size_t i = 0; i < m->ncrypto && i < FL_SDP_MAX_CRYPTO; i++) {
        char line[160];
        if (fl_sdp_crypto_write(&m->crypto[i], line, sizeof(line)) == 0)
            fl__sdp_str_add(s, "a=crypto:%s\r\n", line);
        else
            s->failed = 1; /* never an SRTP section without its key */
        explicit_bzero(line, sizeof(line));
    }
    if (m->rtcp_mux)
        fl__sdp_str_add(s, "a=rtcp-mux\r\n");
    if (m->rtcp_rsize)
        fl__sdp_str_add(s, "a=rtcp-rsize\r\n");
    for (size_t i = 0; i < m->ncodecs; i++)
        write_codec(s, &m->codecs[i]);
    write_ssrcs(s, m);
}

char *fl__sdp_desc_write(const fl_sdp_desc *d, const char *address, int plain)
{
    const char *addr = address ? address : "0.0.0.0";
    const char *ipv = strchr(addr, ':') ? "IP6" : "IP4";
    fl__sdp_str s = { 0 };
    fl__sdp_str_add(&s, "v=0\r\no=- %llu %llu IN %s %s\r\ns=-\r\nt=0 0\r\n",
                    (unsigned long long)d->session_id, (unsigned long long)d->session_version, ipv,
                    addr);
    if (d->ice_lite)
        fl__sdp_str_add(&s, "a=ice-lite\r\n");
    if (d->nbundle) {
        fl__sdp_str_add(&s, "a=group:BUNDLE");
        for (size_t i = 0; i < d->nbundle; i++)
            fl__sdp_str_add(&s, " %s", d->bundle[i]);
        fl__sdp_str_add(&s, "\r\n");
    }
    if (!plain)
        fl__sdp_str_add(&s, "a=msid-semantic: WMS\r\n");
    for (size_t i = 0; i < d->nmedia; i++) {
        if (plain)
            write_plain_media(&s, &d->media[i], ipv, addr);
        else
            write_media(&s, &d->media[i], ipv, addr, d->ice_lite);
    }
    if (s.failed) {
        if (s.p)
            explicit_bzero(s.p, s.cap);
        free(s.p);
        return NULL;
    }
    return s.p;
}
