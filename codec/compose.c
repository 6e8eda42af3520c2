/* Layouts, fills and mixes of codec/compose.h. */
#include "codec/compose.h"

#include <math.h>

#include "base/err.h"

static int even_down(int v)
{
    return v & ~1;
}

void fl_grid_cell(int n, int i, int width, int height, fl_rect *out)
{
    if (n < 1 || i < 0 || i >= n) {
        *out = (fl_rect){ 0, 0, even_down(width), even_down(height) };
        return;
    }
    int cols = 1;
    while (cols * cols < n)
        cols++;
    int rows = (n + cols - 1) / cols;
    int c = i % cols, r = i / cols;
    int x0 = even_down(width * c / cols), x1 = even_down(width * (c + 1) / cols);
    int y0 = even_down(height * r / rows), y1 = even_down(height * (r + 1) / rows);
    *out = (fl_rect){ x0, y0, x1 - x0, y1 - y0 };
}

void fl_rect_fit(int src_w, int src_h, const fl_rect *box, fl_rect *out)
{
    int w = box->w, h = box->h;
    if (src_w > 0 && src_h > 0) {
        /* the side that limits: w / h against src_w / src_h */
        if ((int64_t)w * src_h > (int64_t)h * src_w)
            w = (int)((int64_t)h * src_w / src_h);
        else
            h = (int)((int64_t)w * src_h / src_w);
    }
    w = even_down(w) < 2 ? 2 : even_down(w);
    h = even_down(h) < 2 ? 2 : even_down(h);
    *out = (fl_rect){ box->x + even_down((box->w - w) / 2), box->y + even_down((box->h - h) / 2), w,
                      h };
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void fl_rect_relative(double x, double y, double w, double h, int width, int height, fl_rect *out)
{
    if (!(x == x) || !(y == y) || !(w == w) || !(h == h)) /* NaN */
        x = y = w = h = 0;
    int x0 = clampi((int)lround(x * width), 0, width);
    int y0 = clampi((int)lround(y * height), 0, height);
    int x1 = clampi((int)lround((x + w) * width), 0, width);
    int y1 = clampi((int)lround((y + h) * height), 0, height);
    x0 = even_down(x0);
    y0 = even_down(y0);
    int rw = even_down(x1 - x0 > 0 ? x1 - x0 : 0), rh = even_down(y1 - y0 > 0 ? y1 - y0 : 0);
    if (rw < 2 || rh < 2)
        rw = rh = 0;
    *out = (fl_rect){ x0, y0, rw, rh };
}

int fl_picture_view(const fl_picture *p, const fl_rect *r, fl_picture *out)
{
    if (!p || !r || (r->x | r->y) & 1 || r->x < 0 || r->y < 0 || r->w < 2 || r->h < 2 ||
        r->x + r->w > p->width || r->y + r->h > p->height)
        return FL_EINVAL;
    out->width = r->w;
    out->height = r->h;
    out->stride[0] = p->stride[0];
    out->stride[1] = p->stride[1];
    out->stride[2] = p->stride[2];
    out->plane[0] = p->plane[0] + (size_t)r->y * (size_t)p->stride[0] + (size_t)r->x;
    out->plane[1] = p->plane[1] + (size_t)(r->y / 2) * (size_t)p->stride[1] + (size_t)(r->x / 2);
    out->plane[2] = p->plane[2] + (size_t)(r->y / 2) * (size_t)p->stride[2] + (size_t)(r->x / 2);
    return 0;
}

static void fill_plane(uint8_t *plane, int stride, int x, int y, int w, int h, uint8_t v)
{
    for (int row = y; row < y + h; row++) {
        uint8_t *p = plane + (size_t)row * (size_t)stride + (size_t)x;
        for (int i = 0; i < w; i++)
            p[i] = v;
    }
}

void fl_picture_fill(fl_picture *p, const fl_rect *r, uint8_t y, uint8_t u, uint8_t v)
{
    int x0 = clampi(r->x, 0, p->width), y0 = clampi(r->y, 0, p->height);
    int x1 = clampi(r->x + r->w, 0, p->width), y1 = clampi(r->y + r->h, 0, p->height);
    if (x1 <= x0 || y1 <= y0)
        return;
    fill_plane(p->plane[0], p->stride[0], x0, y0, x1 - x0, y1 - y0, y);
    int cx0 = x0 / 2, cy0 = y0 / 2, cx1 = (x1 + 1) / 2, cy1 = (y1 + 1) / 2;
    fill_plane(p->plane[1], p->stride[1], cx0, cy0, cx1 - cx0, cy1 - cy0, u);
    fill_plane(p->plane[2], p->stride[2], cx0, cy0, cx1 - cx0, cy1 - cy0, v);
}

void fl_pcm_accumulate(int32_t *acc, const int16_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] += in[i];
}

void fl_pcm_mix_minus(const int32_t *acc, const int16_t *own, int16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t v = acc[i] - (own ? own[i] : 0);
        out[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
}
