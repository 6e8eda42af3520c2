/* PlayerEndpoint: media from a file (file://, http://, https://) or an
 * RTSP server (rtsp://, rtspt://) into the pipeline, as Kurento's does:
 * play, pause, stop, getVideoInfo, getPosition, setPosition; events
 * URI_STATE, END_OF_STREAM, ERROR (MEDIA_FLOW_OUT comes from the pads).
 *
 * A file is read through a byte source (engine/player_src.h) by a demuxer
 * (container/): frames go into a small queue that puts the tracks in
 * decode order (a file may hold a second of one track before the other),
 * and leave it at their time: the track's first video and audio streams
 * are packetized (codec/'s fl_pack) into RTP with an SSRC, sequence and
 * timestamps of the player's own, sent in real time from the container's
 * timestamps. The timeline is one for every stream, so a receiver keeps
 * them in sync from the Sender Reports a WebRtcEndpoint sends (its
 * rewriter carries each stream's timestamps on with the clock) and a
 * recorder times them right (the sender_report hook: the player's RTP
 * timestamp at `now`).
 *
 * Times: a frame's media time (its pts) plus `shift` is its stream time
 * `v`, which only moves forward: a pause, a seek and a replay change
 * `shift` so that `v` (and so the RTP timestamps and the sequence numbers)
 * go on without a jump a receiver would choke on. While playing, stream
 * time v0 is due at our clock's t0.
 *
 * An RTSP source's packets are forwarded as they come (the WebRtcEndpoint
 * rewrites SSRC, sequence and timestamps on its way out), its Sender
 * Reports passed on, and a viewer's key-frame request goes to the server
 * as a PLI.
 *
 * Fed by pushes (engine/player_int.h: HttpPostEndpoint), the source is a
 * push source (engine/bytes_push.c) that the element's writes fill: the
 * same demuxer, queue and pacing play it as it comes.
 *
 * Worker thread only. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/time.h"
#include "codec/codec.h"
#include "container/container.h"
#include "engine/deadline.h"
#include "engine/engine_int.h"
#include "engine/player_int.h"
#include "engine/player_src.h"
#include "net/rtp.h"
#include "sdp/sdp.h"

FL_LOG_TAG("player");

#define URI_MAX     4096
#define QUEUE_SLOTS 160
/* Bytes asked of the source at a time (the demuxer's want, at least). */
#define READ_AHEAD (256u << 10)
/* Frames are read this far (decode time) past the earliest one queued,
 * so the queue can put the tracks in order. */
#define LOOKAHEAD   (700 * FL_TIME_MS)
#define MAX_PAYLOAD 1200
/* Frames sent in one run of the timer at most (then it runs again). */
#define BURST_MAX 64
/* Stream time between the last frame before a seek and the first after. */
#define SEEK_STEP (40 * FL_TIME_MS)
#define WAITERS   8

enum {
    ST_AUDIO,
    ST_VIDEO,
    NSTREAMS
};

enum {
    M_PLAY,
    M_PAUSE,
    M_STOP,
    M_VIDEO_INFO,
    M_POSITION,
    M_SET_POSITION
};

static const fl__method player_methods[] = {
    { "play", M_PLAY, 0, 0 },
    { "pause", M_PAUSE, 0, 0 },
    { "stop", M_STOP, 0, 0 },
    { "getVideoInfo", M_VIDEO_INFO, 0, 0 },
    { "getPosition", M_POSITION, 0, 0 },
    { "setPosition", M_SET_POSITION, 1, 1 },
    { NULL, 0, 0, 0 },
};

typedef struct pl_stream {
    int on;    /* a track of the source is sent as this stream */
    int track; /* the demuxer's track index, or the RTSP stream's */
    unsigned media;
    fl_sdp_codec caps;
    fl_pack *pack;
    uint32_t ssrc;
    uint32_t clock;
    uint16_t seq;
    uint32_t ts_base;
    int first_sent;
    uint64_t packets, octets, frames;
    /* RTSP: the server's last Sender Report, on our clock */
    int have_sr;
    uint32_t sr_rtp;
    fl_time sr_time;
} pl_stream;

typedef struct slot {
    int used;
    int stream;
    int64_t pts, dts;
    int key;
    uint8_t *data;
    size_t len, cap;
} slot;

