/* The Janus server driver: Debian's janus in a network namespace
 * (bench/janus.c), EchoTest for echo and VideoRoom for one2many and room.
 * VideoRoom subscribers get Janus's offer and answer it. */
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "bench/janus.h"
#include "bench/wr.h"

static fl_bench_janus *janus;

static int janus_start(wr_bench *b)
{
    int rc = fl_bench_janus_start(&janus, b->client_ip, sizeof(b->client_ip));
    if (rc == 0)
        b->pid = fl_bench_janus_pid(janus);
    return rc;
}

static int janus_echo(wr_bench *b, wr_peer *p)
{
    (void)b;
    char *offer = wr_peer_offer(p, FL_SDP_DIR_SENDRECV), *answer = NULL;
    int rc = offer ? fl_bench_janus_echo(janus, offer, &answer) : FL_ENOMEM;
    if (rc == 0)
        rc = wr_peer_set_answer(p, answer);
    free(offer);
    free(answer);
    return rc;
}

static int janus_publish(wr_bench *b, wr_peer *p, void **handle)
{
    (void)b;
    char *offer = wr_peer_offer(p, FL_SDP_DIR_SENDONLY), *answer = NULL;
    uint64_t feed = 0;
    int rc = offer ? fl_bench_janus_publish(janus, offer, &answer, &feed) : FL_ENOMEM;
    if (rc == 0)
        rc = wr_peer_set_answer(p, answer);
    *handle = (void *)(uintptr_t)feed;
    free(offer);
    free(answer);
    return rc;
}

static int janus_view(wr_bench *b, wr_peer *p, void *publisher)
{
    char *offer = NULL, *answer = NULL;
    void *sub = NULL;
    int rc = fl_bench_janus_subscribe(janus, (uint64_t)(uintptr_t)publisher, &offer, &sub);
    /* the client's DTLS can be done before Janus has marked the feed up:
     * let media run and ask again, for up to 5 s */
    for (int tries = 0; rc == FL_EAGAIN && tries < 50; tries++) {
        wr_bench_run(b, 0.1);
        rc = fl_bench_janus_subscribe(janus, (uint64_t)(uintptr_t)publisher, &offer, &sub);
    }
    if (rc == 0 && !(answer = wr_peer_answer(p, offer)))
        rc = FL_EPROTO;
    if (rc == 0)
        rc = fl_bench_janus_start_subscriber(janus, sub, answer);
    free(offer);
    free(answer);
    return rc;
}

static void janus_stop(wr_bench *b)
{
    (void)b;
    fl_bench_janus_stop(janus);
    janus = NULL;
}

wr_server fl_wr_server_janus = {
    .name = "janus",
    .start = janus_start,
    .echo = janus_echo,
    .publish = janus_publish,
    .view = janus_view,
    .stop = janus_stop,
};
