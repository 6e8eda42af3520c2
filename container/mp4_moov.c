/* container/mp4_moov.c: the MP4 demuxer's moov (ISO/IEC 14496-12): mvhd,
 * each trak's tkhd, edts/elst, mdhd, hdlr and stbl, and mvex's mehd and
 * trex.
 *
 * Tracks: the video ('vide') and sound ('soun') ones, the first
 * FL_DEMUX_MAX_TRACKS of them; others (text, hints, metadata) are not
 * listed. The first sample entry of stsd names the codec: avc1/avc3 with
 * avcC (ISO/IEC 14496-15: the NAL length size, the first SPS and PPS),
 * vp08/vp09, Opus with dOps, ulaw/alaw (G.711: when stsz gives one byte
 * per sample, a chunk is one frame); any other entry (mp4a, hev1, ...) is
 * FL_CODEC_OTHER with its name, listed and skipped.
 *
 * Sample tables (stsz or stz2, stts, ctts, stss, stsc, stco or co64) are
 * expanded into one entry per sample (24 bytes), checked against each
 * other: stts must count stsz's samples, stsc's chunks must hold them,
 * stss must increase; at most MP4_MAX_SAMPLES in all. A sample that runs
 * past the file's size ends its table there (a cut file plays up to it).
 * Samples of size 0 are dropped.
 *
 * Edit lists: initial empty edits (media_time -1) delay the track by their
 * duration; the first edit with media media_time M starts it at M (times
 * become t - M); later edits are ignored. ffmpeg's B-frame delay and Opus
 * pre-skip are such an M: the first video frame shows at 0, and Opus's
 * first packet is at -PreSkip (a few ms before 0, as ffprobe says). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "container/mp4_demux_int.h"

#define US_PER_SEC 1000000

/* ---- readers ---- */

