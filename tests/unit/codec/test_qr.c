/* codec/qr.h: a QR code made by qrencode, on a 640x480 grey frame, is read
 * once with its exact text and type "QR-Code"; two codes in a frame are
 * both read; an EAN-13 bar code drawn here is read too (the 1-D
 * symbologies are on); a frame without a code gives 0 and no callback; a
 * stride wider than the picture reads the same; bad arguments give
 * FL_EINVAL; two threads with a scanner each read at the same time.
 * Prints the scan time of a 640x480 frame. The repository's root is the
 * working directory. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "codec/qr.h"

#include <cmocka.h>

#define W    640
#define H    480
#define GREY 128
#define TEXT "fluo filter test 21"

/* What the callback saw. */
struct seen {
    int calls;
    char type[4][32];
    char value[4][128];
    size_t len[4];
};

static void on_code(void *arg, const char *type, const uint8_t *value, size_t len)
{
    struct seen *s = arg;
    assert_non_null(type);
    assert_non_null(value);
    if (s->calls < 4) {
        snprintf(s->type[s->calls], sizeof(s->type[0]), "%s", type);
        assert_true(len < sizeof(s->value[0]));
        memcpy(s->value[s->calls], value, len);
        s->value[s->calls][len] = '\0';
        s->len[s->calls] = len;
    }
    s->calls++;
}

/* A QR code of text (qrencode: 8 pixels a module, a 4-module margin) as
 * grey pixels, *side x *side. */
static uint8_t *qr_picture(const char *text, int *side)
{
    char cmd[512];
    snprintf(
            cmd, sizeof(cmd),
            "qrencode -o - -t PNG -s 8 -m 4 '%s' | ffmpeg -v error -f png_pipe -i - -f rawvideo -pix_fmt gray -",
            text);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1024 * 1024, len = 0, got;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + len, 1, cap - len, p)) > 0)
        len += got;
    assert_int_equal(pclose(p), 0);
    *side = (int)lround(sqrt((double)len));
    assert_true(*side > 8 * 21);
    assert_int_equal((size_t)*side * (size_t)*side, len);
    return buf;
}

/* src (side x side) copied onto the frame at (x, y). */
static void place(uint8_t *frame, int stride, const uint8_t *src, int side, int x, int y)
{
    assert_true(x + side <= W && y + side <= H);
    for (int r = 0; r < side; r++)
        memcpy(frame + (size_t)(y + r) * stride + x, src + (size_t)r * side, side);
}

static uint8_t *grey_frame(int stride)
{
    uint8_t *f = malloc((size_t)stride * H);
    assert_non_null(f);
    memset(f, GREY, (size_t)stride * H);
    return f;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void one_code(void **state)
{
    (void)state;
    int side;
    uint8_t *qr = qr_picture(TEXT, &side);
    uint8_t *frame = grey_frame(W);
    place(frame, W, qr, side, 200, 100);
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(&s), 0);
    struct seen seen = { 0 };
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 1);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.type[0], "QR-Code");
    assert_int_equal(seen.len[0], strlen(TEXT));
    assert_string_equal(seen.value[0], TEXT);

    /* again, the same (nothing kept from the last scan), and without fn */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 1);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.value[0], TEXT);
    assert_int_equal(fl_code_scan(s, frame, W, H, W, NULL, NULL), 1);

    int runs = 20;
    double t0 = now();
    for (int i = 0; i < runs; i++)
        assert_int_equal(fl_code_scan(s, frame, W, H, W, NULL, NULL), 1);
    print_message("code scan, 640x480 with a QR code: %.2f ms a frame\n",
                  (now() - t0) * 1e3 / runs);

    /* the code gone: nothing */
    memset(frame, GREY, W * H);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 0);
    assert_int_equal(seen.calls, 0);
    fl_code_scanner_destroy(s);
    free(frame);
    free(qr);
}

