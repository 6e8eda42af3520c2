/* test_mp4's reader of the files it makes: the ISO BMFF boxes walked, each
 * track's samples (times, sizes, flags) taken from the moov, every
 * moof/traf/trun and the mfra, and the times checked. Included by
 * test_mp4.c after cmocka. */
#ifndef FL_TESTS_UNIT_CONTAINER_MP4_READ_H
#define FL_TESTS_UNIT_CONTAINER_MP4_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

/* ---- reading the file back ---- */

struct box {
    size_t at; /* from the start of the range it was read in */
    size_t size;
    char type[5];
    const uint8_t *body;
    size_t body_len;
};

static int box_read(const uint8_t *p, size_t len, size_t at, struct box *b)
{
    if (at > len || len - at < 8)
        return -1;
    uint32_t size = fl_get_be32(p + at);
    if (size < 8 || size > len - at)
        return -1;
    b->at = at;
    b->size = size;
    memcpy(b->type, p + at + 4, 4);
    b->type[4] = 0;
    b->body = p + at + 8;
    b->body_len = size - 8;
    return 0;
}

/* The first box of `type` in p..len (a container's children). */
static int box_find(const uint8_t *p, size_t len, const char *type, struct box *out)
{
    struct box b;
    for (size_t at = 0; box_read(p, len, at, &b) == 0; at += b.size) {
        if (strcmp(b.type, type) == 0) {
            *out = b;
            return 0;
        }
    }
    return -1;
}

static struct box child(const struct box *parent, const char *type)
{
    struct box b;
    if (box_find(parent->body, parent->body_len, type, &b) != 0)
        fail_msg("no %s in %s", type, parent->type);
    return b;
}

#define MAX_TRACKS 4
#define MAX_FRAGS  512

struct ptrack {
    uint32_t id, timescale;
    char handler[5], entry[5];
    const uint8_t *config; /* avcC or dOps body */
    size_t config_len;
    uint16_t width, height;
    int64_t *dts;
    uint32_t *dur, *size;
    size_t *offset; /* of the sample's bytes in the file */
    uint8_t *sync;
    size_t n, cap;
};

struct pfrag {
    size_t moof_at, unit_len;
    size_t ntraf;
    size_t traf_track[MAX_TRACKS]; /* index into tracks */
    size_t traf_first[MAX_TRACKS];
    size_t traf_n[MAX_TRACKS];
    double end_s; /* the end of the last sample of the fragment, the latest track */
};

struct pfile {
    struct ptrack tracks[MAX_TRACKS];
    size_t ntracks;
    struct pfrag frags[MAX_FRAGS];
    size_t nfrags;
    int has_mfra;
    size_t ra_entries; /* tfra entries, each checked */
    uint64_t mehd;
    char brands[64];
};

static void pfile_free(struct pfile *pf)
{
    for (size_t i = 0; i < pf->ntracks; i++) {
        struct ptrack *t = &pf->tracks[i];
        free(t->dts);
        free(t->dur);
        free(t->size);
        free(t->offset);
        free(t->sync);
    }
    free(pf);
}

static void ptrack_add(struct ptrack *t,
                       int64_t dts,
                       uint32_t dur,
                       uint32_t size,
                       size_t offset,
                       int sync)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->dts = realloc(t->dts, t->cap * sizeof(*t->dts));
        t->dur = realloc(t->dur, t->cap * sizeof(*t->dur));
        t->size = realloc(t->size, t->cap * sizeof(*t->size));
        t->offset = realloc(t->offset, t->cap * sizeof(*t->offset));
        t->sync = realloc(t->sync, t->cap * sizeof(*t->sync));
        assert_true(t->dts && t->dur && t->size && t->offset && t->sync);
    }
    t->dts[t->n] = dts;
    t->dur[t->n] = dur;
    t->size[t->n] = size;
    t->offset[t->n] = offset;
    t->sync[t->n] = (uint8_t)sync;
    t->n++;
}

static void parse_trak(const struct box *trak, struct ptrack *t)
{
    struct box tkhd = child(trak, "tkhd"), mdia = child(trak, "mdia");
    t->id = fl_get_be32(tkhd.body + 12);
    struct box mdhd = child(&mdia, "mdhd"), hdlr = child(&mdia, "hdlr");
    t->timescale = fl_get_be32(mdhd.body + 12);
    memcpy(t->handler, hdlr.body + 8, 4);
    struct box minf = child(&mdia, "minf");
    struct box stbl = child(&minf, "stbl");
    struct box stsd = child(&stbl, "stsd");
    assert_int_equal(fl_get_be32(stsd.body + 4), 1);
    struct box entry, config;
    assert_int_equal(box_read(stsd.body + 8, stsd.body_len - 8, 0, &entry), 0);
    memcpy(t->entry, entry.type, 4);
    if (strcmp(entry.type, "avc1") == 0) {
        t->width = fl_get_be16(entry.body + 24);
        t->height = fl_get_be16(entry.body + 26);
        assert_int_equal(box_find(entry.body + 78, entry.body_len - 78, "avcC", &config), 0);
        assert_string_equal(t->handler, "vide");
    } else {
        assert_string_equal(entry.type, "Opus");
        assert_int_equal(fl_get_be32(entry.body + 24), 48000u << 16);
        assert_int_equal(box_find(entry.body + 28, entry.body_len - 28, "dOps", &config), 0);
        assert_string_equal(t->handler, "soun");
        child(&stbl, "sgpd");
    }
    t->config = config.body;
    t->config_len = config.body_len;
    /* the sample tables are empty: the samples are in the fragments */
    assert_int_equal(fl_get_be32(child(&stbl, "stts").body + 4), 0);
    assert_int_equal(fl_get_be32(child(&stbl, "stsz").body + 8), 0);
}

