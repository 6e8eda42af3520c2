/* RecorderEndpoint: the media reaching its sink pads into a file (WebM,
 * MKV or fragmented MP4), as Kurento's does: record, pause, stop,
 * stopAndWait; events URI_STATE, RECORDING, PAUSED, STOPPED, ERROR.
 *
 * Per stream (audio, video): a jitter buffer (net/jitter) puts the packets
 * in order and waits a bounded time for late and resent ones; a
 * depacketizer (codec/) makes whole frames of them, drops a frame with a
 * packet missing and asks upstream for a key frame; each frame gets its
 * time from its RTP timestamp, anchored at the stream's last Sender Report
 * (the SR pairs a timestamp with the moment it was sent, free of encoding
 * and pacing delay) or, before any SR, at the arrival of its first frame;
 * the muxer (container/) takes the frames and hands whole units to
 * engine/file_out, which writes them off the loop.
 *
 * The first frames are held (at most SYNC_WAIT, or SYNC_HOLD bytes) until
 * every stream that sends has its SR, so that the recording's origin and
 * every stream's anchor are fixed before anything is written: audio and
 * video then stay in sync even when one starts later. Pausing leaves the
 * paused span out (the times after it move back by its length); a new
 * source (another SSRC after a connect) continues the stream at the time
 * it arrives. Stopping, and releasing the element, complete the file; the
 * recorder's state lives until the file is closed.
 *
 * Worker thread only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "base/uri.h"
#include "codec/codec.h"
#include "container/container.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/file_out.h"
#include "engine/transcode.h"
#include "net/jitter.h"
#include "sdp/sdp.h"

FL_LOG_TAG("recorder");

/* longest the first frames wait for every stream's SR: browsers send one
 * for audio every 5 s or so (video: every second) */
#define SYNC_WAIT    (6 * FL_TIME_SEC)
#define SYNC_HOLD    (16u << 20) /* bytes of frames held meanwhile, at most */
#define JITTER_WAIT  (150 * FL_TIME_MS)
#define PLI_INTERVAL (500 * FL_TIME_MS)
/* A key frame is asked for when none came for this long: the file is cut
 * into clusters and fragments at key frames, and a crash loses at most
 * the one being written. */
#define KEY_INTERVAL (1500 * FL_TIME_MS)
#define PATH_MAX_LEN 4096

enum {
    ST_AUDIO,
    ST_VIDEO,
    NSTREAMS
};

enum {
    M_RECORD,
    M_PAUSE,
    M_STOP,
    M_STOP_AND_WAIT
};

static const fl__method recorder_methods[] = {
    { "record", M_RECORD, 0, 0 },
    { "pause", M_PAUSE, 0, 0 },
    { "stop", M_STOP, 0, 0 },
    { "stopAndWait", M_STOP_AND_WAIT, 0, 0 },
    { NULL, 0, 0, 0 },
};

/* Kurento's MediaProfileSpecType values a container here can hold. */
static const struct profile {
    const char *name;
    fl_mux_format format;
    unsigned media;
} profiles[] = {
    { "WEBM", FL_MUX_WEBM, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO },
    { "WEBM_VIDEO_ONLY", FL_MUX_WEBM, FL_MEDIA_VIDEO },
    { "WEBM_AUDIO_ONLY", FL_MUX_WEBM, FL_MEDIA_AUDIO },
    { "MKV", FL_MUX_MKV, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO },
    { "MKV_VIDEO_ONLY", FL_MUX_MKV, FL_MEDIA_VIDEO },
    { "MKV_AUDIO_ONLY", FL_MUX_MKV, FL_MEDIA_AUDIO },
    { "MP4", FL_MUX_MP4, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO },
    { "MP4_VIDEO_ONLY", FL_MUX_MP4, FL_MEDIA_VIDEO },
    { "MP4_AUDIO_ONLY", FL_MUX_MP4, FL_MEDIA_AUDIO },
};

/* A frame held until the streams are in sync. */
typedef struct held {
    fl_list node;
    int64_t ext; /* its extended RTP timestamp */
    fl_mux_frame f;
    uint8_t *sps, *pps; /* copies */
    uint8_t data[];
} held;

typedef struct rec_stream {
    unsigned media;
    int refused; /* its format cannot go into the file: said once, not recorded */
    int ready;   /* jb and dp made for the current source's format */
    /* the format it was set up for, copied (the source's caps belong to
     * an element that may go); caps_gen: the worker's graph_gen when the
     * source's format was last compared with it */
    char codec_name[32];
    uint32_t clock_rate;
    unsigned channels;
    uint64_t caps_gen;
    fl_sdp_codec track_caps; /* the track's format (a transcoder's output when it is one) */
    int foreign; /* the current source's format differs and cannot be converted: dropped, said once
                  */
    int transcoding_said; /* MediaTranscodingStateChanged raised: 0 none, 1 NOT_, 2 TRANSCODING */
    int late_said;        /* it came after the file's tracks were fixed: said */
    fl_mux_codec mux_codec;
    fl_jitter *jb;
    fl_depack *dp;
    int track; /* in the muxer; -1: none */
    uint32_t ssrc;
    int have_ssrc;
    /* RTP timestamps extended to 64 bits */
    int64_t newest_ext;
    int ts_started;
    /* time of a frame: anchor_time + (ext - anchor_ext) / clock_rate */
    int anchored, sr_anchored;
    int64_t anchor_ext;
    fl_time anchor_time;
    int64_t last_pts; /* of the last frame written; -1 before any */
    int need_key;     /* video: frames wait for a key frame */
    fl_time last_pli, last_key;
    uint64_t frames, dropped;
} rec_stream;

