/* MediaElement.getStats as Kurento clients read it: the engine's typed
 * entries (fl_stats) turned into the map of stats records by
 * rpc/stats_json.c, compared as text byte for byte (double quotes written
 * single), then getStats and WebRtcEndpoint's record-valued properties
 * through the service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

#define T0 1700000000123LL

/* The map's JSON text, as the server writes it, with ' for ". */
static char *dump(const fl_stats *entries, size_t n, const char *name)
{
    json_t *map = fl__stats_json(name, entries, n);
    assert_non_null(map);
    char *text = json_dumps(map, JSON_COMPACT);
    json_decref(map);
    assert_non_null(text);
    for (char *p = text; *p; p++)
        if (*p == '"')
            *p = '\'';
    return text;
}

static void expect_text(const fl_stats *entries, size_t n, const char *name, const char *want)
{
    char *got = dump(entries, n, name);
    assert_string_equal(got, want);
    free(got);
}

static fl_stats entry(enum fl_stats_kind kind, int64_t ts)
{
    fl_stats s;
    memset(&s, 0, sizeof(s));
    s.kind = kind;
    s.timestamp_ms = ts;
    return s;
}

static void rtp(fl_stats_rtp *r, uint32_t ssrc, unsigned media, const char *mid, const char *codec)
{
    r->ssrc = ssrc;
    r->media = media;
    snprintf(r->mid, sizeof(r->mid), "%s", mid);
    snprintf(r->codec, sizeof(r->codec), "%s", codec);
}

/* An element with no figures of its own: ElementStats, its id the
 * element's whole name (longer than 64 bytes here) and "_element". */
static void test_element(void **state)
{
    (void)state;
    const char *name = "0b1b6b5e-0c64-4c1e-9c6f-1f0b0c6f2a11_kurento.MediaPipeline/"
                       "5c0a1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d_kurento.PassThrough";
    fl_stats s = entry(FL_STATS_ELEMENT, T0);
    char want[1024];
    snprintf(want, sizeof(want),
             "{'%s_element':{'id':'%s_element','type':'element','timestampMillis':%lld,"
             "'inputLatency':[],'__module__':'kurento','__type__':'ElementStats'}}",
             name, name, (long long)T0);
    expect_text(&s, 1, name, want);
}

/* A WebRtcEndpoint: EndpointStats, then a stream of each kind with every
 * figure known (unsigned SSRCs above 2^31, negative cumulative loss,
 * fractions as reals), and streams whose optional figures are not known
 * (-1: left out; a round-trip time not known is 0), whole doubles written
 * as integers. */
