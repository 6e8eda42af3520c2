/* codec/image.h: PNGs and JPEGs written here with libpng's and libjpeg's
 * encoders decode to the pixels written (RGBA with a transparent half,
 * palette with tRNS, 16-bit grey, interlaced grey+alpha; JPEG YCbCr, grey,
 * progressive, Adobe CMYK); truncated, corrupt and oversized files give
 * their codes and phrases; scaling keeps a colour, interpolates and never
 * lets a transparent pixel's colour in; blending writes the BT.601 colour
 * by alpha inside the picture only, clipped at every edge; and every file
 * of tests/fuzz/corpus/image replays. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* libjpeg's headers want <stddef.h> and <stdio.h> first */
#include <jpeglib.h>
#include <png.h>

#include "base/err.h"
#include "codec/image.h"

#include <cmocka.h>

/* ---- writing test files ---- */

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

static void membuf_put(membuf *m, const void *p, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->data = realloc(m->data, m->cap);
        assert_non_null(m->data);
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

static void on_png_write(png_structp png, png_bytep p, size_t n)
{
    membuf_put(png_get_io_ptr(png), p, n);
}

static void on_png_flush(png_structp png)
{
    (void)png;
}

typedef struct png_spec {
    int width, height, color_type, bit_depth, interlace;
    const uint8_t *pixels; /* rows as PNG stores them, packed */
    const png_color *palette;
    int n_palette;
    const uint8_t *trans; /* palette alphas */
    int n_trans;
    const png_color_16 *key; /* grey or RGB: the transparent colour */
} png_spec;

static size_t png_row_bytes(const png_spec *s)
{
    static const int channels[7] = { 1, 0, 3, 1, 2, 0, 4 };
    return ((size_t)s->width * (size_t)channels[s->color_type] * (size_t)s->bit_depth + 7) / 8;
}

/* The file, in m (free m->data). */
static void png_write_mem(const png_spec *s, membuf *m)
{
    memset(m, 0, sizeof(*m));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    png_bytep *rows = malloc(sizeof(*rows) * (size_t)s->height);
    assert_non_null(rows);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not write the test image");
    png_set_write_fn(png, m, on_png_write, on_png_flush);
    png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->bit_depth,
                 s->color_type, s->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trans || s->key)
        png_set_tRNS(png, info, s->trans, s->n_trans, s->key);
    png_write_info(png, info);
    if (s->bit_depth == 16)
        png_set_swap(png); /* the test's samples are host-order uint16_t */
    for (int y = 0; y < s->height; y++)
        rows[y] = (png_bytep)s->pixels + (size_t)y * png_row_bytes(s);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
}

/* A JPEG of w x h pixels of `comps` components in colour space cs. */
static void jpeg_write_mem(int w,
                           int h,
                           int comps,
                           J_COLOR_SPACE cs,
                           const uint8_t *pixels,
                           int progressive,
                           membuf *m)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long out_len = 0;
    jpeg_mem_dest(&c, &out, &out_len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)c.next_scanline * (size_t)w * (size_t)comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    m->data = out;
    m->len = m->cap = out_len;
}

/* RGB blocks: the left half red, the right half blue, a green bottom row
 * of 8x8 blocks (block-aligned, so JPEG keeps them close). */
static void rgb_blocks(uint8_t *p, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++, p += 3) {
            int green = y >= h - 8, red = !green && x < w / 2;
            p[0] = red ? 255 : 0;
            p[1] = green ? 255 : 0;
            p[2] = !green && !red ? 255 : 0;
        }
}

static void assert_px(const fl_image *img, int x, int y, int r, int g, int b, int a, int tol)
{
    const uint8_t *p = img->rgba + ((size_t)y * (size_t)img->width + (size_t)x) * 4;
    if (abs(p[0] - r) > tol || abs(p[1] - g) > tol || abs(p[2] - b) > tol || abs(p[3] - a) > tol)
        fail_msg("pixel (%d,%d) is %d,%d,%d,%d, not %d,%d,%d,%d (+-%d)", x, y, p[0], p[1], p[2],
                 p[3], r, g, b, a, tol);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The IHDR's size set to w x h, its CRC made right again. */
static void png_patch_size(uint8_t *file, uint32_t w, uint32_t h)
{
    put32(file + 16, w);
    put32(file + 20, h);
    put32(file + 29, crc32_of(file + 12, 17));
}

/* ---- PNG ---- */

static void png_rgba_transparent_half(void **state)
{
    (void)state;

    enum {
        W = 16,
        H = 8
    };

    uint8_t px[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = px + (y * W + x) * 4;
            int left = x < W / 2;
            p[0] = left ? (uint8_t)(x * 16) : 50;
            p[1] = left ? (uint8_t)(y * 32) : 60;
            p[2] = 200;
            p[3] = left ? 255 : 0;
        }
    png_spec s = { .width = W,
                   .height = H,
                   .color_type = PNG_COLOR_TYPE_RGB_ALPHA,
                   .bit_depth = 8,
                   .pixels = px };
    membuf m;
    png_write_mem(&s, &m);
    fl_image img;
    char why[128] = "untouched";
    assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    /* straight alpha: the transparent half's colour is kept as written */
    assert_memory_equal(img.rgba, px, sizeof(px));
    fl_image_free(&img);
    assert_null(img.rgba);
    assert_int_equal(img.width, 0);
    fl_image_free(&img); /* a zeroed image: no-op */
    free(m.data);
}

static void png_palette_trns(void **state)
{
    (void)state;
    static const png_color pal[4] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 9, 99, 199 } };
    static const uint8_t trans[2] = { 0, 128 }; /* entries 2 and 3: opaque */
    for (int depth = 2; depth <= 8; depth += 6) {
        enum {
            W = 8,
            H = 4
        };

        uint8_t px[W * H] = { 0 };
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int idx = (x + y) % 4;
                if (depth == 8)
                    px[y * W + x] = (uint8_t)idx;
                else /* 2 bits a pixel, the first in the high bits */
                    px[y * (W / 4) + x / 4] |= (uint8_t)(idx << (6 - 2 * (x % 4)));
            }
        png_spec s = { .width = W,
                       .height = H,
                       .color_type = PNG_COLOR_TYPE_PALETTE,
                       .bit_depth = depth,
                       .pixels = px,
                       .palette = pal,
                       .n_palette = 4,
                       .trans = trans,
                       .n_trans = 2 };
        membuf m;
        png_write_mem(&s, &m);
        fl_image img;
        assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
        assert_int_equal(img.width, W);
        assert_int_equal(img.height, H);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int idx = (x + y) % 4;
                assert_px(&img, x, y, pal[idx].red, pal[idx].green, pal[idx].blue,
                          idx < 2 ? trans[idx] : 255, 0);
            }
        fl_image_free(&img);
        free(m.data);
    }
}

