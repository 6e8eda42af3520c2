/* container/mp4.c: fragmented MP4 (ISO/IEC 14496-12) for recording:
 * H.264 (avc1 + avcC, ISO/IEC 14496-15) and Opus (Opus + dOps, "Encapsulation
 * of Opus in ISO Base Media File Format").
 *
 * The file, in the order it is appended, each item one write:
 *   ftyp + moov  once every track has shown what its header needs
 *                (container.h): ftyp (major iso5; iso5, iso6, mp41, and avc1
 *                or Opus for the codecs in it), moov with mvhd, a trak per
 *                track (empty sample tables, the sample entry: avc1 + avcC from
 *                the first key frame's SPS/PPS and size, or Opus + dOps and the
 *                'roll' group of 80 ms pre-roll), mvex with mehd and a trex per
 *                track.
 *   moof + mdat  a fragment: mfhd (sequence from 1), a traf per track that
 *                has samples in it (tfhd default-base-is-moof, tfdt, trun; an
 *                sbgp 'roll' for Opus), then one mdat with the samples, track
 *                after track.
 *   mfra         at fl_mux_finish, after the last fragment: a tfra per track
 *                (the first sync sample of every fragment that has one: the
 *                key frames video fragments start on) and mfro. Then mehd's
 *                duration is patched in (the one write at an offset).
 * A file cut after any of these plays up to it; the mfra and the duration
 * only help a reader seek and show a length.
 *
 * Tracks: a video track's header waits for its first key frame that comes
 * with a size and a valid SPS and PPS (frames before it are dropped); an
 * Opus track needs nothing (its trak is written even when it has sent
 * nothing yet, so audio that starts late is kept). A video track still
 * waiting when 2 s of media have been held (or the held fragment is full)
 * is left out of the file: its frames are dropped from then on. Track IDs
 * are 1.. in the order of the tracks kept.
 *
 * Fragments: a new one starts at a video key frame once fragment_us has
 * passed since the fragment's first sample (with no video track kept:
 * at any frame once it has passed), and at any frame when the fragment
 * would pass 30 s, 32 MiB or 16384 samples. Audio and video share
 * fragments, a traf each.
 *
 * Timing: times are decode times, equal to presentation times (WebRTC sends
 * no B-frames: no composition offsets are written). Each sample's time in
 * its track's timescale (90 kHz video, 48 kHz Opus) is computed from its
 * absolute pts_us, so rounding never accumulates; a sample lasts until the
 * next one of its track, so a sample is held until that one comes. A
 * fragment cut leaves such held samples of the other tracks to the next
 * fragment (its tfdt is their exact time). At fl_mux_finish the last sample
 * of each track lasts as long as the one before it (one frame: 1/30 s
 * video, 20 ms Opus).
 *
 * Frames: an empty one, one over 32 MiB or one past 2^52 us (142 years)
 * is refused (FL_EINVAL).
 * H.264: the frame's AVC form is checked (4-byte lengths that add up to
 * the frame, no empty NAL unit); a broken frame is refused (FL_EINVAL).
 * A key frame whose SPS or PPS differ from the sample entry's (a
 * resolution change) carries them in band, before its NAL units, so that
 * the stream decodes from any fragment on. avcC is container/avcc.c's,
 * the same as Matroska's CodecPrivate: for the profiles above Main (High
 * and the rest but Extended) it carries the chroma format and bit depths
 * of the SPS (left out when the SPS does not parse).
 *
 * Opus: dOps says OutputChannelCount = the track's channels (1 or 2),
 * PreSkip 3840 (80 ms at 48 kHz: the decoder's output to discard after a
 * random access), InputSampleRate = the track's sample rate (48000 when
 * 0), OutputGain 0, ChannelMappingFamily 0. No edit list trims it: a
 * recording starts in the middle of a stream, its audio stays where its
 * timestamps put it (ffmpeg drops the first 80 ms it decodes and keeps the
 * rest at its time).
 *
 * After a write error the muxer writes nothing more: every later call
 * returns that error (the held media is dropped).
 *
 * Not done here: rewriting a finished file as a plain MP4 with moov first
 * (progressive download) is left for later; readers of fragmented MP4
 * (ffmpeg, MSE in browsers) take the file as it is.
 *
 * Memory: the fragment's samples are copied into per-track buffers that
 * grow to the largest fragment and are reused; the unit written is built
 * in one reused buffer. Nothing is allocated per frame once they have
 * grown, but for the random-access index (one entry per fragment). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"
#include "container/container_int.h"

FL_LOG_TAG("mp4");

#define US_PER_SEC 1000000

#define MOVIE_TIMESCALE 1000
#define VIDEO_TIMESCALE 90000
#define OPUS_TIMESCALE  48000
#define OPUS_PRE_SKIP   3840
/* 80 ms of pre-roll, in 20 ms samples (what browsers send) */
#define OPUS_ROLL_DISTANCE (-4)

