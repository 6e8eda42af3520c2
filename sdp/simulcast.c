/* Simulcast attributes: a=rid (RFC 8851) and a=simulcast (RFC 8853) read
 * into their parts, the layers of a section picked from them, and the two
 * written back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

/* rid-id: letters, digits, '-' and '_' (RFC 8851's grammar; its erratum
 * narrows it to letters and digits, which this accepts too). */
static int id_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

static int blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The next run of characters up to a blank, after leading blanks. */
static const char *token(const char **p, const char *end, size_t *n)
{
    while (*p < end && blank(**p))
        (*p)++;
    const char *start = *p;
    while (*p < end && !blank(**p))
        (*p)++;
    *n = (size_t)(*p - start);
    return start;
}

static int word_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* Whole decimal number up to max in [p, p + n); 0 when it is one. */
static int number(const char *p, size_t n, uint32_t max, uint32_t *out)
{
    if (n == 0 || n > 10)
        return FL_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FL_EINVAL;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max)
        return FL_ERANGE;
    *out = (uint32_t)v;
    return 0;
}

static int on_m_line(const fl_sdp_media *m, uint32_t pt)
{
    for (size_t i = 0; i < m->ncodecs; i++) {
        if (m->codecs[i].pt == pt)
            return 1;
    }
    return 0;
}

/* pt=<fmt>[,<fmt>...]: payload types of the m= line kept, once each. */
static int rid_pts(const char *p, const char *end, const fl_sdp_media *m, fl_sdp_rid *r)
{
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        uint32_t pt;
        if (number(p, (size_t)(stop - p), 127, &pt) != 0)
            return FL_EBADMSG;
        int dup = 0;
        for (size_t i = 0; i < r->npts; i++)
            dup |= r->pts[i] == pt;
        if (!dup && on_m_line(m, pt) && r->npts < FL_SDP_RID_MAX_PTS)
            r->pts[r->npts++] = (uint8_t)pt;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* One ';'-separated restriction: pt= checked, the max-* kept when whole
 * numbers, anything else ignored. */
static int rid_param(const char *p, const char *end, const fl_sdp_media *m, fl_sdp_rid *r, int *pt)
{
    while (p < end && blank(*p))
        p++;
    while (end > p && blank(end[-1]))
        end--;
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq)
        return 0;
    const char *v = eq + 1;
    size_t name = (size_t)(eq - p), vn = (size_t)(end - v);
    if (word_is(p, name, "pt")) {
        *pt = 1;
        return rid_pts(v, end, m, r);
    }

    static const struct {
        const char *name;
        size_t off;
    } known[] = {
        { "max-width", offsetof(fl_sdp_rid, max_width) },
        { "max-height", offsetof(fl_sdp_rid, max_height) },
        { "max-fps", offsetof(fl_sdp_rid, max_fps) },
        { "max-br", offsetof(fl_sdp_rid, max_br) },
    };

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        uint32_t n;
        if (word_is(p, name, known[i].name) && number(v, vn, UINT32_MAX, &n) == 0)
            memcpy((char *)r + known[i].off, &n, sizeof(n));
    }
    return 0;
}

int fl__sdp_rid_parse(const char *v,
                      size_t n,
                      const fl_sdp_media *m,
                      fl_sdp_rid *out,
                      int *usable,
                      const char **why)
{
    const char *p = v, *end = v + n;
    memset(out, 0, sizeof(*out));
    *usable = 0;
    size_t idn, dirn;
    const char *id = token(&p, end, &idn);
    const char *dir = token(&p, end, &dirn);
    if (idn == 0 || dirn == 0) {
        *why = "a=rid needs an id and a direction";
        return FL_EBADMSG;
    }
    for (size_t i = 0; i < idn; i++) {
        if (!id_char(id[i])) {
            *why = "a=rid id is not letters, digits, '-' or '_'";
            return FL_EBADMSG;
        }
    }
    if (word_is(dir, dirn, "send"))
        out->dir = FL_SDP_RID_SEND;
    else if (word_is(dir, dirn, "recv"))
        out->dir = FL_SDP_RID_RECV;
    else {
        *why = "a=rid direction is neither send nor recv";
        return FL_EBADMSG;
    }
    int pt = 0;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        if (rid_param(p, stop, m, out, &pt) != 0) {
            *why = "a=rid pt= is not a list of payload types";
            return FL_EBADMSG;
        }
        p = semi ? semi + 1 : end;
    }
    if (idn <= FL_SDP_RID_MAX_LEN && (!pt || out->npts)) {
        memcpy(out->id, id, idn);
        out->id[idn] = '\0';
        *usable = 1;
    }
    return 0;
}

/* One direction's list: layers split by ';', alternatives by ','. */
static int sc_list(const char *p, const char *end, fl_sdp_rid_dir dir, fl__sdp_sc *sc)
{
    if ((size_t)(end - p) > 4 && memcmp(p, "rid=", 4) == 0)
        p += 4; /* the drafts before RFC 8853 wrote "send rid=a;b" */
    for (;;) {
        int paused = p < end && *p == '~';
        const char *start = p + paused;
        const char *q = start;
        while (q < end && id_char(*q))
            q++;
        if (q == start || (q < end && *q != ';' && *q != ','))
            return FL_EBADMSG;
        if (sc->nids < FL__SDP_SC_MAX_IDS)
            sc->ids[sc->nids++] =
                    (fl__sdp_sc_id){ start, (size_t)(q - start), dir, paused, sc->nlayers };
        if (q == end) {
            sc->nlayers++;
            return 0;
        }
        if (*q == ';')
            sc->nlayers++;
        p = q + 1;
    }
}