/* tRNS without a palette: one colour (grey or RGB) is transparent */
static void png_colour_key(void **state)
{
    (void)state;

    enum {
        W = 6,
        H = 3
    };

    uint8_t rgb[W * H * 3], grey[W * H];
    for (int i = 0; i < W * H; i++) {
        int key = i % 3 == 0;
        rgb[i * 3] = key ? 10 : 200;
        rgb[i * 3 + 1] = key ? 20 : (uint8_t)i;
        rgb[i * 3 + 2] = 30;
        grey[i] = key ? 77 : (uint8_t)(100 + i);
    }
    png_color_16 rgb_key = { 0, 10, 20, 30, 0 }, grey_key = { 0, 0, 0, 0, 77 };
    png_spec specs[2] = {
        { .width = W,
          .height = H,
          .color_type = PNG_COLOR_TYPE_RGB,
          .bit_depth = 8,
          .pixels = rgb,
          .key = &rgb_key },
        { .width = W,
          .height = H,
          .color_type = PNG_COLOR_TYPE_GRAY,
          .bit_depth = 8,
          .pixels = grey,
          .key = &grey_key },
    };
    for (int k = 0; k < 2; k++) {
        membuf m;
        png_write_mem(&specs[k], &m);
        fl_image img;
        assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
        for (int i = 0; i < W * H; i++) {
            int a = i % 3 == 0 ? 0 : 255;
            if (k == 0)
                assert_px(&img, i % W, i / W, rgb[i * 3], rgb[i * 3 + 1], 30, a, 0);
            else
                assert_px(&img, i % W, i / W, grey[i], grey[i], grey[i], a, 0);
        }
        fl_image_free(&img);
        free(m.data);
    }
}

static void png_grey_1bit(void **state)
{
    (void)state;
    static const uint8_t px[2] = { 0xb0, 0x01 }; /* 10110000, 00000001 */
    png_spec s = {
        .width = 8, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 1, .pixels = px
    };
    membuf m;
    png_write_mem(&s, &m);
    fl_image img;
    assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
    for (int i = 0; i < 16; i++) {
        int v = px[i / 8] >> (7 - i % 8) & 1 ? 255 : 0;
        assert_px(&img, i % 8, i / 8, v, v, v, 255, 0);
    }
    fl_image_free(&img);
    free(m.data);
}

static void png_grey16(void **state)
{
    (void)state;

    enum {
        W = 16,
        H = 2
    };

    uint16_t px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (uint16_t)((i % W) * 17 * 257); /* 8-bit v as v * 257 */
    px[W] = 0x8080;                             /* no gamma: 128, not brighter */
    px[W + 1] = 0x10ff;                         /* 4351/257 = 16.93: rounded to 17, not cut to 16 */
    png_spec s = { .width = W,
                   .height = H,
                   .color_type = PNG_COLOR_TYPE_GRAY,
                   .bit_depth = 16,
                   .pixels = (const uint8_t *)px };
    membuf m;
    png_write_mem(&s, &m);
    fl_image img;
    assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
    for (int x = 0; x < W; x++)
        assert_px(&img, x, 0, x * 17, x * 17, x * 17, 255, 0);
    assert_px(&img, 0, 1, 128, 128, 128, 255, 0);
    assert_px(&img, 1, 1, 17, 17, 17, 255, 0);
    assert_px(&img, 2, 1, 34, 34, 34, 255, 0);
    fl_image_free(&img);
    free(m.data);
}