static int rd_has(struct mp4_rd *r, size_t n)
{
    if (r->bad || r->len - r->at < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

uint8_t fl__mp4_u8(struct mp4_rd *r)
{
    if (!rd_has(r, 1))
        return 0;
    return r->p[r->at++];
}

uint16_t fl__mp4_u16(struct mp4_rd *r)
{
    if (!rd_has(r, 2))
        return 0;
    r->at += 2;
    return fl_get_be16(r->p + r->at - 2);
}

uint32_t fl__mp4_u32(struct mp4_rd *r)
{
    if (!rd_has(r, 4))
        return 0;
    r->at += 4;
    return fl_get_be32(r->p + r->at - 4);
}

uint64_t fl__mp4_u64(struct mp4_rd *r)
{
    uint64_t hi = fl__mp4_u32(r);
    return hi << 32 | fl__mp4_u32(r);
}

void fl__mp4_skip(struct mp4_rd *r, size_t n)
{
    if (rd_has(r, n))
        r->at += n;
}

static struct mp4_rd rd_of(const struct mp4_box *b)
{
    return (struct mp4_rd){ .p = b->p, .len = b->len };
}

int fl__mp4_box_next(const uint8_t *p, size_t len, size_t *at, struct mp4_box *b)
{
    if (*at >= len)
        return 0;
    size_t left = len - *at;
    if (left < 8)
        return FL_EBADMSG;
    const uint8_t *h = p + *at;
    uint64_t size = fl_get_be32(h);
    size_t hdr = 8;
    if (size == 1) {
        if (left < 16)
            return FL_EBADMSG;
        size = (uint64_t)fl_get_be32(h + 8) << 32 | fl_get_be32(h + 12);
        hdr = 16;
    } else if (size == 0) {
        size = left;
    }
    if (size < hdr || size > left)
        return FL_EBADMSG;
    b->type = fl_get_be32(h + 4);
    b->p = h + hdr;
    b->len = (size_t)size - hdr;
    *at += (size_t)size;
    return 1;
}

/* The first child of parent with this type: 1, 0 (none), FL_EBADMSG. */
static int box_find(const struct mp4_box *parent, uint32_t type, struct mp4_box *out)
{
    size_t at = 0;
    int rc;
    while ((rc = fl__mp4_box_next(parent->p, parent->len, &at, out)) == 1)
        if (out->type == type)
            return 1;
    return rc;
}

int64_t fl__mp4_ticks_to_us(int64_t t, uint32_t timescale)
{
    if (timescale == 0)
        return 0;
    uint64_t a = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    uint64_t q = a / timescale, r = a % timescale;
    if (q > (uint64_t)INT64_MAX / US_PER_SEC - 1)
        q = (uint64_t)INT64_MAX / US_PER_SEC - 1; /* beyond 292,000 years */
    uint64_t us = q * US_PER_SEC + (r * US_PER_SEC + timescale / 2) / timescale;
    return t < 0 ? -(int64_t)us : (int64_t)us;
}

int fl__mp4_samples_reserve(struct mp4_track *t, size_t n)
{
    if (n <= t->cap)
        return 0;
    if (n > MP4_MAX_SAMPLES)
        return FL_EBADMSG;
    size_t cap = t->cap ? t->cap : 64;
    while (cap < n)
        cap *= 2;
    struct mp4_sample *s = realloc(t->s, cap * sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    t->s = s;
    t->cap = cap;
    return 0;
}

void fl__mp4_tracks_free(struct mp4_track *tracks, size_t ntracks)
{
    for (size_t i = 0; i < ntracks; i++) {
        free(tracks[i].s);
        free(tracks[i].extra);
        memset(&tracks[i], 0, sizeof(tracks[i]));
    }
}

/* ---- header boxes ---- */

/* mvhd, mdhd: version 1 has 64-bit times. The timescale and duration. */
static int parse_times(const struct mp4_box *b, uint32_t *timescale, uint64_t *duration)
{
    struct mp4_rd r = rd_of(b);
    int v1 = fl__mp4_u8(&r) == 1;
    fl__mp4_skip(&r, 3 + (v1 ? 16 : 8));
    *timescale = fl__mp4_u32(&r);
    if (v1) {
        *duration = fl__mp4_u64(&r);
        if (*duration == UINT64_MAX)
            *duration = 0;
    } else {
        *duration = fl__mp4_u32(&r);
        if (*duration == UINT32_MAX)
            *duration = 0;
    }
    return r.bad ? FL_EBADMSG : 0;
}

/* tkhd: the track ID and the picture size (16.16). */
static int parse_tkhd(const struct mp4_box *b, uint32_t *id, uint16_t *width, uint16_t *height)
{
    struct mp4_rd r = rd_of(b);
    int v1 = fl__mp4_u8(&r) == 1;
    fl__mp4_skip(&r, 3 + (v1 ? 16 : 8));
    *id = fl__mp4_u32(&r);
    fl__mp4_skip(&r, 4 + (v1 ? 8 : 4) + 8 + 8 + 36);
    *width = (uint16_t)(fl__mp4_u32(&r) >> 16);
    *height = (uint16_t)(fl__mp4_u32(&r) >> 16);
    return r.bad || *id == 0 ? FL_EBADMSG : 0;
}

/* elst: leading empty edits and the first media edit (see the top). */
static int parse_elst(const struct mp4_box *b, uint32_t movie_timescale, struct mp4_track *t)
{
    struct mp4_rd r = rd_of(b);
    int v1 = fl__mp4_u8(&r) == 1;
    fl__mp4_skip(&r, 3);
    uint32_t n = fl__mp4_u32(&r);
    uint64_t empty = 0;
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        uint64_t dur = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
        int64_t media = v1 ? (int64_t)fl__mp4_u64(&r) : (int64_t)(int32_t)fl__mp4_u32(&r);
        fl__mp4_skip(&r, 4); /* media_rate */
        if (r.bad)
            break;
        if (media == -1) {
            if (dur > UINT64_MAX / 2 - empty)
                return FL_EBADMSG;
            empty += dur;
            continue;
        }
        if (media < 0)
            return FL_EBADMSG;
        t->media_start = media;
        break;
    }
    if (r.bad)
        return FL_EBADMSG;
    t->empty_us = fl__mp4_ticks_to_us((int64_t)empty, movie_timescale);
    return 0;
}

/* ---- the sample entry ---- */

struct entry {
    uint32_t type;
    fl_codec_kind codec;
    uint16_t width, height;
    uint32_t rate;
    unsigned channels;
    const uint8_t *extra; /* into the moov */
    size_t extra_len;
    size_t sps_at, sps_len, pps_at, pps_len; /* into extra */
    unsigned nal_length_size;
};

/* avcC: 1 when it gives a NAL length size of 1, 2 or 4 (the first SPS and
 * PPS noted when there are some: avc3 may have none), 0 otherwise. */
static int parse_avcc(const struct mp4_box *b, struct entry *e)
{
    struct mp4_rd r = rd_of(b);
    if (fl__mp4_u8(&r) != 1)
        return 0;
    fl__mp4_skip(&r, 3);
    unsigned nls = (fl__mp4_u8(&r) & 3u) + 1;
    if (nls == 3)
        return 0;
    for (int set = 0; set < 2; set++) {
        unsigned count = fl__mp4_u8(&r) & (set == 0 ? 0x1fu : 0xffu);
        for (unsigned i = 0; i < count && !r.bad; i++) {
            size_t len = fl__mp4_u16(&r);
            size_t at = r.at;
            fl__mp4_skip(&r, len);
            if (i == 0 && !r.bad && len > 0) {
                *(set == 0 ? &e->sps_at : &e->pps_at) = at;
                *(set == 0 ? &e->sps_len : &e->pps_len) = len;
            }
        }
    }
    if (r.bad)
        return 0;
    e->nal_length_size = nls;
    e->extra = b->p;
    e->extra_len = b->len;
    return 1;
}

/* dOps: 1 when it looks right (version 0, 1+ channels), 0 otherwise. */
static int parse_dops(const struct mp4_box *b, struct entry *e)
{
    if (b->len < 11 || b->p[0] != 0 || b->p[1] == 0)
        return 0;
    e->channels = b->p[1];
    e->rate = 48000; /* Opus decodes at 48 kHz whatever InputSampleRate says */
    e->extra = b->p;
    e->extra_len = b->len;
    return 1;
}

static int parse_visual_entry(const struct mp4_box *b, struct entry *e)
{
    struct mp4_rd r = rd_of(b);
    fl__mp4_skip(&r, 24);
    e->width = fl__mp4_u16(&r);
    e->height = fl__mp4_u16(&r);
    fl__mp4_skip(&r, 50);
    if (r.bad)
        return FL_EBADMSG;
    struct mp4_box kids = { 0, b->p + r.at, b->len - r.at }, c;
    switch (e->type) {
    case MP4_FOURCC('a', 'v', 'c', '1'):
    case MP4_FOURCC('a', 'v', 'c', '3'):
        if (box_find(&kids, MP4_FOURCC('a', 'v', 'c', 'C'), &c) == 1 && parse_avcc(&c, e))
            e->codec = FL_CODEC_H264;
        break;
    case MP4_FOURCC('v', 'p', '0', '8'):
        e->codec = FL_CODEC_VP8;
        break;
    case MP4_FOURCC('v', 'p', '0', '9'):
        e->codec = FL_CODEC_VP9;
        break;
    default:
        break;
    }
    return 0;
}

static int parse_audio_entry(const struct mp4_box *b, struct entry *e)
{
    struct mp4_rd r = rd_of(b);
    fl__mp4_skip(&r, 8);
    uint16_t version = fl__mp4_u16(&r); /* QuickTime's sound description version */
    fl__mp4_skip(&r, 6);
    e->channels = fl__mp4_u16(&r);
    fl__mp4_skip(&r, 6);
    e->rate = fl__mp4_u32(&r) >> 16;
    if (version == 1) {
        fl__mp4_skip(&r, 16);
    } else if (version == 2) {
        fl__mp4_skip(&r, 4);
        uint64_t bits = fl__mp4_u64(&r);
        double rate;
        memcpy(&rate, &bits, sizeof(rate));
        e->rate = rate > 0 && rate < 1e7 ? (uint32_t)rate : 0;
        e->channels = fl__mp4_u32(&r);
        fl__mp4_skip(&r, 20);
    }
    if (r.bad)
        return FL_EBADMSG;
    struct mp4_box kids = { 0, b->p + r.at, b->len - r.at }, c;
    switch (e->type) {
    case MP4_FOURCC('O', 'p', 'u', 's'):
        if (box_find(&kids, MP4_FOURCC('d', 'O', 'p', 's'), &c) == 1 && parse_dops(&c, e))
            e->codec = FL_CODEC_OPUS;
        break;
    case MP4_FOURCC('u', 'l', 'a', 'w'):
        e->codec = FL_CODEC_PCMU;
        break;
    case MP4_FOURCC('a', 'l', 'a', 'w'):
        e->codec = FL_CODEC_PCMA;
        break;
    default:
        break;
    }
    if (e->codec != FL_CODEC_OTHER && (e->channels == 0 || e->rate == 0))
        e->codec = FL_CODEC_OTHER;
    return 0;
}

/* stsd: the first sample entry. A codec that does not parse is OTHER. */
static int parse_stsd(const struct mp4_box *b, int video, struct entry *e)
{
    struct mp4_rd r = rd_of(b);
    fl__mp4_skip(&r, 4);
    if (fl__mp4_u32(&r) == 0 || r.bad)
        return FL_EBADMSG;
    size_t at = r.at;
    struct mp4_box entry;
    if (fl__mp4_box_next(b->p, b->len, &at, &entry) != 1)
        return FL_EBADMSG;
    e->type = entry.type;
    return video ? parse_visual_entry(&entry, e) : parse_audio_entry(&entry, e);
}

/* ---- sample tables ---- */

struct tables {
    struct mp4_box stsz, stz2, stts, ctts, stss, stsc, stco, co64;
};

/* Counted tables: the entry count of a full box whose entries are `width`
 * bytes and follow `head` bytes; FL_EBADMSG when they do not fit. */
static int table_count(const struct mp4_box *b, size_t head, size_t width, uint32_t *n)
{
    if (b->len < head)
        return FL_EBADMSG;
    *n = fl_get_be32(b->p + head - 4);
    if (*n > (b->len - head) / width)
        return FL_EBADMSG;
    return 0;
}

struct sizes {
    const uint8_t *p; /* entries */
    uint32_t n, fixed;
    unsigned bits; /* per entry: 32 (stsz), 4, 8 or 16 (stz2) */
};

static int sizes_open(const struct tables *tb, struct sizes *sz)
{
    if (tb->stsz.p) {
        if (tb->stsz.len < 12)
            return FL_EBADMSG;
        sz->fixed = fl_get_be32(tb->stsz.p + 4);
        sz->n = fl_get_be32(tb->stsz.p + 8);
        sz->bits = 32;
        sz->p = tb->stsz.p + 12;
        if (sz->fixed == 0 && sz->n > (tb->stsz.len - 12) / 4)
            return FL_EBADMSG;
        return 0;
    }
    if (!tb->stz2.p || tb->stz2.len < 12)
        return FL_EBADMSG;
    sz->fixed = 0;
    sz->bits = tb->stz2.p[7];
    sz->n = fl_get_be32(tb->stz2.p + 8);
    sz->p = tb->stz2.p + 12;
    if (sz->bits != 4 && sz->bits != 8 && sz->bits != 16)
        return FL_EBADMSG;
    if ((uint64_t)sz->n * sz->bits > (uint64_t)(tb->stz2.len - 12) * 8)
        return FL_EBADMSG;
    return 0;
}

static uint32_t size_of(const struct sizes *sz, uint32_t i)
{
    if (sz->fixed)
        return sz->fixed;
    switch (sz->bits) {
    case 32:
        return fl_get_be32(sz->p + (size_t)i * 4);
    case 16:
        return fl_get_be16(sz->p + (size_t)i * 2);
    case 8:
        return sz->p[i];
    default:
        return (uint32_t)(i & 1 ? sz->p[i / 2] & 0x0f : sz->p[i / 2] >> 4);
    }
}

/* A run-length table (stts, ctts): the value for each sample in turn. */
struct runs {
    const uint8_t *p;
    uint32_t n, at, left;
};

static uint32_t runs_next(struct runs *r)
{
    while (r->left == 0 && r->at < r->n)
        r->left = fl_get_be32(r->p + (size_t)r->at++ * 8);
    if (r->left == 0)
        return 0;
    r->left--;
    return fl_get_be32(r->p + (size_t)(r->at - 1) * 8 + 4);
}

/* The sum of the next k values (a chunk of G.711), a run at a time. */
static int64_t runs_sum(struct runs *r, uint32_t k)
{
    int64_t sum = 0;
    while (k > 0) {
        while (r->left == 0 && r->at < r->n)
            r->left = fl_get_be32(r->p + (size_t)r->at++ * 8);
        if (r->left == 0)
            break;
        uint32_t take = k < r->left ? k : r->left;
        sum += (int64_t)take * fl_get_be32(r->p + (size_t)(r->at - 1) * 8 + 4);
        r->left -= take;
        k -= take;
    }
    return sum;
}

/* Everything the expansion walks, opened and checked against each other. */
struct walk {
    struct sizes sz;
    struct runs stts, ctts;
    const uint8_t *stss, *stsc, *chunks;
    uint32_t nstss, nstsc, nchunks;
    int co64;
};

static int walk_open(const struct tables *tb, struct walk *w)
{
    memset(w, 0, sizeof(*w));
    if (!tb->stts.p || !tb->stsc.p || (!tb->stco.p && !tb->co64.p))
        return FL_EBADMSG;
    if (sizes_open(tb, &w->sz) != 0 || table_count(&tb->stts, 8, 8, &w->stts.n) != 0 ||
        table_count(&tb->stsc, 8, 12, &w->nstsc) != 0)
        return FL_EBADMSG;
    w->stts.p = tb->stts.p + 8;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < w->stts.n; i++)
        sum += fl_get_be32(w->stts.p + (size_t)i * 8);
    if (sum != w->sz.n)
        return FL_EBADMSG;
    if (tb->ctts.p) {
        if (table_count(&tb->ctts, 8, 8, &w->ctts.n) != 0)
            return FL_EBADMSG;
        w->ctts.p = tb->ctts.p + 8;
    }
    if (tb->stss.p) {
        if (table_count(&tb->stss, 8, 4, &w->nstss) != 0)
            return FL_EBADMSG;
        w->stss = tb->stss.p + 8;
    }
    w->stsc = tb->stsc.p + 8;
    for (uint32_t i = 0; i < w->nstsc; i++) {
        uint32_t first = fl_get_be32(w->stsc + (size_t)i * 12);
        if (i == 0 ? first != 1 : first <= fl_get_be32(w->stsc + (size_t)(i - 1) * 12))
            return FL_EBADMSG;
    }
    w->co64 = tb->stco.p == NULL;
    const struct mp4_box *co = w->co64 ? &tb->co64 : &tb->stco;
    if (table_count(co, 8, w->co64 ? 8 : 4, &w->nchunks) != 0)
        return FL_EBADMSG;
    w->chunks = co->p + 8;
    if (w->sz.n > 0 && (w->nstsc == 0 || w->nchunks == 0))
        return FL_EBADMSG;
    return 0;
}

static uint64_t chunk_offset(const struct walk *w, uint32_t c)
{
    return w->co64 ? (uint64_t)fl_get_be32(w->chunks + (size_t)c * 8) << 32 |
                             fl_get_be32(w->chunks + (size_t)c * 8 + 4)
                   : fl_get_be32(w->chunks + (size_t)c * 4);
}

/* Appends a sample unless it is empty; 1 when it runs past the file (the
 * table ends before it), 0, or FL_EBADMSG. */
static int push(struct mp4_track *t,
                uint64_t off,
                uint64_t size,
                int64_t dts,
                int32_t cto,
                int key,
                int64_t file_size)
{
    if (size == 0)
        return 0;
    if (size > FL_DEMUX_MAX_UNIT || off > (uint64_t)INT64_MAX - size)
        return FL_EBADMSG;
    if (file_size >= 0 && off + size > (uint64_t)file_size)
        return 1;
    t->s[t->n++] = (struct mp4_sample){
        .off = (int64_t)off, .dts = dts, .size = (uint32_t)size, .key = key != 0, .cto = cto
    };
    return 0;
}

static int expand(struct mp4_track *t,
                  const struct walk *w0,
                  int audio,
                  int64_t file_size,
                  size_t *total)
{
    struct walk w = *w0;
    size_t want = t->chunked ? w.nchunks : w.sz.n;
    if (want > MP4_MAX_SAMPLES - *total)
        return FL_EBADMSG;
    int rc = fl__mp4_samples_reserve(t, want);
    if (rc != 0)
        return rc;
    uint32_t i = 0, stsc_at = 0, stss_at = 0, prev_sync = 0;
    int64_t dts = 0;
    for (uint32_t c = 0; c < w.nchunks && i < w.sz.n; c++) {
        while (stsc_at + 1 < w.nstsc && fl_get_be32(w.stsc + (size_t)(stsc_at + 1) * 12) - 1 <= c)
            stsc_at++;
        uint32_t per = fl_get_be32(w.stsc + (size_t)stsc_at * 12 + 4);
        uint64_t off = chunk_offset(&w, c);
        if (per > w.sz.n - i)
            per = w.sz.n - i;
        if (t->chunked) {
            int64_t first = dts;
            dts += runs_sum(&w.stts, per);
            i += per;
            rc = push(t, off, (uint64_t)per * w.sz.fixed, first, 0, 1, file_size);
        }
        for (uint32_t k = 0; !t->chunked && k < per && rc == 0; k++, i++) {
            uint32_t size = size_of(&w.sz, i);
            int key = audio || !w.stss;
            if (w.stss && stss_at < w.nstss) {
                uint32_t sync = fl_get_be32(w.stss + (size_t)stss_at * 4);
                if (sync <= prev_sync)
                    return FL_EBADMSG;
                if (sync == i + 1) {
                    key = 1;
                    prev_sync = sync;
                    stss_at++;
                }
            }
            rc = push(t, off, size, dts, (int32_t)runs_next(&w.ctts), key, file_size);
            off += size;
            dts += runs_next(&w.stts);
        }
        if (rc < 0)
            return rc;
        if (rc == 1) /* cut short: the table ends here */
            return 0;
    }
    if (i < w.sz.n)
        return FL_EBADMSG; /* the chunks hold fewer samples than stsz counts */
    t->end_ticks = dts;
    *total += t->n;
    return 0;
}

/* ---- trak ---- */

static int find_tables(const struct mp4_box *stbl, struct tables *tb, struct mp4_box *stsd)
{
    size_t at = 0;
    struct mp4_box b;
    int rc;
    memset(tb, 0, sizeof(*tb));
    stsd->p = NULL;
    while ((rc = fl__mp4_box_next(stbl->p, stbl->len, &at, &b)) == 1) {
        struct mp4_box *slot = NULL;
        switch (b.type) {
        case MP4_FOURCC('s', 't', 's', 'd'):
            slot = stsd;
            break;
        case MP4_FOURCC('s', 't', 's', 'z'):
            slot = &tb->stsz;
            break;
        case MP4_FOURCC('s', 't', 'z', '2'):
            slot = &tb->stz2;
            break;
        case MP4_FOURCC('s', 't', 't', 's'):
            slot = &tb->stts;
            break;
        case MP4_FOURCC('c', 't', 't', 's'):
            slot = &tb->ctts;
            break;
        case MP4_FOURCC('s', 't', 's', 's'):
            slot = &tb->stss;
            break;
        case MP4_FOURCC('s', 't', 's', 'c'):
            slot = &tb->stsc;
            break;
        case MP4_FOURCC('s', 't', 'c', 'o'):
            slot = &tb->stco;
            break;
        case MP4_FOURCC('c', 'o', '6', '4'):
            slot = &tb->co64;
            break;
        default:
            break;
        }
        if (slot && !slot->p)
            *slot = b;
    }
    return rc < 0 || !stsd->p ? FL_EBADMSG : 0;
}

/* Fills the info track from the entry, its private data copied. */
static int track_info(struct mp4_track *t, const struct entry *e, int video, fl_demux_track *out)
{
    memset(out, 0, sizeof(*out));
    out->id = t->id;
    out->video = video;
    out->codec = e->codec;
    for (int i = 0; i < 4; i++) {
        char ch = (char)(e->type >> (24 - 8 * i));
        out->codec_name[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    if (video) {
        out->width = e->width;
        out->height = e->height;
    } else {
        out->sample_rate = e->rate;
        out->channels = e->channels;
    }
    if (e->codec == FL_CODEC_OTHER || !e->extra_len)
        return 0;
    t->extra = malloc(e->extra_len);
    if (!t->extra)
        return FL_ENOMEM;
    memcpy(t->extra, e->extra, e->extra_len);
    out->extra = t->extra;
    out->extra_len = e->extra_len;
    if (e->codec == FL_CODEC_H264) {
        out->nal_length_size = e->nal_length_size;
        out->sps = e->sps_len ? t->extra + e->sps_at : NULL;
        out->sps_len = e->sps_len;
        out->pps = e->pps_len ? t->extra + e->pps_at : NULL;
        out->pps_len = e->pps_len;
    }
    return 0;
}

/* One trak: 1 when it is a track kept (t and out filled), 0 when it is
 * not video or audio, or an error. */
static int parse_trak(const struct mp4_box *trak,
                      const struct mp4_movie *mv,
                      int64_t file_size,
                      size_t *total,
                      struct mp4_track *t,
                      fl_demux_track *out)
{
    struct mp4_box tkhd, mdia, mdhd, hdlr, minf, stbl, stsd, edts, elst;
    uint16_t width = 0, height = 0;
    if (box_find(trak, MP4_FOURCC('t', 'k', 'h', 'd'), &tkhd) != 1 ||
        box_find(trak, MP4_FOURCC('m', 'd', 'i', 'a'), &mdia) != 1 ||
        box_find(&mdia, MP4_FOURCC('h', 'd', 'l', 'r'), &hdlr) != 1 || hdlr.len < 12)
        return FL_EBADMSG;
    uint32_t handler = fl_get_be32(hdlr.p + 8);
    int video = handler == MP4_FOURCC('v', 'i', 'd', 'e');
    if (!video && handler != MP4_FOURCC('s', 'o', 'u', 'n'))
        return 0;
    t->video = video;
    uint64_t media_duration;
    if (parse_tkhd(&tkhd, &t->id, &width, &height) != 0 ||
        box_find(&mdia, MP4_FOURCC('m', 'd', 'h', 'd'), &mdhd) != 1 ||
        parse_times(&mdhd, &t->timescale, &media_duration) != 0 || t->timescale == 0 ||
        box_find(&mdia, MP4_FOURCC('m', 'i', 'n', 'f'), &minf) != 1 ||
        box_find(&minf, MP4_FOURCC('s', 't', 'b', 'l'), &stbl) != 1)
        return FL_EBADMSG;
    if (box_find(trak, MP4_FOURCC('e', 'd', 't', 's'), &edts) == 1 &&
        box_find(&edts, MP4_FOURCC('e', 'l', 's', 't'), &elst) == 1 &&
        parse_elst(&elst, mv->timescale, t) != 0)
        return FL_EBADMSG;
    struct tables tb;
    struct entry e = { 0 };
    int rc = find_tables(&stbl, &tb, &stsd);
    if (rc == 0)
        rc = parse_stsd(&stsd, video, &e);
    if (rc != 0)
        return rc;
    if (video && !e.width) {
        e.width = width;
        e.height = height;
    }
    if (!video && !e.rate)
        e.rate = t->timescale;
    if ((rc = track_info(t, &e, video, out)) != 0)
        return rc;
    t->skip = e.codec == FL_CODEC_OTHER;
    if (t->skip)
        return 1;
    struct walk w;
    if ((rc = walk_open(&tb, &w)) != 0)
        return rc;
    t->chunked = (e.codec == FL_CODEC_PCMU || e.codec == FL_CODEC_PCMA) && w.sz.fixed > 0 &&
                 w.sz.fixed <= 2;
    if ((rc = expand(t, &w, !video, file_size, total)) != 0)
        return rc;
    return 1;
}

/* mvex: mehd's duration and each trex's defaults. */
static int parse_mvex(const struct mp4_box *mvex,
                      struct mp4_movie *mv,
                      struct mp4_track *tracks,
                      size_t n)
{
    size_t at = 0;
    struct mp4_box b;
    int rc;
    while ((rc = fl__mp4_box_next(mvex->p, mvex->len, &at, &b)) == 1) {
        struct mp4_rd r = rd_of(&b);
        if (b.type == MP4_FOURCC('m', 'e', 'h', 'd')) {
            int v1 = fl__mp4_u8(&r) == 1;
            fl__mp4_skip(&r, 3);
            uint64_t d = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
            if (!r.bad && d > 0 && mv->duration_us < 0 && d < (uint64_t)INT64_MAX)
                mv->duration_us = fl__mp4_ticks_to_us((int64_t)d, mv->timescale);
        } else if (b.type == MP4_FOURCC('t', 'r', 'e', 'x')) {
            fl__mp4_skip(&r, 4);
            uint32_t id = fl__mp4_u32(&r);
            fl__mp4_skip(&r, 4); /* default_sample_description_index */
            uint32_t duration = fl__mp4_u32(&r), size = fl__mp4_u32(&r), flags = fl__mp4_u32(&r);
            if (r.bad)
                return FL_EBADMSG;
            for (size_t i = 0; i < n; i++) {
                if (tracks[i].id == id) {
                    tracks[i].trex_duration = duration;
                    tracks[i].trex_size = size;
                    tracks[i].trex_flags = flags;
                }
            }
        }
    }
    return rc;
}

int fl__mp4_moov_parse(const uint8_t *p,
                       size_t len,
                       int64_t file_size,
                       struct mp4_track *tracks,
                       size_t *ntracks,
                       struct mp4_movie *mv,
                       fl_demux_info *info)
{
    struct mp4_box moov = { 0, p, len }, b, mvex = { 0 };
    uint64_t duration;
    memset(mv, 0, sizeof(*mv));
    mv->duration_us = -1;
    if (box_find(&moov, MP4_FOURCC('m', 'v', 'h', 'd'), &b) != 1 ||
        parse_times(&b, &mv->timescale, &duration) != 0 || mv->timescale == 0)
        return FL_EBADMSG;
    if (duration > 0 && duration < (uint64_t)INT64_MAX)
        mv->duration_us = fl__mp4_ticks_to_us((int64_t)duration, mv->timescale);
    size_t at = 0;
    int rc;
    *ntracks = 0;
    while ((rc = fl__mp4_box_next(p, len, &at, &b)) == 1) {
        if (b.type == MP4_FOURCC('m', 'v', 'e', 'x')) {
            mvex = b;
            mv->fragmented = 1;
        }
        if (b.type != MP4_FOURCC('t', 'r', 'a', 'k') || *ntracks == FL_DEMUX_MAX_TRACKS)
            continue;
        struct mp4_track *t = &tracks[*ntracks];
        rc = parse_trak(&b, mv, file_size, &mv->nsamples, t, &info->tracks[*ntracks]);
        if (rc < 0) {
            (*ntracks)++; /* for fl__mp4_tracks_free */
            return rc;
        }
        if (rc == 1)
            (*ntracks)++;
        else
            fl__mp4_tracks_free(t, 1);
    }
    if (rc < 0)
        return rc;
    if (mvex.p && (rc = parse_mvex(&mvex, mv, tracks, *ntracks)) != 0)
        return rc;
    info->ntracks = *ntracks;
    if (mv->duration_us < 0 && !mv->fragmented) {
        for (size_t i = 0; i < *ntracks; i++) { /* the longest sample table */
            const struct mp4_track *t = &tracks[i];
            int64_t end =
                    fl__mp4_ticks_to_us(t->end_ticks - t->media_start, t->timescale) + t->empty_us;
            if (t->n && end > mv->duration_us)
                mv->duration_us = end;
        }
    }
    return 0;
}
