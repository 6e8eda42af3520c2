/* Placeholder until the HTTP client lands (this session): refuses. */
#include "base/err.h"
#include "engine/player_src.h"

int fl__bytes_http_open(fl__bytes **out,
                        uv_loop_t *loop,
                        const char *uri,
                        const char *ca_file,
                        const fl__bytes_cb *cb,
                        void *arg)
{
    (void)out;
    (void)loop;
    (void)uri;
    (void)ca_file;
    (void)cb;
    (void)arg;
    return FL_ENOTSUP;
}
