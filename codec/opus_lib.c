/* The libopus wrapper: a 48 kHz stereo encoder. The only file that includes libopus. */
#include <stdint.h>
#include <stdlib.h>

#include <opus/opus.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/codec_int.h"

FL_LOG_TAG("codec");

struct fl__opus_enc {
    OpusEncoder *enc;
};

int fl__opus_enc_create(fl__opus_enc **out, int kbps)
{
    fl__opus_enc *e = calloc(1, sizeof(*e));
    if (!e)
        return FL_ENOMEM;
    int err = OPUS_OK;
    e->enc = opus_encoder_create(48000, 2, OPUS_APPLICATION_AUDIO, &err);
    if (!e->enc || err != OPUS_OK) {
        fl_log(FL_LOG_WARN, "opus encoder: %s", opus_strerror(err));
        free(e);
        return err == OPUS_ALLOC_FAIL ? FL_ENOMEM : FL_EIO;
    }
    err = opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(kbps * 1000));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(e->enc, OPUS_SET_VBR(1));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_MUSIC));
    if (err != OPUS_OK) {
        fl_log(FL_LOG_WARN, "opus encoder ctl: %s", opus_strerror(err));
        opus_encoder_destroy(e->enc);
        free(e);
        return FL_EIO;
    }
    *out = e;
    return 0;
}

int fl__opus_enc_encode(fl__opus_enc *e, const int16_t *pcm, int samples, uint8_t *out, size_t cap)
{
    opus_int32 max = cap > 4000 ? 4000 : (opus_int32)cap;
    opus_int32 n = opus_encode(e->enc, pcm, samples, out, max);
    if (n <= 0) {
        fl_log(FL_LOG_WARN, "opus encode: %s", n < 0 ? opus_strerror(n) : "empty");
        return FL_EIO;
    }
    return (int)n;
}

void fl__opus_enc_destroy(fl__opus_enc *e)
{
    if (!e)
        return;
    opus_encoder_destroy(e->enc);
    free(e);
}
