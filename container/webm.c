/* The WebM/Matroska muxer (FL_MUX_WEBM, FL_MUX_MKV) behind fl_mux.
 *
 * The file, as written:
 *
 *     EBML header (DocType "webm" or "matroska")
 *     Segment, size unknown while live
 *       SeekHead (Info, Tracks) and a Void: room for the SeekHead with Cues
 *       Info: TimestampScale 1 ms, MuxingApp, WritingApp, a Void for Duration
 *       Tracks: one TrackEntry per track in the file
 *       Cluster: Timestamp, SimpleBlocks      -- each cluster: one write,
 *       ...                                      the first with the header --
 *     -- at finish --
 *       Cues: a CuePoint per cluster that starts on a key frame of the
 *             first video track (audio only: per cluster)
 *     then patched in place: the SeekHead (now naming Cues), Duration over
 *     its Void, the Segment's size.
 *
 * So a file cut after any write is a Segment of unknown size holding whole
 * clusters: it plays up to its last one. The header waits for the first
 * cluster and goes out in the same write: a file is empty or plays (a
 * header alone is an error to ffmpeg).
 *
 * The header wait: a video track is ready with its first key frame that
 * has a size (and for H.264 an SPS and PPS); an audio track with its first
 * frame. Frames wait (held) until every track is ready, or until 2 s of
 * media have passed since the first frame with at least one track ready.
 * Then the header goes out with: every ready track, and every audio track
 * (its header needs nothing of its frames; it is written empty and takes
 * its frames when they come). A video track that is not ready is left out
 * of the file: its frames are dropped from then on (a TrackEntry needs the
 * picture size, and avcC the parameter sets). Frames of a video track
 * before its first key frame are dropped.
 *
 * Interleaving: frames are held per track and released in timestamp order
 * (ties: video first): the earliest held frame goes out once every other
 * track has shown a frame at or after it, or once it is HOLD_MS older
 * than the newest frame taken (a silent track is waited for no longer). A
 * frame of a track that lags more than that, and so falls before the open
 * cluster's start, is written at the cluster's start.
 *
 * Clusters: a new one starts at a key frame of the first video track when
 * the open one has no frame of that track yet or has lasted fragment_us;
 * with no video track, or with it silent for fragment_us, every
 * fragment_us; always before a cluster would pass 30 s or 32 MiB.
 *
 * Opus: OpusHead pre-skip 3840 (80 ms: a recording starts decoding at an
 * arbitrary point of the stream, RFC 7845 4.2 and 5.1), CodecDelay and
 * SeekPreRoll 80 ms; as Matroska asks, an Opus block's timestamp is its
 * presentation time plus the CodecDelay, which readers subtract.
 *
 * Timestamps are in ms (TimestampScale), pts rounded to the nearest. An
 * audio frame is always a key frame in its SimpleBlock.
 *
 * Memory: the held frames (the header wait's 2 s, then HOLD_MS; forced out
 * past 32 MiB) and the open cluster (at most 32 MiB), in buffers that grow
 * and are reused: once grown, a frame costs two copies and no allocation.
 * A failed write stops the muxer: every later call returns that error, and
 * the file keeps the whole units written before it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/wire.h"
#include "container/container_int.h"
#include "container/ebml.h"
#include "container/mkv_ids.h"
#include "container/webm_int.h"

FL_LOG_TAG("webm");

#define DOC_TYPE_VERSION      4 /* CodecDelay, SeekPreRoll */
#define DOC_TYPE_READ_VERSION 2 /* SimpleBlock */
#define TIMESTAMP_SCALE_NS    1000000
#define APP_NAME              "fluo"

#define HEADER_WAIT_MS     2000
#define HOLD_MS            500
#define DEF_FRAGMENT_MS    1000
#define CLUSTER_MAX_MS     30000 /* below the int16 relative timestamp's reach */
#define CLUSTER_MAX_BYTES  (32u << 20)
#define PENDING_MAX_BYTES  (32u << 20)
#define VIDEO_MAX_FRAME_US 1000000 /* a frame's duration guessed from a gap: capped */

#define OPUS_PRE_SKIP  3840 /* samples at 48 kHz */
#define OPUS_DELAY_MS  80
#define OPUS_DELAY_NS  (OPUS_DELAY_MS * UINT64_C(1000000))
#define OPUS_HEAD_RATE 48000

/* Room kept at the Segment's start for the SeekHead: three Seeks of 21
 * bytes (8-byte positions) in a 5-byte head, and a Void of the rest. */