static void test_endpoint_streams(void **state)
{
    (void)state;
    fl_stats v[5];
    v[0] = entry(FL_STATS_ENDPOINT, T0);
    v[0].endpoint.unvalidated_packets_dropped = 3;
    v[0].endpoint.srtp_auth_failed = -1; /* a WebRtcEndpoint: no SDES */
    v[0].endpoint.shared_port_unclaimed = 9;

    v[1] = entry(FL_STATS_INBOUND_RTP, T0 + 1);
    fl_stats_inbound_rtp *in = &v[1].inbound_rtp;
    rtp(&in->rtp, 3735928559u, FL_MEDIA_VIDEO, "1", "VP8");
    in->rtp.pli_count = 3;
    in->rtp.nack_count = 4;
    in->rtp.remb = 1500000;
    in->rtp.packets_lost = -2;
    in->rtp.fraction_lost = 0.25;
    in->packets_received = 1000;
    in->bytes_received = 1200000;
    in->jitter = 0.015625;
    in->nack_seqs_sent = 7;
    in->retransmitted_packets_received = 5;
    in->retransmissions_unneeded = 1;
    in->key_frames_received = 2;
    in->receive_estimate = 2000000;

    v[2] = entry(FL_STATS_INBOUND_RTP, T0 + 2);
    in = &v[2].inbound_rtp;
    rtp(&in->rtp, 42, FL_MEDIA_AUDIO, "0", "opus");
    in->receive_estimate = -1;

    v[3] = entry(FL_STATS_OUTBOUND_RTP, T0 + 3);
    fl_stats_outbound_rtp *out = &v[3].outbound_rtp;
    rtp(&out->rtp, 1234, FL_MEDIA_VIDEO, "1", "VP8");
    out->rtp.fir_count = 1;
    out->rtp.pli_count = 2;
    out->rtp.nack_count = 3;
    out->rtp.remb = 2000000;
    out->rtp.packets_lost = 5;
    out->rtp.fraction_lost = 0.5;
    out->packets_sent = 900;
    out->bytes_sent = 1000000;
    out->target_bitrate = 300000;
    out->round_trip_time = 0.03125;
    out->retransmitted_packets_sent = 6;
    out->nack_unanswered = 1;
    out->nack_held = 7;
    out->xcode_frames_in = 300;
    out->xcode_frames_encoded = 290;
    out->xcode_frames_skipped = 8;
    out->xcode_frames_dropped = 2;
    out->xcode_bitrate = 700000;
    out->simulcast_layer = 1;
    out->simulcast_temporal_layer = 2;
    out->simulcast_switches = 3;
    out->probe_padding_bytes = 4000;

    v[4] = entry(FL_STATS_OUTBOUND_RTP, T0 + 4);
    out = &v[4].outbound_rtp;
    rtp(&out->rtp, 5678, FL_MEDIA_AUDIO, "0", "opus");
    out->round_trip_time = -1;
    out->nack_unanswered = out->nack_held = -1;
    out->xcode_frames_in = -1;

    expect_text(
            v, 5, "W",
            "{'W_endpoint':{'id':'W_endpoint','type':'endpoint','timestampMillis':"
            "1700000000123,'inputLatency':[],'E2ELatency':[],'unvalidatedPacketsDropped':3,"
            "'sharedPortUnclaimedPackets':9,'__module__':'kurento','__type__':'EndpointStats'},"

            "'RTCInboundRTPStreamStats_3735928559':{'id':'RTCInboundRTPStreamStats_3735928559',"
            "'type':'inboundrtp','timestampMillis':1700000000124,'ssrc':'3735928559',"
            "'associateStatsId':'','isRemote':false,'mediaTrackId':'1','transportId':"
            "'transport','codecId':'VP8','firCount':0,'pliCount':3,'nackCount':4,'sliCount':0,"
            "'remb':1500000,'packetsLost':-2,'fractionLost':0.25,'packetsReceived':1000,"
            "'bytesReceived':1200000,'jitter':0.015625,'nackSeqsSent':7,"
            "'retransmittedPacketsReceived':5,'retransmissionsUnneeded':1,"
            "'keyFramesReceived':2,'receiveEstimate':2000000,'__module__':'kurento',"
            "'__type__':'RTCInboundRTPStreamStats'},"

            "'RTCInboundRTPStreamStats_42':{'id':'RTCInboundRTPStreamStats_42','type':"
            "'inboundrtp','timestampMillis':1700000000125,'ssrc':'42','associateStatsId':'',"
            "'isRemote':false,'mediaTrackId':'0','transportId':'transport','codecId':'opus',"
            "'firCount':0,'pliCount':0,'nackCount':0,'sliCount':0,'remb':0,'packetsLost':0,"
            "'fractionLost':0,'packetsReceived':0,'bytesReceived':0,'jitter':0,"
            "'nackSeqsSent':0,'retransmittedPacketsReceived':0,'retransmissionsUnneeded':0,"
            "'keyFramesReceived':0,'__module__':'kurento',"
            "'__type__':'RTCInboundRTPStreamStats'},"

            "'RTCOutboundRTPStreamStats_1234':{'id':'RTCOutboundRTPStreamStats_1234','type':"
            "'outboundrtp','timestampMillis':1700000000126,'ssrc':'1234','associateStatsId':"
            "'','isRemote':false,'mediaTrackId':'1','transportId':'transport','codecId':'VP8',"
            "'firCount':1,'pliCount':2,'nackCount':3,'sliCount':0,'remb':2000000,"
            "'packetsLost':5,'fractionLost':0.5,'packetsSent':900,'bytesSent':1000000,"
            "'targetBitrate':300000,'roundTripTime':0.03125,'retransmittedPacketsSent':6,"
            "'nackUnanswered':1,'nackHeld':7,'simulcastLayer':1,'simulcastTemporalLayer':2,"
            "'simulcastSwitches':3,'probePaddingBytesSent':4000,'transcoderFramesIn':300,'transcoderFramesEncoded':290,"
            "'transcoderFramesSkipped':8,'transcoderFramesDropped':2,"
            "'transcoderTargetBitrate':700000,'__module__':'kurento','__type__':'RTCOutboundRTPStreamStats'},"

            "'RTCOutboundRTPStreamStats_5678':{'id':'RTCOutboundRTPStreamStats_5678','type':"
            "'outboundrtp','timestampMillis':1700000000127,'ssrc':'5678','associateStatsId':"
            "'','isRemote':false,'mediaTrackId':'0','transportId':'transport','codecId':"
            "'opus','firCount':0,'pliCount':0,'nackCount':0,'sliCount':0,'remb':0,"
            "'packetsLost':0,'fractionLost':0,'packetsSent':0,'bytesSent':0,"
            "'targetBitrate':0,'roundTripTime':0,'retransmittedPacketsSent':0,"
            "'__module__':'kurento','__type__':'RTCOutboundRTPStreamStats'}}");

    /* an endpoint before its ICE transport: the figure is left out */
    fl_stats e = entry(FL_STATS_ENDPOINT, T0);
    e.endpoint.unvalidated_packets_dropped = -1;
    e.endpoint.srtp_auth_failed = -1;
    e.endpoint.shared_port_unclaimed = -1;
    expect_text(&e, 1, "W",
                "{'W_endpoint':{'id':'W_endpoint','type':'endpoint','timestampMillis':"
                "1700000000123,'inputLatency':[],'E2ELatency':[],'__module__':'kurento',"
                "'__type__':'EndpointStats'}}");
}

