/* codec/qr.c: codec/qr.h over libzbar's image scanner. */
#include "codec/qr.h"

#include <stdlib.h>
#include <string.h>
#include <zbar.h>

#include "base/err.h"

/* The largest side accepted, as for face detection: far above any video. */
#define MAX_SIDE 8192

struct fl_code_scanner {
    zbar_image_scanner_t *scanner;
    zbar_image_t *image; /* its data points at the caller's plane or at copy */
    uint8_t *copy;       /* the plane made contiguous, when stride != width */
    size_t copy_cap;
};

int fl_code_scanner_create(fl_code_scanner **out)
{
    if (!out)
        return FL_EINVAL;
    *out = NULL;
    fl_code_scanner *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ENOMEM;
    s->scanner = zbar_image_scanner_create();
    if (!s->scanner)
        goto fail_scanner;
    s->image = zbar_image_create();
    if (!s->image)
        goto fail_image;
    /* every symbology, as a code scanning filter is expected to read bar
     * codes too: on a 640x480 picture, 10-14 ms a scan against 6-8 ms
     * with QR codes alone. The results are per picture (the caller tells
     * a new code from one seen in the last frames), and nothing leaves
     * the process (libzbar can publish results on D-Bus). */
    zbar_image_scanner_set_config(s->scanner, 0, ZBAR_CFG_ENABLE, 1);
    zbar_image_scanner_enable_cache(s->scanner, 0);
    zbar_image_scanner_request_dbus(s->scanner, 0);
    zbar_image_set_format(s->image, zbar_fourcc('Y', '8', '0', '0'));
    *out = s;
    return 0;

fail_image:
    zbar_image_scanner_destroy(s->scanner);
fail_scanner:
    free(s);
    return FL_ENOMEM;
}

void fl_code_scanner_destroy(fl_code_scanner *s)
{
    if (!s)
        return;
    zbar_image_scanner_recycle_image(s->scanner, s->image);
    zbar_image_destroy(s->image);
    zbar_image_scanner_destroy(s->scanner);
    free(s->copy);
    free(s);
}

/* The plane as zbar wants it (width bytes per row): the caller's when it
 * already is, else a copy in s's buffer. NULL: out of memory. */
static const uint8_t *contiguous(fl_code_scanner *s,
                                 const uint8_t *luma,
                                 int width,
                                 int height,
                                 int stride)
{
    if (stride == width)
        return luma;
    size_t need = (size_t)width * (size_t)height;
    if (need > s->copy_cap) {
        uint8_t *p = realloc(s->copy, need);
        if (!p)
            return NULL;
        s->copy = p;
        s->copy_cap = need;
    }
    for (int y = 0; y < height; y++)
        memcpy(s->copy + (size_t)y * (size_t)width, luma + (size_t)y * (size_t)stride,
               (size_t)width);
    return s->copy;
}

int fl_code_scan(fl_code_scanner *s,
                 const uint8_t *luma,
                 int width,
                 int height,
                 int stride,
                 fl_code_fn fn,
                 void *arg)
{
    if (!s || !luma || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE ||
        stride < width)
        return FL_EINVAL;
    const uint8_t *plane = contiguous(s, luma, width, height, stride);
    if (!plane)
        return FL_ENOMEM;
    /* the last scan's symbols go back to the scanner for reuse */
    zbar_image_scanner_recycle_image(s->scanner, s->image);
    zbar_image_set_size(s->image, (unsigned)width, (unsigned)height);
    zbar_image_set_data(s->image, plane, (unsigned long)width * (unsigned long)height, NULL);
    int rc = zbar_scan_image(s->scanner, s->image);
    int n = 0;
    if (rc > 0) {
        for (const zbar_symbol_t *sym = zbar_image_first_symbol(s->image); sym;
             sym = zbar_symbol_next(sym)) {
            if (fn)
                fn(arg, zbar_get_symbol_name(zbar_symbol_get_type(sym)),
                   (const uint8_t *)zbar_symbol_get_data(sym), zbar_symbol_get_data_length(sym));
            n++;
        }
    }
    /* the plane is the caller's: zbar keeps no pointer to it past here */
    zbar_image_set_data(s->image, NULL, 0, NULL);
    return rc < 0 ? FL_EIO : n;
}