typedef struct recorder {
    fl_element *e; /* NULL once the element is gone */
    fl__worker *w;
    char uri[PATH_MAX_LEN + 16];
    char path[PATH_MAX_LEN];
    const struct profile *profile;
    int stop_on_eos;
    enum fl_uri_state state;
    int started, stopping, finished; /* record() once; stop() began; file closed */
    rec_stream st[NSTREAMS];
    fl__deadline timer;
    int pending; /* the timer's close and the file's, before the state is freed */
    fl__file_out *file;
    int file_open, file_failed, write_failed;
    int recording_said; /* RECORDING raised since the last record() */
    fl_mux *mux;
    /* sync */
    int synced;
    fl_time first_packet; /* 0: none yet */
    fl_time t0;           /* the recording's origin, our clock */
    fl_time period;       /* of video frames (origin) */
    fl_time paused_total, pause_at;
    fl_list held; /* held.node */
    size_t held_bytes;
    /* stopAndWait calls waiting for the file */
    fl__deferred waiters[8];
    size_t nwaiters;
} recorder;

static recorder *impl(fl_element *e)
{
    return e->impl;
}

static void raise_simple(recorder *r, enum fl_event_type type)
{
    if (!r->e)
        return;
    fl_event ev = { .type = type };
    fl__element_raise(r->e, &ev);
}

static void set_state(recorder *r, enum fl_uri_state s)
{
    if (r->state == s)
        return;
    r->state = s;
    if (!r->e)
        return;
    fl_event ev = { .type = FL_EVENT_URI_STATE, .uri_state = { .state = s } };
    fl__element_raise(r->e, &ev);
}

static void raise_error(recorder *r, const char *type, const char *message)
{
    fl_log(FL_LOG_WARN, "%s: %s", r->e ? r->e->name : "recorder", message);
    if (!r->e)
        return;
    fl_event ev = { .type = FL_EVENT_ERROR, .error = { .type = type, .description = message } };
    fl__element_raise(r->e, &ev);
}

/* The sink pad of a stream. */
static fl__pad *stream_sink(recorder *r, const rec_stream *st)
{
    return r->e ? r->e->defaults[fl__media_index(st->media)]->twin : NULL;
}

/* A stream the file is to hold: the profile takes its media and a source
 * is linked to it. */
static int expected(recorder *r, const rec_stream *st)
{
    fl__pad *sink = stream_sink(r, st);
    return (r->profile->media & st->media) && sink && sink->src && !st->refused;
}

/* ---- the file ---- */

static void free_state(recorder *r)
{
    for (int i = 0; i < NSTREAMS; i++) {
        if (r->st[i].jb)
            fl_jitter_destroy(r->st[i].jb);
        if (r->st[i].dp)
            fl_depack_destroy(r->st[i].dp);
    }
    fl_list *n;
    while ((n = fl_list_pop_front(&r->held)))
        free(fl_container_of(n, held, node));
    if (r->mux)
        fl_mux_destroy(r->mux);
    free(r);
}

static void release_one(recorder *r)
{
    if (--r->pending == 0 && !r->e)
        free_state(r);
}

static void answer_waiters(recorder *r, int status)
{
    for (size_t i = 0; i < r->nwaiters; i++)
        fl__deferred_text(&r->waiters[i], status,
                          status ? "the recording failed: its Error event says why" : "");
    r->nwaiters = 0;
}

static void on_file_open(void *arg, int status, const char *why)
{
    recorder *r = arg;
    if (status < 0) {
        r->file_failed = 1;
        raise_error(r, "RESOURCE_ERROR_OPEN_WRITE", why);
        return;
    }
    r->file_open = 1;
    fl_log(FL_LOG_INFO, "%s: recording to %s (%s)", r->e ? r->e->name : "recorder", r->path,
           r->profile->name);
}

static void on_file_error(void *arg, int status, const char *why)
{
    (void)status;
    recorder *r = arg;
    r->write_failed = 1;
    raise_error(r,
                strstr(why, "no space") ? "RESOURCE_ERROR_NO_SPACE_LEFT" : "RESOURCE_ERROR_WRITE",
                why);
}

static void on_file_closed(void *arg, int status)
{
    recorder *r = arg;
    r->file = NULL;
    r->finished = 1;
    if (!status && (r->write_failed || r->file_failed))
        status = FL_EIO;
    if (status == 0 && r->e)
        fl_log(FL_LOG_INFO, "%s: %s complete", r->e->name, r->path);
    raise_simple(r, FL_EVENT_STOPPED);
    answer_waiters(r, status);
    release_one(r);
}