#define DEFAULT_FRAGMENT_US US_PER_SEC
#define HEADER_WAIT_US      (2 * US_PER_SEC)
#define FRAG_MAX_US         (30 * (int64_t)US_PER_SEC)
#define FRAG_MAX_BYTES      ((size_t)32 << 20)
#define FRAG_MAX_SAMPLES    16384
/* Later times are refused: 142 years keeps every sum of times in range. */
#define MAX_PTS_US ((int64_t)1 << 52)

/* SPS/PPS longer than this are not taken (real ones are tens of bytes) */
#define PARAM_MAX 1024

/* sample_flags (14496-12 8.8.3.1): depends on nothing / on others, non-sync */
#define SAMPLE_SYNC     0x02000000u
#define SAMPLE_NON_SYNC 0x01010000u

#define TFHD_DEFAULT_DURATION     0x000008u
#define TFHD_DEFAULT_FLAGS        0x000020u
#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000u

#define TRUN_DATA_OFFSET 0x000001u
#define TRUN_FIRST_FLAGS 0x000004u
#define TRUN_DURATION    0x000100u
#define TRUN_SIZE        0x000200u
#define TRUN_FLAGS       0x000400u

/* ---- a growable byte buffer and the box writer over it ---- */

struct wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int failed; /* out of memory: later writes are dropped */
};

static int w_need(struct wbuf *b, size_t n)
{
    if (b->failed)
        return 0;
    if (n <= b->cap - b->len)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void w_bytes(struct wbuf *b, const void *data, size_t n)
{
    if (n && w_need(b, n)) {
        memcpy(b->p + b->len, data, n);
        b->len += n;
    }
}

static void w_zero(struct wbuf *b, size_t n)
{
    if (w_need(b, n)) {
        memset(b->p + b->len, 0, n);
        b->len += n;
    }
}

static void w8(struct wbuf *b, uint8_t v)
{
    w_bytes(b, &v, 1);
}

static void w16(struct wbuf *b, uint16_t v)
{
    uint8_t x[2];
    fl_put_be16(x, v);
    w_bytes(b, x, 2);
}

static void w32(struct wbuf *b, uint32_t v)
{
    uint8_t x[4];
    fl_put_be32(x, v);
    w_bytes(b, x, 4);
}

static void w64(struct wbuf *b, uint64_t v)
{
    w32(b, (uint32_t)(v >> 32));
    w32(b, (uint32_t)v);
}

static void w_fourcc(struct wbuf *b, const char *type)
{
    w_bytes(b, type, 4);
}

/* Opens a box: its size is filled in by box_close. Returns where it starts. */
static size_t box_open(struct wbuf *b, const char *type)
{
    size_t at = b->len;
    w32(b, 0);
    w_fourcc(b, type);
    return at;
}

static size_t fullbox_open(struct wbuf *b, const char *type, uint8_t version, uint32_t flags)
{
    size_t at = box_open(b, type);
    w32(b, (uint32_t)version << 24 | (flags & 0xffffff));
    return at;
}

static void box_close(struct wbuf *b, size_t at)
{
    if (!b->failed)
        fl_put_be32(b->p + at, (uint32_t)(b->len - at));
}

/* ---- the muxer's state ---- */

struct sample {
    int64_t dts;    /* track timescale */
    int64_t pts_us; /* as given */
    uint32_t size;
    uint32_t duration; /* track timescale; set when the next sample comes */
    uint8_t sync;
};

/* A random-access point for the tfra: the first sync sample of a fragment. */
struct ra_entry {
    int64_t time;
    uint64_t moof_offset;
    uint32_t sample_number; /* 1-based in the trun */
    uint8_t traf_number;    /* 1-based in the moof */
};

enum track_state {
    TRACK_WAITING, /* video: no usable key frame yet */
    TRACK_READY,
    TRACK_OUT, /* left out of the file */
};

struct track {
    fl_mux_codec codec;
    int video;
    unsigned channels;
    uint32_t input_rate;
    uint32_t timescale;
    enum track_state state;
    uint32_t id; /* track_ID in the file; 0 until the header */
    uint16_t width, height;
    uint8_t *sps, *pps; /* the sample entry's */
    size_t sps_len, pps_len;
    /* This fragment's samples and their bytes; when `held`, the last one
     * waits for its duration (the next sample) and is not written yet. */
    struct wbuf data;
    struct sample *samples;
    size_t nsamples, samples_cap;
    int held;
    uint32_t last_duration;
    struct ra_entry *ra;
    size_t nra, ra_cap;
};

struct mp4 {
    fl_mux_output out;
    int64_t fragment_us;
    struct track tracks[FL_MUX_MAX_TRACKS];
    size_t ntracks;
    int header_written;
    int has_video; /* a video track is in the file: fragments start on its key frames */
    int have_first;
    int64_t first_us;      /* pts of the first frame held */
    int64_t frag_start_us; /* earliest pts in the fragment */
    size_t frag_bytes;     /* sample bytes in the fragment, held ones included */
    size_t frag_samples;
    uint32_t sequence;
    uint64_t appended;
    uint64_t mehd_at; /* file offset of mehd's fragment_duration */
    struct wbuf unit; /* the bytes of one write */
    int err;          /* a write failed: the muxer is stopped */
    fl_mux_stats stats;
};

/* ---- time ---- */

/* pts_us (>= 0) in a timescale, rounded, without overflow for any int64. */
static int64_t us_to_ticks(int64_t us, uint32_t timescale)
{
    return us / US_PER_SEC * timescale +
           ((us % US_PER_SEC) * timescale + US_PER_SEC / 2) / US_PER_SEC;
}

static int64_t ticks_to_us(int64_t t, uint32_t timescale)
{
    return t / timescale * US_PER_SEC + (t % timescale) * US_PER_SEC / timescale;
}

static uint32_t default_duration(const struct track *t)
{
    return t->video ? VIDEO_TIMESCALE / 30 : OPUS_TIMESCALE / 50;
}

/* ---- H.264 ---- */

/* 1 when data is a run of NAL units each after its 4-byte length. */
static int avc_form_valid(const uint8_t *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 5)
            return 0;
        uint32_t n = fl_get_be32(p + at);
        if (n == 0 || n > len - at - 4)
            return 0;
        at += 4 + (size_t)n;
    }
    return len > 0;
}

