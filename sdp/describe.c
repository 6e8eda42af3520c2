/* The structured view of parsed SDP text: sessions attributes inherited by
 * sections, codecs from m=/rtpmap/fmtp/rtcp-fb, RTX by apt, extension ids,
 * ssrcs folded by ssrc-group:FID, simulcast layers (a=rid with a=simulcast,
 * or ssrc-group:SIM), ICE and DTLS attributes, candidates, and for plain
 * RTP the c= address, a=rtcp, a=crypto and a=direction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

typedef struct slice {
    const char *p;
    size_t n;
} slice;

#define MAX_RID_LINES 16 /* usable a=rid lines kept per section */

typedef struct fid_pair {
    uint32_t ssrc, rtx;
} fid_pair;

/* Session-level values and per-section state while the lines are read. */
typedef struct ctx {
    fl_sdp_desc *d;
    char *err;
    size_t errlen;
    size_t no; /* line number */
    /* session */
    char ufrag[64], pwd[256], fingerprint[160];
    fl_sdp_setup setup;
    char addr[64];
    int addr_ip6;
    int has_dir;
    fl_sdp_dir dir;
    uint8_t ext_ids[FL_SDP_EXT_COUNT];
    /* the current section */
    fl_sdp_media *m;
    int m_has_dir, bundle_only, rtp;
    uint8_t rtpmap_seen[128];
    slice ext_uri[256];
    char msid[160];
    size_t nfid;
    fid_pair fid[FL_SDP_MAX_SSRCS];
    size_t nrid_lines;
    fl_sdp_rid rid_lines[MAX_RID_LINES];
    int has_sc;
    fl__sdp_sc sc;
    int sim_seen, sim_bad; /* a=ssrc-group:SIM read; it listed an ssrc twice */
    size_t nsim;
    uint32_t sim[FL_SDP_MAX_RIDS];
    /* per section, kept until the end */
    int has_dir_of[FL_SDP_MAX_MEDIA];
    int bundle_only_of[FL_SDP_MAX_MEDIA];
} ctx;

static int fail(ctx *c, const char *what)
{
    return fl__sdp_fail(c->err, c->errlen, "line %zu: %s", c->no, what);
}

static int eq(slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int eq_nocase(slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* Splits off the next space-separated token of *rest. */
static slice next_token(slice *rest)
{
    size_t i = 0;
    while (i < rest->n && (rest->p[i] == ' ' || rest->p[i] == '\t'))
        i++;
    size_t start = i;
    while (i < rest->n && rest->p[i] != ' ' && rest->p[i] != '\t')
        i++;
    slice t = { rest->p + start, i - start };
    rest->p += i;
    rest->n -= i;
    return t;
}

static slice trim(slice s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* Decimal up to max; 0 when it is one. */
static int to_uint(slice s, uint64_t max, uint64_t *out)
{
    if (s.n == 0 || s.n > 20)
        return FL_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return FL_EINVAL;
        uint64_t dig = (uint64_t)(s.p[i] - '0');
        if (v > (max - dig) / 10)
            return FL_ERANGE;
        v = v * 10 + dig;
    }
    *out = v;
    return 0;
}

static int copy(char *dst, size_t cap, slice s)
{
    if (s.n >= cap)
        return FL_ERANGE;
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return 0;
}

static fl_sdp_codec *codec_of(fl_sdp_media *m, uint64_t pt)
{
    for (size_t i = 0; i < m->ncodecs; i++) {
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    }
    return NULL;
}

/* Static payload types (RFC 3551) that may come without an a=rtpmap. */
static void static_pt(fl_sdp_codec *c)
{
    static const struct {
        uint8_t pt;
        const char *name;
        uint32_t rate;
    } table[] = {
        { 0, "PCMU", 8000 },   { 3, "GSM", 8000 },    { 4, "G723", 8000 },  { 8, "PCMA", 8000 },
        { 9, "G722", 8000 },   { 13, "CN", 8000 },    { 18, "G729", 8000 }, { 26, "JPEG", 90000 },
        { 31, "H261", 90000 }, { 34, "H263", 90000 },
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].pt == c->pt) {
            snprintf(c->name, sizeof(c->name), "%s", table[i].name);
            c->clock_rate = table[i].rate;
        }
    }
}