static int mux_out(void *arg, int64_t offset, const uint8_t *data, size_t len)
{
    recorder *r = arg;
    if (!r->file || r->write_failed || r->file_failed)
        return FL_EIO;
    int rc = fl__file_out_write(r->file, offset, data, len);
    if (rc == FL_EBUSY && !r->write_failed) {
        r->write_failed = 1;
        char why[PATH_MAX_LEN + 128];
        snprintf(why, sizeof(why), "writing %s: the disk does not keep up (more than 64 MiB wait)",
                 r->path);
        raise_error(r, "RESOURCE_ERROR_WRITE", why);
    }
    return rc;
}

/* ---- time ---- */

/* ts next to `near` (an extended timestamp) in 64 bits. */
static int64_t extend_near(int64_t near, uint32_t ts)
{
    int64_t v = (near & ~(int64_t)0xffffffff) | ts;
    if (v - near > (int64_t)0x80000000)
        v -= (int64_t)1 << 32;
    else if (near - v > (int64_t)0x80000000)
        v += (int64_t)1 << 32;
    return v;
}

/* A timestamp of the stream's source in 64 bits: the one nearest the
 * newest seen (a late one from before a wrap stays before it); only a newer
 * one moves the newest. */
static int64_t extend_ts(rec_stream *st, uint32_t ts)
{
    int64_t ext = st->ts_started ? extend_near(st->newest_ext, ts) : (int64_t)ts;
    if (!st->ts_started || ext > st->newest_ext)
        st->newest_ext = ext;
    st->ts_started = 1;
    return ext;
}

static fl_time time_of(const rec_stream *st, int64_t ext)
{
    return st->anchor_time + (ext - st->anchor_ext) * FL_TIME_SEC / (int64_t)st->clock_rate;
}

/* Anchors the stream at its source's last SR when there is one (again at
 * each frame until the streams are synced: the sender's offset from our
 * clock gets better with each SR, and every stream takes the latest). */
static void try_sr_anchor(recorder *r, rec_stream *st, int64_t ext)
{
    fl__pad *sink = stream_sink(r, st);
    if (r->synced || !sink || !st->have_ssrc)
        return;
    uint32_t sr_ts;
    fl_time sr_at;
    if (fl__pad_sender_report(sink, st->ssrc, &sr_ts, &sr_at) != 0)
        return;
    st->anchor_ext = extend_near(ext, sr_ts);
    st->anchor_time = sr_at;
    st->anchored = st->sr_anchored = 1;
}

/* ---- frames into the muxer ---- */

static void write_frame(recorder *r, rec_stream *st, int64_t ext, const fl_mux_frame *in)
{
    if (!r->mux || st->track < 0)
        return;
    fl_time pts = time_of(st, ext) - r->t0 - r->paused_total;
    if (pts < 0 || pts < st->last_pts) {
        st->dropped++;
        return;
    }
    fl_mux_frame f = *in;
    f.track = (unsigned)st->track;
    f.pts_us = pts;
    int rc = fl_mux_write(r->mux, &f);
    if (rc == 0) {
        st->last_pts = pts;
        st->frames++;
        if (!r->recording_said && r->state == FL_URI_START) {
            /* Kurento's Recording: record() was called and media arrives */
            r->recording_said = 1;
            raise_simple(r, FL_EVENT_RECORDING);
        }
    } else {
        st->dropped++;
    }
}

static const fl_mux_codec *mux_codec_of(const fl_sdp_codec *c, fl_mux_codec *out)
{
    static const struct {
        const char *name;
        fl_mux_codec codec;
    } names[] = {
        { "VP8", FL_MUX_VP8 },   { "VP9", FL_MUX_VP9 },   { "H264", FL_MUX_H264 },
        { "opus", FL_MUX_OPUS }, { "PCMU", FL_MUX_PCMU }, { "PCMA", FL_MUX_PCMA },
    };

    for (size_t i = 0; c && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(c->name, names[i].name) == 0) {
            *out = names[i].codec;
            return out;
        }
    }
    return NULL;
}

static int format_takes(fl_mux_format f, fl_mux_codec c)
{
    switch (f) {
    case FL_MUX_WEBM:
        return c == FL_MUX_VP8 || c == FL_MUX_VP9 || c == FL_MUX_OPUS;
    case FL_MUX_MKV:
        return 1;
    case FL_MUX_MP4:
        return c == FL_MUX_H264 || c == FL_MUX_OPUS;
    }
    return 0;
}

static int stream_setup(recorder *r, rec_stream *st, fl__pad *sink);

/* The recording's origin, chosen so that a player that takes the video
 * for constant-rate (ffmpeg does, in places: its null output puts frames
 * in slots of one frame period from the file's first time) finds every
 * frame in a slot of its own: the first video frame's distance from the
 * file's start is kept out of the middle half of a frame period (where
 * millisecond times round some frames into their neighbour's slot). The
 * origin is the first frame held, or, when audio leads and that distance
 * would be bad, one of the next two audio frames or the first video frame
 * (the audio frames before it are left out: 60 ms at most; of three
 * frames 20 ms apart one always gives a good distance). Returns the origin; video's frame period in
 * *period. */
