/* Overlay images: PNG (libpng) and JPEG (libjpeg-turbo) decoded from memory
 * into RGBA, scaled, and blended over I420 pictures. The only file that
 * includes libpng or libjpeg.
 *
 * Both libraries report errors by calling back, and the callbacks longjmp
 * to the one setjmp in png_run and jpeg_run. Everything those functions
 * change after their setjmp lives in a context struct the caller owns
 * (never in their own locals), so it is intact after the jump and the
 * caller frees what was allocated. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* libjpeg's headers want <stddef.h> and <stdio.h> first */
#include <jpeglib.h>
/* after jpeglib.h: its message codes */
#include <jerror.h>
#include <png.h>

#include "base/err.h"
#include "codec/image.h"

/* Progressive JPEG: each scan is a pass over the whole image; real files
 * have about ten. */
#define JPEG_MAX_SCANS 100

static void set_why(char *why, size_t cap, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* FL_EMSGSIZE's phrase: the limit as a square when it is one. */
static int too_big(unsigned long w, unsigned long h, size_t max, char *why, size_t cap)
{
    size_t side = (size_t)sqrt((double)max);
    while (side * side > max)
        side--;
    while ((side + 1) * (side + 1) <= max)
        side++;
    if (side * side == max)
        set_why(why, cap, "image is %lux%lu, over the %zux%zu limit", w, h, side, side);
    else
        set_why(why, cap, "image is %lux%lu, over the %zu-pixel limit", w, h, max);
    return FL_EMSGSIZE;
}

static int over_limit(unsigned long w, unsigned long h, size_t max)
{
    return (uint64_t)w * (uint64_t)h > (uint64_t)max;
}

/* ---- PNG ---- */

static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

struct png_ctx {
    const uint8_t *data;
    size_t len, at;
    size_t max;
    png_structp png;
    png_infop info;
    uint8_t *rgba;
    png_bytep *rows;
    int width, height;
    int err;
    char msg[160];
};

static void png_on_error(png_structp png, png_const_charp text)
{
    struct png_ctx *c = png_get_error_ptr(png);
    if (!c->err)
        c->err = FL_EBADMSG;
    if (!c->msg[0])
        snprintf(c->msg, sizeof(c->msg), "PNG: %s", text ? text : "error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text)
{
    (void)png;
    (void)text;
}

static void png_on_read(png_structp png, png_bytep out, size_t n)
{
    struct png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->at)
        png_error(png, "file truncated");
    memcpy(out, c->data + c->at, n);
    c->at += n;
}

/* The transforms that make any colour type and depth 8-bit RGBA. */
static void png_to_rgba(png_structp png, png_infop info)
{
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (trns)
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !trns)
        png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* Runs libpng over c->data; on any error returns with c->err set and
 * whatever was allocated still in c. */
static void png_run(struct png_ctx *c)
{
    if (setjmp(png_jmpbuf(c->png)))
        return;
    png_set_read_fn(c->png, c, png_on_read);
    /* decode only what draws: IHDR, PLTE, tRNS, IDAT, IEND */
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    /* the pixel limit below is the one that counts */
    png_set_user_limits(c->png, 0x7fffffff, 0x7fffffff);
    png_read_info(c->png, c->info);
    png_uint_32 w = png_get_image_width(c->png, c->info);
    png_uint_32 h = png_get_image_height(c->png, c->info);
    if (over_limit(w, h, c->max)) {
        c->err = too_big(w, h, c->max, c->msg, sizeof(c->msg));
        return;
    }
    png_to_rgba(c->png, c->info);
    if (png_get_rowbytes(c->png, c->info) != (size_t)w * 4)
        png_error(c->png, "unexpected row size after conversion to RGBA");
    c->width = (int)w;
    c->height = (int)h;
    c->rgba = malloc((size_t)w * h * 4);
    c->rows = malloc(sizeof(*c->rows) * h);
    if (!c->rgba || !c->rows) {
        c->err = FL_ENOMEM;
        snprintf(c->msg, sizeof(c->msg), "out of memory for a %ux%u image", w, h);
        return;
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = c->rgba + (size_t)y * w * 4;
    png_read_image(c->png, c->rows);
}

/* The size in the IHDR that must follow the signature, read before libpng
 * runs: 1 when it is there and over the limit. */
static int png_header_too_big(const uint8_t *d, size_t len, size_t max, uint32_t *w, uint32_t *h)
{
    if (len < 24 || memcmp(d + 12, "IHDR", 4) != 0)
        return 0;
    *w = (uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 | (uint32_t)d[18] << 8 | d[19];
    *h = (uint32_t)d[20] << 24 | (uint32_t)d[21] << 16 | (uint32_t)d[22] << 8 | d[23];
    return over_limit(*w, *h, max);
}

static int png_decode(fl_image *out,
                      const uint8_t *data,
                      size_t len,
                      size_t max,
                      char *why,
                      size_t cap)
{
    uint32_t hw, hh;
    if (png_header_too_big(data, len, max, &hw, &hh))
        return too_big(hw, hh, max, why, cap);
    struct png_ctx c = { .data = data, .len = len, .max = max };
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning);
    if (!c.png || !(c.info = png_create_info_struct(c.png))) {
        png_destroy_read_struct(c.png ? &c.png : NULL, NULL, NULL);
        set_why(why, cap, "out of memory for the PNG decoder");
        return FL_ENOMEM;
    }
    png_run(&c);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    if (c.err) {
        free(c.rgba);
        set_why(why, cap, "%s", c.msg);
        return c.err;
    }
    out->width = c.width;
    out->height = c.height;
    out->rgba = c.rgba;
    return 0;
}

/* ---- JPEG ---- */

struct jpeg_ctx {
    struct jpeg_decompress_struct dec;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    const uint8_t *data;
    size_t len;
    size_t max;
    uint8_t *rgba;
    uint8_t *row; /* one CMYK row */
    int width, height;
    int err;
    char msg[JMSG_LENGTH_MAX + 8];
};

static struct jpeg_ctx *jpeg_ctx_of(j_common_ptr cinfo)
{
    /* dec and jerr are members of one jpeg_ctx; the error manager is how
     * every callback gets back to it */
    return (struct jpeg_ctx *)(void *)((char *)cinfo->err - offsetof(struct jpeg_ctx, jerr));
}

static void jpeg_fail(j_common_ptr cinfo)
{
    struct jpeg_ctx *c = jpeg_ctx_of(cinfo);
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    c->err = FL_EBADMSG;
    snprintf(c->msg, sizeof(c->msg), "JPEG: %s", text);
    longjmp(c->jb, 1);
}

/* libjpeg warns and fills the rest with grey where a file ends early: for
 * an overlay that is an error like any other. Other warnings (stray bytes
 * before a marker) leave a usable picture and pass. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpeg_fail(cinfo);
}

static void jpeg_on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        struct jpeg_ctx *c = jpeg_ctx_of(cinfo);
        c->err = FL_EBADMSG;
        snprintf(c->msg, sizeof(c->msg), "JPEG: more than %d scans", JPEG_MAX_SCANS);
        longjmp(c->jb, 1);
    }
}

/* CMYK as libjpeg gives it to RGBA; Adobe's files store it inverted. */
static void cmyk_to_rgba(const uint8_t *in, uint8_t *out, int w, int inverted)
{
    for (int i = 0; i < w; i++, in += 4, out += 4) {
        unsigned k = inverted ? in[3] : 255u - in[3];
        for (int j = 0; j < 3; j++) {
            unsigned v = inverted ? in[j] : 255u - in[j];
            out[j] = (uint8_t)((v * k + 127) / 255);
        }
        out[3] = 255;
    }
}

static void jpeg_run(struct jpeg_ctx *c)
{
    if (setjmp(c->jb))
        return;
    jpeg_create_decompress(&c->dec);
    c->dec.progress = &c->progress;
    jpeg_mem_src(&c->dec, c->data, (unsigned long)c->len);
    jpeg_read_header(&c->dec, TRUE);
    JDIMENSION w = c->dec.image_width, h = c->dec.image_height;
    if (over_limit(w, h, c->max)) {
        c->err = too_big(w, h, c->max, c->msg, sizeof(c->msg));
        return;
    }
    int cmyk = c->dec.jpeg_color_space == JCS_CMYK || c->dec.jpeg_color_space == JCS_YCCK;
    c->dec.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGBA;
    jpeg_start_decompress(&c->dec);
    if (c->dec.output_width != w || c->dec.output_height != h || c->dec.output_components != 4) {
        c->err = FL_EBADMSG;
        snprintf(c->msg, sizeof(c->msg), "JPEG: unexpected output format");
        return;
    }
    c->width = (int)w;
    c->height = (int)h;
    c->rgba = malloc((size_t)w * h * 4);
    c->row = cmyk ? malloc((size_t)w * 4) : NULL;
    if (!c->rgba || (cmyk && !c->row)) {
        c->err = FL_ENOMEM;
        snprintf(c->msg, sizeof(c->msg), "out of memory for a %ux%u image", w, h);
        return;
    }
    while (c->dec.output_scanline < h) {
        uint8_t *dst = c->rgba + (size_t)c->dec.output_scanline * w * 4;
        JSAMPROW row = cmyk ? c->row : dst;
        if (jpeg_read_scanlines(&c->dec, &row, 1) != 1) {
            c->err = FL_EBADMSG;
            snprintf(c->msg, sizeof(c->msg), "JPEG: no scanline");
            return;
        }
        if (cmyk)
            cmyk_to_rgba(c->row, dst, (int)w, c->dec.saw_Adobe_marker);
    }
    /* what follows the last scanline (markers, EOI) is not needed */
}

static int jpeg_decode(fl_image *out,
                       const uint8_t *data,
                       size_t len,
                       size_t max,
                       char *why,
                       size_t cap)
{
    struct jpeg_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        set_why(why, cap, "out of memory for the JPEG decoder");
        return FL_ENOMEM;
    }
    c->data = data;
    c->len = len;
    c->max = max;
    c->dec.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_fail;
    c->jerr.emit_message = jpeg_on_message;
    c->progress.progress_monitor = jpeg_on_progress;
    jpeg_run(c);
    jpeg_destroy_decompress(&c->dec);
    free(c->row);
    int err = c->err;
    if (err) {
        free(c->rgba);
        set_why(why, cap, "%s", c->msg);
    } else {
        out->width = c->width;
        out->height = c->height;
        out->rgba = c->rgba;
    }
    free(c);
    return err;
}

/* ---- decode ---- */

int fl_image_decode_limit(fl_image *out,
                          const uint8_t *data,
                          size_t len,
                          size_t max_pixels,
                          char *why,
                          size_t why_cap)
{
    set_why(why, why_cap, "%s", "");
    if (!out) {
        set_why(why, why_cap, "no image to decode into");
        return FL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (max_pixels < 1 || max_pixels > FL_IMAGE_MAX_PIXELS)
        max_pixels = FL_IMAGE_MAX_PIXELS;
    if (data && len >= sizeof(png_sig) && memcmp(data, png_sig, sizeof(png_sig)) == 0)
        return png_decode(out, data, len, max_pixels, why, why_cap);
    if (data && len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return jpeg_decode(out, data, len, max_pixels, why, why_cap);
    set_why(why, why_cap, "not a PNG or JPEG image");
    return FL_ENOTSUP;
}

int fl_image_decode(fl_image *out, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
    return fl_image_decode_limit(out, data, len, FL_IMAGE_MAX_PIXELS, why, why_cap);
}

void fl_image_free(fl_image *img)
{
    if (!img)
        return;
    free(img->rgba);
    memset(img, 0, sizeof(*img));
}

/* ---- scale ---- */

/* One axis of a resampling: output i reads `count[i]` inputs from
 * `first[i]` with weights w[i * span ...] that sum to 1. A tent filter: as
 * wide as one input pixel when enlarging (bilinear), as wide as the
 * reduction when shrinking (each input counts). */
struct taps {
    int *first, *count;
    float *w;
    int span;
};

static void taps_free(struct taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

static int taps_make(struct taps *t, int in, int out)
{
    double s = (double)in / out, r = s > 1 ? s : 1;
    t->span = (int)ceil(2 * r) + 2;
    t->first = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->w = malloc(sizeof(float) * (size_t)out * (size_t)t->span);
    if (!t->first || !t->count || !t->w)
        return FL_ENOMEM;
    for (int o = 0; o < out; o++) {
        double center = (o + 0.5) * s - 0.5;
        int lo = (int)ceil(center - r), hi = (int)floor(center + r);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in - 1 ? in - 1 : hi;
        if (lo > hi) /* cannot happen for a centre inside the input */
            lo = hi = center < 0 ? 0 : in - 1;
        float *w = t->w + (size_t)o * (size_t)t->span;
        double sum = 0;
        for (int i = lo; i <= hi; i++) {
            double d = 1 - fabs(i - center) / r;
            w[i - lo] = (float)(d > 0 ? d : 0);
            sum += w[i - lo];
        }
        for (int i = lo; i <= hi; i++)
            w[i - lo] = sum > 0 ? (float)(w[i - lo] / sum) : 1.0f / (float)(hi - lo + 1);
        t->first[o] = lo;
        t->count[o] = hi - lo + 1;
    }
    return 0;
}

static uint8_t to_byte(float v)
{
    long n = lrintf(v);
    return (uint8_t)(n < 0 ? 0 : n > 255 ? 255 : n);
}

/* Output row oy: the input rows it reads summed into acc (per input column:
 * alpha-weighted R, G, B and alpha), then the columns resampled. */
static void scale_row(const fl_image *src,
                      const struct taps *tx,
                      const struct taps *ty,
                      int oy,
                      float *acc,
                      uint8_t *out,
                      int width)
{
    memset(acc, 0, sizeof(float) * 4 * (size_t)src->width);
    const float *wy = ty->w + (size_t)oy * (size_t)ty->span;
    for (int k = 0; k < ty->count[oy]; k++) {
        const uint8_t *p = src->rgba + (size_t)(ty->first[oy] + k) * (size_t)src->width * 4;
        float wk = wy[k];
        for (int x = 0; x < src->width; x++, p += 4) {
            if (p[3] == 0)
                continue;
            float wa = wk * p[3];
            float *a = acc + (size_t)x * 4;
            a[0] += wa * p[0];
            a[1] += wa * p[1];
            a[2] += wa * p[2];
            a[3] += wa;
        }
    }
    for (int ox = 0; ox < width; ox++, out += 4) {
        const float *wx = tx->w + (size_t)ox * (size_t)tx->span;
        const float *a = acc + (size_t)tx->first[ox] * 4;
        float r = 0, g = 0, b = 0, al = 0;
        for (int k = 0; k < tx->count[ox]; k++, a += 4) {
            r += wx[k] * a[0];
            g += wx[k] * a[1];
            b += wx[k] * a[2];
            al += wx[k] * a[3];
        }
        if (al < 0.5f) { /* rounds to transparent */
            memset(out, 0, 4);
            continue;
        }
        out[0] = to_byte(r / al);
        out[1] = to_byte(g / al);
        out[2] = to_byte(b / al);
        out[3] = to_byte(al);
    }
}

int fl_image_scale(fl_image *dst, const fl_image *src, int width, int height)
{
    if (!dst || !src || !src->rgba || src->width < 1 || src->height < 1 || width < 1 ||
        height < 1 || width > FL_IMAGE_MAX_SIDE || height > FL_IMAGE_MAX_SIDE)
        return FL_EINVAL;
    struct taps tx = { 0 }, ty = { 0 };
    float *acc = malloc(sizeof(float) * 4 * (size_t)src->width);
    uint8_t *pixels = malloc((size_t)width * (size_t)height * 4);
    int err = FL_ENOMEM;
    if (!acc || !pixels || taps_make(&tx, src->width, width) != 0 ||
        taps_make(&ty, src->height, height) != 0)
        goto out_free;
    for (int oy = 0; oy < height; oy++)
        scale_row(src, &tx, &ty, oy, acc, pixels + (size_t)oy * (size_t)width * 4, width);
    /* src may be dst: replaced only now */
    free(dst->rgba);
    dst->rgba = pixels;
    dst->width = width;
    dst->height = height;
    pixels = NULL;
    err = 0;
out_free:
    free(pixels);
    free(acc);
    taps_free(&tx);
    taps_free(&ty);
    return err;
}

/* ---- blend ---- */

/* BT.601 limited range, 8-bit fixed point (Y 16..235, U/V 16..240). */
static int rgb_y(const uint8_t *p)
{
    return 16 + ((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8);
}

static uint8_t mix(int a, int v, int old)
{
    return (uint8_t)((a * v + (255 - a) * old + 127) / 255);
}

struct clip {
    int x0, x1, y0, y1; /* the drawn part, in picture coordinates */
    int x, y;           /* the image's corner */
};

static void blend_luma(fl_picture *pic, const fl_image *img, const struct clip *c)
{
    for (int py = c->y0; py < c->y1; py++) {
        const uint8_t *s =
                img->rgba + ((size_t)(py - c->y) * (size_t)img->width + (size_t)(c->x0 - c->x)) * 4;
        uint8_t *d = pic->plane[0] + (size_t)py * (size_t)pic->stride[0];
        for (int px = c->x0; px < c->x1; px++, s += 4) {
            int a = s[3];
            if (a == 255)
                d[px] = (uint8_t)rgb_y(s);
            else if (a)
                d[px] = mix(a, rgb_y(s), d[px]);
        }
    }
}

/* The alpha-weighted sums of a 2x2 block's image pixels. */
struct sums {
    int a, r, g, b;
};

static void sums_add(struct sums *s, const uint8_t *p)
{
    s->a += p[3];
    s->r += p[3] * p[0];
    s->g += p[3] * p[1];
    s->b += p[3] * p[2];
}

/* out = (sum of a*C + (255n - sum a) * old) / 255n for C the pixels' U or
 * V, n the block's pixels inside the picture; all times 256. Inlined with
 * n = 4, the division is by a constant. */
static inline uint8_t mix_chroma(const struct sums *s, const int k[3], int n, int old)
{
    int num = 32768 * s->a + k[0] * s->r + k[1] * s->g + k[2] * s->b + 256 * (255 * n - s->a) * old;
    int den = 65280 * n;
    int v = (num + den / 2) / den;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static const int k_u[3] = { -38, -74, 112 }, k_v[3] = { 112, -94, -18 };

/* A block cut by the picture's or the image's edge: its pixels inside both. */
static void chroma_edge(fl_picture *pic, const fl_image *img, const struct clip *c, int cx, int cy)
{
    int rows = 2 * cy + 1 < pic->height ? 2 : 1, cols = 2 * cx + 1 < pic->width ? 2 : 1;
    struct sums s = { 0, 0, 0, 0 };
    for (int py = 2 * cy; py < 2 * cy + rows; py++)
        for (int px = 2 * cx; px < 2 * cx + cols; px++)
            if (py >= c->y0 && py < c->y1 && px >= c->x0 && px < c->x1)
                sums_add(&s, img->rgba + ((size_t)(py - c->y) * (size_t)img->width +
                                          (size_t)(px - c->x)) *
                                                 4);
    if (s.a == 0)
        return;
    uint8_t *u = pic->plane[1] + (size_t)cy * (size_t)pic->stride[1] + cx;
    uint8_t *v = pic->plane[2] + (size_t)cy * (size_t)pic->stride[2] + cx;
    *u = mix_chroma(&s, k_u, rows * cols, *u);
    *v = mix_chroma(&s, k_v, rows * cols, *v);
}

static void blend_chroma(fl_picture *pic, const fl_image *img, const struct clip *c)
{
    int cx0 = c->x0 / 2, cx1 = (c->x1 - 1) / 2; /* inclusive */
    /* the blocks whose four pixels are all drawn: [ix0, ix1) */
    int ix0 = (c->x0 + 1) / 2, ix1 = c->x1 / 2;
    for (int cy = c->y0 / 2; cy <= (c->y1 - 1) / 2; cy++) {
        if (2 * cy < c->y0 || 2 * cy + 2 > c->y1 || ix0 >= ix1) {
            for (int cx = cx0; cx <= cx1; cx++)
                chroma_edge(pic, img, c, cx, cy);
            continue;
        }
        for (int cx = cx0; cx < ix0; cx++)
            chroma_edge(pic, img, c, cx, cy);
        uint8_t *u = pic->plane[1] + (size_t)cy * (size_t)pic->stride[1];
        uint8_t *v = pic->plane[2] + (size_t)cy * (size_t)pic->stride[2];
        const uint8_t *p0 =
                img->rgba +
                ((size_t)(2 * cy - c->y) * (size_t)img->width + (size_t)(2 * ix0 - c->x)) * 4;
        const uint8_t *p1 = p0 + (size_t)img->width * 4;
        for (int cx = ix0; cx < ix1; cx++, p0 += 8, p1 += 8) {
            struct sums s = { 0, 0, 0, 0 };
            sums_add(&s, p0);
            sums_add(&s, p0 + 4);
            sums_add(&s, p1);
            sums_add(&s, p1 + 4);
            if (s.a == 0)
                continue;
            u[cx] = mix_chroma(&s, k_u, 4, u[cx]);
            v[cx] = mix_chroma(&s, k_v, 4, v[cx]);
        }
        for (int cx = ix1; cx <= cx1; cx++)
            chroma_edge(pic, img, c, cx, cy);
    }
}

void fl_picture_blend(fl_picture *pic, const fl_image *img, int x, int y)
{
    if (!pic || !img || !img->rgba || img->width < 1 || img->height < 1 || !pic->plane[0] ||
        !pic->plane[1] || !pic->plane[2] || pic->width < 1 || pic->height < 1)
        return;
    /* 64-bit: x + width may overflow an int */
    int64_t x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int64_t x1 = (int64_t)x + img->width, y1 = (int64_t)y + img->height;
    x1 = x1 > pic->width ? pic->width : x1;
    y1 = y1 > pic->height ? pic->height : y1;
    if (x0 >= x1 || y0 >= y1)
        return;
    struct clip c = { (int)x0, (int)x1, (int)y0, (int)y1, x, y };
    blend_luma(pic, img, &c);
    blend_chroma(pic, img, &c);
}
