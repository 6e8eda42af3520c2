/* The embedder's own ends of a graph: fluo.AppSource (media pushed in with
 * fl_element_push) and fluo.AppSink (media handed out through
 * fl_element_set_media_cb). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/engine_int.h"
#include "engine/transcode.h"
#include "net/rtp.h"

/* The formats an app element was given (property "audioCaps" or
 * "videoCaps": "[PT ]NAME/RATE[/CHANNELS][;fmtp]"): an AppSource's is what
 * it pushes, an AppSink's what it takes (anything else reaching it is
 * transcoded to it). */
typedef struct app {
    fl_sdp_codec caps[2];
    int has[2];
    uint64_t gen[2]; /* the worker's graph_gen when its sink last decided */
    const fl__pad *decided[2];
} app;

static app *app_of(fl_element *e)
{
    if (!e->impl)
        e->impl = calloc(1, sizeof(app));
    return e->impl;
}

static void app_fini(fl_element *e)
{
    free(e->impl);
    e->impl = NULL;
}

/* "[PT ]NAME/RATE[/CHANNELS][;fmtp]": the payload type (96 when absent),
 * then a codec as configuration writes it. */
static int parse_caps(const char *v, fl_sdp_codec *c)
{
    long pt = 96;
    if (*v >= '0' && *v <= '9') {
        char *end;
        pt = strtol(v, &end, 10);
        if (*end != ' ' || pt > 127)
            return FL_EINVAL;
        v = end + 1;
    }
    int rc = fl_sdp_codec_parse(v, c);
    c->pt = (uint8_t)pt;
    return rc;
}

static int app_set_property(fl_element *e, const char *name, const char *value)
{
    int i = strcmp(name, "videoCaps") == 0 ? 1 : strcmp(name, "audioCaps") == 0 ? 0 : -1;
    if (i < 0)
        return FL_ENOTSUP;
    app *a = app_of(e);
    if (!a)
        return FL_ENOMEM;
    if (!*value) {
        a->has[i] = 0;
    } else {
        int rc = parse_caps(value, &a->caps[i]);
        if (rc < 0)
            return rc;
        a->has[i] = 1;
    }
    fl__worker_caps_changed(e->worker);
    return 0;
}

static const fl_sdp_codec *app_caps(fl_element *e, unsigned media)
{
    app *a = e->impl;
    int i = media == FL_MEDIA_VIDEO;
    return a && a->has[i] ? &a->caps[i] : NULL;
}

/* Media reaching an AppSource is dropped. */
static void app_source_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    (void)sink;
    fl_buf_unref(buf);
}

/* An AppSink given a format takes it through a transcoder when the source's
 * differs (or a format was set on it with caps): decided once per change
 * of the graph. 0 for the packet that made it change its route (to, from
 * or between transcoders): it came the old way. */
static int app_sink_fits(fl_element *e, fl__pad *sink)
{
    app *a = e->impl;
    int i = sink->media == FL_MEDIA_VIDEO;
    if (!a || !a->has[i]) {
        if (!sink->xc)
            return 1;
        fl__xcode_detach(sink); /* its format was cleared: the source's own from now on */
        return 0;
    }
    if (a->gen[i] == e->worker->graph_gen && a->decided[i] == sink)
        return 1;
    fl__xcode *before = sink->xc;
    const fl_sdp_codec *in = fl__pad_caps(sink);
    if (in &&
        (!fl_sdp_codec_match(in, &a->caps[i]) || fl__element_format_forced(e, sink->media, in))) {
        fl__xcode_spec spec;
        fl__xcode_spec_for(e, sink->media, &a->caps[i], &spec);
        if (!fl__xcode_possible(in, &a->caps[i]) || fl__xcode_attach(sink, &spec) < 0)
            fl__xcode_detach(sink);
    } else {
        fl__xcode_detach(sink);
    }
    a->gen[i] = e->worker->graph_gen;
    a->decided[i] = sink;
    return sink->xc == before; /* a packet of the old route: dropped */
}

static void app_sink_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    if (app_sink_fits(e, sink) && e->media_cb)
        e->media_cb(e->media_arg, sink->media, buf);
    fl_buf_unref(buf);
}

const fl__element_type fl__app_source_type = {
    .name = FL_ELEMENT_APP_SOURCE,
    .receive = app_source_receive,
    .fini = app_fini,
    .caps = app_caps,
    .set_property = app_set_property,
};

static void app_sink_reroute(fl_element *e, fl__pad *sink)
{
    app_sink_fits(e, sink);
}

const fl__element_type fl__app_sink_type = {
    .name = FL_ELEMENT_APP_SINK,
    .spreads = 1,
    .receive = app_sink_receive,
    .reroute = app_sink_reroute,
    .fini = app_fini,
    .set_property = app_set_property,
};

static void element_push_run(fl__call *c)
{
    fl_buf *buf = NULL;
    int rc = 0;
    if (c->element->dead) {
        rc = FL_ECLOSED;
    } else if (!(buf = fl_buf_pool_get(c->worker->pool))) {
        rc = FL_ENOMEM;
    } else {
        if (c->len)
            memcpy(fl_buf_data(buf), c->data, c->len);
        fl_buf_set_len(buf, c->len);
        fl_rtp_buf_parse(buf); /* the header travels with the buffer (not RTP: none) */
        fl__pad_push(c->element->defaults[fl__media_index(c->media)], buf);
        fl_buf_unref(buf);
    }
    fl__call_done(c, rc);
}

int fl_element_push(fl_element *e,
                    unsigned media,
                    const uint8_t *data,
                    size_t len,
                    fl_done_fn done,
                    void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (e->type != &fl__app_source_type)
        return FL_ENOTSUP;
    if ((!data && len) || fl__media_index(media) < 0)
        return FL_EINVAL;
    if (len > FL_ENGINE_PACKET_MAX)
        return FL_EMSGSIZE;
    fl__call *c;
    if ((rc = fl__element_call(e, element_push_run, data, len, &c)) < 0)
        return rc;
    c->media = media;
    c->cb.done = done;
    c->arg = arg;
    return fl__call_submit(c, FL__REPLY_DONE);
}

static void element_media_cb_run(fl__call *c)
{
    if (c->element->dead)
        return;
    c->element->media_cb = c->cb.media;
    c->element->media_arg = c->arg;
}

int fl_element_set_media_cb(fl_element *e, fl_media_fn cb, void *arg)
{
    int rc = fl__element_usable(e);
    if (rc < 0)
        return rc;
    if (e->type != &fl__app_sink_type)
        return FL_ENOTSUP;
    fl__call *c;
    if ((rc = fl__element_call(e, element_media_cb_run, NULL, 0, &c)) < 0)
        return rc;
    c->cb.media = cb;
    c->arg = arg;
    return fl__call_post(c);
}