static void png_interlaced_grey_alpha(void **state)
{
    (void)state;

    enum {
        W = 13,
        H = 11
    }; /* odd: Adam7's passes come out uneven */

    uint8_t px[W * H * 2];
    for (int i = 0; i < W * H; i++) {
        px[2 * i] = (uint8_t)(i * 7);
        px[2 * i + 1] = (uint8_t)(255 - i);
    }
    png_spec s = { .width = W,
                   .height = H,
                   .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                   .bit_depth = 8,
                   .interlace = PNG_INTERLACE_ADAM7,
                   .pixels = px };
    membuf m;
    png_write_mem(&s, &m);
    fl_image img;
    assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
    for (int i = 0; i < W * H; i++)
        assert_px(&img, i % W, i / W, px[2 * i], px[2 * i], px[2 * i], px[2 * i + 1], 0);
    fl_image_free(&img);
    free(m.data);
}

/* A 12x10 RGB PNG, for the error tests. */
static void small_png(membuf *m)
{
    uint8_t px[12 * 10 * 3];
    for (size_t i = 0; i < sizeof(px); i++)
        px[i] = (uint8_t)(i * 31);
    png_spec s = {
        .width = 12, .height = 10, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .pixels = px
    };
    png_write_mem(&s, m);
}

static void png_truncated_and_corrupt(void **state)
{
    (void)state;
    membuf m;
    small_png(&m);
    fl_image img;
    char why[128];
    /* every cut before the IEND chunk (the last 12 bytes) */
    for (size_t cut = 0; cut < m.len - 12; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* its own size: ASan sees a read past it */
        assert_non_null(copy);
        memcpy(copy, m.data, cut);
        int r = fl_image_decode(&img, copy, cut, why, sizeof(why));
        if (r != (cut < 8 ? FL_ENOTSUP : FL_EBADMSG))
            fail_msg("cut at %zu of %zu: %d (%s)", cut, m.len, r, why);
        assert_null(img.rgba);
        assert_int_equal(img.width, 0);
        if (cut >= 8)
            assert_memory_equal(why, "PNG: ", 5);
        free(copy);
    }
    /* a flipped bit anywhere from the IHDR's length to the IDAT's CRC */
    for (size_t at = 8; at < m.len - 12; at++) {
        m.data[at] ^= 0x10;
        int r = fl_image_decode(&img, m.data, m.len, why, sizeof(why));
        if (r != FL_EBADMSG && r != FL_EMSGSIZE)
            fail_msg("bit flipped at %zu: %d (%s)", at, r, why);
        assert_null(img.rgba);
        m.data[at] ^= 0x10;
    }
    /* a CRC-correct IHDR with a bit depth PNG does not have */
    m.data[24] = 3;
    put32(m.data + 29, crc32_of(m.data + 12, 17));
    assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), FL_EBADMSG);
    assert_string_equal(why, "PNG: Invalid IHDR data");
    m.data[24] = 8;
    put32(m.data + 29, crc32_of(m.data + 12, 17));
    assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), 0);
    fl_image_free(&img);
    free(m.data);
}

static void not_an_image(void **state)
{
    (void)state;
    fl_image img = { 7, 7, (uint8_t *)"x" }; /* overwritten, not freed */
    char why[64];
    assert_int_equal(fl_image_decode(&img, (const uint8_t *)"GIF89a....", 10, why, sizeof(why)),
                     FL_ENOTSUP);
    assert_string_equal(why, "not a PNG or JPEG image");
    assert_null(img.rgba);
    assert_int_equal(fl_image_decode(&img, NULL, 0, NULL, 0), FL_ENOTSUP);
    assert_int_equal(fl_image_decode(&img, (const uint8_t *)"", 0, why, sizeof(why)), FL_ENOTSUP);
    assert_int_equal(fl_image_decode(NULL, (const uint8_t *)"\xff\xd8\xff", 3, why, sizeof(why)),
                     FL_EINVAL);
    /* a phrase cut to the buffer, terminated */
    char small[8];
    assert_int_equal(fl_image_decode(&img, (const uint8_t *)"text", 4, small, sizeof(small)),
                     FL_ENOTSUP);
    assert_string_equal(small, "not a P");
}

static void too_big(void **state)
{
    (void)state;
    fl_image img;
    char why[128];
    /* a header claiming 20000x20000 and nothing after it */
    uint8_t head[33] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                         0,    0,   0,   13,  'I',  'H',  'D',  'R' };
    head[24] = 8; /* depth; colour type 6: RGBA */
    head[25] = 6;
    png_patch_size(head, 20000, 20000);
    assert_int_equal(fl_image_decode(&img, head, sizeof(head), why, sizeof(why)), FL_EMSGSIZE);
    assert_string_equal(why, "image is 20000x20000, over the 4096x4096 limit");
    assert_null(img.rgba);
    /* the limit itself passes the header check (then the file ends) */
    png_patch_size(head, 4096, 4096);
    assert_int_equal(fl_image_decode(&img, head, sizeof(head), why, sizeof(why)), FL_EBADMSG);
    png_patch_size(head, 4097, 4096);
    assert_int_equal(fl_image_decode(&img, head, sizeof(head), why, sizeof(why)), FL_EMSGSIZE);
    png_patch_size(head, 0xffffffffu, 0xffffffffu); /* the product overflows 32 bits */
    assert_int_equal(fl_image_decode(&img, head, sizeof(head), why, sizeof(why)), FL_EMSGSIZE);

    /* another limit, a whole file */
    membuf m;
    small_png(&m); /* 12x10 */
    assert_int_equal(fl_image_decode_limit(&img, m.data, m.len, 119, why, sizeof(why)),
                     FL_EMSGSIZE);
    assert_string_equal(why, "image is 12x10, over the 119-pixel limit");
    assert_int_equal(fl_image_decode_limit(&img, m.data, m.len, 100, why, sizeof(why)),
                     FL_EMSGSIZE);
    assert_string_equal(why, "image is 12x10, over the 10x10 limit");
    assert_int_equal(fl_image_decode_limit(&img, m.data, m.len, 120, why, sizeof(why)), 0);
    fl_image_free(&img);
    free(m.data);

    /* JPEG: the size in its frame header */
    uint8_t rgb[16 * 16 * 3];
    rgb_blocks(rgb, 16, 16);
    jpeg_write_mem(16, 16, 3, JCS_RGB, rgb, 0, &m);
    size_t sof = 2;
    while (sof + 9 < m.len && !(m.data[sof] == 0xff && m.data[sof + 1] == 0xc0))
        sof++;
    assert_true(sof + 9 < m.len);
    m.data[sof + 5] = 20000 >> 8; /* height, then width */
    m.data[sof + 6] = 20000 & 0xff;
    m.data[sof + 7] = 20000 >> 8;
    m.data[sof + 8] = 20000 & 0xff;
    assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), FL_EMSGSIZE);
    assert_string_equal(why, "image is 20000x20000, over the 4096x4096 limit");
    assert_null(img.rgba);
    free(m.data);
}

