/* The WebM/Matroska demuxer (FL_DEMUX_MATROSKA) behind fl_demux: EBML
 * (RFC 8794) and Matroska (RFC 9559) read through demux.c's byte window.
 *
 * The walk:
 *
 *     EBML header (DocType "webm" or "matroska")
 *     Segment (known or unknown size)
 *       top-level elements up to the first Cluster: SeekHead (where Info,
 *       Tracks and Cues are), Info (TimestampScale, Duration), Tracks,
 *       Cues (when before the clusters); others skipped by size
 *       -- at the first Cluster: what SeekHead names and was not met yet
 *          is read where it is (Tracks, Info; Cues when the file size is
 *          known), then the header is ready --
 *       Cluster: Timestamp, SimpleBlock, BlockGroup (Block, ReferenceBlock:
 *       a block that refers to another is not a key frame); a Cluster of
 *       unknown size ends at the next top-level ID
 *
 * Each step reads one element whole (its head, then head and data in one
 * fl__demux_get) and changes the state only once it has the bytes, so a
 * step cut short by FL_EAGAIN is run again from its start. A block's
 * frames (several when laced: Xiph, fixed or EBML lacing) are kept as
 * offsets into the block, whose bytes are asked for again for each frame
 * (they are still in the window): the frames point into the window, no
 * copy.
 *
 * Times: (Cluster Timestamp + the block's relative timestamp) times
 * TimestampScale, less the track's CodecDelay (Opus: the first packets
 * fall before 0, as Matroska asks), in microseconds. A laced frame after
 * the first is later by the frames before it: the track's DefaultDuration,
 * else an Opus packet's own length, else a G.711 frame's bytes. Matroska
 * stores presentation times: dts_us is pts_us (H.264 with B-frames gives
 * its frames in decode order with their presentation times).
 *
 * Seeking: with Cues, the cluster of the last cue at or before the time
 * (cues of the first video track when it has any); without, the clusters
 * are scanned from the first (their heads and Timestamps only) for the
 * last that starts at or before it. A cluster may hold several key frames
 * (ffmpeg's hold up to 5 s): from there the blocks' heads are walked, their
 * data skipped, to the last key frame of the first video track at or
 * before the time, and reading starts at that block inside its cluster
 * (with the blocks of its time the file holds just before it). Then each
 * video track's frames are dropped up to its first key frame, and every
 * track's frames before that key frame's time (audio only: the frames
 * that end at or before the time).
 *
 * Memory: the tracks' CodecPrivate copies and the cue table (at most
 * MAX_CUES entries); the window is demux.c's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"
#include "container/container_int.h"
#include "container/mkv_ids.h"
#include "container/webm_int.h"

FL_LOG_TAG("mkvd");

#define HEAD_MAX        12                     /* a 4-byte ID and an 8-byte size */
#define EBML_HEADER_MAX 4096                   /* the EBML header's data */
#define LACED_MAX       256                    /* frames in one block */
#define MAX_CUES        (1u << 20)             /* entries kept (16 MiB) */
#define DEFAULT_SCALE   1000000                /* ns per tick: 1 ms */
#define MAX_SCALE       INT64_C(1000000000000) /* a tick of at most 1000 s */
#define MAX_DELAY_NS    INT64_C(60000000000)   /* a CodecDelay, a DefaultDuration */
#define MAX_TICKS       (INT64_MAX / 4)
#define SCAN_PEEK       64 /* a cluster's first bytes, for its Timestamp */
#define WALK_RUN        32 /* blocks a seek's walk remembers */
#define NO_TIME         INT64_MIN

enum stage {
    S_EBML,    /* the EBML header */
    S_SEGMENT, /* the Segment's head */
    S_TOP,     /* top-level elements before the first Cluster */
    S_DETOUR,  /* what SeekHead names, read where it is */
    S_BODY,    /* clusters */
    S_SCAN,    /* a seek without Cues: looking for the cluster */
    S_WALK,    /* a seek: block heads from the cluster on, for the key frame */
};

typedef struct mtrack {
    uint64_t number;
    int64_t delay_ns;   /* CodecDelay */
    int64_t default_ns; /* DefaultDuration, 0: none */
    int need_key;       /* after a seek: drop frames up to a key frame */
    uint8_t *priv;      /* CodecPrivate, ours */
} mtrack;

typedef struct cue {
    int64_t ticks;
    int64_t pos; /* file offset of the cluster */
    uint64_t track;
} cue;

typedef struct laced {
    uint32_t off, len; /* in the block's data */
    int64_t pts_us, dur_us;
} laced;

typedef struct mkv {
    int stage;
    int64_t pos;      /* where the walk is */
    int64_t seg_data; /* the Segment's data: SeekHead and Cues positions count from here */
    int64_t seg_end;  /* -1: unknown size */
    int64_t scale;    /* TimestampScale, ns */
    double duration;  /* Info's, in ticks; < 0: none */
    int have_info, have_tracks, have_cues;
    int64_t at_info, at_tracks, at_cues; /* from SeekHead; -1: not named */
    int64_t first_cluster;

    mtrack t[FL_DEMUX_MAX_TRACKS];
    size_t nt;

    cue *cues;
    size_t ncues, cues_cap;

    /* the cluster being read */
    int in_cluster;
    int64_t cluster_end; /* -1: unknown size */
    int64_t cluster_ts;  /* ticks; NO_TIME before its Timestamp */

    /* the block whose frames are being given */
    int64_t blk_at; /* file offset of its data */
    size_t blk_len;
    unsigned blk_track;
    int blk_key;
    size_t nfr, ifr;
    laced fr[LACED_MAX];

    /* after a seek */
    int seeking;
    int64_t target_us, key_us; /* key_us: NO_TIME until known */
    int64_t scan_best, scan_best_ticks;

    /* a seek's walk through block heads (S_WALK) */
    int walk_track;    /* index of the video track whose key frames count */
    int64_t walk_from; /* the cluster it starts at: where reading goes back
                          to when it finds no key frame */
    /* where reading starts for the last key block at or before the
     * target (the blocks of its time just before it included; -1: none
     * found), the key frame's time, its cluster's Timestamp and end */
    int64_t walk_key, walk_key_us, walk_key_ts, walk_key_end;

    struct {
        int64_t at, us;
    } run[WALK_RUN]; /* the cluster's last blocks walked: where, their time */

    size_t nrun;
    int64_t grp_at, grp_end; /* a BlockGroup being walked; grp_end -1: none */
    int grp_track, grp_key;  /* its Block's track index (-1: none), key */
    int64_t grp_us;

    fl_demux_info *info; /* what read filled, for the tracks' kinds */
} mkv;