#define SEEK_HEAD_ROOM 96
#define DURATION_ROOM  11 /* Duration: 2-byte ID, 1-byte size, 8-byte float */
/* A cluster's ID and its largest size field, written in front at close. */
#define CLUSTER_HEAD 12
/* A SimpleBlock's ID, size, track number, timestamp and flags at most. */
#define BLOCK_HEAD_MAX 13

enum track_state {
    T_WAITING,  /* before the header, not ready */
    T_READY,    /* before the header, ready */
    T_IN_FILE,  /* the header names it */
    T_LEFT_OUT, /* the header went out without it */
};

/* A frame held before it goes into a cluster; its bytes are in the
 * track's byte queue, in order. */
typedef struct held {
    int64_t ts;     /* Block timestamp, ms (Opus: with the codec delay) */
    int64_t end_us; /* presentation end: pts plus the frame's duration */
    size_t len;
    uint8_t key;
} held;

typedef struct wtrack {
    fl_mux_track cfg;
    uint8_t video;
    uint8_t state;
    uint8_t number; /* TrackNumber, 1.. */
    int64_t delay_ms;
    int64_t newest;  /* the newest ts taken; INT64_MIN: none */
    int64_t prev_us; /* pts of the frame before; -1: none */
    uint16_t width, height;
    uint8_t *sps, *pps; /* the parameter sets of the avcC (H.264) */
    size_t sps_len, pps_len;
    /* held frames: a ring of descriptors and a queue of their bytes */
    held *q;
    size_t q_head, q_n, q_cap;
    uint8_t *b;
    size_t b_head, b_len, b_cap;
} wtrack;

typedef struct cue {
    int64_t ts;
    uint64_t pos; /* the cluster's offset in the Segment's data */
    uint8_t track;
} cue;

typedef struct webm {
    fl_mux_output out;
    int mkv;
    int64_t fragment_ms;
    wtrack t[FL_MUX_MAX_TRACKS];
    size_t nt;
    int cue_track;    /* the first video track in the file; -1: none */
    int header_built; /* the tracks are decided; the header is in hdr */
    int header_out;   /* and written, with the first cluster */
    fl__ebml hdr;
    int failed; /* a write's error: the muxer stops there */
    int64_t first_ms, newest_ms;
    size_t pending_bytes;
    uint64_t appended;
    uint64_t seg_data;    /* file offset of the Segment's data */
    uint64_t duration_at; /* file offset of the Void that Duration takes */
    uint64_t info_pos;    /* Segment offsets */
    uint64_t tracks_pos;
    /* the open cluster: its body after CLUSTER_HEAD bytes of room */
    fl__ebml cl;
    int cl_open;
    int64_t cl_ts;
    int cl_video; /* holds a frame of the cue track */
    int cl_cue;   /* gets a CuePoint */
    uint8_t cl_cue_track;
    int64_t cl_end_us;
    int64_t last_video_ts; /* of the cue track's newest block; INT64_MIN: none */
    cue *cues;
    size_t ncues, cues_cap;
    uint64_t dropped;
    uint64_t units;
    int64_t written_end_us;
} webm;

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int is_video(fl_mux_codec c)
{
    return c == FL_MUX_VP8 || c == FL_MUX_VP9 || c == FL_MUX_H264;
}

/* ---- output ---- */

static int emit(webm *w, int64_t offset, const uint8_t *p, size_t n)
{
    if (w->failed)
        return w->failed;
    int r = w->out.write(w->out.arg, offset, p, n);
    if (r != 0) {
        w->failed = r < 0 ? r : FL_EIO;
        fl_log(FL_LOG_DEBUG, "write of %zu bytes at %lld failed: %s", n, (long long)offset,
               fl_strerror(w->failed));
        return w->failed;
    }
    if (offset == FL_MUX_APPEND)
        w->appended += n;
    return 0;
}

/* ---- the held frames of a track ---- */

/* Room for one more descriptor and n more bytes. */
static int hold_reserve(wtrack *t, size_t n)
{
    if (t->q_n == t->q_cap) {
        size_t cap = t->q_cap ? t->q_cap * 2 : 64;
        held *q = malloc(cap * sizeof(*q));
        if (!q)
            return FL_ENOMEM;
        for (size_t i = 0; i < t->q_n; i++)
            q[i] = t->q[(t->q_head + i) % t->q_cap];
        free(t->q);
        t->q = q;
        t->q_head = 0;
        t->q_cap = cap;
    }
    if (t->b_cap - t->b_len >= n)
        return 0;
    size_t live = t->b_len - t->b_head;
    /* Compact the bytes already released, and grow when that frees too
     * little: the queue's bytes move O(1) times each. */
    if (t->b_head) {
        memmove(t->b, t->b + t->b_head, live);
        t->b_head = 0;
        t->b_len = live;
    }
    if (t->b_cap - live >= n && live <= t->b_cap / 2)
        return 0;
    size_t cap = t->b_cap ? t->b_cap : 4096;
    while (cap - live < n || live > cap / 2)
        cap *= 2;
    uint8_t *b = realloc(t->b, cap);
    if (!b)
        return FL_ENOMEM;
    t->b = b;
    t->b_cap = cap;
    return 0;
}

