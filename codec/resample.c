/* Audio resampling: a Kaiser-windowed sinc low-pass evaluated at the exact
 * fractional position of each output sample (a table of PHASES phases,
 * interpolated linearly between the two nearest), and channel conversion.
 *
 * Time is kept exactly: the position of the next output sample is an
 * integer input index and a fraction in units of 1/out_rate, so a stream of
 * any length never drifts. The cut-off sits at ROLLOFF of the lower Nyquist
 * frequency; the kernel spans ZEROS zero crossings of the sinc each side,
 * which gives about 80 dB of stop band with a Kaiser beta of 8. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "codec/coder.h"

#define PHASES  128
#define ZEROS   16
#define ROLLOFF 0.9
#define BETA    8.0
#define PI      3.14159265358979323846

struct fl_resampler {
    int in_rate, out_rate, channels;
    int half;       /* kernel half-width, input samples */
    int taps;       /* 2 * half */
    float *coef;    /* (PHASES + 1) rows of taps */
    float *buf[2];  /* per channel: taps of history, then the call's input */
    size_t buf_cap; /* frames each buf holds */
    size_t at;      /* buffer index of the next output's centre */
    uint32_t frac;  /* and its fraction, in 1/out_rate */
};

/* Modified Bessel function of the first kind, order 0 (its series). */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 50; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-12)
            break;
    }
    return sum;
}

/* Row p holds the kernel for a centre p / PHASES of an input sample past
 * index half - 1 of the window: tap k weighs the sample at offset
 * k - (half - 1) - p / PHASES from the centre. */
static void make_table(fl_resampler *r)
{
    double ratio = r->out_rate < r->in_rate ? (double)r->out_rate / r->in_rate : 1.0;
    double fc = ROLLOFF * ratio; /* twice the cut-off, in cycles per input sample */
    double i0b = bessel_i0(BETA);
    for (int p = 0; p <= PHASES; p++) {
        float *row = r->coef + (size_t)p * (size_t)r->taps;
        for (int k = 0; k < r->taps; k++) {
            double x = (double)(k - (r->half - 1)) - (double)p / PHASES;
            double w = x / r->half;
            double win = fabs(w) >= 1.0 ? 0.0 : bessel_i0(BETA * sqrt(1.0 - w * w)) / i0b;
            double arg = PI * fc * x;
            double sinc = fabs(arg) < 1e-12 ? 1.0 : sin(arg) / arg;
            row[k] = (float)(fc * sinc * win);
        }
    }
}

int fl_resampler_create(fl_resampler **out, int in_rate, int out_rate, int channels)
{
    if (!out || in_rate < 8000 || in_rate > 192000 || out_rate < 8000 || out_rate > 192000 ||
        (channels != 1 && channels != 2))
        return FL_EINVAL;
    fl_resampler *r = calloc(1, sizeof(*r));
    if (!r)
        return FL_ENOMEM;
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    r->channels = channels;
    if (in_rate != out_rate) {
        double ratio = out_rate < in_rate ? (double)out_rate / in_rate : 1.0;
        r->half = (int)ceil(ZEROS / (ROLLOFF * ratio));
        r->taps = 2 * r->half;
        r->coef = malloc((size_t)(PHASES + 1) * (size_t)r->taps * sizeof(float));
        if (!r->coef) {
            free(r);
            return FL_ENOMEM;
        }
        make_table(r);
        /* Output 0 is centred on input -half: the filter's delay. */
        r->at = (size_t)r->half;
    }
    *out = r;
    return 0;
}

void fl_resampler_destroy(fl_resampler *r)
{
    if (!r)
        return;
    free(r->coef);
    free(r->buf[0]);
    free(r->buf[1]);
    free(r);
}

/* Grows the buffers to taps + frames (keeping the history). */
static int reserve(fl_resampler *r, size_t frames)
{
    size_t need = (size_t)r->taps + frames;
    if (need <= r->buf_cap)
        return 0;
    for (int c = 0; c < r->channels; c++) {
        float *b = realloc(r->buf[c], need * sizeof(float));
        if (!b)
            return FL_ENOMEM;
        if (r->buf_cap == 0)
            memset(b, 0, (size_t)r->taps * sizeof(float));
        r->buf[c] = b;
    }
    r->buf_cap = need;
    return 0;
}

static int16_t to_s16(float v)
{
    long s = lrintf(v);
    return (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
}

/* One output sample of one channel: the window starts at buffer index
 * at - (half - 1); the fraction picks and blends two table rows. */
static float filter_at(const fl_resampler *r, const float *b, size_t at, uint32_t frac)
{
    uint64_t pos = (uint64_t)frac * PHASES;
    size_t p = (size_t)(pos / (uint64_t)r->out_rate);
    float a = (float)(pos % (uint64_t)r->out_rate) / (float)r->out_rate;
    const float *c0 = r->coef + p * (size_t)r->taps, *c1 = c0 + r->taps;
    const float *x = b + at - (size_t)(r->half - 1);
    float s0 = 0.0f, s1 = 0.0f;
    for (int k = 0; k < r->taps; k++) {
        s0 += c0[k] * x[k];
        s1 += c1[k] * x[k];
    }
    return s0 + a * (s1 - s0);
}

size_t fl_resample(fl_resampler *r,
                   const int16_t *in,
                   size_t in_frames,
                   int16_t *out,
                   size_t out_cap)
{
    if (!r || !in || !out)
        return 0;
    int ch = r->channels;
    if (r->in_rate == r->out_rate) {
        size_t n = in_frames < out_cap ? in_frames : out_cap;
        memcpy(out, in, n * (size_t)ch * sizeof(*out));
        return n;
    }
    if (reserve(r, in_frames) != 0)
        return 0;
    size_t taps = (size_t)r->taps, end = taps + in_frames;
    for (int c = 0; c < ch; c++)
        for (size_t i = 0; i < in_frames; i++)
            r->buf[c][taps + i] = (float)in[i * (size_t)ch + (size_t)c];
    size_t n = 0;
    uint32_t step_int = (uint32_t)(r->in_rate / r->out_rate);
    uint32_t step_frac = (uint32_t)(r->in_rate % r->out_rate);
    /* The window of the centre at ends at at + half. */
    while (r->at + (size_t)r->half < end && n < out_cap) {
        for (int c = 0; c < ch; c++)
            out[n * (size_t)ch + (size_t)c] = to_s16(filter_at(r, r->buf[c], r->at, r->frac));
        n++;
        r->at += step_int;
        r->frac += step_frac;
        if (r->frac >= (uint32_t)r->out_rate) {
            r->frac -= (uint32_t)r->out_rate;
            r->at++;
        }
    }
    /* Keep the last taps frames as the next call's history. */
    for (int c = 0; c < ch; c++)
        memmove(r->buf[c], r->buf[c] + in_frames, taps * sizeof(float));
    /* A cap too small stopped early: the input left is skipped. */
    r->at = r->at >= in_frames + (size_t)r->half ? r->at - in_frames : (size_t)r->half;
    return n;
}

void fl_pcm_channels(const int16_t *in, int in_ch, int16_t *out, int out_ch, size_t frames)
{
    if (in_ch == out_ch) {
        memcpy(out, in, frames * (size_t)in_ch * sizeof(*out));
    } else if (in_ch == 2 && out_ch == 1) {
        for (size_t i = 0; i < frames; i++)
            out[i] = (int16_t)(((int)in[2 * i] + (int)in[2 * i + 1]) / 2);
    } else if (in_ch == 1 && out_ch == 2) {
        for (size_t i = 0; i < frames; i++)
            out[2 * i] = out[2 * i + 1] = in[i];
    }
}