static void two_codes(void **state)
{
    (void)state;
    int a_side, b_side;
    uint8_t *a = qr_picture("first code", &a_side);
    uint8_t *b = qr_picture("https://example.com/second?code=2", &b_side);
    uint8_t *frame = grey_frame(W);
    place(frame, W, a, a_side, 10, 40);
    place(frame, W, b, b_side, W - b_side - 10, H - b_side - 10);
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(&s), 0);
    struct seen seen = { 0 };
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 2);
    assert_int_equal(seen.calls, 2);
    int first = strcmp(seen.value[0], "first code") == 0 ? 0 : 1;
    assert_string_equal(seen.value[first], "first code");
    assert_string_equal(seen.value[1 - first], "https://example.com/second?code=2");
    assert_string_equal(seen.type[0], "QR-Code");
    assert_string_equal(seen.type[1], "QR-Code");
    fl_code_scanner_destroy(s);
    free(frame);
    free(b);
    free(a);
}

/* EAN-13: the first digit picks the left half's parities (L or G), the
 * right half is in R; guards 101, 01010, 101; 95 modules. */
static const char *const ean_l[10] = { "0001101", "0011001", "0010011", "0111101", "0100011",
                                       "0110001", "0101111", "0111011", "0110111", "0001011" };
static const char *const ean_g[10] = { "0100111", "0110011", "0011011", "0100001", "0011101",
                                       "0111001", "0000101", "0010001", "0001001", "0010111" };
static const char *const ean_r[10] = { "1110010", "1100110", "1101100", "1000010", "1011100",
                                       "1001110", "1010000", "1000100", "1001000", "1110100" };
static const char *const ean_parity[10] = { "LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
                                            "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL" };

/* The 13 digits of twelve and its check digit, and its 95 modules. */
static void ean13(const char *twelve, char digits[14], char modules[96])
{
    int sum = 0;
    for (int i = 0; i < 12; i++)
        sum += (twelve[i] - '0') * (i % 2 ? 3 : 1);
    snprintf(digits, 14, "%s%d", twelve, (10 - sum % 10) % 10);
    strcpy(modules, "101");
    for (int i = 1; i <= 6; i++) {
        int d = digits[i] - '0';
        strcat(modules, ean_parity[digits[0] - '0'][i - 1] == 'L' ? ean_l[d] : ean_g[d]);
    }
    strcat(modules, "01010");
    for (int i = 7; i <= 12; i++)
        strcat(modules, ean_r[digits[i] - '0']);
    strcat(modules, "101");
    assert_int_equal(strlen(modules), 95);
}

static void bar_code(void **state)
{
    (void)state;
    char digits[14], modules[96];
    ean13("400638133393", digits, modules);
    uint8_t *frame = grey_frame(W);
    /* white with 12 modules of quiet zone each side, 3 pixels a module */
    int x0 = 100, y0 = 150, px = 3;
    for (int y = y0; y < y0 + 150; y++)
        memset(frame + (size_t)y * W + x0, 255, (95 + 24) * px);
    for (int y = y0 + 15; y < y0 + 135; y++)
        for (int m = 0; m < 95; m++)
            if (modules[m] == '1')
                memset(frame + (size_t)y * W + x0 + (12 + m) * px, 0, px);
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(&s), 0);
    struct seen seen = { 0 };
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 1);
    assert_string_equal(seen.type[0], "EAN-13");
    assert_string_equal(seen.value[0], digits);
    fl_code_scanner_destroy(s);
    free(frame);
}

static void no_code(void **state)
{
    (void)state;
    uint8_t *frame = grey_frame(W);
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(&s), 0);
    struct seen seen = { 0 };
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 0);
    uint32_t x = 777; /* noise */
    for (size_t i = 0; i < W * H; i++) {
        x = x * 1103515245u + 12345u;
        frame[i] = (uint8_t)(x >> 24);
    }
    assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 0);
    int runs = 20;
    double t0 = now();
    for (int i = 0; i < runs; i++)
        assert_int_equal(fl_code_scan(s, frame, W, H, W, on_code, &seen), 0);
    print_message("code scan, 640x480 of noise: %.2f ms a frame\n", (now() - t0) * 1e3 / runs);
    assert_int_equal(fl_code_scan(s, frame, 1, 1, 1, on_code, &seen), 0);
    assert_int_equal(seen.calls, 0);
    fl_code_scanner_destroy(s);
    free(frame);
}

