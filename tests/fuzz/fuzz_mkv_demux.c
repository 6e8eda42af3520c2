/* Fuzzes container/mkv_demux.c (and demux.c's byte window) through
 * fl_demux: the input after its first 4 bytes is a file, read whole.
 *
 * Byte 0: bit 0 the file's size unknown (a stream), bits 1-7 seed the
 * sizes of the pieces it is fed in (1 byte to all of it, a stream at least
 * what is wanted); byte 1: after how many frames a seek is made (0: none);
 * bytes 2-3: where to, in ms (big endian).
 *
 * Checked: every code returned is one fl_demux_read promises, an error
 * repeats, every frame's bytes can be read whole (ASan) and name a track
 * of the header, and the reads end. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "container/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int stream = data[0] & 1;
    uint32_t seed = data[0] >> 1;
    size_t seek_after = data[1];
    int64_t seek_us = (int64_t)(data[2] << 8 | data[3]) * 1000;
    const uint8_t *file = data + 4;
    size_t n = size - 4;

    fl_demux *d;
    if (fl_demux_create(&d, &(fl_demux_config){ .size = stream ? -1 : (int64_t)n }) != 0)
        abort();
    size_t frames = 0;
    int rc;
    /* each byte is fed once, and a read either gives a frame or asks for
     * more; a seek may read the file again from its start */
    size_t budget = 64 + 16 * n;
    for (;;) {
        if (budget-- == 0)
            abort();
        fl_demux_frame fr;
        rc = fl_demux_read(d, &fr);
        if (rc == 1) {
            const fl_demux_info *info = fl_demux_info_get(d);
            if (!fl_demux_ready(d) || fr.track >= info->ntracks || fr.len == 0 || !fr.data)
                abort();
            uint8_t x = 0;
            for (size_t i = 0; i < fr.len; i++)
                x ^= fr.data[i];
            sink = x;
            if (++frames == seek_after) {
                int s = fl_demux_seek(d, seek_us);
                if (s != 0 && s != FL_ERANGE && s != FL_ENOTSUP)
                    abort();
                if (s == 0 && (stream || !info->seekable))
                    abort();
            }
            continue;
        }
        if (rc != FL_EAGAIN)
            break;
        int64_t off;
        size_t len;
        fl_demux_want(d, &off, &len);
        if (off < 0 || len == 0)
            abort();
        size_t avail = (uint64_t)off < n ? n - (size_t)off : 0;
        seed = seed * 1103515245u + 12345u;
        size_t k = (seed >> 16) % 4 == 0 ? avail : 1 + (seed >> 8) % 64;
        if (stream && k < len)
            k = len;
        if (k > avail)
            k = avail;
        if (fl_demux_feed(d, off, avail ? file + off : file, k) != 0)
            abort();
    }
    if (rc != FL_EOF && rc != FL_EBADMSG && rc != FL_ENOTSUP && rc != FL_ENOMEM)
        abort();
    fl_demux_frame fr;
    if (rc != FL_EOF && fl_demux_read(d, &fr) != rc)
        abort();
    fl_demux_destroy(d);
    return 0;
}