/* ---- JPEG ---- */

static void jpeg_colour_grey_progressive(void **state)
{
    (void)state;

    enum {
        W = 32,
        H = 24
    };

    uint8_t rgb[W * H * 3];
    rgb_blocks(rgb, W, H);
    for (int progressive = 0; progressive < 2; progressive++) {
        membuf m;
        jpeg_write_mem(W, H, 3, JCS_RGB, rgb, progressive, &m);
        fl_image img;
        assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
        assert_int_equal(img.width, W);
        assert_int_equal(img.height, H);
        /* the blocks' inner pixels; alpha exactly 255 everywhere */
        assert_px(&img, 4, 4, 255, 0, 0, 255, 8);
        assert_px(&img, 27, 4, 0, 0, 255, 255, 8);
        assert_px(&img, 4, 20, 0, 255, 0, 255, 8);
        for (int i = 0; i < W * H; i++)
            assert_int_equal(img.rgba[i * 4 + 3], 255);
        fl_image_free(&img);
        free(m.data);
    }
    uint8_t grey[W * H];
    for (int i = 0; i < W * H; i++)
        grey[i] = (i % W) < W / 2 ? 40 : 220;
    membuf m;
    jpeg_write_mem(W, H, 1, JCS_GRAYSCALE, grey, 0, &m);
    fl_image img;
    assert_int_equal(fl_image_decode(&img, m.data, m.len, NULL, 0), 0);
    assert_px(&img, 3, 10, 40, 40, 40, 255, 3);
    assert_px(&img, 28, 10, 220, 220, 220, 255, 3);
    fl_image_free(&img);
    free(m.data);
}

static void jpeg_cmyk(void **state)
{
    (void)state;

    enum {
        W = 16,
        H = 16
    };

    /* Adobe's inverted CMYK (libjpeg writes the Adobe marker with CMYK):
     * red is C=0 M=1 Y=1 K=0, stored as 255 0 0 255; the right half is a
     * 50% grey (K=0.5) */
    uint8_t px[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        uint8_t *p = px + i * 4;
        if (i % W < W / 2) {
            p[0] = 255, p[1] = 0, p[2] = 0, p[3] = 255;
        } else {
            p[0] = 255, p[1] = 255, p[2] = 255, p[3] = 128;
        }
    }
    membuf m;
    jpeg_write_mem(W, H, 4, JCS_CMYK, px, 0, &m);
    fl_image img;
    char why[128];
    assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), 0);
    assert_px(&img, 3, 8, 255, 0, 0, 255, 6);
    assert_px(&img, 12, 8, 128, 128, 128, 255, 6);
    fl_image_free(&img);
    free(m.data);
}

static void jpeg_truncated_and_corrupt(void **state)
{
    (void)state;

    enum {
        W = 32,
        H = 24
    };

    uint8_t rgb[W * H * 3];
    rgb_blocks(rgb, W, H);
    for (int progressive = 0; progressive < 2; progressive++) {
        membuf m;
        jpeg_write_mem(W, H, 3, JCS_RGB, rgb, progressive, &m);
        fl_image img;
        char why[JMSG_LENGTH_MAX + 16];
        /* every cut before the end-of-image marker */
        for (size_t cut = 0; cut < m.len - 2; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, m.data, cut);
            int r = fl_image_decode(&img, copy, cut, why, sizeof(why));
            if (r != (cut < 3 ? FL_ENOTSUP : FL_EBADMSG))
                fail_msg("progressive %d, cut at %zu of %zu: %d (%s)", progressive, cut, m.len, r,
                         why);
            assert_null(img.rgba);
            if (cut >= 3)
                assert_memory_equal(why, "JPEG: ", 6);
            free(copy);
        }
        /* a precision JPEG does not have, in the frame header */
        size_t sof = 2;
        while (sof + 4 < m.len &&
               !(m.data[sof] == 0xff && (m.data[sof + 1] == 0xc0 || m.data[sof + 1] == 0xc2)))
            sof++;
        m.data[sof + 4] = 7;
        assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), FL_EBADMSG);
        assert_string_equal(why, "JPEG: Unsupported JPEG data precision 7");
        /* no size at all */
        m.data[sof + 4] = 8;
        memset(m.data + sof + 5, 0, 4);
        assert_int_equal(fl_image_decode(&img, m.data, m.len, why, sizeof(why)), FL_EBADMSG);
        assert_string_equal(why, "JPEG: Empty JPEG image (DNL not supported)");
        assert_null(img.rgba);
        free(m.data);
    }
}

