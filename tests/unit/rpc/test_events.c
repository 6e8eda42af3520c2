/* Each engine event as the Kurento onEvent notification a client reads, byte
 * for byte: an event of every kind is handed to the service's event callback
 * (fl__engine_event, what the engine calls) for a WebRtcEndpoint whose
 * session subscribed to all of them, and the text sent is compared whole
 * (object ids and the timestamp stand as W, P and T, and double quotes are
 * written single). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "rpc/rpc_int.h"
#include "tests/unit/rpc/harness.h"

#include <cmocka.h>

/* Replies parsed (for the harness's calls) and each event's text as sent. */
typedef struct capture {
    struct out o;
    char *event;
} capture;

static void capture_sink(void *arg, const char *text)
{
    capture *c = arg;
    sink(&c->o, text);
    if (strstr(text, "\"onEvent\"")) {
        free(c->event);
        c->event = strdup(text);
    }
}

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

static char *create(client *cl, capture *c, const char *type, const char *pipe)
{
    json_t *p = json_pack("{s:s, s:{}}", "type", type, "properties");
    if (pipe)
        json_object_set_new(p, "constructorParams", json_pack("{s:s}", "mediaPipeline", pipe));
    const char *id = json_string_value(value_of(rpc_call(cl, &c->o, "create", p)));
    assert_non_null(id);
    return strdup(id);
}

/* Replaces every `from` in s with `to`, no longer than it. */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to);
    for (char *at = strstr(s, from); at; at = strstr(at + lt, from)) {
        memcpy(at, to, lt);
        memmove(at + lt, at + lf, strlen(at + lf) + 1);
    }
}

/* The last event's text with ids and timestamp replaced, double quotes
 * made single. */
static const char *normalized(capture *c, const char *w, const char *p)
{
    static char buf[4096];
    assert_non_null(c->event);
    assert_true(strlen(c->event) < sizeof(buf));
    snprintf(buf, sizeof(buf), "%s", c->event);
    replace_all(buf, w, "W");
    replace_all(buf, p, "P");
    char *ts = strstr(buf, "\"timestampMillis\":\"");
    assert_non_null(ts);
    ts += strlen("\"timestampMillis\":\"");
    char *end = strchr(ts, '"');
    assert_non_null(end);
    assert_true(end - ts >= 13); /* milliseconds since the epoch */
    memmove(ts + 1, end, strlen(end) + 1);
    *ts = 'T';
    for (char *q = buf; *q; q++)
        *q = *q == '"' ? '\'' : *q;
    return buf;
}

static const char *const kinds[] = {
    "ElementConnected",
    "ElementDisconnected",
    "MediaFlowInStateChanged",
    "MediaFlowOutStateChanged",
    "Error",
    "IceCandidateFound",
    "IceGatheringDone",
    "IceComponentStateChanged",
    "NewCandidatePairSelected",
    "ConnectionStateChanged",
    "MediaStateChanged",
    "MediaTranscodingStateChanged",
};

#define CAND  "candidate:1 1 UDP 2122260223 192.168.1.5 50000 typ host generation 0"
#define RCAND "candidate:9 1 udp 1686052607 203.0.113.7 61000 typ srflx raddr 10.0.0.2 rport 61000"
/* The notification of an event of `kind` whose data, after its source,
 * timestamp and tags, is `data` (in single quotes for legibility). */
#define NOTE(kind, data)                                                           \
    "{'jsonrpc':'2.0','method':'onEvent','params':{'value':{'data':{'source':'W'," \
    "'timestampMillis':'T','tags':[]" data "},'object':'W','type':'" kind "'}}}"

