/* fl_mux: what every format shares (the tracks a format may hold, the
 * rules a frame must keep), then each format's muxer behind fl__mux_ops. */
#include <stdlib.h>

#include "base/err.h"
#include "container/container.h"
#include "container/container_int.h"

/* Larger frames are refused: no coded frame of a recorded stream comes
 * near, and a WebM cluster (32 MiB at most) must hold one whole. */
#define MAX_FRAME (16u << 20)
/* avcC keeps parameter set lengths in 16 bits. */
#define MAX_PARAM_SET 65535
#define MAX_RATE      384000
#define MAX_CHANNELS  2

struct fl_mux {
    fl_mux_format format;
    size_t ntracks;
    int64_t last_pts[FL_MUX_MAX_TRACKS]; /* -1: none yet */
    const fl__mux_ops *ops;
    void *impl;
    int finished;
    uint64_t frames;
    uint64_t refused;
};

static int is_audio(fl_mux_codec c)
{
    return c == FL_MUX_OPUS || c == FL_MUX_PCMU || c == FL_MUX_PCMA;
}

static int format_holds(fl_mux_format f, fl_mux_codec c)
{
    switch (f) {
    case FL_MUX_WEBM:
        return c == FL_MUX_VP8 || c == FL_MUX_VP9 || c == FL_MUX_OPUS;
    case FL_MUX_MKV:
        return c == FL_MUX_VP8 || c == FL_MUX_VP9 || c == FL_MUX_H264 || c == FL_MUX_OPUS ||
               c == FL_MUX_PCMU || c == FL_MUX_PCMA;
    case FL_MUX_MP4:
        return c == FL_MUX_H264 || c == FL_MUX_OPUS;
    default:
        return 0;
    }
}

static int check_config(const fl_mux_config *cfg)
{
    if (!cfg || !cfg->tracks || cfg->ntracks < 1 || cfg->ntracks > FL_MUX_MAX_TRACKS ||
        !cfg->out.write || cfg->fragment_us < 0)
        return FL_EINVAL;
    for (size_t i = 0; i < cfg->ntracks; i++) {
        const fl_mux_track *t = &cfg->tracks[i];
        if (!format_holds(cfg->format, t->codec))
            return FL_EINVAL;
        if (is_audio(t->codec) && (t->sample_rate < 1 || t->sample_rate > MAX_RATE ||
                                   t->channels < 1 || t->channels > MAX_CHANNELS))
            return FL_EINVAL;
    }
    return 0;
}

int fl_mux_create(fl_mux **out, const fl_mux_config *cfg)
{
    if (!out)
        return FL_EINVAL;
    *out = NULL;
    int r = check_config(cfg);
    if (r != 0)
        return r;
    fl_mux *m = calloc(1, sizeof(*m));
    if (!m)
        return FL_ENOMEM;
    m->format = cfg->format;
    m->ntracks = cfg->ntracks;
    for (size_t i = 0; i < FL_MUX_MAX_TRACKS; i++)
        m->last_pts[i] = -1;
    if (cfg->format == FL_MUX_MP4)
        r = fl__mp4_create(&m->impl, &m->ops, cfg);
    else
        r = fl__webm_create(&m->impl, &m->ops, cfg);
    if (r != 0) {
        free(m);
        return r;
    }
    *out = m;
    return 0;
}

static int frame_ok(const fl_mux *m, const fl_mux_frame *f)
{
    if (f->track >= m->ntracks || f->pts_us < 0 || f->pts_us < m->last_pts[f->track] || !f->data ||
        f->len == 0 || f->len > MAX_FRAME)
        return 0;
    if (!f->sps != !f->sps_len || !f->pps != !f->pps_len || f->sps_len > MAX_PARAM_SET ||
        f->pps_len > MAX_PARAM_SET)
        return 0;
    return 1;
}

int fl_mux_write(fl_mux *m, const fl_mux_frame *f)
{
    if (!m || !f)
        return FL_EINVAL;
    if (m->finished)
        return FL_ESTATE;
    m->frames++;
    if (!frame_ok(m, f)) {
        m->refused++;
        return FL_EINVAL;
    }
    m->last_pts[f->track] = f->pts_us;
    return m->ops->write(m->impl, f);
}

int fl_mux_finish(fl_mux *m)
{
    if (!m)
        return FL_EINVAL;
    if (m->finished)
        return FL_ESTATE;
    m->finished = 1;
    return m->ops->finish(m->impl);
}

void fl_mux_get_stats(const fl_mux *m, fl_mux_stats *out)
{
    m->ops->stats(m->impl, out);
    out->frames = m->frames;
    out->frames_dropped += m->refused;
}

void fl_mux_destroy(fl_mux *m)
{
    if (!m)
        return;
    m->ops->destroy(m->impl);
    free(m);
}
