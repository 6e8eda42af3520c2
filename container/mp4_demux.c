/* container/mp4_demux.c: the MP4 demuxer (ISO/IEC 14496-12), plain and
 * fragmented, behind fl__demux_ops (container/demux.c holds the bytes).
 *
 * The file is walked a top-level box at a time by its size (32-bit,
 * 64-bit largesize, 0: to the end of the file): the moov is read whole
 * (mp4_moov.c: tracks and sample tables), an mdat or anything else is
 * stepped over, a moof is read whole and its trafs (tfhd with
 * base-data-offset, default-base-is-moof or neither; tfdt; truns with data
 * offsets, per-sample durations, sizes, flags and composition offsets, or
 * the tfhd and trex defaults) become that fragment's samples. A moov after
 * the media (ffmpeg without +faststart) is found by stepping over the mdat,
 * then the samples are read back where the table puts them.
 *
 * Order: frames come out in decode-time order across tracks (ties: the
 * lower file offset), which is how files interleave. Bytes are asked for
 * as one window from the lowest offset any track still needs (within a
 * fragment: from the moof's end, so the mdat header after it is held) to
 * the end of the frame given, so that a reader who reads ahead (HTTP)
 * never reads a byte twice; a window over MP4_WINDOW_MAX (a file whose
 * tracks are far apart) falls back to each frame's own bytes.
 *
 * Times: decode and presentation times (dts + ctts/trun composition
 * offset) in microseconds, rounded, with the edit list applied (see
 * mp4_moov.c). A fragment without tfdt starts where its track's last one
 * ended.
 *
 * Seeking (a file of known size): in a plain file, in the sample table; in
 * a fragmented one, the mfra's tfra entries of the track seeking goes by
 * (read from the end of the file through mfro, once) pick the moof, else
 * the moofs are read from the moov on (mdats stepped over) to the last one
 * whose first key frame is at or before the time. Then the track's last
 * key frame at or before the time (else its first) is where it resumes,
 * and every other track from that frame's time. The track seeking goes by
 * is the first video track fluo can send, else the first audio one. A
 * file with samples both in its moov and in fragments seeks among the
 * fragments only.
 *
 * Duration: mvhd's, else mehd's, else the longest sample table's. A
 * fragmented file that says nothing (ffmpeg's empty_moov) and whose size
 * is known is measured before the header is reported read: the first
 * moof gives each track's start, then the top-level boxes are walked to
 * the end of the file (moofs read, their trafs' tfdt and trun sample
 * durations summed; mdats stepped over by their size) for each track's
 * end. The walk starts at the first moof, or, when the mfra has a tfra for
 * every track, at the earliest of their last entries (the last fragments
 * with a sync sample; a fragment there must then carry tfdt, else the walk
 * starts over from the first moof). As ffprobe's format duration: the
 * latest end minus the earliest start, each track shifted by its first
 * sample's composition offset (pts, not dts). The mfra read is kept for
 * seeking. With the size unknown: -1.
 *
 * Memory: the moov's tables as mp4_moov.c says; a fragment's samples in
 * per-track arrays that grow to the largest fragment and are reused (no
 * allocation per frame); the mfra's entries for one track. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/wire.h"
#include "container/container_int.h"
#include "container/mp4_demux_int.h"

#define MP4_WINDOW_MAX (32u << 20)
/* Offsets past this are refused, so sums of an offset and a length never
 * overflow. */
#define MP4_MAX_OFFSET ((int64_t)1 << 62)

#define BOX(a, b, c, d) MP4_FOURCC(a, b, c, d)

#define TFHD_BASE_DATA_OFFSET  0x000001u
#define TFHD_SDI               0x000002u
#define TFHD_DEFAULT_DURATION  0x000008u
#define TFHD_DEFAULT_SIZE      0x000010u
#define TFHD_DEFAULT_FLAGS     0x000020u
#define TFHD_DEFAULT_BASE_MOOF 0x020000u
#define TRUN_DATA_OFFSET       0x000001u
#define TRUN_FIRST_FLAGS       0x000004u
#define TRUN_DURATION          0x000100u
#define TRUN_SIZE              0x000200u
#define TRUN_FLAGS             0x000400u
#define TRUN_CTO               0x000800u
#define SAMPLE_IS_NON_SYNC     0x010000u

enum dur_step {
    DUR_NONE,
    DUR_FIRST, /* the boxes after the moov up to the first moof */
    DUR_MFRO,  /* the last 16 bytes: mfro */
    DUR_MFRA,
    DUR_LAST, /* the walk from the mfra's last fragments */
    DUR_WALK, /* the walk from the first moof */
};