typedef struct player {
    fl_element *e; /* NULL once the element is gone */
    fl__worker *w;
    char uri[URI_MAX + 16];
    int use_encoded;
    int network_cache; /* ms */
    int rtsp;
    int fed;      /* fed by pushes (fl__player_write), not by a URI */
    fl_time idle; /* fed: how long a read waits for bytes before the end */
    int fail_status;
    char fail_why[256];
    enum fl_uri_state state;
    /* the source */
    fl__bytes *src;
    fl__rtsp *rs;
    int open;      /* a source was opened (or is opening) */
    int failed;    /* the source failed: said in an Error event */
    int ready;     /* the header is read, the streams are set up */
    int read_busy; /* a read of the source is outstanding */
    fl_demux *dm;
    int demux_eof;
    int eos; /* everything was sent: END_OF_STREAM raised */
    int src_seekable;
    int64_t duration_us;
    int seekable;
    pl_stream st[NSTREAMS];
    int track_stream[FL_DEMUX_MAX_TRACKS];
    slot q[QUEUE_SLOTS];
    size_t nq;
    int64_t max_dts_read;
    /* time */
    int64_t shift;
    int64_t v0;
    fl_time t0;
    fl_time pause_at;
    int anchored;   /* v0/t0 set for the first frame (after a start or a seek) */
    int64_t v_last; /* stream time of the last frame sent; -1: none */
    int64_t pos_us; /* media time of the last frame sent */
    int seek_pending;
    fl__deadline timer;
    int pending; /* handles to close before the state is freed */
    fl__deferred info_waiters[WAITERS];
    size_t ninfo;
    char text[96]; /* a call's result */
    /* RTSP: the server's NTP clock plus sr_off is ours */
    int have_sr_off;
    fl_time sr_off;
    uint8_t payload[MAX_PAYLOAD];
} player;

static player *impl(fl_element *e)
{
    return e->impl;
}

static void raise_error(player *p, const char *type, const char *msg)
{
    fl_log(FL_LOG_WARN, "%s: %s", p->e ? p->e->name : "player", msg);
    if (!p->e)
        return;
    fl_event ev = { .type = FL_EVENT_ERROR, .error = { .type = type, .description = msg } };
    fl__element_raise(p->e, &ev);
}

static void set_state(player *p, enum fl_uri_state s)
{
    if (p->state == s)
        return;
    p->state = s;
    if (p->e) {
        fl_event ev = { .type = FL_EVENT_URI_STATE, .uri_state = { .state = s } };
        fl__element_raise(p->e, &ev);
    }
}

/* ---- getVideoInfo ---- */

static void video_info_text(player *p, char *out, size_t cap)
{
    int64_t d = p->duration_us > 0 ? p->duration_us / 1000 : 0;
    snprintf(out, cap, "%d 0 %" PRId64 " %" PRId64, p->seekable, p->seekable ? d : 0, d);
}

/* Answers the getVideoInfo calls that waited for the header. */
static void answer_info(player *p)
{
    char text[96];
    video_info_text(p, text, sizeof(text));
    for (size_t i = 0; i < p->ninfo; i++)
        fl__deferred_text(&p->info_waiters[i], 0, text);
    p->ninfo = 0;
}

/* ---- the source's end ---- */

static void close_source(player *p)
{
    if (p->src) {
        fl__bytes_close(p->src);
        p->src = NULL;
    }
    if (p->rs) {
        fl__rtsp_close(p->rs);
        p->rs = NULL;
    }
    fl_demux_destroy(p->dm);
    p->dm = NULL;
    for (size_t i = 0; i < QUEUE_SLOTS; i++)
        p->q[i].used = 0;
    p->nq = 0;
    p->open = 0;
    p->read_busy = 0;
    p->demux_eof = 0;
    p->anchored = 0;
    fl__deadline_stop(&p->timer);
}

static const char *error_type(int status)
{
    switch (status) {
    case FL_ENOENT:
        return "URI_NOT_FOUND";
    case FL_EAUTH:
        return "AUTHENTICATION_FAILED";
    case FL_EBADMSG:
        return "MEDIA_CORRUPT";
    case FL_ENOTSUP:
        return "MEDIA_NOT_SUPPORTED";
    default:
        return "URI_ERROR";
    }
}

static void fail(player *p, int status, const char *why)
{
    if (p->failed)
        return;
    p->failed = 1;
    char msg[URI_MAX + 400];
    snprintf(msg, sizeof(msg), "playing %.1000s failed: %s", p->uri, why);
    raise_error(p, error_type(status), msg);
    p->fail_status = status;
    snprintf(p->fail_why, sizeof(p->fail_why), "%.255s", msg);
    if (p->fed && p->src)
        fl__bytes_push_fail(p->src, status, p->fail_why);
    close_source(p);
    for (size_t i = 0; i < p->ninfo; i++)
        fl__deferred_text(&p->info_waiters[i], status, msg);
    p->ninfo = 0;
    set_state(p, FL_URI_STOP);
}

/* ---- streams ---- */

static const char *sdp_name(fl_codec_kind k)
{
    switch (k) {
    case FL_CODEC_VP8:
        return "VP8";
    case FL_CODEC_VP9:
        return "VP9";
    case FL_CODEC_H264:
        return "H264";
    case FL_CODEC_OPUS:
        return "opus";
    case FL_CODEC_PCMU:
        return "PCMU";
    case FL_CODEC_PCMA:
        return "PCMA";
    default:
        return NULL;
    }
}

static uint8_t default_pt(fl_codec_kind k)
{
    switch (k) {
    case FL_CODEC_VP8:
        return 96;
    case FL_CODEC_VP9:
        return 98;
    case FL_CODEC_H264:
        return 102;
    case FL_CODEC_OPUS:
        return 111;
    case FL_CODEC_PCMA:
        return 8;
    default:
        return 0;
    }
}

