/* fl_demux: the window of file bytes every format reads through
 * (fl__demux_get), the format found from the first bytes, then each
 * format's parser behind fl__demux_ops. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "container/container.h"
#include "container/container_int.h"

/* Bytes looked at to tell the format. */
#define SNIFF_LEN 12

struct fl_demux {
    fl__demux_io io;
    fl_demux_info info;
    int ready;
    int err; /* sticky: FL_EBADMSG, FL_ENOTSUP, FL_ENOMEM */
    const fl__demux_ops *ops;
    void *impl;
};

int fl__demux_get(fl__demux_io *io, int64_t offset, size_t n, const uint8_t **p)
{
    if (offset < 0 || n == 0 || n > FL_DEMUX_MAX_UNIT)
        return FL_EBADMSG;
    if ((io->size >= 0 && offset + (int64_t)n > io->size) ||
        (io->end >= 0 && offset + (int64_t)n > io->end))
        return FL_EOF;
    if (offset >= io->off && offset + (int64_t)n <= io->off + (int64_t)io->len) {
        *p = io->buf + (offset - io->off);
        return 0;
    }
    io->want_off = offset;
    io->want_len = n;
    /* keep what is held from offset on: the feed will continue it */
    if (offset >= io->off && offset <= io->off + (int64_t)io->len) {
        size_t drop = (size_t)(offset - io->off);
        if (drop)
            memmove(io->buf, io->buf + drop, io->len - drop);
        io->len -= drop;
        io->off = offset;
        io->want_off = io->off + (int64_t)io->len;
        io->want_len = n - io->len;
    } else {
        io->len = 0;
        io->off = offset;
    }
    return FL_EAGAIN;
}

int fl__demux_get_some(fl__demux_io *io, int64_t offset, size_t n, const uint8_t **p, size_t *got)
{
    int64_t end = io->size >= 0 ? io->size : io->end;
    if (end >= 0 && io->end >= 0 && io->end < end)
        end = io->end;
    if (end >= 0) {
        if (offset >= end)
            return FL_EOF;
        if (offset + (int64_t)n > end)
            n = (size_t)(end - offset);
    }
    int rc = fl__demux_get(io, offset, n, p);
    if (rc == 0)
        *got = n;
    return rc;
}

int fl_demux_create(fl_demux **out, const fl_demux_config *cfg)
{
    if (!out || !cfg)
        return FL_EINVAL;
    fl_demux *d = calloc(1, sizeof(*d));
    if (!d)
        return FL_ENOMEM;
    d->io.size = cfg->size >= 0 ? cfg->size : -1;
    d->io.end = -1;
    d->info.duration_us = -1;
    *out = d;
    return 0;
}

void fl_demux_destroy(fl_demux *d)
{
    if (!d)
        return;
    if (d->ops)
        d->ops->destroy(d->impl);
    free(d->io.buf);
    free(d);
}

static int sniff(fl_demux *d)
{
    const uint8_t *p;
    size_t n;
    int rc = fl__demux_get_some(&d->io, 0, SNIFF_LEN, &p, &n);
    if (rc == FL_EOF)
        return FL_EBADMSG;
    if (rc < 0)
        return rc;
    if (n < 8) /* short of a box header or an EBML ID and size */
        return FL_EBADMSG;
    if (p[0] == 0x1A && p[1] == 0x45 && p[2] == 0xDF && p[3] == 0xA3) {
        d->info.format = FL_DEMUX_MATROSKA;
        return fl__mkv_demux_create(&d->impl, &d->ops);
    }
    static const char *const boxes[] = { "ftyp", "moov", "moof", "styp",
                                         "free", "skip", "mdat", "sidx" };
    for (size_t i = 0; i < sizeof(boxes) / sizeof(*boxes); i++) {
        if (memcmp(p + 4, boxes[i], 4) == 0) {
            d->info.format = FL_DEMUX_MP4;
            return fl__mp4_demux_create(&d->impl, &d->ops);
        }
    }
    return FL_ENOTSUP;
}

int fl_demux_read(fl_demux *d, fl_demux_frame *out)
{
    if (d->err)
        return d->err;
    int rc = 0;
    if (!d->ops)
        rc = sniff(d);
    if (rc == 0)
        rc = d->ops->read(d->impl, &d->io, &d->info, &d->ready, out);
    if (rc == FL_EBADMSG || rc == FL_ENOTSUP || rc == FL_ENOMEM)
        d->err = rc;
    return rc;
}

void fl_demux_want(const fl_demux *d, int64_t *offset, size_t *len)
{
    *offset = d->io.want_off;
    *len = d->io.want_len ? d->io.want_len : 1;
}

int fl_demux_feed(fl_demux *d, int64_t offset, const uint8_t *data, size_t n)
{
    fl__demux_io *io = &d->io;
    if (offset != io->off + (int64_t)io->len || (n == 0 && io->want_len == 0))
        return FL_EINVAL;
    /* a short read is the end of the file when its size is unknown or
     * reached; with a known size, bytes in pieces continue the window */
    if (n < io->want_len && (io->size < 0 || offset + (int64_t)n >= io->size))
        io->end = offset + (int64_t)n;
    if (n == 0)
        return 0;
    if (io->len + n > io->cap) {
        size_t cap = io->cap ? io->cap : 65536;
        while (cap < io->len + n)
            cap *= 2;
        uint8_t *b = realloc(io->buf, cap);
        if (!b)
            return FL_ENOMEM;
        io->buf = b;
        io->cap = cap;
    }
    memcpy(io->buf + io->len, data, n);
    io->len += n;
    io->want_off = io->off + (int64_t)io->len;
    io->want_len = 0;
    return 0;
}

int fl_demux_ready(const fl_demux *d)
{
    return d->ready;
}

const fl_demux_info *fl_demux_info_get(const fl_demux *d)
{
    return &d->info;
}

int fl_demux_seek(fl_demux *d, int64_t pts_us)
{
    if (d->err)
        return d->err;
    if (!d->ready || !d->info.seekable)
        return FL_ENOTSUP;
    if (pts_us < 0 || (d->info.duration_us >= 0 && pts_us > d->info.duration_us))
        return FL_ERANGE;
    return d->ops->seek(d->impl, &d->io, pts_us);
}