enum seek_step {
    SEEK_NONE,
    SEEK_START,
    SEEK_MFRO, /* the last 16 bytes: mfro, the mfra's size */
    SEEK_MFRA,
    SEEK_SCAN, /* moofs from the moov on */
};

struct ra {
    int64_t time; /* ticks of the track's timescale */
    int64_t moof;
};

/* One track in the last moof parsed: its first traf's start (ticks) and
 * whether it had tfdt, the first sample's composition offset, where its
 * last traf ended. */
struct frag_times {
    int seen, tfdt;
    int32_t cto0;
    int64_t start, end;
};

struct mp4 {
    struct mp4_track tracks[FL_DEMUX_MAX_TRACKS];
    size_t ntracks;
    struct frag_times ft[FL_DEMUX_MAX_TRACKS];
    int times_only; /* parse_moof keeps no samples (the duration pass) */
    struct mp4_movie movie;
    int have_moov;
    int done;           /* the last box ran to the end of a file of unknown size */
    int64_t pos;        /* the next top-level box */
    int64_t after_moov; /* the top-level box after the moov */
    int in_fragment;    /* the samples held are the fragment whose moof ends at pos */
    size_t ref;         /* the track seeking goes by */
    /* seeking */
    enum seek_step seek;
    int64_t seek_us;
    int refine;      /* the next moof read is where the seek lands */
    int refine_mfra; /* ... as the mfra said (not a moof there: scan) */
    int64_t scan_pos, scan_best, scan_first;
    uint32_t mfra_size;
    int mfra; /* 0 not looked for, 1 read, -1 none or unusable */
    struct ra *ra;
    size_t nra;
    /* the duration pass: per track its start and end (us; INT64_MAX and
     * INT64_MIN until known), the composition offset its times take */
    enum dur_step dur;
    int64_t dur_pos, dur_first, dur_from;
    unsigned dur_walked; /* tracks met since the walk started: a bit each */
    int64_t dur_start[FL_DEMUX_MAX_TRACKS], dur_end[FL_DEMUX_MAX_TRACKS];
    int32_t dur_shift[FL_DEMUX_MAX_TRACKS];
};

/* ---- top-level boxes ---- */

struct hdr {
    uint32_t type;
    int64_t at, body, end; /* end: INT64_MAX for "to the end" of an unknown size */
};

static int64_t file_end(const fl__demux_io *io)
{
    if (io->size >= 0)
        return io->size;
    return io->end;
}

/* The box header at pos: 0; FL_EOF when the file ends there (or within a
 * header); FL_EAGAIN; FL_EBADMSG. */
static int box_header(fl__demux_io *io, int64_t pos, struct hdr *h)
{
    const uint8_t *p;
    size_t got;
    int rc = fl__demux_get_some(io, pos, 16, &p, &got);
    if (rc != 0)
        return rc;
    if (got < 8)
        return FL_EOF;
    uint64_t size = fl_get_be32(p);
    int64_t hdr = 8;
    if (size == 1) {
        if (got < 16)
            return FL_EOF;
        size = (uint64_t)fl_get_be32(p + 8) << 32 | fl_get_be32(p + 12);
        hdr = 16;
    }
    h->type = fl_get_be32(p + 4);
    h->at = pos;
    h->body = pos + hdr;
    if (size == 0) {
        int64_t end = file_end(io);
        h->end = end >= 0 ? end : INT64_MAX;
        return 0;
    }
    if (size < (uint64_t)hdr || size > (uint64_t)(MP4_MAX_OFFSET - pos))
        return FL_EBADMSG;
    h->end = pos + (int64_t)size;
    return 0;
}

/* The body of a box read whole: 0 and *p; FL_EOF when the file ends
 * inside it; FL_EBADMSG when it is empty, too large or runs to an unknown
 * end. The range asked for starts at the header (so that a retry finds
 * the header held). */
static int box_body(fl__demux_io *io, const struct hdr *h, const uint8_t **p, size_t *len)
{
    if (h->end == INT64_MAX || h->end - h->body <= 0 || h->end - h->at > FL_DEMUX_MAX_UNIT)
        return FL_EBADMSG;
    *len = (size_t)(h->end - h->body);
    int rc = fl__demux_get(io, h->at, (size_t)(h->end - h->at), p);
    if (rc == 0)
        *p += h->body - h->at;
    return rc;
}

/* ---- tracks and times ---- */

static int64_t to_us(const struct mp4_track *t, int64_t ticks)
{
    /* media_start >= 0 (mp4_moov.c); a time before INT64_MIN stays there */
    int64_t rel = ticks < INT64_MIN + t->media_start ? INT64_MIN : ticks - t->media_start;
    int64_t us = fl__mp4_ticks_to_us(rel, t->timescale);
    if (us > INT64_MAX - t->empty_us) /* beyond 292,000 years */
        return INT64_MAX;
    return us + t->empty_us;
}