/* ---- EBML: variable-length integers and elements ---- */

typedef struct el {
    uint32_t id;
    uint64_t size; /* data bytes; 0 when unknown */
    int unknown;
    size_t head;
} el;

/* An element's head at p..n: 0; 1 when n ends before it does; FL_EBADMSG. */
static int parse_head(const uint8_t *p, size_t n, el *e)
{
    if (n < 1)
        return 1;
    size_t il = 1;
    while (il <= 4 && !(p[0] & (0x80u >> (il - 1))))
        il++;
    if (il > 4)
        return FL_EBADMSG;
    if (n < il + 1)
        return 1;
    uint32_t id = 0;
    for (size_t i = 0; i < il; i++)
        id = id << 8 | p[i];
    uint8_t b = p[il];
    size_t sl = 1;
    while (sl <= 8 && !(b & (0x80u >> (sl - 1))))
        sl++;
    if (sl > 8)
        return FL_EBADMSG;
    if (n < il + sl)
        return 1;
    uint64_t v = b & (0xFFu >> sl);
    uint64_t ones = (UINT64_C(1) << (7 * sl)) - 1;
    for (size_t i = 1; i < sl; i++)
        v = v << 8 | p[il + i];
    e->id = id;
    e->unknown = v == ones;
    e->size = e->unknown ? 0 : v;
    e->head = il + sl;
    return 0;
}

/* The head of the element at pos: 0, FL_EAGAIN, FL_EOF (the file ends in
 * or before it), FL_EBADMSG. */
static int get_head(fl__demux_io *io, int64_t pos, el *e)
{
    const uint8_t *p;
    size_t got;
    int rc = fl__demux_get_some(io, pos, HEAD_MAX, &p, &got);
    if (rc != 0)
        return rc;
    rc = parse_head(p, got, e);
    return rc == 1 ? FL_EOF : rc;
}

/* The whole element at pos (head and data): 0 and *p at its data. */
static int get_whole(fl__demux_io *io, int64_t pos, const el *e, const uint8_t **p)
{
    if (e->size > FL_DEMUX_MAX_UNIT)
        return FL_EBADMSG;
    int rc = fl__demux_get(io, pos, e->head + (size_t)e->size, p);
    if (rc == 0)
        *p += e->head;
    return rc;
}

/* Children of an element held in memory. */
typedef struct cur {
    const uint8_t *p;
    size_t at, end;
} cur;

/* The next child: 0 with its ID and data; 1 at the end; FL_EBADMSG. */
static int next_child(cur *c, uint32_t *id, const uint8_t **data, size_t *len)
{
    if (c->at >= c->end)
        return 1;
    el e;
    int rc = parse_head(c->p + c->at, c->end - c->at, &e);
    if (rc != 0 || e.unknown || e.size > c->end - c->at - e.head)
        return FL_EBADMSG;
    *id = e.id;
    *data = c->p + c->at + e.head;
    *len = (size_t)e.size;
    c->at += e.head + (size_t)e.size;
    return 0;
}

static int read_uint(const uint8_t *p, size_t n, uint64_t *v)
{
    if (n > 8)
        return FL_EBADMSG;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v << 8 | p[i];
    return 0;
}

static int read_float(const uint8_t *p, size_t n, double *v)
{
    uint64_t bits;
    if (n == 0) {
        *v = 0;
    } else if (n == 4) {
        uint32_t b32 = fl_get_be32(p);
        float f;
        memcpy(&f, &b32, sizeof(f));
        *v = f;
    } else if (n == 8) {
        read_uint(p, 8, &bits);
        memcpy(v, &bits, sizeof(*v));
    } else {
        return FL_EBADMSG;
    }
    return 0;
}

static int is_top_level(uint32_t id)
{
    return id == ID_CLUSTER || id == ID_CUES || id == ID_TAGS || id == ID_SEEK_HEAD ||
           id == ID_INFO || id == ID_TRACKS || id == ID_CHAPTERS || id == ID_ATTACHMENTS ||
           id == ID_EBML || id == ID_SEGMENT;
}

/* 1 when the element at pos ends at or before end (-1: anywhere before
 * a bound no file reaches). */
static int fits(int64_t pos, const el *e, int64_t end)
{
    if (end < 0)
        end = INT64_MAX / 2;
    return end >= pos && (uint64_t)(end - pos) >= e->head &&
           e->size <= (uint64_t)(end - pos) - e->head;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* ticks to microseconds, less a delay in ns: 0, FL_EBADMSG on overflow. */
static int ticks_us(const mkv *m, int64_t ticks, int64_t delay_ns, int64_t *us)
{
    int64_t ns;
    if (ticks > MAX_TICKS || ticks < -MAX_TICKS || __builtin_mul_overflow(ticks, m->scale, &ns))
        return FL_EBADMSG;
    if (ns < INT64_MIN / 2 || ns > INT64_MAX / 2)
        return FL_EBADMSG;
    *us = floor_div(ns - delay_ns, 1000);
    return 0;
}

/* ---- the header: SeekHead, Info, Tracks, Cues ---- */

static int parse_ebml_header(const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    int rc;
    char doc[16] = "matroska"; /* the default */
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        if (id == ID_DOC_TYPE) {
            while (len > 0 && d[len - 1] == '\0')
                len--;
            if (len >= sizeof(doc))
                return FL_ENOTSUP;
            memcpy(doc, d, len);
            doc[len] = '\0';
        }
    }
    if (rc < 0)
        return rc;
    if (strcmp(doc, "webm") != 0 && strcmp(doc, "matroska") != 0)
        return FL_ENOTSUP;
    return 0;
}

static void parse_seek_head(mkv *m, const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    while (next_child(&c, &id, &d, &len) == 0) {
        if (id != ID_SEEK)
            continue;
        cur s = { d, 0, len };
        uint32_t sid, target = 0;
        const uint8_t *sd;
        size_t sl;
        uint64_t pos = UINT64_MAX;
        while (next_child(&s, &sid, &sd, &sl) == 0) {
            uint64_t v;
            if (sid == ID_SEEK_ID && sl >= 1 && sl <= 4 && read_uint(sd, sl, &v) == 0)
                target = (uint32_t)v;
            else if (sid == ID_SEEK_POSITION && read_uint(sd, sl, &v) == 0)
                pos = v;
        }
        if (pos > (uint64_t)(INT64_MAX / 2))
            continue;
        int64_t at = m->seg_data + (int64_t)pos;
        if (m->seg_end >= 0 && at >= m->seg_end)
            continue;
        if (target == ID_INFO && m->at_info < 0)
            m->at_info = at;
        else if (target == ID_TRACKS && m->at_tracks < 0)
            m->at_tracks = at;
        else if (target == ID_CUES && m->at_cues < 0)
            m->at_cues = at;
    }
}