static fl_time origin(recorder *r, fl_time *period)
{
    fl_time first = FL_TIME_NEVER, video = FL_TIME_NEVER, audio[3], gaps[64];
    size_t naudio = 0, ngaps = 0;
    int64_t prev = INT64_MIN;
    const rec_stream *vs = &r->st[ST_VIDEO];
    fl_list_foreach (it, &r->held) {
        const held *h = fl_container_of(it, held, node);
        fl_time t = time_of(&r->st[h->f.track], h->ext);
        if (t < first)
            first = t;
        if (h->f.track != ST_VIDEO) {
            if (naudio < 3)
                audio[naudio++] = t;
            continue;
        }
        if (video == FL_TIME_NEVER)
            video = t;
        else if (h->ext > prev && ngaps < sizeof(gaps) / sizeof(gaps[0]))
            gaps[ngaps++] = time_of(vs, h->ext) - time_of(vs, prev);
        prev = h->ext;
    }
    /* the period: the median gap (capture times jitter; a lost frame
     * doubles one gap) */
    for (size_t i = 1; i < ngaps; i++)
        for (size_t j = i; j > 0 && gaps[j - 1] > gaps[j]; j--) {
            fl_time g = gaps[j];
            gaps[j] = gaps[j - 1];
            gaps[j - 1] = g;
        }
    *period = ngaps ? gaps[ngaps / 2] : 0;
    if (*period <= 0 || *period > FL_TIME_SEC)
        *period = FL_TIME_SEC / 30;
    if (first == FL_TIME_NEVER)
        return fl__clock_now(&r->w->loop);
    if (video == FL_TIME_NEVER || video == first)
        return first;
    for (size_t i = 0; i < naudio && audio[i] <= video; i++) {
        fl_time phase = (video - audio[i]) % *period;
        if (phase <= *period / 4 || phase >= *period * 3 / 4)
            return audio[i];
    }
    return video; /* fewer than three audio frames lead: they go */
}

/* The streams are in sync: the origin is the earliest held frame, the
 * muxer gets a track per stream that sends, and what was held is written. */
static void sync_now(recorder *r)
{
    if (r->synced)
        return;
    for (int i = 0; i < NSTREAMS; i++) /* all on the sender's latest offset */
        if (r->st[i].anchored)
            try_sr_anchor(r, &r->st[i], r->st[i].newest_ext);
    r->synced = 1;
    r->t0 = origin(r, &r->period);
    fl_mux_track tracks[NSTREAMS];
    size_t n = 0;
    for (int i = NSTREAMS - 1; i >= 0; i--) { /* video first */
        rec_stream *st = &r->st[i];
        st->track = -1;
        if (!st->ready && expected(r, st)) /* linked, nothing came yet */
            stream_setup(r, st, stream_sink(r, st));
        if (!st->ready || st->refused)
            continue;
        tracks[n] = (fl_mux_track){ .codec = st->mux_codec,
                                    .sample_rate = st->media == FL_MEDIA_AUDIO ? st->clock_rate : 0,
                                    .channels = st->media == FL_MEDIA_AUDIO
                                                        ? (st->channels ? st->channels : 1)
                                                        : 0 };
        st->track = (int)n++;
    }
    if (n > 0 && r->file) {
        fl_mux_config mc = { .format = r->profile->format,
                             .tracks = tracks,
                             .ntracks = n,
                             .out = { .write = mux_out, .arg = r } };
        int rc = fl_mux_create(&r->mux, &mc);
        if (rc < 0) {
            char why[256];
            snprintf(why, sizeof(why), "the %s file could not be started: %s", r->profile->name,
                     fl_strerror(rc));
            raise_error(r, "RECORDER_ERROR", why);
        }
    }
    fl_list *node;
    while ((node = fl_list_pop_front(&r->held))) {
        held *h = fl_container_of(node, held, node);
        write_frame(r, &r->st[h->f.track], h->ext, &h->f);
        free(h);
    }
    r->held_bytes = 0;
}

/* Every expected stream has its first frame and its SR, or SYNC_WAIT has
 * passed since the first packet (or too much is held). */
static int sync_ready(recorder *r, fl_time now)
{
    if (now - r->first_packet >= SYNC_WAIT || r->held_bytes >= SYNC_HOLD)
        return 1;
    for (int i = 0; i < NSTREAMS; i++) {
        const rec_stream *st = &r->st[i];
        if (expected(r, st) && (!st->anchored || !st->sr_anchored))
            return 0;
    }
    return 1;
}

static void hold_frame(recorder *r, int index, int64_t ext, const fl_frame *fr)
{
    size_t extra = fr->len + fr->sps_len + fr->pps_len;
    held *h = malloc(sizeof(*h) + extra);
    if (!h) {
        r->st[index].dropped++;
        return;
    }
    h->ext = ext;
    memcpy(h->data, fr->data, fr->len);
    h->f = (fl_mux_frame){ .track = (unsigned)index,
                           .key = fr->key,
                           .data = h->data,
                           .len = fr->len,
                           .width = fr->width,
                           .height = fr->height };
    uint8_t *at = h->data + fr->len;
    if (fr->sps) {
        memcpy(at, fr->sps, fr->sps_len);
        h->f.sps = at;
        h->f.sps_len = fr->sps_len;
        at += fr->sps_len;
    }
    if (fr->pps) {
        memcpy(at, fr->pps, fr->pps_len);
        h->f.pps = at;
        h->f.pps_len = fr->pps_len;
    }
    fl_list_push_back(&r->held, &h->node);
    r->held_bytes += extra;
}