static int64_t pts_us(const struct mp4_track *t, const struct mp4_sample *s)
{
    return to_us(t, s->dts + s->cto);
}

static int has_samples(const struct mp4 *m)
{
    for (size_t i = 0; i < m->ntracks; i++)
        if (m->tracks[i].next < m->tracks[i].n)
            return 1;
    return 0;
}

static void clear_samples(struct mp4 *m)
{
    for (size_t i = 0; i < m->ntracks; i++)
        m->tracks[i].n = m->tracks[i].next = 0;
    m->in_fragment = 0;
}

static struct mp4_track *track_by_id(struct mp4 *m, uint32_t id)
{
    for (size_t i = 0; i < m->ntracks; i++)
        if (m->tracks[i].id == id)
            return &m->tracks[i];
    return NULL;
}

/* ---- moof ---- */

struct traf_defaults {
    uint32_t duration, size, flags;
};

/* One trun: its samples appended to t (NULL: a track not read, only its
 * data walked). *data: where its data starts without a data offset, then
 * where it ended. */
static int parse_trun(const struct mp4_box *b,
                      struct mp4_track *t,
                      int audio,
                      const struct traf_defaults *d,
                      int64_t base,
                      int64_t *data,
                      int64_t *dts,
                      size_t *total,
                      int32_t *cto0)
{
    struct mp4_rd r = { .p = b->p, .len = b->len };
    uint32_t flags = fl__mp4_u32(&r) & 0xffffffu;
    uint32_t count = fl__mp4_u32(&r);
    int64_t off = *data;
    if (flags & TRUN_DATA_OFFSET)
        off = base + (int32_t)fl__mp4_u32(&r);
    uint32_t first_flags = (flags & TRUN_FIRST_FLAGS) ? fl__mp4_u32(&r) : d->flags;
    size_t per = 4u * (((flags & TRUN_DURATION) != 0) + ((flags & TRUN_SIZE) != 0) +
                       ((flags & TRUN_FLAGS) != 0) + ((flags & TRUN_CTO) != 0));
    if (r.bad || off < 0 || off > MP4_MAX_OFFSET || count > MP4_MAX_SAMPLES - *total ||
        (per && count > (r.len - r.at) / per))
        return FL_EBADMSG;
    if (t && fl__mp4_samples_reserve(t, t->n + count) != 0)
        return t->n + count > MP4_MAX_SAMPLES ? FL_EBADMSG : FL_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t duration = (flags & TRUN_DURATION) ? fl__mp4_u32(&r) : d->duration;
        uint32_t size = (flags & TRUN_SIZE) ? fl__mp4_u32(&r) : d->size;
        uint32_t sflags = (flags & TRUN_FLAGS) ? fl__mp4_u32(&r) : i == 0 ? first_flags : d->flags;
        int32_t cto = (flags & TRUN_CTO) ? (int32_t)fl__mp4_u32(&r) : 0;
        if (size > FL_DEMUX_MAX_UNIT || off > MP4_MAX_OFFSET)
            return FL_EBADMSG;
        if (cto0 && i == 0)
            *cto0 = cto;
        if (t && size > 0)
            t->s[t->n++] = (struct mp4_sample){ .off = off,
                                                .dts = *dts,
                                                .size = size,
                                                .key = audio || !(sflags & SAMPLE_IS_NON_SYNC),
                                                .cto = cto };
        off += size;
        *dts += duration;
    }
    *total += count;
    *data = off;
    return 0;
}

/* One traf. *data_end: where the previous traf's data ended (the base of
 * one that says nothing), then where this one's did. */
