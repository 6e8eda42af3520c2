/* A harness for the engine tests of elements that play media into an
 * AppSink (PlayerEndpoint, HttpPostEndpoint) on the simulation of
 * sim_world.h: the RTP packets the sink received (their headers, the time
 * each came and its payload in one byte store), the EndOfStream, Error,
 * Stopped and UriEndpoint state events counted, the virtual clock moved on
 * in 10 ms steps, and the video depacketized again and its sequence
 * numbers checked. Included by the test files that use it; it includes
 * sim_world.h (and so cmocka) itself. */
#ifndef FL_TESTS_UNIT_ENGINE_PLAY_WORLD_H
#define FL_TESTS_UNIT_ENGINE_PLAY_WORLD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/codec.h"
#include "engine/engine_int.h"
#include "net/rtp.h"
#include "tests/unit/engine/sim_world.h"

#define PW_MAX_PKTS 20000

typedef struct pkt {
    unsigned media;
    fl_time at;
    uint32_t ssrc, ts;
    uint16_t seq;
    uint8_t pt, marker;
    size_t off, len; /* payload in the world's byte store */
} pkt;

typedef struct play_world {
    sim_world s;
    /* a folder of its own, removed by pw_deinit */
    char dir[64];
    /* the element that plays, and the AppSink it is joined to */
    fl_element *src, *sink;
    /* what the sink received: PW_MAX_PKTS packets at most (more are not
     * kept), their payloads one after the other in bytes */
    pkt *pkts;
    size_t npkts;
    uint8_t *bytes;
    size_t nbytes, capbytes;
    /* events counted: the last EndOfStream's time, the last Error's words,
     * the UriEndpoint states seen by state */
    int eos, errors, stopped;
    fl_time eos_at;
    char error_type[64], error_desc[512];
    int states[3];
} play_world;

/* The AppSink's media callback: `arg` is the play_world. */
static inline void pw_on_media(void *arg, unsigned media, fl_buf *buf)
{
    play_world *w = arg;
    fl_rtp_view v;
    if (w->npkts == PW_MAX_PKTS || fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0)
        return;
    if (w->nbytes + v.payload_len > w->capbytes) {
        w->capbytes = (w->nbytes + v.payload_len) * 2;
        w->bytes = realloc(w->bytes, w->capbytes);
        assert_non_null(w->bytes);
    }
    memcpy(w->bytes + w->nbytes, v.payload, v.payload_len);
    w->pkts[w->npkts++] = (pkt){ .media = media,
                                 .at = fl__sim_now(w->s.sim),
                                 .ssrc = v.ssrc,
                                 .ts = v.timestamp,
                                 .seq = v.seq,
                                 .pt = v.payload_type,
                                 .marker = v.marker,
                                 .off = w->nbytes,
                                 .len = v.payload_len };
    w->nbytes += v.payload_len;
}

/* An element's event callback: `arg` is the play_world. */
static inline void pw_on_event(void *arg, const fl_event *ev)
{
    play_world *w = arg;
    if (ev->type == FL_EVENT_END_OF_STREAM) {
        w->eos++;
        w->eos_at = fl__sim_now(w->s.sim);
    } else if (ev->type == FL_EVENT_ERROR) {
        w->errors++;
        snprintf(w->error_type, sizeof(w->error_type), "%s", ev->error.type);
        snprintf(w->error_desc, sizeof(w->error_desc), "%s", ev->error.description);
    } else if (ev->type == FL_EVENT_STOPPED) {
        w->stopped++;
    } else if (ev->type == FL_EVENT_URI_STATE) {
        w->states[ev->uri_state.state % 3]++;
    }
}

static inline int pw_have_ffmpeg(void)
{
    return system("command -v ffmpeg >/dev/null 2>&1") == 0;
}

/* `w` zeroed: a folder /tmp/fluo-<dir_tag>-XXXXXX, a simulation seeded
 * with `seed`, an element of `type` called `name` joined to an AppSink
 * for audio and video, both reporting to `w`. */
