/* Fuzzes container/mp4_demux.c through fl_demux: the input is the file,
 * after two control bytes.
 *
 * Byte 0: bit 0 the size is unknown (a stream), bit 1 the bytes come in
 * random pieces (fewer than wanted when the size is known, more
 * otherwise) instead of exactly what is wanted, bits 2-7 the pieces'
 * seed. Byte 1: bit 7 a seek, after (bits 0-3) frames, to (bits 4-6) x
 * 0.5 s.
 *
 * Every frame's bytes are read (ASan sees a read outside what was given),
 * its track must be one the info lists and its length at least 1. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "container/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint32_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0], ctl = data[1];
    const uint8_t *file = data + 2;
    size_t len = size - 2;
    int64_t fsize = (mode & 1) ? -1 : (int64_t)len;
    uint32_t rng = (uint32_t)(mode >> 2) * 2654435761u + 1;
    fl_demux *d;
    if (fl_demux_create(&d, &(fl_demux_config){ .size = fsize }) != 0)
        abort();
    size_t frames = 0;
    int seeked = !(ctl & 0x80);
    for (int guard = 0; guard < 200000; guard++) {
        if (!seeked && frames == (size_t)(ctl & 0x0f)) {
            seeked = 1;
            int rc = fl_demux_seek(d, (int64_t)((ctl >> 4) & 7) * 500000);
            if (rc != 0 && rc != FL_ENOTSUP && rc != FL_ERANGE && rc != FL_EBADMSG)
                abort();
        }
        fl_demux_frame f;
        int rc = fl_demux_read(d, &f);
        if (rc == 1) {
            const fl_demux_info *info = fl_demux_info_get(d);
            if (!fl_demux_ready(d) || f.track >= info->ntracks || !f.data || f.len == 0)
                abort();
            uint32_t sum = 0;
            for (size_t i = 0; i < f.len; i++)
                sum += f.data[i];
            sink = sum;
            frames++;
            continue;
        }
        if (rc != FL_EAGAIN) {
            if (rc != FL_EOF && rc != FL_EBADMSG && rc != FL_ENOTSUP)
                abort();
            break;
        }
        int64_t off;
        size_t want;
        fl_demux_want(d, &off, &want);
        if (off < 0 || want == 0)
            abort();
        size_t n = want;
        if (mode & 2) {
            rng = rng * 1103515245u + 12345u;
            n = (fsize >= 0 ? 1 : want) + (rng >> 8) % (2 * want);
        }
        if ((uint64_t)off >= len)
            n = 0;
        else if (n > len - (size_t)off)
            n = len - (size_t)off;
        if (fl_demux_feed(d, off, n ? file + off : NULL, n) != 0)
            break; /* FL_ENOMEM */
    }
    fl_demux_destroy(d);
    return 0;
}