static int parse_traf(struct mp4 *m,
                      const struct mp4_box *traf,
                      int64_t moof_at,
                      int64_t *data_end,
                      size_t *total)
{
    struct mp4_box b;
    size_t at = 0;
    int rc;
    while ((rc = fl__mp4_box_next(traf->p, traf->len, &at, &b)) == 1 &&
           b.type != BOX('t', 'f', 'h', 'd'))
        ;
    if (rc != 1)
        return FL_EBADMSG;
    struct mp4_rd r = { .p = b.p, .len = b.len };
    uint32_t flags = fl__mp4_u32(&r) & 0xffffffu;
    struct mp4_track *t = track_by_id(m, fl__mp4_u32(&r));
    struct traf_defaults d = { 0 };
    if (t)
        d = (struct traf_defaults){ t->trex_duration, t->trex_size, t->trex_flags };
    int64_t base = *data_end;
    if (flags & TFHD_BASE_DATA_OFFSET) {
        uint64_t v = fl__mp4_u64(&r);
        if (v > (uint64_t)MP4_MAX_OFFSET)
            return FL_EBADMSG;
        base = (int64_t)v;
    } else if (flags & TFHD_DEFAULT_BASE_MOOF) {
        base = moof_at;
    }
    if (flags & TFHD_SDI)
        fl__mp4_skip(&r, 4);
    if (flags & TFHD_DEFAULT_DURATION)
        d.duration = fl__mp4_u32(&r);
    if (flags & TFHD_DEFAULT_SIZE)
        d.size = fl__mp4_u32(&r);
    if (flags & TFHD_DEFAULT_FLAGS)
        d.flags = fl__mp4_u32(&r);
    if (r.bad)
        return FL_EBADMSG;
    int64_t dts = t ? t->frag_dts : 0;
    struct mp4_box tfdt = { 0 };
    for (at = 0; (rc = fl__mp4_box_next(traf->p, traf->len, &at, &b)) == 1;)
        if (b.type == BOX('t', 'f', 'd', 't'))
            tfdt = b;
    if (rc < 0)
        return rc;
    if (tfdt.p) {
        r = (struct mp4_rd){ .p = tfdt.p, .len = tfdt.len };
        int v1 = fl__mp4_u8(&r) == 1;
        fl__mp4_skip(&r, 3);
        uint64_t v = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
        if (r.bad || v > (uint64_t)MP4_MAX_OFFSET)
            return FL_EBADMSG;
        dts = (int64_t)v;
    }
    struct mp4_track *keep = t && !t->skip && !m->times_only ? t : NULL;
    int audio = keep && !keep->video;
    struct frag_times *ft = t ? &m->ft[t - m->tracks] : NULL;
    int first = ft && !ft->seen; /* the track's first traf in this moof */
    if (first)
        *ft = (struct frag_times){ .seen = 1, .tfdt = tfdt.p != NULL, .start = dts };
    int64_t data = base;
    for (at = 0; (rc = fl__mp4_box_next(traf->p, traf->len, &at, &b)) == 1;) {
        if (b.type != BOX('t', 'r', 'u', 'n'))
            continue;
        size_t before = *total;
        rc = parse_trun(&b, keep, audio, &d, base, &data, &dts, total, first ? &ft->cto0 : NULL);
        if (rc != 0)
            return rc;
        if (*total > before)
            first = 0;
        if (dts > MP4_MAX_OFFSET)
            return FL_EBADMSG;
    }
    if (rc < 0)
        return rc;
    if (t)
        t->frag_dts = ft->end = dts;
    *data_end = data;
    return 0;
}

static int parse_moof(struct mp4 *m, const uint8_t *p, size_t len, int64_t moof_at)
{
    if (!m->times_only)
        clear_samples(m);
    memset(m->ft, 0, sizeof(m->ft));
    size_t at = 0, total = 0;
    int64_t data_end = moof_at;
    struct mp4_box b;
    int rc;
    while ((rc = fl__mp4_box_next(p, len, &at, &b)) == 1) {
        if (b.type == BOX('t', 'r', 'a', 'f') &&
            (rc = parse_traf(m, &b, moof_at, &data_end, &total)) != 0)
            break;
    }
    return rc < 0 ? rc : 0;
}

/* ---- seeking ---- */

/* Where the samples held resume for a seek to `us`: the reference track's
 * last key frame at or before it (else its first key frame, else its first
 * sample), every other track from that frame's time. */
static void seek_within(struct mp4 *m, int64_t us)
{
    struct mp4_track *r = &m->tracks[m->ref];
    size_t at = r->n, first_key = r->n;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->s[i].key)
            continue;
        if (first_key == r->n)
            first_key = i;
        if (pts_us(r, &r->s[i]) <= us &&
            (at == r->n || pts_us(r, &r->s[i]) >= pts_us(r, &r->s[at])))
            at = i;
    }
    if (at == r->n)
        at = first_key < r->n ? first_key : 0;
    int64_t key_us = at < r->n ? pts_us(r, &r->s[at]) : us;
    for (size_t j = 0; j < m->ntracks; j++) {
        struct mp4_track *t = &m->tracks[j];
        if (t == r) {
            t->next = at;
            continue;
        }
        for (t->next = 0; t->next < t->n && pts_us(t, &t->s[t->next]) < key_us; t->next++)
            ;
    }
}

/* Goes to the moof at `at`; the seek ends when it is read. */
static void seek_to_moof(struct mp4 *m, int64_t at, int from_mfra)
{
    clear_samples(m);
    m->done = 0;
    m->pos = at;
    m->refine = 1;
    m->refine_mfra = from_mfra;
    m->seek = SEEK_NONE;
}

/* The mfra's tfra of the reference track into m->ra: 0, or FL_EBADMSG
 * when it is not there or does not parse (the moofs are scanned then). */