/* A key frame that brings what the sample entry needs. */
static int frame_has_entry(const fl_mux_frame *f)
{
    return f->key && f->width && f->height &&
           fl__h264_param_sets_ok(f->sps, f->sps_len, f->pps, f->pps_len) &&
           f->sps_len <= PARAM_MAX && f->pps_len >= 2 && f->pps_len <= PARAM_MAX;
}

/* A key frame whose SPS/PPS are not the sample entry's: they go in band. */
static int frame_needs_params(const struct track *t, const fl_mux_frame *f)
{
    if (!frame_has_entry(f))
        return 0;
    return f->sps_len != t->sps_len || memcmp(f->sps, t->sps, t->sps_len) != 0 ||
           f->pps_len != t->pps_len || memcmp(f->pps, t->pps, t->pps_len) != 0;
}

/* Copies the sample entry's SPS/PPS and size from the first usable key frame. */
static int track_take_entry(struct track *t, const fl_mux_frame *f)
{
    uint8_t *sps = malloc(f->sps_len);
    uint8_t *pps = malloc(f->pps_len);
    if (!sps || !pps) {
        free(sps);
        free(pps);
        return FL_ENOMEM;
    }
    memcpy(sps, f->sps, f->sps_len);
    memcpy(pps, f->pps, f->pps_len);
    t->sps = sps;
    t->pps = pps;
    t->sps_len = f->sps_len;
    t->pps_len = f->pps_len;
    t->width = f->width;
    t->height = f->height;
    t->state = TRACK_READY;
    return 0;
}

/* ---- the header: ftyp + moov ---- */

static const uint32_t unity_matrix[9] = { 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000 };

static void w_matrix(struct wbuf *b)
{
    for (size_t i = 0; i < 9; i++)
        w32(b, unity_matrix[i]);
}

static void write_ftyp(struct wbuf *b, const struct mp4 *m)
{
    int h264 = 0, opus = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        if (!m->tracks[i].id)
            continue;
        h264 |= m->tracks[i].codec == FL_MUX_H264;
        opus |= m->tracks[i].codec == FL_MUX_OPUS;
    }
    size_t box = box_open(b, "ftyp");
    w_fourcc(b, "iso5");
    w32(b, 512);
    w_fourcc(b, "iso5");
    w_fourcc(b, "iso6");
    w_fourcc(b, "mp41");
    if (h264)
        w_fourcc(b, "avc1");
    if (opus)
        w_fourcc(b, "Opus");
    box_close(b, box);
}

static void write_mvhd(struct wbuf *b, uint32_t next_track_id)
{
    size_t box = fullbox_open(b, "mvhd", 0, 0);
    w32(b, 0); /* creation_time */
    w32(b, 0); /* modification_time */
    w32(b, MOVIE_TIMESCALE);
    w32(b, 0);          /* duration: in the fragments (mehd) */
    w32(b, 0x00010000); /* rate 1.0 */
    w16(b, 0x0100);     /* volume 1.0 */
    w_zero(b, 2 + 8);   /* reserved */
    w_matrix(b);
    w_zero(b, 24); /* pre_defined */
    w32(b, next_track_id);
    box_close(b, box);
}

static void write_tkhd(struct wbuf *b, const struct track *t)
{
    size_t box = fullbox_open(b, "tkhd", 0, 0x000003); /* enabled, in movie */
    w32(b, 0);                                         /* creation_time */
    w32(b, 0);                                         /* modification_time */
    w32(b, t->id);
    w32(b, 0); /* reserved */
    w32(b, 0); /* duration: in the fragments */
    w_zero(b, 8);
    w16(b, 0); /* layer */
    w16(b, 0); /* alternate_group */
    w16(b, t->video ? 0 : 0x0100);
    w16(b, 0);
    w_matrix(b);
    w32(b, (uint32_t)t->width << 16);
    w32(b, (uint32_t)t->height << 16);
    box_close(b, box);
}