static int media_line(ctx *c, slice v)
{
    fl_sdp_desc *d = c->d;
    fl_sdp_media *m = &d->media[d->nmedia++];
    c->m = m;
    c->m_has_dir = c->bundle_only = 0;
    c->nfid = c->nrid_lines = c->nsim = 0;
    c->has_sc = c->sim_seen = c->sim_bad = 0;
    c->msid[0] = '\0';
    memset(c->rtpmap_seen, 0, sizeof(c->rtpmap_seen));
    memset(c->ext_uri, 0, sizeof(c->ext_uri));
    slice kind = next_token(&v), port = next_token(&v), proto = next_token(&v);
    if (copy(m->kind_name, sizeof(m->kind_name), kind) || copy(m->proto, sizeof(m->proto), proto))
        return fail(c, "m= media or proto too long");
    m->kind = eq(kind, "audio")         ? FL_SDP_KIND_AUDIO
              : eq(kind, "video")       ? FL_SDP_KIND_VIDEO
              : eq(kind, "application") ? FL_SDP_KIND_APPLICATION
                                        : FL_SDP_KIND_OTHER;
    m->port = (uint16_t)strtoul(port.p, NULL, 10); /* checked by the parser */
    c->rtp = strstr(m->proto, "RTP/") != NULL;
    size_t flen = 0;
    for (slice f = next_token(&v); f.n; f = next_token(&v)) {
        if (flen + f.n + 2 <= sizeof(m->fmt)) {
            if (flen)
                m->fmt[flen++] = ' ';
            memcpy(m->fmt + flen, f.p, f.n);
            flen += f.n;
            m->fmt[flen] = '\0';
        }
        if (!c->rtp)
            continue;
        uint64_t pt;
        if (to_uint(f, 127, &pt) != 0)
            return fail(c, "m= payload type not a number up to 127");
        if (codec_of(m, pt) || m->ncodecs == FL_SDP_MAX_CODECS)
            continue;
        fl_sdp_codec *cd = &m->codecs[m->ncodecs++];
        cd->pt = (uint8_t)pt;
        cd->rtx_pt = -1;
        static_pt(cd);
    }
    return 0;
}

static int rtpmap(ctx *c, slice v)
{
    uint64_t pt, rate, ch = 0;
    slice pts = next_token(&v);
    if (to_uint(pts, 127, &pt) != 0)
        return fail(c, "a=rtpmap payload type not a number");
    fl_sdp_codec *cd = codec_of(c->m, pt);
    if (!cd)
        return 0; /* not on the m= line: ignored */
    v = trim(v);
    const char *s1 = memchr(v.p, '/', v.n);
    if (!s1)
        return fail(c, "a=rtpmap needs <name>/<rate>");
    slice name = { v.p, (size_t)(s1 - v.p) };
    slice rest = { s1 + 1, v.n - name.n - 1 };
    const char *s2 = memchr(rest.p, '/', rest.n);
    slice rs = { rest.p, s2 ? (size_t)(s2 - rest.p) : rest.n };
    if (name.n == 0 || name.n >= sizeof(cd->name))
        return fail(c, "a=rtpmap encoding name empty or too long");
    if (to_uint(rs, UINT32_MAX, &rate) != 0 || rate == 0)
        return fail(c, "a=rtpmap clock rate not a number");
    if (s2) {
        slice chs = { s2 + 1, rest.n - rs.n - 1 };
        if (to_uint(chs, 255, &ch) != 0)
            return fail(c, "a=rtpmap channels not a number");
    }
    if (c->rtpmap_seen[pt] &&
        (strlen(cd->name) != name.n || strncasecmp(cd->name, name.p, name.n) != 0 ||
         cd->clock_rate != rate || cd->channels != ch))
        return fail(c, "a=rtpmap contradicts an earlier one");
    c->rtpmap_seen[pt] = 1;
    copy(cd->name, sizeof(cd->name), name);
    cd->clock_rate = (uint32_t)rate;
    cd->channels = (uint8_t)ch;
    return 0;
}