static void stream_start(player *p, pl_stream *s, const fl_sdp_codec *caps)
{
    fl_rand *r = fl__clock_rand(&p->w->loop);
    s->on = 1;
    s->caps = *caps;
    s->clock = caps->clock_rate;
    s->ssrc = fl_rand_u32(r);
    s->seq = (uint16_t)fl_rand_u32(r);
    s->ts_base = fl_rand_u32(r);
}

/* The demuxer has read the header: the first video and the first audio
 * track that can be sent become the streams; the others are named. */
static int setup_streams(player *p)
{
    const fl_demux_info *info = fl_demux_info_get(p->dm);
    char skipped[512] = "";
    size_t sl = 0;
    for (size_t i = 0; i < FL_DEMUX_MAX_TRACKS; i++)
        p->track_stream[i] = -1;
    for (size_t i = 0; i < info->ntracks && i < FL_DEMUX_MAX_TRACKS; i++) {
        const fl_demux_track *t = &info->tracks[i];
        int k = t->video ? ST_VIDEO : ST_AUDIO;
        const char *name = sdp_name(t->codec);
        if (!name || p->st[k].on) {
            if (sl < sizeof(skipped) - 1)
                sl += (size_t)snprintf(skipped + sl, sizeof(skipped) - sl, "%s%s track %u (%s%s)",
                                       sl ? ", " : "", t->video ? "video" : "audio", t->id,
                                       t->codec_name,
                                       name ? ": one track of each kind is sent"
                                            : ": not a codec fluo sends without transcoding");
            continue;
        }
        fl_sdp_codec c = { .pt = default_pt(t->codec), .rtx_pt = -1 };
        snprintf(c.name, sizeof(c.name), "%s", name);
        fl_pack_config pc = { .codec = t->codec, .max_payload = MAX_PAYLOAD, .seed = 0 };
        switch (t->codec) {
        case FL_CODEC_VP8:
        case FL_CODEC_VP9:
            c.clock_rate = 90000;
            if (t->codec == FL_CODEC_VP9)
                snprintf(c.fmtp, sizeof(c.fmtp), "profile-id=0");
            break;
        case FL_CODEC_H264:
            c.clock_rate = 90000;
            if (t->sps && t->sps_len >= 4)
                snprintf(
                        c.fmtp, sizeof(c.fmtp),
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=%02x%02x%02x",
                        t->sps[1], t->sps[2], t->sps[3]);
            else
                snprintf(c.fmtp, sizeof(c.fmtp), "packetization-mode=1");
            pc.nal_length_size = t->nal_length_size ? t->nal_length_size : 4;
            pc.sps = t->sps;
            pc.sps_len = t->sps_len;
            pc.pps = t->pps;
            pc.pps_len = t->pps_len;
            break;
        case FL_CODEC_OPUS:
            c.clock_rate = 48000;
            c.channels = 2;
            snprintf(c.fmtp, sizeof(c.fmtp), "minptime=10;useinbandfec=1");
            break;
        default: /* G.711 */
            c.clock_rate = t->sample_rate ? t->sample_rate : 8000;
            c.channels = 1;
            break;
        }
        pc.seed = fl_rand_u32(fl__clock_rand(&p->w->loop));
        int rc = fl_pack_create(&p->st[k].pack, &pc);
        if (rc < 0)
            return rc;
        stream_start(p, &p->st[k], &c);
        p->st[k].track = (int)i;
        p->track_stream[i] = k;
    }
    if (skipped[0]) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%.160s: not sent: %.500s", p->uri, skipped);
        raise_error(p, "STREAM_SKIPPED", msg);
    }
    if (!p->st[ST_AUDIO].on && !p->st[ST_VIDEO].on)
        return FL_ENOTSUP;
    p->duration_us = info->duration_us;
    p->seekable = info->seekable && p->src_seekable;
    p->ready = 1;
    fl__worker_caps_changed(p->w);
    answer_info(p);
    return 0;
}

/* ---- sending ---- */

static void send_payload(player *p,
                         pl_stream *s,
                         uint32_t ts,
                         const uint8_t *data,
                         size_t len,
                         int marker)
{
    fl__pad *pad = p->e ? p->e->defaults[fl__media_index(s->media)] : NULL;
    if (!pad)
        return;
    fl_buf *b = fl_buf_pool_get(p->w->pool);
    if (!b)
        return;
    fl_rtp_header h = { .marker = (uint8_t)marker,
                        .payload_type = s->caps.pt,
                        .seq = s->seq++,
                        .timestamp = ts,
                        .ssrc = s->ssrc };
    if (fl_rtp_buf_write(b, 64, &h, data, len) == 0) {
        s->packets++;
        s->octets += len;
        fl__pad_push(pad, b);
    }
    fl_buf_unref(b);
}

/* The stream's RTP timestamp for stream time v (modulo 2^32; v's seconds
 * and the rest apart, so no product overflows). */
static uint32_t rtp_ts(const pl_stream *s, int64_t v)
{
    int64_t sec = v / FL_TIME_SEC, rest = v % FL_TIME_SEC;
    uint64_t ticks =
            (uint64_t)sec * s->clock + (uint64_t)((rest * (int64_t)s->clock) / FL_TIME_SEC);
    return s->ts_base + (uint32_t)ticks;
}

