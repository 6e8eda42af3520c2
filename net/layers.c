/* The layer choice for one viewer of a simulcast publisher (see layers.h). */
#include "net/layers.h"

#include <string.h>

#include "base/err.h"

#define HOLD_DEFAULT     (5 * FL_TIME_SEC)
#define IDLE_DEFAULT     FL_TIME_SEC
#define HEADROOM_DEFAULT 90u
#define KEEP_DEFAULT     115u
#define FLOOR_DEFAULT    200u

static const fl_layer_choice NONE = { -1, -1 };

void fl_layers_init(fl_layers *ly, const fl_layers_config *cfg)
{
    memset(ly, 0, sizeof(*ly));
    if (cfg)
        ly->cfg = *cfg;
    if (ly->cfg.hold <= 0)
        ly->cfg.hold = HOLD_DEFAULT;
    if (ly->cfg.idle <= 0)
        ly->cfg.idle = IDLE_DEFAULT;
    if (ly->cfg.headroom == 0)
        ly->cfg.headroom = HEADROOM_DEFAULT;
    if (ly->cfg.keep == 0)
        ly->cfg.keep = KEEP_DEFAULT;
    if (ly->cfg.floor == 0)
        ly->cfg.floor = FLOOR_DEFAULT;
    ly->cur = NONE;
}

void fl_layers_on_packet(fl_layers *ly, int spatial, fl_time now)
{
    if (spatial < 0 || spatial >= FL_LAYERS_SPATIAL)
        return;
    ly->layer[spatial].last = now;
    ly->layer[spatial].seen = 1;
}

int fl_layers_set_bitrate(fl_layers *ly, int spatial, int temporal, uint32_t bps)
{
    if (spatial < 0 || spatial >= FL_LAYERS_SPATIAL || temporal < 0 ||
        temporal >= FL_LAYERS_TEMPORAL)
        return FL_EINVAL;
    ly->layer[spatial].bps[temporal] = bps;
    return 0;
}

void fl_layers_set_estimate(fl_layers *ly, uint64_t bps)
{
    ly->estimate = bps;
}

void fl_layers_set_cap(fl_layers *ly, uint64_t bps)
{
    ly->cap = bps;
}

/* The highest TID measured; -1 when none. */
static int top(const fl_layers_layer *l)
{
    for (int t = FL_LAYERS_TEMPORAL - 1; t >= 0; t--)
        if (l->bps[t])
            return t;
    return -1;
}

/* TID 0..t together. */
static uint64_t cost(const fl_layers_layer *l, int t)
{
    uint64_t sum = 0;
    for (int i = 0; i <= t; i++)
        sum += l->bps[i];
    return sum;
}

static int available(const fl_layers *ly, int s, fl_time now)
{
    const fl_layers_layer *l = &ly->layer[s];
    return l->seen && now - l->last < ly->cfg.idle && top(l) >= 0;
}

static uint64_t budget(const fl_layers *ly)
{
    uint64_t b = ly->estimate;
    if (!b && ly->cfg.start_high) /* nothing known yet: the cap alone */
        b = ly->cap ? ly->cap : UINT64_MAX / 100;
    if (ly->cap && ly->cap < b)
        b = ly->cap;
    return b / 100 * ly->cfg.headroom + b % 100 * ly->cfg.headroom / 100;
}

/* Whether the current choice still holds: its rate within `keep` percent
 * of the estimate and within the cap (a cap is not an estimate: a key
 * frame may take a layer near it over its 90% for a second). Only a whole
 * layer, or the lowest: a higher layer thinned of its temporal layers is
 * never kept over the lower one whole. */
static int keeps(const fl_layers *ly, fl_time now)
{
    int s = ly->cur.spatial;
    uint64_t est = ly->estimate, c = cost(&ly->layer[s], ly->cur.temporal);
    if (ly->cur.temporal < top(&ly->layer[s])) {
        for (int l = 0; l < s; l++)
            if (available(ly, l, now))
                return 0;
    }
    if (!est || c > est / 100 * ly->cfg.keep + est % 100 * ly->cfg.keep / 100)
        return 0;
    return !ly->cap || c <= ly->cap;
}

/* Going down from the current choice to `want`: the highest whole layer
 * between them whose rate is within `keep` percent of the estimate and
 * within the cap (the one a move down is for may be far below what holds:
 * the estimate may merely lag, or the cap alone be the cause), else want. */
static fl_layer_choice keep_below(const fl_layers *ly, fl_time now, fl_layer_choice want)
{
    uint64_t est = ly->estimate;
    uint64_t lim = est / 100 * ly->cfg.keep + est % 100 * ly->cfg.keep / 100;
    if (!est && ly->cfg.start_high)
        lim = UINT64_MAX; /* nothing known yet: the cap alone */
    if (ly->cap && ly->cap < lim)
        lim = ly->cap;
    for (int s = ly->cur.spatial - 1; s > want.spatial; s--) {
        const fl_layers_layer *l = &ly->layer[s];
        int t = top(l);
        if (available(ly, s, now) && t >= 0 && cost(l, t) <= lim)
            return (fl_layer_choice){ s, t };
    }
    return want;
}