/* Doubles keep nine significant digits; a whole one past them is written
 * in exponent form, so as a real. No entries: an empty map. */
static void test_numbers(void **state)
{
    (void)state;
    fl_stats s = entry(FL_STATS_OUTBOUND_RTP, T0);
    fl_stats_outbound_rtp *out = &s.outbound_rtp;
    rtp(&out->rtp, 7, FL_MEDIA_VIDEO, "v", "H264");
    out->rtp.fraction_lost = 1.0 / 3;
    out->target_bitrate = 2500000000LL;
    out->round_trip_time = 0.1234567891234;
    out->nack_unanswered = out->nack_held = -1;
    out->xcode_frames_in = -1;
    out->simulcast_layer = out->simulcast_switches = -1;
    json_t *map = fl__stats_json("W", &s, 1);
    json_t *o = json_object_get(map, "RTCOutboundRTPStreamStats_7");
    assert_true(json_is_real(json_object_get(o, "fractionLost")));
    assert_true(json_real_value(json_object_get(o, "fractionLost")) == 0.333333333);
    assert_true(json_is_real(json_object_get(o, "targetBitrate")));
    assert_true(json_real_value(json_object_get(o, "targetBitrate")) == 2500000000.0);
    assert_true(json_real_value(json_object_get(o, "roundTripTime")) == 0.123456789);
    assert_null(json_object_get(o, "nackUnanswered"));
    assert_null(json_object_get(o, "nackHeld"));
    assert_null(json_object_get(o, "transcoderFramesIn"));
    assert_int_equal(json_integer_value(json_object_get(o, "simulcastLayer")), -1);
    assert_null(json_object_get(o, "simulcastSwitches"));
    json_decref(map);
    expect_text(NULL, 0, "W", "{}");
}

/* ---- through the service ---- */