static held *hold_head(wtrack *t)
{
    return t->q_n ? &t->q[t->q_head] : NULL;
}

static void hold_pop(webm *w, wtrack *t)
{
    held *h = &t->q[t->q_head];
    t->b_head += h->len;
    w->pending_bytes -= h->len;
    if (t->b_head == t->b_len)
        t->b_head = t->b_len = 0;
    t->q_head = t->q_head + 1 == t->q_cap ? 0 : t->q_head + 1;
    t->q_n--;
}

/* ---- the header ---- */

static void write_ebml_header(fl__ebml *e, int mkv)
{
    size_t m = fl__ebml_open(e, ID_EBML);
    fl__ebml_uint(e, ID_EBML_VERSION, 1);
    fl__ebml_uint(e, ID_EBML_READ_VERSION, 1);
    fl__ebml_uint(e, ID_EBML_MAX_ID_LENGTH, 4);
    fl__ebml_uint(e, ID_EBML_MAX_SIZE_LENGTH, 8);
    fl__ebml_string(e, ID_DOC_TYPE, mkv ? "matroska" : "webm");
    fl__ebml_uint(e, ID_DOC_TYPE_VERSION, DOC_TYPE_VERSION);
    fl__ebml_uint(e, ID_DOC_TYPE_READ_VERSION, DOC_TYPE_READ_VERSION);
    fl__ebml_close(e, m);
}

static void write_seek(fl__ebml *e, uint32_t id, uint64_t pos)
{
    uint8_t idb[4];
    size_t n = fl__ebml_put_id(idb, id);
    size_t m = fl__ebml_open(e, ID_SEEK);
    fl__ebml_binary(e, ID_SEEK_ID, idb, n);
    fl__ebml_uint_fixed(e, ID_SEEK_POSITION, pos, 8);
    fl__ebml_close(e, m);
}

/* The SeekHead and its Void, SEEK_HEAD_ROOM bytes; cues_pos 0: no Cues. */
static void write_seek_head(fl__ebml *e, const webm *w, uint64_t cues_pos)
{
    size_t start = e->len;
    size_t m = fl__ebml_open(e, ID_SEEK_HEAD);
    write_seek(e, ID_INFO, w->info_pos);
    write_seek(e, ID_TRACKS, w->tracks_pos);
    if (cues_pos)
        write_seek(e, ID_CUES, cues_pos);
    fl__ebml_close(e, m);
    fl__ebml_void(e, SEEK_HEAD_ROOM - (e->len - start));
}

static void write_codec_private(fl__ebml *e, const wtrack *t)
{
    switch (t->cfg.codec) {
    case FL_MUX_H264: {
        size_t cap = t->sps_len + t->pps_len + FL__AVCC_OVERHEAD;
        uint8_t *tmp = malloc(cap); /* once per file */
        if (!tmp) {
            e->err = FL_ENOMEM;
            return;
        }
        size_t n = fl__avcc_write(tmp, cap, t->sps, t->sps_len, t->pps, t->pps_len);
        fl__ebml_binary(e, ID_CODEC_PRIVATE, tmp, n);
        free(tmp);
        break;
    }
    case FL_MUX_OPUS: {
        uint8_t head[FL__OPUS_HEAD_LEN];
        fl__opus_head_write(head, t->cfg.channels, OPUS_PRE_SKIP, t->cfg.sample_rate);
        fl__ebml_binary(e, ID_CODEC_PRIVATE, head, sizeof(head));
        fl__ebml_uint(e, ID_CODEC_DELAY, OPUS_DELAY_NS);
        fl__ebml_uint(e, ID_SEEK_PRE_ROLL, OPUS_DELAY_NS);
        break;
    }
    case FL_MUX_PCMU:
    case FL_MUX_PCMA: {
        uint8_t wf[FL__WAVEFORMATEX_LEN];
        fl__waveformatex_write(
                wf, t->cfg.codec == FL_MUX_PCMU ? FL__WAVE_FORMAT_MULAW : FL__WAVE_FORMAT_ALAW,
                t->cfg.channels, t->cfg.sample_rate);
        fl__ebml_binary(e, ID_CODEC_PRIVATE, wf, sizeof(wf));
        break;
    }
    default:
        break;
    }
}