static void test_every_kind(void **state)
{
    (void)state;
    capture c = { 0 };
    client *cl = fl__client_detached(rpc, capture_sink, &c);
    char *pipe = create(cl, &c, "MediaPipeline", NULL);
    char *w = create(cl, &c, "WebRtcEndpoint", pipe);
    char *p = create(cl, &c, "PassThrough", pipe);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        json_t *r = rpc_call(cl, &c.o, "subscribe",
                             json_pack("{s:s, s:s}", "object", w, "type", kinds[i]));
        assert_int_equal(error_code(r), 0);
    }
    obj *wo = fl__obj_find(rpc, w), *po = fl__obj_find(rpc, p);
    assert_non_null(wo);
    assert_non_null(po);

    struct {
        fl_event ev;
        const char *want;
    } cases[] = {
        { { .type = FL_EVENT_ELEMENT_CONNECTED,
            .link = { wo->element, po->element, FL_MEDIA_VIDEO, "default", "cam" } },
          NOTE("ElementConnected",
               ",'type':'ElementConnected','sink':'P','mediaType':'VIDEO',"
               "'sourceMediaDescription':'default','sinkMediaDescription':'cam'") },
        { { .type = FL_EVENT_ELEMENT_DISCONNECTED,
            .link = { wo->element, po->element, FL_MEDIA_AUDIO, "default", "default" } },
          NOTE("ElementDisconnected",
               ",'type':'ElementDisconnected','sink':'P','mediaType':'AUDIO',"
               "'sourceMediaDescription':'default','sinkMediaDescription':'default'") },
        { { .type = FL_EVENT_MEDIA_FLOW_IN,
            .media_flow = { .media = FL_MEDIA_AUDIO, .flowing = 1, .desc = "default" } },
          NOTE("MediaFlowInStateChanged", ",'type':'MediaFlowInStateChanged','state':'FLOWING',"
                                          "'padName':'default','mediaType':'AUDIO'") },
        { { .type = FL_EVENT_MEDIA_FLOW_OUT,
            .media_flow = { .media = FL_MEDIA_VIDEO, .flowing = 0, .desc = "hd" } },
          NOTE("MediaFlowOutStateChanged",
               ",'type':'MediaFlowOutStateChanged','state':'NOT_FLOWING',"
               "'padName':'hd','mediaType':'VIDEO'") },
        { { .type = FL_EVENT_ERROR,
            .error = { .type = "MEDIA_FORMAT_MISMATCH",
                       .description = "video arrives as \"H264\"/90000" } },
          NOTE("Error", ",'description':'video arrives as \\'H264\\'/90000','errorCode':0,"
                        "'type':'MEDIA_FORMAT_MISMATCH'") },
        { { .type = FL_EVENT_ICE_CANDIDATE,
            .ice_candidate = { .candidate = CAND, .sdp_mid = "1", .sdp_mline_index = 1 } },
          NOTE("IceCandidateFound",
               ",'type':'IceCandidateFound','candidate':{'__module__':'kurento',"
               "'__type__':'IceCandidate','candidate':'" CAND "',"
               "'sdpMid':'1','sdpMLineIndex':1}") },
        { { .type = FL_EVENT_ICE_GATHERING_DONE },
          NOTE("IceGatheringDone", ",'type':'IceGatheringDone'") },
        { { .type = FL_EVENT_ICE_COMPONENT_STATE,
            .ice_component_state = { .stream_id = 1,
                                     .component = 1,
                                     .state = FL_ICE_COMPONENT_READY } },
          NOTE("IceComponentStateChanged", ",'type':'IceComponentStateChanged','streamId':1,"
                                           "'componentId':1,'state':'READY'") },
        { { .type = FL_EVENT_ICE_PAIR_SELECTED,
            .ice_pair_selected = { .stream_id = 1,
                                   .component = 1,
                                   .local_candidate = CAND,
                                   .remote_candidate = RCAND } },
          NOTE("NewCandidatePairSelected",
               ",'type':'NewCandidatePairSelected','candidatePair':{'__module__':'kurento',"
               "'__type__':'IceCandidatePair','streamId':'1','componentId':1,"
               "'localCandidate':'" CAND "','remoteCandidate':'" RCAND "'}") },
        { { .type = FL_EVENT_CONNECTION_STATE,
            .connection_state = { .old_state = FL_CONNECTION_DISCONNECTED,
                                  .new_state = FL_CONNECTION_CONNECTED } },
          NOTE("ConnectionStateChanged", ",'type':'ConnectionStateChanged',"
                                         "'oldState':'DISCONNECTED','newState':'CONNECTED'") },
        { { .type = FL_EVENT_MEDIA_STATE,
            .media_state = { .old_state = FL_CONNECTION_CONNECTED,
                             .new_state = FL_CONNECTION_DISCONNECTED } },
          NOTE("MediaStateChanged", ",'type':'MediaStateChanged',"
                                    "'oldState':'CONNECTED','newState':'DISCONNECTED'") },
        { { .type = FL_EVENT_MEDIA_TRANSCODING,
            .media_transcoding = { .media = FL_MEDIA_AUDIO,
                                   .transcoding = 0,
                                   .bin_name = "WebRtcEndpoint7" } },
          NOTE("MediaTranscodingStateChanged",
               ",'type':'MediaTranscodingStateChanged','state':'NOT_TRANSCODING',"
               "'binName':'WebRtcEndpoint7','mediaType':'AUDIO'") },
    };

    assert_int_equal(sizeof(cases) / sizeof(cases[0]), sizeof(kinds) / sizeof(kinds[0]));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        free(c.event);
        c.event = NULL;
        cases[i].ev.element = wo->element;
        fl__engine_event(wo, &cases[i].ev);
        settle();
        assert_string_equal(normalized(&c, w, p), cases[i].want);
    }

    /* every ICE component state by Kurento's name */
    static const char *const ice_states[] = { "DISCONNECTED", "GATHERING", "CONNECTING",
                                              "CONNECTED",    "READY",     "FAILED" };
    for (int s = FL_ICE_COMPONENT_DISCONNECTED; s <= FL_ICE_COMPONENT_FAILED; s++) {
        fl_event ev = { .type = FL_EVENT_ICE_COMPONENT_STATE,
                        .element = wo->element,
                        .ice_component_state = { 1, 1, (enum fl_ice_component_state)s } };
        free(c.event);
        c.event = NULL;
        fl__engine_event(wo, &ev);
        settle();
        char want[64];
        snprintf(want, sizeof(want), "'componentId':1,'state':'%s'}", ice_states[s]);
        assert_non_null(strstr(normalized(&c, w, p), want));
    }

    free(c.event);
    free(pipe);
    free(w);
    free(p);
    out_clear(&c.o);
    fl__client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
    };
    return cmocka_run_group_tests_name("rpc_events", tests, setup, teardown);
}