static int fmtp(ctx *c, slice v)
{
    uint64_t pt;
    if (to_uint(next_token(&v), 127, &pt) != 0)
        return fail(c, "a=fmtp payload type not a number");
    fl_sdp_codec *cd = codec_of(c->m, pt);
    if (!cd || cd->fmtp[0])
        return 0;
    if (copy(cd->fmtp, sizeof(cd->fmtp), trim(v)) != 0)
        return fail(c, "a=fmtp too long");
    return 0;
}

static void rtcp_fb(ctx *c, slice v)
{
    slice pts = next_token(&v), type = next_token(&v), sub = next_token(&v);
    unsigned bit = 0;
    if (eq_nocase(type, "nack"))
        bit = sub.n == 0 ? FL_SDP_FB_NACK : eq_nocase(sub, "pli") ? FL_SDP_FB_PLI : 0;
    else if (eq_nocase(type, "ccm") && eq_nocase(sub, "fir"))
        bit = FL_SDP_FB_FIR;
    else if (eq_nocase(type, "goog-remb"))
        bit = FL_SDP_FB_REMB;
    else if (eq_nocase(type, "transport-cc"))
        bit = FL_SDP_FB_TWCC;
    uint64_t pt;
    for (size_t i = 0; i < c->m->ncodecs; i++) {
        fl_sdp_codec *cd = &c->m->codecs[i];
        if (eq(pts, "*") || (to_uint(pts, 127, &pt) == 0 && pt == cd->pt))
            cd->fb |= bit;
    }
}

/* a=extmap:<id>[/<direction>] <uri> [<attributes>], session or section. */
static int extmap(ctx *c, slice v, uint8_t *ids)
{
    slice idt = next_token(&v), uri = next_token(&v);
    const char *slash = memchr(idt.p, '/', idt.n);
    if (slash)
        idt.n = (size_t)(slash - idt.p);
    uint64_t id;
    if (to_uint(idt, 255, &id) != 0 || id == 0 || uri.n == 0)
        return fail(c, "a=extmap needs an id from 1 to 255 and a URI");
    slice *seen = &c->ext_uri[id];
    if (seen->n && (seen->n != uri.n || memcmp(seen->p, uri.p, uri.n) != 0))
        return fail(c, "a=extmap id used for two URIs");
    *seen = uri;
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++) {
        if (eq(uri, fl_sdp_ext_uri((fl_sdp_ext)e)) && ids[e] == 0)
            ids[e] = (uint8_t)id;
    }
    return 0;
}

static fl_sdp_ssrc *ssrc_of(fl_sdp_media *m, uint32_t ssrc, int add)
{
    for (size_t i = 0; i < m->nssrcs; i++) {
        if (m->ssrcs[i].ssrc == ssrc)
            return &m->ssrcs[i];
    }
    if (!add || m->nssrcs == FL_SDP_MAX_SSRCS)
        return NULL;
    fl_sdp_ssrc *s = &m->ssrcs[m->nssrcs++];
    s->ssrc = ssrc;
    return s;
}

static int ssrc_attr(ctx *c, slice v)
{
    uint64_t ssrc;
    if (to_uint(next_token(&v), UINT32_MAX, &ssrc) != 0)
        return fail(c, "a=ssrc not a number");
    fl_sdp_ssrc *s = ssrc_of(c->m, (uint32_t)ssrc, 1);
    v = trim(v);
    const char *colon = memchr(v.p, ':', v.n);
    if (!s || !colon)
        return 0;
    slice name = { v.p, (size_t)(colon - v.p) };
    slice val = { colon + 1, v.n - name.n - 1 };
    if (eq(name, "cname") && !s->cname[0])
        copy(s->cname, sizeof(s->cname), val); /* too long: left "" */
    else if (eq(name, "msid") && !s->msid[0])
        copy(s->msid, sizeof(s->msid), val);
    return 0;
}