static const char *codec_id(fl_mux_codec c)
{
    switch (c) {
    case FL_MUX_VP8:
        return "V_VP8";
    case FL_MUX_VP9:
        return "V_VP9";
    case FL_MUX_H264:
        return "V_MPEG4/ISO/AVC";
    case FL_MUX_OPUS:
        return "A_OPUS";
    default:
        return "A_MS/ACM";
    }
}

static void write_track(fl__ebml *e, const wtrack *t)
{
    size_t m = fl__ebml_open(e, ID_TRACK_ENTRY);
    fl__ebml_uint(e, ID_TRACK_NUMBER, t->number);
    fl__ebml_uint(e, ID_TRACK_UID, t->number);
    fl__ebml_uint(e, ID_TRACK_TYPE, t->video ? TRACK_TYPE_VIDEO : TRACK_TYPE_AUDIO);
    fl__ebml_uint(e, ID_FLAG_LACING, 0);
    fl__ebml_string(e, ID_CODEC_ID, codec_id(t->cfg.codec));
    write_codec_private(e, t);
    size_t s;
    if (t->video) {
        s = fl__ebml_open(e, ID_VIDEO);
        fl__ebml_uint(e, ID_PIXEL_WIDTH, t->width);
        fl__ebml_uint(e, ID_PIXEL_HEIGHT, t->height);
    } else {
        s = fl__ebml_open(e, ID_AUDIO);
        fl__ebml_float(e, ID_SAMPLING_FREQUENCY,
                       t->cfg.codec == FL_MUX_OPUS ? OPUS_HEAD_RATE : t->cfg.sample_rate);
        fl__ebml_uint(e, ID_CHANNELS, t->cfg.channels);
        if (t->cfg.codec != FL_MUX_OPUS)
            fl__ebml_uint(e, ID_BIT_DEPTH, 8);
    }
    fl__ebml_close(e, s);
    fl__ebml_close(e, m);
}

/* Info: its data in `body`; *duration_off is where Duration's room is in it. */
static void write_info_body(fl__ebml *body, size_t *duration_off)
{
    fl__ebml_uint(body, ID_TIMESTAMP_SCALE, TIMESTAMP_SCALE_NS);
    fl__ebml_string(body, ID_MUXING_APP, APP_NAME);
    fl__ebml_string(body, ID_WRITING_APP, APP_NAME);
    *duration_off = body->len;
    fl__ebml_void(body, DURATION_ROOM);
}

/* Decides which tracks the file has. */
static void pick_tracks(webm *w)
{
    unsigned number = 0;
    for (size_t i = 0; i < w->nt; i++) {
        wtrack *t = &w->t[i];
        if (t->video && t->state != T_READY) {
            t->state = T_LEFT_OUT;
            fl_log(FL_LOG_INFO, "track %zu left out: no key frame with its size in %d ms", i,
                   HEADER_WAIT_MS);
            continue;
        }
        t->state = T_IN_FILE;
        t->number = (uint8_t)++number;
        if (t->video && w->cue_track < 0)
            w->cue_track = (int)i;
    }
}

static int build_header(webm *w)
{
    pick_tracks(w);
    fl__ebml e, info;
    fl__ebml_init(&e);
    fl__ebml_init(&info);
    size_t duration_off;
    write_info_body(&info, &duration_off);
    write_ebml_header(&e, w->mkv);
    fl__ebml_head(&e, ID_SEGMENT, FL__EBML_UNKNOWN_SIZE, 8);
    w->seg_data = e.len;
    w->info_pos = SEEK_HEAD_ROOM;
    size_t info_head = fl__ebml_id_len(ID_INFO) + fl__ebml_size_len(info.len);
    w->tracks_pos = w->info_pos + info_head + info.len;
    write_seek_head(&e, w, 0);
    w->duration_at = e.len + info_head + duration_off;
    fl__ebml_binary(&e, ID_INFO, info.data, info.len);
    size_t m = fl__ebml_open(&e, ID_TRACKS);
    for (size_t i = 0; i < w->nt; i++)
        if (w->t[i].state == T_IN_FILE)
            write_track(&e, &w->t[i]);
    fl__ebml_close(&e, m);
    int r = e.err ? e.err : info.err;
    fl__ebml_deinit(&info);
    if (r != 0) {
        fl__ebml_deinit(&e);
        return r;
    }
    w->hdr = e;
    w->header_built = 1;
    return 0;
}