static void parse_moov(const struct box *moov, struct pfile *pf)
{
    struct box b;
    for (size_t at = 0; box_read(moov->body, moov->body_len, at, &b) == 0; at += b.size) {
        if (strcmp(b.type, "trak") == 0) {
            assert_true(pf->ntracks < MAX_TRACKS);
            parse_trak(&b, &pf->tracks[pf->ntracks++]);
        } else if (strcmp(b.type, "mvex") == 0) {
            struct box mehd = child(&b, "mehd");
            assert_int_equal(mehd.body[0], 1);
            pf->mehd = (uint64_t)fl_get_be32(mehd.body + 4) << 32 | fl_get_be32(mehd.body + 8);
            size_t trex = 0;
            struct box c;
            for (size_t k = 0; box_read(b.body, b.body_len, k, &c) == 0; k += c.size)
                trex += strcmp(c.type, "trex") == 0;
            assert_int_equal(trex, pf->ntracks);
        }
    }
    assert_true(pf->ntracks >= 1);
    for (size_t i = 0; i < pf->ntracks; i++)
        assert_int_equal(pf->tracks[i].id, i + 1);
}

static size_t track_index(const struct pfile *pf, uint32_t id)
{
    for (size_t i = 0; i < pf->ntracks; i++)
        if (pf->tracks[i].id == id)
            return i;
    fail_msg("no track %u", id);
    return 0;
}

/* One traf: its samples go to their track; *data_at: where its bytes must
 * start (they follow the previous traf's in the mdat). */
static void parse_traf(const uint8_t *file,
                       const struct box *traf,
                       size_t moof_at,
                       const struct box *mdat,
                       struct pfile *pf,
                       struct pfrag *fr,
                       size_t *data_at)
{
    struct box tfhd = child(traf, "tfhd"), tfdt = child(traf, "tfdt"), trun = child(traf, "trun");
    uint32_t tf = fl_get_be32(tfhd.body) & 0xffffff;
    assert_true(tf & 0x020000); /* default-base-is-moof */
    assert_false(tf & 0x000001);
    const uint8_t *q = tfhd.body + 4;
    size_t ti = track_index(pf, fl_get_be32(q));
    q += 4;
    uint32_t def_dur = 0, def_flags = 0;
    if (tf & 0x02)
        q += 4;
    if (tf & 0x08)
        def_dur = fl_get_be32(q), q += 4;
    if (tf & 0x10)
        q += 4;
    if (tf & 0x20)
        def_flags = fl_get_be32(q), q += 4;
    assert_int_equal(tfdt.body[0], 1);
    int64_t dts =
            (int64_t)((uint64_t)fl_get_be32(tfdt.body + 4) << 32 | fl_get_be32(tfdt.body + 8));

    uint32_t tr = fl_get_be32(trun.body) & 0xffffff;
    uint32_t n = fl_get_be32(trun.body + 4);
    assert_true(tr & 0x001);
    assert_true(n > 0);
    size_t start = moof_at + (size_t)(int32_t)fl_get_be32(trun.body + 8);
    assert_int_equal(start, *data_at);
    q = trun.body + 12;
    uint32_t first_flags = def_flags;
    if (tr & 0x004)
        first_flags = fl_get_be32(q), q += 4;
    struct ptrack *t = &pf->tracks[ti];
    fr->traf_track[fr->ntraf] = ti;
    fr->traf_first[fr->ntraf] = t->n;
    fr->traf_n[fr->ntraf] = n;
    fr->ntraf++;
    size_t at = start;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t dur = def_dur, size = 0, flags = i == 0 ? first_flags : def_flags;
        if (tr & 0x100)
            dur = fl_get_be32(q), q += 4;
        assert_true(tr & 0x200);
        size = fl_get_be32(q), q += 4;
        if (tr & 0x400)
            flags = fl_get_be32(q), q += 4;
        assert_int_equal(q - trun.body <= (ptrdiff_t)trun.body_len, 1);
        ptrack_add(t, dts, dur, size, at, !(flags & 0x00010000));
        dts += dur;
        at += size;
    }
    assert_true(at <= mdat->at + mdat->size);
    double end = (double)dts / t->timescale;
    if (end > fr->end_s)
        fr->end_s = end;
    *data_at = at;
    (void)file;
}

