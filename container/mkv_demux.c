/* Placeholder until the mkv demuxer lands (this session): refuses. */
#include "base/err.h"
#include "container/container_int.h"

int fl__mkv_demux_create(void **impl, const fl__demux_ops **ops)
{
    (void)impl;
    (void)ops;
    return FL_ENOTSUP;
}