static void on_frame(recorder *r, rec_stream *st, const fl_frame *fr, fl_time now)
{
    int64_t ext = extend_ts(st, fr->rtp_ts);
    if (st->media == FL_MEDIA_VIDEO && st->need_key) {
        if (!fr->key) {
            st->dropped++;
            return;
        }
        st->need_key = 0;
    }
    if (fr->key)
        st->last_key = now;
    if (!st->anchored) { /* until its SR: the frame's arrival */
        st->anchor_ext = ext;
        st->anchor_time = now;
        st->anchored = 1;
    }
    if (!r->synced)
        try_sr_anchor(r, st, ext);
    if (!r->synced) {
        hold_frame(r, (int)(st - r->st), ext, fr);
        if (sync_ready(r, now))
            sync_now(r);
        return;
    }
    fl_mux_frame f = { .key = fr->key,
                       .data = fr->data,
                       .len = fr->len,
                       .width = fr->width,
                       .height = fr->height,
                       .sps = fr->sps,
                       .pps = fr->pps,
                       .sps_len = fr->sps_len,
                       .pps_len = fr->pps_len };
    write_frame(r, st, ext, &f);
}

/* ---- packets ---- */

static void ask_key_frame(recorder *r, rec_stream *st, fl_time now)
{
    if (!r->e || st->media != FL_MEDIA_VIDEO || now - st->last_pli < PLI_INTERVAL)
        return;
    st->last_pli = now;
    fl__pad_request_key_frame(stream_sink(r, st), 0);
}

static void drain(recorder *r, rec_stream *st, fl_time now, int all);

/* Ends the stream's current source: everything its jitter buffer holds,
 * and the depacketizer's last frame, go in. */
static void finish_source(recorder *r, rec_stream *st)
{
    fl_jitter_flush(st->jb);
    drain(r, st, fl__clock_now(&r->w->loop), 1);
    fl_depack_flush(st->dp);
    fl_frame fr;
    while (fl_depack_pull(st->dp, &fr) == 1)
        on_frame(r, st, &fr, fl__clock_now(&r->w->loop));
}

/* What the jitter buffer gives, through the depacketizer, as frames; all
 * it holds after a flush. */
static void drain(recorder *r, rec_stream *st, fl_time now, int all)
{
    fl_buf *b;
    unsigned lost;
    while (fl_jitter_pop(st->jb, all ? FL_TIME_NEVER - 1 : now, &b, &lost) == 1) {
        fl_depack_packet p = { .payload = fl_buf_data(b) + b->rtp.payload_off,
                               .len = b->rtp.payload_len,
                               .seq = b->rtp.seq,
                               .ts = b->rtp.timestamp,
                               .marker = b->rtp.marker,
                               .lost_before = (int)lost };
        fl_depack_push(st->dp, &p);
        fl_buf_unref(b);
        fl_frame fr;
        while (fl_depack_pull(st->dp, &fr) == 1)
            on_frame(r, st, &fr, now);
    }
    if (fl_depack_wants_key(st->dp) ||
        (st->media == FL_MEDIA_VIDEO && st->last_key && now - st->last_key >= KEY_INTERVAL))
        ask_key_frame(r, st, now);
}

static void schedule(recorder *r, fl_time now)
{
    fl_time at = FL_TIME_NEVER;
    for (int i = 0; i < NSTREAMS; i++) {
        if (r->st[i].jb) {
            fl_time d = fl_jitter_deadline(r->st[i].jb);
            if (d < at)
                at = d;
        }
    }
    if (!r->synced && r->first_packet && r->first_packet + SYNC_WAIT < at)
        at = r->first_packet + SYNC_WAIT;
    fl__deadline_arm(&r->timer, at, now);
}

static void on_timer(uv_timer_t *h)
{
    recorder *r = h->data;
    fl_time now = fl__clock_now(&r->w->loop);
    for (int i = 0; i < NSTREAMS; i++) {
        if (r->st[i].jb)
            drain(r, &r->st[i], now, 0);
    }
    if (!r->synced && r->first_packet && sync_ready(r, now))
        sync_now(r);
    schedule(r, now);
}

/* The format a profile records a media in when what arrives is not one it
 * holds: VP8 (WebM) or H.264 (MP4) video, Opus audio. */