static void write_mdhd_hdlr(struct wbuf *b, const struct track *t)
{
    size_t box = fullbox_open(b, "mdhd", 0, 0);
    w32(b, 0);
    w32(b, 0);
    w32(b, t->timescale);
    w32(b, 0);
    w16(b, 0x55c4); /* language "und" */
    w16(b, 0);
    box_close(b, box);

    const char *name = t->video ? "VideoHandler" : "SoundHandler";
    box = fullbox_open(b, "hdlr", 0, 0);
    w32(b, 0); /* pre_defined */
    w_fourcc(b, t->video ? "vide" : "soun");
    w_zero(b, 12);
    w_bytes(b, name, strlen(name) + 1);
    box_close(b, box);
}

static void write_avc1(struct wbuf *b, const struct track *t)
{
    size_t entry = box_open(b, "avc1");
    w_zero(b, 6);
    w16(b, 1);     /* data_reference_index */
    w_zero(b, 16); /* pre_defined, reserved */
    w16(b, t->width);
    w16(b, t->height);
    w32(b, 0x00480000); /* 72 dpi */
    w32(b, 0x00480000);
    w32(b, 0);
    w16(b, 1);     /* frame_count */
    w_zero(b, 32); /* compressorname */
    w16(b, 0x0018);
    w16(b, 0xffff);

    size_t avcc = box_open(b, "avcC");
    size_t cap = t->sps_len + t->pps_len + FL__AVCC_OVERHEAD;
    if (w_need(b, cap))
        b->len += fl__avcc_write(b->p + b->len, cap, t->sps, t->sps_len, t->pps, t->pps_len);
    box_close(b, avcc);
    box_close(b, entry);
}

static void write_opus_entry(struct wbuf *b, const struct track *t)
{
    size_t entry = box_open(b, "Opus");
    w_zero(b, 6);
    w16(b, 1); /* data_reference_index */
    w_zero(b, 8);
    w16(b, (uint16_t)t->channels);
    w16(b, 16); /* samplesize */
    w32(b, 0);  /* pre_defined, reserved */
    w32(b, (uint32_t)OPUS_TIMESCALE << 16);

    size_t dops = box_open(b, "dOps");
    w8(b, 0); /* Version */
    w8(b, (uint8_t)t->channels);
    w16(b, OPUS_PRE_SKIP);
    w32(b, t->input_rate);
    w16(b, 0); /* OutputGain */
    w8(b, 0);  /* ChannelMappingFamily */
    box_close(b, dops);
    box_close(b, entry);
}

static void write_stbl(struct wbuf *b, const struct track *t)
{
    size_t stbl = box_open(b, "stbl");
    size_t box = fullbox_open(b, "stsd", 0, 0);
    w32(b, 1);
    if (t->video)
        write_avc1(b, t);
    else
        write_opus_entry(b, t);
    box_close(b, box);
    static const char *const empty[] = { "stts", "stsc", "stco" };
    for (size_t i = 0; i < 3; i++) {
        box = fullbox_open(b, empty[i], 0, 0);
        w32(b, 0);
        box_close(b, box);
    }
    box = fullbox_open(b, "stsz", 0, 0);
    w32(b, 0); /* sample_size */
    w32(b, 0); /* sample_count */
    box_close(b, box);
    if (!t->video) {
        /* Opus needs 80 ms of pre-roll after a random access (roll group) */
        box = fullbox_open(b, "sgpd", 1, 0);
        w_fourcc(b, "roll");
        w32(b, 2); /* default_length */
        w32(b, 1); /* entry_count */
        w16(b, (uint16_t)(int16_t)OPUS_ROLL_DISTANCE);
        box_close(b, box);
    }
    box_close(b, stbl);
}

static void write_trak(struct wbuf *b, const struct track *t)
{
    size_t trak = box_open(b, "trak");
    write_tkhd(b, t);
    size_t mdia = box_open(b, "mdia");
    write_mdhd_hdlr(b, t);
    size_t minf = box_open(b, "minf");
    size_t box;
    if (t->video) {
        box = fullbox_open(b, "vmhd", 0, 1);
        w_zero(b, 8); /* graphicsmode, opcolor */
    } else {
        box = fullbox_open(b, "smhd", 0, 0);
        w32(b, 0); /* balance, reserved */
    }
    box_close(b, box);
    size_t dinf = box_open(b, "dinf");
    size_t dref = fullbox_open(b, "dref", 0, 0);
    w32(b, 1);
    box_close(b, fullbox_open(b, "url ", 0, 1)); /* the media is in this file */
    box_close(b, dref);
    box_close(b, dinf);
    write_stbl(b, t);
    box_close(b, minf);
    box_close(b, mdia);
    box_close(b, trak);
}

