/* Fuzzes the Kurento Protocol layer: each input is one WebSocket message from
 * a client, run through JSON-RPC parsing, session handling and dispatch
 * against the real engine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "rpc/rpc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static fl_engine *engine;
static fl_rpc *rpc;
static client *cl;

static void drop(void *arg, const char *text)
{
    (void)arg;
    (void)text;
}

static void init(void)
{
    fl_log_configure("*:0");
    uv_loop_init(&loop);
    fl_engine_config ecfg = { .workers = 1, .callback_loop = &loop };
    if (fl_engine_create(&engine, &ecfg) != 0)
        abort();
    static fl_rpc_config cfg;
    fl_rpc_config_init(&cfg);
    cfg.port = 0;
    cfg.bind_addr = strdup("127.0.0.1");
    cfg.gc_period = 1; /* sessions of retired clients go, so memory stays bounded */
    if (fl_rpc_create(&rpc, &loop, engine, &cfg) != 0)
        abort();
    cl = fl__client_detached(rpc, drop, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;
    if (!rpc)
        init();
    if (++runs % 500 == 0) {
        fl__client_close(cl);
        cl = fl__client_detached(rpc, drop, NULL);
    }
    fl__client_feed(cl, (const char *)data, size);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
