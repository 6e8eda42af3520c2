/* codec/compose.h: what a mixing hub does with raw media between decode
 * and encode: pictures laid out on a canvas (a grid, or placed and
 * stacked), and audio summed with one input taken out again (mix-minus).
 * Sans-IO, no allocation: the caller owns every buffer.
 *
 * Pictures are I420 (codec/coder.h); rectangles are in luma pixels and
 * kept even (the chroma planes are half size), so a rectangle maps onto
 * whole chroma samples. */
#ifndef FL_CODEC_COMPOSE_H
#define FL_CODEC_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/coder.h"

typedef struct fl_rect {
    int x, y, w, h;
} fl_rect;

/* The grid for n inputs: cols = ceil(sqrt(n)), rows = ceil(n / cols) (1:
 * 1x1, 2: 2x1, 3-4: 2x2, 5-6: 3x2, 7-9: 3x3, ...). Cell i (0 <= i < n)
 * of a width x height canvas, row by row, even-aligned; the cells of a row
 * or column share the canvas's pixels without gap. n < 1 or i out of
 * range: the whole canvas. */
void fl_grid_cell(int n, int i, int width, int height, fl_rect *out);

/* The largest rectangle of aspect src_w:src_h inside `box`, centred,
 * even-aligned, at least 2x2. */
void fl_rect_fit(int src_w, int src_h, const fl_rect *box, fl_rect *out);

/* A rectangle of relative position and size (0..1 of the canvas), clipped
 * to the canvas and even-aligned; w or h 0 when nothing is left. */
void fl_rect_relative(double x, double y, double w, double h, int width, int height, fl_rect *out);

/* A view of rectangle r of p (r even-aligned, inside p): its planes point
 * into p's, so scaling into the view draws into p. 0, FL_EINVAL. */
int fl_picture_view(const fl_picture *p, const fl_rect *r, fl_picture *out);

/* Fills rectangle r of p (clipped to p) with one colour. */
void fl_picture_fill(fl_picture *p, const fl_rect *r, uint8_t y, uint8_t u, uint8_t v);

/* Black in I420 (video range). */
#define FL_BLACK_Y  16
#define FL_BLACK_UV 128

/* ---- audio ---- */

/* acc[i] += in[i] for n samples (the mix of every input, kept wide). */
void fl_pcm_accumulate(int32_t *acc, const int16_t *in, size_t n);

/* out[i] = acc[i] - own[i] (own NULL: nothing taken out), saturated to
 * 16 bits: the mix an input hears without itself. */
void fl_pcm_mix_minus(const int32_t *acc, const int16_t *own, int16_t *out, size_t n);

#endif