static void send_frame(player *p, slot *f)
{
    pl_stream *s = &p->st[f->stream];
    int64_t v = f->pts + p->shift;
    uint32_t ts = rtp_ts(s, v);
    if (fl_pack_frame(s->pack, &(fl_pack_input){ f->data, f->len, f->key }) < 0)
        return;
    int marker;
    size_t n;
    fl_codec_kind kind = fl_codec_kind_of(s->caps.name);
    int g711 = kind == FL_CODEC_PCMU || kind == FL_CODEC_PCMA;
    uint32_t samples = 0; /* G.711 pieces of one frame: a byte a sample */
    while ((n = fl_pack_next(s->pack, p->payload, sizeof(p->payload), &marker)) > 0) {
        if (!fl_codec_kind_is_video(kind))
            marker = !s->first_sent; /* the start of a talkspurt */
        s->first_sent = 1;
        send_payload(p, s, ts + samples, p->payload, n, marker);
        if (g711)
            samples += (uint32_t)n;
    }
    s->frames++;
    if (v > p->v_last)
        p->v_last = v;
    p->pos_us = f->pts;
}

/* ---- the queue: frames in decode order across tracks ---- */

static slot *earliest(player *p)
{
    slot *best = NULL;
    for (size_t i = 0; i < QUEUE_SLOTS && p->nq; i++) {
        slot *s = &p->q[i];
        if (s->used && (!best || s->dts < best->dts))
            best = s;
    }
    return best;
}

static int need_more(player *p)
{
    if (!p->ready || p->nq == 0)
        return 1;
    if (p->nq >= QUEUE_SLOTS)
        return 0;
    int have[NSTREAMS] = { 0 };
    for (size_t i = 0; i < QUEUE_SLOTS; i++) {
        if (p->q[i].used)
            have[p->q[i].stream] = 1;
    }
    for (int k = 0; k < NSTREAMS; k++) {
        if (p->st[k].on && !have[k])
            return 1;
    }
    slot *e = earliest(p);
    return p->max_dts_read - e->dts < LOOKAHEAD;
}

static int enqueue(player *p, const fl_demux_frame *f, int k)
{
    slot *s = NULL;
    for (size_t i = 0; i < QUEUE_SLOTS; i++) {
        if (!p->q[i].used) {
            s = &p->q[i];
            break;
        }
    }
    if (!s)
        return FL_EBUSY;
    if (f->len > s->cap) {
        uint8_t *d = realloc(s->data, f->len);
        if (!d)
            return FL_ENOMEM;
        s->data = d;
        s->cap = f->len;
    }
    memcpy(s->data, f->data, f->len);
    s->len = f->len;
    s->pts = f->pts_us;
    s->dts = f->dts_us;
    s->key = f->key;
    s->stream = k;
    s->used = 1;
    p->nq++;
    if (f->dts_us > p->max_dts_read)
        p->max_dts_read = f->dts_us;
    return 0;
}

static void request_read(player *p)
{
    if (p->read_busy || !p->src)
        return;
    int64_t off;
    size_t len;
    fl_demux_want(p->dm, &off, &len);
    if (len < READ_AHEAD && !p->fed) /* a push source answers what it holds */
        len = READ_AHEAD;
    int rc = fl__bytes_read(p->src, off, len);
    if (rc == FL_ENOTSUP) {
        fail(p, rc,
             "the file must be read out of order (its index is elsewhere) and the server "
             "does not take range requests");
        return;
    }
    if (rc < 0) {
        fail(p, rc, fl_strerror(rc));
        return;
    }
    p->read_busy = 1;
}

static void fill(player *p)
{
    while (p->dm && !p->demux_eof && !p->failed && need_more(p)) {
        fl_demux_frame f;
        int rc = fl_demux_read(p->dm, &f);
        if (rc == FL_EAGAIN) {
            request_read(p);
            return;
        }
        if (!p->ready && fl_demux_ready(p->dm) && (rc == 1 || rc == FL_EOF)) {
            int r2 = setup_streams(p);
            if (r2 < 0) {
                fail(p, r2,
                     r2 == FL_ENOTSUP ? "the file has no track fluo can send without transcoding"
                                      : fl_strerror(r2));
                return;
            }
        }
        if (rc == FL_EOF) {
            p->demux_eof = 1;
            if (!p->ready)
                fail(p, FL_EBADMSG, "the file ends before its first frame");
            return;
        }
        if (rc < 0) {
            char why[160];
            snprintf(why, sizeof(why), "%s",
                     rc == FL_ENOTSUP ? "not a WebM, Matroska or MP4 file"
                     : rc == FL_EBADMSG
                             ? "the file is corrupt (a size, offset or table does not hold)"
                             : fl_strerror(rc));
            fail(p, rc, why);
            return;
        }
        int k = f.track < FL_DEMUX_MAX_TRACKS ? p->track_stream[f.track] : -1;
        if (k < 0)
            continue;
        if (p->seek_pending) {
            /* the first frame after a seek: stream time goes on from the
             * last frame sent */
            p->seek_pending = 0;
            p->shift = (p->v_last >= 0 ? p->v_last + SEEK_STEP : 0) - f.dts_us;
            p->anchored = 0;
            fl_log(FL_LOG_DEBUG, "%s: from %" PRId64 " us (track %u%s), stream time %" PRId64,
                   p->e ? p->e->name : "player", f.pts_us, f.track, f.key ? ", key" : "",
                   f.dts_us + p->shift);
        }
        if (enqueue(p, &f, k) < 0)
            return;
    }
}

