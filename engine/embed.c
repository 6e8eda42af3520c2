/* What <fluo.h> gives embedders beyond the engine's calls: the version of
 * the library that runs, and the media packets an AppSink hands over. */
#include "base/buf.h"
#include "engine/fluo.h"

unsigned fl_version(void)
{
    return FLUO_VERSION_HEX;
}

const char *fl_version_string(void)
{
    return FLUO_VERSION;
}

const uint8_t *fl_packet_data(const fl_buf *buf)
{
    return buf->data + buf->off;
}

size_t fl_packet_len(const fl_buf *buf)
{
    return buf->len;
}

fl_buf *fl_packet_ref(fl_buf *buf)
{
    return fl_buf_ref(buf);
}

void fl_packet_unref(fl_buf *buf)
{
    fl_buf_unref(buf);
}