/* Bytes of the file so far: what was written, or the header waiting. */
static uint64_t file_end(const webm *w)
{
    return w->header_out ? w->appended : w->hdr.len;
}

/* Writes the header alone (a finish with no cluster to carry it). */
static int write_header_alone(webm *w)
{
    if (w->header_out)
        return 0;
    int r = emit(w, FL_MUX_APPEND, w->hdr.data, w->hdr.len);
    if (r == 0) {
        w->header_out = 1;
        fl__ebml_deinit(&w->hdr);
    }
    return r;
}

/* ---- clusters ---- */

static int add_cue(webm *w, int64_t ts, uint64_t pos, uint8_t track)
{
    if (w->ncues == w->cues_cap) {
        size_t cap = w->cues_cap ? w->cues_cap * 2 : 64;
        cue *c = realloc(w->cues, cap * sizeof(*c));
        if (!c)
            return FL_ENOMEM;
        w->cues = c;
        w->cues_cap = cap;
    }
    w->cues[w->ncues++] = (cue){ .ts = ts, .pos = pos, .track = track };
    return 0;
}

/* Writes the open cluster whole: its ID and size go in front of the body. */
static int close_cluster(webm *w)
{
    if (!w->cl_open)
        return 0;
    w->cl_open = 0;
    size_t body = w->cl.len - CLUSTER_HEAD;
    size_t sl = fl__ebml_size_len(body);
    size_t at = CLUSTER_HEAD - 4 - sl; /* the Cluster ID is 4 bytes */
    fl__ebml_put_id(w->cl.data + at, ID_CLUSTER);
    fl__ebml_put_size(w->cl.data + at + 4, body, sl);
    uint64_t pos = file_end(w) - w->seg_data;
    const uint8_t *unit = w->cl.data + at;
    size_t len = w->cl.len - at;
    if (!w->header_out) {
        /* the first cluster carries the header: once per file, one copy */
        if (fl__ebml_reserve(&w->hdr, len) != 0) {
            w->hdr.err = 0; /* the header stays; this cluster is lost */
            return FL_ENOMEM;
        }
        memcpy(w->hdr.data + w->hdr.len, unit, len);
        unit = w->hdr.data;
        len += w->hdr.len;
    }
    int r = emit(w, FL_MUX_APPEND, unit, len);
    if (r != 0)
        return r;
    if (!w->header_out) {
        w->header_out = 1;
        fl__ebml_deinit(&w->hdr);
    }
    w->units++;
    if (w->cl_end_us > w->written_end_us)
        w->written_end_us = w->cl_end_us;
    /* A seek index entry lost to memory only costs seeking precision. */
    if (w->cl_cue && add_cue(w, w->cl_ts, pos, w->cl_cue_track) != 0)
        fl_log(FL_LOG_WARN, "out of memory: cue at %lld ms left out", (long long)w->cl_ts);
    return 0;
}

static int open_cluster(webm *w, const wtrack *t, int key, int64_t ts)
{
    w->cl.len = 0;
    if (fl__ebml_reserve(&w->cl, CLUSTER_HEAD + 16) != 0) {
        w->cl.err = 0; /* the buffer stays usable; this frame is lost */
        return FL_ENOMEM;
    }
    w->cl.len = CLUSTER_HEAD;
    fl__ebml_uint(&w->cl, ID_TIMESTAMP, (uint64_t)ts);
    w->cl_open = 1;
    w->cl_ts = ts;
    w->cl_video = 0;
    w->cl_end_us = 0;
    int cue_track = w->cue_track >= 0 && t == &w->t[w->cue_track];
    w->cl_cue = w->cue_track < 0 || (cue_track && key);
    w->cl_cue_track = t->number;
    return 0;
}

/* Whether the frame (on t, at ts, block bytes long) starts a new cluster. */
static int cluster_due(const webm *w, const wtrack *t, int key, int64_t ts, size_t bytes)
{
    int64_t span = ts - w->cl_ts;
    if (span > CLUSTER_MAX_MS || w->cl.len - CLUSTER_HEAD + bytes > CLUSTER_MAX_BYTES)
        return 1;
    if (w->cue_track < 0)
        return span >= w->fragment_ms;
    if (t == &w->t[w->cue_track] && key)
        return !w->cl_video || span >= w->fragment_ms;
    /* video silent for a fragment: clusters by time, as with no video */
    return span >= w->fragment_ms &&
           (w->last_video_ts == INT64_MIN || ts - w->last_video_ts >= w->fragment_ms);
}

