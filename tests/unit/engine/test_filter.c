/* The filters (engine/filter*.c) under the simulation, with their real
 * codec thread: an AppSource pushes VP8 pictures (a QR code, a grey
 * field, a face photo) into a filter, an AppSink decodes what comes out.
 * A test fails when ZBarFilter re-encodes instead of forwarding, raises
 * CodeFound for every frame or not at all, when an overlay is not drawn
 * where it was placed (or its transparent part hides the picture), when
 * the filter does not go back to forwarding once nothing is drawn, or
 * when a bad image does not fail its call. */
#include <libyuv.h>
#include <png.h>
#include <stdio.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/coder.h"
#include "codec/compose.h"
#include "codec/image.h"
#include "net/rtp.h"
#include "sim_world.h"

#define W        320
#define H        240
#define FPS      15
#define SRC_SSRC 0x5151u
#define QR_TEXT  "fluo-filter-21"

typedef struct world {
    sim_world s;
    fl_element *src, *filter, *sink;
    fl_venc *venc;
    fl_pack *pack;
    fl_picture pic;
    uint16_t seq;
    int frame;
    /* the sink's */
    fl_depack *depack;
    fl_vdec *vdec;
    fl_picture last;
    uint32_t last_ssrc;
    int pictures, packets_in, packets_src;
    /* events */
    int codes;
    char code_type[32], code_value[64];
    char dir[64];
} world;

static void on_event(void *arg, const fl_event *ev)
{
    world *w = arg;
    if (ev->type != FL_EVENT_CODE_FOUND)
        return;
    w->codes++;
    snprintf(w->code_type, sizeof(w->code_type), "%s", ev->code_found.code_type);
    snprintf(w->code_value, sizeof(w->code_value), "%s", ev->code_found.value);
}

static void on_media(void *arg, unsigned media, fl_buf *buf)
{
    world *w = arg;
    fl_rtp_view v;
    if (media != FL_MEDIA_VIDEO || fl_rtp_parse(&v, fl_packet_data(buf), fl_packet_len(buf)) < 0)
        return;
    w->packets_in++;
    w->packets_src += v.ssrc == SRC_SSRC;
    w->last_ssrc = v.ssrc;
    fl_depack_packet p = { .payload = v.payload,
                           .len = v.payload_len,
                           .seq = v.seq,
                           .ts = v.timestamp,
                           .marker = v.marker };
    fl_depack_push(w->depack, &p);
    fl_frame f;
    while (fl_depack_pull(w->depack, &f) == 1) {
        fl_picture pic;
        if (fl_vdec_decode(w->vdec, f.data, f.len, &pic) != 1)
            continue;
        if (w->last.width != pic.width || w->last.height != pic.height) {
            fl_picture_free(&w->last);
            assert_int_equal(fl_picture_alloc(&w->last, pic.width, pic.height), 0);
        }
        assert_int_equal(fl_picture_scale(&pic, &w->last), 0);
        w->pictures++;
    }
}

static void set_prop(world *w, fl_element *e, const char *name, const char *value)
{
    assert_int_equal(sw_wait(&w->s, fl_element_set_property(e, name, value, sw_on_done, &w->s)), 0);
}

/* An invoke answered from the filter's thread: settles with real time
 * passing until the answer came. */
static int invoke(world *w, const char *m, const char *const *args, size_t n)
{
    int rc = fl_element_invoke(w->filter, m, args, n, sw_on_text, &w->s);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 400 && !w->s.done; i++) {
        assert_int_equal(fl__sim_settle(w->s.sim), 0);
        usleep(5000);
    }
    assert_true(w->s.done);
    w->s.done = 0;
    return w->s.status;
}

