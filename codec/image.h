/* Still images for overlays: PNG and JPEG decoded into RGBA, scaled, and
 * drawn over an I420 picture (codec/coder.h's fl_picture) with their alpha.
 *
 * Sans-IO: the caller fetches the bytes (file, HTTP) and owns every image.
 * No function keeps state between calls; any thread may call them on
 * images it owns. */
#ifndef FL_CODEC_IMAGE_H
#define FL_CODEC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/coder.h"

typedef struct fl_image {
    int width, height;
    uint8_t *rgba; /* width * 4 bytes per row, straight (not premultiplied)
                    * alpha; JPEG: alpha 255 */
} fl_image;

/* The most pixels fl_image_decode accepts (64 MiB of RGBA). */
#define FL_IMAGE_MAX_PIXELS (4096 * 4096)
/* The largest side fl_image_scale makes. */
#define FL_IMAGE_MAX_SIDE 8192

/* Decodes a PNG or a JPEG held in memory (told apart by their signatures)
 * into out (its previous contents are ignored, not freed):
 * - PNG: any colour type and bit depth, palette with tRNS, grey, 16-bit
 *   (scaled to 8 bits, rounded), interlaced; no gamma or colour-profile
 *   correction (the stored values, as video overlays want them); ancillary
 *   chunks other than tRNS are skipped.
 * - JPEG: grey, YCbCr, RGB, CMYK and YCCK (Adobe's inverted CMYK when the
 *   Adobe marker says so), baseline or progressive; alpha 255.
 * Returns 0 with out->rgba allocated (fl_image_free); or FL_ENOTSUP
 * (neither format), FL_EBADMSG (corrupt or truncated), FL_EMSGSIZE (over
 * FL_IMAGE_MAX_PIXELS, checked from the header before the pixels are
 * allocated), FL_ENOMEM, FL_EINVAL (out NULL), with out zeroed. `why` (may
 * be NULL; why_cap bytes, always terminated) gets a phrase for the error,
 * "" on success: "not a PNG or JPEG image", "PNG: <libpng's message>",
 * "JPEG: <libjpeg's message>", "image is 20000x20000, over the 4096x4096
 * limit". */
int fl_image_decode(fl_image *out, const uint8_t *data, size_t len, char *why, size_t why_cap);

/* The same with another pixel limit (1..FL_IMAGE_MAX_PIXELS; anything else
 * means FL_IMAGE_MAX_PIXELS): a caller with less memory to spare, or a fuzz
 * target that must not spend its time on huge valid headers. */
int fl_image_decode_limit(fl_image *out,
                          const uint8_t *data,
                          size_t len,
                          size_t max_pixels,
                          char *why,
                          size_t why_cap);

/* Frees the pixels and zeroes the struct; a zeroed image is a no-op. */
void fl_image_free(fl_image *img);

/* src scaled to width x height into dst: bilinear when enlarging, a tent
 * filter as wide as the reduction when shrinking (no aliasing), both on
 * alpha-weighted colours (a transparent pixel's colour never bleeds into
 * its neighbours). dst may be src itself; whatever dst held is freed once
 * the new pixels are made, and kept on failure. 0, FL_EINVAL (a size < 1
 * or > FL_IMAGE_MAX_SIDE, src NULL or empty), FL_ENOMEM. */
int fl_image_scale(fl_image *dst, const fl_image *src, int width, int height);

/* Draws img over pic with its top-left corner at (x, y) in luma pixels (any
 * values: the part outside pic is clipped, nothing drawn when none is
 * inside), blending by alpha: out = (a*img + (255-a)*pic)/255 per
 * component, rounded, RGB converted to BT.601 limited-range YUV as the
 * video codecs' I420 is. Each chroma sample takes the 2x2 luma block it
 * covers: the alpha-weighted mean of the image's colours there, with the
 * block's mean alpha (an image pixel missing from the block counts as
 * transparent). No allocation; a NULL or empty pic or img draws nothing. */
void fl_picture_blend(fl_picture *pic, const fl_image *img, int x, int y);

#endif