static int parse_mfra(struct mp4 *m, const uint8_t *p, size_t len)
{
    struct mp4_box b;
    size_t at = 0;
    int rc;
    while ((rc = fl__mp4_box_next(p, len, &at, &b)) == 1) {
        if (b.type != BOX('t', 'f', 'r', 'a'))
            continue;
        struct mp4_rd r = { .p = b.p, .len = b.len };
        int v1 = fl__mp4_u8(&r) == 1;
        fl__mp4_skip(&r, 3);
        uint32_t id = fl__mp4_u32(&r), sizes = fl__mp4_u32(&r), n = fl__mp4_u32(&r);
        size_t skip = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3;
        size_t each = (v1 ? 16 : 8) + skip;
        if (r.bad || n > (r.len - r.at) / each)
            return FL_EBADMSG;
        if (id != m->tracks[m->ref].id || n == 0)
            continue;
        m->ra = malloc(n * sizeof(*m->ra));
        if (!m->ra)
            return FL_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t time = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
            uint64_t moof = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
            fl__mp4_skip(&r, skip);
            if (time > (uint64_t)MP4_MAX_OFFSET || moof > (uint64_t)MP4_MAX_OFFSET)
                return FL_EBADMSG;
            m->ra[m->nra++] = (struct ra){ (int64_t)time, (int64_t)moof };
        }
        return 0;
    }
    return FL_EBADMSG;
}

static int seek_mfra(struct mp4 *m, fl__demux_io *io)
{
    const uint8_t *p;
    if (m->seek == SEEK_MFRO) {
        int rc = io->size >= 16 ? fl__demux_get(io, io->size - 16, 16, &p) : FL_EOF;
        if (rc == FL_EAGAIN)
            return rc;
        m->mfra_size =
                rc == 0 && fl_get_be32(p) == 16 && fl_get_be32(p + 4) == BOX('m', 'f', 'r', 'o')
                        ? fl_get_be32(p + 12)
                        : 0;
        if (m->mfra_size < 24 || m->mfra_size > io->size || m->mfra_size > FL_DEMUX_MAX_UNIT) {
            m->mfra = -1;
            m->seek = SEEK_START;
            return 0;
        }
        m->seek = SEEK_MFRA;
    }
    int rc = fl__demux_get(io, io->size - m->mfra_size, m->mfra_size, &p);
    if (rc == FL_EAGAIN)
        return rc;
    rc = rc == 0 && fl_get_be32(p) == m->mfra_size && fl_get_be32(p + 4) == BOX('m', 'f', 'r', 'a')
                 ? parse_mfra(m, p + 8, m->mfra_size - 8)
                 : FL_EBADMSG;
    if (rc == FL_ENOMEM)
        return rc;
    m->mfra = rc == 0 ? 1 : -1;
    m->seek = SEEK_START;
    return 0;
}

/* One box of the scan for the moof to seek to. */
static int seek_scan(struct mp4 *m, fl__demux_io *io)
{
    struct hdr h;
    int rc = box_header(io, m->scan_pos, &h);
    int last = rc == FL_EOF;
    if (rc == 0 && h.type == BOX('m', 'o', 'o', 'f')) {
        const uint8_t *p;
        size_t len;
        rc = box_body(io, &h, &p, &len);
        last = rc == FL_EOF;
        if (rc == 0)
            rc = parse_moof(m, p, len, h.at);
        if (rc == 0) {
            const struct mp4_track *r = &m->tracks[m->ref];
            size_t i = 0;
            while (i < r->n && !r->s[i].key)
                i++;
            if (m->scan_first < 0)
                m->scan_first = h.at;
            if (i < r->n && pts_us(r, &r->s[i]) <= m->seek_us)
                m->scan_best = h.at;
            else if (i < r->n)
                last = 1;
        }
    }
    if (rc == 0 && !last) {
        m->scan_pos = h.end;
        last = h.end == INT64_MAX;
    }
    if (last) {
        int64_t at = m->scan_best >= 0 ? m->scan_best : m->scan_first;
        if (at < 0) { /* no moof: the end */
            clear_samples(m);
            m->done = 1;
            m->seek = SEEK_NONE;
            return 0;
        }
        seek_to_moof(m, at, 0);
        return 0;
    }
    return rc;
}