/* Builds ftyp + moov into m->unit; *mehd_at: where mehd's duration is. */
static void build_header(struct mp4 *m, size_t *mehd_at)
{
    struct wbuf *b = &m->unit;
    b->len = 0;
    write_ftyp(b, m);
    size_t moov = box_open(b, "moov");
    uint32_t ntracks = 0;
    for (size_t i = 0; i < m->ntracks; i++)
        ntracks += m->tracks[i].id != 0;
    write_mvhd(b, ntracks + 1);
    for (size_t i = 0; i < m->ntracks; i++)
        if (m->tracks[i].id)
            write_trak(b, &m->tracks[i]);
    size_t mvex = box_open(b, "mvex");
    size_t box = fullbox_open(b, "mehd", 1, 0);
    *mehd_at = b->len;
    w64(b, 0); /* fragment_duration: patched at finish */
    box_close(b, box);
    for (size_t i = 0; i < m->ntracks; i++) {
        if (!m->tracks[i].id)
            continue;
        box = fullbox_open(b, "trex", 0, 0);
        w32(b, m->tracks[i].id);
        w32(b, 1); /* default_sample_description_index */
        w32(b, 0);
        w32(b, 0);
        w32(b, 0);
        box_close(b, box);
    }
    box_close(b, mvex);
    box_close(b, moov);
}

/* Appends m->unit as one write. */
static int emit_unit(struct mp4 *m)
{
    if (m->unit.failed) {
        m->unit.failed = 0;
        return FL_ENOMEM;
    }
    int r = m->out.write(m->out.arg, FL_MUX_APPEND, m->unit.p, m->unit.len);
    if (r != 0) {
        m->err = r < 0 ? r : FL_EIO;
        fl_log(FL_LOG_DEBUG, "write of %zu bytes failed: %s", m->unit.len, fl_strerror(m->err));
        return m->err;
    }
    m->appended += m->unit.len;
    m->stats.bytes += m->unit.len;
    return 0;
}

/* Writes the header with the tracks ready now; a video track still
 * waiting is left out for good. */
static int write_header(struct mp4 *m)
{
    uint32_t id = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        struct track *t = &m->tracks[i];
        if (t->state == TRACK_WAITING) {
            t->state = TRACK_OUT;
            fl_log(FL_LOG_DEBUG, "track %zu sent no usable key frame in time: left out", i);
            continue;
        }
        t->id = ++id;
        m->has_video |= t->video;
    }
    size_t mehd_at;
    build_header(m, &mehd_at);
    uint64_t at = m->appended;
    int r = emit_unit(m);
    if (r < 0)
        return r;
    m->mehd_at = at + mehd_at;
    m->header_written = 1;
    return 0;
}

/* ---- fragments: moof + mdat ---- */

static uint32_t sample_flags(const struct sample *s)
{
    return s->sync ? SAMPLE_SYNC : SAMPLE_NON_SYNC;
}

/* Samples of t that go in the fragment (the held one stays), and their bytes. */
static size_t track_ready_samples(const struct track *t)
{
    return t->nsamples - (size_t)t->held;
}

static size_t track_ready_bytes(const struct track *t)
{
    return t->data.len - (t->held ? t->samples[t->nsamples - 1].size : 0);
}

/* A traf for t's first n samples; *data_offset_at: where trun's
 * data_offset is, to be filled in once the moof's size is known. Values
 * shared by every sample go in tfhd, and flags shared by all but the first
 * (a video fragment: a key frame, then the rest) in tfhd plus trun's
 * first_sample_flags. */
static void write_traf(struct wbuf *b, const struct track *t, size_t n, size_t *data_offset_at)
{
    const struct sample *s = t->samples;
    int same_duration = 1, same_flags = 1, rest_same_flags = 1;
    for (size_t i = 1; i < n; i++) {
        same_duration &= s[i].duration == s[0].duration;
        same_flags &= s[i].sync == s[0].sync;
        rest_same_flags &= s[i].sync == s[1].sync;
    }
    uint32_t tf = TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_FLAGS;
    uint32_t tr = TRUN_DATA_OFFSET | TRUN_SIZE;
    uint32_t default_flags = sample_flags(&s[0]);
    if (!same_flags && rest_same_flags) {
        tr |= TRUN_FIRST_FLAGS;
        default_flags = sample_flags(&s[1]);
    } else if (!same_flags) {
        tf &= ~TFHD_DEFAULT_FLAGS;
        tr |= TRUN_FLAGS;
    }
    if (same_duration)
        tf |= TFHD_DEFAULT_DURATION;
    else
        tr |= TRUN_DURATION;

    size_t traf = box_open(b, "traf");
    size_t box = fullbox_open(b, "tfhd", 0, tf);
    w32(b, t->id);
    if (tf & TFHD_DEFAULT_DURATION)
        w32(b, s[0].duration);
    if (tf & TFHD_DEFAULT_FLAGS)
        w32(b, default_flags);
    box_close(b, box);

    box = fullbox_open(b, "tfdt", 1, 0);
    w64(b, (uint64_t)s[0].dts);
    box_close(b, box);

    box = fullbox_open(b, "trun", 0, tr);
    w32(b, (uint32_t)n);
    *data_offset_at = b->len;
    w32(b, 0);
    if (tr & TRUN_FIRST_FLAGS)
        w32(b, sample_flags(&s[0]));
    for (size_t i = 0; i < n; i++) {
        if (tr & TRUN_DURATION)
            w32(b, s[i].duration);
        w32(b, s[i].size);
        if (tr & TRUN_FLAGS)
            w32(b, sample_flags(&s[i]));
    }
    box_close(b, box);

    if (!t->video) {
        box = fullbox_open(b, "sbgp", 0, 0); /* every sample: the roll group */
        w_fourcc(b, "roll");
        w32(b, 1);
        w32(b, (uint32_t)n);
        w32(b, 1);
        box_close(b, box);
    }
    box_close(b, traf);
}

