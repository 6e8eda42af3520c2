/* Fuzzes container/mp4.c through fl_mux: a set of tracks and a run of
 * frames decoded from the input, then finish.
 *
 * Input: byte 0 the tracks (bits 0-1: count - 1; bits 2-5: track i is Opus
 * when its bit is set, else H.264), byte 1 the fragment length (0: the
 * default, else n * 10 ms); then frames, each a header byte (bits 0-1 the
 * track, 2 key, 3 with SPS/PPS, 4 AVC form made right, 5 no picture size,
 * 6 a time step of seconds, 7 a step back), a time step (1 byte, x 1 ms, or
 * seconds), a length (1 byte) and that many bytes (fewer at the end).
 *
 * The sink checks what the muxer promises its writer: every append is
 * whole boxes, a patch lands inside what was appended, and the file stays
 * within a bound of the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"
#include "container/container.h"
#include "tests/unit/container/media_fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    uint64_t appended;
    uint64_t patches;
};

static int sink_write(void *arg, int64_t offset, const uint8_t *p, size_t len)
{
    struct sink *s = arg;
    if (offset == FL_MUX_APPEND) {
        if (!mf_boxes_whole(p, len))
            abort();
        s->appended += len;
        return 0;
    }
    if (offset < 0 || (uint64_t)offset + len > s->appended)
        abort();
    s->patches++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fl_mux_track tracks[FL_MUX_MAX_TRACKS];
    size_t ntracks = (size_t)(data[0] & 3) + 1;
    for (size_t i = 0; i < ntracks; i++) {
        int opus = (data[0] >> (2 + i)) & 1;
        tracks[i] = (fl_mux_track){ .codec = opus ? FL_MUX_OPUS : FL_MUX_H264,
                                    .sample_rate = opus ? 48000 : 0,
                                    .channels = opus ? 2 : 0 };
    }
    struct sink s = { 0 };
    fl_mux_config cfg = { .format = FL_MUX_MP4,
                          .tracks = tracks,
                          .ntracks = ntracks,
                          .out = { sink_write, &s },
                          .fragment_us = (int64_t)data[1] * 10000 };
    fl_mux *m;
    if (fl_mux_create(&m, &cfg) != 0)
        abort();

    int64_t pts[FL_MUX_MAX_TRACKS] = { 0 };
    uint8_t frame[4 + 255], sps[16], pps[8];
    size_t at = 2;
    while (at + 3 <= size) {
        uint8_t h = data[at], step = data[at + 1], len = data[at + 2];
        at += 3;
        size_t n = len <= size - at ? len : size - at;
        const uint8_t *body = data + at;
        at += n;
        unsigned track = h & 3;
        int64_t d = (h & 0x40) ? (int64_t)step * 1000000 : (int64_t)step * 1000;
        if (track < ntracks)
            pts[track] += (h & 0x80) ? -d : d;
        fl_mux_frame f = { .track = track,
                           .pts_us = track < ntracks ? pts[track] : 0,
                           .key = (h >> 2) & 1 };
        if (h & 0x10) { /* AVC form: one NAL unit after its length */
            fl_put_be32(frame, (uint32_t)n);
            memcpy(frame + 4, body, n);
            f.data = frame;
            f.len = n + 4;
        } else {
            f.data = body;
            f.len = n;
        }
        if (h & 0x08) { /* SPS and PPS from the frame's first bytes */
            size_t sl = n < sizeof(sps) - 4 ? n : sizeof(sps) - 4;
            memcpy(sps, "\x67\x64\x00\x1f", 4);
            memcpy(sps + 4, body, sl);
            f.sps = sps;
            f.sps_len = 4 + sl;
            pps[0] = 0x68;
            pps[1] = n ? body[n - 1] : 0xce;
            f.pps = pps;
            f.pps_len = 2;
        }
        if (!(h & 0x20)) {
            f.width = 640;
            f.height = 480;
        }
        int r = fl_mux_write(m, &f);
        if (r > 0)
            abort();
    }
    if (fl_mux_finish(m) != 0)
        abort();
    if (fl_mux_write(m, &(fl_mux_frame){ .data = frame, .len = 1 }) == 0)
        abort();
    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    if (st.bytes != s.appended || st.frames_dropped > st.frames)
        abort();
    /* the header, then per frame its bytes and at most a fragment's and an
     * index entry's worth of boxes */
    if (s.appended > 8192 + 64 * (uint64_t)size)
        abort();
    fl_mux_destroy(m);
    return 0;
}