static int parse_info(mkv *m, const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    int rc;
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        uint64_t v;
        double f;
        if (id == ID_TIMESTAMP_SCALE) {
            if (read_uint(d, len, &v) != 0 || v == 0 || v > (uint64_t)MAX_SCALE)
                return FL_EBADMSG;
            m->scale = (int64_t)v;
        } else if (id == ID_DURATION) {
            if (read_float(d, len, &f) != 0)
                return FL_EBADMSG;
            m->duration = isfinite(f) && f >= 0 ? f : -1;
        }
    }
    if (rc < 0)
        return rc;
    m->have_info = 1;
    return 0;
}

/* Reads what a track's header says of its codec: the kind, and for H.264
 * the avcC's parameter sets. */
static void track_codec(mtrack *mt, fl_demux_track *t, int type, int encoded)
{
    const char *c = t->codec_name;
    t->codec = FL_CODEC_OTHER;
    if (encoded) /* compressed or encrypted frames: not ours to undo */
        return;
    if (type == TRACK_TYPE_VIDEO && strcmp(c, "V_VP8") == 0)
        t->codec = FL_CODEC_VP8;
    else if (type == TRACK_TYPE_VIDEO && strcmp(c, "V_VP9") == 0)
        t->codec = FL_CODEC_VP9;
    else if (type == TRACK_TYPE_AUDIO && strcmp(c, "A_OPUS") == 0)
        t->codec = FL_CODEC_OPUS;
    else if (type == TRACK_TYPE_AUDIO && strcmp(c, "A_MS/ACM") == 0 && t->extra_len >= 16) {
        const uint8_t *w = mt->priv;
        unsigned tag = (unsigned)(w[0] | w[1] << 8), bits = (unsigned)(w[14] | w[15] << 8);
        if (bits == 8 && (tag == 6 || tag == 7))
            t->codec = tag == 6 ? FL_CODEC_PCMA : FL_CODEC_PCMU;
        if (t->channels == 0)
            t->channels = (unsigned)(w[2] | w[3] << 8);
        if (t->sample_rate == 0)
            t->sample_rate = (uint32_t)(w[4] | w[5] << 8 | w[6] << 16 | (uint32_t)w[7] << 24);
    } else if (type == TRACK_TYPE_VIDEO && strcmp(c, "V_MPEG4/ISO/AVC") == 0 && t->extra_len >= 7 &&
               mt->priv[0] == 1) {
        /* AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) */
        const uint8_t *a = mt->priv;
        size_t n = t->extra_len, at = 6;
        unsigned nls = (a[4] & 3u) + 1;
        if (nls == 3)
            return;
        unsigned nsps = a[5] & 0x1fu;
        const uint8_t *sps = NULL, *pps = NULL;
        size_t sps_len = 0, pps_len = 0;
        for (unsigned i = 0; i < nsps; i++) {
            if (n - at < 2 || fl_get_be16(a + at) > n - at - 2)
                return;
            if (i == 0) {
                sps = a + at + 2;
                sps_len = fl_get_be16(a + at);
            }
            at += 2 + (size_t)fl_get_be16(a + at);
        }
        if (at >= n)
            return;
        unsigned npps = a[at++];
        for (unsigned i = 0; i < npps; i++) {
            if (n - at < 2 || fl_get_be16(a + at) > n - at - 2)
                return;
            if (i == 0) {
                pps = a + at + 2;
                pps_len = fl_get_be16(a + at);
            }
            at += 2 + (size_t)fl_get_be16(a + at);
        }
        t->codec = FL_CODEC_H264;
        t->nal_length_size = nls;
        if (fl__h264_param_sets_ok(sps, sps_len, pps, pps_len)) {
            t->sps = sps;
            t->sps_len = sps_len;
            t->pps = pps;
            t->pps_len = pps_len;
        }
    }
}

static int parse_track_av(fl_demux_track *t, uint32_t parent, const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    int rc;
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        uint64_t v;
        double f;
        if (parent == ID_VIDEO && (id == ID_PIXEL_WIDTH || id == ID_PIXEL_HEIGHT)) {
            if (read_uint(d, len, &v) != 0)
                return FL_EBADMSG;
            uint16_t px = v > UINT16_MAX ? 0 : (uint16_t)v;
            if (id == ID_PIXEL_WIDTH)
                t->width = px;
            else
                t->height = px;
        } else if (parent == ID_AUDIO && id == ID_SAMPLING_FREQUENCY) {
            if (read_float(d, len, &f) != 0)
                return FL_EBADMSG;
            t->sample_rate = f >= 1 && f <= 1e7 ? (uint32_t)lround(f) : 0;
        } else if (parent == ID_AUDIO && id == ID_CHANNELS) {
            if (read_uint(d, len, &v) != 0)
                return FL_EBADMSG;
            t->channels = v > 255 ? 0 : (unsigned)v;
        }
    }
    return rc < 0 ? rc : 0;
}

/* One TrackEntry into the next free slot (kept only when it has a number). */
static int parse_track_entry(mkv *m, const uint8_t *p, size_t n)
{
    mtrack mt = { 0 };
    fl_demux_track t = { 0 };
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d, *priv = NULL;
    size_t len, priv_len = 0;
    uint64_t type = 0, v;
    int rc, encoded = 0;
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        if (id == ID_TRACK_NUMBER || id == ID_TRACK_TYPE || id == ID_CODEC_DELAY ||
            id == ID_DEFAULT_DURATION) {
            if (read_uint(d, len, &v) != 0)
                return FL_EBADMSG;
            if (id == ID_TRACK_NUMBER)
                mt.number = v;
            else if (id == ID_TRACK_TYPE)
                type = v;
            else if (v <= (uint64_t)MAX_DELAY_NS)
                *(id == ID_CODEC_DELAY ? &mt.delay_ns : &mt.default_ns) = (int64_t)v;
        } else if (id == ID_CODEC_ID) {
            size_t k = len < sizeof(t.codec_name) - 1 ? len : sizeof(t.codec_name) - 1;
            memcpy(t.codec_name, d, k);
            t.codec_name[k] = '\0';
        } else if (id == ID_CODEC_PRIVATE) {
            priv = d;
            priv_len = len;
        } else if (id == ID_CONTENT_ENCODINGS) {
            encoded = 1;
        } else if (id == ID_VIDEO || id == ID_AUDIO) {
            if ((rc = parse_track_av(&t, id, d, len)) != 0)
                return rc;
        }
    }
    if (rc < 0)
        return rc;
    if (mt.number == 0 || m->nt == FL_DEMUX_MAX_TRACKS)
        return 0;
    if (priv_len) {
        mt.priv = malloc(priv_len);
        if (!mt.priv)
            return FL_ENOMEM;
        memcpy(mt.priv, priv, priv_len);
        t.extra = mt.priv;
        t.extra_len = priv_len;
    }
    t.id = mt.number > UINT32_MAX ? 0 : (unsigned)mt.number;
    t.video = type == TRACK_TYPE_VIDEO;
    track_codec(&mt, &t, (int)(type < 256 ? type : 0), encoded);
    if (!t.video) {
        t.width = t.height = 0;
    } else {
        t.sample_rate = 0;
        t.channels = 0;
    }
    m->t[m->nt] = mt;
    m->info->tracks[m->nt] = t;
    m->nt++;
    return 0;
}

