/* The layer choice for one viewer of a simulcast publisher, sans-IO: which
 * spatial layer (and, for VP8 with temporal layers, which temporal layer)
 * its egress forwards, from the layers' observed bitrates, the viewer's
 * bandwidth estimate (REMB or transport-cc) and its endpoint's cap
 * (maxVideoSendBandwidth).
 *
 *     fl_layers_init(&ly, NULL);                     // the defaults below
 *     fl_layers_on_packet(&ly, spatial, now);        // per packet received
 *     fl_layers_set_bitrate(&ly, s, t, bps);         // per measure (a second)
 *     fl_layers_set_estimate(&ly, remb_bps);         // per estimate
 *     if (fl_layers_update(&ly, now, &choice))       // on any of these, and at
 *         ... switch (PLI on the target's SSRC)      // fl_layers_poll_timeout
 *
 * The rules:
 * - A layer is available when it had a packet within `idle` (a publisher
 *   may pause a layer) and has a measured bitrate. Spatial layers are
 *   numbered from the lowest (0); a layer's bitrate per temporal layer is
 *   that layer's alone (TID t), a choice of TID t costs TID 0..t together.
 * - The budget is min(estimate, cap) times `headroom` percent. The target
 *   is the highest available spatial layer whose full rate fits it, with
 *   all its temporal layers; when none fits, the lowest available layer
 *   with the most temporal layers that fit `floor` percent of the budget,
 *   TL0 at least (frames dropped are worse than a lowest layer a little
 *   over an estimate that is still finding its feet). With no estimate
 *   yet, the lowest available layer with all its temporal layers; or with
 *   `start_high`, as if the estimate were the cap (no cap: the highest).
 * - A receiver's estimate follows what it receives (about as much, more
 *   while it probes; once its link is full, some 85% of what gets
 *   through, so under 1/1.15 of the layer's rate), so the current choice
 *   is kept while its rate is within `keep` percent of the estimate and
 *   within the cap, even when it no longer fits the budget: going down on
 *   an estimate that merely follows would never end. Only a whole layer
 *   (or the lowest) is kept so: a higher layer thinned of temporal layers
 *   gives way to the lower one whole.
 * - Down (a lower spatial layer, or fewer temporal layers) at once, to
 *   the highest whole layer that would be kept (rather than the one that
 *   fits the budget: the estimate may lag, or the cap alone be the cause),
 *   else the target. Up only
 *   once every target of the last `hold` was above the current one, and
 *   then to the lowest of those (if its layer went idle meanwhile, the best
 *   at or below it); a target at or below the current one starts the wait
 *   over, and so does a move up (the next one is `hold` later at least).
 *   So an estimate flapping faster than `hold` never moves the choice up
 *   and down.
 * - The current layer gone (idle): at once to the best available at or
 *   below it, or the lowest above it when there is none.
 *
 * No allocation, no clock: time is a parameter. One owner (a loop). */
#ifndef FL_NET_LAYERS_H
#define FL_NET_LAYERS_H

#include <stdint.h>

#include "base/time.h"

#define FL_LAYERS_SPATIAL  4 /* simulcast encodings at most */
#define FL_LAYERS_TEMPORAL 4 /* TID 0..3 (VP8) */

typedef struct fl_layers_config {
    fl_time hold;      /* up moves wait this long (0: 5 s) */
    fl_time idle;      /* a layer with no packet this long is gone (0: 1 s) */
    unsigned headroom; /* percent of the budget a choice may take (0: 90) */
    unsigned keep;     /* percent of the estimate the current choice may take (0: 115) */
    int start_high;    /* no estimate yet: the best within the cap (0: the lowest) */
    unsigned floor;    /* percent of the budget the lowest layer's TIDs may take (0: 200) */
} fl_layers_config;

/* A choice: spatial and temporal layer, -1 both when nothing is available. */
typedef struct fl_layer_choice {
    int spatial;
    int temporal;
} fl_layer_choice;

typedef struct fl_layers_layer {
    uint32_t bps[FL_LAYERS_TEMPORAL]; /* per TID, that TID alone; 0 none */
    fl_time last;                     /* its last packet */
    uint8_t seen;                     /* had a packet */
} fl_layers_layer;

typedef struct fl_layers {
    fl_layers_config cfg;
    fl_layers_layer layer[FL_LAYERS_SPATIAL];
    uint64_t estimate; /* bit/s, 0: none yet */
    uint64_t cap;      /* bit/s, 0: none */
    fl_layer_choice cur;
    /* an up move waiting: since when, and the lowest target since */
    uint8_t up_pending;
    fl_time up_since;
    fl_layer_choice up_min;
    uint64_t ups, downs; /* moves made */
} fl_layers;

/* No layer known, no choice; cfg NULL or its zero fields: the defaults. */
void fl_layers_init(fl_layers *ly, const fl_layers_config *cfg);

/* A packet of a spatial layer arrived (out of range: ignored). */
void fl_layers_on_packet(fl_layers *ly, int spatial, fl_time now);

/* The bitrate measured for one temporal layer of a spatial layer, that
 * TID alone (a layer without temporal layers: TID 0). Returns 0, or
 * FL_EINVAL for a layer out of range. */
int fl_layers_set_bitrate(fl_layers *ly, int spatial, int temporal, uint32_t bps);

/* The viewer's bandwidth estimate (bit/s, 0: none yet). */
void fl_layers_set_estimate(fl_layers *ly, uint64_t bps);

/* The endpoint's maxVideoSendBandwidth (bit/s, 0: none). */
void fl_layers_set_cap(fl_layers *ly, uint64_t bps);

/* Decides at `now` (times never go back). Returns 1 when the choice
 * changed (*out the new one), 0 when not (*out the current one). */
int fl_layers_update(fl_layers *ly, fl_time now, fl_layer_choice *out);

/* When fl_layers_update should run again without new input: an up move
 * due, or the current layer going idle; FL_TIME_NEVER when there is no
 * choice and nothing pending. Meaningful after fl_layers_update. */
fl_time fl_layers_poll_timeout(const fl_layers *ly);

#endif
