/* A strict reader of the Matroska files container/webm.c writes, for the
 * tests and the fuzz target (not a demuxer: it knows this muxer's layout).
 * It checks every element's size against its parent's, that the Segment
 * holds EBML header, SeekHead, Info, Tracks, Clusters and Cues in that
 * order, that SeekHead and Cues point at the elements they name, and
 * collects what the tests compare: tracks, clusters, blocks (absolute
 * timestamps), cues, Duration. mkv_read returns 0 or -1 with `why` set.
 * Header-only: every function is static inline. */
#ifndef FL_TESTS_MKV_READ_H
#define FL_TESTS_MKV_READ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MKV_MAX_TRACKS 4

typedef struct mkv_track {
    unsigned number, type;
    char codec[24];
    uint64_t codec_delay, seek_pre_roll;
    uint8_t priv[128];
    size_t priv_len;
    unsigned width, height, channels;
    double rate;
} mkv_track;

typedef struct mkv_block {
    unsigned track;
    int64_t ts; /* absolute, ms */
    int rel;    /* the relative timestamp as written */
    int key;
    size_t len;
    size_t off; /* of the frame's bytes in the file */
    size_t cluster;
} mkv_block;

typedef struct mkv_cluster {
    uint64_t off, end; /* file offsets of the element and past it */
    int64_t ts;
    size_t first, n; /* its blocks */
} mkv_cluster;

typedef struct mkv_file {
    char doc_type[16];
    int64_t seg_size; /* -1: unknown */
    uint64_t seg_data;
    double duration; /* -1: none */
    uint64_t timestamp_scale;
    mkv_track tracks[MKV_MAX_TRACKS];
    size_t ntracks;
    mkv_cluster *clusters;
    size_t nclusters;
    mkv_block *blocks;
    size_t nblocks;
    int64_t cue_ts[4096];
    uint64_t cue_pos[4096];
    unsigned cue_track[4096];
    size_t ncues;
    uint64_t seek_info, seek_tracks, seek_cues; /* 0: absent */
    uint64_t info_pos, tracks_pos, cues_pos;    /* where they were, Segment offsets */
    const char *why;
} mkv_file;

typedef struct mkv_cur {
    const uint8_t *p;
    size_t at, end;
} mkv_cur;

static inline int mkv_vint(mkv_cur *c, uint64_t *v, int is_id, int *unknown)
{
    if (c->at >= c->end)
        return -1;
    uint8_t b = c->p[c->at];
    size_t len = 1;
    while (len <= 8 && !(b & (0x80u >> (len - 1))))
        len++;
    if (len > 8 || (is_id && len > 4) || c->at + len > c->end)
        return -1;
    uint64_t x = is_id ? b : (b & ((0x80u >> (len - 1)) - 1));
    int ones = (x == (uint64_t)((0x80u >> (len - 1)) - 1));
    for (size_t i = 1; i < len; i++) {
        ones &= c->p[c->at + i] == 0xff;
        x = x << 8 | c->p[c->at + i];
    }
    if (unknown)
        *unknown = !is_id && ones;
    c->at += len;
    *v = x;
    return 0;
}

/* The next element: its id and a cursor over its data. */
static inline int mkv_elem(mkv_cur *c, uint32_t *id, mkv_cur *data, int *unknown)
{
    uint64_t i, size;
    int unk = 0;
    if (mkv_vint(c, &i, 1, NULL) != 0 || mkv_vint(c, &size, 0, &unk) != 0)
        return -1;
    *id = (uint32_t)i;
    if (unknown)
        *unknown = unk;
    else if (unk)
        return -1;
    if (unk) {
        *data = (mkv_cur){ c->p, c->at, c->end };
        c->at = c->end;
        return 0;
    }
    if (size > c->end - c->at)
        return -1;
    *data = (mkv_cur){ c->p, c->at, c->at + (size_t)size };
    c->at += (size_t)size;
    return 0;
}