/* The target among the layers at or below max_s (the lowest available
 * above it when none is), NONE when nothing is available. */
static fl_layer_choice target(const fl_layers *ly, fl_time now, int max_s)
{
    int lowest = -1, above = -1;
    fl_layer_choice best = NONE;
    uint64_t b = budget(ly);
    int judge = ly->estimate || ly->cfg.start_high; /* b means something */
    for (int s = 0; s < FL_LAYERS_SPATIAL; s++) {
        if (!available(ly, s, now))
            continue;
        if (s > max_s) {
            if (above < 0)
                above = s;
            continue;
        }
        if (lowest < 0)
            lowest = s;
        int t = top(&ly->layer[s]);
        if (judge && cost(&ly->layer[s], t) <= b)
            best = (fl_layer_choice){ s, t };
    }
    if (best.spatial >= 0)
        return best;
    if (lowest < 0)
        lowest = above;
    if (lowest < 0)
        return NONE;
    const fl_layers_layer *l = &ly->layer[lowest];
    int t = top(l);
    uint64_t fb = b > UINT64_MAX / ly->cfg.floor ? UINT64_MAX : b * ly->cfg.floor / 100;
    if (judge)
        while (t > 0 && cost(l, t) > fb)
            t--;
    return (fl_layer_choice){ lowest, t };
}

/* <0, 0, >0: a below, equal to, above b (spatial first). */
static int compare(fl_layer_choice a, fl_layer_choice b)
{
    if (a.spatial != b.spatial)
        return a.spatial < b.spatial ? -1 : 1;
    return a.temporal < b.temporal ? -1 : a.temporal > b.temporal;
}

static int move(fl_layers *ly, fl_layer_choice to, fl_layer_choice *out)
{
    int changed = compare(to, ly->cur) != 0;
    if (changed && ly->cur.spatial >= 0 && to.spatial >= 0) {
        if (compare(to, ly->cur) < 0)
            ly->downs++;
        else
            ly->ups++;
    }
    ly->cur = to;
    *out = to;
    return changed;
}

int fl_layers_update(fl_layers *ly, fl_time now, fl_layer_choice *out)
{
    fl_layer_choice want = target(ly, now, FL_LAYERS_SPATIAL - 1);
    if (want.spatial < 0 || ly->cur.spatial < 0 || !available(ly, ly->cur.spatial, now)) {
        ly->up_pending = 0;
        if (want.spatial >= 0 && ly->cur.spatial >= 0)
            want = target(ly, now, ly->cur.spatial);
        return move(ly, want, out);
    }
    /* the current layer has fewer temporal layers now */
    int clamped = 0;
    int t = top(&ly->layer[ly->cur.spatial]);
    if (ly->cur.temporal > t) {
        ly->cur.temporal = t;
        clamped = 1;
    }
    int c = compare(want, ly->cur);
    if (c < 0 && keeps(ly, now))
        c = 0; /* an estimate that follows what arrives: no cause to go down */
    if (c < 0) /* down: no further than the highest whole layer that would be kept */
        want = keep_below(ly, now, want);
    if (c <= 0) {
        ly->up_pending = 0;
        return move(ly, c < 0 ? want : ly->cur, out) || clamped;
    }
    if (!ly->up_pending) {
        ly->up_pending = 1;
        ly->up_since = now;
        ly->up_min = want;
    } else if (compare(want, ly->up_min) < 0) {
        ly->up_min = want;
    }
    if (now - ly->up_since < ly->cfg.hold) {
        *out = ly->cur;
        return clamped;
    }
    fl_layer_choice to = ly->up_min;
    /* the layer waited for went idle meanwhile: the best at or below it */
    if (!available(ly, to.spatial, now) || to.temporal > top(&ly->layer[to.spatial]))
        to = target(ly, now, to.spatial);
    int changed = compare(to, ly->cur) > 0 && move(ly, to, out);
    /* still more allowed: the next wait starts now */
    ly->up_pending = compare(want, ly->cur) > 0;
    ly->up_since = now;
    ly->up_min = want;
    *out = ly->cur;
    return changed || clamped;
}

fl_time fl_layers_poll_timeout(const fl_layers *ly)
{
    fl_time next = FL_TIME_NEVER;
    if (ly->up_pending)
        next = ly->up_since + ly->cfg.hold;
    if (ly->cur.spatial >= 0) {
        fl_time gone = ly->layer[ly->cur.spatial].last + ly->cfg.idle;
        if (gone < next)
            next = gone;
    }
    return next;
}