static int parse_tracks(mkv *m, const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    int rc;
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        if (id == ID_TRACK_ENTRY && (rc = parse_track_entry(m, d, len)) != 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    m->have_tracks = 1;
    return 0;
}

static int add_cue(mkv *m, int64_t ticks, uint64_t track, uint64_t pos)
{
    if (pos > (uint64_t)(INT64_MAX / 2) || m->ncues == MAX_CUES)
        return 0;
    int64_t at = m->seg_data + (int64_t)pos;
    if (m->seg_end >= 0 && at >= m->seg_end)
        return 0;
    if (m->ncues == m->cues_cap) {
        size_t cap = m->cues_cap ? m->cues_cap * 2 : 64;
        cue *c = realloc(m->cues, cap * sizeof(*c));
        if (!c)
            return FL_ENOMEM;
        m->cues = c;
        m->cues_cap = cap;
    }
    m->cues[m->ncues++] = (cue){ .ticks = ticks, .pos = at, .track = track };
    return 0;
}

/* Cues: the entries it holds (a malformed CuePoint is left out). */
static int parse_cues(mkv *m, const uint8_t *p, size_t n)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d;
    size_t len;
    while (next_child(&c, &id, &d, &len) == 0) {
        if (id != ID_CUE_POINT)
            continue;
        cur pc = { d, 0, len };
        uint32_t pid;
        const uint8_t *pd;
        size_t pl;
        uint64_t time = UINT64_MAX, v;
        /* CueTime comes first in every muxer seen; a CueTrackPositions
         * before it is left out */
        while (next_child(&pc, &pid, &pd, &pl) == 0) {
            if (pid == ID_CUE_TIME && read_uint(pd, pl, &v) == 0 && v <= (uint64_t)MAX_TICKS) {
                time = v;
            } else if (pid == ID_CUE_TRACK_POSITIONS && time != UINT64_MAX) {
                cur tc = { pd, 0, pl };
                uint32_t tid;
                const uint8_t *td;
                size_t tl;
                uint64_t track = 0, pos = UINT64_MAX;
                while (next_child(&tc, &tid, &td, &tl) == 0) {
                    if (tid == ID_CUE_TRACK && read_uint(td, tl, &v) == 0)
                        track = v;
                    else if (tid == ID_CUE_CLUSTER_POSITION && read_uint(td, tl, &v) == 0)
                        pos = v;
                }
                int rc = add_cue(m, (int64_t)time, track, pos);
                if (rc != 0)
                    return rc;
            }
        }
    }
    m->have_cues = 1;
    return 0;
}

/* The header is read: info filled, the walk goes to the first cluster. */
static int header_done(mkv *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    if (!m->have_tracks)
        return FL_EBADMSG;
    info->ntracks = m->nt;
    info->duration_us = -1;
    if (m->duration >= 0) {
        double us = m->duration * (double)m->scale / 1000.0;
        if (us < 9e18)
            info->duration_us = (int64_t)llround(us);
    }
    info->seekable = io->size >= 0;
    *ready = 1;
    m->stage = S_BODY;
    m->pos = m->first_cluster;
    fl_log(FL_LOG_DEBUG, "%zu tracks, %zu cues, duration %lld us", m->nt, m->ncues,
           (long long)info->duration_us);
    return 0;
}

/* Reads the element at `at`, expected to be `id` (else left alone): 0
 * once done, or FL_EAGAIN / an error. */
static int detour_one(mkv *m, fl__demux_io *io, int64_t *at, uint32_t id)
{
    el e;
    const uint8_t *p;
    int rc = get_head(io, *at, &e);
    if (rc == 0 && (e.id != id || e.unknown))
        rc = FL_EBADMSG;
    if (rc == 0)
        rc = get_whole(io, *at, &e, &p);
    if (rc == FL_EAGAIN || rc == FL_ENOMEM)
        return rc;
    if (rc == 0) {
        if (id == ID_TRACKS)
            rc = parse_tracks(m, p, (size_t)e.size);
        else if (id == ID_INFO)
            rc = parse_info(m, p, (size_t)e.size);
        else
            rc = parse_cues(m, p, (size_t)e.size);
    }
    if (rc == FL_ENOMEM)
        return rc;
    if (rc != 0)
        fl_log(FL_LOG_DEBUG, "element %x at %lld: %s", (unsigned)id, (long long)*at,
               fl_strerror(rc));
    *at = -1; /* done, read or not */
    return 0;
}

static int detours(mkv *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    int rc;
    if (!m->have_tracks && m->at_tracks >= 0 && (rc = detour_one(m, io, &m->at_tracks, ID_TRACKS)))
        return rc;
    if (!m->have_info && m->at_info >= 0 && (rc = detour_one(m, io, &m->at_info, ID_INFO)))
        return rc;
    if (!m->have_cues && m->at_cues >= 0 && io->size >= 0 &&
        (rc = detour_one(m, io, &m->at_cues, ID_CUES)))
        return rc;
    return header_done(m, io, info, ready);
}

/* A top-level element before the first Cluster. */
static int top_element(mkv *m, fl__demux_io *io, const el *e)
{
    int want = (e->id == ID_SEEK_HEAD) || (e->id == ID_INFO && !m->have_info) ||
               (e->id == ID_TRACKS && !m->have_tracks) || (e->id == ID_CUES && !m->have_cues);
    if (want && e->size > 0) {
        const uint8_t *p;
        int rc = get_whole(io, m->pos, e, &p);
        if (rc != 0)
            return rc;
        size_t n = (size_t)e->size;
        if (e->id == ID_SEEK_HEAD)
            parse_seek_head(m, p, n);
        else if (e->id == ID_INFO)
            rc = parse_info(m, p, n);
        else if (e->id == ID_TRACKS)
            rc = parse_tracks(m, p, n);
        else
            rc = parse_cues(m, p, n);
        if (rc != 0)
            return rc;
    }
    m->pos += (int64_t)(e->head + e->size);
    return 0;
}

