/* The embedder's own ends of a graph: fluo.AppSource (media pushed in with
 * fl_element_push) and fluo.AppSink (media handed out through
 * fl_element_set_media_cb). */
#include <string.h>

#include "base/err.h"
#include "engine/engine_int.h"
#include "net/rtp.h"

/* Media reaching an AppSource is dropped. */
static void app_source_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    (void)sink;
    fl_buf_unref(buf);
}

static void app_sink_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    if (e->media_cb)
        e->media_cb(e->media_arg, sink->media, buf);
    fl_buf_unref(buf);
}

const fl__element_type fl__app_source_type = {
    .name = FL_ELEMENT_APP_SOURCE,
    .receive = app_source_receive,
};

const fl__element_type fl__app_sink_type = {
    .name = FL_ELEMENT_APP_SINK,
    .receive = app_sink_receive,
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
