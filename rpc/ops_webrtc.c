/* WebRtcEndpoint and its ancestors (SdpEndpoint, BaseRtpEndpoint): SDP
 * negotiation, ICE candidates, properties held by the engine element,
 * getStats, and the Kurento shape of the endpoint's events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc_int.h"

FL_LOG_TAG("rpc");

static const char *pstr(json_t *p, const char *key)
{
    return json_string_value(json_object_get(p, key));
}

/* ---- SDP ---- */

static int sdp_error_code(enum fl_sdp_op op, int status)
{
    if (status == FL_ESTATE)
        return op == FL_SDP_PROCESS_ANSWER ? KE_SDP_END_POINT_NOT_OFFER_GENERATED
                                           : KE_SDP_END_POINT_ALREADY_NEGOTIATED;
    if (status == FL_EBADMSG)
        return KE_SDP_PARSE_ERROR;
    if (op == FL_SDP_GENERATE_OFFER)
        return KE_SDP_END_POINT_GENERATE_OFFER_ERROR;
    if (op == FL_SDP_PROCESS_ANSWER)
        return KE_SDP_END_POINT_PROCESS_ANSWER_ERROR;
    return KE_SDP_END_POINT_PROCESS_OFFER_ERROR;
}

typedef struct sdp_req {
    call *c;
    enum fl_sdp_op op;
} sdp_req;

static void sdp_done(void *arg, int status, const char *text)
{
    sdp_req *r = arg;
    call *c = r->c;
    enum fl_sdp_op op = r->op;
    free(r);
    if (status == 0)
        fl__call_ok(c, json_string(text ? text : ""));
    else
        fl__call_err(c, sdp_error_code(op, status), "%s", text ? text : fl_strerror(status));
}

static void sdp_op(call *c, obj *o, enum fl_sdp_op op, const char *sdp)
{
    sdp_req *r = malloc(sizeof(*r));
    if (!r) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    r->c = c;
    r->op = op;
    fl_webrtc_sdp(o->element, op, sdp, sdp_done, r);
}

static void process_offer(call *c, obj *o, json_t *p)
{
    sdp_op(c, o, FL_SDP_PROCESS_OFFER, pstr(p, "offer"));
}

static void process_answer(call *c, obj *o, json_t *p)
{
    sdp_op(c, o, FL_SDP_PROCESS_ANSWER, pstr(p, "answer"));
}

static void generate_offer(call *c, obj *o, json_t *p)
{
    json_t *opts = json_object_get(p, "options");
    char what[32];
    json_t *a = json_object_get(opts, "offerToReceiveAudio");
    json_t *v = json_object_get(opts, "offerToReceiveVideo");
    snprintf(what, sizeof(what), "audio=%d,video=%d", json_is_false(a) ? 0 : 1,
             json_is_false(v) ? 0 : 1);
    sdp_op(c, o, FL_SDP_GENERATE_OFFER, what);
}

static void get_local_sdp(call *c, obj *o, json_t *p)
{
    (void)p;
    sdp_op(c, o, FL_SDP_GET_LOCAL, NULL);
}

static void get_remote_sdp(call *c, obj *o, json_t *p)
{
    (void)p;
    sdp_op(c, o, FL_SDP_GET_REMOTE, NULL);
}

/* ---- ICE ---- */

static void ice_done(void *arg, int status, int code)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else if (status == FL_EINVAL)
        fl__call_err(c, code, "The candidate is malformed");
    else
        fl__call_err(c, code, "%s", fl_strerror(status));
}

static void gather_done(void *arg, int status)
{
    ice_done(arg, status, KE_ICE_GATHER_CANDIDATES_ERROR);
}

static void add_candidate_done(void *arg, int status)
{
    ice_done(arg, status, KE_ICE_ADD_CANDIDATE_ERROR);
}

static void gather_candidates(call *c, obj *o, json_t *p)
{
    (void)p;
    fl_webrtc_gather_candidates(o->element, gather_done, c);
}

static void add_ice_candidate(call *c, obj *o, json_t *p)
{
    json_t *cand = json_object_get(p, "candidate");
    const char *line = pstr(cand, "candidate");
    json_t *idx = json_object_get(cand, "sdpMLineIndex");
    if (!line) {
        fl__call_err(c, KE_MARSHALL_ERROR, "'candidate' parameter should be a string");
        return;
    }
    fl_webrtc_add_ice_candidate(o->element, line, pstr(cand, "sdpMid"),
                                json_is_integer(idx) ? (int)json_integer_value(idx) : 0,
                                add_candidate_done, c);
}