static void end_of_stream(player *p)
{
    p->eos = 1;
    if (p->fed && p->src) /* bytes past the stream's end (its size said so): never read */
        fl__bytes_push_fail(p->src, 0, NULL);
    fl_log(FL_LOG_INFO, "%s: end of stream (%" PRIu64 " video, %" PRIu64 " audio frames)",
           p->e ? p->e->name : "player", p->st[ST_VIDEO].frames, p->st[ST_AUDIO].frames);
    if (p->e) {
        fl_event ev = { .type = FL_EVENT_END_OF_STREAM };
        fl__element_raise(p->e, &ev);
        /* and downstream (a recorder with stopOnEndOfStream) */
        for (int k = 0; k < NSTREAMS; k++) {
            fl__pad *pad = p->st[k].on ? p->e->defaults[fl__media_index(p->st[k].media)] : NULL;
            if (pad)
                fl__pad_push_end(pad);
        }
    }
}

/* Reads what is needed, sends what is due, arms the timer for the next. */
static void pump(player *p)
{
    if (p->rtsp)
        return;
    fill(p);
    if (p->failed || p->state != FL_URI_START || !p->ready)
        return;
    fl_time now = fl__clock_now(&p->w->loop);
    for (int n = 0; n < BURST_MAX; n++) {
        slot *f = earliest(p);
        if (!f) {
            if (p->demux_eof && !p->eos)
                end_of_stream(p);
            return;
        }
        int64_t v = f->dts + p->shift;
        if (!p->anchored) {
            p->anchored = 1;
            p->v0 = v;
            p->t0 = now;
        }
        fl_time due = p->t0 + (v - p->v0);
        if (due > now) {
            fl__deadline_arm(&p->timer, due, now);
            return;
        }
        send_frame(p, f);
        f->used = 0;
        p->nq--;
        fill(p);
        if (p->failed)
            return;
    }
    fl__deadline_arm(&p->timer, now, now); /* more is due: run again */
}

static void on_timer(uv_timer_t *t)
{
    player *p = t->data;
    if (p->e)
        pump(p);
}

/* ---- byte source callbacks ---- */

static void on_opened(void *arg, int64_t size, int seekable)
{
    player *p = arg;
    p->src_seekable = seekable;
    fl_demux_config dc = { .size = seekable ? size : -1 };
    int rc = fl_demux_create(&p->dm, &dc);
    if (rc < 0) {
        fail(p, rc, fl_strerror(rc));
        return;
    }
    pump(p);
}

static void on_data(void *arg, int64_t offset, const uint8_t *data, size_t n)
{
    player *p = arg;
    p->read_busy = 0;
    if (!p->dm)
        return;
    int rc = fl_demux_feed(p->dm, offset, data, n);
    if (rc == FL_EINVAL) {
        /* asked before a seek: the demuxer wants other bytes now */
        pump(p);
        return;
    }
    if (rc < 0) {
        fail(p, rc, fl_strerror(rc));
        return;
    }
    pump(p);
}

static void on_failed(void *arg, int status, const char *why)
{
    player *p = arg;
    p->read_busy = 0;
    fail(p, status, why);
}

static const fl__bytes_cb bytes_cb = { on_opened, on_data, on_failed };

/* ---- RTSP source callbacks ---- */

static void rtsp_ready(void *arg, const fl__rtsp_stream *streams, size_t n, const char *skipped)
{
    player *p = arg;
    for (size_t i = 0; i < n; i++) {
        int k = streams[i].media == FL_MEDIA_VIDEO ? ST_VIDEO : ST_AUDIO;
        if (p->st[k].on)
            continue;
        stream_start(p, &p->st[k], &streams[i].codec);
        p->st[k].track = (int)i;
    }
    if (skipped && skipped[0]) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%.300s: not sent: %.300s", p->uri, skipped);
        raise_error(p, "STREAM_SKIPPED", msg);
    }
    p->ready = 1;
    p->duration_us = -1;
    p->seekable = 0;
    fl__worker_caps_changed(p->w);
    answer_info(p);
    if (p->state == FL_URI_START && fl__rtsp_play(p->rs) < 0)
        fail(p, FL_EPROTO, "PLAY could not be sent");
}

static int rtsp_stream(player *p, size_t i)
{
    for (int k = 0; k < NSTREAMS; k++) {
        if (p->st[k].on && p->st[k].track == (int)i)
            return k;
    }
    return -1;
}

static void rtsp_rtp(void *arg, size_t i, const uint8_t *data, size_t len)
{
    player *p = arg;
    int k = rtsp_stream(p, i);
    if (k < 0 || p->state != FL_URI_START || !p->e || len > FL__POOL_SIZE - FL__POOL_HEADROOM)
        return;
    fl__pad *pad = p->e->defaults[fl__media_index(p->st[k].media)];
    fl_buf *b = fl_buf_pool_get(p->w->pool);
    if (!b)
        return;
    memcpy(fl_buf_data(b), data, len);
    fl_buf_set_len(b, len);
    if (fl_rtp_buf_parse(b) == 0) {
        p->st[k].packets++;
        p->st[k].octets += b->rtp.payload_len;
        p->pos_us = 0;
        fl__pad_push(pad, b);
    }
    fl_buf_unref(b);
}

