/* What fluo-bench's scenarios share: their options, the loss, and the echo
 * windows that forwarding is measured over when a scenario sets something
 * else against it (record, play). See wr.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "bench/wr.h"

int wr_args_parse(const wr_arg *args, int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const wr_arg *k = args;
        while (k->name && strcmp(k->name, a) != 0)
            k++;
        if (!v || !k->name)
            return FL_EINVAL;
        if (k->i)
            *k->i = atoi(v);
        else
            *k->s = v;
    }
    return 0;
}

int wr_fluo_scenario_init(wr_bench *b,
                          wr_fluo_opts *o,
                          const char *scenario,
                          int argc,
                          char **argv,
                          const char *argv0)
{
    memset(b, 0, sizeof(*b));
    *o = (wr_fluo_opts){
        .server_name = "fluo", .fluo_bin = wr_default_fluo_bin(argv0), .sessions = 10, .seconds = 20
    };
    const wr_arg args[] = {
        { "--server", NULL, &o->server_name }, { "--sessions", &o->sessions, NULL },
        { "--seconds", &o->seconds, NULL },    { "--fluo-bin", NULL, &o->fluo_bin },
        { "--workers", &o->workers, NULL },    { NULL, NULL, NULL },
    };
    if (wr_args_parse(args, argc, argv) < 0 || o->sessions < 1 || o->sessions > 1000 ||
        o->seconds < 2 || o->seconds > 3600)
        return FL_EINVAL;
    if (strcmp(o->server_name, "fluo") != 0) {
        fprintf(stderr, "fluo-bench: %s has a driver for fluo only\n", scenario);
        return FL_ENOTSUP;
    }
    b->scenario = scenario;
    b->server_name = o->server_name;
    b->sessions = o->sessions;
    b->fluo_bin = o->fluo_bin;
    b->workers = o->workers;
    fl_rand_seeded_init(&b->rand, (uint64_t)fl_time_now());
    snprintf(b->client_ip, sizeof(b->client_ip), "127.0.0.1");
    return 0;
}

double wr_loss_pct(uint64_t expected, uint64_t received)
{
    if (!expected)
        return 100.0;
    return 100.0 * (double)(expected > received ? expected - received : 0) / (double)expected;
}

uint64_t wr_bench_sent_packets(const wr_bench *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->npeers; i++) {
        n += b->peers[i]->tx[0].packets + b->peers[i]->tx[1].packets;
        for (int k = 0; k < b->peers[i]->nlayers; k++)
            n += b->peers[i]->layers[k].packets;
    }
    return n;
}

void wr_fwd_window(wr_bench *b, const char *scenario, const char *when, double seconds, wr_fwd *f)
{
    uint64_t cpu0 = 0, cpu1 = 0, expected = 0, received = 0, pkts0 = wr_bench_sent_packets(b);
    wr_proc_cpu_us(b->pid, &cpu0);
    wr_bench_window_start(b);
    wr_bench_run(b, seconds);
    wr_bench_window_end(b, &expected, &received);
    wr_proc_cpu_us(b->pid, &cpu1);
    uint64_t sent = wr_bench_sent_packets(b) - pkts0;
    printf("%s phase=echo_%s seconds=%.1f sent_pkts=%llu fwd_pkts=%llu cpu_us=%llu "
           "loss_pct=%.2f\n",
           scenario, when, seconds, (unsigned long long)sent, (unsigned long long)b->win_rx,
           (unsigned long long)(cpu1 - cpu0), wr_loss_pct(expected, received));
    f->pkts += b->win_rx;
    f->sent += sent;
    f->cpu_us += cpu1 - cpu0;
    f->expected += expected;
    f->received += received;
}

void wr_fwd_report(const char *scenario, int seconds, const wr_fwd *f)
{
    printf("%s phase=echo seconds=%d sent_pkts=%llu fwd_pkts=%llu cpu_us=%llu loss_pct=%.2f\n",
           scenario, seconds, (unsigned long long)f->sent, (unsigned long long)f->pkts,
           (unsigned long long)f->cpu_us, wr_loss_pct(f->expected, f->received));
}

double wr_fwd_cpu_us_per_pkt(const wr_fwd *f)
{
    return f->pkts ? (double)f->cpu_us / (double)f->pkts : 0;
}
