/* Hubs: Dispatcher and DispatcherOneToMany, and the HubPort elements every
 * hub is connected through (the mixing hubs, Composite, AlphaBlending and
 * Mixer, are engine/mix.c's: a port of one hands what it takes in to the
 * mixer, and sends out what the mixer makes for it). Pure routing, no decode: what reaches a port's
 * sink pads goes out of the source pads of the ports it is routed to, by
 * reference, as it came. A viewer's egress rewrite turns a change of source
 * into one continuous stream; a switch asks the new source for a key frame
 * at once, and holds its video back until one starts (frames on top of the
 * old source's would not decode).
 *
 * A port joins its hub through its property "hub" (the hub element's name,
 * on the same worker: neither type spreads). Each port has at most one
 * port feeding it ("feed"): a Dispatcher's connect(a, b) makes a feed b,
 * a DispatcherOneToMany's setSource(s) makes s feed every other port (and
 * the ports that join later), removeSource feeds none. Everything a port
 * is asked from downstream (key frames, caps, Sender Reports) goes to its
 * feed's upstream; the bitrate its input can take is the least of what the
 * ports it feeds can send. Worker thread only. */
#include "engine/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/codec.h"
#include "engine/engine_int.h"

typedef struct fl__hub hub;

typedef struct port {
    hub *hub;          /* NULL: not (or no longer) in a hub */
    fl_list node;      /* in hub->ports */
    struct port *feed; /* the port whose input it sends out; NULL: none */
    int await_key;     /* its feed changed: video waits for a key frame's start */
    fl_element *e;
    int visiting; /* a hook walks through it: a cycle of ports ends here */
    void *mixp;   /* a mixing hub's own state of the port */
} port;

struct fl__hub {
    fl_element *e;
    fl_list ports; /* port.node */
    port *source;  /* DispatcherOneToMany's; NULL: none */
    int one_to_many;
    fl__mix *mix; /* a mixing hub (engine/mix.c): what the ports take in goes there */
};

enum {
    HUB_CONNECT,
    HUB_SET_SOURCE,
    HUB_REMOVE_SOURCE
};

static const fl__method dispatcher_methods[] = {
    { "connect", HUB_CONNECT, 2, 2 },
    { NULL, 0, 0, 0 },
};

static const fl__method one_to_many_methods[] = {
    { "setSource", HUB_SET_SOURCE, 1, 1 },
    { "removeSource", HUB_REMOVE_SOURCE, 0, 0 },
    { NULL, 0, 0, 0 },
};

extern const fl__element_type fl__dispatcher_type;
extern const fl__element_type fl__dispatcher_one_to_many_type;
extern const fl__element_type fl__hub_port_type;

/* ---- routing ---- */

/* The port's own sink pad of this media, "default" (NULL: none). */
static fl__pad *port_sink(const port *p, unsigned media)
{
    int i = fl__media_index(media);
    fl__pad *src = i >= 0 ? p->e->defaults[i] : NULL;
    return src ? src->twin : NULL;
}

/* Feeds `to` from `from` (NULL: nothing): what is downstream of it looks
 * at its caps again; its video waits for a key frame of the new source
 * (the caller asks for one). */
static void port_feed(port *to, port *from)
{
    if (to->feed == from)
        return;
    to->feed = from;
    to->await_key = from != NULL;
    fl__worker_caps_changed(to->e->worker);
}

static void ask_key_frame(port *p)
{
    if (p->visiting)
        return;
    p->visiting = 1;
    fl__pad_request_key_frame(port_sink(p, FL_MEDIA_VIDEO), 1);
    p->visiting = 0;
}

/* Whether q, just fed from a new source, still holds back this video
 * packet: until a key frame starts, what it would send could not be
 * decoded on top of the old source's frames. A codec with no key frames
 * to find (unknown caps, not RTP) is not held. */
static int held_back(port *q, fl__pad *sink, fl_buf *buf)
{
    if (!q->await_key || sink->media != FL_MEDIA_VIDEO)
        return 0;
    const fl_sdp_codec *caps = fl__pad_caps(sink);
    fl_codec_kind kind = caps ? fl_codec_kind_of(caps->name) : FL_CODEC_OTHER;
    if (buf->rtp.parsed && fl_codec_kind_is_video(kind) &&
        !fl_codec_key_frame_start(kind, fl_buf_data(buf) + buf->rtp.payload_off,
                                  buf->rtp.payload_len))
        return 1;
    q->await_key = 0;
    return 0;
}

static void port_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    port *p = e->impl;
    int i = fl__media_index(sink->media);
    if (p->hub && p->hub->mix) {
        fl__mix_input(p->hub->mix, p->mixp, sink, buf);
    } else if (p->hub && i >= 0) {
        fl_list_foreach (it, &p->hub->ports) {
            port *q = fl_container_of(it, port, node);
            if (q->feed == p && q->e->defaults[i] && !held_back(q, sink, buf))
                fl__pad_push(q->e->defaults[i], buf);
        }
    }
    fl_buf_unref(buf);
}

