/* Codec matching by name and format parameters (never by payload number):
 * H.264 by RFC 6184 (packetization-mode, and the profile that
 * profile_idc with the profile-iop flags names), VP9 profile-id, AV1
 * profile. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

int fl__sdp_fmtp_get(const char *fmtp, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = fmtp;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eqs = memchr(p, '=', n);
        if (eqs && (size_t)(eqs - p) == klen && strncasecmp(p, key, klen) == 0) {
            const char *v = eqs + 1;
            size_t vn = n - klen - 1;
            while (vn && v[vn - 1] == ' ')
                vn--;
            if (vn >= outlen)
                return FL_ERANGE;
            memcpy(out, v, vn);
            out[vn] = '\0';
            return 0;
        }
        p += n;
    }
    return FL_ENOENT;
}

int fl__sdp_codec_is_aux(const char *name)
{
    static const char *const aux[] = {
        "rtx", "red", "ulpfec", "flexfec-03", "flexfec", "CN", "telephone-event",
    };
    for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]); i++) {
        if (strcasecmp(name, aux[i]) == 0)
            return 1;
    }
    return 0;
}

/* An fmtp parameter as an unsigned number; `absent` when missing, -1 when
 * it is not a number. */
static long fmtp_num(const char *fmtp, const char *key, long absent)
{
    char v[16];
    int rc = fl__sdp_fmtp_get(fmtp, key, v, sizeof(v));
    if (rc == FL_ENOENT)
        return absent;
    if (rc != 0 || !v[0])
        return -1;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || v[0] == '-' || n > 1000000)
        return -1;
    return (long)n;
}

/* The H.264 profile as libwebrtc and RFC 6184 Table 5 read it from
 * profile_idc and profile-iop (constraint_set flags); values above 0xff
 * are classes, others the raw idc<<8|iop when no class fits. */
static int h264_profile(const char *fmtp)
{
    char plid[16];
    int rc = fl__sdp_fmtp_get(fmtp, "profile-level-id", plid, sizeof(plid));
    if (rc == FL_ENOENT)
        snprintf(plid, sizeof(plid), "42e01f"); /* RFC 6184 default */
    else if (rc != 0 || strlen(plid) != 6)
        return -1;
    for (size_t i = 0; i < 6; i++) {
        if (!isxdigit((unsigned char)plid[i]))
            return -1;
    }
    unsigned long v = strtoul(plid, NULL, 16);
    unsigned idc = (unsigned)(v >> 16) & 0xff, iop = (unsigned)(v >> 8) & 0xff;

    static const struct {
        unsigned idc, mask, value;
        int profile;
    } classes[] = {
        { 0x42, 0x4f, 0x40, 0x1001 }, /* constrained baseline: x1xx0000 */
        { 0x4d, 0x8f, 0x80, 0x1001 }, /* 1xxx0000 */
        { 0x58, 0xcf, 0xc0, 0x1001 }, /* 11xx0000 */
        { 0x42, 0x4f, 0x00, 0x1002 }, /* baseline: x0xx0000 */
        { 0x58, 0xcf, 0x80, 0x1002 }, /* 10xx0000 */
        { 0x4d, 0x8f, 0x00, 0x1003 }, /* main: 0xxx0000 */
        { 0x58, 0xcf, 0x00, 0x1004 }, /* extended: 00xx0000 */
        { 0x64, 0xff, 0x00, 0x1005 }, /* high */
        { 0x64, 0xff, 0x0c, 0x1006 }, /* constrained high */
        { 0xf4, 0xff, 0x00, 0x1007 }, /* predictive high 4:4:4 */
    };

    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (classes[i].idc == idc && (iop & classes[i].mask) == classes[i].value)
            return classes[i].profile;
    }
    return (int)(idc << 8 | iop);
}

int fl_sdp_codec_match(const fl_sdp_codec *a, const fl_sdp_codec *b)
{
    if (strcasecmp(a->name, b->name) != 0 || a->clock_rate != b->clock_rate)
        return 0;
    if ((a->channels ? a->channels : 1) != (b->channels ? b->channels : 1))
        return 0;
    if (strcasecmp(a->name, "H264") == 0) {
        long pa = fmtp_num(a->fmtp, "packetization-mode", 0);
        long pb = fmtp_num(b->fmtp, "packetization-mode", 0);
        int ha = h264_profile(a->fmtp), hb = h264_profile(b->fmtp);
        return pa >= 0 && pa == pb && ha >= 0 && ha == hb;
    }
    if (strcasecmp(a->name, "VP9") == 0) {
        long pa = fmtp_num(a->fmtp, "profile-id", 0);
        return pa >= 0 && pa == fmtp_num(b->fmtp, "profile-id", 0);
    }
    if (strcasecmp(a->name, "AV1") == 0) {
        long pa = fmtp_num(a->fmtp, "profile", 0);
        return pa >= 0 && pa == fmtp_num(b->fmtp, "profile", 0);
    }
    return 1;
}

const fl_sdp_codec *fl_sdp_media_main_codec(const fl_sdp_media *m)
{
    for (size_t i = 0; i < m->ncodecs && i < FL_SDP_MAX_CODECS; i++) {
        if (m->codecs[i].name[0] && !fl__sdp_codec_is_aux(m->codecs[i].name))
            return &m->codecs[i];
    }
    return NULL;
}

fl_sdp_dir fl_sdp_dir_reverse(fl_sdp_dir dir)
{
    switch (dir) {
    case FL_SDP_DIR_SENDONLY:
        return FL_SDP_DIR_RECVONLY;
    case FL_SDP_DIR_RECVONLY:
        return FL_SDP_DIR_SENDONLY;
    case FL_SDP_DIR_SENDRECV:
    case FL_SDP_DIR_INACTIVE:
        break;
    }
    return dir;
}