/* ---- scale ---- */

static fl_image solid(int w, int h, int r, int g, int b, int a)
{
    fl_image img = { w, h, malloc((size_t)w * (size_t)h * 4) };
    assert_non_null(img.rgba);
    for (int i = 0; i < w * h; i++) {
        img.rgba[i * 4] = (uint8_t)r;
        img.rgba[i * 4 + 1] = (uint8_t)g;
        img.rgba[i * 4 + 2] = (uint8_t)b;
        img.rgba[i * 4 + 3] = (uint8_t)a;
    }
    return img;
}

static void scale_sizes_and_colour(void **state)
{
    (void)state;
    fl_image src = solid(7, 5, 10, 200, 30, 255), dst = { 0 };
    static const int sizes[][2] = {
        { 7, 5 }, { 13, 11 }, { 3, 2 }, { 1, 1 }, { 1, 40 }, { 300, 1 }
    };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        assert_int_equal(fl_image_scale(&dst, &src, sizes[k][0], sizes[k][1]), 0);
        assert_int_equal(dst.width, sizes[k][0]);
        assert_int_equal(dst.height, sizes[k][1]);
        for (int y = 0; y < dst.height; y++)
            for (int x = 0; x < dst.width; x++)
                assert_px(&dst, x, y, 10, 200, 30, 255, 0);
    }
    /* bad sizes: an error, dst kept */
    assert_int_equal(fl_image_scale(&dst, &src, 0, 5), FL_EINVAL);
    assert_int_equal(fl_image_scale(&dst, &src, 5, -1), FL_EINVAL);
    assert_int_equal(fl_image_scale(&dst, &src, FL_IMAGE_MAX_SIDE + 1, 5), FL_EINVAL);
    assert_int_equal(fl_image_scale(&dst, NULL, 5, 5), FL_EINVAL);
    fl_image empty = { 0 };
    assert_int_equal(fl_image_scale(&dst, &empty, 5, 5), FL_EINVAL);
    assert_int_equal(dst.width, 300);
    assert_non_null(dst.rgba);
    /* in place */
    assert_int_equal(fl_image_scale(&src, &src, 20, 20), 0);
    assert_int_equal(src.width, 20);
    assert_px(&src, 19, 19, 10, 200, 30, 255, 0);
    fl_image_free(&src);
    fl_image_free(&dst);
}

static void scale_filters(void **state)
{
    (void)state;
    /* enlarging: bilinear between pixel centres (0 and 255 red) */
    fl_image src = solid(2, 1, 0, 0, 0, 255), dst = { 0 };
    src.rgba[4] = 255;
    assert_int_equal(fl_image_scale(&dst, &src, 4, 1), 0);
    static const int want[4] = { 0, 64, 191, 255 };
    for (int x = 0; x < 4; x++)
        assert_px(&dst, x, 0, want[x], 0, 0, 255, 1);
    /* identity */
    assert_int_equal(fl_image_scale(&dst, &src, 2, 1), 0);
    assert_memory_equal(dst.rgba, src.rgba, 8);
    fl_image_free(&src);

    /* shrinking: every input counts; a black and white checkerboard of
     * 1-pixel squares becomes an even grey, not a stripe pattern */
    src = solid(64, 64, 0, 0, 0, 255);
    for (int i = 0; i < 64 * 64; i++)
        if ((i % 64 + i / 64) % 2)
            memset(src.rgba + i * 4, 255, 3);
    assert_int_equal(fl_image_scale(&dst, &src, 5, 3), 0);
    for (int i = 0; i < 15; i++)
        assert_px(&dst, i % 5, i / 5, 128, 128, 128, 255, 12);
    assert_int_equal(fl_image_scale(&dst, &src, 1, 1), 0);
    assert_px(&dst, 0, 0, 128, 128, 128, 255, 1);
    fl_image_free(&src);

    /* a transparent pixel's colour never shows: opaque red beside
     * transparent green; alpha falls off, the colour stays red */
    src = solid(4, 2, 255, 0, 0, 255);
    for (int y = 0; y < 2; y++)
        for (int x = 2; x < 4; x++)
            memcpy(src.rgba + (y * 4 + x) * 4, (const uint8_t[4]){ 0, 255, 0, 0 }, 4);
    for (int w = 1; w <= 16; w++) {
        assert_int_equal(fl_image_scale(&dst, &src, w, 3), 0);
        int seen_partial = 0;
        for (int i = 0; i < w * 3; i++) {
            const uint8_t *p = dst.rgba + i * 4;
            if (p[3] == 0)
                assert_memory_equal(p, "\0\0\0", 3);
            else
                assert_px(&dst, i % w, i / w, 255, 0, 0, p[3], 0);
            seen_partial |= p[3] > 0 && p[3] < 255;
        }
        if (w > 4)                     /* 4: the same size, a copy */
            assert_true(seen_partial); /* the edge is soft, not cut */
    }
    fl_image_free(&src);

    /* colours weighted by alpha: 50% white beside opaque black makes a
     * dark grey (255 * 128 / 383), not a mid grey */
    src = solid(2, 1, 255, 255, 255, 128);
    memcpy(src.rgba + 4, (const uint8_t[4]){ 0, 0, 0, 255 }, 4);
    assert_int_equal(fl_image_scale(&dst, &src, 1, 1), 0);
    assert_px(&dst, 0, 0, 85, 85, 85, 192, 1);
    fl_image_free(&src);
    fl_image_free(&dst);
}