static const fl_sdp_codec *profile_target(const recorder *r, unsigned media)
{
    static const fl_sdp_codec vp8 = { .pt = 96, .name = "VP8", .clock_rate = 90000, .rtx_pt = -1 };
    static const fl_sdp_codec h264 = { .pt = 102,
                                       .name = "H264",
                                       .clock_rate = 90000,
                                       .fmtp = "packetization-mode=1;profile-level-id=42e01f",
                                       .rtx_pt = -1 };
    static const fl_sdp_codec opus = {
        .pt = 111, .name = "opus", .clock_rate = 48000, .channels = 2, .rtx_pt = -1
    };
    if (media == FL_MEDIA_AUDIO)
        return &opus;
    return r->profile->format == FL_MUX_MP4 ? &h264 : &vp8;
}

/* Routes the sink through a transcoder to `target`; 0 when it cannot be. */
static int take_through_transcoder(recorder *r,
                                   fl__pad *sink,
                                   const fl_sdp_codec *in,
                                   const fl_sdp_codec *target)
{
    if (!r->e || !fl__xcode_possible(in, target))
        return 0;
    fl__xcode_spec spec;
    fl__xcode_spec_for(r->e, sink->media, target, &spec);
    return fl__xcode_attach(sink, &spec) == 0;
}

/* Makes the stream's jitter buffer and depacketizer for its source's
 * format, taking it through a transcoder when the profile cannot hold that
 * format; 0 when the format cannot be recorded, and for the packet that
 * made it take a transcoder (the source's own: the transcoder's follow). */
static int stream_setup(recorder *r, rec_stream *st, fl__pad *sink)
{
    if (st->ready) {
        /* the source's format, compared again after a change of the graph
         * only: a new source of another format is transcoded to the track's
         * (or, when it cannot be, not recorded, and that is said once) */
        if (st->caps_gen != r->w->graph_gen) {
            st->caps_gen = r->w->graph_gen;
            const fl_sdp_codec *c = fl__pad_caps(sink);
            fl__xcode *before = sink->xc;
            int was = st->foreign;
            st->foreign = 0;
            if (c && (strcasecmp(c->name, st->codec_name) != 0 ||
                      (c->clock_rate && c->clock_rate != st->clock_rate))) {
                st->foreign = !take_through_transcoder(r, sink, c, &st->track_caps);
            } else {
                fl__xcode_detach(sink);
            }
            st->caps_gen = r->w->graph_gen; /* attaching bumps it */
            if (st->foreign && !was) {
                char why[300];
                snprintf(why, sizeof(why),
                         "%s media now arrives as %s/%u but this recording's track is %s/%u, and "
                         "fluo cannot convert it: it is not recorded until a source of that "
                         "format comes back",
                         fl_media_type_name(st->media), c->name, c->clock_rate, st->codec_name,
                         st->clock_rate);
                raise_error(r, "MEDIA_FORMAT_MISMATCH", why);
            }
            if (!st->foreign)
                fl__xcode_say(r->e, sink, &st->transcoding_said);
            if (sink->xc != before)
                return 0; /* a packet of the old route */
        }
        return !st->foreign;
    }
    const fl_sdp_codec *c = fl__pad_caps(sink);
    char why[300];
    if (!c) {
        if (!st->refused)
            raise_error(r, "MEDIA_FORMAT_MISMATCH",
                        "media arrives whose format its source does not say: it is not recorded");
        st->refused = 1;
        return 0;
    }
    int through = 0;
    if (!mux_codec_of(c, &st->mux_codec) || !format_takes(r->profile->format, st->mux_codec) ||
        fl__element_format_forced(r->e, st->media, c)) {
        const fl_sdp_codec *target = profile_target(r, st->media);
        if (!take_through_transcoder(r, sink, c, target) || !mux_codec_of(target, &st->mux_codec)) {
            if (!st->refused) {
                snprintf(why, sizeof(why),
                         "%s media arrives as %s/%u, which the %s profile cannot hold, and fluo "
                         "cannot convert it to %s: it is not recorded",
                         fl_media_type_name(st->media), c->name, c->clock_rate, r->profile->name,
                         target->name);
                raise_error(r, "MEDIA_FORMAT_MISMATCH", why);
            }
            st->refused = 1;
            return 0;
        }
        c = fl__xcode_caps(sink->xc);
        through = 1;
    }
    st->track_caps = *c;
    snprintf(st->codec_name, sizeof(st->codec_name), "%s", c->name);
    st->clock_rate = c->clock_rate ? c->clock_rate : 90000;
    st->channels = c->channels;
    st->caps_gen = r->w->graph_gen;
    fl_jitter_config jc = { .clock_rate = st->clock_rate, .max_wait = JITTER_WAIT };
    fl_depack_config dc = { .codec = fl_codec_kind_of(c->name),
                            .clock_rate = st->clock_rate,
                            .fmtp = c->fmtp };
    if (fl_jitter_create(&st->jb, &jc) < 0 || fl_depack_create(&st->dp, &dc) < 0) {
        raise_error(r, "RECORDER_ERROR", "out of memory");
        st->refused = 1;
        return 0;
    }
    st->ready = 1;
    st->need_key = st->media == FL_MEDIA_VIDEO;
    fl__xcode_say(r->e, sink, &st->transcoding_said);
    return !through;
}

