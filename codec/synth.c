/* Deterministic synthetic sources for clips: a moving test picture and a
 * tone stepping through notes. Pure functions of the frame or sample index. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "codec/codec_int.h"

#define PI 3.14159265358979323846

int fl__yuv_alloc(fl__yuv *f, int width, int height)
{
    int cw = (width + 1) / 2, ch = (height + 1) / 2;
    size_t ysz = (size_t)width * (size_t)height, csz = (size_t)cw * (size_t)ch;
    uint8_t *p = malloc(ysz + 2 * csz);
    if (!p)
        return FL_ENOMEM;
    f->width = width;
    f->height = height;
    f->plane[0] = p;
    f->plane[1] = p + ysz;
    f->plane[2] = p + ysz + csz;
    f->stride[0] = width;
    f->stride[1] = cw;
    f->stride[2] = cw;
    return 0;
}

void fl__yuv_free(fl__yuv *f)
{
    free(f->plane[0]);
    f->plane[0] = f->plane[1] = f->plane[2] = NULL;
}

/* A small integer hash (lowbias32) for the grain. */
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* 0..range..0 as v grows: a bouncing position. */
static int bounce(unsigned v, int range)
{
    if (range <= 0)
        return 0;
    unsigned period = 2u * (unsigned)range;
    unsigned t = v % period;
    return t < (unsigned)range ? (int)t : (int)(period - t);
}

static void fill_rect(fl__yuv *f, int x0, int y0, int w, int h, int y, int u, int v)
{
    for (int yy = y0; yy < y0 + h && yy < f->height; yy++)
        for (int xx = x0; xx < x0 + w && xx < f->width; xx++)
            f->plane[0][yy * f->stride[0] + xx] = (uint8_t)y;
    for (int yy = y0 / 2; yy < (y0 + h + 1) / 2 && yy < (f->height + 1) / 2; yy++)
        for (int xx = x0 / 2; xx < (x0 + w + 1) / 2 && xx < (f->width + 1) / 2; xx++) {
            f->plane[1][yy * f->stride[1] + xx] = (uint8_t)u;
            f->plane[2][yy * f->stride[2] + xx] = (uint8_t)v;
        }
}

/* Drifting diagonal luma gradient with a little grain, slowly turning chroma. */
static void draw_background(fl__yuv *f, unsigned index)
{
    for (int y = 0; y < f->height; y++) {
        uint8_t *row = f->plane[0] + y * f->stride[0];
        for (int x = 0; x < f->width; x++) {
            unsigned t = ((unsigned)(2 * x + y) + index * 4u) & 511u;
            int tri = t < 256 ? (int)t : 511 - (int)t;
            uint32_t h = hash32((uint32_t)(y * f->width + x) ^ (index * 0x9e3779b9U));
            int grain = (int)(h & 7u) - 4;
            int v = 16 + tri * 219 / 255 + grain;
            row[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    int cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            f->plane[1][y * f->stride[1] + x] = (uint8_t)(96 + (x * 64 / cw + (int)index) % 64);
            f->plane[2][y * f->stride[2] + x] = (uint8_t)(96 + (y * 64 / ch + (int)index / 2) % 64);
        }
}

/* 3x5 digits, row-major, top row in the high bits. */
static const uint16_t font[10] = {
    075557, 026227, 071747, 071717, 055711, 074717, 074757, 071222, 075757, 075717,
};

static void draw_number(fl__yuv *f, unsigned n, int x0, int y0, int scale)
{
    char digits[10];
    int nd = 0;
    do {
        digits[nd++] = (char)(n % 10);
        n /= 10;
    } while (n && nd < 10);
    fill_rect(f, x0, y0, (nd * 4 + 1) * scale, 7 * scale, 16, 128, 128);
    for (int i = 0; i < nd; i++) {
        uint16_t g = font[(int)digits[nd - 1 - i]];
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (g & (1u << (14 - (r * 3 + c))))
                    fill_rect(f, x0 + (1 + i * 4 + c) * scale, y0 + (1 + r) * scale, scale, scale,
                              235, 128, 128);
    }
}

void fl__synth_picture(fl__yuv *f, unsigned index)
{
    draw_background(f, index);
    int side = f->height / 5 > 4 ? f->height / 5 : 4;
    int sx = bounce(index * 7u, f->width - side), sy = bounce(index * 5u, f->height - side);
    fill_rect(f, sx, sy, side, side, 200, 80, 200);
    fill_rect(f, sx + side / 4, sy + side / 4, side / 2, side / 2, 60, 180, 90);
    int scale = f->height / 80 > 1 ? f->height / 80 : 1;
    draw_number(f, index, 2 * scale, 2 * scale, scale);
}

/* Notes of 250 ms: an arpeggio up and down from A3, in semitones. */
#define NOTE_SAMPLES 12000u
#define FADE_SAMPLES 240u
static const int notes[8] = { 0, 4, 7, 12, 16, 12, 7, 4 };

void fl__synth_tone(int16_t *pcm, size_t samples, uint64_t start)
{
    for (size_t i = 0; i < samples; i++) {
        uint64_t n = start + i;
        unsigned pos = (unsigned)(n % NOTE_SAMPLES);
        int note = notes[(n / NOTE_SAMPLES) % 8];
        double freq = 220.0 * pow(2.0, note / 12.0);
        double env = 1.0;
        if (pos < FADE_SAMPLES)
            env = pos / (double)FADE_SAMPLES;
        else if (NOTE_SAMPLES - pos < FADE_SAMPLES)
            env = (NOTE_SAMPLES - pos) / (double)FADE_SAMPLES;
        double t = pos / 48000.0;
        double amp = 0.3 * 32767.0 * env;
        pcm[2 * i] = (int16_t)lrint(amp * sin(2.0 * PI * freq * t));
        pcm[2 * i + 1] = (int16_t)lrint(amp * sin(2.0 * PI * freq * 1.5 * t));
    }
}