/* ---- blend ---- */

enum {
    PW = 50,
    PH = 30
};

/* A PW x PH picture (strides wider than the rows) of Y 100, U 128, V 128;
 * its whole block, padding too, copied into *before. */
static void grey_picture(fl_picture *pic, uint8_t **before, size_t *size)
{
    assert_int_equal(fl_picture_alloc(pic, PW, PH), 0);
    *size = (size_t)(pic->plane[2] - pic->plane[0]) +
            (size_t)pic->stride[2] * (size_t)((pic->height + 1) / 2);
    memset(pic->plane[0], 0x5a, *size); /* the padding: a canary */
    for (int y = 0; y < PH; y++)
        memset(pic->plane[0] + y * pic->stride[0], 100, PW);
    for (int y = 0; y < (PH + 1) / 2; y++) {
        memset(pic->plane[1] + y * pic->stride[1], 128, (PW + 1) / 2);
        memset(pic->plane[2] + y * pic->stride[2], 128, (PW + 1) / 2);
    }
    *before = malloc(*size);
    assert_non_null(*before);
    memcpy(*before, pic->plane[0], *size);
}

static int luma_at(const fl_picture *p, int x, int y)
{
    return p->plane[0][y * p->stride[0] + x];
}

static int chroma_at(const fl_picture *p, int plane, int cx, int cy)
{
    return p->plane[plane][cy * p->stride[plane] + cx];
}

static void blend_opaque_transparent_half(void **state)
{
    (void)state;
    fl_picture pic;
    uint8_t *before;
    size_t size;
    grey_picture(&pic, &before, &size);

    /* transparent: nothing changes */
    fl_image img = solid(10, 8, 255, 0, 0, 0);
    fl_picture_blend(&pic, &img, 20, 10);
    assert_memory_equal(pic.plane[0], before, size);
    fl_image_free(&img);

    /* opaque red at (20, 10): BT.601 limited red is Y 81 U 90 V 240 */
    img = solid(10, 8, 255, 0, 0, 255);
    fl_picture_blend(&pic, &img, 20, 10);
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++) {
            int in = x >= 20 && x < 30 && y >= 10 && y < 18;
            int v = luma_at(&pic, x, y);
            if (in ? abs(v - 81) > 1 : v != 100)
                fail_msg("Y at (%d,%d): %d", x, y, v);
        }
    for (int cy = 0; cy < (PH + 1) / 2; cy++)
        for (int cx = 0; cx < (PW + 1) / 2; cx++) {
            int in = cx >= 10 && cx < 15 && cy >= 5 && cy < 9;
            int u = chroma_at(&pic, 1, cx, cy), v = chroma_at(&pic, 2, cx, cy);
            if (in ? abs(u - 90) > 1 || abs(v - 240) > 1 : u != 128 || v != 128)
                fail_msg("U/V at (%d,%d): %d %d", cx, cy, u, v);
        }
    fl_image_free(&img);

    /* 50% white over that: half way between red and white (Y 235, U/V 128) */
    img = solid(10, 8, 255, 255, 255, 128);
    fl_picture_blend(&pic, &img, 20, 10);
    assert_in_range(luma_at(&pic, 25, 12), (81 + 235) / 2 - 2, (81 + 235) / 2 + 2);
    assert_in_range(chroma_at(&pic, 1, 12, 6), (90 + 128) / 2 - 2, (90 + 128) / 2 + 2);
    assert_in_range(chroma_at(&pic, 2, 12, 6), (240 + 128) / 2 - 2, (240 + 128) / 2 + 2);
    assert_int_equal(luma_at(&pic, 19, 12), 100);
    fl_image_free(&img);

    /* 50% black over the grey: Y (16 + 100) / 2 */
    img = solid(4, 4, 0, 0, 0, 128);
    fl_picture_blend(&pic, &img, 0, 0);
    assert_in_range(luma_at(&pic, 1, 1), 57, 59);
    assert_int_equal(chroma_at(&pic, 1, 0, 0), 128);
    fl_image_free(&img);

    /* one opaque pixel in a 2x2 block: a quarter of the chroma */
    img = solid(1, 1, 0, 0, 255, 255); /* blue: U 240 V 110 */
    fl_picture_blend(&pic, &img, 41, 21);
    assert_in_range(luma_at(&pic, 41, 21), 40, 42);
    assert_int_equal(luma_at(&pic, 40, 21), 100);
    assert_in_range(chroma_at(&pic, 1, 20, 10), (240 + 3 * 128) / 4 - 1, (240 + 3 * 128) / 4 + 1);
    assert_in_range(chroma_at(&pic, 2, 20, 10), (110 + 3 * 128) / 4 - 1, (110 + 3 * 128) / 4 + 1);
    fl_image_free(&img);
    fl_picture_free(&pic);
    free(before);
}