static world *world_new(const char *type)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    sw_init(&w->s, 21);
    w->src = sw_make(&w->s, FL_ELEMENT_APP_SOURCE, "src");
    set_prop(w, w->src, "videoCaps", "96 VP8/90000");
    w->filter = sw_make(&w->s, type, "filter");
    assert_int_equal(fl_element_set_event_cb(w->filter, on_event, w), 0);
    w->sink = sw_make(&w->s, FL_ELEMENT_APP_SINK, "sink");
    set_prop(w, w->sink, "videoCaps", "96 VP8/90000");
    assert_int_equal(fl_element_set_media_cb(w->sink, on_media, w), 0);
    sw_join(&w->s, w->src, w->filter, FL_MEDIA_VIDEO);
    sw_join(&w->s, w->filter, w->sink, FL_MEDIA_VIDEO);
    fl_venc_config vc = { .kind = FL_CODEC_VP8, .width = W, .height = H, .fps = FPS, .kbps = 800 };
    fl_pack_config pc = { .codec = FL_CODEC_VP8, .max_payload = 1200 };
    fl_depack_config dc = { .codec = FL_CODEC_VP8 };
    assert_int_equal(fl_venc_create(&w->venc, &vc), 0);
    assert_int_equal(fl_pack_create(&w->pack, &pc), 0);
    assert_int_equal(fl_depack_create(&w->depack, &dc), 0);
    assert_int_equal(fl_vdec_create(&w->vdec, FL_CODEC_VP8), 0);
    assert_int_equal(fl_picture_alloc(&w->pic, W, H), 0);
    fl_rect all = { 0, 0, W, H };
    fl_picture_fill(&w->pic, &all, 128, 128, 128);
    snprintf(w->dir, sizeof(w->dir), "/tmp/fluo-test-filter.XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    return w;
}

static void world_free(world *w)
{
    sw_deinit(&w->s);
    fl_venc_destroy(w->venc);
    fl_pack_destroy(w->pack);
    fl_depack_destroy(w->depack);
    fl_vdec_destroy(w->vdec);
    fl_picture_free(&w->pic);
    fl_picture_free(&w->last);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
}

static void push_frame(world *w)
{
    fl_venc_frame f;
    uint32_t ts = (uint32_t)w->frame * 90000 / FPS;
    int got = fl_venc_encode(w->venc, &w->pic, ts, w->frame % 30 == 0, &f);
    w->frame++;
    if (got != 1)
        return;
    assert_int_equal(fl_pack_frame(w->pack, &(fl_pack_input){ f.data, f.len, f.key }), 0);
    uint8_t payload[1200], pkt[1500];
    size_t n, len;
    int marker;
    while ((n = fl_pack_next(w->pack, payload, sizeof(payload), &marker)) > 0) {
        fl_rtp_header h = { .marker = (uint8_t)marker,
                            .payload_type = 96,
                            .seq = w->seq++,
                            .timestamp = ts,
                            .ssrc = SRC_SSRC };
        assert_int_equal(fl_rtp_write(pkt, sizeof(pkt), &h, payload, n, 0, &len), 0);
        assert_int_equal(fl_element_push(w->src, FL_MEDIA_VIDEO, pkt, len, NULL, NULL), 0);
    }
}

/* `ms` of real time at FPS pictures a second, the simulation alongside. */
static void run_for(world *w, int ms)
{
    for (int t = 0; t < ms; t += 1000 / FPS) {
        push_frame(w);
        assert_int_equal(fl__sim_advance(w->s.sim, (1000 / FPS) * FL_TIME_MS), 0);
        usleep(1000000 / FPS);
        assert_int_equal(fl__sim_settle(w->s.sim), 0);
    }
}

/* The mean of the luma and chroma in rectangle r of p. */
static void mean_yuv(const fl_picture *p, int x0, int y0, int w, int h, int *y, int *u, int *v)
{
    long sy = 0, su = 0, sv = 0, n = 0;
    for (int yy = y0; yy < y0 + h; yy++) {
        for (int xx = x0; xx < x0 + w; xx++, n++) {
            sy += p->plane[0][yy * p->stride[0] + xx];
            su += p->plane[1][(yy / 2) * p->stride[1] + xx / 2];
            sv += p->plane[2][(yy / 2) * p->stride[2] + xx / 2];
        }
    }
    *y = (int)(sy / n);
    *u = (int)(su / n);
    *v = (int)(sv / n);
}

/* A w x h PNG: its left half opaque `rgb`, its right half transparent. */
static void write_png(const char *path, int w, int h, uint32_t rgb)
{
    png_image img = { .version = PNG_IMAGE_VERSION,
                      .width = (png_uint_32)w,
                      .height = (png_uint_32)h,
                      .format = PNG_FORMAT_RGBA };
    uint8_t *px = calloc((size_t)w * h, 4);
    assert_non_null(px);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w / 2; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 4;
            p[0] = (uint8_t)(rgb >> 16);
            p[1] = (uint8_t)(rgb >> 8);
            p[2] = (uint8_t)rgb;
            p[3] = 255;
        }
    }
    assert_int_not_equal(png_image_write_to_file(&img, path, 0, px, 0, NULL), 0);
    free(px);
}