/* a=ssrc-group:SIM <ssrc>...: the first one, its first FL_SDP_MAX_RIDS. */
static int sim_group(ctx *c, slice v)
{
    size_t n = 0;
    for (slice t = next_token(&v); t.n; t = next_token(&v), n++) {
        uint64_t ssrc;
        if (to_uint(t, UINT32_MAX, &ssrc) != 0)
            return fail(c, "a=ssrc-group:SIM lists something other than ssrcs");
        if (c->sim_seen)
            continue;
        for (size_t i = 0; i < c->nsim; i++)
            c->sim_bad |= c->sim[i] == ssrc;
        if (c->nsim < FL_SDP_MAX_RIDS)
            c->sim[c->nsim++] = (uint32_t)ssrc;
    }
    if (n == 0)
        return fail(c, "a=ssrc-group:SIM needs ssrcs");
    c->sim_seen = 1;
    return 0;
}

static int ssrc_group(ctx *c, slice v)
{
    slice semantics = next_token(&v);
    if (eq(semantics, "SIM"))
        return sim_group(c, v);
    if (!eq(semantics, "FID"))
        return 0;
    uint64_t a, b;
    if (to_uint(next_token(&v), UINT32_MAX, &a) != 0 ||
        to_uint(next_token(&v), UINT32_MAX, &b) != 0)
        return fail(c, "a=ssrc-group:FID needs two ssrcs");
    if (c->nfid < FL_SDP_MAX_SSRCS && a != b)
        c->fid[c->nfid++] = (fid_pair){ (uint32_t)a, (uint32_t)b };
    return 0;
}

static int setup_of(ctx *c, slice v, fl_sdp_setup *out)
{
    static const char *const names[] = { "", "actpass", "active", "passive", "holdconn" };
    for (int i = 1; i <= FL_SDP_SETUP_HOLDCONN; i++) {
        if (eq(trim(v), names[i])) {
            *out = (fl_sdp_setup)i;
            return 0;
        }
    }
    return fail(c, "a=setup value unknown");
}

static int dir_of(slice name, fl_sdp_dir *out)
{
    static const char *const names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };
    for (int i = 0; i < 4; i++) {
        if (eq(name, names[i])) {
            *out = (fl_sdp_dir)i;
            return 1;
        }
    }
    return 0;
}

static int bundle_group(ctx *c, slice v)
{
    fl_sdp_desc *d = c->d;
    if (!eq(next_token(&v), "BUNDLE") || d->nbundle)
        return 0;
    for (slice t = next_token(&v); t.n && d->nbundle < FL_SDP_MAX_MEDIA; t = next_token(&v)) {
        if (copy(d->bundle[d->nbundle++], sizeof(d->bundle[0]), t) != 0)
            return fail(c, "a=group mid too long");
    }
    return 0;
}

/* c=IN IP4|IP6 <address>[/ttl[/n]] (three fields: checked by the parser). */
static int connection(ctx *c, slice v, char *addr, int *ip6)
{
    slice net = next_token(&v), type = next_token(&v), a = next_token(&v);
    if (!eq(net, "IN") || !(eq(type, "IP4") || eq(type, "IP6")))
        return 0; /* another network: no address we can use */
    const char *slash = memchr(a.p, '/', a.n);
    if (slash)
        a.n = (size_t)(slash - a.p);
    if (a.n == 0 || copy(addr, 64, a) != 0)
        return fail(c, "c= address empty or too long");
    *ip6 = eq(type, "IP6");
    return 0;
}

/* a=rtcp:<port> [IN IP4|IP6 <address>] (RFC 3605). */
static int rtcp_attr(ctx *c, slice v)
{
    uint64_t port;
    slice pt = next_token(&v), net = next_token(&v), type = next_token(&v), a = next_token(&v);
    if (to_uint(pt, 65535, &port) != 0 || port == 0)
        return fail(c, "a=rtcp port not a number from 1 to 65535");
    c->m->rtcp_port = (uint16_t)port;
    if (net.n && (!eq(net, "IN") || !(eq(type, "IP4") || eq(type, "IP6")) || a.n == 0 ||
                  copy(c->m->rtcp_addr, sizeof(c->m->rtcp_addr), a) != 0))
        return fail(c, "a=rtcp address malformed");
    return 0;
}

/* a=crypto: lines of a known suite are kept (up to FL_SDP_MAX_CRYPTO),
 * others skipped; a malformed one fails. */