/* Bytes of moof + mdat for the samples ready now, at most (tfhd and trun
 * at their largest). */
static size_t fragment_bound(const struct mp4 *m)
{
    size_t n = 8 + 16 + 8; /* moof, mfhd, mdat headers */
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct track *t = &m->tracks[i];
        size_t k = track_ready_samples(t);
        if (!t->id || !k)
            continue;
        n += 8 + 24 + 20 + 24 + 28 + 12 * k +
             track_ready_bytes(t); /* traf, tfhd, tfdt, trun, sbgp */
    }
    return n;
}

/* Builds moof + mdat of the samples ready now into m->unit, and notes the
 * random-access points it holds (at moof_offset) in *ra, one per track. */
static void build_fragment(struct mp4 *m,
                           struct ra_entry ra[FL_MUX_MAX_TRACKS],
                           int has_ra[FL_MUX_MAX_TRACKS])
{
    struct wbuf *b = &m->unit;
    b->len = 0;
    if (!w_need(b, fragment_bound(m)))
        return;
    size_t moof = box_open(b, "moof");
    size_t box = fullbox_open(b, "mfhd", 0, 0);
    w32(b, m->sequence + 1);
    box_close(b, box);
    size_t offset_at[FL_MUX_MAX_TRACKS] = { 0 };
    uint8_t traf_number = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct track *t = &m->tracks[i];
        size_t n = track_ready_samples(t);
        has_ra[i] = 0;
        if (!t->id || !n)
            continue;
        traf_number++;
        write_traf(b, t, n, &offset_at[i]);
        for (size_t j = 0; j < n; j++) {
            if (t->samples[j].sync) {
                ra[i] = (struct ra_entry){ .time = t->samples[j].dts,
                                           .moof_offset = m->appended,
                                           .sample_number = (uint32_t)j + 1,
                                           .traf_number = traf_number };
                has_ra[i] = 1;
                break;
            }
        }
    }
    box_close(b, moof);
    size_t data_len = 0;
    for (size_t i = 0; i < m->ntracks; i++)
        if (offset_at[i])
            data_len += track_ready_bytes(&m->tracks[i]);
    w32(b, (uint32_t)(8 + data_len));
    w_fourcc(b, "mdat");
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct track *t = &m->tracks[i];
        if (!offset_at[i])
            continue;
        if (!b->failed)
            fl_put_be32(b->p + offset_at[i], (uint32_t)(b->len - moof));
        w_bytes(b, t->data.p, track_ready_bytes(t));
    }
}

static void ra_add(struct track *t, const struct ra_entry *e)
{
    if (t->nra == t->ra_cap) {
        size_t cap = t->ra_cap ? t->ra_cap * 2 : 64;
        struct ra_entry *ra = realloc(t->ra, cap * sizeof(*ra));
        if (!ra) {
            fl_log(FL_LOG_DEBUG, "no memory for the index: a random-access point is left out");
            return;
        }
        t->ra = ra;
        t->ra_cap = cap;
    }
    t->ra[t->nra++] = *e;
}

/* After a fragment: the held sample (if any) opens the next one. */
static void track_keep_held(struct track *t)
{
    if (!t->held) {
        t->nsamples = 0;
        t->data.len = 0;
        return;
    }
    struct sample s = t->samples[t->nsamples - 1];
    memmove(t->data.p, t->data.p + t->data.len - s.size, s.size);
    t->data.len = s.size;
    t->samples[0] = s;
    t->nsamples = 1;
}

static void fragment_restart(struct mp4 *m)
{
    m->frag_bytes = 0;
    m->frag_samples = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        struct track *t = &m->tracks[i];
        track_keep_held(t);
        if (!t->nsamples)
            continue;
        if (!m->frag_samples || t->samples[0].pts_us < m->frag_start_us)
            m->frag_start_us = t->samples[0].pts_us;
        m->frag_bytes += t->data.len;
        m->frag_samples++;
    }
}

static void note_written(struct mp4 *m, const struct ra_entry *ra, const int *has_ra)
{
    m->sequence++;
    m->stats.units++;
    for (size_t i = 0; i < m->ntracks; i++) {
        struct track *t = &m->tracks[i];
        size_t n = track_ready_samples(t);
        if (!t->id || !n)
            continue;
        if (has_ra[i])
            ra_add(t, &ra[i]);
        const struct sample *last = &t->samples[n - 1];
        int64_t end_us = ticks_to_us(last->dts + last->duration, t->timescale);
        if (end_us > m->stats.duration_us)
            m->stats.duration_us = end_us;
    }
}

