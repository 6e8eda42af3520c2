/* I420 pictures: allocation and scaling. The only file that includes libyuv. */
#include <libyuv/convert.h>
#include <libyuv/scale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/coder.h"

#define ALIGN 32

static int align_up(int n)
{
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

int fl_picture_alloc(fl_picture *p, int width, int height)
{
    if (!p || width < 2 || width > 8192 || height < 2 || height > 8192)
        return FL_EINVAL;
    int cw = (width + 1) / 2, ch = (height + 1) / 2;
    int ys = align_up(width), cs = align_up(cw);
    size_t ysz = (size_t)ys * (size_t)height, csz = (size_t)cs * (size_t)ch;
    uint8_t *block = aligned_alloc(ALIGN, ysz + 2 * csz);
    if (!block)
        return FL_ENOMEM;
    p->plane[0] = block;
    p->plane[1] = block + ysz;
    p->plane[2] = block + ysz + csz;
    p->stride[0] = ys;
    p->stride[1] = cs;
    p->stride[2] = cs;
    p->width = width;
    p->height = height;
    return 0;
}

void fl_picture_free(fl_picture *p)
{
    if (!p)
        return;
    free(p->plane[0]);
    memset(p, 0, sizeof(*p));
}

static int picture_ok(const fl_picture *p)
{
    int cw = (p->width + 1) / 2;
    return p->plane[0] && p->plane[1] && p->plane[2] && p->width >= 2 && p->width <= 8192 &&
           p->height >= 2 && p->height <= 8192 && p->stride[0] >= p->width && p->stride[1] >= cw &&
           p->stride[2] >= cw;
}

int fl_picture_scale(const fl_picture *src, fl_picture *dst)
{
    if (!src || !dst || !picture_ok(src) || !picture_ok(dst))
        return FL_EINVAL;
    int r;
    if (src->width == dst->width && src->height == dst->height) {
        r = I420Copy(src->plane[0], src->stride[0], src->plane[1], src->stride[1], src->plane[2],
                     src->stride[2], dst->plane[0], dst->stride[0], dst->plane[1], dst->stride[1],
                     dst->plane[2], dst->stride[2], src->width, src->height);
    } else {
        int up = dst->width > src->width && dst->height > src->height;
        r = I420Scale(src->plane[0], src->stride[0], src->plane[1], src->stride[1], src->plane[2],
                      src->stride[2], src->width, src->height, dst->plane[0], dst->stride[0],
                      dst->plane[1], dst->stride[1], dst->plane[2], dst->stride[2], dst->width,
                      dst->height, up ? kFilterBilinear : kFilterBox);
    }
    return r == 0 ? 0 : FL_EINVAL;
}