static int read_header(mkv *m, fl__demux_io *io, fl_demux_info *info, int *ready)
{
    for (;;) {
        el e;
        const uint8_t *p;
        int rc;
        if (m->stage == S_DETOUR)
            return detours(m, io, info, ready);
        if (m->stage == S_TOP && m->seg_end >= 0 && m->pos >= m->seg_end) {
            m->first_cluster = m->pos;
            m->stage = S_DETOUR;
            continue;
        }
        rc = get_head(io, m->pos, &e);
        if (rc == FL_EOF && m->stage == S_TOP && m->have_tracks) {
            m->first_cluster = m->pos; /* no cluster: the file ends after its header */
            m->stage = S_DETOUR;
            continue;
        }
        if (rc == FL_EOF)
            return FL_EBADMSG; /* cut inside the header */
        if (rc != 0)
            return rc;
        if (m->stage == S_EBML) {
            if (e.id != ID_EBML || e.unknown || e.size > EBML_HEADER_MAX)
                return FL_EBADMSG;
            if ((rc = get_whole(io, 0, &e, &p)) != 0)
                return rc == FL_EOF ? FL_EBADMSG : rc;
            if ((rc = parse_ebml_header(p, (size_t)e.size)) != 0)
                return rc;
            m->pos = (int64_t)(e.head + e.size);
            m->stage = S_SEGMENT;
        } else if (m->stage == S_SEGMENT) {
            if (e.id != ID_SEGMENT) {
                if (e.unknown || is_top_level(e.id) || !fits(m->pos, &e, -1))
                    return FL_EBADMSG;
                m->pos += (int64_t)(e.head + e.size); /* Void before the Segment */
                continue;
            }
            m->seg_data = m->pos + (int64_t)e.head;
            m->seg_end = e.unknown ? -1 : m->seg_data + (int64_t)e.size;
            m->pos = m->seg_data;
            m->stage = S_TOP;
        } else {
            if (e.id == ID_CLUSTER) {
                m->first_cluster = m->pos;
                m->stage = S_DETOUR;
                continue;
            }
            if (e.unknown || !fits(m->pos, &e, m->seg_end))
                return FL_EBADMSG;
            if ((rc = top_element(m, io, &e)) != 0)
                return rc == FL_EOF ? FL_EBADMSG : rc;
        }
    }
}

/* ---- clusters and blocks ---- */

static int track_index(const mkv *m, uint64_t number)
{
    for (size_t i = 0; i < m->nt; i++)
        if (m->t[i].number == number)
            return (int)i;
    return -1;
}

/* Microseconds of one frame of the track, from its bytes when its header
 * does not say (0: unknown). */
static int64_t frame_us(const mkv *m, unsigned ti, const uint8_t *p, size_t len)
{
    const fl_demux_track *t = &m->info->tracks[ti];
    if (m->t[ti].default_ns > 0)
        return m->t[ti].default_ns / 1000;
    if (t->codec == FL_CODEC_OPUS)
        return fl__opus_packet_us(p, len);
    if ((t->codec == FL_CODEC_PCMU || t->codec == FL_CODEC_PCMA) && t->sample_rate > 0)
        return (int64_t)len * 1000000 / ((int64_t)t->sample_rate * (t->channels ? t->channels : 1));
    return 0;
}

/* The frames' lengths of a laced block: p..n after the flags byte. */
static int unlace(mkv *m, int lacing, const uint8_t *p, size_t n, size_t base)
{
    if (n < 1)
        return FL_EBADMSG;
    size_t count = (size_t)p[0] + 1, at = 1, sum = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i + 1 < count; i++) {
        uint64_t len = 0;
        if (lacing == 1) { /* Xiph: 255s and the byte that ends them */
            uint8_t b;
            do {
                if (at >= n)
                    return FL_EBADMSG;
                b = p[at++];
                len += b;
            } while (b == 255);
        } else if (lacing == 3) { /* EBML: a size, then signed differences */
            el e;
            uint8_t fake[HEAD_MAX] = { 0x80 }; /* an ID byte before the vint */
            size_t k = n - at < 8 ? n - at : 8;
            memcpy(fake + 1, p + at, k);
            if (parse_head(fake, k + 1, &e) != 0 || e.unknown)
                return FL_EBADMSG;
            size_t vl = e.head - 1;
            at += vl;
            if (i == 0) {
                len = e.size;
            } else {
                int64_t bias = (INT64_C(1) << (7 * vl - 1)) - 1;
                int64_t d = (int64_t)e.size - bias;
                if (d < 0 && (uint64_t)(-d) > prev)
                    return FL_EBADMSG;
                len = (uint64_t)((int64_t)prev + d);
            }
        } else { /* fixed: n - 1 bytes shared evenly */
            if ((n - 1) % count != 0)
                return FL_EBADMSG;
            len = (n - 1) / count;
        }
        if (len > n)
            return FL_EBADMSG;
        prev = len;
        m->fr[i].len = (uint32_t)len;
        sum += (size_t)len;
        if (sum > n)
            return FL_EBADMSG;
    }
    if (sum > n - at)
        return FL_EBADMSG;
    m->fr[count - 1].len = (uint32_t)(n - at - sum);
    size_t off = base + at;
    for (size_t i = 0; i < count; i++) {
        m->fr[i].off = (uint32_t)off;
        off += m->fr[i].len;
    }
    m->nfr = count;
    return 0;
}

/* A Block or SimpleBlock's data p..n at file offset `at`: its frames
 * become the ones given next. key: -1 from a SimpleBlock's flags. A block
 * of a track not in the header, or of a codec fluo does not send, is
 * skipped. */
static int parse_block(mkv *m, const uint8_t *p, size_t n, int64_t at, int key)
{
    m->nfr = m->ifr = 0;
    el e;
    uint8_t fake[HEAD_MAX] = { 0x80 };
    size_t k = n < 8 ? n : 8;
    memcpy(fake + 1, p, k);
    if (parse_head(fake, k + 1, &e) != 0 || e.unknown)
        return FL_EBADMSG;
    size_t h = e.head - 1;
    if (n < h + 3)
        return FL_EBADMSG;
    if (m->cluster_ts == NO_TIME)
        return FL_EBADMSG; /* a block before its cluster's Timestamp */
    int ti = track_index(m, e.size);
    if (ti < 0 || m->info->tracks[ti].codec == FL_CODEC_OTHER)
        return 0;
    int16_t rel = (int16_t)fl_get_be16(p + h);
    uint8_t flags = p[h + 2];
    if (key < 0)
        key = (flags & 0x80) != 0;
    int lacing = (flags >> 1) & 3;
    size_t body = h + 3;
    if (lacing == 0) {
        m->fr[0].off = (uint32_t)body;
        m->fr[0].len = (uint32_t)(n - body);
        m->nfr = 1;
    } else {
        int rc = unlace(m, lacing, p + body, n - body, body);
        if (rc != 0)
            return rc;
    }
    int64_t us;
    if (ticks_us(m, m->cluster_ts + rel, m->t[ti].delay_ns, &us) != 0)
        return FL_EBADMSG;
    for (size_t i = 0; i < m->nfr; i++) {
        m->fr[i].pts_us = us;
        m->fr[i].dur_us = frame_us(m, (unsigned)ti, p + m->fr[i].off, m->fr[i].len);
        us += m->fr[i].dur_us;
    }
    m->blk_at = at;
    m->blk_len = n;
    m->blk_track = (unsigned)ti;
    m->blk_key = key || !m->info->tracks[ti].video;
    m->ifr = 0;
    return 0;
}