static inline uint64_t mkv_uint(const mkv_cur *d)
{
    uint64_t v = 0;
    for (size_t i = d->at; i < d->end; i++)
        v = v << 8 | d->p[i];
    return v;
}

static inline double mkv_float(const mkv_cur *d)
{
    uint64_t bits = mkv_uint(d);
    if (d->end - d->at == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        return f;
    }
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

#define MKV_FAIL(f, w)  \
    do {                \
        (f)->why = (w); \
        return -1;      \
    } while (0)

static inline int mkv_read_track(mkv_file *f, mkv_cur *d)
{
    if (f->ntracks == MKV_MAX_TRACKS)
        MKV_FAIL(f, "too many tracks");
    mkv_track *t = &f->tracks[f->ntracks++];
    memset(t, 0, sizeof(*t));
    while (d->at < d->end) {
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(d, &id, &e, NULL) != 0)
            MKV_FAIL(f, "TrackEntry child overruns");
        size_t n = e.end - e.at;
        if (id == 0xD7)
            t->number = (unsigned)mkv_uint(&e);
        else if (id == 0x83)
            t->type = (unsigned)mkv_uint(&e);
        else if (id == 0x86 && n < sizeof(t->codec))
            memcpy(t->codec, e.p + e.at, n);
        else if (id == 0x63A2 && n <= sizeof(t->priv))
            memcpy(t->priv, e.p + e.at, t->priv_len = n);
        else if (id == 0x56AA)
            t->codec_delay = mkv_uint(&e);
        else if (id == 0x56BB)
            t->seek_pre_roll = mkv_uint(&e);
        else if (id == 0xE0 || id == 0xE1) {
            while (e.at < e.end) {
                uint32_t cid;
                mkv_cur v;
                if (mkv_elem(&e, &cid, &v, NULL) != 0)
                    MKV_FAIL(f, "Video/Audio child overruns");
                if (cid == 0xB0)
                    t->width = (unsigned)mkv_uint(&v);
                else if (cid == 0xBA)
                    t->height = (unsigned)mkv_uint(&v);
                else if (cid == 0x9F)
                    t->channels = (unsigned)mkv_uint(&v);
                else if (cid == 0xB5)
                    t->rate = mkv_float(&v);
            }
        }
    }
    if (!t->number || !t->type || !t->codec[0])
        MKV_FAIL(f, "TrackEntry without number, type or codec");
    return 0;
}

static inline int mkv_push_block(mkv_file *f, const mkv_block *b)
{
    if (f->nblocks % 1024 == 0) {
        mkv_block *nb = realloc(f->blocks, (f->nblocks + 1024) * sizeof(*nb));
        if (!nb)
            MKV_FAIL(f, "out of memory");
        f->blocks = nb;
    }
    f->blocks[f->nblocks++] = *b;
    return 0;
}

static inline int mkv_read_cluster(mkv_file *f, mkv_cur *d, uint64_t off)
{
    if (f->nclusters % 256 == 0) {
        mkv_cluster *nc = realloc(f->clusters, (f->nclusters + 256) * sizeof(*nc));
        if (!nc)
            MKV_FAIL(f, "out of memory");
        f->clusters = nc;
    }
    mkv_cluster *c = &f->clusters[f->nclusters];
    *c = (mkv_cluster){ .off = off, .end = d->end, .ts = -1, .first = f->nblocks };
    while (d->at < d->end) {
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(d, &id, &e, NULL) != 0)
            MKV_FAIL(f, "Cluster child overruns");
        if (id == 0xE7) {
            if (c->ts >= 0 || c->n)
                MKV_FAIL(f, "Cluster Timestamp not first");
            c->ts = (int64_t)mkv_uint(&e);
            continue;
        }
        if (id != 0xA3)
            MKV_FAIL(f, "Cluster holds something else than SimpleBlocks");
        if (c->ts < 0)
            MKV_FAIL(f, "SimpleBlock before the Cluster Timestamp");
        uint64_t track;
        if (mkv_vint(&e, &track, 0, NULL) != 0 || e.end - e.at < 4)
            MKV_FAIL(f, "SimpleBlock too short");
        int16_t rel = (int16_t)(e.p[e.at] << 8 | e.p[e.at + 1]);
        uint8_t flags = e.p[e.at + 2];
        if (flags & 0x06)
            MKV_FAIL(f, "SimpleBlock laced");
        mkv_block b = { .track = (unsigned)track,
                        .ts = c->ts + rel,
                        .rel = rel,
                        .key = !!(flags & 0x80),
                        .len = e.end - e.at - 3,
                        .off = e.at + 3,
                        .cluster = f->nclusters };
        if (mkv_push_block(f, &b) != 0)
            return -1;
        c->n++;
    }
    if (c->ts < 0 || c->n == 0)
        MKV_FAIL(f, "Cluster without Timestamp or blocks");
    f->nclusters++;
    return 0;
}