/* ---- ZBarFilter ---- */

/* Draws the QR code of QR_TEXT (Debian's qrencode) into the picture,
 * `scale` pixels a module, at (x0, y0). */
static void draw_qr(fl_picture *p, int x0, int y0, int scale)
{
    FILE *f = popen("qrencode -t ASCII -m 2 '" QR_TEXT "'", "r");
    assert_non_null(f);
    char line[512];
    int row = 0;
    while (fgets(line, sizeof(line), f)) {
        for (int col = 0; line[2 * col] && line[2 * col] != '\n'; col++) {
            uint8_t luma = line[2 * col] == '#' ? 16 : 235;
            for (int dy = 0; dy < scale; dy++)
                memset(p->plane[0] + (size_t)(y0 + row * scale + dy) * p->stride[0] + x0 +
                               col * scale,
                       luma, (size_t)scale);
        }
        row++;
    }
    assert_int_equal(pclose(f), 0);
    assert_true(row > 20);
}

static void test_zbar(void **state)
{
    (void)state;
    world *w = world_new(FL_ELEMENT_ZBAR_FILTER);
    draw_qr(&w->pic, 60, 20, 7);
    run_for(w, 3000);
    /* the source's packets, forwarded: never the filter's own stream */
    assert_true(w->packets_in > 30);
    assert_int_equal(w->packets_src, w->packets_in);
    assert_true(w->pictures > 30);
    /* one code in view all along: one event */
    if (w->codes != 1)
        fail_msg("CodeFound raised %d times for one code in view for 3 s", w->codes);
    assert_string_equal(w->code_type, "QR-Code");
    assert_string_equal(w->code_value, QR_TEXT);
    /* gone for over a second and back: raised again */
    fl_picture saved = { 0 };
    assert_int_equal(fl_picture_alloc(&saved, W, H), 0);
    assert_int_equal(fl_picture_scale(&w->pic, &saved), 0);
    fl_rect all = { 0, 0, W, H };
    fl_picture_fill(&w->pic, &all, 128, 128, 128);
    run_for(w, 1500);
    assert_int_equal(w->codes, 1);
    assert_int_equal(fl_picture_scale(&saved, &w->pic), 0);
    run_for(w, 1000);
    assert_int_equal(w->codes, 2);
    fl_picture_free(&saved);
    world_free(w);
}

/* ---- ImageOverlayFilter ---- */