static int crypto_attr(ctx *c, slice v)
{
    char value[512], why[96];
    if (copy(value, sizeof(value), v) != 0)
        return fail(c, "a=crypto too long");
    fl_sdp_crypto cr;
    int rc = fl_sdp_crypto_parse(value, &cr, why, sizeof(why));
    explicit_bzero(value, sizeof(value));
    if (rc == FL_ENOTSUP)
        return 0;
    if (rc != 0)
        return fail(c, why);
    if (c->m->ncrypto < FL_SDP_MAX_CRYPTO)
        c->m->crypto[c->m->ncrypto++] = cr;
    explicit_bzero(&cr, sizeof(cr));
    return 0;
}

/* a=rid: a usable line kept (the first of an id and direction). */
static int rid_attr(ctx *c, slice v)
{
    fl_sdp_rid r;
    const char *why;
    int usable;
    if (fl__sdp_rid_parse(v.p, v.n, c->m, &r, &usable, &why) != 0)
        return fail(c, why);
    for (size_t i = 0; i < c->nrid_lines && usable; i++)
        usable = strcmp(c->rid_lines[i].id, r.id) != 0 || c->rid_lines[i].dir != r.dir;
    if (usable && c->nrid_lines < MAX_RID_LINES)
        c->rid_lines[c->nrid_lines++] = r;
    return 0;
}

/* a=simulcast: one per section, read once the section's a=rid are known. */
static int simulcast_attr(ctx *c, slice v)
{
    const char *why;
    if (c->has_sc)
        return fail(c, "a=simulcast twice in a section");
    if (fl__sdp_simulcast_parse(v.p, v.n, &c->sc, &why) != 0)
        return fail(c, why);
    c->has_sc = 1;
    return 0;
}

/* ICE/DTLS attributes, on the session or a section. */
static int transport_attr(ctx *c,
                          slice name,
                          slice v,
                          char *ufrag,
                          char *pwd,
                          char *fp,
                          fl_sdp_setup *setup,
                          int *handled)
{
    *handled = 1;
    if (eq(name, "ice-ufrag")) {
        if (copy(ufrag, 64, trim(v)) != 0)
            return fail(c, "a=ice-ufrag too long");
    } else if (eq(name, "ice-pwd")) {
        if (copy(pwd, 256, trim(v)) != 0)
            return fail(c, "a=ice-pwd too long");
    } else if (eq(name, "fingerprint")) {
        if (copy(fp, 160, trim(v)) != 0)
            return fail(c, "a=fingerprint too long");
    } else if (eq(name, "setup")) {
        return setup_of(c, v, setup);
    } else {
        *handled = 0;
    }
    return 0;
}

static int session_attr(ctx *c, slice name, slice v)
{
    int handled;
    int rc = transport_attr(c, name, v, c->ufrag, c->pwd, c->fingerprint, &c->setup, &handled);
    if (rc != 0 || handled)
        return rc;
    if (eq(name, "group"))
        return bundle_group(c, v);
    if (eq(name, "ice-lite"))
        c->d->ice_lite = 1;
    else if (eq(name, "extmap"))
        return extmap(c, v, c->ext_ids);
    else if (dir_of(name, &c->dir))
        c->has_dir = 1;
    return 0;
}