static int seek_step(struct mp4 *m, fl__demux_io *io)
{
    switch (m->seek) {
    case SEEK_START:
        if (!m->movie.fragmented) {
            seek_within(m, m->seek_us);
            m->seek = SEEK_NONE;
            return 0;
        }
        if (m->mfra == 0) {
            m->seek = SEEK_MFRO;
            return 0;
        }
        if (m->mfra == 1) {
            const struct mp4_track *r = &m->tracks[m->ref];
            size_t at = 0;
            for (size_t i = 1; i < m->nra; i++)
                if (to_us(r, m->ra[i].time) <= m->seek_us)
                    at = i;
            seek_to_moof(m, m->ra[at].moof, 1);
            return 0;
        }
        m->seek = SEEK_SCAN;
        m->scan_pos = m->after_moov;
        m->scan_best = m->scan_first = -1;
        return 0;
    case SEEK_MFRO:
    case SEEK_MFRA:
        return seek_mfra(m, io);
    case SEEK_SCAN:
        return seek_scan(m, io);
    case SEEK_NONE:
        break;
    }
    return 0;
}

static int mp4_seek(void *impl, fl__demux_io *io, int64_t pts_us_)
{
    (void)io;
    struct mp4 *m = impl;
    m->seek = SEEK_START;
    m->seek_us = pts_us_;
    m->refine = 0;
    return 0;
}

/* ---- the duration of a fragmented file ---- */

static void dur_reset(struct mp4 *m)
{
    for (size_t i = 0; i < m->ntracks; i++) {
        m->dur_start[i] = INT64_MAX;
        m->dur_end[i] = INT64_MIN;
        m->dur_shift[i] = 0;
        m->tracks[i].frag_dts = 0;
    }
    m->dur_walked = 0;
}

/* The times of the moof just parsed: FL_EBADMSG when the walk from the
 * mfra meets a track for the first time in a traf without tfdt (its start
 * would be wrong). */
static int dur_take(struct mp4 *m)
{
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct frag_times *ft = &m->ft[i];
        const struct mp4_track *t = &m->tracks[i];
        if (!ft->seen)
            continue;
        if (m->dur == DUR_LAST && !(m->dur_walked & (1u << i)) && !ft->tfdt)
            return FL_EBADMSG;
        m->dur_walked |= 1u << i;
        if (m->dur_start[i] == INT64_MAX) {
            m->dur_shift[i] = ft->cto0;
            m->dur_start[i] = to_us(t, ft->start + ft->cto0);
        }
        int64_t end = to_us(t, ft->end + m->dur_shift[i]);
        if (end > m->dur_end[i])
            m->dur_end[i] = end;
    }
    return 0;
}

/* The latest end minus the earliest start; -1 without both. The walk's
 * state is left for reading (fragments from the first on). */
static void dur_finish(struct mp4 *m, fl_demux_info *info, int *ready)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < m->ntracks; i++) {
        if (m->dur_start[i] < lo)
            lo = m->dur_start[i];
        if (m->dur_end[i] > hi)
            hi = m->dur_end[i];
        m->tracks[i].frag_dts = 0;
    }
    if (lo != INT64_MAX && hi > lo && (lo >= 0 || hi <= INT64_MAX + lo))
        m->movie.duration_us = hi - lo;
    m->times_only = 0;
    m->dur = DUR_NONE;
    info->duration_us = m->movie.duration_us;
    *ready = 1;
}

static void dur_walk_from_first(struct mp4 *m)
{
    dur_reset(m);
    m->dur = DUR_WALK;
    m->dur_pos = m->dur_from = m->dur_first;
}

/* The mfra's tfras: the earliest of their last entries into *from, when
 * every track has one; FL_EBADMSG otherwise. */
static int dur_mfra_from(const struct mp4 *m, const uint8_t *p, size_t len, int64_t *from)
{
    struct mp4_box b;
    size_t at = 0;
    unsigned found = 0;
    int rc;
    *from = INT64_MAX;
    while ((rc = fl__mp4_box_next(p, len, &at, &b)) == 1) {
        if (b.type != BOX('t', 'f', 'r', 'a'))
            continue;
        struct mp4_rd r = { .p = b.p, .len = b.len };
        int v1 = fl__mp4_u8(&r) == 1;
        fl__mp4_skip(&r, 3);
        uint32_t id = fl__mp4_u32(&r), sizes = fl__mp4_u32(&r), n = fl__mp4_u32(&r);
        size_t skip = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3;
        size_t each = (v1 ? 16 : 8) + skip;
        if (r.bad || n > (r.len - r.at) / each)
            return FL_EBADMSG;
        const struct mp4_track *t = NULL;
        for (size_t i = 0; i < m->ntracks; i++)
            if (m->tracks[i].id == id)
                t = &m->tracks[i];
        if (!t || n == 0)
            continue;
        fl__mp4_skip(&r, (n - 1) * each + (v1 ? 8 : 4)); /* the last entry's moof */
        uint64_t moof = v1 ? fl__mp4_u64(&r) : fl__mp4_u32(&r);
        if (r.bad || moof < (uint64_t)m->dur_first)
            return FL_EBADMSG;
        if ((int64_t)moof < *from)
            *from = (int64_t)moof;
        found |= 1u << (t - m->tracks);
    }
    if (rc < 0 || found != (1u << m->ntracks) - 1)
        return FL_EBADMSG;
    return 0;
}