/* ---- key frames ---- */

static void key_frame_done(void *arg, int status)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else if (status == FL_ENOENT)
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED,
                     "requestKeyframe is for video consumers: no video is connected into "
                     "this endpoint");
    else
        fl__call_err(c, KE_UNEXPECTED_ERROR, "requestKeyframe: %s", fl_strerror(status));
}

static void request_key_frame(call *c, obj *o, json_t *p)
{
    (void)p;
    fl_element_request_key_frame(o->element, key_frame_done, c);
}

/* ---- properties kept by the element ---- */

/* The kmd definition of the property `name` of o's class, or NULL. */
static json_t *prop_def(obj *o, const char *name)
{
    for (const kmd_class *cls = o->cls; cls; cls = cls->parent) {
        json_t *props = json_object_get(cls->def, "properties");
        size_t i;
        json_t *d;
        json_array_foreach(props, i, d)
        {
            if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
                return d;
        }
    }
    return NULL;
}

/* "getStunServerAddress" -> "stunServerAddress"; a property whose kmd name
 * starts with a capital keeps it ("getICECandidatePairs" ->
 * "ICECandidatePairs", "getIceConnectionState" -> "IceConnectionState"). */
static const char *prop_name(call *c, obj *o, char *out, size_t cap)
{
    const char *op = json_string_value(json_object_get(c->params, "operation"));
    snprintf(out, cap, "%s", op + 3);
    if (!prop_def(o, out))
        snprintf(out, cap, "%c%s", op[3] - 'A' + 'a', op + 4);
    return out;
}

/* The kmd type of the property ("int", "boolean", "String",
 * "IceCandidatePair[]", ...). */
static const char *prop_type(obj *o, const char *name)
{
    const char *t = json_string_value(json_object_get(prop_def(o, name), "type"));
    return t ? t : "String";
}

typedef struct prop_req {
    call *c;
    char type[64];
} prop_req;

static void get_prop_done(void *arg, int status, const char *text)
{
    prop_req *r = arg;
    call *c = r->c;
    json_t *v = NULL;
    if (status == 0 && text) {
        if (strcmp(r->type, "int") == 0 || strcmp(r->type, "int64") == 0)
            v = json_integer(strtoll(text, NULL, 10));
        else if (strcmp(r->type, "boolean") == 0)
            v = json_boolean(strcmp(text, "true") == 0);
        else if (strstr(r->type, "[]") || strcmp(r->type, "RembParams") == 0)
            v = json_loads(text, 0, NULL); /* lists and records come as JSON text */
        else
            v = json_string(text);
    }
    free(r);
    if (status != 0)
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
    else
        fl__call_ok(c, v);
}

static void get_prop(call *c, obj *o, json_t *p)
{
    (void)p;
    char name[64];
    prop_req *r = calloc(1, sizeof(*r));
    if (!r) {
        fl__call_err(c, KE_NOT_ENOUGH_RESOURCES, "Out of memory");
        return;
    }
    r->c = c;
    prop_name(c, o, name, sizeof(name));
    snprintf(r->type, sizeof(r->type), "%s", prop_type(o, name));
    fl_element_get_property(o->element, name, get_prop_done, r);
}

static void set_prop_done(void *arg, int status)
{
    call *c = arg;
    if (status == 0)
        fl__call_ok(c, NULL);
    else if (status == FL_ESTATE)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "This setting cannot change once ICE has started (set it before "
                     "processOffer or generateOffer)");
    else if (status == FL_EINVAL)
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR, "Invalid value");
    else if (status == FL_ENOTSUP &&
             json_object_get(json_object_get(c->params, "operationParams"), "rembParams"))
        fl__call_err(c, KE_MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
                     "Not supported: of RembParams, fluo's rate control (GCC) takes "
                     "rembOnConnect, upLosses and decrementFactor only");
    else
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
}

/* A complex value (RembParams) as "name=value,..." of its numbers; the
 * __module__/__type__ tags kurento-client adds are skipped. 0, or -1 when
 * a member is not a number or it does not fit. */