/* A BlockGroup's data: its Block, a key frame unless a ReferenceBlock
 * names another. */
static int parse_block_group(mkv *m, const uint8_t *p, size_t n, int64_t at)
{
    cur c = { p, 0, n };
    uint32_t id;
    const uint8_t *d, *blk = NULL;
    size_t len, blk_len = 0;
    int rc, key = 1;
    while ((rc = next_child(&c, &id, &d, &len)) == 0) {
        if (id == ID_BLOCK) {
            blk = d;
            blk_len = len;
        } else if (id == ID_REFERENCE_BLOCK) {
            key = 0;
        }
    }
    if (rc < 0)
        return rc;
    return blk ? parse_block(m, blk, blk_len, at + (blk - p), key) : 0;
}

/* After a seek: 1 when the frame is given, 0 when it is dropped. */
static int seek_keeps(mkv *m, unsigned ti, int key, int64_t pts, int64_t dur)
{
    if (!m->seeking)
        return 1;
    mtrack *t = &m->t[ti];
    if (m->info->tracks[ti].video) {
        if (t->need_key) {
            if (!key)
                return 0;
            t->need_key = 0;
            if (m->key_us == NO_TIME || pts > m->key_us)
                m->key_us = pts;
            return 1;
        }
        return m->key_us == NO_TIME || pts >= m->key_us;
    }
    for (size_t i = 0; i < m->nt; i++)
        if (m->info->tracks[i].video && m->info->tracks[i].codec != FL_CODEC_OTHER)
            return m->key_us != NO_TIME && pts >= m->key_us;
    return dur > 0 ? pts + dur > m->target_us : pts >= m->target_us;
}

/* The next frame of the block being given: 1, 0 when it has no more. */
static int next_laced(mkv *m, fl__demux_io *io, fl_demux_frame *out)
{
    while (m->ifr < m->nfr) {
        const uint8_t *p;
        int rc = fl__demux_get(io, m->blk_at, m->blk_len, &p);
        if (rc != 0)
            return rc;
        const laced *f = &m->fr[m->ifr];
        m->ifr++;
        if (f->len == 0 || !seek_keeps(m, m->blk_track, m->blk_key, f->pts_us, f->dur_us))
            continue;
        *out = (fl_demux_frame){ .track = m->blk_track,
                                 .pts_us = f->pts_us,
                                 .dts_us = f->pts_us,
                                 .key = m->blk_key,
                                 .data = p + f->off,
                                 .len = f->len };
        return 1;
    }
    return 0;
}

/* One element inside a cluster. */
static int cluster_element(mkv *m, fl__demux_io *io, const el *e)
{
    int64_t end = m->pos + (int64_t)(e->head + e->size);
    if (e->size == 0 ||
        (e->id != ID_TIMESTAMP && e->id != ID_SIMPLE_BLOCK && e->id != ID_BLOCK_GROUP)) {
        if (e->id == ID_TIMESTAMP)
            m->cluster_ts = 0;
        m->pos = end;
        return 0;
    }
    const uint8_t *p;
    int rc = get_whole(io, m->pos, e, &p);
    if (rc != 0)
        return rc;
    size_t n = (size_t)e->size;
    int64_t at = m->pos + (int64_t)e->head;
    if (e->id == ID_TIMESTAMP) {
        uint64_t v;
        if (read_uint(p, n, &v) != 0 || v > (uint64_t)MAX_TICKS)
            return FL_EBADMSG;
        m->cluster_ts = (int64_t)v;
    } else if (e->id == ID_SIMPLE_BLOCK) {
        rc = parse_block(m, p, n, at, -1);
    } else {
        rc = parse_block_group(m, p, n, at);
    }
    if (rc != 0)
        return rc;
    m->pos = end;
    return 0;
}

/* The next element inside a cluster from m->pos, clusters entered and
 * left and what lies between them skipped: 0 and *e; FL_EOF at the end;
 * FL_EAGAIN, FL_EBADMSG. */
static int next_in_cluster(mkv *m, fl__demux_io *io, el *e)
{
    for (;;) {
        if (m->in_cluster && ((m->cluster_end >= 0 && m->pos >= m->cluster_end) ||
                              (m->seg_end >= 0 && m->pos >= m->seg_end)))
            m->in_cluster = 0;
        if (!m->in_cluster && m->seg_end >= 0 && m->pos >= m->seg_end)
            return FL_EOF;
        int rc = get_head(io, m->pos, e);
        if (rc != 0)
            return rc;
        if (m->in_cluster && m->cluster_end < 0 && is_top_level(e->id)) {
            m->in_cluster = 0; /* the end of a cluster of unknown size */
            continue;
        }
        if (!m->in_cluster && e->id == ID_EBML)
            return FL_EOF; /* a next Segment (chained files): not read */
        if (!m->in_cluster && e->id == ID_CLUSTER) {
            if (!e->unknown && !fits(m->pos, e, m->seg_end))
                return FL_EBADMSG;
            m->in_cluster = 1;
            m->cluster_end = e->unknown ? -1 : m->pos + (int64_t)(e->head + e->size);
            m->cluster_ts = NO_TIME;
            m->nrun = 0;
            m->pos += (int64_t)e->head;
            continue;
        }
        if (e->unknown || !fits(m->pos, e, m->in_cluster ? m->cluster_end : m->seg_end) ||
            !fits(m->pos, e, m->seg_end))
            return FL_EBADMSG;
        if (m->in_cluster)
            return 0;
        m->pos += (int64_t)(e->head + e->size); /* Cues, Tags, Void...: skipped */
    }
}

