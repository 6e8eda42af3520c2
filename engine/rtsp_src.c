/* Placeholder until the RTSP client lands (this session): refuses. */
#include "base/err.h"
#include "engine/player_src.h"

int fl__rtsp_open(fl__rtsp **out,
                  uv_loop_t *loop,
                  const char *uri,
                  fl__rtsp_transport transport,
                  const fl__rtsp_cb *cb,
                  void *arg)
{
    (void)out;
    (void)loop;
    (void)uri;
    (void)transport;
    (void)cb;
    (void)arg;
    return FL_ENOTSUP;
}

int fl__rtsp_play(fl__rtsp *r)
{
    (void)r;
    return FL_ESTATE;
}

int fl__rtsp_pause(fl__rtsp *r)
{
    (void)r;
    return FL_ESTATE;
}

int fl__rtsp_request_key_frame(fl__rtsp *r, size_t i)
{
    (void)r;
    (void)i;
    return FL_ENOTSUP;
}

void fl__rtsp_close(fl__rtsp *r)
{
    (void)r;
}