int fl__sdp_simulcast_parse(const char *v, size_t n, fl__sdp_sc *out, const char **why)
{
    const char *p = v, *end = v + n;
    memset(out, 0, sizeof(*out));
    int seen = 0;
    for (;;) {
        size_t dirn, listn;
        const char *dir = token(&p, end, &dirn);
        if (dirn == 0)
            break;
        int d = word_is(dir, dirn, "send")   ? FL_SDP_RID_SEND
                : word_is(dir, dirn, "recv") ? FL_SDP_RID_RECV
                                             : 0;
        if (!d) {
            *why = "a=simulcast direction is neither send nor recv";
            return FL_EBADMSG;
        }
        if (seen & d) {
            *why = "a=simulcast gives a direction twice";
            return FL_EBADMSG;
        }
        seen |= d;
        const char *list = token(&p, end, &listn);
        if (listn == 0 || sc_list(list, list + listn, (fl_sdp_rid_dir)d, out) != 0) {
            *why = "a=simulcast list is not rids separated by ';' and ','";
            return FL_EBADMSG;
        }
    }
    if (!seen) {
        *why = "a=simulcast needs send or recv and a list of rids";
        return FL_EBADMSG;
    }
    return 0;
}

static const fl_sdp_rid *rid_line(const fl_sdp_rid *lines, size_t n, const fl__sdp_sc_id *id)
{
    for (size_t i = 0; i < n; i++) {
        if (lines[i].dir == id->dir && strlen(lines[i].id) == id->n &&
            memcmp(lines[i].id, id->p, id->n) == 0)
            return &lines[i];
    }
    return NULL;
}

static int taken(const fl_sdp_media *m, const fl_sdp_rid *r)
{
    for (size_t i = 0; i < m->nrids; i++) {
        if (strcmp(m->rids[i].id, r->id) == 0 && m->rids[i].dir == r->dir)
            return 1;
    }
    return 0;
}

void fl__sdp_simulcast_layers(const fl__sdp_sc *sc,
                              const fl_sdp_rid *lines,
                              size_t nlines,
                              fl_sdp_media *m)
{
    m->nrids = 0;
    for (int d = FL_SDP_RID_SEND; d <= FL_SDP_RID_RECV; d++) {
        size_t done = SIZE_MAX; /* the layer last filled */
        for (size_t i = 0; i < sc->nids && m->nrids < FL_SDP_MAX_RIDS; i++) {
            const fl__sdp_sc_id *id = &sc->ids[i];
            if ((int)id->dir != d || id->layer == done)
                continue;
            const fl_sdp_rid *r = rid_line(lines, nlines, id);
            if (!r || taken(m, r))
                continue;
            m->rids[m->nrids] = *r;
            m->rids[m->nrids++].paused = id->paused;
            done = id->layer;
        }
    }
}

/* "a=rid:<id> <dir>" for each layer (an answer restricts nothing), then
 * a=simulcast with the send part before the recv part. */
void fl__sdp_simulcast_write(fl__sdp_str *s, const fl_sdp_media *m)
{
    static const char *const dirs[] = { "", "send", "recv" };
    for (size_t i = 0; i < m->nrids && i < FL_SDP_MAX_RIDS; i++) {
        const fl_sdp_rid *r = &m->rids[i];
        fl__sdp_str_add(s, "a=rid:%s %s\r\n", r->id, dirs[r->dir == FL_SDP_RID_RECV ? 2 : 1]);
    }
    if (!m->nrids)
        return;
    fl__sdp_str_add(s, "a=simulcast:");
    int any = 0;
    for (int d = FL_SDP_RID_SEND; d <= FL_SDP_RID_RECV; d++) {
        int first = 1;
        for (size_t i = 0; i < m->nrids && i < FL_SDP_MAX_RIDS; i++) {
            const fl_sdp_rid *r = &m->rids[i];
            if ((r->dir == FL_SDP_RID_RECV ? FL_SDP_RID_RECV : FL_SDP_RID_SEND) != d)
                continue;
            if (first)
                fl__sdp_str_add(s, "%s%s ", any ? " " : "", dirs[d]);
            fl__sdp_str_add(s, "%s%s%s", first ? "" : ";", r->paused ? "~" : "", r->id);
            first = 0;
            any = 1;
        }
    }
    fl__sdp_str_add(s, "\r\n");
}

int fl_sdp_media_rid_layer(const fl_sdp_media *m, fl_sdp_rid_dir dir, const char *rid, size_t len)
{
    for (size_t i = 0; i < m->nrids && i < FL_SDP_MAX_RIDS && rid; i++) {
        const fl_sdp_rid *r = &m->rids[i];
        if (r->dir == dir && len == strnlen(r->id, sizeof(r->id)) && memcmp(r->id, rid, len) == 0)
            return (int)i;
    }
    return -1;
}

int fl_sdp_media_ssrc_layer(const fl_sdp_media *m, uint32_t ssrc, int *rtx)
{
    for (size_t i = 0; i < m->nsim && i < FL_SDP_MAX_RIDS; i++) {
        int is_rtx = m->sim_rtx[i] == ssrc;
        if (m->sim_ssrc[i] == ssrc || (is_rtx && ssrc)) {
            if (rtx)
                *rtx = is_rtx && m->sim_ssrc[i] != ssrc;
            return (int)i;
        }
    }
    return -1;
}