static int read_body(mkv *m, fl__demux_io *io, fl_demux_frame *out)
{
    for (;;) {
        el e;
        int rc = next_laced(m, io, out);
        if (rc == 0)
            rc = next_in_cluster(m, io, &e);
        if (rc == 0)
            rc = cluster_element(m, io, &e);
        if (rc != 0)
            return rc;
    }
}

/* ---- a seek's walk: the key frame at or before the target ----
 *
 * From the cluster the seek jumped to, the blocks' heads are read (track,
 * relative timestamp, key flag; a BlockGroup's children heads for its
 * ReferenceBlock) and their data skipped by size, remembering the last key
 * block of the walk's video track at or before the target. It stops at a
 * block of that track past the target, a cluster whose Timestamp is past
 * it, or the end; reading then starts at that key block inside its
 * cluster. Anything the walk cannot make sense of ends it: reading meets
 * it there and says what it is. */

/* A block's first bytes p..n (n <= HEAD_MAX, the block's size or less):
 * 0 with its track index (-1: a track not in the header), time and flags;
 * FL_EBADMSG. */
static int block_head(const mkv *m,
                      const uint8_t *p,
                      size_t n,
                      int *ti,
                      int64_t *us,
                      uint8_t *flags)
{
    el e;
    uint8_t fake[HEAD_MAX] = { 0x80 };
    size_t k = n < 8 ? n : 8;
    memcpy(fake + 1, p, k);
    if (parse_head(fake, k + 1, &e) != 0 || e.unknown)
        return FL_EBADMSG;
    size_t h = e.head - 1;
    if (n < h + 3 || m->cluster_ts == NO_TIME)
        return FL_EBADMSG;
    *ti = track_index(m, e.size);
    *flags = p[h + 2];
    *us = 0;
    int64_t rel = (int16_t)fl_get_be16(p + h);
    return *ti < 0 ? 0 : ticks_us(m, m->cluster_ts + rel, m->t[*ti].delay_ns, us);
}

/* The head of the block in the element e at m->pos: as block_head, after
 * FL_EAGAIN (one range from the element's start). */
static int walk_block_head(mkv *m,
                           fl__demux_io *io,
                           const el *e,
                           int *ti,
                           int64_t *us,
                           uint8_t *flags)
{
    const uint8_t *p;
    size_t k = e->size < HEAD_MAX ? (size_t)e->size : HEAD_MAX;
    int rc = fl__demux_get(io, m->pos, e->head + k, &p);
    if (rc != 0)
        return rc;
    return block_head(m, p + e->head, k, ti, us, flags);
}

/* A block met by the walk (its element at `at`): 1 when the walk ends.
 * Reading from a key frame starts at the first of the blocks of the
 * cluster right before it that are not earlier than it (audio of its
 * time the file holds first). */
static int walk_block(mkv *m, int64_t at, int ti, int64_t us, int key)
{
    if (ti < 0 || m->info->tracks[ti].codec == FL_CODEC_OTHER)
        return 0;
    if (ti == m->walk_track && us > m->target_us)
        return 1;
    if (ti == m->walk_track && key) {
        m->walk_key = at;
        for (size_t i = 0; i < m->nrun && i + 1 < WALK_RUN; i++) {
            size_t k = (m->nrun - 1 - i) % WALK_RUN;
            if (m->run[k].us < us)
                break;
            m->walk_key = m->run[k].at;
        }
        m->walk_key_us = us;
        m->walk_key_ts = m->cluster_ts;
        m->walk_key_end = m->cluster_end;
    }
    m->run[m->nrun % WALK_RUN].at = at;
    m->run[m->nrun % WALK_RUN].us = us;
    m->nrun++;
    return 0;
}

/* One child of the BlockGroup being walked: 0, 1 when the walk ends,
 * FL_EAGAIN, another error (the walk ends). */
static int walk_group(mkv *m, fl__demux_io *io)
{
    if (m->pos >= m->grp_end) {
        m->grp_end = -1;
        return m->grp_track >= 0 && walk_block(m, m->grp_at, m->grp_track, m->grp_us, m->grp_key);
    }
    el e;
    int rc = get_head(io, m->pos, &e);
    if (rc != 0)
        return rc;
    if (e.unknown || !fits(m->pos, &e, m->grp_end))
        return 1;
    if (e.id == ID_BLOCK && e.size > 0) {
        uint8_t flags;
        if ((rc = walk_block_head(m, io, &e, &m->grp_track, &m->grp_us, &flags)) != 0)
            return rc;
    } else if (e.id == ID_REFERENCE_BLOCK) {
        m->grp_key = 0;
    }
    m->pos += (int64_t)(e.head + e.size);
    return 0;
}

/* An element inside a cluster, for the walk: as walk_group. */
static int walk_cluster_element(mkv *m, fl__demux_io *io, const el *e)
{
    int64_t end = m->pos + (int64_t)(e->head + e->size), us;
    int rc;
    if (e->id == ID_TIMESTAMP) {
        const uint8_t *p;
        uint64_t v = 0;
        if (e->size > 0 && (rc = get_whole(io, m->pos, e, &p)) != 0)
            return rc;
        if (e->size > 0 && (read_uint(p, (size_t)e->size, &v) != 0 || v > (uint64_t)MAX_TICKS))
            return 1;
        m->cluster_ts = (int64_t)v;
        if (ticks_us(m, m->cluster_ts, 0, &us) != 0 || us > m->target_us)
            return 1;
    } else if (e->id == ID_SIMPLE_BLOCK && e->size > 0) {
        int ti;
        uint8_t flags;
        if ((rc = walk_block_head(m, io, e, &ti, &us, &flags)) != 0)
            return rc;
        if (walk_block(m, m->pos, ti, us, (flags & 0x80) != 0))
            return 1;
    } else if (e->id == ID_BLOCK_GROUP && e->size > 0) {
        m->grp_at = m->pos;
        m->grp_end = end;
        m->grp_track = -1;
        m->grp_key = 1;
        end = m->pos + (int64_t)e->head;
    }
    m->pos = end;
    return 0;
}

/* One step of the walk: as walk_group. */
static int walk_step(mkv *m, fl__demux_io *io)
{
    if (m->grp_end >= 0)
        return walk_group(m, io);
    el e;
    int rc = next_in_cluster(m, io, &e);
    return rc != 0 ? rc : walk_cluster_element(m, io, &e);
}

/* The walk from m->pos (a cluster's start) to its end; then reading
 * starts at the key block found, or where the walk started. */
static int walk(mkv *m, fl__demux_io *io)
{
    int rc;
    while ((rc = walk_step(m, io)) == 0)
        ;
    if (rc == FL_EAGAIN)
        return rc;
    m->grp_end = -1;
    m->stage = S_BODY;
    if (m->walk_key >= 0) {
        m->pos = m->walk_key;
        m->in_cluster = 1;
        m->cluster_ts = m->walk_key_ts;
        m->cluster_end = m->walk_key_end;
        m->key_us = m->walk_key_us;
    } else {
        m->pos = m->walk_from;
        m->in_cluster = 0;
        m->cluster_ts = NO_TIME;
    }
    return 0;
}

