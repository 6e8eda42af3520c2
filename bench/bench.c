/* fluo-bench's entry point: dispatches to the subcommands. */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
} subcommand;

static const subcommand subcommands[] = {
    { "rpc", fl_bench_rpc_run, fl_bench_rpc_usage },
    { "parse", fl_bench_parse_run, fl_bench_parse_usage },
    { "srtp", fl_bench_srtp_run, fl_bench_srtp_usage },
    { "depack", fl_bench_depack_run, fl_bench_depack_usage },
    { "transcode", fl_bench_transcode_run, fl_bench_transcode_usage },
    { "composite", fl_bench_composite_run, fl_bench_composite_usage },
    { "filter", fl_bench_filter_run, fl_bench_filter_usage },
    { "idle", fl_bench_idle_run, fl_bench_idle_usage },
};

#define SUBCOMMAND_COUNT (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: fluo-bench SUBCOMMAND [OPTIONS]\n\nsubcommands:\n");
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
        subcommands[i].usage(out);
    fl_bench_webrtc_usage(out);
    fl_bench_join_usage(out);
    fl_bench_churn_usage(out);
    fl_bench_record_usage(out);
    fl_bench_play_usage(out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fl_log_configure("*:warn");
    if (!strcmp(argv[1], "echo") || !strcmp(argv[1], "one2many") || !strcmp(argv[1], "room") ||
        !strcmp(argv[1], "simulcast"))
        return fl_bench_webrtc_run(argv[1], argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "join"))
        return fl_bench_join_run(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "churn"))
        return fl_bench_churn_run(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "record"))
        return fl_bench_record_run(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "play"))
        return fl_bench_play_run(argc - 1, argv + 1, argv[0]);
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "fluo-bench: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