/* Puts a held frame in the open cluster (a new one when it is due). */
static int put_block(webm *w, wtrack *t, const held *h, const uint8_t *data)
{
    int key = h->key || !t->video;
    size_t block = 4 + h->len; /* track number (1 byte), timestamp, flags, frame */
    size_t bytes = 1 + fl__ebml_size_len(block) + block;
    int64_t ts = h->ts;
    if (w->cl_open) {
        if (ts < w->cl_ts)
            ts = w->cl_ts; /* its track lagged more than HOLD_MS */
        if (cluster_due(w, t, key, ts, bytes)) {
            int r = close_cluster(w);
            if (r != 0)
                return r;
        }
    }
    if (!w->cl_open) {
        int r = open_cluster(w, t, key, ts);
        if (r != 0)
            return r;
    }
    if (fl__ebml_reserve(&w->cl, bytes) != 0) {
        w->cl.err = 0;
        return FL_ENOMEM;
    }
    uint8_t *p = w->cl.data + w->cl.len;
    p[0] = (uint8_t)ID_SIMPLE_BLOCK;
    size_t sl = fl__ebml_size_len(block);
    fl__ebml_put_size(p + 1, block, sl);
    p += 1 + sl;
    p[0] = (uint8_t)(0x80u | t->number);
    fl_put_be16(p + 1, (uint16_t)(int16_t)(ts - w->cl_ts));
    p[3] = key ? 0x80 : 0x00;
    memcpy(p + 4, data, h->len);
    w->cl.len += bytes;
    if (h->end_us > w->cl_end_us)
        w->cl_end_us = h->end_us;
    if (w->cue_track >= 0 && t == &w->t[w->cue_track]) {
        w->cl_video = 1;
        w->last_video_ts = ts;
    }
    return 0;
}

/* ---- interleaving ---- */

/* The track whose held frame goes next: the earliest (ties: video, then
 * the lower index); -1 when nothing is held. */
static int next_track(const webm *w)
{
    int best = -1;
    for (size_t i = 0; i < w->nt; i++) {
        const wtrack *t = &w->t[i];
        if (!t->q_n)
            continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        const wtrack *b = &w->t[best];
        int64_t ts = t->q[t->q_head].ts, bts = b->q[b->q_head].ts;
        if (ts < bts || (ts == bts && t->video && !b->video))
            best = (int)i;
    }
    return best;
}

/* Whether no track can still bring a frame before ts (or waiting for it
 * has lasted HOLD_MS). */
static int may_release(const webm *w, size_t c, int64_t ts)
{
    if (w->newest_ms - ts >= HOLD_MS)
        return 1;
    for (size_t i = 0; i < w->nt; i++)
        if (i != c && w->t[i].state == T_IN_FILE && w->t[i].newest < ts)
            return 0;
    return 1;
}

/* Moves held frames into clusters in timestamp order; all of them when
 * `all`. */
static int pump(webm *w, int all)
{
    while (!w->failed) {
        int c = next_track(w);
        if (c < 0)
            return 0;
        wtrack *t = &w->t[c];
        held *h = hold_head(t);
        if (!all && w->pending_bytes <= PENDING_MAX_BYTES && !may_release(w, (size_t)c, h->ts))
            return 0;
        int r = put_block(w, t, h, t->b + t->b_head);
        hold_pop(w, t);
        if (r != 0)
            return r;
    }
    return w->failed;
}

/* ---- frames in ---- */

static int64_t us_to_ms(int64_t us)
{
    return us / 1000 + (us % 1000 >= 500);
}

/* A video track's first key frame that tells what its header needs. */
static int make_ready(wtrack *t, const fl_mux_frame *f)
{
    if (!f->key || !f->width || !f->height)
        return 0;
    if (t->cfg.codec == FL_MUX_H264) {
        if (!fl__h264_param_sets_ok(f->sps, f->sps_len, f->pps, f->pps_len))
            return 0;
        uint8_t *sps = malloc(f->sps_len), *pps = malloc(f->pps_len);
        if (!sps || !pps) {
            free(sps);
            free(pps);
            return 0;
        }
        memcpy(sps, f->sps, f->sps_len);
        memcpy(pps, f->pps, f->pps_len);
        t->sps = sps;
        t->pps = pps;
        t->sps_len = f->sps_len;
        t->pps_len = f->pps_len;
    }
    t->width = f->width;
    t->height = f->height;
    t->state = T_READY;
    return 1;
}