static int flatten(json_t *v, char *out, size_t cap)
{
    const char *k;
    json_t *m;
    size_t n = 0;
    out[0] = 0;
    json_object_foreach(v, k, m)
    {
        if (k[0] == '_' && k[1] == '_')
            continue;
        if (!json_is_number(m))
            return -1;
        int w = snprintf(out + n, cap - n, "%s%s=%.17g", n ? "," : "", k, json_number_value(m));
        if (w < 0 || (size_t)w >= cap - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

static void set_prop(call *c, obj *o, json_t *p)
{
    char name[64], num[32], flat[512];
    prop_name(c, o, name, sizeof(name));
    json_t *v = json_object_get(p, name);
    const char *text = "";
    if (json_is_object(v)) {
        if (flatten(v, flat, sizeof(flat)) < 0) {
            fl__call_err(c, KE_MARSHALL_ERROR, "'%s' takes numbers only", name);
            return;
        }
        text = flat;
    } else if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (json_is_boolean(v)) {
        text = json_is_true(v) ? "true" : "false";
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        text = num;
    }
    fl_element_set_property(o->element, name, text, set_prop_done, c);
}

/* ---- stats ---- */

static const char *stats_class(const char *type)
{
    if (strcmp(type, "inboundrtp") == 0)
        return "RTCInboundRTPStreamStats";
    if (strcmp(type, "outboundrtp") == 0)
        return "RTCOutboundRTPStreamStats";
    if (strcmp(type, "endpoint") == 0)
        return "EndpointStats";
    return "ElementStats";
}

static void stats_done(void *arg, int status, const char *text)
{
    call *c = arg;
    if (status != 0) {
        fl__call_err(c, KE_UNEXPECTED_ERROR, "%s", fl_strerror(status));
        return;
    }
    json_t *map = json_loads(text ? text : "{}", 0, NULL);
    if (!json_is_object(map)) {
        json_decref(map);
        fl__call_err(c, KE_UNEXPECTED_ERROR, "Statistics could not be read");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v)
    {
        const char *type = pstr(v, "type");
        json_object_set_new(v, "__module__", json_string("kurento"));
        json_object_set_new(v, "__type__", json_string(stats_class(type ? type : "")));
    }
    fl__call_ok(c, map);
}

static void get_stats(call *c, obj *o, json_t *p)
{
    const char *t = pstr(p, "mediaType");
    unsigned media = t ? fl_media_type_parse(t) : FL_MEDIA_ALL;
    if (!o->element) {
        fl__call_err(c, KE_MEDIA_OBJECT_OPERATION_NOT_SUPPORTED, "Not a media element");
        return;
    }
    fl_element_get_stats(o->element, media ? media : FL_MEDIA_ALL, stats_done, c);
}

const struct op fl__ops_webrtc[] = {
    { "MediaElement", "getStats", get_stats },
    { "SdpEndpoint", "processOffer", process_offer },
    { "SdpEndpoint", "processAnswer", process_answer },
    { "SdpEndpoint", "generateOffer", generate_offer },
    { "SdpEndpoint", "getLocalSessionDescriptor", get_local_sdp },
    { "SdpEndpoint", "getRemoteSessionDescriptor", get_remote_sdp },
    { "SdpEndpoint", "getMaxVideoRecvBandwidth", get_prop },
    { "SdpEndpoint", "setMaxVideoRecvBandwidth", set_prop },
    { "SdpEndpoint", "getMaxAudioRecvBandwidth", get_prop },
    { "SdpEndpoint", "setMaxAudioRecvBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMinVideoRecvBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMinVideoRecvBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMinVideoSendBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMinVideoSendBandwidth", set_prop },
    { "BaseRtpEndpoint", "getMaxVideoSendBandwidth", get_prop },
    { "BaseRtpEndpoint", "setMaxVideoSendBandwidth", set_prop },
    { "BaseRtpEndpoint", "getRembParams", get_prop },
    { "BaseRtpEndpoint", "setRembParams", set_prop },
    { "BaseRtpEndpoint", "getMediaState", get_prop },
    { "BaseRtpEndpoint", "getConnectionState", get_prop },
    { "BaseRtpEndpoint", "requestKeyframe", request_key_frame },
    { "WebRtcEndpoint", "gatherCandidates", gather_candidates },
    { "WebRtcEndpoint", "addIceCandidate", add_ice_candidate },
    { "WebRtcEndpoint", "getNetworkInterfaces", get_prop },
    { "WebRtcEndpoint", "setNetworkInterfaces", set_prop },
    { "WebRtcEndpoint", "getIceTcp", get_prop },
    { "WebRtcEndpoint", "setIceTcp", set_prop },
    { "WebRtcEndpoint", "getStunServerAddress", get_prop },
    { "WebRtcEndpoint", "setStunServerAddress", set_prop },
    { "WebRtcEndpoint", "getStunServerPort", get_prop },
    { "WebRtcEndpoint", "setStunServerPort", set_prop },
    { "WebRtcEndpoint", "getTurnUrl", get_prop },
    { "WebRtcEndpoint", "setTurnUrl", set_prop },
    { "WebRtcEndpoint", "getExternalIPv4", get_prop },
    { "WebRtcEndpoint", "setExternalIPv4", set_prop },
    { "WebRtcEndpoint", "getExternalIPv6", get_prop },
    { "WebRtcEndpoint", "setExternalIPv6", set_prop },
    { "WebRtcEndpoint", "getICECandidatePairs", get_prop },
    { "WebRtcEndpoint", "getIceConnectionState", get_prop },
    { "WebRtcEndpoint", "getDtlsConnectionState", get_prop },
    { NULL, NULL, NULL },
};

/* ---- creation ---- */

static void set_text(fl_element *e, const char *name, const char *value)
{
    if (value && value[0])
        fl_element_set_property(e, name, value, NULL, NULL);
}

static void set_int(fl_element *e, const char *name, int value)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", value);
    if (value > 0)
        fl_element_set_property(e, name, num, NULL, NULL);
}

void fl__webrtc_configure(struct fl_rpc *rpc, fl_element *e, json_t *ctor)
{
    const fl_rpc_config *cfg = &rpc->cfg;
    set_text(e, "stunServerAddress", cfg->stun_address);
    set_int(e, "stunServerPort", cfg->stun_port);
    set_text(e, "turnUrl", cfg->turn_url);
    set_text(e, "externalIPv4", cfg->external_ipv4);
    set_text(e, "externalIPv6", cfg->external_ipv6);
    set_text(e, "networkInterfaces", cfg->network_interfaces);
    set_int(e, "minPort", cfg->min_port);
    set_int(e, "maxPort", cfg->max_port);
    if (json_is_true(json_object_get(ctor, "recvonly")))
        set_text(e, "recvonly", "true");
    if (json_is_true(json_object_get(ctor, "sendonly")))
        set_text(e, "sendonly", "true");
}

/* ---- events ---- */

json_t *fl__webrtc_event(struct fl_rpc *rpc, obj *o, const fl_event *ev, const char **type)
{
    (void)rpc;
    json_t *data = NULL;
    switch (ev->type) {
    case FL_EVENT_ICE_CANDIDATE:
        *type = "IceCandidateFound";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "candidate",
                            json_pack("{s:s, s:s, s:s, s:s, s:i}", "__module__", "kurento",
                                      "__type__", "IceCandidate", "candidate",
                                      ev->text ? ev->text : "", "sdpMid",
                                      ev->text2 ? ev->text2 : "0", "sdpMLineIndex", ev->index));
        break;
    case FL_EVENT_ICE_GATHERING_DONE:
        *type = "IceGatheringDone";
        data = fl__event_base(o, *type);
        break;
    case FL_EVENT_ICE_COMPONENT_STATE:
        *type = "IceComponentStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "streamId",
                            json_integer(ev->text2 ? strtol(ev->text2, NULL, 10) : 1));
        json_object_set_new(data, "componentId", json_integer(ev->index));
        json_object_set_new(data, "state", json_string(ev->new_state ? ev->new_state : ""));
        break;
    case FL_EVENT_ICE_PAIR_SELECTED:
        *type = "NewCandidatePairSelected";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "candidatePair",
                            json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "__module__", "kurento",
                                      "__type__", "IceCandidatePair", "streamId",
                                      ev->desc ? ev->desc : "1", "componentId", ev->index,
                                      "localCandidate", ev->text ? ev->text : "", "remoteCandidate",
                                      ev->text2 ? ev->text2 : ""));
        break;
    case FL_EVENT_CONNECTION_STATE:
    case FL_EVENT_MEDIA_STATE:
        *type = ev->type == FL_EVENT_CONNECTION_STATE ? "ConnectionStateChanged"
                                                      : "MediaStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "oldState", json_string(ev->old_state ? ev->old_state : ""));
        json_object_set_new(data, "newState", json_string(ev->new_state ? ev->new_state : ""));
        break;
    case FL_EVENT_MEDIA_TRANSCODING:
        *type = "MediaTranscodingStateChanged";
        data = fl__event_base(o, *type);
        json_object_set_new(data, "state", json_string(ev->new_state ? ev->new_state : ""));
        json_object_set_new(data, "binName", json_string(ev->text ? ev->text : ""));
        json_object_set_new(data, "mediaType", json_string(fl_media_type_name(ev->media)));
        break;
    default:
        break;
    }
    return data;
}