static int media_attr(ctx *c, slice name, slice v)
{
    fl_sdp_media *m = c->m;
    int handled;
    int rc = transport_attr(c, name, v, m->ice_ufrag, m->ice_pwd, m->fingerprint, &m->setup,
                            &handled);
    if (rc != 0 || handled)
        return rc;
    if (eq(name, "mid")) {
        if (copy(m->mid, sizeof(m->mid), trim(v)) != 0)
            return fail(c, "a=mid too long");
    } else if (dir_of(name, &m->dir)) {
        c->m_has_dir = 1;
    } else if (eq(name, "rtcp-mux")) {
        m->rtcp_mux = 1;
    } else if (eq(name, "rtcp-rsize")) {
        m->rtcp_rsize = 1;
    } else if (eq(name, "bundle-only")) {
        c->bundle_only = 1;
    } else if (eq(name, "end-of-candidates")) {
        m->end_of_candidates = 1;
    } else if (eq(name, "candidate")) {
        slice whole = { name.p, (size_t)(v.p + v.n - name.p) };
        if (m->ncandidates < FL_SDP_MAX_CANDIDATES &&
            copy(m->candidates[m->ncandidates], sizeof(m->candidates[0]), whole) == 0)
            m->ncandidates++;
    } else if (eq(name, "msid")) {
        copy(c->msid, sizeof(c->msid), trim(v));
    } else if (eq(name, "extmap")) {
        return extmap(c, v, m->ext_ids);
    } else if (c->rtp && eq(name, "rtpmap")) {
        return rtpmap(c, v);
    } else if (c->rtp && eq(name, "fmtp")) {
        return fmtp(c, v);
    } else if (c->rtp && eq(name, "rtcp-fb")) {
        rtcp_fb(c, v);
    } else if (eq(name, "ssrc")) {
        return ssrc_attr(c, v);
    } else if (eq(name, "ssrc-group")) {
        return ssrc_group(c, v);
    } else if (eq(name, "rid")) {
        return rid_attr(c, v);
    } else if (eq(name, "simulcast")) {
        return simulcast_attr(c, v);
    } else if (eq(name, "rtcp")) {
        return rtcp_attr(c, v);
    } else if (eq(name, "crypto")) {
        return crypto_attr(c, v);
    } else if (eq(name, "sctp-port") || eq(name, "max-message-size")) {
        uint64_t n;
        if (to_uint(trim(v), eq(name, "sctp-port") ? 65535 : UINT32_MAX, &n) != 0)
            return fail(c, "a=sctp-port or a=max-message-size not a number");
        if (eq(name, "sctp-port"))
            m->sctp_port = (uint16_t)n;
        else
            m->max_message_size = (uint32_t)n;
    } else if (eq(name, "sctpmap")) {
        uint64_t n;
        slice port = next_token(&v), app = next_token(&v);
        if (to_uint(port, 65535, &n) != 0)
            return fail(c, "a=sctpmap port not a number");
        if (eq(app, "webrtc-datachannel")) {
            m->sctp_port = (uint16_t)n;
            m->sctp_legacy = 1;
        }
    } else if (eq(name, "direction")) {
        slice d = trim(v);
        m->comedia = eq(d, "active") ? 1 : eq(d, "passive") ? 2 : eq(d, "both") ? 3 : 0;
    }
    return 0;
}

/* The layers of RID simulcast, and of SSRC simulcast with each RTX. */
static void simulcast_of(ctx *c, fl_sdp_media *m)
{
    if (c->has_sc)
        fl__sdp_simulcast_layers(&c->sc, c->rid_lines, c->nrid_lines, m);
    if (c->sim_bad)
        return;
    m->nsim = c->nsim;
    for (size_t i = 0; i < c->nsim; i++) {
        m->sim_ssrc[i] = c->sim[i];
        for (size_t k = 0; k < c->nfid && !m->sim_rtx[i]; k++)
            m->sim_rtx[i] = c->fid[k].ssrc == c->sim[i] ? c->fid[k].rtx : 0;
    }
}

/* What a section gets once its lines are read: RTX links, FID folding,
 * the session's extensions, the media-level msid. */
static void finish_media(ctx *c)
{
    fl_sdp_media *m = c->m;
    if (!m)
        return;
    for (size_t i = 0; i < m->ncodecs; i++) {
        char apt[8];
        if (strcasecmp(m->codecs[i].name, "rtx") != 0 ||
            fl__sdp_fmtp_get(m->codecs[i].fmtp, "apt", apt, sizeof(apt)) != 0)
            continue;
        char *end;
        unsigned long pt = strtoul(apt, &end, 10);
        fl_sdp_codec *target = apt[0] && !*end && pt < 128 ? codec_of(m, pt) : NULL;
        if (target && target != &m->codecs[i] && target->rtx_pt < 0)
            target->rtx_pt = m->codecs[i].pt;
    }
    for (size_t i = 0; i < c->nfid; i++) {
        fl_sdp_ssrc *s = ssrc_of(m, c->fid[i].ssrc, 1);
        if (!s || s->rtx_ssrc)
            continue;
        s->rtx_ssrc = c->fid[i].rtx;
        fl_sdp_ssrc *r = ssrc_of(m, c->fid[i].rtx, 0);
        if (r) {
            size_t k = (size_t)(r - m->ssrcs);
            memmove(r, r + 1, (m->nssrcs - k - 1) * sizeof(*r));
            m->nssrcs--;
        }
    }
    simulcast_of(c, m);
    for (int e = 0; e < FL_SDP_EXT_COUNT; e++) {
        uint8_t id = c->ext_ids[e]; /* the session's, unless the section uses the id */
        if (!m->ext_ids[e] && id && !c->ext_uri[id].n)
            m->ext_ids[e] = id;
    }
    for (size_t i = 0; i < m->nssrcs; i++) {
        if (!m->ssrcs[i].msid[0])
            memcpy(m->ssrcs[i].msid, c->msid, sizeof(c->msid));
    }
    size_t idx = (size_t)(m - c->d->media);
    c->has_dir_of[idx] = c->m_has_dir;
    c->bundle_only_of[idx] = c->bundle_only;
}