/* An H.264 key frame whose parameter sets are not the avcC's carries them
 * in band, in front of its NAL units. */
static int needs_in_band(const wtrack *t, const fl_mux_frame *f)
{
    return t->cfg.codec == FL_MUX_H264 && f->key && t->sps &&
           fl__h264_param_sets_ok(f->sps, f->sps_len, f->pps, f->pps_len) &&
           (f->sps_len != t->sps_len || f->pps_len != t->pps_len ||
            memcmp(f->sps, t->sps, t->sps_len) != 0 || memcmp(f->pps, t->pps, t->pps_len) != 0);
}

static int64_t frame_us(wtrack *t, const fl_mux_frame *f)
{
    switch (t->cfg.codec) {
    case FL_MUX_OPUS:
        return fl__opus_packet_us(f->data, f->len);
    case FL_MUX_PCMU:
    case FL_MUX_PCMA:
        return (int64_t)(f->len / t->cfg.channels) * 1000000 / t->cfg.sample_rate;
    default: {
        int64_t d = t->prev_us >= 0 ? f->pts_us - t->prev_us : 0;
        return d > VIDEO_MAX_FRAME_US ? VIDEO_MAX_FRAME_US : d;
    }
    }
}

/* Copies the frame into t's held frames. */
static int hold(webm *w, wtrack *t, const fl_mux_frame *f, int64_t ts)
{
    int in_band = needs_in_band(t, f);
    size_t len = f->len + (in_band ? 8 + f->sps_len + f->pps_len : 0);
    if (hold_reserve(t, len) != 0)
        return FL_ENOMEM;
    uint8_t *p = t->b + t->b_len;
    if (in_band) {
        fl_put_be32(p, (uint32_t)f->sps_len);
        memcpy(p + 4, f->sps, f->sps_len);
        p += 4 + f->sps_len;
        fl_put_be32(p, (uint32_t)f->pps_len);
        memcpy(p + 4, f->pps, f->pps_len);
        p += 4 + f->pps_len;
    }
    memcpy(p, f->data, f->len);
    t->b_len += len;
    t->q[(t->q_head + t->q_n) % t->q_cap] = (held){
        .ts = ts,
        .end_us = sat_add(f->pts_us, frame_us(t, f)),
        .len = len,
        .key = (uint8_t)(f->key != 0),
    };
    t->q_n++;
    t->prev_us = f->pts_us;
    w->pending_bytes += len;
    return 0;
}

static int header_due(const webm *w)
{
    size_t ready = 0;
    for (size_t i = 0; i < w->nt; i++)
        ready += w->t[i].state == T_READY;
    if (!ready)
        return 0;
    return ready == w->nt || w->newest_ms - w->first_ms >= HEADER_WAIT_MS ||
           w->pending_bytes > PENDING_MAX_BYTES;
}

static int webm_write(void *impl, const fl_mux_frame *f)
{
    webm *w = impl;
    if (w->failed)
        return w->failed;
    wtrack *t = &w->t[f->track];
    int64_t ts = us_to_ms(f->pts_us) + t->delay_ms;
    if (w->first_ms == INT64_MIN)
        w->first_ms = ts;
    if (ts > w->newest_ms)
        w->newest_ms = ts;
    int take = 1;
    if (t->state == T_LEFT_OUT)
        take = 0;
    else if (t->state == T_WAITING)
        take = t->video ? make_ready(t, f) : (t->state = T_READY, 1);
    if (take) {
        int r = hold(w, t, f, ts);
        if (r != 0) {
            w->dropped++;
            return r;
        }
        t->newest = ts;
    } else {
        w->dropped++;
    }
    if (!w->header_built) {
        if (!header_due(w))
            return 0;
        int r = build_header(w);
        if (r != 0)
            return r;
    }
    return pump(w, 0);
}

/* ---- finish ---- */

static int write_cues(webm *w, uint64_t *cues_pos)
{
    *cues_pos = 0;
    if (!w->ncues)
        return 0;
    fl__ebml e;
    fl__ebml_init(&e);
    size_t m = fl__ebml_open(&e, ID_CUES);
    for (size_t i = 0; i < w->ncues; i++) {
        size_t p = fl__ebml_open(&e, ID_CUE_POINT);
        fl__ebml_uint(&e, ID_CUE_TIME, (uint64_t)w->cues[i].ts);
        size_t tp = fl__ebml_open(&e, ID_CUE_TRACK_POSITIONS);
        fl__ebml_uint(&e, ID_CUE_TRACK, w->cues[i].track);
        fl__ebml_uint(&e, ID_CUE_CLUSTER_POSITION, w->cues[i].pos);
        fl__ebml_close(&e, tp);
        fl__ebml_close(&e, p);
    }
    fl__ebml_close(&e, m);
    uint64_t pos = w->appended - w->seg_data;
    int r = e.err ? e.err : emit(w, FL_MUX_APPEND, e.data, e.len);
    fl__ebml_deinit(&e);
    if (r == 0)
        *cues_pos = pos;
    return r;
}