/* The picture after blending a w x h opaque white image at (x, y) holds
 * 235 where the image covers it, and is unchanged everywhere else, padding
 * included. */
static void check_clip(int x, int y, int w, int h)
{
    fl_picture pic;
    uint8_t *before;
    size_t size;
    grey_picture(&pic, &before, &size);
    fl_image img = solid(w, h, 255, 255, 255, 255);
    fl_picture_blend(&pic, &img, x, y);
    uint8_t *want = malloc(size);
    assert_non_null(want);
    memcpy(want, before, size);
    for (int py = 0; py < PH; py++)
        for (int px = 0; px < PW; px++)
            if ((long long)px >= x && (long long)px < (long long)x + w && (long long)py >= y &&
                (long long)py < (long long)y + h)
                want[py * pic.stride[0] + px] = 235;
    /* white's chroma is 128, as the picture's: U and V never change */
    if (memcmp(pic.plane[0], want, size) != 0)
        fail_msg("image %dx%d at (%d,%d): wrong pixels", w, h, x, y);
    free(want);
    fl_image_free(&img);
    fl_picture_free(&pic);
    free(before);
}

static void blend_clipping(void **state)
{
    (void)state;
    check_clip(-5, -3, 12, 9);           /* top-left corner */
    check_clip(44, 25, 12, 9);           /* past the right and bottom */
    check_clip(45, -4, 12, 40);          /* right edge, taller than the picture */
    check_clip(-7, 27, 80, 9);           /* wider than the picture, at the bottom */
    check_clip(-12, 0, 12, 9);           /* touching the left edge: nothing */
    check_clip(PW, 0, 12, 9);            /* just past the right: nothing */
    check_clip(0, PH, 12, 9);            /* just below: nothing */
    check_clip(0, -9, 12, 9);            /* just above: nothing */
    check_clip(INT_MAX - 5, 3, 12, 9);   /* x + w overflows an int */
    check_clip(3, INT_MAX, 12, 9);       /* */
    check_clip(INT_MIN, INT_MIN, 12, 9); /* */
    check_clip(PW - 1, PH - 1, 1, 1);    /* the last pixel */
    check_clip(-100, -100, 200, 200);    /* covering it all */
    check_clip(13, 7, 1, 1);             /* one odd pixel */

    /* an odd picture: the last chroma column covers one luma column */
    fl_picture pic;
    assert_int_equal(fl_picture_alloc(&pic, 33, 21), 0);
    memset(pic.plane[0], 100, (size_t)pic.stride[0] * 21);
    memset(pic.plane[1], 128, (size_t)pic.stride[1] * 11);
    memset(pic.plane[2], 128, (size_t)pic.stride[2] * 11);
    fl_image img = solid(4, 4, 0, 0, 255, 255);
    fl_picture_blend(&pic, &img, 32, 20);                  /* one pixel: the corner */
    assert_in_range(chroma_at(&pic, 1, 16, 10), 239, 241); /* the block is that pixel */
    assert_int_equal(chroma_at(&pic, 1, 15, 10), 128);
    assert_int_equal(chroma_at(&pic, 1, 16, 9), 128);
    fl_image_free(&img);
    /* NULL and empty: nothing */
    fl_picture_blend(&pic, NULL, 0, 0);
    fl_image none = { 0 };
    fl_picture_blend(&pic, &none, 0, 0);
    fl_picture_blend(NULL, &none, 0, 0);
    fl_picture_free(&pic);
}

/* The rule written plainly, in floating point: each luma pixel the image
 * covers mixed by its alpha; each chroma sample mixed by its block's mean
 * alpha with the alpha-weighted mean colour of the image's pixels there. */