/* mfro, then the mfra: where the walk starts (from the first moof when
 * there is none or it does not serve). Its reference track's entries are
 * kept for seeking, as seek_mfra would. */
static int dur_mfra(struct mp4 *m, fl__demux_io *io)
{
    const uint8_t *p;
    int rc;
    if (m->dur == DUR_MFRO) {
        rc = io->size >= 16 ? fl__demux_get(io, io->size - 16, 16, &p) : FL_EOF;
        if (rc == FL_EAGAIN)
            return rc;
        m->mfra_size =
                rc == 0 && fl_get_be32(p) == 16 && fl_get_be32(p + 4) == BOX('m', 'f', 'r', 'o')
                        ? fl_get_be32(p + 12)
                        : 0;
        if (m->mfra_size < 24 || m->mfra_size > io->size || m->mfra_size > FL_DEMUX_MAX_UNIT) {
            m->mfra = -1;
            dur_walk_from_first(m);
            return 0;
        }
        m->dur = DUR_MFRA;
    }
    rc = fl__demux_get(io, io->size - m->mfra_size, m->mfra_size, &p);
    if (rc == FL_EAGAIN)
        return rc;
    int ok = rc == 0 && fl_get_be32(p) == m->mfra_size &&
             fl_get_be32(p + 4) == BOX('m', 'f', 'r', 'a');
    int64_t from = -1;
    if (ok && dur_mfra_from(m, p + 8, m->mfra_size - 8, &from) != 0)
        from = -1;
    rc = ok ? parse_mfra(m, p + 8, m->mfra_size - 8) : FL_EBADMSG;
    if (rc == FL_ENOMEM)
        return rc;
    m->mfra = rc == 0 ? 1 : -1;
    if (from < 0) {
        dur_walk_from_first(m);
        return 0;
    }
    m->dur = DUR_LAST;
    m->dur_pos = m->dur_from = from;
    m->dur_walked = 0;
    return 0;
}

/* One top-level box of a walk: a moof's times taken, anything else
 * stepped over by its size. The first moof (DUR_FIRST) ends that step;
 * the end of the file, or a box that does not parse, ends the walk. */
static int dur_walk(struct mp4 *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    struct hdr h;
    int rc = box_header(io, m->dur_pos, &h);
    if (rc == 0 && m->dur == DUR_LAST && h.at == m->dur_from && h.type != BOX('m', 'o', 'o', 'f'))
        rc = FL_EBADMSG; /* the mfra points elsewhere */
    int moof = rc == 0 && h.type == BOX('m', 'o', 'o', 'f');
    if (moof) {
        const uint8_t *p;
        size_t len;
        rc = box_body(io, &h, &p, &len);
        if (rc == 0)
            rc = parse_moof(m, p, len, h.at);
        if (rc == 0)
            rc = dur_take(m);
    }
    if (rc == FL_EAGAIN || rc == FL_ENOMEM)
        return rc;
    if (rc == 0 && moof && m->dur == DUR_FIRST) {
        m->dur_first = h.at;
        m->dur = DUR_MFRO;
        return 0;
    }
    if (rc == 0) {
        m->dur_pos = h.end;
        return 0;
    }
    if (m->dur == DUR_LAST && rc != FL_EOF)
        dur_walk_from_first(m);
    else
        dur_finish(m, info, ready);
    return 0;
}

static int dur_step(struct mp4 *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    if (m->dur == DUR_MFRO || m->dur == DUR_MFRA)
        return dur_mfra(m, io);
    return dur_walk(m, io, info, ready);
}

/* ---- reading ---- */

/* The next frame of the samples held: the earliest decode time. */
static int emit(struct mp4 *m, fl__demux_io *io, fl_demux_frame *out)
{
    size_t pick = m->ntracks;
    int64_t pick_us = 0, lo = INT64_MAX;
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct mp4_track *t = &m->tracks[i];
        if (t->next >= t->n)
            continue;
        const struct mp4_sample *s = &t->s[t->next];
        int64_t us = to_us(t, s->dts);
        if (pick == m->ntracks || us < pick_us ||
            (us == pick_us && s->off < m->tracks[pick].s[m->tracks[pick].next].off)) {
            pick = i;
            pick_us = us;
        }
        if (s->off < lo)
            lo = s->off;
    }
    struct mp4_track *t = &m->tracks[pick];
    const struct mp4_sample *s = &t->s[t->next];
    if (m->in_fragment && m->pos < lo)
        lo = m->pos;
    int64_t end = s->off + s->size;
    if (end - lo > (int64_t)MP4_WINDOW_MAX)
        lo = s->off;
    const uint8_t *p;
    int rc = fl__demux_get(io, lo, (size_t)(end - lo), &p);
    if (rc != 0)
        return rc; /* FL_EOF: the file is cut inside this frame */
    *out = (fl_demux_frame){ .track = (unsigned)pick,
                             .pts_us = pts_us(t, s),
                             .dts_us = pick_us,
                             .key = s->key,
                             .data = p + (s->off - lo),
                             .len = s->size };
    t->next++;
    return 1;
}