/* The patches of a complete file: SeekHead, Duration, the Segment's size. */
static int patch(webm *w, uint64_t cues_pos)
{
    fl__ebml e;
    fl__ebml_init(&e);
    write_seek_head(&e, w, cues_pos);
    int r = e.err;
    if (r == 0)
        r = emit(w, (int64_t)w->seg_data, e.data, e.len);
    fl__ebml_deinit(&e);
    if (r != 0)
        return r;
    uint8_t d[DURATION_ROOM];
    double ms = (double)w->written_end_us / 1000.0;
    uint64_t bits;
    memcpy(&bits, &ms, sizeof(bits));
    fl__ebml_put_id(d, ID_DURATION);
    fl__ebml_put_size(d + 2, 8, 1);
    for (int i = 0; i < 8; i++)
        d[3 + i] = (uint8_t)(bits >> (56 - 8 * i));
    r = emit(w, (int64_t)w->duration_at, d, sizeof(d));
    if (r != 0)
        return r;
    uint8_t size[8];
    fl__ebml_put_size(size, w->appended - w->seg_data, 8);
    return emit(w, (int64_t)w->seg_data - 8, size, sizeof(size));
}

static int webm_finish(void *impl)
{
    webm *w = impl;
    if (w->failed)
        return w->failed;
    if (!w->header_built) {
        int ready = 0;
        for (size_t i = 0; i < w->nt; i++)
            ready |= w->t[i].state == T_READY;
        if (!ready)
            return 0; /* no track showed its header: nothing to write */
        int r = build_header(w);
        if (r != 0)
            return r;
    }
    int r = pump(w, 1);
    if (r == 0)
        r = close_cluster(w);
    if (r == 0)
        r = write_header_alone(w);
    uint64_t cues_pos = 0;
    if (r == 0)
        r = write_cues(w, &cues_pos);
    if (r == 0)
        r = patch(w, cues_pos);
    return r;
}

/* ---- create, stats, destroy ---- */

static void webm_stats(const void *impl, fl_mux_stats *out)
{
    const webm *w = impl;
    *out = (fl_mux_stats){
        .frames_dropped = w->dropped,
        .units = w->units,
        .bytes = w->appended,
        .duration_us = w->written_end_us,
    };
}

static void webm_destroy(void *impl)
{
    webm *w = impl;
    if (!w)
        return;
    for (size_t i = 0; i < w->nt; i++) {
        free(w->t[i].q);
        free(w->t[i].b);
        free(w->t[i].sps);
        free(w->t[i].pps);
    }
    fl__ebml_deinit(&w->cl);
    fl__ebml_deinit(&w->hdr);
    free(w->cues);
    free(w);
}

static const fl__mux_ops webm_ops = {
    .write = webm_write,
    .finish = webm_finish,
    .stats = webm_stats,
    .destroy = webm_destroy,
};

int fl__webm_create(void **impl, const fl__mux_ops **ops, const fl_mux_config *cfg)
{
    webm *w = calloc(1, sizeof(*w));
    if (!w)
        return FL_ENOMEM;
    w->out = cfg->out;
    w->mkv = cfg->format == FL_MUX_MKV;
    w->fragment_ms = cfg->fragment_us ? cfg->fragment_us / 1000 + (cfg->fragment_us % 1000 != 0)
                                      : DEF_FRAGMENT_MS;
    w->nt = cfg->ntracks;
    w->cue_track = -1;
    w->first_ms = INT64_MIN;
    w->newest_ms = INT64_MIN;
    w->last_video_ts = INT64_MIN;
    fl__ebml_init(&w->cl);
    fl__ebml_init(&w->hdr);
    for (size_t i = 0; i < w->nt; i++) {
        wtrack *t = &w->t[i];
        t->cfg = cfg->tracks[i];
        t->video = (uint8_t)is_video(t->cfg.codec);
        t->state = T_WAITING;
        t->delay_ms = t->cfg.codec == FL_MUX_OPUS ? OPUS_DELAY_MS : 0;
        t->newest = INT64_MIN;
        t->prev_us = -1;
    }
    *impl = w;
    *ops = &webm_ops;
    return 0;
}