static void port_end(fl_element *e, fl__pad *sink)
{
    port *p = e->impl;
    int i = fl__media_index(sink->media);
    if (!p->hub || p->hub->mix || i < 0)
        return;
    fl_list_foreach (it, &p->hub->ports) {
        port *q = fl_container_of(it, port, node);
        if (q->feed == p && q->e->defaults[i])
            fl__pad_push_end(q->e->defaults[i]);
    }
}

static void port_key_frame(fl_element *e, unsigned media, int join)
{
    port *p = e->impl;
    if (p->hub && p->hub->mix) {
        fl__mix_key_frame(p->hub->mix, p->mixp, media);
        return;
    }
    if (!p->feed || p->visiting)
        return;
    p->visiting = 1;
    fl__pad_request_key_frame(port_sink(p->feed, media), join);
    p->visiting = 0;
}

static const fl_sdp_codec *port_caps(fl_element *e, unsigned media)
{
    port *p = e->impl;
    if (p->hub && p->hub->mix)
        return fl__mix_caps(p->hub->mix, p->mixp, media);
    if (!p->feed || p->visiting)
        return NULL;
    p->visiting = 1;
    const fl_sdp_codec *caps = fl__pad_caps(port_sink(p->feed, media));
    p->visiting = 0;
    return caps;
}

static int port_sender_report(fl_element *e,
                              unsigned media,
                              uint32_t ssrc,
                              uint32_t *rtp_ts,
                              fl_time *sent)
{
    port *p = e->impl;
    if (p->hub && p->hub->mix)
        return fl__mix_sender_report(p->hub->mix, p->mixp, media, ssrc, rtp_ts, sent);
    if (!p->feed || p->visiting)
        return FL_ENOENT;
    p->visiting = 1;
    int rc = fl__pad_sender_report(port_sink(p->feed, media), ssrc, rtp_ts, sent);
    p->visiting = 0;
    return rc;
}

/* What the ports it feeds can send on, the least of them. */
static uint64_t port_bitrate(fl_element *e, unsigned media)
{
    port *p = e->impl;
    int i = fl__media_index(media);
    if (!p->hub || p->hub->mix || p->visiting || i < 0)
        return 0;
    p->visiting = 1;
    uint64_t least = 0;
    fl_list_foreach (it, &p->hub->ports) {
        port *q = fl_container_of(it, port, node);
        uint64_t b = q->feed == p ? fl__pad_downstream_bitrate(q->e->defaults[i]) : 0;
        if (b && (!least || b < least))
            least = b;
    }
    p->visiting = 0;
    return least;
}

/* ---- ports joining and leaving ---- */

static int port_init(fl_element *e)
{
    port *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ENOMEM;
    p->e = e;
    e->impl = p;
    return 0;
}

static void port_leave(port *p)
{
    hub *h = p->hub;
    if (!h)
        return;
    fl_list_remove(&p->node);
    p->hub = NULL;
    if (h->mix)
        fl__mix_leave(h->mix, p->mixp);
    p->mixp = NULL;
    port_feed(p, NULL);
    if (h->source == p)
        h->source = NULL;
    fl_list_foreach (it, &h->ports) {
        port *q = fl_container_of(it, port, node);
        if (q->feed == p)
            port_feed(q, NULL);
    }
}

static void port_fini(fl_element *e)
{
    port *p = e->impl;
    if (!p)
        return;
    port_leave(p);
    free(p);
    e->impl = NULL;
}

static int is_hub(const fl_element *e)
{
    return e->type->hub;
}

/* The hub named `name` beside the port (same pipeline, same worker). */
static fl_element *hub_find(fl_element *port_e, const char *name)
{
    fl__shard *s = fl__shard_of(port_e->pipeline, port_e->worker);
    fl_list_foreach (it, &s->elements) {
        fl_element *x = fl_container_of(it, fl_element, node);
        if (!x->dead && is_hub(x) && strcmp(x->name, name) == 0)
            return x;
    }
    return NULL;
}

static int port_set_property(fl_element *e, const char *name, const char *value)
{
    port *p = e->impl;
    if (strcmp(name, "hub") != 0)
        return FL_ENOTSUP;
    if (p->hub)
        return FL_ESTATE; /* a port belongs to one hub for its life */
    fl_element *he = hub_find(e, value);
    if (!he)
        return FL_EINVAL;
    hub *h = he->impl;
    if (h->mix && !(p->mixp = fl__mix_join(h->mix, e)))
        return FL_ENOMEM;
    p->hub = h;
    fl_list_push_back(&h->ports, &p->node);
    if (h->one_to_many && h->source) {
        port_feed(p, h->source);
        ask_key_frame(h->source);
    }
    return 0;
}

static int port_get_property(fl_element *e, const char *name, char *out, size_t cap)
{
    port *p = e->impl;
    if (strcmp(name, "hub") != 0)
        return FL_ENOTSUP;
    snprintf(out, cap, "%s", p->hub ? p->hub->e->name : "");
    return 0;
}

/* A port of a mixing hub reports the mixer's figures. */
static void port_stats(fl_element *e, unsigned media, fl__stats_out *out)
{
    (void)media;
    port *p = e->impl;
    if (p->hub && p->hub->mix)
        fl__mix_stats(p->hub->mix, out);
    else
        fl__stats_add(out, FL_STATS_ELEMENT);
}