static void parse_fragment(const uint8_t *p,
                           const struct box *moof,
                           const struct box *mdat,
                           struct pfile *pf)
{
    assert_true(pf->nfrags < MAX_FRAGS);
    struct pfrag *fr = &pf->frags[pf->nfrags];
    memset(fr, 0, sizeof(*fr));
    if (pf->nfrags)
        fr->end_s = pf->frags[pf->nfrags - 1].end_s;
    fr->moof_at = moof->at;
    fr->unit_len = moof->size + mdat->size;
    assert_int_equal(fl_get_be32(child(moof, "mfhd").body + 4), pf->nfrags + 1);
    size_t data_at = mdat->at + 8;
    struct box b;
    for (size_t at = 0; box_read(moof->body, moof->body_len, at, &b) == 0; at += b.size)
        if (strcmp(b.type, "traf") == 0)
            parse_traf(p, &b, moof->at, mdat, pf, fr, &data_at);
    assert_true(fr->ntraf > 0);
    assert_int_equal(data_at,
                     mdat->at + mdat->size); /* the mdat holds the trafs' samples, no more */
    pf->nfrags++;
}

/* tfra entries: each names a fragment, a traf and a sample that is sync
 * and at the time said. */
static void parse_mfra(const struct box *mfra, struct pfile *pf)
{
    struct box b;
    for (size_t at = 0; box_read(mfra->body, mfra->body_len, at, &b) == 0; at += b.size) {
        if (strcmp(b.type, "mfro") == 0) {
            assert_int_equal(fl_get_be32(b.body + 4), mfra->size);
            assert_int_equal(at + b.size, mfra->body_len); /* last */
            continue;
        }
        assert_string_equal(b.type, "tfra");
        assert_int_equal(b.body[0], 1);
        size_t ti = track_index(pf, fl_get_be32(b.body + 4));
        uint32_t sizes = fl_get_be32(b.body + 8);
        size_t traf_len = ((sizes >> 4) & 3) + 1, trun_len = ((sizes >> 2) & 3) + 1,
               sample_len = (sizes & 3) + 1;
        uint32_t n = fl_get_be32(b.body + 12);
        const uint8_t *q = b.body + 16;
        for (uint32_t e = 0; e < n; e++) {
            int64_t time = (int64_t)((uint64_t)fl_get_be32(q) << 32 | fl_get_be32(q + 4));
            size_t moof = (size_t)((uint64_t)fl_get_be32(q + 8) << 32 | fl_get_be32(q + 12));
            q += 16;
            uint32_t v[3] = { 0 };
            size_t lens[3] = { traf_len, trun_len, sample_len };
            for (int k = 0; k < 3; k++)
                for (size_t j = 0; j < lens[k]; j++)
                    v[k] = v[k] << 8 | *q++;
            assert_int_equal(v[1], 1);
            const struct pfrag *fr = NULL;
            for (size_t f = 0; f < pf->nfrags; f++)
                if (pf->frags[f].moof_at == moof)
                    fr = &pf->frags[f];
            assert_non_null(fr);
            assert_true(v[0] >= 1 && v[0] <= fr->ntraf);
            assert_int_equal(fr->traf_track[v[0] - 1], ti);
            assert_true(v[2] >= 1 && v[2] <= fr->traf_n[v[0] - 1]);
            size_t s = fr->traf_first[v[0] - 1] + v[2] - 1;
            assert_true(pf->tracks[ti].sync[s]);
            assert_int_equal(pf->tracks[ti].dts[s], time);
            pf->ra_entries++;
        }
        assert_int_equal(q - b.body, b.body_len);
    }
    pf->has_mfra = 1;
}

/* Reads a whole file (or a cut one: no mfra) and checks its structure. */
static struct pfile *parse_file(const uint8_t *p, size_t len)
{
    struct pfile *pf = calloc(1, sizeof(*pf));
    assert_non_null(pf);
    struct box ftyp, moov, b;
    assert_int_equal(box_read(p, len, 0, &ftyp), 0);
    assert_string_equal(ftyp.type, "ftyp");
    for (size_t i = 0; i < ftyp.body_len && i < sizeof(pf->brands) - 1; i++)
        pf->brands[i] = ftyp.body[i] ? (char)ftyp.body[i] : '.';
    assert_int_equal(box_read(p, len, ftyp.size, &moov), 0);
    assert_string_equal(moov.type, "moov");
    parse_moov(&moov, pf);
    size_t at = ftyp.size + moov.size;
    while (at < len) {
        assert_int_equal(box_read(p, len, at, &b), 0);
        if (strcmp(b.type, "mfra") == 0) {
            parse_mfra(&b, pf);
            assert_int_equal(at + b.size, len);
            break;
        }
        assert_string_equal(b.type, "moof");
        struct box mdat;
        assert_int_equal(box_read(p, len, at + b.size, &mdat), 0);
        assert_string_equal(mdat.type, "mdat");
        parse_fragment(p, &b, &mdat, pf);
        at += b.size + mdat.size;
    }
    return pf;
}

#endif