static void blend_model(fl_picture *pic, const fl_image *img, int x, int y)
{
    for (int py = 0; py < pic->height; py++)
        for (int px = 0; px < pic->width; px++) {
            long long ix = (long long)px - x, iy = (long long)py - y;
            if (ix < 0 || iy < 0 || ix >= img->width || iy >= img->height)
                continue;
            const uint8_t *s = img->rgba + (iy * img->width + ix) * 4;
            double yy = 16 + (65.738 * s[0] + 129.057 * s[1] + 25.064 * s[2]) / 256;
            uint8_t *d = pic->plane[0] + py * pic->stride[0] + px;
            *d = (uint8_t)((s[3] * yy + (255 - s[3]) * *d) / 255 + 0.5);
        }
    for (int cy = 0; cy < (pic->height + 1) / 2; cy++)
        for (int cx = 0; cx < (pic->width + 1) / 2; cx++) {
            double sa = 0, su = 0, sv = 0;
            int n = 0;
            for (int py = 2 * cy; py < 2 * cy + 2 && py < pic->height; py++)
                for (int px = 2 * cx; px < 2 * cx + 2 && px < pic->width; px++) {
                    n++;
                    long long ix = (long long)px - x, iy = (long long)py - y;
                    if (ix < 0 || iy < 0 || ix >= img->width || iy >= img->height)
                        continue;
                    const uint8_t *s = img->rgba + (iy * img->width + ix) * 4;
                    sa += s[3];
                    su += s[3] * (128 + (-37.945 * s[0] - 74.494 * s[1] + 112.439 * s[2]) / 256);
                    sv += s[3] * (128 + (112.439 * s[0] - 94.154 * s[1] - 18.285 * s[2]) / 256);
                }
            if (sa == 0)
                continue;
            uint8_t *u = pic->plane[1] + cy * pic->stride[1] + cx;
            uint8_t *v = pic->plane[2] + cy * pic->stride[2] + cx;
            *u = (uint8_t)((su + (255.0 * n - sa) * *u) / (255.0 * n) + 0.5);
            *v = (uint8_t)((sv + (255.0 * n - sa) * *v) / (255.0 * n) + 0.5);
        }
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Random images (opaque, transparent and partial pixels; odd and even
 * sizes) at random places in, across and outside odd and even pictures:
 * every byte of the planes within 1 of the model, the padding untouched. */
static void blend_matches_model(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    for (int round = 0; round < 400; round++) {
        int pw = 2 + (int)(lcg(&seed) % 40), ph = 2 + (int)(lcg(&seed) % 30);
        fl_picture pic, want;
        assert_int_equal(fl_picture_alloc(&pic, pw, ph), 0);
        assert_int_equal(fl_picture_alloc(&want, pw, ph), 0);
        size_t size = (size_t)(pic.plane[2] - pic.plane[0]) +
                      (size_t)pic.stride[2] * (size_t)((ph + 1) / 2);
        for (size_t i = 0; i < size; i++)
            pic.plane[0][i] = (uint8_t)lcg(&seed);
        memcpy(want.plane[0], pic.plane[0], size);
        int w = 1 + (int)(lcg(&seed) % 24), h = 1 + (int)(lcg(&seed) % 24);
        fl_image img = solid(w, h, 0, 0, 0, 0);
        for (int i = 0; i < w * h * 4; i++) {
            uint32_t r = lcg(&seed);
            img.rgba[i] = (uint8_t)r;
            if (i % 4 == 3) /* a third each: transparent, opaque, partial */
                img.rgba[i] = r % 3 == 0 ? 0 : r % 3 == 1 ? 255 : (uint8_t)(r >> 8);
        }
        int x = (int)(lcg(&seed) % (unsigned)(pw + w + 10)) - w - 5;
        int y = (int)(lcg(&seed) % (unsigned)(ph + h + 10)) - h - 5;
        fl_picture_blend(&pic, &img, x, y);
        blend_model(&want, &img, x, y);
        for (size_t i = 0; i < size; i++)
            if (abs(pic.plane[0][i] - want.plane[0][i]) > 1)
                fail_msg("round %d: %dx%d image at (%d,%d) on %dx%d: byte %zu is %d, not %d", round,
                         w, h, x, y, pw, ph, i, pic.plane[0][i], want.plane[0][i]);
        fl_image_free(&img);
        fl_picture_free(&pic);
        fl_picture_free(&want);
    }
}

/* ---- the fuzz corpus ---- */

#define CORPUS "tests/fuzz/corpus/image"

static void corpus_replays(void **state)
{
    (void)state;
    DIR *dir = opendir(CORPUS);
    assert_non_null(dir);
    int seeds = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), CORPUS "/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        fl_image img;
        char why[256];
        int r = fl_image_decode_limit(&img, buf, n, 1024 * 1024, why, sizeof(why));
        /* seeds are whole images; anything else (a fuzzer's find) must
         * just come back with one of the codes */
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (strcmp(dot, ".png") == 0 || strcmp(dot, ".jpg") == 0)) {
            if (r != 0)
                fail_msg("%s: %d (%s)", path, r, why);
            seeds++;
        } else if (r != 0 && r != FL_EBADMSG && r != FL_ENOTSUP && r != FL_EMSGSIZE) {
            fail_msg("%s: %d", path, r);
        }
        if (r == 0) {
            fl_image small = { 0 };
            assert_int_equal(fl_image_scale(&small, &img, 9, 7), 0);
            fl_picture pic;
            assert_int_equal(fl_picture_alloc(&pic, 16, 12), 0);
            fl_picture_blend(&pic, &small, 10, -3);
            fl_picture_free(&pic);
            fl_image_free(&small);
        }
        fl_image_free(&img);
    }
    closedir(dir);
    assert_true(seeds >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(png_rgba_transparent_half),
        cmocka_unit_test(png_palette_trns),
        cmocka_unit_test(png_colour_key),
        cmocka_unit_test(png_grey_1bit),
        cmocka_unit_test(png_grey16),
        cmocka_unit_test(png_interlaced_grey_alpha),
        cmocka_unit_test(png_truncated_and_corrupt),
        cmocka_unit_test(not_an_image),
        cmocka_unit_test(too_big),
        cmocka_unit_test(jpeg_colour_grey_progressive),
        cmocka_unit_test(jpeg_cmyk),
        cmocka_unit_test(jpeg_truncated_and_corrupt),
        cmocka_unit_test(scale_sizes_and_colour),
        cmocka_unit_test(scale_filters),
        cmocka_unit_test(blend_opaque_transparent_half),
        cmocka_unit_test(blend_clipping),
        cmocka_unit_test(blend_matches_model),
        cmocka_unit_test(corpus_replays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
