/* Fuzzes container/'s muxers from their input side: the frames a
 * recorder hands over. The input picks a format (first byte; MP4 is left
 * to fuzz_mp4, which knows its rules), the
 * tracks among what the format holds and the fragment length, then is
 * read as frames:
 *
 *     track (2 bits: 3 may be out of range) | flags: key, size, parameter
 *     sets, time going back | pts delta, ms (16 bits) | length (16 bits) |
 *     [SPS length, PPS length, their bytes] | the frame's bytes
 *
 * into a sink that keeps the file in memory. fl_mux_write must refuse
 * exactly the frames that break the rules (FL_EINVAL) and take the rest;
 * the sink sees whole appends and patches only inside what was appended,
 * after the last append; the output stays within a bound of the input;
 * and a WebM/Matroska file reads back whole (tests/unit/container/
 * mkv_read.h: sizes, order, links, timestamps). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "container/container.h"
#include "tests/unit/container/mkv_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct out {
    uint8_t *data;
    size_t len, cap;
    int patched;
} out;

static int out_write(void *arg, int64_t offset, const uint8_t *p, size_t n)
{
    out *o = arg;
    if (n == 0)
        abort();
    if (offset == FL_MUX_APPEND) {
        if (o->patched)
            abort(); /* patches come last */
        if (o->cap - o->len < n) {
            size_t cap = o->cap ? o->cap : 4096;
            while (cap - o->len < n)
                cap *= 2;
            uint8_t *d = realloc(o->data, cap);
            if (!d)
                abort();
            o->data = d;
            o->cap = cap;
        }
        memcpy(o->data + o->len, p, n);
        o->len += n;
        return 0;
    }
    if (offset < 0 || (size_t)offset > o->len || n > o->len - (size_t)offset)
        abort();
    memcpy(o->data + offset, p, n);
    o->patched = 1;
    return 0;
}

static const fl_mux_codec allowed[3][6] = {
    { FL_MUX_VP8, FL_MUX_VP9, FL_MUX_OPUS },
    { FL_MUX_VP8, FL_MUX_VP9, FL_MUX_H264, FL_MUX_OPUS, FL_MUX_PCMU, FL_MUX_PCMA },
    { FL_MUX_H264, FL_MUX_OPUS },
};
static const size_t nallowed[3] = { 3, 6, 2 };

static void check_file(const out *o, uint64_t frames)
{
    static mkv_file f;
    if (mkv_read(o->data, o->len, &f) != 0)
        abort();
    if (f.nblocks > frames || f.seg_size != (int64_t)(o->len - f.seg_data))
        abort();
    int64_t last[MKV_MAX_TRACKS + 1];
    for (size_t i = 0; i <= MKV_MAX_TRACKS; i++)
        last[i] = -1;
    for (size_t k = 0; k < f.nblocks; k++) {
        const mkv_block *b = &f.blocks[k];
        if (b->track < 1 || b->track > f.ntracks || b->rel < 0 || b->rel > 30000 ||
            b->ts < last[b->track])
            abort();
        last[b->track] = b->ts;
    }
    mkv_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        fl_log_configure("*:none");
        quiet = 1;
    }
    if (size < 3)
        return 0;
    fl_mux_format format = (fl_mux_format)(data[0] % 3);
    if (format == FL_MUX_MP4) /* its own rules (AVC form, limits) and boxes: fuzz_mp4 */
        return 0;
    size_t ntracks = 1 + (data[1] & 3);
    if (size < 2 + ntracks + 1)
        return 0;
    fl_mux_track tracks[FL_MUX_MAX_TRACKS];
    for (size_t i = 0; i < ntracks; i++) {
        fl_mux_codec c = allowed[format][data[2 + i] % nallowed[format]];
        int opus = c == FL_MUX_OPUS;
        tracks[i] = (fl_mux_track){ .codec = c };
        if (c == FL_MUX_OPUS || c == FL_MUX_PCMU || c == FL_MUX_PCMA)
            tracks[i] = (fl_mux_track){ .codec = c,
                                        .sample_rate = opus ? 48000 : 8000,
                                        .channels = 1 + ((data[2 + i] >> 4) & 1) };
    }
    size_t at = 2 + ntracks;
    out o = { 0 };
    fl_mux_config cfg = { .format = format,
                          .tracks = tracks,
                          .ntracks = ntracks,
                          .out = { out_write, &o },
                          .fragment_us = (int64_t)(data[at++] % 8) * 250000 };
    fl_mux *m;
    int r = fl_mux_create(&m, &cfg);
    if (r == FL_ENOTSUP && format == FL_MUX_MP4)
        return 0;
    if (r != 0)
        abort();
    int64_t pts[FL_MUX_MAX_TRACKS] = { 0 };
    uint64_t frames = 0, bytes_in = 0;
    while (size - at >= 6) {
        const uint8_t *h = data + at;
        at += 6;
        unsigned track = h[0] & 3, flags = h[1];
        size_t len = (size_t)(h[4] << 8 | h[5]);
        fl_mux_frame f = { .track = track, .key = flags & 1 };
        if (flags & 2) {
            f.width = 320;
            f.height = 240;
        }
        if ((flags & 4) && size - at >= 2) {
            f.sps_len = data[at] & 0x3f;
            f.pps_len = data[at + 1] & 0x3f;
            at += 2;
            if (f.sps_len + f.pps_len > size - at)
                f.sps_len = f.pps_len = 0;
            f.sps = f.sps_len ? data + at : NULL;
            f.pps = f.pps_len ? data + at + f.sps_len : NULL;
            at += f.sps_len + f.pps_len;
        }
        if (len > size - at)
            len = size - at;
        f.data = data + at;
        f.len = len;
        at += len;
        int64_t before = track < ntracks ? pts[track] : 0;
        int64_t next = (flags & 8) ? before - 1000 : before + (int64_t)(h[2] << 8 | h[3]) * 1000;
        f.pts_us = next;
        int refuse = track >= ntracks || len == 0 || next < before || next < 0;
        r = fl_mux_write(m, &f);
        if (refuse ? r != FL_EINVAL : r != 0)
            abort();
        frames++;
        if (!refuse) {
            pts[track] = next;
            bytes_in += len + 8 + f.sps_len + f.pps_len;
        }
    }
    if (fl_mux_finish(m) != 0 || fl_mux_finish(m) != FL_ESTATE)
        abort();
    fl_mux_stats st;
    fl_mux_get_stats(m, &st);
    fl_mux_destroy(m);
    /* A frame costs at most a SimpleBlock head and its share of a cluster
     * and a CuePoint; the header, Cues and patches stay under 4 KiB here. */
    if (st.frames != frames || st.bytes != o.len || o.len > bytes_in + 96 * frames + 4096)
        abort();
    if (o.len)
        check_file(&o, frames);
    free(o.data);
    return 0;
}