/* Session values inherited by sections, rejection, repeated mids. */
static int finish(ctx *c)
{
    fl_sdp_desc *d = c->d;
    for (size_t i = 0; i < d->nmedia; i++) {
        fl_sdp_media *m = &d->media[i];
        if (!m->ice_ufrag[0])
            memcpy(m->ice_ufrag, c->ufrag, sizeof(c->ufrag));
        if (!m->ice_pwd[0])
            memcpy(m->ice_pwd, c->pwd, sizeof(c->pwd));
        if (!m->fingerprint[0])
            memcpy(m->fingerprint, c->fingerprint, sizeof(c->fingerprint));
        if (m->setup == FL_SDP_SETUP_NONE)
            m->setup = c->setup;
        if (!m->addr[0]) {
            memcpy(m->addr, c->addr, sizeof(c->addr));
            m->addr_ip6 = c->addr_ip6;
        }
        if (!c->has_dir_of[i])
            m->dir = c->has_dir ? c->dir : FL_SDP_DIR_SENDRECV;
        m->rejected = m->port == 0 && !c->bundle_only_of[i];
        for (size_t k = 0; k < i && m->mid[0]; k++) {
            if (strcmp(d->media[k].mid, m->mid) == 0)
                return fl__sdp_fail(c->err, c->errlen, "a=mid:%s in two sections", m->mid);
        }
    }
    return 0;
}

static int describe_line(ctx *c, const fl_sdp *s, const fl__sdp_line *l)
{
    slice v = { s->buf + l->off, l->len };
    if (l->type == 'o') {
        slice t = v;
        next_token(&t);
        uint64_t id = 0, ver = 0;
        to_uint(next_token(&t), UINT64_MAX, &id);
        to_uint(next_token(&t), UINT64_MAX, &ver);
        c->d->session_id = id;
        c->d->session_version = ver;
    } else if (l->type == 'm') {
        finish_media(c);
        return media_line(c, v);
    } else if (l->type == 'c') {
        return c->m ? connection(c, v, c->m->addr, &c->m->addr_ip6)
                    : connection(c, v, c->addr, &c->addr_ip6);
    } else if (l->type == 'b' && c->m && v.n > 3 && memcmp(v.p, "AS:", 3) == 0) {
        uint64_t kbps;
        slice num = { v.p + 3, v.n - 3 };
        if (to_uint(trim(num), UINT32_MAX, &kbps) == 0)
            c->m->bandwidth_as_kbps = (uint32_t)kbps;
    } else if (l->type == 'a') {
        const char *colon = memchr(v.p, ':', v.n);
        slice name = { v.p, colon ? (size_t)(colon - v.p) : v.n };
        slice val = { colon ? colon + 1 : v.p + v.n, colon ? v.n - name.n - 1 : 0 };
        return c->m ? media_attr(c, name, val) : session_attr(c, name, val);
    }
    return 0;
}

int fl_sdp_describe(const fl_sdp *s, fl_sdp_desc *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return FL_ENOMEM;
    c->d = out;
    c->err = err;
    c->errlen = errlen;
    int rc = 0;
    for (size_t i = 0; i < s->nlines && rc == 0; i++) {
        c->no = i + 1;
        rc = describe_line(c, s, &s->lines[i]);
    }
    if (rc == 0) {
        finish_media(c);
        rc = finish(c);
    }
    free(c);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