/* A port's hub (dotted) and its feed (dashed, "routed"). */
static void port_dot(const fl_element *e,
                     void (*out)(void *arg, const char *fmt, ...)
                             __attribute__((format(printf, 2, 3))),
                     void *arg)
{
    const port *p = e->impl;
    const fl_element *he = p && p->hub ? p->hub->e : NULL;
    if (he)
        out(arg, "  e%llu -> e%llu [style=dotted, arrowhead=none];\n", (unsigned long long)he->id,
            (unsigned long long)e->id);
    if (p && p->feed)
        out(arg, "  e%llu -> e%llu [style=dashed, label=\"routed\"];\n",
            (unsigned long long)p->feed->e->id, (unsigned long long)e->id);
}

const fl__element_type fl__hub_port_type = {
    .name = FL_ELEMENT_HUB_PORT,
    .receive = port_receive,
    .init = port_init,
    .fini = port_fini,
    .key_frame = port_key_frame,
    .caps = port_caps,
    .set_property = port_set_property,
    .get_property = port_get_property,
    .bitrate = port_bitrate,
    .sender_report = port_sender_report,
    .end_of_stream = port_end,
    .dot = port_dot,
    .stats = port_stats,
};

/* ---- hubs ---- */

fl__hub *fl__hub_create(fl_element *e, fl__mix *mix)
{
    hub *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    fl_list_init(&h->ports);
    h->e = e;
    h->one_to_many = e->type == &fl__dispatcher_one_to_many_type;
    h->mix = mix;
    return h;
}

fl__mix *fl__hub_mix(const fl__hub *h)
{
    return h->mix;
}

void fl__hub_destroy(fl__hub *h)
{
    if (!h)
        return;
    while (!fl_list_empty(&h->ports)) {
        port *p = fl_container_of(fl_list_pop_front(&h->ports), port, node);
        p->hub = NULL;
        if (h->mix)
            fl__mix_leave(h->mix, p->mixp);
        p->mixp = NULL;
        port_feed(p, NULL);
    }
    free(h);
}

static int hub_init(fl_element *e)
{
    return (e->impl = fl__hub_create(e, NULL)) ? 0 : FL_ENOMEM;
}

/* Its ports stay, routing nothing. */
static void hub_fini(fl_element *e)
{
    fl__hub_destroy(e->impl);
    e->impl = NULL;
}

/* A hub's pads take nothing: media reaches it through its ports. */
static void hub_receive(fl_element *e, fl__pad *sink, fl_buf *buf)
{
    (void)e;
    (void)sink;
    fl_buf_unref(buf);
}

static port *hub_port(const hub *h, const char *name, fl__invocation *inv)
{
    fl_list_foreach (it, &h->ports) {
        port *q = fl_container_of(it, port, node);
        if (strcmp(q->e->name, name) == 0)
            return q;
    }
    snprintf(inv->why, sizeof(inv->why), "'%.200s' is not a port of this hub", name);
    return NULL;
}

fl_element *fl__hub_port_named(const fl__hub *h, const char *name, fl__invocation *inv)
{
    port *p = hub_port(h, name, inv);
    return p ? p->e : NULL;
}

void *fl__hub_port_mix(const fl_element *port_e)
{
    const port *p = port_e->type == &fl__hub_port_type ? port_e->impl : NULL;
    return p ? p->mixp : NULL;
}

static int hub_invoke(fl_element *e, fl__invocation *inv)
{
    hub *h = e->impl;
    port *a = NULL, *b = NULL;
    switch (inv->method->id) {
    case HUB_CONNECT:
        if (!(a = hub_port(h, inv->args[0], inv)) || !(b = hub_port(h, inv->args[1], inv)))
            return FL_EINVAL;
        port_feed(b, a);
        ask_key_frame(a);
        return 0;
    case HUB_SET_SOURCE:
        if (!(a = hub_port(h, inv->args[0], inv)))
            return FL_EINVAL;
        h->source = a;
        fl_list_foreach (it, &h->ports) {
            port *q = fl_container_of(it, port, node);
            port_feed(q, q == a ? NULL : a);
        }
        ask_key_frame(a);
        return 0;
    case HUB_REMOVE_SOURCE:
        h->source = NULL;
        fl_list_foreach (it, &h->ports)
            port_feed(fl_container_of(it, port, node), NULL);
        return 0;
    default:
        return FL_ENOTSUP;
    }
}

const fl__element_type fl__dispatcher_type = {
    .name = FL_ELEMENT_DISPATCHER,
    .receive = hub_receive,
    .init = hub_init,
    .fini = hub_fini,
    .methods = dispatcher_methods,
    .invoke = hub_invoke,
    .hub = 1,
};

const fl__element_type fl__dispatcher_one_to_many_type = {
    .name = FL_ELEMENT_DISPATCHER_ONE_TO_MANY,
    .receive = hub_receive,
    .init = hub_init,
    .fini = hub_fini,
    .methods = one_to_many_methods,
    .invoke = hub_invoke,
    .hub = 1,
};