static inline void pw_init(play_world *w,
                           const char *dir_tag,
                           uint64_t seed,
                           const char *type,
                           const char *name)
{
    w->pkts = calloc(PW_MAX_PKTS, sizeof(pkt));
    assert_non_null(w->pkts);
    snprintf(w->dir, sizeof(w->dir), "/tmp/fluo-%s-XXXXXX", dir_tag);
    assert_non_null(mkdtemp(w->dir));
    sw_init(&w->s, seed);
    w->src = sw_make(&w->s, type, name);
    w->sink = sw_make(&w->s, FL_ELEMENT_APP_SINK, "sink");
    assert_int_equal(fl_element_set_event_cb(w->src, pw_on_event, w), 0);
    assert_int_equal(fl_element_set_media_cb(w->sink, pw_on_media, w), 0);
    sw_join(&w->s, w->src, w->sink, FL_MEDIA_AUDIO | FL_MEDIA_VIDEO);
}

static inline void pw_deinit(play_world *w)
{
    sw_deinit(&w->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w->pkts);
    free(w->bytes);
}

/* Moves the virtual clock on by `dt` in steps of 10 ms. */
static inline void pw_advance(play_world *w, fl_time dt)
{
    fl_time end = fl__sim_now(w->s.sim) + dt;
    while (fl__sim_now(w->s.sim) < end)
        assert_int_equal(fl__sim_advance(w->s.sim, 10 * FL_TIME_MS), 0);
}

/* The video packets from index `from` on, depacketized by the project's
 * depacketizer for `kind`: frames whole (none dropped or malformed).
 * Returns the count of frames, `cap` at most; where not NULL, at[i] the
 * time frame i's first packet came, ts[i] its RTP timestamp, key[i]
 * whether it is a key frame. */
static inline size_t pw_video_frames(play_world *w,
                                     fl_codec_kind kind,
                                     size_t from,
                                     fl_time *at,
                                     uint32_t *ts,
                                     int *key,
                                     size_t cap)
{
    fl_depack *d;
    assert_int_equal(fl_depack_create(&d, &(fl_depack_config){ .codec = kind }), 0);
    size_t n = 0;
    fl_time first_at = 0;
    uint32_t cur_ts = 0;
    int have = 0;
    for (size_t i = from; i < w->npkts; i++) {
        const pkt *p = &w->pkts[i];
        if (p->media != FL_MEDIA_VIDEO)
            continue;
        if (!have || p->ts != cur_ts) {
            first_at = p->at;
            cur_ts = p->ts;
            have = 1;
        }
        assert_int_equal(fl_depack_push(d, &(fl_depack_packet){ w->bytes + p->off, p->len, p->seq,
                                                                p->ts, p->marker, 0 }),
                         0);
        fl_frame f;
        while (fl_depack_pull(d, &f) == 1 && n < cap) {
            if (at)
                at[n] = first_at;
            if (ts)
                ts[n] = f.rtp_ts;
            if (key)
                key[n] = f.key;
            n++;
        }
    }
    fl_depack_stats st;
    fl_depack_get_stats(d, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.malformed, 0);
    fl_depack_destroy(d);
    return n;
}

/* Each media's sequence numbers without a gap within an SSRC; `ssrcs`
 * SSRCs one after the other (a stream each). */
static inline void pw_check_continuous(play_world *w, int ssrcs)
{
    for (unsigned m = FL_MEDIA_AUDIO; m <= FL_MEDIA_VIDEO; m++) {
        int have = 0, n = 0;
        uint16_t last = 0;
        uint32_t ssrc = 0;
        for (size_t i = 0; i < w->npkts; i++) {
            const pkt *p = &w->pkts[i];
            if (p->media != m)
                continue;
            if (!have || p->ssrc != ssrc)
                n++;
            else
                assert_int_equal((uint16_t)(last + 1), p->seq);
            have = 1;
            last = p->seq;
            ssrc = p->ssrc;
        }
        assert_int_equal(n, ssrcs);
    }
}

#endif
