/* The fluo server driver: starts build/fluo and drives it through the
 * Kurento Protocol (kclient.h), in the calls the tutorials make:
 * hello-world for echo, one2many's presenter and viewers (and a viewer
 * joining a running broadcast), group-call's outgoing and incoming
 * endpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "bench/kclient.h"
#include "bench/wr.h"

typedef struct fluo_state {
    fl_bench_kc kc;
    char pipeline[160]; /* shared pipeline (one2many, room) */
    char **publishers;  /* the handles publish() gave out, freed by stop() */
    size_t npublishers;
} fluo_state;

static fluo_state fluo = { .kc = FL_BENCH_KC_INIT };

/* create TYPE, in pipeline unless it is NULL; its id into id[cap]. */
static int create(const char *type, const char *pipeline, char *id, size_t cap)
{
    json_t *ctor = pipeline ? json_pack("{s:s}", "mediaPipeline", pipeline) : NULL;
    return fl_bench_kc_create(&fluo.kc, type, ctor, id, cap);
}

static json_t *invoke(const char *object, const char *op, json_t *params)
{
    return fl_bench_kc_invoke(&fluo.kc, object, op, params);
}

static int invoke_void(const char *object, const char *op, json_t *params)
{
    return fl_bench_kc_invoke_void(&fluo.kc, object, op, params);
}

/* processOffer with the peer's offer, then gatherCandidates; the server's
 * candidates are not needed: its checks reach the client, which learns them
 * as peer-reflexive. */
static int negotiate(wr_peer *p, const char *ep, fl_sdp_dir dir)
{
    char *offer = wr_peer_offer(p, dir);
    if (!offer)
        return FL_ENOMEM;
    json_t *answer = invoke(ep, "processOffer", json_pack("{s:s}", "offer", offer));
    free(offer);
    if (!json_is_string(answer)) {
        json_decref(answer);
        return FL_EIO;
    }
    int rc = wr_peer_set_answer(p, json_string_value(answer));
    json_decref(answer);
    if (rc == 0)
        rc = invoke_void(ep, "gatherCandidates", NULL);
    return rc;
}

static int fluo_start(wr_bench *b)
{
    int rc = fl_bench_kc_start(&fluo.kc, b, NULL);
    b->pid = fluo.kc.pid;
    return rc;
}

static int fluo_echo(wr_bench *b, wr_peer *p)
{
    (void)b;
    char pipe[160], ep[320];
    if (create("MediaPipeline", NULL, pipe, sizeof(pipe)) < 0 ||
        create("WebRtcEndpoint", pipe, ep, sizeof(ep)) < 0 ||
        invoke_void(ep, "connect", json_pack("{s:s}", "sink", ep)) < 0)
        return FL_EIO;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", pipe);
    snprintf(p->srv_ep, sizeof(p->srv_ep), "%s", ep);
    return negotiate(p, ep, FL_SDP_DIR_SENDRECV);
}

static int shared_pipeline(void)
{
    if (fluo.pipeline[0])
        return 0;
    return create("MediaPipeline", NULL, fluo.pipeline, sizeof(fluo.pipeline));
}