/* After a seek found the cluster to read from (at m->pos): the walk when
 * the file has video, else reading from there. */
static void seek_from_cluster(mkv *m)
{
    m->in_cluster = 0;
    m->stage = m->walk_track >= 0 ? S_WALK : S_BODY;
    m->walk_from = m->pos;
    m->walk_key = -1;
    m->grp_end = -1;
    m->nrun = 0;
}

/* The time, in ticks, of the cluster at pos: 0 and *ticks; 1 when it has
 * no Timestamp in its first bytes; FL_EAGAIN, FL_EOF, FL_EBADMSG. */
static int cluster_time(fl__demux_io *io, int64_t pos, const el *ce, int64_t *ticks)
{
    size_t n = SCAN_PEEK;
    if (!ce->unknown && ce->size < n)
        n = (size_t)ce->size;
    if (n == 0)
        return 1;
    /* from the cluster's start: a step takes one range */
    const uint8_t *p;
    size_t got;
    int rc = fl__demux_get_some(io, pos, ce->head + n, &p, &got);
    if (rc != 0)
        return rc;
    size_t at = ce->head;
    while (at < got) {
        el e;
        uint64_t v;
        if (parse_head(p + at, got - at, &e) != 0 || e.unknown || e.size > got - at - e.head)
            return 1;
        if (e.id == ID_TIMESTAMP) {
            if (read_uint(p + at + e.head, (size_t)e.size, &v) != 0 || v > (uint64_t)MAX_TICKS)
                return FL_EBADMSG;
            *ticks = (int64_t)v;
            return 0;
        }
        at += e.head + (size_t)e.size;
    }
    return 1;
}

/* A seek without Cues: the clusters' heads from the first, up to the last
 * that starts at or before the target. */
static int scan(mkv *m, fl__demux_io *io)
{
    for (;;) {
        el e;
        int64_t ticks = 0, us;
        int rc = 1, done = m->seg_end >= 0 && m->pos >= m->seg_end;
        if (!done) {
            rc = get_head(io, m->pos, &e);
            if (rc == FL_EAGAIN || rc == FL_EBADMSG)
                return rc;
            done = rc != 0 || e.id == ID_EBML ||
                   (e.id == ID_CLUSTER && e.unknown && m->pos != m->scan_best);
        }
        if (!done && e.id == ID_CLUSTER) {
            rc = cluster_time(io, m->pos, &e, &ticks);
            if (rc == FL_EAGAIN || rc == FL_EBADMSG)
                return rc;
            if (rc == 0 && ticks_us(m, ticks, 0, &us) == 0) {
                if (us > m->target_us)
                    done = 1;
                else {
                    m->scan_best = m->pos;
                    m->scan_best_ticks = ticks;
                }
            }
            done = done || e.unknown;
        }
        if (!done && (e.unknown || !fits(m->pos, &e, m->seg_end)))
            done = 1;
        if (done) {
            m->pos = m->scan_best;
            m->key_us = NO_TIME;
            if (m->scan_best_ticks != NO_TIME && ticks_us(m, m->scan_best_ticks, 0, &us) == 0)
                m->key_us = us;
            seek_from_cluster(m);
            return 0;
        }
        m->pos += (int64_t)(e.head + e.size);
    }
}

/* ---- fl__demux_ops ---- */

static int mkv_read(void *impl,
                    fl__demux_io *io,
                    fl_demux_info *info,
                    int *ready,
                    fl_demux_frame *out)
{
    mkv *m = impl;
    m->info = info;
    if (!*ready) {
        int rc = read_header(m, io, info, ready);
        if (rc != 0)
            return rc;
    }
    if (m->stage == S_SCAN) {
        int rc = scan(m, io);
        if (rc != 0)
            return rc;
    }
    if (m->stage == S_WALK) {
        int rc = walk(m, io);
        if (rc != 0)
            return rc;
    }
    return read_body(m, io, out);
}

static int mkv_seek(void *impl, fl__demux_io *io, int64_t pts_us)
{
    (void)io;
    mkv *m = impl;
    m->nfr = m->ifr = 0;
    m->in_cluster = 0;
    m->seeking = 1;
    m->target_us = pts_us;
    m->key_us = NO_TIME;
    for (size_t i = 0; i < m->nt; i++)
        m->t[i].need_key = 1;
    /* the first video track: its key frames are looked for, and its cues
     * used when it has any */
    uint64_t track = 0;
    m->walk_track = -1;
    for (size_t i = 0; i < m->nt && !track; i++) {
        if (m->info->tracks[i].video && m->info->tracks[i].codec != FL_CODEC_OTHER) {
            track = m->t[i].number;
            m->walk_track = (int)i;
        }
    }
    int any = 0;
    for (size_t i = 0; i < m->ncues && !any; i++)
        any = m->cues[i].track == track;
    const cue *best = NULL;
    for (size_t i = 0; i < m->ncues; i++) {
        const cue *c = &m->cues[i];
        int64_t us;
        if ((any && c->track != track) || ticks_us(m, c->ticks, 0, &us) != 0 || us > pts_us)
            continue;
        if (!best || c->ticks > best->ticks)
            best = c;
    }
    if (m->ncues > 0) {
        m->pos = best ? best->pos : m->first_cluster;
        if (best)
            ticks_us(m, best->ticks, 0, &m->key_us);
        seek_from_cluster(m);
        return 0;
    }
    m->stage = S_SCAN;
    m->pos = m->first_cluster;
    m->scan_best = m->first_cluster;
    m->scan_best_ticks = NO_TIME;
    return 0;
}

static void mkv_destroy(void *impl)
{
    mkv *m = impl;
    for (size_t i = 0; i < m->nt; i++)
        free(m->t[i].priv);
    free(m->cues);
    free(m);
}

static const fl__demux_ops mkv_ops = {
    .read = mkv_read,
    .seek = mkv_seek,
    .destroy = mkv_destroy,
};

int fl__mkv_demux_create(void **impl, const fl__demux_ops **ops)
{
    mkv *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    m->stage = S_EBML;
    m->seg_end = -1;
    m->scale = DEFAULT_SCALE;
    m->duration = -1;
    m->at_info = m->at_tracks = m->at_cues = -1;
    m->cluster_end = -1;
    m->cluster_ts = NO_TIME;
    *impl = m;
    *ops = &mkv_ops;
    return 0;
}
