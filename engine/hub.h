/* engine/hub.h: between the hubs' ports (engine/hub.c) and the mixing hubs
 * (engine/mix.c: Composite, AlphaBlending, Mixer). A hub element's impl is
 * an fl__hub, which keeps its ports; a mixing hub's also points to its
 * mixer, to which the ports hand what they take in and from which they
 * ask what they send out. Worker thread only. */
#ifndef FL_ENGINE_HUB_H
#define FL_ENGINE_HUB_H

#include "engine/engine_int.h"

typedef struct fl__hub fl__hub;
typedef struct fl__mix fl__mix;

/* ---- hub.c ---- */

/* A hub's port list for element e (a type with .hub = 1); mix: its mixer,
 * NULL for a routing hub. NULL when out of memory. */
fl__hub *fl__hub_create(fl_element *e, fl__mix *mix);
/* Its ports leave it (they stay, in no hub); the mixer hears each leave. */
void fl__hub_destroy(fl__hub *h);
fl__mix *fl__hub_mix(const fl__hub *h);
/* The port of this hub called `name`; NULL with inv->why said. */
fl_element *fl__hub_port_named(const fl__hub *h, const char *name, fl__invocation *inv);
/* The mixer's state of a port (what fl__mix_join gave); NULL for none. */
void *fl__hub_port_mix(const fl_element *port);

/* ---- mix.c, called by a port of a mixing hub ---- */

/* A port joins: the mixer's state of it, NULL when out of memory. */
void *fl__mix_join(fl__mix *m, fl_element *port);
void fl__mix_leave(fl__mix *m, void *mp);
/* A packet reaching one of the port's sink pads. Borrows buf. */
void fl__mix_input(fl__mix *m, void *mp, fl__pad *sink, fl_buf *buf);
/* What the port's source pads of `media` carry. */
const fl_sdp_codec *fl__mix_caps(fl__mix *m, void *mp, unsigned media);
/* Downstream of the port wants a key frame. */
void fl__mix_key_frame(fl__mix *m, void *mp, unsigned media);
/* The Sender Report of a stream the port sends: 0 or FL_ENOENT. */
int fl__mix_sender_report(fl__mix *m,
                          void *mp,
                          unsigned media,
                          uint32_t ssrc,
                          uint32_t *rtp_ts,
                          fl_time *sent);

/* One MIXER statistics entry: the mixer's figures (the hub's, and each of
 * its ports', since a Hub has no getStats in Kurento's API). */
void fl__mix_stats(fl__mix *m, fl__stats_out *out);

#endif