static int fluo_publish(wr_bench *b, wr_peer *p, void **handle)
{
    (void)b;
    char ep[320];
    if (shared_pipeline() < 0 || create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        return FL_EIO;
    char **v = realloc(fluo.publishers, (fluo.npublishers + 1) * sizeof(*v));
    if (!v)
        return FL_ENOMEM;
    fluo.publishers = v;
    if (!(*handle = v[fluo.npublishers] = strdup(ep)))
        return FL_ENOMEM;
    fluo.npublishers++;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", fluo.pipeline);
    snprintf(p->srv_ep, sizeof(p->srv_ep), "%s", ep);
    return negotiate(p, ep, FL_SDP_DIR_SENDONLY);
}

static int fluo_view(wr_bench *b, wr_peer *p, void *publisher)
{
    (void)b;
    char ep[320];
    if (create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        return FL_EIO;
    snprintf(p->srv_ep, sizeof(p->srv_ep), "%s", ep);
    /* before the negotiation, as Kurento's documentation has it */
    if (p->max_send_kbps > 0 &&
        invoke_void(ep, "setMaxVideoSendBandwidth",
                    json_pack("{s:i}", "maxVideoSendBandwidth", p->max_send_kbps)) < 0)
        return FL_EIO;
    int rc = negotiate(p, ep, FL_SDP_DIR_RECVONLY);
    if (rc == 0)
        rc = invoke_void((const char *)publisher, "connect", json_pack("{s:s}", "sink", ep));
    return rc;
}

/* The viewer of Kurento's one2many tutorial (server.js startViewer): create
 * the endpoint, processOffer, presenter.connect(viewer), the answer to the
 * browser, gatherCandidates, and the browser's candidate by addIceCandidate
 * (its offer carries none, as kurento-utils trickles them). The server's
 * candidates are not needed: its checks reach the client, which learns them
 * as peer-reflexive. */
static int fluo_join(wr_bench *b, wr_peer *p, void *publisher)
{
    (void)b; /* the bench fluo.kc was started for: the loop its pump runs */
    char ep[320];
    json_t *answer = NULL;
    char *offer = NULL;
    int rc = FL_EIO;
    fluo.kc.pump = 1;
    p->trickle = 1;
    if (create("WebRtcEndpoint", fluo.pipeline, ep, sizeof(ep)) < 0)
        goto out;
    snprintf(p->srv_obj, sizeof(p->srv_obj), "%s", ep);
    snprintf(p->srv_ep, sizeof(p->srv_ep), "%s", ep);
    if (!(offer = wr_peer_offer(p, FL_SDP_DIR_RECVONLY))) {
        rc = FL_ENOMEM;
        goto out;
    }
    p->t.offer = fl_time_now();
    answer = invoke(ep, "processOffer", json_pack("{s:s}", "offer", offer));
    if (!json_is_string(answer))
        goto out;
    p->t.answer = fl_time_now();
    if (invoke_void((const char *)publisher, "connect", json_pack("{s:s}", "sink", ep)) < 0 ||
        (rc = wr_peer_set_answer(p, json_string_value(answer))) < 0)
        goto out;
    const char *mid = p->local->nmedia ? p->local->media[0].mid : "";
    json_t *cand =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "__module__", "kurento", "__type__",
                      "IceCandidate", "candidate", p->cand, "sdpMid", mid, "sdpMLineIndex", 0);
    if ((rc = invoke_void(ep, "gatherCandidates", NULL)) < 0 ||
        (rc = invoke_void(ep, "addIceCandidate", json_pack("{s:o}", "candidate", cand))) < 0)
        goto out;
    p->t.signalled = fl_time_now();
out:
    fluo.kc.pump = 0;
    json_decref(answer);
    free(offer);
    return rc < 0 ? rc : 0;
}

/* Releases what was made for the peer (see wr_server.leave). */
static int fluo_leave(wr_bench *b, wr_peer *p)
{
    (void)b;
    if (!p->srv_obj[0])
        return 0;
    json_t *v = fl_bench_kc_call(&fluo.kc, "release", json_pack("{s:s}", "object", p->srv_obj));
    if (strcmp(p->srv_obj, fluo.pipeline) == 0)
        fluo.pipeline[0] = '\0'; /* the next publisher makes a new one */
    p->srv_obj[0] = '\0';
    p->srv_ep[0] = '\0';
    int rc = v ? 0 : FL_EIO;
    json_decref(v);
    return rc;
}

/* One line per RTP entry of the peer's endpoint's getStats (see
 * wr_server.diagnose). */
static void fluo_diagnose(wr_bench *b, wr_peer *p)
{
    (void)b;
    if (!p->srv_ep[0])
        return;
    json_t *stats = invoke(p->srv_ep, "getStats", NULL);
    const char *key;
    json_t *s;
    json_object_foreach(stats, key, s)
    {
        const char *type = json_string_value(json_object_get(s, "type"));
        if (!type)
            continue;
        if (strcmp(type, "endpoint") == 0) {
            /* fluo's own figures, each where it has one */
            static const char *const keys[] = { "unvalidatedPacketsDropped", "srtpAuthFailed",
                                                "sharedPortUnclaimedPackets" };
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json_t *v = json_object_get(s, keys[i]);
                if (json_is_integer(v))
                    fprintf(stderr, "fluo-bench:   peer %d fluo endpoint %s=%lld\n", p->id, keys[i],
                            (long long)json_integer_value(v));
            }
            continue;
        }
        int in = strcmp(type, "inboundrtp") == 0;
        if (!in && strcmp(type, "outboundrtp") != 0)
            continue;
        const char *ssrc = json_string_value(json_object_get(s, "ssrc"));
        const char *codec = json_string_value(json_object_get(s, "codecId"));
        fprintf(stderr, "fluo-bench:   peer %d fluo %s %s ssrc=%08lx %s=%lld\n", p->id,
                in ? "inbound" : "outbound", codec ? codec : "?",
                ssrc ? strtoul(ssrc, NULL, 10) : 0ul, in ? "packetsReceived" : "packetsSent",
                (long long)json_integer_value(
                        json_object_get(s, in ? "packetsReceived" : "packetsSent")));
    }
    if (!json_is_object(stats))
        fprintf(stderr, "fluo-bench:   peer %d fluo getStats gave nothing\n", p->id);
    json_decref(stats);
}

/* The viewer's outbound video entry of getStats: simulcastLayer and
 * simulcastSwitches (see wr_server.layer). */
static int fluo_layer(wr_bench *b, wr_peer *p, int *layer, int *switches)
{
    (void)b;
    if (!p->srv_ep[0])
        return FL_ENOENT;
    json_t *stats = invoke(p->srv_ep, "getStats", json_pack("{s:s}", "mediaType", "VIDEO"));
    const char *key;
    json_t *s;
    int rc = FL_ENOENT;
    json_object_foreach(stats, key, s)
    {
        const char *type = json_string_value(json_object_get(s, "type"));
        json_t *l = json_object_get(s, "simulcastLayer");
        if (!type || strcmp(type, "outboundrtp") != 0 || !json_is_integer(l))
            continue;
        *layer = (int)json_integer_value(l);
        *switches = (int)json_integer_value(json_object_get(s, "simulcastSwitches"));
        rc = 0;
    }
    json_decref(stats);
    return rc;
}

static void fluo_stop(wr_bench *b)
{
    (void)b;
    fl_bench_kc_stop(&fluo.kc);
    for (size_t i = 0; i < fluo.npublishers; i++)
        free(fluo.publishers[i]);
    free(fluo.publishers);
    memset(&fluo, 0, sizeof(fluo));
    fluo.kc = (fl_bench_kc)FL_BENCH_KC_INIT;
}

wr_server fl_wr_server_fluo = {
    .name = "fluo",
    .start = fluo_start,
    .echo = fluo_echo,
    .publish = fluo_publish,
    .view = fluo_view,
    .join = fluo_join,
    .leave = fluo_leave,
    .stop = fluo_stop,
    .diagnose = fluo_diagnose,
    .layer = fluo_layer,
};