static void rtsp_sr(void *arg, size_t i, uint32_t rtp_ts_sr, uint64_t ntp)
{
    player *p = arg;
    int k = rtsp_stream(p, i);
    if (k < 0)
        return;
    /* the server's NTP clock on ours: the least (arrival - NTP) seen over
     * every stream, so the streams keep their offsets */
    fl_time ntp_us = (fl_time)((ntp >> 32) * 1000000 + (((ntp & 0xffffffffu) * 1000000) >> 32));
    fl_time now = fl__clock_now(&p->w->loop);
    pl_stream *s = &p->st[k];
    s->have_sr = 1;
    s->sr_rtp = rtp_ts_sr;
    if (!p->have_sr_off || now - ntp_us < p->sr_off) {
        p->have_sr_off = 1;
        p->sr_off = now - ntp_us;
    }
    s->sr_time = ntp_us;
}

static void rtsp_ended(void *arg)
{
    player *p = arg;
    if (!p->eos)
        end_of_stream(p);
}

static void rtsp_failed(void *arg, int status, const char *why)
{
    fail(arg, status, why);
}

static const fl__rtsp_cb rtsp_cb = { rtsp_ready, rtsp_rtp, rtsp_sr, rtsp_ended, rtsp_failed };

/* ---- calls ---- */

static int open_source(player *p)
{
    p->failed = 0;
    p->eos = 0;
    p->ready = 0;
    p->open = 1;
    p->max_dts_read = INT64_MIN;
    p->anchored = 0;
    /* stream time starts at 0 (a file's own times may start anywhere: a
     * live packager's fragments count from 1970), or goes on from the last
     * frame sent */
    p->seek_pending = 1;
    for (int k = 0; k < NSTREAMS; k++) {
        fl_pack_destroy(p->st[k].pack);
        p->st[k].pack = NULL;
        p->st[k].on = 0;
    }
    int rc;
    if (p->fed) {
        rc = fl__bytes_push_create(&p->src, &p->w->loop, p->idle, &bytes_cb, p);
    } else if (p->rtsp) {
        fl__rtsp_transport t = strncasecmp(p->uri, "rtspt:", 6) == 0 ? FL__RTSP_TCP : FL__RTSP_UDP;
        rc = fl__rtsp_open(&p->rs, &p->w->loop, p->uri, t, &rtsp_cb, p);
    } else {
        rc = fl__bytes_open(&p->src, &p->w->loop, p->uri, NULL, &bytes_cb, p);
    }
    if (rc < 0)
        p->open = 0;
    return rc;
}

static int play(player *p, fl__invocation *inv)
{
    if (!p->uri[0]) {
        snprintf(inv->why, sizeof(inv->why), "the player has no uri");
        return FL_ESTATE;
    }
    fl_time now = fl__clock_now(&p->w->loop);
    if (p->state == FL_URI_START && !p->eos)
        return 0;
    if (p->state == FL_URI_PAUSE && p->open && !p->failed && !p->eos) {
        /* resume: stream time moves on by the pause, so timestamps keep
         * pace with the clock */
        p->shift += now - p->pause_at;
        set_state(p, FL_URI_START);
        if (p->rs)
            fl__rtsp_play(p->rs);
        pump(p);
        return 0;
    }
    if (p->eos && p->open && p->seekable && p->dm && fl_demux_seek(p->dm, 0) == 0) {
        /* played to the end: again from the start */
        p->eos = 0;
        p->demux_eof = 0;
        p->seek_pending = 1;
        for (size_t i = 0; i < QUEUE_SLOTS; i++)
            p->q[i].used = 0;
        p->nq = 0;
        p->max_dts_read = INT64_MIN;
    } else if (p->eos || !p->open || p->failed) {
        close_source(p);
        int rc = open_source(p); /* a replay goes on from the last stream time */
        if (rc < 0) {
            snprintf(inv->why, sizeof(inv->why), "the uri cannot be played: %s", fl_strerror(rc));
            return rc;
        }
    }
    set_state(p, FL_URI_START);
    pump(p);
    return 0;
}

static void pause_play(player *p)
{
    if (p->state != FL_URI_START)
        return;
    p->pause_at = fl__clock_now(&p->w->loop);
    fl__deadline_stop(&p->timer);
    if (p->rs)
        fl__rtsp_pause(p->rs);
    set_state(p, FL_URI_PAUSE);
}

static void answer_waiters(player *p, int status, const char *why)
{
    for (size_t i = 0; i < p->ninfo; i++)
        fl__deferred_text(&p->info_waiters[i], status, why);
    p->ninfo = 0;
}

static void stop_play(player *p)
{
    answer_waiters(p, FL_ESTATE, "the player was stopped before the file's header was read");
    close_source(p);
    p->ready = 0;
    p->eos = 0;
    p->pos_us = 0;
    set_state(p, FL_URI_STOP);
}