static int read_moov(struct mp4 *m,
                     fl__demux_io *io,
                     const struct hdr *h,
                     fl_demux_info *info,
                     int *ready)
{
    const uint8_t *p;
    size_t len;
    int rc = box_body(io, h, &p, &len);
    if (rc != 0)
        return rc == FL_EOF ? FL_EBADMSG : rc;
    rc = fl__mp4_moov_parse(p, len, io->size, m->tracks, &m->ntracks, &m->movie, info);
    if (rc != 0)
        return rc;
    m->have_moov = 1;
    m->after_moov = h->end;
    m->ref = 0;
    for (size_t i = m->ntracks; i-- > 0;) /* the first video track to send, else audio */
        if (!m->tracks[i].skip &&
            (m->tracks[i].video || m->tracks[m->ref].skip || !m->tracks[m->ref].video))
            m->ref = i;
    info->duration_us = m->movie.duration_us;
    info->seekable =
            io->size >= 0 && m->ntracks > 0 && (m->movie.nsamples > 0 || m->movie.fragmented);
    if (m->movie.fragmented && m->movie.duration_us < 0 && io->size >= 0 && m->ntracks > 0) {
        dur_reset(m); /* measured first: ready then */
        m->times_only = 1;
        m->dur = DUR_FIRST;
        m->dur_pos = h->end;
        return 0;
    }
    *ready = 1;
    return 0;
}

/* One top-level box at m->pos. */
static int top_step(struct mp4 *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    struct hdr h;
    int rc = m->done ? FL_EOF : box_header(io, m->pos, &h);
    if (rc == FL_EOF)
        return m->have_moov ? FL_EOF : FL_EBADMSG;
    if (rc != 0)
        return rc;
    if (m->refine && h.type != BOX('m', 'o', 'o', 'f')) {
        m->refine = 0; /* the mfra pointed elsewhere: scan instead */
        if (m->refine_mfra) {
            m->mfra = -1;
            m->seek = SEEK_START;
            return 0;
        }
    }
    if (h.type == BOX('m', 'o', 'o', 'v') && !m->have_moov) {
        if ((rc = read_moov(m, io, &h, info, ready)) != 0)
            return rc;
    } else if (h.type == BOX('m', 'o', 'o', 'f') && m->have_moov) {
        const uint8_t *p;
        size_t len;
        if ((rc = box_body(io, &h, &p, &len)) != 0)
            return rc; /* FL_EOF: cut inside the moof */
        if ((rc = parse_moof(m, p, len, h.at)) != 0)
            return rc;
        m->in_fragment = 1;
        if (m->refine)
            seek_within(m, m->seek_us);
        m->refine = 0;
    } else if (h.type == BOX('m', 'o', 'o', 'f')) {
        return FL_EBADMSG; /* a fragment before the moov */
    }
    m->pos = h.end;
    m->done = h.end == INT64_MAX;
    return 0;
}

static int mp4_read(void *impl,
                    fl__demux_io *io,
                    fl_demux_info *info,
                    int *ready,
                    fl_demux_frame *out)
{
    struct mp4 *m = impl;
    for (;;) {
        int rc;
        if (m->dur != DUR_NONE)
            rc = dur_step(m, io, info, ready);
        else if (m->seek != SEEK_NONE)
            rc = seek_step(m, io);
        else if (has_samples(m))
            return emit(m, io, out);
        else if (m->have_moov && !m->movie.fragmented)
            return FL_EOF;
        else
            rc = top_step(m, io, info, ready);
        if (rc != 0)
            return rc;
    }
}

static void mp4_destroy(void *impl)
{
    struct mp4 *m = impl;
    fl__mp4_tracks_free(m->tracks, m->ntracks);
    free(m->ra);
    free(m);
}

static const fl__demux_ops mp4_demux_ops = {
    .read = mp4_read,
    .seek = mp4_seek,
    .destroy = mp4_destroy,
};

int fl__mp4_demux_create(void **impl, const fl__demux_ops **ops)
{
    struct mp4 *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    *impl = m;
    *ops = &mp4_demux_ops;
    return 0;
}
