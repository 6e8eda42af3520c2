/* fluo: the media server daemon. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/fluo.h"
#include "rpc/rpc.h"

FL_LOG_TAG("main");

struct daemon {
    uv_loop_t loop;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    fl_engine *engine;
    fl_rpc *rpc;
    int stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: fluo [--config FILE] [--port N] [--log SPEC] [--gc-period SECONDS]\n"
               "            [--workers N] [--single-port 0|1] [--udp-port N] [--spread-from N]\n"
               "            [--whip-token TOKEN]\n"
               "  --config FILE      JSON configuration (Kurento's kurento.conf.json keys)\n"
               "  --port N           WebSocket/HTTP port (default 8888)\n"
               "  --log SPEC         log levels per module, e.g. ice:5,rpc:4,*:3\n"
               "  --gc-period S      seconds before objects of a closed session go (240)\n"
               "  --workers N        media worker threads (default: one per core)\n"
               "  --single-port 0|1  1 (default): the WebRtcEndpoints of a worker share one\n"
               "                     UDP port; 0: a port each from minPort-maxPort (Kurento's)\n"
               "  --udp-port N       worker i's shared port is N+i (default: a free port of\n"
               "                     minPort-maxPort)\n"
               "  --spread-from N    a pipeline of N elements (16) puts its next endpoints on\n"
               "                     the worker holding the fewest of them; 0: never\n"
               "  --whip-token T     bearer token of WHIP/WHEP requests (default: the access\n"
               "                     token, if any)\n"
               "Environment: KMS_MIN_PORT KMS_MAX_PORT KMS_STUN_IP KMS_STUN_PORT KMS_TURN_URL\n"
               "             KMS_EXTERNAL_IPV4 KMS_EXTERNAL_IPV6 KMS_NETWORK_INTERFACES\n");
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "fluo: %s takes an integer from %d to %d\n", flag, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int replace(char **field, const char *v)
{
    char *s = v ? strdup(v) : NULL;
    if (!s)
        return -1;
    free(*field);
    *field = s;
    return 0;
}

/* Returns 0, 1 for --help, or -1 on a bad command line. */
static int parse_args(int argc, char **argv, fl_rpc_config *cfg)
{
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            if (fl_rpc_config_load_file(cfg, argv[++i], err, sizeof(err)) != 0) {
                fprintf(stderr, "fluo: %s\n", err);
                return -1;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strcmp(a, "--config") == 0)
            rc = v ? 0 : -1;
        else if (strcmp(a, "--port") == 0)
            rc = parse_int(a, v, 0, 65535, &cfg->port);
        else if (strcmp(a, "--gc-period") == 0)
            rc = parse_int(a, v, 1, 86400, &cfg->gc_period);
        else if (strcmp(a, "--workers") == 0)
            rc = parse_int(a, v, 0, 256, &cfg->workers);
        else if (strcmp(a, "--single-port") == 0)
            rc = parse_int(a, v, 0, 1, &cfg->single_port);
        else if (strcmp(a, "--udp-port") == 0)
            rc = parse_int(a, v, 0, 65535, &cfg->udp_port);
        else if (strcmp(a, "--spread-from") == 0)
            rc = parse_int(a, v, 0, 1 << 20, &cfg->spread_from);
        else if (strcmp(a, "--log") == 0)
            rc = replace(&cfg->log_spec, v);
        else if (strcmp(a, "--whip-token") == 0)
            rc = replace(&cfg->whip_token, v);
        else {
            fprintf(stderr, "fluo: unknown argument '%s'\n", a);
            return -1;
        }
        if (rc != 0)
            return -1;
        i++;
    }
    if (fl_rpc_config_load_env(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fluo: %s\n", err);
        return -1;
    }
    if (fl_log_configure(cfg->log_spec) != 0) {
        fprintf(stderr, "fluo: bad log spec '%s' (want e.g. ice:5,rpc:4,*:3)\n", cfg->log_spec);
        return -1;
    }
    return 0;
}

static void rpc_stopped(void *arg)
{
    struct daemon *d = arg;
    d->rpc = NULL;
    fl_engine_destroy(d->engine);
    d->engine = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    fl_log(FL_LOG_INFO, "stopped");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (d->stopping)
        return;
    d->stopping = 1;
    fl_log(FL_LOG_INFO, "signal %d: shutting down", signum);
    fl_rpc_shutdown(d->rpc, rpc_stopped, d);
}

int main(int argc, char **argv)
{
    fl_rpc_config cfg;
    fl_rpc_config_init(&cfg);
    int rc = parse_args(argc, argv, &cfg);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        fl_rpc_config_deinit(&cfg);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct daemon d;
    memset(&d, 0, sizeof(d));
    uv_loop_init(&d.loop);
    fl_engine_config ecfg = { .workers = cfg.workers,
                              .callback_loop = &d.loop,
                              .codec_threads = cfg.codec_threads,
                              .endpoint_ports = !cfg.single_port,
                              .udp_port = cfg.udp_port,
                              .spread_from = cfg.spread_from };
    rc = fl_engine_create(&d.engine, &ecfg);
    if (rc == 0)
        rc = fl_rpc_create(&d.rpc, &d.loop, d.engine, &cfg);
    if (rc != 0) {
        fprintf(stderr, "fluo: cannot start: %s\n", fl_strerror(rc));
        if (d.engine)
            fl_engine_destroy(d.engine);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        uv_loop_close(&d.loop);
        fl_rpc_config_deinit(&cfg);
        return 1;
    }
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    fl_log(FL_LOG_INFO,
           "fluo listening on ws://%s:%d/%s (http status page and /metrics on the "
           "same port)",
           cfg.bind_addr ? cfg.bind_addr : "[::]", fl_rpc_port(d.rpc), cfg.path);
    if (fl_rpc_secure_port(d.rpc) > 0)
        fl_log(FL_LOG_INFO, "fluo listening on wss://%s:%d/%s",
               cfg.bind_addr ? cfg.bind_addr : "[::]", fl_rpc_secure_port(d.rpc), cfg.path);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&d.loop);
    if (rc != 0)
        fl_log(FL_LOG_WARN, "loop closed with handles still open");
    fl_rpc_config_deinit(&cfg);
    return 0;
}