static int set_position(player *p, fl__invocation *inv)
{
    char *end;
    long long ms = strtoll(inv->args[0], &end, 10);
    if (*end || ms < 0 || ms > INT64_MAX / 1000) {
        snprintf(inv->why, sizeof(inv->why),
                 "position must be a count of milliseconds, not '%.100s'", inv->args[0]);
        return FL_EINVAL;
    }
    if (!p->ready || !p->dm || !p->seekable) {
        snprintf(inv->why, sizeof(inv->why), "%s",
                 !p->ready ? "the player is not playing yet"
                           : "this source is not seekable (a live stream, or a server that does "
                             "not take range requests)");
        return FL_ENOTSUP;
    }
    int rc = fl_demux_seek(p->dm, (int64_t)ms * 1000);
    if (rc < 0) {
        snprintf(inv->why, sizeof(inv->why), "cannot seek to %lld ms: %s%s", ms, fl_strerror(rc),
                 rc == FL_ERANGE ? " (past the duration)" : "");
        return rc;
    }
    for (size_t i = 0; i < QUEUE_SLOTS; i++)
        p->q[i].used = 0;
    p->nq = 0;
    p->max_dts_read = INT64_MIN;
    p->demux_eof = 0;
    p->eos = 0;
    p->seek_pending = 1;
    p->pos_us = (int64_t)ms * 1000;
    fl__deadline_stop(&p->timer);
    pump(p);
    return 0;
}

static int player_invoke(fl_element *e, fl__invocation *inv)
{
    player *p = impl(e);
    char *text = p->text;
    switch (inv->method->id) {
    case M_PLAY:
        return play(p, inv);
    case M_PAUSE:
        pause_play(p);
        return 0;
    case M_STOP:
        stop_play(p);
        return 0;
    case M_VIDEO_INFO:
        if (!p->ready && p->open && !p->failed) {
            if (p->ninfo == WAITERS) {
                snprintf(inv->why, sizeof(inv->why), "too many getVideoInfo calls waiting");
                return FL_EBUSY;
            }
            p->info_waiters[p->ninfo++] = fl__invocation_defer(inv);
            return FL__INVOKE_LATER;
        }
        video_info_text(p, text, sizeof(p->text));
        inv->result = text;
        return 0;
    case M_POSITION:
        snprintf(text, sizeof(p->text), "%" PRId64, p->pos_us / 1000);
        inv->result = text;
        return 0;
    case M_SET_POSITION:
        return set_position(p, inv);
    default:
        return FL_ENOTSUP;
    }
}

/* ---- hooks ---- */

const fl_sdp_codec *fl__player_caps(fl_element *e, unsigned media)
{
    player *p = impl(e);
    int k = media == FL_MEDIA_VIDEO ? ST_VIDEO : media == FL_MEDIA_AUDIO ? ST_AUDIO : -1;
    return p && k >= 0 && p->st[k].on ? &p->st[k].caps : NULL;
}

void fl__player_key_frame(fl_element *e, unsigned media, int join)
{
    (void)join;
    player *p = impl(e);
    if (p && p->rs && media == FL_MEDIA_VIDEO && p->st[ST_VIDEO].on)
        fl__rtsp_request_key_frame(p->rs, (size_t)p->st[ST_VIDEO].track);
    /* a file: its next key frame comes as the file has them */
}

int fl__player_sender_report(fl_element *e,
                             unsigned media,
                             uint32_t ssrc,
                             uint32_t *rtp_ts_out,
                             fl_time *sent)
{
    player *p = impl(e);
    if (!p)
        return FL_ENOENT;
    int k = media == FL_MEDIA_VIDEO ? ST_VIDEO : ST_AUDIO;
    pl_stream *s = &p->st[k];
    if (!s->on)
        return FL_ENOENT;
    if (p->rtsp) {
        if (!s->have_sr)
            return FL_ENOENT;
        *rtp_ts_out = s->sr_rtp;
        *sent = s->sr_time + p->sr_off;
        return 0;
    }
    if (ssrc != s->ssrc || !p->anchored || p->v_last < 0)
        return FL_ENOENT;
    fl_time now = fl__clock_now(&p->w->loop);
    int64_t v = p->state == FL_URI_START ? p->v0 + (now - p->t0) : p->v_last;
    *rtp_ts_out = rtp_ts(s, v);
    *sent = now;
    return 0;
}

void fl__player_stats(fl_element *e, unsigned media, fl__stats_out *out)
{
    (void)media;
    (void)e;
    fl__stats_add(out, FL_STATS_ELEMENT);
}

void fl__player_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    (void)sink;
    fl_buf_unref(buf); /* a player takes no media */
}

/* ---- properties ---- */