static void recorder_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    recorder *r = impl(e);
    int i = sink->media == FL_MEDIA_AUDIO   ? ST_AUDIO
            : sink->media == FL_MEDIA_VIDEO ? ST_VIDEO
                                            : -1;
    if (!r || i < 0 || r->state != FL_URI_START || !(r->profile->media & sink->media) ||
        !buf->rtp.parsed || r->file_failed) {
        fl_buf_unref(buf);
        return;
    }
    rec_stream *st = &r->st[i];
    if (!stream_setup(r, st, sink)) {
        fl_buf_unref(buf);
        return;
    }
    fl_time now = fl__clock_now(&r->w->loop);
    if (!r->first_packet)
        r->first_packet = now;
    if (st->have_ssrc && buf->rtp.ssrc != st->ssrc) {
        /* a new source: what the old one left is finished first, then the
         * stream goes on at the time the new one arrives */
        finish_source(r, st);
        if (!r->synced) /* what was held is timed by the old source's anchor */
            sync_now(r);
        fl_time last = st->last_pts >= 0 ? r->t0 + r->paused_total + st->last_pts : now;
        fl_time at = now > last ? now : last + FL_TIME_MS;
        if (st->media == FL_MEDIA_VIDEO && r->period > 0 && st->last_pts >= 0) {
            /* the next slot of the frame grid (see origin) */
            fl_time k = (at - last + r->period - 1) / r->period;
            at = last + (k > 0 ? k : 1) * r->period;
        }
        st->ts_started = 0;
        st->anchored = 1;
        st->sr_anchored = 1; /* a later SR must not move a stream already running */
        st->anchor_ext = extend_ts(st, buf->rtp.timestamp);
        st->anchor_time = at;
        st->need_key = st->media == FL_MEDIA_VIDEO;
    }
    if (r->synced && st->track < 0 && r->mux) {
        if (!st->late_said) {
            st->late_said = 1;
            char why[200];
            snprintf(why, sizeof(why),
                     "%s media reached the recorder after the recording started; a file's "
                     "tracks are fixed when it starts, so it is not recorded",
                     fl_media_type_name(st->media));
            raise_error(r, "MEDIA_FORMAT_MISMATCH", why);
        }
        fl_buf_unref(buf);
        return;
    }
    st->ssrc = buf->rtp.ssrc;
    st->have_ssrc = 1;
    fl_jitter_push(st->jb, buf, now);
    drain(r, st, now, 0);
    if (!r->synced && sync_ready(r, now))
        sync_now(r);
    schedule(r, now);
}

/* ---- record, pause, stop ---- */

static int start(recorder *r, fl__invocation *inv)
{
    if (r->stopping) {
        snprintf(inv->why, sizeof(inv->why),
                 "this recorder was stopped: a recording is not resumed after stop (create "
                 "another RecorderEndpoint)");
        return FL_ESTATE;
    }
    if (!r->path[0]) {
        snprintf(inv->why, sizeof(inv->why), "no uri was given");
        return FL_ESTATE;
    }
    fl_time now = fl__clock_now(&r->w->loop);
    if (r->state == FL_URI_PAUSE) {
        r->paused_total += now - r->pause_at;
        r->st[ST_VIDEO].need_key = 1;
    }
    if (r->state == FL_URI_START)
        return 0;
    if (!r->started) {
        r->started = 1;
        static const fl__file_out_callbacks cbs = { on_file_open, on_file_error, on_file_closed };
        int rc = fl__file_out_open(&r->file, &r->w->loop, r->path, 0, &cbs, r);
        if (rc < 0)
            return rc;
        r->pending++;
    }
    set_state(r, FL_URI_START);
    r->recording_said = 0; /* RECORDING when the first frame goes in */
    /* a sink that starts: its key frame is asked for as a joining viewer's
     * (not held back by the throttle of repairs) */
    fl__pad *vsink = stream_sink(r, &r->st[ST_VIDEO]);
    if ((r->profile->media & FL_MEDIA_VIDEO) && vsink && vsink->src) {
        r->st[ST_VIDEO].last_pli = now;
        fl__pad_request_key_frame(vsink, 1);
    }
    return 0;
}

static void pause_rec(recorder *r)
{
    if (r->state != FL_URI_START)
        return;
    r->pause_at = fl__clock_now(&r->w->loop);
    set_state(r, FL_URI_PAUSE);
    raise_simple(r, FL_EVENT_PAUSED);
}

/* Completes the file: what the jitter buffers hold goes in, the muxer
 * finishes, the file is closed (on_file_closed then). */
static void stop_rec(recorder *r)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    for (int i = 0; i < NSTREAMS; i++) {
        rec_stream *st = &r->st[i];
        if (st->jb)
            finish_source(r, st);
    }
    if (r->file) {
        sync_now(r);
        if (r->mux)
            fl_mux_finish(r->mux);
        fl__file_out_close(r->file);
    }
    set_state(r, FL_URI_STOP);
}