/* Rows further apart than the width (odd), junk between them. */
static void wide_stride(void **state)
{
    (void)state;
    int side, stride = W + 61;
    uint8_t *qr = qr_picture(TEXT, &side);
    uint8_t *frame = grey_frame(stride);
    for (int y = 0; y < H; y++)
        for (int x = W; x < stride; x++)
            frame[(size_t)y * stride + x] = (uint8_t)((x * 31 + y * 17) & 1 ? 0 : 255);
    place(frame, stride, qr, side, W - side, H - side); /* against the junk */
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(&s), 0);
    struct seen seen = { 0 };
    assert_int_equal(fl_code_scan(s, frame, W, H, stride, on_code, &seen), 1);
    assert_string_equal(seen.type[0], "QR-Code");
    assert_string_equal(seen.value[0], TEXT);
    /* a smaller picture then (the copy's buffer is reused), then contiguous */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(fl_code_scan(s, frame, 100, 100, stride, on_code, &seen), 0);
    uint8_t *flat = grey_frame(W);
    place(flat, W, qr, side, 0, 0);
    assert_int_equal(fl_code_scan(s, flat, W, H, W, on_code, &seen), 1);
    assert_string_equal(seen.value[0], TEXT);
    fl_code_scanner_destroy(s);
    free(flat);
    free(frame);
    free(qr);
}

static void bad_arguments(void **state)
{
    (void)state;
    fl_code_scanner *s = NULL;
    assert_int_equal(fl_code_scanner_create(NULL), FL_EINVAL);
    assert_int_equal(fl_code_scanner_create(&s), 0);
    uint8_t px[64 * 64] = { 0 };
    assert_int_equal(fl_code_scan(NULL, px, 64, 64, 64, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, NULL, 64, 64, 64, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, px, 0, 64, 64, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, px, 64, -3, 64, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, px, 64, 64, 32, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, px, 10000, 1, 10000, NULL, NULL), FL_EINVAL);
    assert_int_equal(fl_code_scan(s, px, 64, 64, 64, NULL, NULL), 0);
    fl_code_scanner_destroy(s);
    fl_code_scanner_destroy(NULL);
}

struct scan_job {
    const uint8_t *frame;
    int ok; /* scans that read TEXT alone */
};

/* on_code without cmocka's asserts (they belong to the main thread) */
static void on_code_quiet(void *arg, const char *type, const uint8_t *value, size_t len)
{
    struct seen *s = arg;
    if (s->calls < 4 && len < sizeof(s->value[0])) {
        snprintf(s->type[s->calls], sizeof(s->type[0]), "%s", type);
        memcpy(s->value[s->calls], value, len);
        s->value[s->calls][len] = '\0';
        s->len[s->calls] = len;
    }
    s->calls++;
}

static void *own_scanner_job(void *arg)
{
    struct scan_job *j = arg;
    fl_code_scanner *s = NULL;
    if (fl_code_scanner_create(&s) != 0)
        return NULL;
    for (int i = 0; i < 10; i++) {
        struct seen seen = { 0 };
        if (fl_code_scan(s, j->frame, W, H, W, on_code_quiet, &seen) == 1 && seen.calls == 1 &&
            strcmp(seen.value[0], TEXT) == 0)
            j->ok++;
    }
    fl_code_scanner_destroy(s);
    return NULL;
}

/* Two codec threads, each with its own scanner, at the same time. */
static void two_threads(void **state)
{
    (void)state;
    int side;
    uint8_t *qr = qr_picture(TEXT, &side);
    uint8_t *frame = grey_frame(W);
    place(frame, W, qr, side, 300, 200);
    struct scan_job jobs[2] = { { frame, 0 }, { frame, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, own_scanner_job, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].ok, 10);
    }
    free(frame);
    free(qr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_code),    cmocka_unit_test(two_codes),
        cmocka_unit_test(bar_code),    cmocka_unit_test(no_code),
        cmocka_unit_test(wide_stride), cmocka_unit_test(bad_arguments),
        cmocka_unit_test(two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