/* Writes the samples ready now as one fragment; the held ones open the
 * next. On a failure the fragment's samples are dropped. */
static int flush_fragment(struct mp4 *m)
{
    size_t ready = 0;
    for (size_t i = 0; i < m->ntracks; i++)
        ready += m->tracks[i].id ? track_ready_samples(&m->tracks[i]) : 0;
    if (!ready)
        return 0;
    struct ra_entry ra[FL_MUX_MAX_TRACKS];
    int has_ra[FL_MUX_MAX_TRACKS];
    build_fragment(m, ra, has_ra);
    int r = emit_unit(m);
    if (r == 0)
        note_written(m, ra, has_ra);
    else
        m->stats.frames_dropped += ready;
    fragment_restart(m);
    return r;
}

/* ---- frames in ---- */

static int w_reserve(struct wbuf *b, size_t n)
{
    if (!w_need(b, n)) {
        b->failed = 0;
        return FL_ENOMEM;
    }
    return 0;
}

static int samples_reserve(struct track *t)
{
    if (t->nsamples < t->samples_cap)
        return 0;
    size_t cap = t->samples_cap ? t->samples_cap * 2 : 128;
    struct sample *s = realloc(t->samples, cap * sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    t->samples = s;
    t->samples_cap = cap;
    return 0;
}

/* The held sample lasts until `dts` (or, at the end, `duration`). */
static void track_release_held(struct track *t, int64_t dts, int64_t duration)
{
    struct sample *s = &t->samples[t->nsamples - 1];
    if (dts >= 0)
        duration = dts - s->dts;
    s->duration = duration > UINT32_MAX ? UINT32_MAX : (uint32_t)duration;
    if (s->duration)
        t->last_duration = s->duration;
    t->held = 0;
}

static int fragment_full(const struct mp4 *m, size_t size)
{
    return m->frag_bytes + size > FRAG_MAX_BYTES || m->frag_samples + 1 > FRAG_MAX_SAMPLES;
}

/* The header goes out when no video track waits any more, or when the
 * wait is over (2 s of media held, or the held fragment full). */
static int header_due(const struct mp4 *m, const fl_mux_frame *f, size_t size)
{
    if (m->header_written)
        return 0;
    int waiting = 0;
    for (size_t i = 0; i < m->ntracks; i++)
        waiting |= m->tracks[i].state == TRACK_WAITING;
    if (!waiting)
        return 1;
    return m->have_first && (f->pts_us - m->first_us >= HEADER_WAIT_US || fragment_full(m, size));
}

static int fragment_due(const struct mp4 *m,
                        const struct track *t,
                        const fl_mux_frame *f,
                        size_t size)
{
    if (!m->header_written || !m->frag_samples)
        return 0;
    int64_t span = f->pts_us - m->frag_start_us;
    if (span >= FRAG_MAX_US || fragment_full(m, size))
        return 1;
    if (span < m->fragment_us)
        return 0;
    return !m->has_video || (t->video && f->key);
}

/* Copies the frame into the fragment, held until the next one of its track. */
static int track_add(struct mp4 *m,
                     struct track *t,
                     const fl_mux_frame *f,
                     int64_t dts,
                     size_t size,
                     int inband)
{
    if (w_reserve(&t->data, size) < 0 || samples_reserve(t) < 0)
        return FL_ENOMEM;
    if (inband) {
        w32(&t->data, (uint32_t)f->sps_len);
        w_bytes(&t->data, f->sps, f->sps_len);
        w32(&t->data, (uint32_t)f->pps_len);
        w_bytes(&t->data, f->pps, f->pps_len);
    }
    w_bytes(&t->data, f->data, f->len);
    t->samples[t->nsamples++] = (struct sample){
        .dts = dts, .pts_us = f->pts_us, .size = (uint32_t)size, .sync = !t->video || f->key
    };
    t->held = 1;
    if (!m->frag_samples || f->pts_us < m->frag_start_us)
        m->frag_start_us = f->pts_us;
    m->frag_bytes += size;
    m->frag_samples++;
    if (!m->have_first) {
        m->have_first = 1;
        m->first_us = f->pts_us;
    }
    return 0;
}

static int frame_valid(const struct track *t, const fl_mux_frame *f)
{
    if (!f->len || f->len > FRAG_MAX_BYTES || f->pts_us > MAX_PTS_US)
        return 0;
    return t->codec != FL_MUX_H264 || avc_form_valid(f->data, f->len);
}

static int mp4_write(void *impl, const fl_mux_frame *f)
{
    struct mp4 *m = impl;
    if (m->err)
        return m->err;
    struct track *t = &m->tracks[f->track];
    m->stats.frames++;
    int r = frame_valid(t, f) ? 0 : FL_EINVAL;
    if (r == 0 && t->state == TRACK_WAITING)
        r = frame_has_entry(f) ? track_take_entry(t, f) : 1;
    if (r == 0 && t->state == TRACK_OUT)
        r = 1;
    if (r != 0) { /* refused, or dropped (1): before the track's first key frame, left out */
        m->stats.frames_dropped++;
        return r < 0 ? r : 0;
    }
    int inband = t->video && frame_needs_params(t, f);
    size_t size = f->len + (inband ? 8 + f->sps_len + f->pps_len : 0);
    int64_t dts = us_to_ticks(f->pts_us, t->timescale);
    if (t->held)
        track_release_held(t, dts, 0);
    if (header_due(m, f, size))
        r = write_header(m);
    if (r == 0 && fragment_due(m, t, f, size))
        r = flush_fragment(m);
    if (r == 0)
        r = track_add(m, t, f, dts, size, inband);
    if (r < 0)
        m->stats.frames_dropped++;
    return r;
}

/* ---- the end: mfra ---- */

static void build_mfra(struct mp4 *m)
{
    struct wbuf *b = &m->unit;
    b->len = 0;
    size_t mfra = box_open(b, "mfra");
    for (size_t i = 0; i < m->ntracks; i++) {
        const struct track *t = &m->tracks[i];
        if (!t->id)
            continue;
        size_t box = fullbox_open(b, "tfra", 1, 0);
        w32(b, t->id);
        w32(b, 0x3); /* traf_number and trun_number 1 byte, sample_number 4 */
        w32(b, (uint32_t)t->nra);
        for (size_t j = 0; j < t->nra; j++) {
            const struct ra_entry *e = &t->ra[j];
            w64(b, (uint64_t)e->time);
            w64(b, e->moof_offset);
            w8(b, e->traf_number);
            w8(b, 1); /* trun_number */
            w32(b, e->sample_number);
        }
        box_close(b, box);
    }
    size_t box = fullbox_open(b, "mfro", 0, 0);
    size_t size_at = b->len;
    w32(b, 0);
    box_close(b, box);
    box_close(b, mfra);
    if (!b->failed)
        fl_put_be32(b->p + size_at, (uint32_t)(b->len - mfra));
}

static int mp4_finish(void *impl)
{
    struct mp4 *m = impl;
    if (m->err)
        return m->err;
    size_t samples = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        struct track *t = &m->tracks[i];
        if (t->held)
            track_release_held(t, -1, t->last_duration ? t->last_duration : default_duration(t));
        samples += t->nsamples;
    }
    int r;
    if (!m->header_written) {
        if (!samples)
            return 0; /* nothing was ever taken: the file stays empty */
        if ((r = write_header(m)) < 0)
            return r;
    }
    if ((r = flush_fragment(m)) < 0)
        return r;
    build_mfra(m);
    if ((r = emit_unit(m)) < 0)
        return r;
    int64_t ms = (m->stats.duration_us + 999) / 1000;
    uint8_t d[8];
    fl_put_be32(d, (uint32_t)((uint64_t)ms >> 32));
    fl_put_be32(d + 4, (uint32_t)ms);
    r = m->out.write(m->out.arg, (int64_t)m->mehd_at, d, sizeof(d));
    if (r != 0)
        m->err = r < 0 ? r : FL_EIO;
    return m->err;
}