static int recorder_invoke(fl_element *e, fl__invocation *inv)
{
    recorder *r = impl(e);
    switch (inv->method->id) {
    case M_RECORD:
        return start(r, inv);
    case M_PAUSE:
        pause_rec(r);
        return 0;
    case M_STOP:
        stop_rec(r);
        return 0;
    case M_STOP_AND_WAIT:
        stop_rec(r);
        if (r->file_failed || (r->finished && r->write_failed)) {
            snprintf(inv->why, sizeof(inv->why),
                     "the recording failed: its Error event says why (%.200s)", r->path);
            return FL_EIO;
        }
        if (!r->file || r->finished)
            return 0;
        if (r->nwaiters == sizeof(r->waiters) / sizeof(r->waiters[0])) {
            snprintf(inv->why, sizeof(inv->why), "too many stopAndWait calls waiting");
            return FL_EBUSY;
        }
        r->waiters[r->nwaiters++] = fl__invocation_defer(inv);
        return FL__INVOKE_LATER;
    default:
        return FL_ENOTSUP;
    }
}

/* ---- properties ---- */

static int recorder_set_property(fl_element *e, const char *name, const char *value)
{
    recorder *r = impl(e);
    if (strcmp(name, "uri") == 0) {
        if (r->started)
            return FL_ESTATE;
        char path[PATH_MAX_LEN];
        int rc = fl_uri_file_path(value, path, sizeof(path), NULL);
        if (rc < 0)
            return rc == FL_ENOTSUP ? rc : FL_EINVAL;
        snprintf(r->uri, sizeof(r->uri), "%s", value);
        snprintf(r->path, sizeof(r->path), "%s", path);
        return 0;
    }
    if (strcmp(name, "mediaProfile") == 0) {
        if (r->started)
            return FL_ESTATE;
        for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
            if (strcmp(profiles[i].name, value) == 0) {
                r->profile = &profiles[i];
                return 0;
            }
        }
        return FL_ENOTSUP;
    }
    if (strcmp(name, "stopOnEndOfStream") == 0) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return FL_EINVAL;
        r->stop_on_eos = value[0] == 't';
        return 0;
    }
    return FL_ENOTSUP;
}

static int recorder_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    recorder *r = impl(e);
    static const char *const states[] = { "STOP", "START", "PAUSE" };
    if (strcmp(name, "uri") == 0)
        snprintf(out, cap, "%s", r->uri);
    else if (strcmp(name, "state") == 0)
        snprintf(out, cap, "%s", states[r->state]);
    else if (strcmp(name, "mediaProfile") == 0)
        snprintf(out, cap, "%s", r->profile->name);
    else if (strcmp(name, "stopOnEndOfStream") == 0)
        snprintf(out, cap, "%s", r->stop_on_eos ? "true" : "false");
    else
        return FL_ENOTSUP;
    return 0;
}

/* ---- life ---- */

static void on_timer_closed(uv_handle_t *h)
{
    release_one(h->data);
}

static int recorder_init(fl_element *e)
{
    recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return FL_ENOMEM;
    r->e = e;
    r->w = e->worker;
    r->profile = &profiles[0];
    r->state = FL_URI_STOP;
    fl_list_init(&r->held);
    for (int i = 0; i < NSTREAMS; i++) {
        r->st[i].media = i == ST_AUDIO ? FL_MEDIA_AUDIO : FL_MEDIA_VIDEO;
        r->st[i].track = -1;
        r->st[i].last_pts = -1;
    }
    fl__deadline_init(&r->timer, &r->w->loop, on_timer, r, 1);
    r->pending = 1; /* the timer */
    e->impl = r;
    return 0;
}

static void recorder_fini(fl_element *e)
{
    recorder *r = impl(e);
    if (!r)
        return;
    e->impl = NULL;
    r->e = NULL; /* no event from here on */
    stop_rec(r); /* a released recorder completes its file, as Kurento's */
    fl__deadline_close(&r->timer, on_timer_closed);
}

/* stopOnEndOfStream: the first end of a stream reaching it stops the
 * recording (Kurento's, when a player's file ends). */
static void recorder_end(fl_element *e, fl__pad *sink)
{
    (void)sink;
    recorder *r = impl(e);
    if (r && r->stop_on_eos && r->started && !r->stopping) {
        fl_log(FL_LOG_INFO, "%s: end of stream: stopping (stopOnEndOfStream)", e->name);
        stop_rec(r);
    }
}

/* A change of the graph behind a transcoder that sends nothing: the
 * stream's route is decided now (stream_setup), not on a packet. */
static void recorder_reroute(fl_element *e, fl__pad *sink)
{
    recorder *r = impl(e);
    int i = sink->media == FL_MEDIA_AUDIO   ? ST_AUDIO
            : sink->media == FL_MEDIA_VIDEO ? ST_VIDEO
                                            : -1;
    if (r && i >= 0 && r->state == FL_URI_START && r->st[i].ready)
        stream_setup(r, &r->st[i], sink);
}

const fl__element_type fl__recorder_type = {
    .name = FL_ELEMENT_RECORDER,
    .receive = recorder_receive,
    .reroute = recorder_reroute,
    .end_of_stream = recorder_end,
    .init = recorder_init,
    .fini = recorder_fini,
    .set_property = recorder_set_property,
    .get_property = recorder_get_property,
    .methods = recorder_methods,
    .invoke = recorder_invoke,
};