int fl__player_set_property(fl_element *e, const char *name, const char *value)
{
    player *p = impl(e);
    if (strcmp(name, "uri") == 0) {
        if (p->open)
            return FL_ESTATE;
        if (strlen(value) > URI_MAX)
            return FL_EINVAL;
        int rtsp = strncasecmp(value, "rtsp://", 7) == 0 || strncasecmp(value, "rtspt://", 8) == 0;
        if (!rtsp && strncasecmp(value, "file:", 5) != 0 && strncasecmp(value, "http://", 7) != 0 &&
            strncasecmp(value, "https://", 8) != 0)
            return FL_ENOTSUP;
        snprintf(p->uri, sizeof(p->uri), "%s", value);
        p->rtsp = rtsp;
        return 0;
    }
    if (strcmp(name, "useEncodedMedia") == 0) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return FL_EINVAL;
        p->use_encoded = value[0] == 't';
        return 0;
    }
    if (strcmp(name, "networkCache") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (*end || v < 0 || v > 60000)
            return FL_EINVAL;
        p->network_cache = (int)v;
        return 0;
    }
    return FL_ENOTSUP;
}

int fl__player_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    player *p = impl(e);
    static const char *const states[] = { "STOP", "START", "PAUSE" };
    if (strcmp(name, "uri") == 0)
        snprintf(out, cap, "%s", p->uri);
    else if (strcmp(name, "state") == 0)
        snprintf(out, cap, "%s", states[p->state]);
    else if (strcmp(name, "useEncodedMedia") == 0)
        snprintf(out, cap, "%s", p->use_encoded ? "true" : "false");
    else if (strcmp(name, "networkCache") == 0)
        snprintf(out, cap, "%d", p->network_cache);
    else if (strcmp(name, "position") == 0)
        snprintf(out, cap, "%" PRId64, p->pos_us / 1000);
    else
        return FL_ENOTSUP;
    return 0;
}

/* ---- life ---- */

static void free_player(player *p)
{
    for (int k = 0; k < NSTREAMS; k++)
        fl_pack_destroy(p->st[k].pack);
    for (size_t i = 0; i < QUEUE_SLOTS; i++)
        free(p->q[i].data);
    free(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    free_player(h->data);
}

static int player_init(fl_element *e)
{
    player *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    p->e = e;
    p->w = e->worker;
    p->state = FL_URI_STOP;
    p->network_cache = 2000;
    p->v_last = -1;
    p->duration_us = -1;
    p->st[ST_AUDIO].media = FL_MEDIA_AUDIO;
    p->st[ST_VIDEO].media = FL_MEDIA_VIDEO;
    for (size_t i = 0; i < FL_DEMUX_MAX_TRACKS; i++)
        p->track_stream[i] = -1;
    fl__deadline_init(&p->timer, &p->w->loop, on_timer, p, 0);
    e->impl = p;
    return 0;
}

void fl__player_fini(fl_element *e)
{
    player *p = impl(e);
    if (!p)
        return;
    e->impl = NULL;
    p->e = NULL;
    answer_waiters(p, FL_ECLOSED, "the player was released");
    close_source(p);
    fl__deadline_close(&p->timer, on_timer_closed);
}

/* ---- fed by pushes (player_int.h) ---- */

int fl__player_init_fed(fl_element *e, fl_time idle)
{
    int rc = player_init(e);
    if (rc < 0)
        return rc;
    player *p = impl(e);
    p->fed = 1;
    p->idle = idle;
    snprintf(p->uri, sizeof(p->uri), "the upload");
    return 0;
}

void fl__player_set_idle(fl_element *e, fl_time idle)
{
    impl(e)->idle = idle; /* the next stream's */
}

fl_time fl__player_idle(fl_element *e)
{
    return impl(e)->idle;
}

void fl__player_write(fl_element *e, const uint8_t *data, size_t len, fl__deferred done)
{
    player *p = impl(e);
    if (p->failed) {
        fl__deferred_text(&done, p->fail_status, p->fail_why);
        return;
    }
    if (p->open && p->src && !p->eos && fl__bytes_push_ended(p->src)) {
        fl__deferred_text(&done, FL_EBUSY,
                          "the previous stream ended and is still playing out its last frames");
        return;
    }
    if (!p->open || p->eos) {
        /* a new stream: its stream time goes on from the last one's */
        close_source(p);
        int rc = open_source(p);
        if (rc < 0) {
            fl__deferred_text(&done, rc, "the stream could not be opened");
            return;
        }
        set_state(p, FL_URI_START);
    }
    int rc = fl__bytes_push_write(p->src, data, len, done);
    if (rc < 0)
        fl__deferred_text(&done, rc,
                          rc == FL_EMSGSIZE ? "more than 80 MiB written and not yet played"
                                            : fl_strerror(rc));
}

void fl__player_write_end(fl_element *e)
{
    player *p = impl(e);
    if (p->failed)
        p->failed = 0; /* the next write starts a new stream */
    else if (p->open && p->src && !p->eos)
        fl__bytes_push_end(p->src);
}

const fl__element_type fl__player_type = {
    .name = FL_ELEMENT_PLAYER,
    .receive = fl__player_receive,
    .init = player_init,
    .fini = fl__player_fini,
    .key_frame = fl__player_key_frame,
    .caps = fl__player_caps,
    .set_property = fl__player_set_property,
    .get_property = fl__player_get_property,
    .stats = fl__player_stats,
    .sender_report = fl__player_sender_report,
    .methods = player_methods,
    .invoke = player_invoke,
};