static int setup(void **state)
{
    (void)state;
    return harness_start(1, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(0);
}

static char *create(client *cl, struct out *o, const char *type, const char *pipe)
{
    json_t *p = json_pack("{s:s}", "type", type);
    if (pipe)
        json_object_set_new(p, "constructorParams", json_pack("{s:s}", "mediaPipeline", pipe));
    const char *id = json_string_value(value_of(rpc_call(cl, o, "create", p)));
    assert_non_null(id);
    return strdup(id);
}

/* The one record of a getStats answer, checked for its id, type and class. */
static json_t *only_record(json_t *map, const char *id, const char *type, const char *cls)
{
    assert_true(json_is_object(map));
    assert_int_equal(json_object_size(map), 1);
    json_t *r = json_object_get(map, id);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "id")), id);
    assert_string_equal(json_string_value(json_object_get(r, "type")), type);
    assert_string_equal(json_string_value(json_object_get(r, "__module__")), "kurento");
    assert_string_equal(json_string_value(json_object_get(r, "__type__")), cls);
    assert_true(json_integer_value(json_object_get(r, "timestampMillis")) > 1600000000000);
    assert_int_equal(json_array_size(json_object_get(r, "inputLatency")), 0);
    return r;
}

/* getStats of a PassThrough and of a WebRtcEndpoint before negotiation;
 * the WebRtcEndpoint's record-valued properties before any ICE or DTLS,
 * and RembParams as it was set. */
static void test_service(void **state)
{
    (void)state;
    struct out o = { 0 };
    client *cl = fl__client_detached(rpc, sink, &o);
    char *pipe = create(cl, &o, "MediaPipeline", NULL);
    char *pt = create(cl, &o, "PassThrough", pipe);
    char *w = create(cl, &o, "WebRtcEndpoint", pipe);
    char id[512];

    json_t *r = invoke(cl, &o, pt, "getStats", NULL);
    assert_int_equal(error_code(r), 0);
    snprintf(id, sizeof(id), "%s_element", pt);
    json_t *rec = only_record(value_of(r), id, "element", "ElementStats");
    assert_int_equal(json_object_size(rec), 6);

    r = invoke(cl, &o, w, "getStats", json_pack("{s:s}", "mediaType", "AUDIO"));
    assert_int_equal(error_code(r), 0);
    snprintf(id, sizeof(id), "%s_endpoint", w);
    rec = only_record(value_of(r), id, "endpoint", "EndpointStats");
    assert_int_equal(json_array_size(json_object_get(rec, "E2ELatency")), 0);
    assert_null(json_object_get(rec, "unvalidatedPacketsDropped")); /* no ICE yet */
    assert_null(json_object_get(rec, "sharedPortUnclaimedPackets"));

    static const char *const lists[] = { "getICECandidatePairs", "getIceConnectionState",
                                         "getDtlsConnectionState" };
    for (size_t i = 0; i < 3; i++) {
        r = invoke(cl, &o, w, lists[i], NULL);
        assert_int_equal(error_code(r), 0);
        assert_true(json_is_array(value_of(r)));
        assert_int_equal(json_array_size(value_of(r)), 0);
    }
    r = invoke(cl, &o, w, "getConnectionState", NULL);
    assert_string_equal(json_string_value(value_of(r)), "DISCONNECTED");

    r = invoke(cl, &o, w, "getRembParams", NULL);
    char *text = json_dumps(value_of(r), JSON_COMPACT);
    assert_string_equal(text, "{\"upLosses\":26}");
    free(text);
    r = invoke(cl, &o, w, "setRembParams",
               json_pack("{s:{s:s, s:s, s:i, s:f}}", "rembParams", "__module__", "kurento",
                         "__type__", "RembParams", "rembOnConnect", 500000, "decrementFactor",
                         0.5));
    assert_int_equal(error_code(r), 0);
    r = invoke(cl, &o, w, "getRembParams", NULL);
    text = json_dumps(value_of(r), JSON_COMPACT);
    assert_string_equal(text, "{\"upLosses\":26,\"rembOnConnect\":500000,\"decrementFactor\":0.5}");
    free(text);

    free(w);
    free(pt);
    free(pipe);
    out_clear(&o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_element),
        cmocka_unit_test(test_endpoint_streams),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_service),
    };
    return cmocka_run_group_tests_name("rpc_stats_json", tests, setup, teardown);
}
