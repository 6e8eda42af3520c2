/* Fuzzes codec/audio's decoders. The first byte picks the decoder (Opus,
 * PCMU, PCMA: the low bits mod 3) and the channels out (bit 7: stereo);
 * then packets as records |len|bytes| (a cut-short record as it is); a
 * record of length 0 is a lost packet (concealment, data NULL). Checks
 * the results: samples within the room given, FL_EBADMSG or FL_EINVAL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "codec/coder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fl_codec_kind kinds[] = { FL_CODEC_OPUS, FL_CODEC_PCMU, FL_CODEC_PCMA };

static int16_t pcm[FL_AUDIO_MAX_FRAME * 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fl_adec *d;
    int ch = data[0] & 0x80 ? 2 : 1;
    if (fl_adec_create(&d, kinds[(data[0] & 0x7f) % 3], ch) != 0)
        abort();
    size_t at = 1;
    while (at < size) {
        size_t len = data[at++];
        if (len > size - at)
            len = size - at;
        uint8_t *pkt = malloc(len ? len : 1);
        if (!pkt)
            abort();
        for (size_t i = 0; i < len; i++)
            pkt[i] = data[at + i];
        /* the room varies with the packet: a small one for G.711's check */
        size_t cap = len && (data[at] & 1) ? 160 : FL_AUDIO_MAX_FRAME;
        int r = fl_adec_decode(d, len ? pkt : NULL, len, pcm, cap);
        if (r >= 0) {
            if ((size_t)r > cap)
                abort();
            volatile int16_t sink = r ? pcm[(size_t)r * (size_t)ch - 1] : 0;
            (void)sink;
        } else if (r != FL_EBADMSG && r != FL_EINVAL) {
            abort();
        }
        free(pkt);
        at += len;
    }
    fl_adec_destroy(d);
    return 0;
}