static inline int mkv_read_seek_head(mkv_file *f, mkv_cur *d)
{
    while (d->at < d->end) {
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(d, &id, &e, NULL) != 0 || id != 0x4DBB)
            MKV_FAIL(f, "SeekHead holds something else than Seeks");
        uint64_t sid = 0, pos = 0;
        while (e.at < e.end) {
            uint32_t cid;
            mkv_cur v;
            if (mkv_elem(&e, &cid, &v, NULL) != 0)
                MKV_FAIL(f, "Seek child overruns");
            if (cid == 0x53AB)
                sid = mkv_uint(&v);
            else if (cid == 0x53AC)
                pos = mkv_uint(&v);
        }
        if (sid == 0x1549A966)
            f->seek_info = pos;
        else if (sid == 0x1654AE6B)
            f->seek_tracks = pos;
        else if (sid == 0x1C53BB6B)
            f->seek_cues = pos;
        else
            MKV_FAIL(f, "Seek to an unknown element");
    }
    return 0;
}

static inline int mkv_read_cues(mkv_file *f, mkv_cur *d)
{
    while (d->at < d->end) {
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(d, &id, &e, NULL) != 0 || id != 0xBB || f->ncues == 4096)
            MKV_FAIL(f, "bad CuePoint");
        int64_t ts = -1;
        uint64_t pos = 0;
        unsigned track = 0;
        while (e.at < e.end) {
            uint32_t cid;
            mkv_cur v;
            if (mkv_elem(&e, &cid, &v, NULL) != 0)
                MKV_FAIL(f, "CuePoint child overruns");
            if (cid == 0xB3)
                ts = (int64_t)mkv_uint(&v);
            else if (cid == 0xB7) {
                while (v.at < v.end) {
                    uint32_t tid;
                    mkv_cur x;
                    if (mkv_elem(&v, &tid, &x, NULL) != 0)
                        MKV_FAIL(f, "CueTrackPositions child overruns");
                    if (tid == 0xF7)
                        track = (unsigned)mkv_uint(&x);
                    else if (tid == 0xF1)
                        pos = mkv_uint(&x);
                }
            }
        }
        if (ts < 0 || !track)
            MKV_FAIL(f, "CuePoint without time or track");
        f->cue_ts[f->ncues] = ts;
        f->cue_pos[f->ncues] = pos;
        f->cue_track[f->ncues++] = track;
    }
    return 0;
}

static inline int mkv_read_info(mkv_file *f, mkv_cur *d)
{
    while (d->at < d->end) {
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(d, &id, &e, NULL) != 0)
            MKV_FAIL(f, "Info child overruns");
        if (id == 0x2AD7B1)
            f->timestamp_scale = mkv_uint(&e);
        else if (id == 0x4489)
            f->duration = mkv_float(&e);
    }
    return 0;
}

/* Checks what lies between the Segment's children: the order, and that
 * the SeekHead and Cues point where the elements are. */