static void test_image_overlay(void **state)
{
    (void)state;
    world *w = world_new(FL_ELEMENT_IMAGE_OVERLAY_FILTER);
    char path[128], uri[160];
    snprintf(path, sizeof(path), "%s/logo.png", w->dir);
    snprintf(uri, sizeof(uri), "file://%s", path);
    write_png(path, 40, 20, 0xff0000);
    run_for(w, 500);
    assert_int_equal(w->packets_src, w->packets_in); /* nothing to draw: forwarded */
    /* x 160-240, y 60-120: red on the left half, the picture on the right */
    const char *add[] = { "logo", uri, "0.5", "0.25", "0.25", "0.25", "false", "false" };
    assert_int_equal(invoke(w, "addImage", add, 8), 0);
    run_for(w, 1500);
    assert_int_not_equal(w->last_ssrc, SRC_SSRC);
    int y, u, v;
    mean_yuv(&w->last, 168, 70, 24, 40, &y, &u, &v);
    if (!(v > 200 && u < 120 && y < 110))
        fail_msg("the image's opaque half shows Y%d U%d V%d, not red", y, u, v);
    mean_yuv(&w->last, 208, 70, 24, 40, &y, &u, &v);
    if (abs(y - 128) > 12 || abs(u - 128) > 12 || abs(v - 128) > 12)
        fail_msg("the image's transparent half shows Y%d U%d V%d, not the picture", y, u, v);
    mean_yuv(&w->last, 20, 150, 60, 60, &y, &u, &v);
    assert_true(abs(v - 128) < 12 && abs(y - 128) < 12);
    /* bad calls fail and change nothing */
    char bad[160];
    snprintf(bad, sizeof(bad), "file://%s/missing.png", w->dir);
    const char *missing[] = { "x", bad, "0", "0", "0.1", "0.1", "true", "true" };
    assert_int_equal(invoke(w, "addImage", missing, 8), FL_ENOENT);
    snprintf(path, sizeof(path), "%s/text.png", w->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an image at all", f);
    fclose(f);
    snprintf(bad, sizeof(bad), "file://%s", path);
    const char *text[] = { "x", bad, "0", "0", "0.1", "0.1", "true", "true" };
    assert_true(invoke(w, "addImage", text, 8) < 0);
    const char *range[] = { "x", uri, "0", "0", "-1", "0.1", "true", "true" };
    assert_int_equal(invoke(w, "addImage", range, 8), FL_EINVAL);
    const char *nobody[] = { "nobody" };
    assert_int_equal(invoke(w, "removeImage", nobody, 1), 0); /* as Kurento: no error */
    /* removed: back to the source's packets from its next key frame */
    const char *logo[] = { "logo" };
    assert_int_equal(invoke(w, "removeImage", logo, 1), 0);
    run_for(w, 2500);
    assert_int_equal(w->last_ssrc, SRC_SSRC);
    mean_yuv(&w->last, 168, 70, 24, 40, &y, &u, &v);
    assert_true(abs(v - 128) < 12);
    world_free(w);
}

/* ---- FaceOverlayFilter ---- */

/* The face photo (tests/tools/face_photo.sh) as the source's picture:
 * 512x512 scaled to 240x240 at x 40; the face lands about at x 122-169,
 * y 28-84. */
static void face_picture(world *w)
{
    assert_int_equal(system("sh tests/tools/face_photo.sh build/media/face.png"), 0);
    FILE *f = fopen("build/media/face.png", "rb");
    assert_non_null(f);
    static uint8_t data[1 << 20];
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    fl_image img = { 0 }, small = { 0 };
    char why[128];
    assert_int_equal(fl_image_decode(&img, data, n, why, sizeof(why)), 0);
    assert_int_equal(fl_image_scale(&small, &img, 240, 240), 0);
    fl_picture view;
    fl_rect r = { 40, 0, 240, 240 };
    assert_int_equal(fl_picture_view(&w->pic, &r, &view), 0);
    ABGRToI420(small.rgba, small.width * 4, view.plane[0], view.stride[0], view.plane[1],
               view.stride[1], view.plane[2], view.stride[2], 240, 240);
    fl_image_free(&img);
    fl_image_free(&small);
}

static void test_face_overlay(void **state)
{
    (void)state;
    world *w = world_new(FL_ELEMENT_FACE_OVERLAY_FILTER);
    face_picture(w);
    char path[128], uri[160];
    snprintf(path, sizeof(path), "%s/green.png", w->dir);
    snprintf(uri, sizeof(uri), "file://%s", path);
    write_png(path, 40, 20, 0x00ff00); /* left half green, right half clear */
    run_for(w, 500);
    /* over the face: its left half green, from the face's top-left corner */
    const char *set[] = { uri, "0", "0", "1", "1" };
    assert_int_equal(invoke(w, "setOverlayedImage", set, 5), 0);
    run_for(w, 2000);
    assert_int_not_equal(w->last_ssrc, SRC_SSRC);
    int y, u, v;
    mean_yuv(&w->last, 128, 40, 14, 30, &y, &u, &v);
    if (!(u < 100 && v < 100))
        fail_msg("the face's left half shows Y%d U%d V%d, not green", y, u, v);
    mean_yuv(&w->last, 44, 180, 30, 30, &y, &u, &v); /* the suit, far from the face */
    assert_false(u < 100 && v < 100);
    const char *bad[] = { uri, "0", "0", "0", "1" };
    assert_int_equal(invoke(w, "setOverlayedImage", bad, 5), FL_EINVAL);
    assert_int_equal(invoke(w, "unsetOverlayedImage", NULL, 0), 0);
    run_for(w, 2500);
    assert_int_equal(w->last_ssrc, SRC_SSRC);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zbar),
        cmocka_unit_test(test_image_overlay),
        cmocka_unit_test(test_face_overlay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