/* ---- the rest ---- */

static void mp4_stats(const void *impl, fl_mux_stats *out)
{
    const struct mp4 *m = impl;
    *out = m->stats;
}

static void mp4_destroy(void *impl)
{
    struct mp4 *m = impl;
    if (!m)
        return;
    for (size_t i = 0; i < m->ntracks; i++) {
        struct track *t = &m->tracks[i];
        free(t->sps);
        free(t->pps);
        free(t->data.p);
        free(t->samples);
        free(t->ra);
    }
    free(m->unit.p);
    free(m);
}

static const fl__mux_ops mp4_ops = {
    .write = mp4_write,
    .finish = mp4_finish,
    .stats = mp4_stats,
    .destroy = mp4_destroy,
};

int fl__mp4_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg)
{
    for (size_t i = 0; i < cfg->ntracks; i++) {
        const fl_mux_track *c = &cfg->tracks[i];
        if (c->codec != FL_MUX_H264 && c->codec != FL_MUX_OPUS)
            return FL_EINVAL;
        if (c->codec == FL_MUX_OPUS && (c->channels < 1 || c->channels > 2))
            return FL_EINVAL;
    }
    struct mp4 *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    m->out = cfg->out;
    m->fragment_us = cfg->fragment_us ? cfg->fragment_us : DEFAULT_FRAGMENT_US;
    m->ntracks = cfg->ntracks;
    for (size_t i = 0; i < cfg->ntracks; i++) {
        const fl_mux_track *c = &cfg->tracks[i];
        struct track *t = &m->tracks[i];
        t->codec = c->codec;
        t->video = c->codec == FL_MUX_H264;
        t->timescale = t->video ? VIDEO_TIMESCALE : OPUS_TIMESCALE;
        t->channels = c->channels;
        t->input_rate = c->sample_rate ? c->sample_rate : OPUS_TIMESCALE;
        t->state = t->video ? TRACK_WAITING : TRACK_READY;
    }
    *impl = m;
    *ops = &mp4_ops;
    return 0;
}
