/* The text under WHIP/WHEP (rpc/whip_int.h): trickle-ICE SDP fragments
 * (RFC 8840) read, and our candidates written into an SDP answer. Sans-IO. */
#include <stdbool.h>
#include <string.h>

#include "base/err.h"
#include "rpc/whip_int.h"

/* Copies n bytes of s into out (cap bytes, NUL-terminated); false when they
 * do not fit. */
static bool copy_field(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *prefix, size_t *plen)
{
    size_t k = strlen(prefix);
    *plen = k;
    return n >= k && memcmp(s, prefix, k) == 0;
}

/* One line without its ending. */
static int frag_line(fl__sdpfrag *f, const char *s, size_t n, char *mid)
{
    if (n == 0)
        return 0;
    if (n > FL__SDPFRAG_MAX_LINE || n < 2 || s[0] < 'a' || s[0] > 'z' || s[1] != '=')
        return FL_EBADMSG;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return FL_EBADMSG;
    }
    size_t k;
    if (s[0] == 'm') {
        f->nmedia++;
        mid[0] = '\0';
        return 0;
    }
    if (has_prefix(s, n, "a=mid:", &k))
        return copy_field(mid, sizeof(f->cands[0].mid), s + k, n - k) ? 0 : FL_EBADMSG;
    if (has_prefix(s, n, "a=ice-ufrag:", &k)) {
        if (!f->ufrag[0] && !copy_field(f->ufrag, sizeof(f->ufrag), s + k, n - k))
            return FL_EBADMSG;
        return 0;
    }
    if (has_prefix(s, n, "a=ice-pwd:", &k)) {
        if (!f->pwd[0] && !copy_field(f->pwd, sizeof(f->pwd), s + k, n - k))
            return FL_EBADMSG;
        return 0;
    }
    if (n == 19 && memcmp(s, "a=end-of-candidates", 19) == 0) {
        f->end_of_candidates = 1;
        return 0;
    }
    if (has_prefix(s, n, "a=candidate", &k)) {
        if (n < 12 || s[11] != ':')
            return FL_EBADMSG;
        if (f->ncands == FL__SDPFRAG_MAX_CANDS)
            return FL_ERANGE;
        fl__sdpfrag_cand *c = &f->cands[f->ncands];
        if (!copy_field(c->line, sizeof(c->line), s + 2, n - 2))
            return FL_EBADMSG;
        c->mline = f->nmedia - 1;
        f->ncands++;
        return 0;
    }
    return 0;
}

int fl__sdpfrag_parse(fl__sdpfrag *f, const char *text, size_t len)
{
    memset(f, 0, sizeof(*f));
    char mid[sizeof(f->cands[0].mid)] = "";
    size_t first = 0; /* the first candidate of the current section */
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - i;
        if (n > 0 && text[i + n - 1] == '\r')
            n--;
        int before = f->nmedia;
        int rc = frag_line(f, text + i, n, mid);
        if (rc != 0)
            return rc;
        if (f->nmedia != before)
            first = f->ncands;
        /* A section's mid may come after its candidates: name them all. */
        for (size_t c = first; c < f->ncands; c++)
            memcpy(f->cands[c].mid, mid, sizeof(mid));
        i = nl ? end + 1 : len;
    }
    return 0;
}

void fl__sdp_ice_ufrag(const char *sdp, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(sdp, "a=ice-ufrag:");
    if (!p)
        return;
    p += 12;
    size_t n = strcspn(p, "\r\n");
    if (!copy_field(out, cap, p, n))
        out[0] = '\0';
}

/* Appends the candidates whose mid is `mid` (n bytes). */
static int add_for_mid(fl_bytes *out,
                       const char *mid,
                       size_t n,
                       const char *cands,
                       size_t clen,
                       int complete)
{
    size_t i = 0;
    while (i < clen) {
        const char *nl = memchr(cands + i, '\n', clen - i);
        size_t end = nl ? (size_t)(nl - cands) : clen;
        const char *tab = memchr(cands + i, '\t', end - i);
        if (tab && (size_t)(tab - (cands + i)) == n && memcmp(cands + i, mid, n) == 0) {
            int rc = fl_bytes_append_str(out, "a=");
            rc = rc ? rc : fl_bytes_append(out, tab + 1, (size_t)(cands + end - tab - 1));
            rc = rc ? rc : fl_bytes_append_str(out, "\r\n");
            if (rc != 0)
                return rc;
        }
        i = nl ? end + 1 : clen;
    }
    return complete ? fl_bytes_append_str(out, "a=end-of-candidates\r\n") : 0;
}

/* The a=mid of the section text[0..n) (which starts at its m= line). */
static const char *section_mid(const char *s, size_t n, size_t *mid_len)
{
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        size_t len = end - i;
        if (len > 0 && s[i + len - 1] == '\r')
            len--;
        if (len >= 6 && memcmp(s + i, "a=mid:", 6) == 0) {
            *mid_len = len - 6;
            return s + i + 6;
        }
        i = nl ? end + 1 : n;
    }
    *mid_len = 0;
    return "";
}

int fl__sdp_add_candidates(fl_bytes *out,
                           const char *sdp,
                           size_t sdp_len,
                           const char *cands,
                           size_t cands_len,
                           int complete)
{
    size_t sec = 0; /* start of the current part (session part first) */
    bool media = false;
    size_t i = 0;
    while (i <= sdp_len) {
        bool at_m = i < sdp_len && sdp[i] == 'm' && (i == 0 || sdp[i - 1] == '\n');
        if (at_m || i == sdp_len) {
            if (fl_bytes_append(out, sdp + sec, i - sec) != 0)
                return FL_ENOMEM;
            if (media) {
                if (i > sec && sdp[i - 1] != '\n' && fl_bytes_append_str(out, "\r\n") != 0)
                    return FL_ENOMEM;
                size_t mlen;
                const char *mid = section_mid(sdp + sec, i - sec, &mlen);
                if (add_for_mid(out, mid, mlen, cands, cands_len, complete) != 0)
                    return FL_ENOMEM;
            }
            sec = i;
            media = at_m;
            if (i == sdp_len)
                break;
        }
        const char *nl = memchr(sdp + i, '\n', sdp_len - i);
        i = nl ? (size_t)(nl - sdp) + 1 : sdp_len;
    }
    return 0;
}