static inline int mkv_check_links(mkv_file *f)
{
    if (!f->info_pos || !f->tracks_pos)
        MKV_FAIL(f, "no Info or Tracks");
    if (f->seek_info != f->info_pos || f->seek_tracks != f->tracks_pos)
        MKV_FAIL(f, "SeekHead points beside Info or Tracks");
    if (f->seek_cues && f->seek_cues != f->cues_pos)
        MKV_FAIL(f, "SeekHead points beside Cues");
    for (size_t i = 0; i < f->ncues; i++) {
        size_t k = 0;
        while (k < f->nclusters && f->clusters[k].off - f->seg_data != f->cue_pos[i])
            k++;
        if (k == f->nclusters || f->clusters[k].ts != f->cue_ts[i])
            MKV_FAIL(f, "CuePoint names no cluster, or another time");
    }
    return 0;
}

static inline int mkv_read_segment(mkv_file *f, mkv_cur *seg)
{
    int stage = 0; /* 1 SeekHead, 2 Info, 3 Tracks, 4 Clusters, 5 Cues */
    while (seg->at < seg->end) {
        uint64_t off = seg->at;
        uint32_t id;
        mkv_cur e;
        if (mkv_elem(seg, &id, &e, NULL) != 0)
            MKV_FAIL(f, "Segment child overruns");
        int want;
        switch (id) {
        case 0xEC:
            continue;
        case 0x114D9B74:
            want = 1;
            if (mkv_read_seek_head(f, &e) != 0)
                return -1;
            break;
        case 0x1549A966:
            want = 2;
            f->info_pos = off - f->seg_data;
            if (mkv_read_info(f, &e) != 0)
                return -1;
            break;
        case 0x1654AE6B:
            want = 3;
            f->tracks_pos = off - f->seg_data;
            while (e.at < e.end) {
                uint32_t tid;
                mkv_cur te;
                if (mkv_elem(&e, &tid, &te, NULL) != 0 || tid != 0xAE)
                    MKV_FAIL(f, "Tracks holds something else than TrackEntries");
                if (mkv_read_track(f, &te) != 0)
                    return -1;
            }
            break;
        case 0x1F43B675:
            want = 4;
            if (mkv_read_cluster(f, &e, off) != 0)
                return -1;
            break;
        case 0x1C53BB6B:
            want = 5;
            f->cues_pos = off - f->seg_data;
            if (mkv_read_cues(f, &e) != 0)
                return -1;
            break;
        default:
            MKV_FAIL(f, "unknown element in the Segment");
        }
        if (want < stage || (want == stage && want != 4))
            MKV_FAIL(f, "Segment children out of order");
        stage = want;
    }
    return mkv_check_links(f);
}

static inline void mkv_free(mkv_file *f)
{
    free(f->clusters);
    free(f->blocks);
    f->clusters = NULL;
    f->blocks = NULL;
}

static inline int mkv_read(const uint8_t *p, size_t len, mkv_file *f)
{
    memset(f, 0, sizeof(*f));
    f->duration = -1;
    mkv_cur c = { p, 0, len }, e;
    uint32_t id;
    int unknown;
    if (mkv_elem(&c, &id, &e, NULL) != 0 || id != 0x1A45DFA3)
        MKV_FAIL(f, "no EBML header");
    while (e.at < e.end) {
        uint32_t hid;
        mkv_cur v;
        if (mkv_elem(&e, &hid, &v, NULL) != 0)
            MKV_FAIL(f, "EBML header child overruns");
        if (hid == 0x4282 && v.end - v.at < sizeof(f->doc_type))
            memcpy(f->doc_type, v.p + v.at, v.end - v.at);
    }
    if (mkv_elem(&c, &id, &e, &unknown) != 0 || id != 0x18538067)
        MKV_FAIL(f, "no Segment");
    f->seg_size = unknown ? -1 : (int64_t)(e.end - e.at);
    f->seg_data = e.at;
    if (c.at != len)
        MKV_FAIL(f, "bytes after the Segment");
    return mkv_read_segment(f, &e);
}

#endif
